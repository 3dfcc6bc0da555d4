"""SpotPerpCarry: long spot, short perpetual, equal base quantity; earns funding while the basis is rich.

Decisions run on mark/index/funding updates (about once a second live, hourly on hourly data), never per
quote: the latest quotes are read from the cache only to check that both legs are tradeable. Legs are sent
in clips; each perp hedge is sized from the spot leg's actual fills (see ``strategies.legs``).
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate, QuoteTick
from nautilus_trader.model.enums import OrderSide, PositionSide, TimeInForce
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.trading.strategy import Strategy

from engine.records import (
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
from engine.signals.carry import (
    EntryThresholds,
    basis_bps,
    entry_blocker,
    exit_reason,
    expected_carry_bps,
    funding_apr_pct,
    quote_is_fresh,
    quote_is_valid,
)
from strategies.legs import LegAction, floor_to_step, plan_next_leg

_NS_PER_SEC = 1_000_000_000
_NS_PER_HOUR = 3_600 * _NS_PER_SEC


class SpotPerpCarryConfig(StrategyConfig, frozen=True):
    """Nautilus config of ``SpotPerpCarry`` (built from ``engine.config.strategy.SpotPerpCarrySettings``).

    Sizes are base units; thresholds in bps and annualized percent; times in hours and seconds.
    ``round_trip_cost_bps`` is the cost of the four fills of one round trip, fees plus slippage.
    """

    spot_instrument_id: InstrumentId
    perp_instrument_id: InstrumentId
    trade_size: Decimal
    clip_size: Decimal
    max_unhedged: Decimal
    entry_basis_bps: float
    exit_basis_bps: float
    entry_funding_apr_pct: float
    horizon_hours: float
    round_trip_cost_bps: float
    min_edge_ratio: float = 1.0
    negative_funding_exit_count: int = 3
    max_holding_hours: float = 720.0
    leg_timeout_secs: float = 10.0
    hedge_attempts: int = 2
    max_quote_age_secs: float = 5.0
    sample_interval_secs: float = 3600.0
    entry_cooldown_secs: float = 3600.0
    close_on_stop: bool = True
    initial_spot_inventory: Decimal = Decimal(0)


class Phase(Enum):
    """Where the carry position is in its life."""

    FLAT = "flat"
    ENTERING = "entering"
    HOLDING = "holding"
    EXITING = "exiting"


class SpotPerpCarry(Strategy):
    """Long spot / short perpetual carry with basis and funding gates and hedge-on-fill legs."""

    def __init__(self, config: SpotPerpCarryConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.spot_id = config.spot_instrument_id
        self.perp_id = config.perp_instrument_id
        self.thresholds = EntryThresholds(
            config.entry_basis_bps,
            config.entry_funding_apr_pct,
            config.round_trip_cost_bps,
            config.min_edge_ratio,
        )
        self._max_age_ns = int(config.max_quote_age_secs * _NS_PER_SEC)
        self._sample_ns = int(config.sample_interval_secs * _NS_PER_SEC)
        self._max_hold_ns = int(config.max_holding_hours * _NS_PER_HOUR)
        self.phase = Phase.FLAT
        self.spot_qty = Decimal(0)
        self.perp_qty = Decimal(0)
        self._target = Decimal(0)
        self._working: dict[ClientOrderId, str] = {}  # open orders of ours -> leg ("spot" | "perp")
        self._hedge_failures = 0
        self._unwinding = False
        self._needs_repair = False
        self._stopping = False
        self._handling_failure = False
        self._step_pending = False
        self._own: set[ClientOrderId] = set()
        self._trading_state = "ACTIVE"
        self._entered_ns = 0
        self._cooldown_until_ns = 0
        self._next_sample_ns = 0
        self._pair_seq = 0
        self._pair_id: str | None = None
        self._mark = 0.0
        self._index = 0.0
        self._mark_ts = 0
        self._index_ts = 0
        self._rate = float("nan")
        self._interval_h = 8.0
        self._last_settled_ns = 0
        self._negative_settlements = 0
        self.spot: Instrument | None = None
        self.perp: Instrument | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Load instruments, adopt any position already open (restart path), subscribe."""
        self.spot = self.cache.instrument(self.spot_id)
        self.perp = self.cache.instrument(self.perp_id)
        if self.spot is None or self.perp is None:
            self.log.error(f"instruments missing from cache: {self.spot_id}, {self.perp_id}")
            self.stop()
            return
        # Startup and crash recovery are one path: adopt what is held (spot inventory the carry book already
        # owns, open positions) and hedge any imbalance as soon as the perp is quoted.
        self.spot_qty = self._cached_position(self.spot_id) + self.cfg.initial_spot_inventory
        self.perp_qty = self._cached_position(self.perp_id)
        if self.spot_qty or self.perp_qty:
            self.phase = Phase.HOLDING
            self._target = self.spot_qty
            self._needs_repair = True
        self.subscribe_mark_prices(self.perp_id)
        self.subscribe_index_prices(self.perp_id)
        self.subscribe_funding_rates(self.perp_id)
        self.msgbus.subscribe(topic=TOPIC_TRADING_STATE, handler=self._on_trading_state)

    def _on_trading_state(self, rec: TradingStateRecord) -> None:
        """REDUCING: exit the carry (risk-reducing orders, hedges included, still pass the gate)."""
        self._trading_state = rec.state
        if rec.state == "REDUCING" and self.phase in (Phase.HOLDING, Phase.ENTERING):
            self._cooldown_until_ns = rec.ts_ns + int(self.cfg.entry_cooldown_secs * _NS_PER_SEC)
            self.request_exit(f"risk_{rec.reason}")

    def on_stop(self) -> None:
        """Exit on stop when configured (runners call ``request_exit`` first, while orders still flow)."""
        if self.cfg.close_on_stop:
            self._stopping = True
            self.request_exit("stop")

    def request_exit(self, reason: str) -> None:
        """Start the clip-by-clip, hedge-on-fill exit of whatever is held (stop, end of data, kill switch)."""
        if not (self.spot_qty or self.perp_qty) or self.phase is Phase.EXITING:
            return
        for order in self.cache.orders_open(strategy_id=self.id):
            self.cancel_order(order)
        ts = self.clock.timestamp_ns()
        self._start_pair(ts, Decimal(0), Phase.EXITING, "EXIT", reason, self._signals())

    @property
    def is_flat(self) -> bool:
        """No position on either leg and no order working."""
        return not (self.spot_qty or self.perp_qty or self._working)

    def _cached_position(self, instrument_id: InstrumentId) -> Decimal:
        total = Decimal(0)
        for pos in self.cache.positions_open(instrument_id=instrument_id, strategy_id=self.id):
            qty = pos.quantity.as_decimal()
            total += qty if pos.side == PositionSide.LONG else -qty
        return total

    # -- market data: decisions at mark/index/funding cadence ------------------------------------------

    def on_mark_price(self, mark_price: MarkPriceUpdate) -> None:
        """Keep the perp mark."""
        self._mark = mark_price.value.as_double()
        self._mark_ts = mark_price.ts_event

    def on_index_price(self, index_price: IndexPriceUpdate) -> None:
        """Keep the spot index and evaluate."""
        self._index = index_price.value.as_double()
        self._index_ts = index_price.ts_event
        self._evaluate(index_price.ts_init)

    def on_funding_rate(self, funding_rate: FundingRateUpdate) -> None:
        """Keep the current rate; count settlements whose final rate was negative; evaluate."""
        self._rate = float(funding_rate.rate)
        if funding_rate.interval:
            self._interval_h = funding_rate.interval / 60.0
        settle_ns = funding_rate.next_funding_ns
        # An update stamped at or after its own settlement time carries the rate that settled.
        if settle_ns and funding_rate.ts_event >= settle_ns and settle_ns > self._last_settled_ns:
            self._last_settled_ns = settle_ns
            self._negative_settlements = self._negative_settlements + 1 if self._rate < 0 else 0
        self._evaluate(funding_rate.ts_init)

    def _signals(self) -> dict[str, float]:
        basis = basis_bps(self._mark, self._index) if self._mark > 0 and self._index > 0 else float("nan")
        return {
            "basis_bps": basis,
            "funding_rate": self._rate,
            "funding_apr_pct": funding_apr_pct(self._rate, self._interval_h),
            "expected_carry_bps": expected_carry_bps(self._rate, self._interval_h, self.cfg.horizon_hours),
            "round_trip_cost_bps": self.cfg.round_trip_cost_bps,
        }

    def _quote_ok(self, instrument_id: InstrumentId, ts: int) -> bool:
        q: QuoteTick | None = self.cache.quote_tick(instrument_id)
        return (
            q is not None
            and quote_is_fresh(ts, q.ts_event, self._max_age_ns)
            and quote_is_valid(q.bid_price.as_double(), q.ask_price.as_double())
        )

    def _quotes_ok(self, ts: int) -> bool:
        return self._quote_ok(self.spot_id, ts) and self._quote_ok(self.perp_id, ts)

    def _evaluate(self, ts: int) -> None:
        if ts >= self._next_sample_ns:
            self._sample(ts)
        if self._step_pending and not self._working:
            self._step_pending = False
            self._step(ts)
            return
        if self._needs_repair:
            # Reducing an imbalance needs only the hedge leg to be tradeable.
            if not self._quote_ok(self.perp_id, ts):
                return
            self._needs_repair = False
            self._entered_ns = ts
            self._decide(ts, "REPAIR", "adopted_imbalance")
            self._step(ts)
            return
        if self.phase is Phase.FLAT:
            if ts < self._cooldown_until_ns or self._trading_state != "ACTIVE" or not self._quotes_ok(ts):
                return
            sig = self._signals()
            blocker = entry_blocker(
                sig["basis_bps"], sig["funding_apr_pct"], sig["expected_carry_bps"], self.thresholds
            )
            if blocker is None and self._pair_allowed(ts, sig):
                self._start_pair(ts, self.cfg.trade_size, Phase.ENTERING, "ENTER", "signals_clear", sig)
        elif self.phase is Phase.HOLDING:
            sig = self._signals()
            reason = exit_reason(
                sig["basis_bps"],
                self.cfg.exit_basis_bps,
                self._negative_settlements,
                self.cfg.negative_funding_exit_count,
                ts - self._entered_ns,
                self._max_hold_ns,
            )
            if reason is not None and self._quotes_ok(ts):
                self._start_pair(ts, Decimal(0), Phase.EXITING, "EXIT", reason, sig)

    def _pair_allowed(self, ts: int, sig: dict[str, float]) -> bool:
        """Ask the pre-trade gate for the whole pair before its first leg; no answer means no."""
        size = float(self.cfg.trade_size)
        check = PairCheck([(self.spot_id.value, size), (self.perp_id.value, -size)])
        self.msgbus.send("CarryRisk.check_pair", check)
        if not check.approved:
            self._cooldown_until_ns = ts + int(self.cfg.entry_cooldown_secs * _NS_PER_SEC)
            self._decide(ts, "ENTRY_DENIED", check.reason, sig)
        return check.approved

    def _sample(self, ts: int) -> None:
        self._next_sample_ns = ts - ts % self._sample_ns + self._sample_ns
        spot_q = self.cache.quote_tick(self.spot_id)
        perp_q = self.cache.quote_tick(self.perp_id)
        if spot_q is None or perp_q is None or self._index <= 0:
            return
        sig = self._signals()
        self.msgbus.publish(
            TOPIC_MARKET,
            MarketSampleRecord(
                ts_ns=ts,
                basis_bps=sig["basis_bps"],
                funding_apr_pct=sig["funding_apr_pct"],
                spot_mid=(spot_q.bid_price.as_decimal() + spot_q.ask_price.as_decimal()) / 2,
                perp_mid=(perp_q.bid_price.as_decimal() + perp_q.ask_price.as_decimal()) / 2,
            ),
        )

    # -- legs ------------------------------------------------------------------------------------------

    def _start_pair(
        self, ts: int, target: Decimal, phase: Phase, action: str, reason: str, sig: dict[str, float]
    ) -> None:
        self._pair_seq += 1
        self._pair_id = f"P{self._pair_seq}"
        self._target = target
        self._hedge_failures = 0
        self._unwinding = False
        self.phase = phase
        if phase is Phase.ENTERING:
            self._entered_ns = ts
        self._decide(ts, action, reason, sig)
        self._step(ts)

    def _decide(self, ts: int, action: str, reason: str, sig: dict[str, float] | None = None) -> None:
        self.msgbus.publish(
            TOPIC_DECISION,
            DecisionRecord(ts, str(self.id), action, reason, sig if sig is not None else self._signals()),
        )

    def _step(self, ts: int) -> None:
        """Send the next order of the pair, or finish the phase, from fills only."""
        assert self.spot is not None and self.perp is not None
        if self._unwinding:
            self._unwind_spot_to_hedge(ts)
            return
        legs_working = set(self._working.values())
        step = plan_next_leg(
            self.spot_qty,
            self.perp_qty,
            self._target,
            self.cfg.clip_size,
            self.spot.size_increment.as_decimal(),
            self.perp.size_increment.as_decimal(),
        )
        if step.action is LegAction.HEDGE:
            if "perp" not in legs_working:
                self._send(self.perp_id, step.qty, "perp", "hedge", ts)
        elif step.action is LegAction.CLIP:
            if not legs_working:
                self._send(self.spot_id, step.qty, "spot", "clip", ts)
        elif not legs_working:
            self._finish_phase(ts)

    def _finish_phase(self, ts: int) -> None:
        if self.phase is Phase.ENTERING:
            self.phase = Phase.HOLDING if self.spot_qty else Phase.FLAT
        elif self.phase is Phase.EXITING:
            self.phase = Phase.HOLDING if self.spot_qty else Phase.FLAT
            self._negative_settlements = 0

    def _send(self, instrument_id: InstrumentId, qty: Decimal, leg: str, reason: str, ts: int) -> None:
        instrument = self.spot if leg == "spot" else self.perp
        assert instrument is not None
        # A perp order that shrinks the position goes reduce-only: if the venue has closed the position in
        # the meantime (a liquidation), it cannot flip it.
        reduce_only = leg == "perp" and self.perp_qty * qty < 0 and abs(qty) <= abs(self.perp_qty)
        order = self.order_factory.market(
            instrument_id=instrument_id,
            order_side=OrderSide.BUY if qty > 0 else OrderSide.SELL,
            quantity=instrument.make_qty(abs(qty)),
            time_in_force=TimeInForce.IOC,
            reduce_only=reduce_only,
        )
        self._working[order.client_order_id] = leg
        self._own.add(order.client_order_id)
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
        self.clock.set_time_alert_ns(
            f"leg-timeout-{order.client_order_id.value}",
            ts + int(self.cfg.leg_timeout_secs * _NS_PER_SEC),
            self._on_leg_timeout,
        )
        self.submit_order(order)

    def _on_leg_timeout(self, event: object) -> None:
        name: str = event.name  # type: ignore[attr-defined]
        coid = ClientOrderId(name.removeprefix("leg-timeout-"))
        order = self.cache.order(coid)
        if order is not None and coid in self._working and not order.is_closed:
            self.log.warning(f"leg {self._working[coid]} not filled within timeout, canceling {coid}")
            self.cancel_order(order)

    # -- order events ----------------------------------------------------------------------------------

    def on_order_filled(self, event: OrderFilled) -> None:
        """Book the fill on our leg tally and take the next step from it."""
        qty = event.last_qty.as_decimal()
        signed = qty if event.order_side == OrderSide.BUY else -qty
        if event.instrument_id == self.spot_id:
            self.spot_qty += signed
        elif event.instrument_id == self.perp_id:
            self.perp_qty += signed
        if event.client_order_id not in self._own:
            # A fill we did not send (a venue liquidation, a manual trade): never re-hedge into it;
            # bring the other leg back to what is still hedged.
            self._unwinding = True
            self._cooldown_until_ns = event.ts_event + int(self.cfg.entry_cooldown_secs * _NS_PER_SEC)
            self._decide(event.ts_event, "EXTERNAL_FILL", event.client_order_id.value)
        order = self.cache.order(event.client_order_id)
        if order is not None and order.is_closed:
            self._working.pop(event.client_order_id, None)
        if self.is_running or self._stopping:
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
        if leg is None or not (self.is_running or self._stopping):
            return
        if self._handling_failure:
            # A follow-up order failed inside the handling of a failure (a deterministic denial would
            # loop): try again at the next evaluation, on fresh market data.
            self._step_pending = True
            self._decide(ts, "LEG_FAILED", f"{leg} {why}; retry at next evaluation")
            return
        self._handling_failure = True
        try:
            self._handle_leg_failure(leg, ts, why)
        finally:
            self._handling_failure = False

    def _handle_leg_failure(self, leg: str, ts: int, why: str) -> None:
        if leg == "spot":
            # Nothing to hedge beyond what already filled. Stop adding; keep what is hedged.
            if self.phase is Phase.ENTERING:
                self._target = self.spot_qty
                self._cooldown_until_ns = ts + int(self.cfg.entry_cooldown_secs * _NS_PER_SEC)
            self._decide(ts, "LEG_FAILED", f"spot {why}")
        else:
            self._hedge_failures += 1
            if self._hedge_failures >= self.cfg.hedge_attempts:
                # Unwind: bring spot back to what the perp actually hedges.
                assert self.perp is not None
                self._target = -self.perp_qty
                self._unwinding = True
                self._cooldown_until_ns = ts + int(self.cfg.entry_cooldown_secs * _NS_PER_SEC)
                self._decide(ts, "UNWIND", f"perp {why}")
                self._unwind_spot_to_hedge(ts)
                return
            self._decide(ts, "HEDGE_RETRY", f"perp {why}")
        self._step(ts)

    def _unwind_spot_to_hedge(self, ts: int) -> None:
        assert self.spot is not None
        # Bring spot to what the perp still hedges, never below zero: the spot leg is long-only cash.
        target = max(Decimal(0), -self.perp_qty)
        excess = floor_to_step(self.spot_qty - target, self.spot.size_increment.as_decimal())
        if excess and "spot" not in self._working.values():
            self._send(self.spot_id, -excess, "spot", "unwind", ts)
        elif not excess and not self._working:
            self._unwinding = False
            self._finish_phase(ts)
