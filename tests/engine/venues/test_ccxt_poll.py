"""Mark, index and funding from ccxt's unified structures of non-Binance venues (as ccxt parses them)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from engine.venues.ccxt_poll import book_from_ticker, fetch_perp_marks, trade_from_ccxt


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
    book = book_from_ticker(stream, Decimal(1))
    assert book is not None and (book.bid, book.ask, book.bid_size) == ("28160.01", "28160.02", "1.5")
    generic: dict[str, Any] = {
        "bid": 64000.1,
        "ask": 64000.2,
        "bidVolume": 0.5,
        "askVolume": None,
        "timestamp": 5,
        "info": {},
    }
    book = book_from_ticker(generic, Decimal(1))
    assert book is not None and (book.bid, book.ask, book.bid_size, book.ask_size, book.ts_ms) == (
        "64000.1",
        "64000.2",
        "0.5",
        "0",
        5,
    )
    assert book_from_ticker({"bid": None, "ask": 1.0, "info": {}}, Decimal(1)) is None


def test_sizes_when_okx_swap_counts_contracts_then_base_units_from_book_and_trade() -> None:
    # ccxt.pro okx bbo-tbt / REST ticker: sizes in contracts (ctVal 0.01 BTC); OKX trades: sz in contracts.
    ticker = {"bid": 28155.1, "ask": 28155.2, "bidVolume": 6.0, "askVolume": 379.3, "info": {"bidSz": "6"}}
    book = book_from_ticker(ticker, Decimal("0.01"))
    assert book is not None and (book.bid_size, book.ask_size) == ("0.06", "3.793")
    trade = trade_from_ccxt(
        {"id": "7", "price": 28155.1, "amount": 2.0, "side": "sell", "info": {}}, Decimal("0.01")
    )
    assert trade is not None and (trade.size, trade.seller_aggressor) == ("0.02", True)
    # No contracts: the venue's own string, untouched.
    linear = book_from_ticker(
        {"bid": 1.0, "ask": 2.0, "info": {"b": "1", "B": "0.060", "a": "2", "A": "1"}}, Decimal(1)
    )
    assert linear is not None and linear.bid_size == "0.060"
