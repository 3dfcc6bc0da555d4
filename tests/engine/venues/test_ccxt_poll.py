"""Mark, index and funding from ccxt's unified structures of non-Binance venues (as ccxt parses them)."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.venues.ccxt_poll import book_from_ticker, fetch_perp_marks


class FakeExchange:
    """Only what `fetch_perp_marks` calls; answers are ccxt's unified dicts."""

    def __init__(
        self, has: dict[str, Any], funding: dict[str, Any], ticker: dict[str, Any], mark: dict[str, Any]
    ):
        self.has = has
        self.last_response_headers: dict[str, str] = {}
        self._funding, self._ticker, self._mark = funding, ticker, mark
        self.calls: list[str] = []

    async def fetch_funding_rate(self, symbol: str) -> dict[str, Any]:
        self.calls.append("fetch_funding_rate")
        return self._funding

    async def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        self.calls.append("fetch_ticker")
        return self._ticker

    async def fetch_mark_price(self, symbol: str) -> dict[str, Any]:
        self.calls.append("fetch_mark_price")
        return self._mark


def test_bybit_like_funding_structure_when_it_has_marks_then_one_call() -> None:
    ex = FakeExchange(
        {"fetchTicker": True},
        {
            "fundingRate": 0.0001,
            "markPrice": 64001.5,
            "indexPrice": 63990.25,
            "fundingTimestamp": 1_700_000_000_000,
            "interval": "8h",
            "timestamp": 1_699_999_000_000,
            "info": {"symbol": "BTCUSDT"},
        },
        {},
        {},
    )
    marks = asyncio.run(fetch_perp_marks(ex, "BTC/USDT:USDT"))
    assert marks is not None
    assert (marks.mark, marks.index, marks.rate) == ("64001.5", "63990.25", "0.0001")
    assert (marks.next_funding_ms, marks.interval_min) == (1_700_000_000_000, 480)
    assert ex.calls == ["fetch_funding_rate"]


def test_funding_structure_without_marks_when_ticker_has_them_then_ticker_used() -> None:
    ex = FakeExchange(
        {"fetchTicker": True},
        {"fundingRate": -0.00005, "markPrice": None, "indexPrice": None, "info": {}},
        {"markPrice": 64010.0, "indexPrice": 64000.0},
        {},
    )
    marks = asyncio.run(fetch_perp_marks(ex, "BTC/USDT:USDT"))
    assert marks is not None and (marks.mark, marks.index, marks.rate) == ("64010.0", "64000.0", "-0.00005")


def test_okx_like_venue_when_no_index_anywhere_then_no_marks_published() -> None:
    ex = FakeExchange(
        {"fetchTicker": True, "fetchMarkPrice": True},
        {"fundingRate": 0.0001, "markPrice": None, "indexPrice": None, "info": {}},
        {"markPrice": None, "indexPrice": None},
        {"markPrice": 64005.0, "indexPrice": None},
    )
    assert asyncio.run(fetch_perp_marks(ex, "BTC/USDT:USDT")) is None
    assert ex.calls == ["fetch_funding_rate", "fetch_ticker", "fetch_mark_price"]


def test_book_from_ticker_when_binance_stream_or_generic_then_venue_strings_or_numbers() -> None:
    stream = {
        "bid": 1.0,
        "ask": 2.0,
        "info": {"u": 1, "s": "BTCUSDT", "b": "28160.01", "B": "1.5", "a": "28160.02", "A": "2"},
    }
    book = book_from_ticker(stream)
    assert book is not None and (book.bid, book.ask, book.bid_size) == ("28160.01", "28160.02", "1.5")
    generic: dict[str, Any] = {
        "bid": 64000.1,
        "ask": 64000.2,
        "bidVolume": 0.5,
        "askVolume": None,
        "timestamp": 5,
        "info": {},
    }
    book = book_from_ticker(generic)
    assert book is not None and (book.bid, book.ask, book.bid_size, book.ask_size, book.ts_ms) == (
        "64000.1",
        "64000.2",
        "0.5",
        "0",
        5,
    )
    assert book_from_ticker({"bid": None, "ask": 1.0, "info": {}}) is None
