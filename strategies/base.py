"""LeggedStrategy: the order plumbing shared by the two-legged strategies (a first leg hedged on the perp).

A pair strategy sends a *first* leg (spot, or a CME future) and hedges it on the perpetual from fills (see
``strategies.legs``). Whatever its signals, it sends and tracks its orders the same way, and that is what
lives here:

- order sending: the intent goes on the bus (and so into the journal) before the order is submitted, a
  timer cancels a leg not filled within ``leg_timeout_secs``, and the working and own order sets are kept;
- order events: fills booked on the leg tallies, then the next step; fills the strategy did not send
  (a liquidation, a venue settlement) handed to the strategy's own policy; a denied, rejected, canceled or
  expired leg handed to the strategy's failure policy;
- the pair check through the pre-trade gate's ``CarryRisk.check_pair`` endpoint, decisions on the bus,
  quote freshness, adopting cached positions, and ``request_exit`` / ``on_stop``.

Each strategy keeps what is its own: signals, sizing, phases, rolls, and its policies for failed legs and
external fills (the hooks at the end of ``LeggedStrategy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.model.instruments import CurrencyPair, Instrument
from nautilus_trader.trading.strategy import Strategy

from engine.accounting import signed_position
from engine.records import (
    STOPPING,
    TOPIC_DECISION,
    TOPIC_INTENT,
    TOPIC_MARKET,
    TOPIC_TRADING_STATE,
    DecisionRecord,
    IntentRecord,
    MarketSampleRecord,
    PairCheck,
    TradingStateRecord,
)
from engine.signals.carry import quote_is_fresh, quote_is_valid
from strategies.legs import LegAction, LegStep

NS_PER_SEC = 1_000_000_000
# The pre-trade gate's endpoint (``risk.gate.PAIR_ENDPOINT``), spelled here so that strategies do not import
# the risk package: a strategy only talks to the gate over the message bus.
PAIR_CHECK_ENDPOINT = "CarryRisk.check_pair"
_LEG_TIMEOUT_PREFIX = "leg-timeout-"
HEDGE_LEG = "perp"  # leg name of the perp orders in ``_working`` and in the intents


def booked_qty(event: OrderFilled, instrument: Instrument | None) -> Decimal:
    """Signed base quantity a fill adds to what is held, booked as nautilus books the position.

    A spot pair's fee charged in its base currency (Binance spot takes it from the asset bought) leaves less
    than the fill: after buying 0.02 BTC at 0.1% the account holds 0.01998, and that is what a hedge must
    cover and an exit can sell.
    """
    qty = event.last_qty.as_decimal()
    signed = qty if event.order_side == OrderSide.BUY else -qty
    fee = event.commission
    if isinstance(instrument, CurrencyPair) and fee is not None and fee.currency == instrument.base_currency:
        signed -= fee.as_decimal()
    return signed


def quote_mid(q: QuoteTick) -> Decimal:
    """Mid of a quote, exact (``Decimal``): what the journal books as a price."""
    return (q.bid_price.as_decimal() + q.ask_price.as_decimal()) / 2


class LeggedStrategyConfig(StrategyConfig, frozen=True, kw_only=True):
    """Nautilus config fields every two-legged strategy has.

    Each strategy's config sets its own defaults for the timing fields (they differ between hourly and daily
    strategies); times are seconds.

    Attributes
    ----------
    perp_instrument_id : InstrumentId
        The hedge leg.
    leg_timeout_secs : float
        A leg not filled within this is canceled.
    max_quote_age_secs : float
        Older quotes make an instrument untradeable.
    entry_cooldown_secs : float
        No new entry for this long after a denial, a failed leg or an external fill.
    hedge_attempts : int
        Failed hedges of one pair before the first leg is unwound to what the perp hedges.
    close_on_stop : bool
        Exit everything when the strategy stops.
    """

    perp_instrument_id: InstrumentId
    leg_timeout_secs: float
    max_quote_age_secs: float
    entry_cooldown_secs: float
    hedge_attempts: int = 2
    close_on_stop: bool = True


class LeggedStrategy(Strategy):
    """Base of the pair strategies: order sending, order events, gate check, decisions and exit plumbing.

    Subclasses implement the hooks at the end of the class: ``_step`` (send the next order of the pair from
    fills, usually through ``_take_leg_step``), ``_send_clip`` and ``_finish_phase`` (used by
    ``_take_leg_step``), ``_book_fill`` (add a fill to their leg tallies), ``_on_leg_failure`` (what a failed
    leg means for the pair), ``_exit_needed`` and ``_start_exit``; they may override ``_on_external_fill``,
    ``_reduce_only`` and ``_decision_signals``.

    Parameters
    ----------
    config : LeggedStrategyConfig
        The strategy's nautilus config (a subclass of it).
    """

    cfg: LeggedStrategyConfig

    def __init__(self, config: LeggedStrategyConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.perp_id = config.perp_instrument_id
        self.perp: Instrument | None = None
        self.perp_qty = Decimal(0)  # signed base units
        self._max_age_ns = int(config.max_quote_age_secs * NS_PER_SEC)
        self._working: dict[ClientOrderId, str] = {}  # open orders of ours -> leg name
        self._own: set[ClientOrderId] = set()  # every order this strategy sent, to tell external fills apart
        self._hedge_failures = 0
        self._cooldown_until_ns = 0
        self._trading_state = "ACTIVE"  # the risk controller's, from TOPIC_TRADING_STATE
        self._pair_seq = 0
        self._pair_id: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def on_stop(self) -> None:
        """Journal a book left open at stop; never start an exit here.

        Runners and the node call ``request_exit`` while orders still flow. nautilus stops its engines right
        after ``on_stop``, so an exit started here would sell a leg whose fill nobody hedges: a hedged book
        left as it is is safer (a restart adopts it).
        """
        if not self.is_flat:
            working = f"{len(self._working)} orders working"
            self._decide(self.clock.timestamp_ns(), "STOPPED_NOT_FLAT", working)

    def request_exit(self, reason: str) -> None:
        """Cancel what is working and start the strategy's exit (stop, end of data, kill switch, risk).

        Parameters
        ----------
        reason : str
            Journaled with the EXIT decision.
        """
        if not self._exit_needed():
            return
        for order in self.cache.orders_open(strategy_id=self.id):
            self.cancel_order(order)
        self._start_exit(self.clock.timestamp_ns(), reason)

    def _subscribe_trading_state(self) -> None:
        """Follow the risk controller's trading state (ACTIVE / REDUCING / HALTED)."""
        self.msgbus.subscribe(topic=TOPIC_TRADING_STATE, handler=self._on_trading_state)

    def _on_trading_state(self, rec: TradingStateRecord) -> None:
        """REDUCING: exit what is held (risk-reducing orders, hedge completions included, still pass the
        gate) and hold off new entries for the cooldown; on the node's wind-down, only if
        ``close_on_stop``."""
        self._trading_state = rec.state
        if rec.is_wind_down:
            # The node is stopping: exit if configured to (the stop's own reason), else keep the book for a
            # restart to adopt; no new entries either way while not ACTIVE.
            if self.cfg.close_on_stop:
                self.request_exit(rec.reason.removeprefix(STOPPING))
            return
        if rec.state == "REDUCING" and self._exit_needed():
            self._cool_down(rec.ts_ns)
            self.request_exit(f"risk_{rec.reason}")

    def _subscribe_perp_prices(self) -> None:
        """The perp's mark, index and funding rate: the cadence decisions run at."""
        self.subscribe_mark_prices(self.perp_id)
        self.subscribe_index_prices(self.perp_id)
        self.subscribe_funding_rates(self.perp_id)

    def _cached_position(self, instrument_id: InstrumentId) -> Decimal:
        """Signed quantity this strategy holds on ``instrument_id`` per the cache (the restart path)."""
        return signed_position(self.cache, instrument_id, self.id)

    def _cool_down(self, ts: int) -> None:
        """No new entry before ``entry_cooldown_secs`` after ``ts``."""
        self._cooldown_until_ns = ts + int(self.cfg.entry_cooldown_secs * NS_PER_SEC)

    # -- market data, gate, decisions -----------------------------------------------------------------

    def _quote_ok(self, instrument_id: InstrumentId, ts: int) -> bool:
        """The latest quote of ``instrument_id`` is fresh at ``ts`` and valid (bid < ask, both > 0)."""
        q: QuoteTick | None = self.cache.quote_tick(instrument_id)
        return (
            q is not None
            and quote_is_fresh(ts, q.ts_event, self._max_age_ns)
            and quote_is_valid(q.bid_price.as_double(), q.ask_price.as_double())
        )

    def _check_pair(
        self, ts: int, legs: Sequence[tuple[InstrumentId, float]], sig: dict[str, float] | None = None
    ) -> bool:
        """Ask the pre-trade gate for a whole pair before its first leg; no answer means no.

        Both legs go to the gate as one change of the book (each venue's margin, the counterparty limits, net
        delta). A refusal is journaled as an ENTRY_DENIED decision with the gate's reason.
        """
        check = PairCheck([(instrument_id.value, qty) for instrument_id, qty in legs])
        self.msgbus.send(PAIR_CHECK_ENDPOINT, check)
        if not check.approved:
            self._decide(ts, "ENTRY_DENIED", check.reason, sig)
        return check.approved

    def _publish_sample(
        self, ts: int, basis_bps: float, funding_apr_pct: float, spot_mid: Decimal, perp_q: QuoteTick
    ) -> None:
        """Publish a market sample for the report's time series, the perp at its quote's mid."""
        self.msgbus.publish(
            TOPIC_MARKET,
            MarketSampleRecord(
                ts_ns=ts,
                basis_bps=basis_bps,
                funding_apr_pct=funding_apr_pct,
                spot_mid=spot_mid,
                perp_mid=quote_mid(perp_q),
            ),
        )

    def _next_pair_id(self) -> None:
        """Number the next pair (entry, exit, roll, settlement): intents carry it as ``pair_id``."""
        self._pair_seq += 1
        self._pair_id = f"P{self._pair_seq}"

    def _decide(self, ts: int, action: str, reason: str, sig: dict[str, float] | None = None) -> None:
        """Publish a decision for the journal, with ``sig`` or else the strategy's current signals."""
        self.msgbus.publish(
            TOPIC_DECISION,
            DecisionRecord(
                ts, str(self.id), action, reason, sig if sig is not None else self._decision_signals()
            ),
        )

    # -- sending --------------------------------------------------------------------------------------

    def _take_leg_step(self, ts: int, step: LegStep) -> None:
        """Act on the planner's next step (``strategies.legs.plan_next_leg``), one order per leg at a time.

        A hedge goes unless a hedge is already working; a first-leg clip only when nothing is working (its
        hedge is sized from its fills); the phase finishes once nothing is working.
        """
        legs_working = set(self._working.values())
        if step.action is LegAction.HEDGE:
            if HEDGE_LEG not in legs_working:
                self._send(self.perp_id, step.qty, HEDGE_LEG, "hedge", ts)
        elif step.action is LegAction.CLIP:
            if not legs_working:
                self._send_clip(step.qty, ts)
        elif not legs_working:
            self._finish_phase(ts)

    def _send(self, instrument_id: InstrumentId, qty: Decimal, leg: str, reason: str, ts: int) -> None:
        """Send a market IOC order of signed ``qty``: intent on the bus first, then a timeout, then submit."""
        instrument = self.cache.instrument(instrument_id)
        assert instrument is not None
        order = self.order_factory.market(
            instrument_id=instrument_id,
            order_side=OrderSide.BUY if qty > 0 else OrderSide.SELL,
            quantity=instrument.make_qty(abs(qty)),
            time_in_force=TimeInForce.IOC,
            reduce_only=self._reduce_only(leg, qty),
        )
        self._working[order.client_order_id] = leg
        self._own.add(order.client_order_id)
        # Publishing is synchronous: the journal holds the intent before the order leaves.
        self.msgbus.publish(
            TOPIC_INTENT,
            IntentRecord(
                ts_ns=ts,
                client_order_id=order.client_order_id.value,
                instrument_id=instrument_id.value,
                side=order.side_string(),
                quantity=abs(qty),
                order_type="MARKET",
                pair_id=self._pair_id,
                leg=leg,
                reason=reason,
            ),
        )
        # The leg's time runs from when it is sent, not from the market event that prompted it: on a live
        # node that event can be seconds old by now.
        self.clock.set_time_alert_ns(
            f"{_LEG_TIMEOUT_PREFIX}{order.client_order_id.value}",
            self.clock.timestamp_ns() + int(self.cfg.leg_timeout_secs * NS_PER_SEC),
            self._on_leg_timeout,
        )
        self.submit_order(order)

    def _on_leg_timeout(self, event: object) -> None:
        name: str = event.name  # type: ignore[attr-defined]
        coid = ClientOrderId(name.removeprefix(_LEG_TIMEOUT_PREFIX))
        order = self.cache.order(coid)
        if order is not None and coid in self._working and not order.is_closed:
            self.log.warning(f"leg {self._working[coid]} not filled within timeout, canceling {coid}")
            self.cancel_order(order)

    # -- order events ---------------------------------------------------------------------------------

    def on_order_filled(self, event: OrderFilled) -> None:
        """Book the fill on the leg tallies and take the next step from it."""
        self._book_fill(event.instrument_id, booked_qty(event, self.cache.instrument(event.instrument_id)))
        order = self.cache.order(event.client_order_id)
        if order is not None and order.is_closed:
            self._working.pop(event.client_order_id, None)
        if event.client_order_id not in self._own and not self._on_external_fill(event):
            return
        if self.is_running:
            self._step(event.ts_event)

    def on_order_denied(self, event: OrderDenied) -> None:
        """A leg never reached the venue."""
        self._leg_failed(event.client_order_id, event.ts_event, f"denied: {event.reason}")

    def on_order_rejected(self, event: OrderRejected) -> None:
        """The venue refused a leg."""
        self._leg_failed(event.client_order_id, event.ts_event, f"rejected: {event.reason}")

    def on_order_canceled(self, event: OrderCanceled) -> None:
        """A leg was canceled (timeout): what filled is booked; the rest is retried or unwound."""
        self._leg_failed(event.client_order_id, event.ts_event, "canceled")

    def on_order_expired(self, event: OrderExpired) -> None:
        """An IOC leg expired unfilled (no liquidity)."""
        self._leg_failed(event.client_order_id, event.ts_event, "expired")

    def _leg_failed(self, coid: ClientOrderId, ts: int, why: str) -> None:
        leg = self._working.pop(coid, None)
        if leg is None or not (self.is_running):
            return
        self._on_leg_failure(leg, ts, why)

    # -- hooks ----------------------------------------------------------------------------------------

    @property
    def is_flat(self) -> bool:
        """No position on any leg and no order working."""
        raise NotImplementedError

    def _step(self, ts: int) -> None:
        """Send the next order of the pair, or finish the phase, from fills only."""
        raise NotImplementedError

    def _send_clip(self, qty: Decimal, ts: int) -> None:
        """Send the first leg's next clip of ``qty`` signed base units."""
        raise NotImplementedError

    def _finish_phase(self, ts: int) -> None:
        """The pair's legs are done (no order working): move to the phase that follows."""
        raise NotImplementedError

    def _book_fill(self, instrument_id: InstrumentId, signed_qty: Decimal) -> None:
        """Add a fill of ``signed_qty`` on ``instrument_id`` to the leg tallies."""
        raise NotImplementedError

    def _on_leg_failure(self, leg: str, ts: int, why: str) -> None:
        """A working leg of ours failed (denied, rejected, canceled, expired) while the strategy runs."""
        raise NotImplementedError

    def _exit_needed(self) -> bool:
        """There is something to exit and no exit under way."""
        raise NotImplementedError

    def _start_exit(self, ts: int, reason: str) -> None:
        """Start the exit of everything held (open orders are already canceled)."""
        raise NotImplementedError

    def _on_external_fill(self, event: OrderFilled) -> bool:
        """A fill this strategy did not send, already booked; return whether to take the next step now."""
        return True

    def _reduce_only(self, leg: str, qty: Decimal) -> bool:
        """Whether an order of signed ``qty`` on ``leg`` goes reduce-only."""
        return False

    def _decision_signals(self) -> dict[str, float]:
        """Signals journaled with a decision taken without explicit ones."""
        return {}
