"""CmePerpConvergence: a CME Bitcoin future against the offshore perpetual, traded on their convergence.

When the CME future is rich against the perp (its annualized basis above the perp's funding APR by a margin,
or the price gap beyond a band) the strategy sells the future and buys the perp; when it is cheap, the
reverse. The futures leg is sized in whole contracts and goes first, in clips; each perp order is sized from
the futures leg's actual fills (``strategies.legs.plan_next_leg`` in base units: contracts x multiplier), so
the net delta never exceeds one clip and, once hedged, is below one perp lot (< one contract).

Exits: on convergence; before expiry (``expiry_action``: ``roll`` to the next month keeping the perp, or
``close`` both legs) ``roll_business_days`` CME business days before the last trading day; or held to expiry
(``settle``), where the venue settles the future and the perp is closed at once if it is quoted at that
moment, else at the next daily price; or on
``request_exit`` (end of data, stop, a risk decision).

Decisions run once per index-price update (daily on daily data), never per quote; the latest quotes are
read from the cache. Intents, decisions and market samples go on the message bus (``engine.records``) for
the journal, as in ``SpotPerpCarry``; order sending, order events and the gate check are
``strategies.base.LeggedStrategy``'s.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Literal

import numpy as np
from nautilus_trader.model.data import FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate, QuoteTick
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue

from engine.cme import CONTRACT_SIZE_BTC, CmeContract, active_contract, front_contract
from engine.signals.cme_basis import annualized_basis
from engine.signals.convergence import (
    NO_TRADE,
    ConvergenceThresholds,
    converged,
    entry_side,
    gap_bps,
    globex_open,
    hedge_for_contracts,
    spread_apr,
)
from engine.signals.funding import annualize_funding
from strategies.base import NS_PER_SEC, LeggedStrategy, LeggedStrategyConfig
from strategies.legs import plan_next_leg

# A daily quote stamped within the hour after midnight UTC carries the previous UTC day's close.
_CLOSE_LAG_NS = 3_600 * NS_PER_SEC
SETTLE_PREFIX = "SETTLE-"  # client order ids of the venue's final-settlement fills


class CmePerpConvergenceConfig(LeggedStrategyConfig, frozen=True, kw_only=True):
    """Nautilus config of ``CmePerpConvergence`` (built by ``engine.config.cme_backtest``).

    Spreads are annualized fractions (0.05 = 5% a year), gaps bps; ``expiry_action`` is ``roll``, ``close``
    or ``settle``; times in seconds. The perp, leg timeout, hedge attempts, quote age, cooldown and
    ``close_on_stop`` fields are ``LeggedStrategyConfig``'s; the defaults of the timing ones are set here.
    """

    cme_venue: str
    cme_root: str
    contracts: int
    clip_contracts: int
    entry_spread_apr: float
    exit_spread_apr: float
    entry_gap_bps: float | None = None
    exit_gap_bps: float | None = None
    allow_cheap: bool = True
    funding_window_settlements: int = 21
    expiry_action: Literal["roll", "close", "settle"] = "roll"
    roll_business_days: int = 3
    min_days_to_expiry: int = 7
    max_quote_age_secs: float = 3_600.0
    leg_timeout_secs: float = 60.0
    entry_cooldown_secs: float = 86_400.0
    require_globex_open: bool = True


class Phase(Enum):
    """Where the pair is in its life."""

    FLAT = "flat"
    ENTERING = "entering"
    HOLDING = "holding"
    ROLLING = "rolling"
    EXITING = "exiting"


@dataclass(frozen=True, slots=True)
class PairLeg:
    """One leg of a pair about to be opened: instrument and signed quantity (contracts or base units)."""

    instrument_id: InstrumentId
    qty: Decimal


def _utc_day(ts_ns: int) -> date:
    return datetime.fromtimestamp(ts_ns // NS_PER_SEC, tz=UTC).date()


def _mid(q: QuoteTick) -> float:
    return (q.bid_price.as_double() + q.ask_price.as_double()) / 2.0


class CmePerpConvergence(LeggedStrategy):
    """Short CME / long perp when CME is rich (and the reverse), hedge on fills, exit on convergence."""

    cfg: CmePerpConvergenceConfig

    def __init__(self, config: CmePerpConvergenceConfig) -> None:
        super().__init__(config)
        self.multiplier = CONTRACT_SIZE_BTC[config.cme_root]
        self.thresholds = ConvergenceThresholds(
            config.entry_spread_apr,
            config.exit_spread_apr,
            config.entry_gap_bps,
            config.exit_gap_bps,
            config.allow_cheap,
        )
        self.phase = Phase.FLAT
        self.side = NO_TRADE
        self.cme_qty: dict[InstrumentId, Decimal] = {}  # signed contracts per futures month
        self.cme_id: InstrumentId | None = None  # the month the pair is on (the new one while rolling)
        self.roll_from: InstrumentId | None = None
        self._contracts: dict[InstrumentId, CmeContract] = {}
        self._target = 0  # signed contracts of the futures leg at the end of the phase
        self._hedge_deferred = False
        self._index = 0.0
        self._rates: deque[float] = deque(maxlen=config.funding_window_settlements)
        self._interval_h = 8.0
        self._last_settled_ns = 0
        self.rolls = 0
        self.settlements = 0

    # -- lifecycle ------------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Load the perp, adopt open positions (restart path), subscribe to the perp's reference prices."""
        self.perp = self.cache.instrument(self.perp_id)
        if self.perp is None:
            self.log.error(f"instrument missing from cache: {self.perp_id}")
            self.stop()
            return
        self.perp_qty = self._cached_position(self.perp_id)
        for pos in self.cache.positions_open(venue=Venue(self.cfg.cme_venue), strategy_id=self.id):
            qty = self._cached_position(pos.instrument_id)
            if qty:
                self.cme_qty[pos.instrument_id] = qty
                self.cme_id = pos.instrument_id
        if self.cme_qty or self.perp_qty:
            # Adopted: hold what is there; the first decision hedges any imbalance from these positions.
            total = sum(self.cme_qty.values(), Decimal(0))
            self._target = int(total)
            self.side = 1 if total > 0 else -1 if total < 0 else NO_TRADE
            self.phase = Phase.ENTERING
        self._subscribe_perp_prices()
        self._subscribe_trading_state()

    def _exit_needed(self) -> bool:
        return not self.is_flat and self.phase is not Phase.EXITING

    def _start_exit(self, ts: int, reason: str) -> None:
        """Close both legs, futures first in clips, perp hedged from fills (end of data, stop, risk)."""
        self._hedge_deferred = False
        self._start_pair(ts, 0, Phase.EXITING, "EXIT", reason, self._signals(ts, self.cme_id))

    @property
    def is_flat(self) -> bool:
        """No position on any leg and no order working."""
        return not (any(self.cme_qty.values()) or self.perp_qty or self._working)

    @property
    def cme_base(self) -> Decimal:
        """Signed base units (BTC) of the futures leg, all months together."""
        return sum(self.cme_qty.values(), Decimal(0)) * self.multiplier

    @property
    def net_delta_base(self) -> Decimal:
        """Futures leg plus perp leg, base units."""
        return self.cme_base + self.perp_qty

    # -- the risk gate's hook -------------------------------------------------------------------------

    def _pair_allowed(self, legs: list[PairLeg]) -> bool:
        """PRE-TRADE GATE: the single place a new pair is checked, before its first leg is sent.

        Both legs go to the risk gate's ``CarryRisk.check_pair`` endpoint as one change of the book (each
        venue's margin, the counterparty limits, net delta); no answer means no.
        """
        pair = [(leg.instrument_id, float(leg.qty)) for leg in legs]
        return self._check_pair(self.clock.timestamp_ns(), pair)

    # -- contracts --------------------------------------------------------------------------------------

    def _contract_id(self, contract: CmeContract) -> InstrumentId:
        iid = InstrumentId(Symbol(contract.symbol), Venue(self.cfg.cme_venue))
        self._contracts[iid] = contract
        return iid

    def _entry_contract(self, day: date) -> CmeContract:
        """The month to open on ``day``: the roll schedule's, and never one with too few days left."""
        n = self.cfg.roll_business_days
        c = front_contract(day, self.cfg.cme_root)
        if self.cfg.expiry_action != "settle":
            c = active_contract(day, n, True, self.cfg.cme_root)
        while (c.expiry - day).days < self.cfg.min_days_to_expiry:
            c = c.next()
        return c

    def _must_leave(self, day: date) -> bool:
        """True once the held month has reached its roll date (``roll`` and ``close`` modes)."""
        if self.cfg.expiry_action == "settle" or self.cme_id is None:
            return False
        contract = self._contracts.get(self.cme_id)
        return contract is not None and day >= contract.roll_date(self.cfg.roll_business_days)

    # -- market data: one decision per index update (daily) ----------------------------------------------

    def on_mark_price(self, mark_price: MarkPriceUpdate) -> None:
        """Nothing: the perp's mark is read from the cache by the funding module and equity."""

    def on_funding_rate(self, funding_rate: FundingRateUpdate) -> None:
        """Keep the settled rates of the trailing window (an update at or after its settlement is final)."""
        if funding_rate.interval:
            self._interval_h = funding_rate.interval / 60.0
        settle_ns = funding_rate.next_funding_ns
        if settle_ns and funding_rate.ts_event >= settle_ns and settle_ns > self._last_settled_ns:
            self._last_settled_ns = settle_ns
            self._rates.append(float(funding_rate.rate))

    def on_index_price(self, index_price: IndexPriceUpdate) -> None:
        """Keep the spot index and take the day's decision."""
        self._index = index_price.value.as_double()
        self._evaluate(index_price.ts_init)

    def _signals(self, ts: int, cme_id: InstrumentId | None) -> dict[str, float]:
        nan = float("nan")
        funding = (
            float(annualize_funding(sum(self._rates) / len(self._rates), self._interval_h))
            if self._rates
            else nan
        )
        sig = {
            "funding_apr_pct": funding * 100.0,
            "spot_index": self._index,
            "future_mid": nan,
            "perp_mid": nan,
            "days_to_expiry": nan,
            "cme_basis_apr_pct": nan,
            "spread_apr_pct": nan,
            "gap_bps": nan,
        }
        perp_q = self.cache.quote_tick(self.perp_id)
        if perp_q is not None:
            sig["perp_mid"] = _mid(perp_q)
        q = self.cache.quote_tick(cme_id) if cme_id is not None else None
        contract = self._contracts.get(cme_id) if cme_id is not None else None
        if q is None or contract is None:
            return sig
        f = _mid(q)
        dte = (contract.expiry - _utc_day(q.ts_event - _CLOSE_LAG_NS)).days
        cme_apr = float(annualized_basis(np.array([f]), np.array([self._index]), np.array([dte]))[0])
        sig.update(
            future_mid=f,
            days_to_expiry=float(dte),
            cme_basis_apr_pct=cme_apr * 100.0,
            spread_apr_pct=float(spread_apr(cme_apr, funding)) * 100.0,
            gap_bps=float(gap_bps(f, sig["perp_mid"])),
        )
        return sig

    def _tradeable(self, cme_id: InstrumentId, ts: int) -> bool:
        """Both legs quoted, fresh and valid, and the CME session open (rule 7)."""
        if self.cfg.require_globex_open and not globex_open(ts):
            return False
        return self._quote_ok(cme_id, ts) and self._quote_ok(self.perp_id, ts)

    def _evaluate(self, ts: int) -> None:
        day = _utc_day(ts)
        if self.phase is Phase.FLAT:
            cme_id = self._contract_id(self._entry_contract(day))
            sig = self._signals(ts, cme_id)
            self._sample(ts, sig)
            if (
                ts < self._cooldown_until_ns
                or self._trading_state != "ACTIVE"
                or not self._tradeable(cme_id, ts)
            ):
                return
            side = int(entry_side(sig["spread_apr_pct"] / 100.0, sig["gap_bps"], self.thresholds))
            if side == NO_TRADE:
                return
            target = side * self.cfg.contracts
            assert self.perp is not None
            hedge, residual = hedge_for_contracts(
                target, self.multiplier, self.perp.size_increment.as_decimal()
            )
            legs = [PairLeg(cme_id, Decimal(target)), PairLeg(self.perp_id, hedge)]
            if not self._pair_allowed(legs):
                self._decide(ts, "GATE_DENIED", "pair refused by the pre-trade gate", sig)
                return
            self.cme_id = cme_id
            self.side = side
            sig["residual_delta_base"] = float(residual)
            reason = "cme_rich" if side < 0 else "cme_cheap"
            self._start_pair(ts, target, Phase.ENTERING, "ENTER", reason, sig)
            return
        sig = self._signals(ts, self.cme_id)
        self._sample(ts, sig)
        if self._hedge_deferred:
            # After a final settlement: hedge the perp at the first price after it.
            if self._quote_ok(self.perp_id, ts):
                self._hedge_deferred = False
                self._step(ts)
            return
        if self.phase is Phase.HOLDING:
            assert self.cme_id is not None
            if not self._tradeable(self.cme_id, ts):
                return
            if bool(converged(self.side, sig["spread_apr_pct"] / 100.0, sig["gap_bps"], self.thresholds)):
                self._start_pair(ts, 0, Phase.EXITING, "EXIT", "converged", sig)
            elif self._must_leave(day):
                if self.cfg.expiry_action == "close":
                    self._start_pair(ts, 0, Phase.EXITING, "EXIT", "expiry", sig)
                else:
                    self._start_roll(ts, day, sig)
        elif not self._working:
            # A phase left unfinished by a failed leg resumes at the next decision, from fills.
            self._step(ts)

    def _sample(self, ts: int, sig: dict[str, float]) -> None:
        perp_q = self.cache.quote_tick(self.perp_id)
        if perp_q is None or self._index <= 0:
            return
        self._publish_sample(ts, sig["gap_bps"], sig["funding_apr_pct"], Decimal(str(self._index)), perp_q)

    # -- pairs and rolls --------------------------------------------------------------------------------

    def _start_pair(
        self, ts: int, target: int, phase: Phase, action: str, reason: str, sig: dict[str, float]
    ) -> None:
        self._next_pair_id()
        self._target = target
        self._hedge_failures = 0
        self.phase = phase
        self._decide(ts, action, reason, sig)
        self._step(ts)

    def _start_roll(self, ts: int, day: date, sig: dict[str, float]) -> None:
        assert self.cme_id is not None
        nxt = self._contract_id(self._entry_contract(day))
        if nxt == self.cme_id or not self._tradeable(nxt, ts):
            return  # the next month is not quoted yet: try again at the next decision
        self._next_pair_id()
        self.roll_from, self.cme_id = self.cme_id, nxt
        self._target = int(sum(self.cme_qty.values(), Decimal(0)))
        self.phase = Phase.ROLLING
        self.rolls += 1
        self._decide(ts, "ROLL", f"{self.roll_from.symbol} -> {nxt.symbol}", sig)
        self._step(ts)

    def _step(self, ts: int) -> None:
        """Send the next order of the phase, or finish it, from fills only."""
        if self._hedge_deferred:
            return
        if self.phase is Phase.ROLLING:
            self._step_roll(ts)
            return
        assert self.perp is not None
        step = plan_next_leg(
            self.cme_base,
            self.perp_qty,
            Decimal(self._target) * self.multiplier,
            Decimal(self.cfg.clip_contracts) * self.multiplier,
            self.multiplier,
            self.perp.size_increment.as_decimal(),
        )
        self._take_leg_step(ts, step)

    def _send_clip(self, qty: Decimal, ts: int) -> None:
        contracts = qty / self.multiplier  # the planner works in base units; the venue takes contracts
        self._send(self._clip_instrument(contracts), contracts, "cme", "clip", ts)

    def _clip_instrument(self, contracts: Decimal) -> InstrumentId:
        """Where a futures clip goes: the pair's month when adding, else a month whose position it reduces."""
        assert self.cme_id is not None
        if self.phase is Phase.ENTERING and self._target:
            return self.cme_id
        reducible = [i for i, q in self.cme_qty.items() if q and (q > 0) != (contracts > 0)]
        others = [i for i in reducible if i != self.cme_id]  # a leftover of an interrupted roll first
        return (others or reducible or [self.cme_id])[0]

    def _step_roll(self, ts: int) -> None:
        """Move the futures leg from ``roll_from`` to ``cme_id`` one clip at a time; the perp stays."""
        assert self.roll_from is not None and self.cme_id is not None
        if self._working:
            return
        old = self.cme_qty.get(self.roll_from, Decimal(0))
        new = self.cme_qty.get(self.cme_id, Decimal(0))
        excess = old + new - self._target
        if excess:
            # The new month's last fill ran ahead of the old month's close: take it off the old month.
            if old and (excess > 0) == (old > 0):
                qty = -excess if abs(excess) <= abs(old) else -old
                self._send(self.roll_from, qty, "cme", "roll_close", ts)
            else:
                self._send(self.cme_id, -excess, "cme", "roll_adjust", ts)
        elif old:
            clip = min(Decimal(self.cfg.clip_contracts), abs(old))
            self._send(self.cme_id, clip if self._target > 0 else -clip, "cme", "roll_open", ts)
        else:
            self.cme_qty.pop(self.roll_from, None)
            self.roll_from = None
            self.phase = Phase.HOLDING
            self._step_hedge_check(ts)

    def _step_hedge_check(self, ts: int) -> None:
        # A roll leaves the perp as it was; only an interrupted roll could need a hedge.
        if abs(self.net_delta_base) >= (self.perp.size_increment.as_decimal() if self.perp else Decimal(1)):
            self.phase = Phase.ENTERING
            self._step(ts)

    def _finish_phase(self, ts: int) -> None:
        for iid in [i for i, q in self.cme_qty.items() if not q]:
            if iid != self.cme_id:
                self.cme_qty.pop(iid)
        if any(self.cme_qty.values()):
            self.phase = Phase.HOLDING
        else:
            self.phase = Phase.FLAT
            self.side = NO_TRADE
            self.cme_qty.clear()
            self.cme_id = None
            self.roll_from = None

    # -- fills and failed legs -------------------------------------------------------------------------

    def _book_fill(self, instrument_id: InstrumentId, signed_qty: Decimal) -> None:
        if instrument_id == self.perp_id:
            self.perp_qty += signed_qty
        elif instrument_id.venue.value == self.cfg.cme_venue:
            self.cme_qty[instrument_id] = self.cme_qty.get(instrument_id, Decimal(0)) + signed_qty

    def _on_external_fill(self, event: OrderFilled) -> bool:
        if not event.client_order_id.value.startswith(SETTLE_PREFIX):
            return True
        # The venue settled the future at expiry: the pair is over. The perp is closed now if it is quoted at
        # this moment (the fixing), else at the next daily price.
        self.settlements += 1
        self._next_pair_id()
        self._target = 0
        self.phase = Phase.EXITING
        self._decide(event.ts_event, "SETTLED", f"{event.instrument_id.symbol} settled at {event.last_px}")
        if not self._quote_ok(self.perp_id, event.ts_event):
            self._hedge_deferred = True
            return False
        return True

    def _on_leg_failure(self, leg: str, ts: int, why: str) -> None:
        if leg == "cme":
            if self.phase is Phase.ROLLING:
                # A roll that cannot be done must not drift into expiry: close the pair instead (its orders
                # reduce risk, so the gate lets them through).
                self._decide(ts, "LEG_FAILED", f"cme {why}")
                self.request_exit("roll_failed")
                return
            # Nothing to hedge beyond what filled. An entry stops adding; an exit resumes at the next
            # decision (not now: a refused order must not be resent in a loop).
            if self.phase is Phase.ENTERING:
                self._target = int(sum(self.cme_qty.values(), Decimal(0)))
                self._cool_down(ts)
            self._decide(ts, "LEG_FAILED", f"cme {why}")
            if self.phase is Phase.ENTERING:
                self._step(ts)
            return
        self._hedge_failures += 1
        if self._hedge_failures >= self.cfg.hedge_attempts:
            # Unwind: bring the futures leg back to what the perp actually hedges (whole contracts).
            self._target = int(-self.perp_qty / self.multiplier)
            if self.phase is Phase.ROLLING:
                self.phase = Phase.EXITING if self._target == 0 else Phase.ENTERING
            self._cool_down(ts)
            self._decide(ts, "UNWIND", f"perp {why}")
            return
        self._decide(ts, "HEDGE_RETRY", f"perp {why}")
        self._step(ts)
