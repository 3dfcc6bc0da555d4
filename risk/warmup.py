"""Compile (or load from numba's cache) every risk kernel before trading starts.

The kernels compile lazily on their first call. With a cold cache (a fresh clone or machine) that takes about
10 s, and it would fall on the first order's check, inside the node's event loop: timers fire late, quotes go
stale, a leg's timeout lapses before its order is sent. Calling each entry point once on a two-position book
when a gate is built moves that cost before the first market event; with a warm cache it is a few
milliseconds.
"""

from __future__ import annotations

from functools import cache

from risk import kernels
from risk.book import KIND_PERP, KIND_SPOT, Position, Venue, build_book, build_limits


@cache
def warm_up_kernels() -> None:
    """Run the evaluation and both pre-trade checks once on a tiny book (once per process)."""
    book = build_book(
        [Position(0, 0, KIND_SPOT, 1.0, 100.0), Position(1, 0, KIND_PERP, -1.0, 100.0, 100.0)],
        [Venue(1e4), Venue(1e4)],
    )
    limits = build_limits(
        2,
        1,
        exposure_usd=1e9,
        exposure_share=1.0,
        headroom_floor=0.0,
        min_liquidation_distance_pct=0.0,
        max_abs_net_delta=1e9,
        max_funding_drag_usd=1e9,
        horizon_hours=8.0,
        shocks=(-0.1, 0.1),
    )
    kernels.evaluate(book, limits)
    gate = kernels.PreTradeGate(book, limits)
    gate.check(0, 1.0, 100.0)
    gate.check_pair(0, 1.0, 100.0, 1, -1.0, 100.0)
