"""Reconciliation reads the whole lookback window of orders and fills, page by page."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import GenerateFillReports, GenerateOrderStatusReports
from nautilus_trader.model.enums import OrderSide

from engine.venues import history as history_mod
from engine.venues.emulator import EmulatorOptions, EmulatorThread, Recording
from engine.venues.history import HistoryTooLongError, history
from tests.engine.venues.test_ccxt_exec import Harness, _harness, _market

NOW_NS = 1_700_000_000_000 * 1_000_000
DAY_MS = 86_400_000


class Venue:
    """Binance-like paging over ``rows``: the latest ``page`` rows, or the first ``page`` from ``since``."""

    def __init__(self, rows: list[dict[str, Any]], page: int) -> None:
        self.rows, self.page, self.calls = rows, page, 0

    async def fetch(self, since: int | None) -> list[dict[str, Any]]:
        self.calls += 1
        if since is None:
            return self.rows[-self.page :]
        return [r for r in self.rows if r["timestamp"] >= since][: self.page]


def _rows(n: int, newest_ms: int, step_ms: int) -> list[dict[str, Any]]:
    return [{"id": str(i), "timestamp": newest_ms - (n - 1 - i) * step_ms} for i in range(n)]


def _run(venue: Venue, lookback_ms: int = DAY_MS) -> list[dict[str, Any]]:
    start = pd.Timestamp(NOW_NS - lookback_ms * 1_000_000, unit="ns")
    return asyncio.run(history(venue.fetch, None, start, NOW_NS))


def test_history_when_window_longer_than_a_page_then_every_row_once_in_order() -> None:
    rows = _rows(1_234, newest_ms=NOW_NS // 1_000_000, step_ms=60_000)  # 1,234 minutes: all in one day
    venue = Venue(rows, page=500)
    got = _run(venue)
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    # The latest page (rows 734-1233), forward pages from the window start (0-499, 499-998), and one
    # (998-) that brings nothing the latest page had not.
    assert venue.calls == 4


def test_history_when_latest_page_reaches_past_the_window_then_one_call_and_window_only() -> None:
    rows = _rows(300, newest_ms=NOW_NS // 1_000_000, step_ms=600_000)  # 300 x 10 min: over two days
    venue = Venue(rows, page=500)
    got = _run(venue)
    assert venue.calls == 1
    assert len(got) == 145 and got[0]["timestamp"] >= rows[-1]["timestamp"] - DAY_MS


def test_history_when_more_pages_than_allowed_then_refused_not_cut_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(history_mod, "MAX_PAGES", 2)
    with pytest.raises(HistoryTooLongError):
        _run(Venue(_rows(1_000, newest_ms=NOW_NS // 1_000_000, step_ms=1_000), page=100))


@pytest.fixture
def small_pages(spot_and_perp_recording: Recording) -> Iterator[EmulatorThread]:
    with EmulatorThread(recording=spot_and_perp_recording, options=EmulatorOptions(page_limit=4)) as emu:
        yield emu


@pytest.fixture
def perp4(small_pages: EmulatorThread) -> Iterator[Harness]:
    yield from _harness(small_pages, "binanceusdm", "BTC/USDT:USDT", "BINANCE_USDM")


def test_reconciliation_when_venue_pages_by_four_then_all_eleven_orders_and_fills_reported(
    perp4: Harness,
) -> None:
    for i in range(11):
        perp4.submit(_market(perp4, OrderSide.SELL if i % 2 else OrderSide.BUY, "0.010"))
        perp4.emu.advance_events(200)  # fills at distinct venue times
    start = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=1)
    fills = perp4.run(
        perp4.client.generate_fill_reports(GenerateFillReports(None, None, start, None, UUID4(), 0))
    )
    assert len({f.trade_id for f in fills}) == len(fills) == 11
    assert sum(f.last_qty.as_decimal() for f in fills) == Decimal("0.110")
    orders = perp4.run(
        perp4.client.generate_order_status_reports(
            GenerateOrderStatusReports(None, start, None, False, UUID4(), 0)
        )
    )
    assert len({o.venue_order_id for o in orders}) == len(orders) == 11
