"""The trading-state rule: ACTIVE, REDUCING or HALTED, from the book's figures. A pure function."""

from __future__ import annotations

from dataclasses import dataclass

from nautilus_trader.model.enums import TradingState

from engine.records import STOPPING


@dataclass(frozen=True, slots=True)
class StateInputs:
    """What the trading state is decided on.

    Attributes
    ----------
    killed : bool
        The kill switch is on (``carry kill`` live, ``halt_at`` in a backtest).
    data_age_ns, max_data_age_ns : int
        Age of the oldest market data the book depends on, and its limit.
    headroom, reducing_floor : tuple[float, ...]
        Margin headroom of each venue and the floor under which that venue goes REDUCING.
    delta_breach_ns, delta_breach_limit_ns : int
        How long |net delta| has been beyond its limit, and how long that may last.
    rate_limited_venues : tuple[str, ...]
        Venues whose clients report a persistent rate-limit storm (orders there may not go through).
    stopping : str
        Why the node is winding down (``""`` while it is not): no new risk from then on.
    exposure, exposure_reducing_at : tuple[float, ...]
        Counterparty exposure of each venue (USD) and the level at which it goes REDUCING: the gate stops
        orders from crossing a venue's limit, this band stops prices from carrying a position over it.
    """

    killed: bool
    data_age_ns: int
    max_data_age_ns: int
    headroom: tuple[float, ...]
    reducing_floor: tuple[float, ...]
    delta_breach_ns: int
    delta_breach_limit_ns: int
    exposure: tuple[float, ...] = ()
    exposure_reducing_at: tuple[float, ...] = ()
    rate_limited_venues: tuple[str, ...] = ()
    stopping: str = ""


def next_state(x: StateInputs) -> tuple[TradingState, str]:
    """Return the trading state and why.

    HALTED stops every new order (kill switch, stale data). REDUCING lets only risk-reducing orders
    through (the node winding down, margin headroom under its floor, or net delta beyond tolerance for
    too long); a margin emergency is REDUCING, never HALTED, because halting would also block the exits
    that cure it.
    """
    if x.killed:
        return TradingState.HALTED, "kill_switch"
    if x.data_age_ns > x.max_data_age_ns:
        return TradingState.HALTED, "stale_data"
    if x.stopping:
        return TradingState.REDUCING, STOPPING + x.stopping
    for headroom, floor in zip(x.headroom, x.reducing_floor, strict=True):
        if headroom < floor:
            return TradingState.REDUCING, "margin_headroom"
    if x.rate_limited_venues:
        return TradingState.REDUCING, f"rate_limited_{x.rate_limited_venues[0]}"
    for exposure, level in zip(x.exposure, x.exposure_reducing_at, strict=True):
        if exposure >= level:
            return TradingState.REDUCING, "venue_exposure"
    if x.delta_breach_ns >= x.delta_breach_limit_ns:
        return TradingState.REDUCING, "net_delta"
    return TradingState.ACTIVE, "ok"
