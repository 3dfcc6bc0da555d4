"""Backtest liquidation: nautilus never liquidates margin accounts, this module does.

On every mark price update of its venue's derivatives it compares the account's equity (wallet balance plus
unrealized P&L at the marks) with its maintenance margin (``|qty| * mark * multiplier * mmr``). When equity
falls below maintenance it force-closes every position there with a reduce-only market order sent straight
to the execution engine (a liquidation is not subject to pre-trade checks), charges the liquidation fee
on the notional at the mark, and publishes a ``LIQUIDATION`` risk record. The close fills at the simulated
book's touch, which stands in for the venue's liquidation at the mark (documented proxy).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from nautilus_trader.backtest.modules import SimulationModule, SimulationModuleConfig
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import SubmitOrder
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.enums import OrderSide, PositionSide, TimeInForce
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.model.objects import Money
from nautilus_trader.model.orders import MarketOrder

from engine.accounting import USD_LIKE
from engine.records import TOPIC_RISK, RiskRecord


class LiquidationModule(SimulationModule):
    """Force-closes a margin venue's positions when its equity falls below maintenance margin.

    Parameters
    ----------
    instrument_ids : list[InstrumentId]
        The venue's derivatives.
    fee_rate : Decimal
        Liquidation fee on the closed notional at the mark.
    on_liquidation : Callable, optional
        Called once per liquidation event (e.g. to count it for the run summary).
    """

    def __init__(
        self,
        instrument_ids: list[InstrumentId],
        fee_rate: Decimal,
        on_liquidation: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(SimulationModuleConfig())
        self._ids = list(instrument_ids)
        self._fee_rate = fee_rate
        self._on_liquidation = on_liquidation
        self._seq = 0
        self.liquidations = 0

    def register_venue(self, exchange: Any) -> None:
        """Attach to the venue and watch its derivatives' marks."""
        super().register_venue(exchange)
        for iid in self._ids:
            self.msgbus.subscribe(topic=f"data.mark_prices.{iid.venue}.{iid.symbol}", handler=self._on_mark)

    def process(self, ts_now: int) -> None:
        """Nothing per event: checks run on mark updates."""

    def reset(self) -> None:
        """Forget the count."""
        self.liquidations = 0

    def log_diagnostics(self, logger: Any) -> None:
        """Log how many liquidations happened."""
        logger.info(f"LiquidationModule: {self.liquidations} liquidations")

    def _on_mark(self, mark: MarkPriceUpdate) -> None:
        positions = [p for iid in self._ids for p in self.cache.positions_open(instrument_id=iid)]
        if not positions:
            return
        equity = self._wallet()
        maintenance = Decimal(0)
        for pos in positions:
            instrument = self.cache.instrument(pos.instrument_id)
            px = self._mark(pos.instrument_id)
            if px is None:
                return
            qty = pos.quantity.as_decimal()
            signed = qty if pos.side == PositionSide.LONG else -qty
            mult = instrument.multiplier.as_decimal()
            equity += (px - Decimal(str(pos.avg_px_open))) * signed * mult
            maintenance += qty * px * mult * instrument.margin_maint
        if equity < maintenance:
            self._liquidate(positions, mark.ts_init, equity, maintenance)

    def _wallet(self) -> Decimal:
        account = self.exchange.get_account()
        total = Decimal(0)
        if account is not None:
            for ccy, bal in account.balances().items():
                if ccy.code in USD_LIKE:
                    total += bal.total.as_decimal()
        return total

    def _mark(self, iid: InstrumentId) -> Decimal | None:
        m = self.cache.mark_price(iid)
        return m.value.as_decimal() if m is not None else None

    def _liquidate(self, positions: list[Any], ts: int, equity: Decimal, maintenance: Decimal) -> None:
        self.liquidations += 1
        notional = Decimal(0)
        ccy = None
        for pos in positions:
            instrument = self.cache.instrument(pos.instrument_id)
            px = self._mark(pos.instrument_id) or Decimal(0)
            notional += pos.quantity.as_decimal() * px * instrument.multiplier.as_decimal()
            ccy = instrument.settlement_currency
            self._seq += 1
            order = MarketOrder(
                trader_id=self.msgbus.trader_id,
                strategy_id=pos.strategy_id,
                instrument_id=pos.instrument_id,
                client_order_id=ClientOrderId(f"LIQ-{pos.instrument_id.venue}-{self._seq}"),
                order_side=OrderSide.BUY if pos.side == PositionSide.SHORT else OrderSide.SELL,
                quantity=pos.quantity,
                init_id=UUID4(),
                ts_init=ts,
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
            )
            command = SubmitOrder(
                trader_id=self.msgbus.trader_id,
                strategy_id=pos.strategy_id,
                order=order,
                command_id=UUID4(),
                ts_init=ts,
                position_id=pos.id,
            )
            self.msgbus.send("ExecEngine.execute", command)
        fee = (notional * self._fee_rate).quantize(Decimal("0.00000001"))
        if ccy is not None and fee:
            self.exchange.adjust_account(Money(-fee, ccy))
        figures = {
            "equity": float(equity),
            "maintenance": float(maintenance),
            "notional": float(notional),
            "fee": float(fee),
        }
        self.msgbus.publish(TOPIC_RISK, RiskRecord(ts, "LIQUIDATION", str(self.exchange.id), figures))
        if self._on_liquidation is not None:
            self._on_liquidation()
