"""SpotPerpCarry: long spot, short perpetual, equal base quantity; earns funding while the basis is rich.

Decisions run on mark/index/funding updates (about once a second live, hourly on hourly data), never per
quote: the latest quotes are read from the cache only to check that both legs are tradeable. Legs are sent
in clips; each perp hedge is sized from the spot leg's actual fills (see ``strategies.legs``). Order
sending, order events and the gate check are ``strategies.base.LeggedStrategy``'s.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

from nautilus_trader.model.data import FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument

from engine.signals.carry import (
    EntryThresholds,
    basis_bps,
    entry_blocker,
    exit_reason,
    expected_carry_bps,
    funding_apr_pct,
)
from strategies.base import HEDGE_LEG, NS_PER_SEC, LeggedStrategy, LeggedStrategyConfig, quote_mid
from strategies.legs import floor_to_step, min_order_qty, net_delta, plan_next_leg, round_to_step

_NS_PER_HOUR = 3_600 * NS_PER_SEC


class SpotPerpCarryConfig(LeggedStrategyConfig, frozen=True, kw_only=True):
    """Nautilus config of ``SpotPerpCarry`` (built from ``engine.config.strategy.SpotPerpCarrySettings``).

    Sizes are base units; thresholds in bps and annualized percent; times in hours and seconds.
    ``round_trip_cost_bps`` is the cost of the four fills of one round trip, fees plus slippage. The perp,
    leg timeout, hedge attempts, quote age, cooldown and ``close_on_stop`` fields are
    ``LeggedStrategyConfig``'s; the defaults of the timing ones are set here.
    """

    spot_instrument_id: InstrumentId
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
    max_quote_age_secs: float = 5.0
    sample_interval_secs: float = 3600.0
    entry_cooldown_secs: float = 3600.0
    initial_spot_inventory: Decimal = Decimal(0)


class Phase(Enum):
    """Where the carry position is in its life."""

    FLAT = "flat"
    ENTERING = "entering"
    HOLDING = "holding"
    EXITING = "exiting"


class SpotPerpCarry(LeggedStrategy):
    """Long spot / short perpetual carry with basis and funding gates and hedge-on-fill legs."""

    cfg: SpotPerpCarryConfig

    def __init__(self, config: SpotPerpCarryConfig) -> None:
        super().__init__(config)
        self.spot_id = config.spot_instrument_id
        self.thresholds = EntryThresholds(
            config.entry_basis_bps,
            config.entry_funding_apr_pct,
            config.round_trip_cost_bps,
            config.min_edge_ratio,
        )
        self._sample_ns = int(config.sample_interval_secs * NS_PER_SEC)
        self._max_hold_ns = int(config.max_holding_hours * _NS_PER_HOUR)
        self.phase = Phase.FLAT
        self.spot_qty = Decimal(0)
        self._target = Decimal(0)
        self._unwinding = False
        self._needs_repair = False
        self._handling_failure = False
        self._step_pending = False
        self._entered_ns = 0
        self._next_sample_ns = 0
        self._mark = 0.0
        self._index = 0.0
        self._mark_ts = 0
        self._index_ts = 0
        self._rate = float("nan")
        self._interval_h = 8.0
        self._last_settled_ns = 0
        self._negative_settlements = 0
        self.spot: Instrument | None = None

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
        if self._holds_spot or self.perp_qty:
            self.phase = Phase.HOLDING
            self._target = self.spot_qty
            self._needs_repair = True
        self._subscribe_perp_prices()
        self._subscribe_trading_state()

    def _exit_needed(self) -> bool:
        return (self._holds_spot or bool(self.perp_qty)) and self.phase is not Phase.EXITING

    def _start_exit(self, ts: int, reason: str) -> None:
        """The clip-by-clip, hedge-on-fill exit of whatever is held (stop, end of data, kill switch)."""
        self._start_pair(ts, Decimal(0), Phase.EXITING, "EXIT", reason, self._signals())

    @property
    def is_flat(self) -> bool:
        """No position on either leg (spot dust aside) and no order working."""
        return not (self._holds_spot or self.perp_qty or self._working)

    @property
    def is_hedged(self) -> bool:
        """No hedge left for the planner to send (net delta within half a perp lot) and no order working."""
        if self.perp is None or self._working:
            return False
        step = self.perp.size_increment.as_decimal()
        return round_to_step(net_delta(self.spot_qty, self.perp_qty), step) == 0

    @property
    def _holds_spot(self) -> bool:
        """Spot beyond dust: what no order could sell (under a lot or the minimum notional; a fee taken in
        the asset bought leaves such dust) does not count as held."""
        return self.spot_qty != 0 and (self.spot is None or abs(self.spot_qty) >= self._spot_min())

    def _spot_min(self) -> Decimal:
        """Smallest spot order the venue takes now (its lot, or its minimum notional at the bid)."""
        assert self.spot is not None
        floor = self.spot.min_notional
        quote = self.cache.quote_tick(self.spot_id) if floor is not None else None
        return min_order_qty(
            self.spot.size_increment.as_decimal(),
            floor.as_decimal() if floor is not None else None,
            quote.bid_price.as_decimal() if quote is not None else None,
        )

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

    def _decision_signals(self) -> dict[str, float]:
        return self._signals()

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
        approved = self._check_pair(ts, [(self.spot_id, size), (self.perp_id, -size)], sig)
        if not approved:
            self._cool_down(ts)
        return approved

    def _sample(self, ts: int) -> None:
        self._next_sample_ns = ts - ts % self._sample_ns + self._sample_ns
        spot_q = self.cache.quote_tick(self.spot_id)
        perp_q = self.cache.quote_tick(self.perp_id)
        if spot_q is None or perp_q is None or self._index <= 0:
            return
        sig = self._signals()
        self._publish_sample(ts, sig["basis_bps"], sig["funding_apr_pct"], quote_mid(spot_q), perp_q)

    # -- legs ------------------------------------------------------------------------------------------

    def _start_pair(
        self, ts: int, target: Decimal, phase: Phase, action: str, reason: str, sig: dict[str, float]
    ) -> None:
        self._next_pair_id()
        self._target = target
        self._hedge_failures = 0
        self._unwinding = False
        self.phase = phase
        if phase is Phase.ENTERING:
            self._entered_ns = ts
        self._decide(ts, action, reason, sig)
        self._step(ts)

    def _step(self, ts: int) -> None:
        """Send the next order of the pair, or finish the phase, from fills only."""
        assert self.spot is not None and self.perp is not None
        if self._unwinding:
            self._unwind_spot_to_hedge(ts)
            return
        step = plan_next_leg(
            self.spot_qty,
            self.perp_qty,
            self._target,
            self.cfg.clip_size,
            self.spot.size_increment.as_decimal(),
            self.perp.size_increment.as_decimal(),
            self._spot_min(),
        )
        self._take_leg_step(ts, step)

    def _send_clip(self, qty: Decimal, ts: int) -> None:
        self._send(self.spot_id, qty, "spot", "clip", ts)

    def _finish_phase(self, ts: int) -> None:
        if self.phase is Phase.ENTERING:
            self.phase = Phase.HOLDING if self._holds_spot else Phase.FLAT
        elif self.phase is Phase.EXITING:
            self.phase = Phase.HOLDING if self._holds_spot else Phase.FLAT
            self._negative_settlements = 0

    def _reduce_only(self, leg: str, qty: Decimal) -> bool:
        # A perp order that shrinks the position goes reduce-only: if the venue has closed the position in
        # the meantime (a liquidation), it cannot flip it.
        return leg == HEDGE_LEG and self.perp_qty * qty < 0 and abs(qty) <= abs(self.perp_qty)

    # -- fills and failed legs -------------------------------------------------------------------------

    def _book_fill(self, instrument_id: InstrumentId, signed_qty: Decimal) -> None:
        if instrument_id == self.spot_id:
            self.spot_qty += signed_qty
        elif instrument_id == self.perp_id:
            self.perp_qty += signed_qty

    def _on_external_fill(self, event: OrderFilled) -> bool:
        # A fill we did not send (a venue liquidation, a manual trade): never re-hedge into it;
        # bring the other leg back to what is still hedged.
        self._unwinding = True
        self._cool_down(event.ts_event)
        self._decide(event.ts_event, "EXTERNAL_FILL", event.client_order_id.value)
        return True

    def _on_leg_failure(self, leg: str, ts: int, why: str) -> None:
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
                self._cool_down(ts)
            self._decide(ts, "LEG_FAILED", f"spot {why}")
        else:
            self._hedge_failures += 1
            if self._hedge_failures >= self.cfg.hedge_attempts:
                # Unwind: bring spot back to what the perp actually hedges.
                assert self.perp is not None
                if self.phase is not Phase.EXITING:
                    self._target = -self.perp_qty  # stop entering at what is hedged; an exit stays at flat
                self._unwinding = True
                self._cool_down(ts)
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
        if excess and abs(excess) >= self._spot_min():
            if "spot" not in self._working.values():
                self._send(self.spot_id, -excess, "spot", "unwind", ts)
        elif not self._working:
            self._unwinding = False
            if self.phase is Phase.EXITING:
                self._step(ts)  # hedged again: the exit goes on to its target (flat), perp included
            else:
                self._finish_phase(ts)
