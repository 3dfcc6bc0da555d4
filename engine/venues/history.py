"""A venue's order and trade history over the reconciliation lookback, page by page.

A venue answers a history call with one page (Binance: the latest 500 orders or trades, at most 1000).
A restart after a busy day needs every order and fill of the lookback window, so when the latest page does
not reach back to the window's start, the window is read forward from its start, ``since`` = the newest
venue timestamp seen so far, until a page brings nothing new. Rows are deduplicated by id.

The window is measured back from the newest row's venue timestamp, not from our clock: a venue whose clock
is off (or a replaying emulator, whose clock lives in its recording) keeps its recent history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import ccxt.async_support as ccxt_async
import pandas as pd

from engine.venues.errors import VenueError, retry_read

Row = dict[str, Any]
Fetch = Callable[[int | None], Awaitable[list[Row]]]
MAX_PAGES = 200  # 100k rows at Binance's 500: a window longer than that is refused, not cut short


class HistoryTooLongError(VenueError):
    """The lookback window holds more pages than `MAX_PAGES`: reconciliation would be partial."""


def _ts(row: Row) -> int | None:
    ts = row.get("timestamp")
    return int(ts) if ts else None


def within_lookback(rows: list[Row], start: Any, now_ns: int) -> list[Row]:
    """The rows within the lookback window (``start`` to ``now_ns``), measured back from the newest row."""
    stamps = [t for r in rows if (t := _ts(r)) is not None]
    if not stamps:
        return rows
    newest = max(stamps)
    return [r for r in rows if (t := _ts(r)) is None or t >= newest - _lookback_ms(start, now_ns)]


def _lookback_ms(start: Any, now_ns: int) -> int:
    return max(0, (now_ns - int(pd.Timestamp(start).value)) // 1_000_000)


async def history(fetch: Fetch, exchange: ccxt_async.Exchange, start: Any, now_ns: int) -> list[Row]:
    """Every row the venue holds within the lookback window, oldest first where stamped.

    Parameters
    ----------
    fetch : callable
        ``fetch(since_ms)``: one page (``None`` = the venue's latest page), e.g. ccxt's
        ``fetch_my_trades(symbol, since)``; reads are retried as any read (`retry_read`).
    exchange : ccxt.async_support.Exchange
        For the retry policy's rate-limit handling.
    start : datetime-like
        Start of the lookback window (nautilus's reconciliation ``start``).
    now_ns : int
        The node's clock.

    Raises
    ------
    HistoryTooLongError
        The window needs more than `MAX_PAGES` pages.
    """
    latest = await retry_read(lambda: fetch(None), exchange=exchange)
    window = within_lookback(latest, start, now_ns)
    stamps = [t for r in latest if (t := _ts(r)) is not None]
    if not stamps or len(window) < len(latest):
        return window  # the latest page already reaches back past the window's start
    rows = {str(r.get("id")): r for r in latest}
    since = max(stamps) - _lookback_ms(start, now_ns)
    for _ in range(MAX_PAGES):
        page = await retry_read(lambda s=since: fetch(s), exchange=exchange)  # type: ignore[misc]
        new = [r for r in page if str(r.get("id")) not in rows]
        if not new:
            return within_lookback(sorted(rows.values(), key=lambda r: _ts(r) or 0), start, now_ns)
        rows.update((str(r.get("id")), r) for r in new)
        since = max((t for r in page if (t := _ts(r)) is not None), default=since)
    raise HistoryTooLongError(f"more than {MAX_PAGES} pages of history in the lookback window")
