"""Final settlement of CME futures held to expiry, for backtests.

A CME Bitcoin future is cash-settled at 16:00 London on its last trading day to the CME CF Bitcoin Reference
Rate. The daily file has no BRR, so the **expiry day's close** stands in for it (a proxy: trading ends at
16:00 London, so that close is the last trade before the fixing, usually within a few dollars of it).

At one nanosecond before each contract's expiry instant this module closes every open position on it with a
fill at the settlement price: a reduce-only order priced at it, with a deterministic client order id
(``SETTLE-<symbol>-<n>``), accepted and filled by the venue's matching engine, so that the cache, the
portfolio, the account (fees included, from the venue's fee model) and the strategy see an ordinary fill. It
also publishes a ``SETTLE`` decision for the journal and keeps a ledger.

Why not nautilus's own expiry handling: at ``expiration_ns`` the simulated exchange closes open futures
positions too (at market, or at ``settlement_prices`` given to ``add_venue``), but it names the closing order
``EXPIRATION-LEG-<uuid4>``, so a rerun would not journal identical fills (rule 9), and it journals nothing
about the settlement. Settling one nanosecond earlier leaves nautilus's check nothing to close.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from nautilus_trader.backtest.modules import SimulationModule, SimulationModuleConfig
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.model.enums import LiquiditySide, OrderSide, PositionSide
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.model.objects import Price
from nautilus_trader.model.orders import LimitOrder

from engine.records import TOPIC_DECISION, DecisionRecord
from strategies.cme_perp_convergence import SETTLE_PREFIX


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """One position closed at final settlement."""

    ts_ns: int
    instrument_id: str
    position_qty: Decimal  # signed contracts before settlement
    price: Decimal
    client_order_id: str


@dataclass(slots=True)
class SettlementLedger:
    """What the module settled."""

    settlements: list[SettlementRecord] = field(default_factory=list)
    missing_price: list[str] = field(default_factory=list)


class ExpirySettlementModule(SimulationModule):
    """Settles futures positions at expiry on a simulated venue.

    Parameters
    ----------
    settlement_prices : Mapping[InstrumentId, Decimal]
        Final settlement price of each contract (the expiry day's close). A contract with an open position
        at expiry and no price here is left to nautilus's expiry handling and logged as an error.
    """

    def __init__(self, settlement_prices: Mapping[InstrumentId, Decimal]) -> None:
        super().__init__(SimulationModuleConfig())
        self._prices = dict(settlement_prices)
        self._armed = False
        self._seq = 0
        self.ledger = SettlementLedger()

    def process(self, ts_now: int) -> None:
        """Arm one alert per contract of the venue on the first call (instruments are cached by then)."""
        if self._armed:
            return
        self._armed = True
        for inst in self.cache.instruments(venue=self.exchange.id):
            expiration_ns: int = getattr(inst, "expiration_ns", 0)
            if expiration_ns and expiration_ns - 1 > ts_now:
                self.clock.set_time_alert_ns(
                    f"settle-{inst.id}", expiration_ns - 1, self._on_expiry, allow_past=False
                )

    def reset(self) -> None:
        """Forget the ledger and the alerts' state."""
        self._armed = False
        self._seq = 0
        self.ledger = SettlementLedger()

    def log_diagnostics(self, logger) -> None:
        """Log what was settled."""
        logger.info(f"ExpirySettlementModule settled {len(self.ledger.settlements)} positions")

    def _on_expiry(self, event) -> None:
        iid = InstrumentId.from_str(event.name.removeprefix("settle-"))
        positions = self.cache.positions_open(instrument_id=iid)
        if not positions:
            return
        price = self._prices.get(iid)
        if price is None:
            self.ledger.missing_price.append(iid.value)
            self._log.error(f"{iid}: open at expiry without a settlement price")
            return
        engine = self.exchange.get_matching_engine(iid)
        instrument = self.cache.instrument(iid)
        px = Price(price, instrument.price_precision)
        for position in positions:
            self._seq += 1
            qty = position.quantity
            signed = qty.as_decimal() if position.side == PositionSide.LONG else -qty.as_decimal()
            coid = ClientOrderId(f"{SETTLE_PREFIX}{iid.symbol}-{self._seq}")
            # A limit order at the settlement price: the matching core only holds priced orders, and it is
            # filled in full at that price at once.
            order = LimitOrder(
                trader_id=position.trader_id,
                strategy_id=position.strategy_id,
                instrument_id=iid,
                client_order_id=coid,
                order_side=OrderSide.SELL if position.side == PositionSide.LONG else OrderSide.BUY,
                quantity=qty,
                price=px,
                init_id=UUID4(),
                ts_init=event.ts_event,
                reduce_only=True,
                tags=["FINAL_SETTLEMENT"],
            )
            self.msgbus.publish(
                TOPIC_DECISION,
                DecisionRecord(
                    event.ts_event,
                    str(position.strategy_id),
                    "SETTLE",
                    f"{iid.symbol} final settlement at {price} (expiry-day close)",
                    {"position_contracts": float(signed), "settlement_price": float(price)},
                ),
            )
            self.cache.add_order(order, position_id=position.id)
            engine.accept_order(order)
            engine.apply_fills(order, [(px, qty)], LiquiditySide.TAKER, None, position)
            self.ledger.settlements.append(
                SettlementRecord(event.ts_event, iid.value, signed, price, coid.value)
            )
