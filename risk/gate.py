"""RiskGate: every order, from every strategy, through the numba pre-trade check.

``install`` puts the gate on the kernel's message bus in place of the ``RiskEngine.execute`` endpoint, the
one every strategy's ``submit_order`` sends to, so nothing bypasses it. A submit is checked against the
mirrored book as it would be after the order; a denial becomes a real nautilus ``OrderDenied`` (through the
RiskEngine's own ``_deny_order``) with the limit and figures as its reason, and is published for the
journal. Approved orders go on to nautilus's RiskEngine for its own checks. An order that reduces risk (it
shrinks its asset's |net delta| or its own position) is never denied by a limit, only by HALTED.

Strategies ask for a whole pair before sending its first leg by sending a ``PairCheck`` to the
``CarryRisk.check_pair`` endpoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from nautilus_trader.execution.messages import SubmitOrder
from nautilus_trader.model.enums import TradingState
from nautilus_trader.model.identifiers import InstrumentId

from engine.records import TOPIC_RISK, PairCheck, RiskRecord
from risk.book import LimitArrays
from risk.kernels import Decision
from risk.kernels import PreTradeGate as KernelGate
from risk.mirror import BookMirror
from risk.warmup import warm_up_kernels

RISK_ENDPOINT = "RiskEngine.execute"
EXEC_ENDPOINT = "ExecEngine.execute"
PAIR_ENDPOINT = "CarryRisk.check_pair"
# A node that begins stopping sends its reason here; the risk controller (the one writer of the trading
# state) goes REDUCING.
WIND_DOWN_ENDPOINT = "CarryRisk.wind_down"


class RiskGate:
    """The pre-trade gate on the message bus.

    Parameters
    ----------
    mirror : BookMirror
        The book the checks run on; refreshed before each check.
    limits : LimitArrays
        The kernels' limits for the mirror's venues and assets.
    """

    def __init__(self, mirror: BookMirror, limits: LimitArrays) -> None:
        warm_up_kernels()  # compile before the first order, not inside the event loop on it
        self.mirror = mirror
        self.kernel = KernelGate(mirror.book, limits)
        self.state = TradingState.ACTIVE
        self.checks = 0
        self.denials: Counter[str] = Counter()
        self._risk_engine: Any = None
        self._msgbus: Any = None
        self._forward: Callable[[Any], None] | None = None
        self._now: Callable[[], int] = lambda: 0

    def install(self, kernel: Any) -> None:
        """Take over the ``RiskEngine.execute`` endpoint of a nautilus kernel (backtest or live)."""
        self._risk_engine = kernel.risk_engine
        self._msgbus = kernel.msgbus
        self._forward = kernel.risk_engine.execute
        self._now = kernel.clock.timestamp_ns
        self._msgbus.deregister(RISK_ENDPOINT, kernel.risk_engine.execute)
        self._msgbus.register(RISK_ENDPOINT, self.execute)
        self._msgbus.register(PAIR_ENDPOINT, self.check_pair)

    # -- the endpoint -------------------------------------------------------------------------------------

    def execute(self, command: Any) -> None:
        """Check a SubmitOrder and forward or deny it; pass every other command through."""
        assert self._forward is not None, "RiskGate.execute before install"
        if not isinstance(command, SubmitOrder):
            self._forward(command)
            return
        order = command.order
        self.checks += 1
        slot = self.mirror.slot_of(order.instrument_id)
        if slot is None:
            self._deny(order, "unknown_instrument", {})
            return
        if self.state == TradingState.HALTED:
            self._deny(order, "trading_halted", {})
            return
        self.mirror.refresh()
        qty = order.quantity.as_double() * (1.0 if order.is_buy else -1.0)
        reduces = self.reduces_risk(slot, qty)
        if self.state == TradingState.REDUCING and not reduces:
            self._deny(order, "reducing_adds_risk", {"qty": qty})
            return
        price = self.mirror.price(order.instrument_id, order.is_buy)
        # Limits stop risk being added; they never trap a book in a position: an order that shrinks its
        # asset's net delta or its own position (an exit, an unwind, a hedge completion) always passes.
        if not reduces and self.kernel.check(slot, qty, price):
            decision = self.kernel.decision()
            self._deny(order, decision.reason, _figures(decision))
            return
        if self.state == TradingState.REDUCING:
            # nautilus's REDUCING is per instrument and would deny a hedge that grows the perp leg while
            # it shrinks the book's net delta; the gate has judged the whole book, so it goes straight on.
            self._msgbus.send(EXEC_ENDPOINT, command)
            return
        self._forward(command)

    def check_pair(self, request: PairCheck) -> None:
        """Answer a ``PairCheck``: both legs as one change of the book."""
        self.checks += 1
        if self.state != TradingState.ACTIVE:
            self._deny_pair(request, f"trading_{self.state.name.lower()}", {})
            return
        legs = []
        for iid_text, qty in request.legs:
            iid = InstrumentId.from_str(iid_text)
            slot = self.mirror.slot_of(iid)
            if slot is None:
                self._deny_pair(request, "unknown_instrument", {})
                return
            legs.append((slot, qty, self.mirror.price(iid, qty > 0)))
        self.mirror.refresh()
        (sa, qa, pa), (sb, qb, pb) = legs
        if self.kernel.check_pair(sa, qa, pa, sb, qb, pb):
            decision = self.kernel.decision()
            self._deny_pair(request, decision.reason, _figures(decision))
            return
        request.approved, request.reason = True, "approved"

    # -- helpers ------------------------------------------------------------------------------------------

    def reduces_risk(self, slot: int, qty: float) -> bool:
        """True when the order shrinks its asset's |net delta| or its own instrument's position."""
        b = self.mirror.book
        held = b.qty[slot]
        if held * qty < 0 and abs(qty) <= abs(held) + 1e-12:
            return True
        asset = b.asset[slot]
        net = 0.0
        for i in range(len(b.qty)):
            if b.asset[i] == asset:
                net += b.qty[i] * b.multiplier[i]
        after = net + qty * b.multiplier[slot]
        return abs(after) < abs(net) - 1e-12

    def _deny(self, order: Any, reason: str, figures: dict[str, float]) -> None:
        self.denials[reason] += 1
        self._record("DENIAL", reason, figures)
        self._risk_engine._deny_order(order, f"carry gate: {reason} {_fmt(figures)}".strip())

    def _deny_pair(self, request: PairCheck, reason: str, figures: dict[str, float]) -> None:
        request.approved, request.reason = False, reason
        self.denials[reason] += 1
        self._record("PAIR_DENIAL", reason, figures)

    def _record(self, kind: str, reason: str, figures: dict[str, float]) -> None:
        self._msgbus.publish(TOPIC_RISK, RiskRecord(self._now(), kind, reason, figures))


def _figures(d: Decision) -> dict[str, float]:
    return {"value": d.value, "limit": d.limit, "before": d.before, "index": float(d.index)}


def _fmt(figures: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.6g}" for k, v in figures.items())
