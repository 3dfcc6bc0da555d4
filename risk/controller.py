"""RiskController: owns the gate, evaluates the book, and sets the trading state. One actor, every mode.

It evaluates the whole book with the numba kernels on mark-price updates (at most every
``eval_interval_secs``) and on a staleness timer, never per quote; sets ACTIVE / REDUCING / HALTED on both
the gate and nautilus's RiskEngine; publishes state changes to strategies (``TOPIC_TRADING_STATE``) and
risk events and periodic headroom/exposure samples to the journal (``TOPIC_RISK``); and keeps the run's
risk figures for the summary.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.enums import TradingState
from nautilus_trader.model.identifiers import InstrumentId

from engine.config.risk import RiskSettings
from engine.records import (
    TOPIC_FUNDING,
    TOPIC_RISK,
    TOPIC_TRADING_STATE,
    FundingPaymentRecord,
    RiskRecord,
    TradingStateRecord,
)
from engine.venues.health import TOPIC_VENUE_HEALTH, VenueHealthRecord
from risk.book import FT_DRAG, KIND_SPOT, LQ_DIST_PCT, VE_EXPOSURE, VM_HEADROOM
from risk.gate import WIND_DOWN_ENDPOINT, RiskGate
from risk.kernels import allocate_figures, evaluate_into
from risk.limits import RiskLimits, VenueLimits, to_kernel_arrays
from risk.mirror import BookMirror, SlotSpec
from risk.state import StateInputs, next_state

_NS = 1_000_000_000


class RiskController(Actor):
    """The risk module's actor.

    Parameters
    ----------
    settings : RiskSettings
        Limits and controller settings from the deployment config.
    specs : list[SlotSpec]
        The instruments the book holds (see ``risk.mirror.slot_spec``).
    """

    def __init__(self, settings: RiskSettings, specs: list[SlotSpec]) -> None:
        super().__init__(ActorConfig(component_id="RiskController"))
        self.settings = settings
        self.specs = specs
        self.gate: RiskGate | None = None
        self.mirror: BookMirror | None = None
        self.trading_state = TradingState.ACTIVE
        self.liquidations = 0
        self.stats: dict[str, float] = {
            "min_margin_headroom": math.inf,
            "min_liquidation_distance_pct": math.inf,
            "max_abs_net_delta_base": 0.0,
            "max_venue_exposure_usd": 0.0,
            "funding_drag_usd": 0.0,
        }
        self._killed = False
        self._stopping = ""
        self._rate_limited: set[str] = set()
        self._last_eval_ns = -(1 << 62)
        self._next_sample_ns = 0
        self._breach_since_ns: int | None = None
        self._eval_ns = int(settings.eval_interval_secs * _NS)
        self._sample_ns = int(settings.sample_interval_secs * _NS)
        self._max_age_ns = int(settings.max_data_age_secs * _NS)

    def attach(self, kernel: Any) -> RiskGate:
        """Build the mirror and the gate on the kernel's cache and install the gate on its message bus.

        Call after the actor is added to the engine or node and before it runs.
        """
        self.mirror = BookMirror(self.specs, kernel.cache, kernel.portfolio)
        limits = to_kernel_arrays(self._order_limits(), self.mirror.venues, self.mirror.assets)
        self._limits = limits
        self._reducing_floor = tuple(
            self.settings.limits.venue(v).reducing_headroom_floor for v in self.mirror.venues
        )
        self._max_delta = [self.settings.limits.asset(a).max_abs_net_delta for a in self.mirror.assets]
        ratio = self.settings.exposure_reducing_ratio
        self._exposure_reducing_at = tuple(
            ratio * self.settings.limits.venue(v).exposure_usd for v in self.mirror.venues
        )
        self.max_exposure_by_venue = dict.fromkeys(self.mirror.venues, 0.0)
        self._figs = allocate_figures(self.mirror.book, limits)  # reused by every evaluation
        self.gate = RiskGate(self.mirror, limits)
        self.gate.install(kernel)
        kernel.msgbus.register(WIND_DOWN_ENDPOINT, self.wind_down)
        return self.gate

    def _order_limits(self) -> RiskLimits:
        """The limits orders are checked against: a venue's USD exposure limit is lowered to its REDUCING
        band, so an order can never put a venue where the controller would immediately reduce it again."""
        lim, ratio = self.settings.limits, self.settings.exposure_reducing_ratio

        def band(v: VenueLimits) -> VenueLimits:
            return v.model_copy(update={"exposure_usd": v.exposure_usd * ratio})

        return lim.model_copy(
            update={
                "default_venue": band(lim.default_venue),
                "venues": {k: band(v) for k, v in lim.venues.items()},
            }
        )

    # -- lifecycle ----------------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Subscribe to marks and funding; arm the staleness timer and the timed kill switch."""
        for s in self.specs:
            if s.kind != KIND_SPOT:
                self.subscribe_mark_prices(s.instrument_id)
        self.msgbus.subscribe(topic=TOPIC_FUNDING, handler=self._on_funding)
        self.msgbus.subscribe(topic=TOPIC_VENUE_HEALTH, handler=self._on_venue_health)
        self.clock.set_timer(
            "risk-staleness", timedelta(seconds=self.settings.max_data_age_secs / 2), callback=self._on_timer
        )
        if self.settings.halt_at is not None:
            self.clock.set_time_alert("risk-halt-at", self.settings.halt_at, callback=self._on_halt_at)

    def on_mark_price(self, mark_price: MarkPriceUpdate) -> None:
        """Evaluate, at most every ``eval_interval_secs``."""
        ts = mark_price.ts_init
        if ts - self._last_eval_ns >= self._eval_ns:
            self.evaluate(ts)

    def _on_timer(self, event: Any) -> None:
        self.evaluate(event.ts_event)

    def _on_halt_at(self, event: Any) -> None:
        self._killed = True
        self.evaluate(event.ts_event)

    def _on_venue_health(self, rec: VenueHealthRecord) -> None:
        """A venue's clients report a rate-limit storm, or its end: re-decide the state now."""
        if rec.state == "RATE_LIMITED":
            self._rate_limited.add(rec.venue)
        else:
            self._rate_limited.discard(rec.venue)
        self.evaluate(rec.ts_ns)

    def _on_funding(self, rec: FundingPaymentRecord) -> None:
        if self.mirror is not None:
            self.mirror.add_funding(InstrumentId.from_str(rec.instrument_id), float(rec.amount))

    def count_liquidation(self) -> None:
        """Count a liquidation the venue (or the backtest's liquidation module) carried out."""
        self.liquidations += 1

    def wind_down(self, reason: str) -> None:
        """The node is stopping (``reason``: signal, duration, kill switch): REDUCING from now on.

        Reached on the ``CarryRisk.wind_down`` endpoint, so the node never writes the trading state itself.
        """
        self._stopping = reason
        self.evaluate(self.clock.timestamp_ns())

    def kill(self) -> None:
        """Turn the kill switch on now (HALTED until restart)."""
        self._killed = True
        self.evaluate(self.clock.timestamp_ns())

    # -- evaluation ---------------------------------------------------------------------------------------

    def evaluate(self, ts: int) -> None:
        """Run every kernel on the current book, update the run's figures and the trading state."""
        assert self.mirror is not None and self.gate is not None, "RiskController.evaluate before attach"
        self._last_eval_ns = ts
        self.mirror.refresh()
        figs = self._figs
        evaluate_into(self.mirror.book, self._limits, figs)
        # Tiny arrays (one value per venue or asset): plain lists are cheaper than numpy calls here.
        headroom = figs.venue_margin[VM_HEADROOM].tolist()
        exposure = figs.venue_exposure[VE_EXPOSURE].tolist()
        delta = figs.net_delta[0].tolist()
        st = self.stats
        st["min_margin_headroom"] = min(st["min_margin_headroom"], *headroom)
        distances = figs.liquidation[LQ_DIST_PCT].tolist()
        for dist, qty in zip(distances, self.mirror.book.qty.tolist(), strict=True):
            if qty != 0.0 and math.isfinite(dist) and dist < st["min_liquidation_distance_pct"]:
                st["min_liquidation_distance_pct"] = dist
        abs_delta = [abs(d) for d in delta]
        st["max_abs_net_delta_base"] = max(st["max_abs_net_delta_base"], *abs_delta)
        st["max_venue_exposure_usd"] = max(st["max_venue_exposure_usd"], *exposure)
        st["funding_drag_usd"] = max(st["funding_drag_usd"], float(figs.funding_total[FT_DRAG]))
        for v, e in zip(self.mirror.venues, exposure, strict=True):
            if e > self.max_exposure_by_venue[v]:
                self.max_exposure_by_venue[v] = e
        breached = any(d > m + 1e-12 for d, m in zip(abs_delta, self._max_delta, strict=True))
        if not breached:
            self._breach_since_ns = None
        elif self._breach_since_ns is None:
            self._breach_since_ns = ts
        inputs = StateInputs(
            killed=self._killed or self._kill_file_present(),
            data_age_ns=self._data_age(ts),
            max_data_age_ns=self._max_age_ns,
            headroom=tuple(headroom),
            reducing_floor=self._reducing_floor,
            delta_breach_ns=0 if self._breach_since_ns is None else ts - self._breach_since_ns,
            delta_breach_limit_ns=int(self.settings.delta_breach_secs * _NS),
            exposure=tuple(exposure),
            exposure_reducing_at=self._exposure_reducing_at,
            rate_limited_venues=tuple(sorted(self._rate_limited)),
            stopping=self._stopping,
        )
        state, reason = next_state(inputs)
        if state != self.trading_state:
            self._set_state(ts, state, reason, min(headroom), max(abs_delta))
        if ts >= self._next_sample_ns:
            self._next_sample_ns = ts - ts % self._sample_ns + self._sample_ns
            sample = {f"headroom_{v}": h for v, h in zip(self.mirror.venues, headroom, strict=True)}
            sample |= {f"exposure_usd_{v}": e for v, e in zip(self.mirror.venues, exposure, strict=True)}
            self.msgbus.publish(TOPIC_RISK, RiskRecord(ts, "SAMPLE", "", sample))

    def _set_state(
        self, ts: int, state: TradingState, reason: str, min_headroom: float, max_abs_delta: float
    ) -> None:
        assert self.gate is not None
        self.trading_state = state
        self.gate.state = state
        # The gate holds the kernel's RiskEngine: nautilus's own state follows carry's.
        self.gate._risk_engine.set_trading_state(state)
        figures = {"min_headroom": min_headroom, "max_abs_net_delta": max_abs_delta}
        self.msgbus.publish(TOPIC_RISK, RiskRecord(ts, "STATE", f"{state.name}:{reason}", figures))
        self.msgbus.publish(TOPIC_TRADING_STATE, TradingStateRecord(ts, state.name, reason))

    def _data_age(self, ts: int) -> int:
        """Age of the stalest quote among the instruments the book holds a position in.

        A flat instrument's old quote (an expired future, a leg not yet quoted) puts nothing at risk, and
        strategies refuse to open on stale quotes themselves.
        """
        assert self.mirror is not None
        oldest = ts
        qty = self.mirror.book.qty
        for i, s in enumerate(self.specs):
            if qty[i] == 0.0:
                continue
            q = self.cache.quote_tick(s.instrument_id)
            if q is not None:
                oldest = min(oldest, q.ts_init)
        return ts - oldest

    def _kill_file_present(self) -> bool:
        return self.settings.kill_file is not None and Path(self.settings.kill_file).exists()

    def summary(self) -> dict[str, Any]:
        """The ``risk`` block of summary.json."""
        assert self.gate is not None
        # +inf: never measured (no derivative position); headroom is -inf when equity reaches zero and is
        # reported clamped at -1 (JSON has no infinities).
        st = {
            k: (None if v == math.inf else max(v, -1.0) if k == "min_margin_headroom" else v)
            for k, v in self.stats.items()
        }
        return {
            "checks": self.gate.checks,
            "denials": sum(self.gate.denials.values()),
            "denials_by_reason": dict(sorted(self.gate.denials.items())),
            "liquidations": self.liquidations,
            "final_state": self.trading_state.name,
            "max_exposure_usd_by_venue": dict(self.max_exposure_by_venue),
            **st,
        }
