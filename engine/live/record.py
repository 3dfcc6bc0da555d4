"""Record the configured venues' market streams to the format the backtest replays (``carry record``).

Each leg is read as the live data client reads it (config ``market_data``): polled through ccxt's unified
REST API, or streamed through ccxt.pro (``watch_bids_asks``, ``watch_trades``, ``watch_mark_price``; marks
are polled where the venue's mark stream lacks index or funding). Either way it is written as Binance
websocket messages, one ``<recv_us> <json>`` line each, gzip-compressed: exactly what
`engine.data.binance_ws.BinanceWsLoader` reads.

- top of book -> ``<symbol>@bookTicker`` (``b``, ``B``, ``a``, ``A``; polled: written when it changes);
- public trades -> ``<symbol>@trade`` (``t``, ``p``, ``q``, ``T``, ``m``; each trade id once);
- perpetual mark, index, funding -> ``<symbol>@markPrice@1s`` (``E``, ``p``, ``i``, ``r``, ``T``).

Files: ``<out>/<exchange>_<spot|usdm>_<symbol>_<YYYYMMDD>.ndjson.gz`` (UTC date of the start). Prices and
sizes are the venue's own decimal strings where ccxt exposes them; sizes are in base units as Binance's
streams state them (a contract-sized perpetual's, OKX's, multiplied by its contract size).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import orjson

from engine.config.live import LiveConfig, VenueSettings
from engine.live.node import StartupError
from engine.venues.ccxt_poll import (
    BookTop,
    PerpMarks,
    SeenIds,
    VenueTrade,
    book_from_ticker,
    fetch_book_top,
    fetch_perp_marks,
    fetch_recent_trades,
    marks_from_ticker,
    trade_from_ccxt,
)
from engine.venues.connect import open_exchange, open_ws_exchange
from engine.venues.errors import VenueError, retry_read
from engine.venues.instruments import VenueMarket, is_perp, market_for


@dataclass
class LegRecording:
    """What one leg's recorder wrote."""

    path: Path
    book_lines: int = 0
    trade_lines: int = 0
    mark_lines: int = 0
    errors: int = 0


def recording_path(out: Path, leg: VenueSettings, market: VenueMarket, day: datetime) -> Path:
    """Where a leg's stream goes (the loaders' naming: ``binance_usdm_btcusdt_20230405.ndjson.gz``)."""
    kind = "usdm" if is_perp(market.instrument) else "spot"
    return out / f"{leg.exchange}_{kind}_{market.market_id.lower()}_{day:%Y%m%d}.ndjson.gz"


def _line(recv_us: int, stream: str, data: dict[str, object]) -> bytes:
    return str(recv_us).encode() + b" " + orjson.dumps({"stream": stream, "data": data}) + b"\n"


_TRADE_POLL_SECS = 1.0


class _LegWriter:
    """Writes one leg's messages in Binance's stream format."""

    def __init__(self, market: VenueMarket, fh: gzip.GzipFile, rec: LegRecording) -> None:
        self.market = market
        self.name = market.market_id.lower()
        self.fh = fh
        self.rec = rec
        self.perp = is_perp(market.instrument)
        self.last: BookTop | None = None
        self.update_id = 0
        self.seen = SeenIds()

    def book(self, book: BookTop) -> None:
        """A ``bookTicker`` line, unless the book is unchanged."""
        if self.last is not None and (book.bid, book.ask, book.bid_size, book.ask_size) == (
            self.last.bid,
            self.last.ask,
            self.last.bid_size,
            self.last.ask_size,
        ):
            return
        self.update_id += 1
        data: dict[str, object] = {"u": self.update_id, "s": self.market.market_id}
        if book.ts_ms is not None and self.perp:
            data |= {"e": "bookTicker", "E": book.ts_ms, "T": book.ts_ms}
        data |= {"b": book.bid, "B": book.bid_size, "a": book.ask, "A": book.ask_size}
        self.fh.write(_line(_now_us(), f"{self.name}@bookTicker", data))
        self.rec.book_lines += 1
        self.last = book

    def trade(self, trade: VenueTrade) -> None:
        """A ``trade`` line, once per trade id (a trade without a taker side cannot be replayed: skipped)."""
        if trade.seller_aggressor is None or self.seen.seen(trade.trade_id):
            return
        recv_us = _now_us()
        ts = trade.ts_ms if trade.ts_ms is not None else recv_us // 1_000
        tid: int | str = int(trade.trade_id) if trade.trade_id.isdigit() else trade.trade_id
        data = {"e": "trade", "E": ts, "s": self.market.market_id, "t": tid, "p": trade.price}
        data |= {"q": trade.size, "T": ts, "m": trade.seller_aggressor}
        self.fh.write(_line(recv_us, f"{self.name}@trade", data))
        self.rec.trade_lines += 1

    def marks(self, marks: PerpMarks) -> None:
        """A ``markPrice@1s`` line."""
        recv_us = _now_us()
        data = {"e": "markPriceUpdate", "E": marks.ts_ms or recv_us // 1_000, "s": self.market.market_id}
        data |= {"p": marks.mark, "i": marks.index, "r": marks.rate, "T": marks.next_funding_ms or 0}
        self.fh.write(_line(recv_us, f"{self.name}@markPrice@1s", data))
        self.rec.mark_lines += 1


def _now_us() -> int:
    return time.time_ns() // 1_000


async def _poll_leg(
    exchange: ccxt_async.Exchange, leg: VenueSettings, w: _LegWriter, until: float, *, book: bool, marks: bool
) -> None:
    """Poll what is not streamed: the book (REST mode), a perpetual's marks."""
    symbol = w.market.ccxt_symbol
    while time.monotonic() < until:
        try:
            if book:
                top = await fetch_book_top(exchange, symbol)
                if top is not None:
                    w.book(top)
            if marks and w.perp:
                m = await fetch_perp_marks(exchange, symbol)
                if m is not None:
                    w.marks(m)
        except VenueError:
            w.rec.errors += 1
        await asyncio.sleep(leg.poll_interval_secs)


async def _poll_trades(
    exchange: ccxt_async.Exchange, leg: VenueSettings, w: _LegWriter, until: float
) -> None:
    """Poll public trades (REST mode) beside the book's poll, at most once a second: a trade list weighs
    more than a book (Binance USD-M: 5 against 2) and would eat the rate budget of the book and marks."""
    first = True
    while time.monotonic() < until:
        try:
            for trade in await fetch_recent_trades(exchange, w.market.ccxt_symbol):
                if first:
                    w.seen.seen(trade.trade_id)  # the first list is history from before the start
                else:
                    w.trade(trade)
            first = False
        except VenueError:
            w.rec.errors += 1
        await asyncio.sleep(max(leg.poll_interval_secs, _TRADE_POLL_SECS))


async def _stream(
    w: _LegWriter, until: float, watch: Callable[[], Awaitable[Any]], write: Callable[[Any], bool]
) -> None:
    """Write a stream's updates until ``until``; stops early when ``write`` returns False."""
    while time.monotonic() < until:
        try:
            update = await asyncio.wait_for(watch(), max(0.0, until - time.monotonic()))
        except TimeoutError:
            return
        except ccxt.BaseError:
            w.rec.errors += 1
            await asyncio.sleep(0.5)  # ccxt.pro reconnects on the next watch
            continue
        if not write(update):
            return


async def _stream_leg(
    exchange: ccxt_async.Exchange, ws: ccxt_async.Exchange, leg: VenueSettings, w: _LegWriter, until: float
) -> None:
    """Record a leg from its streams; marks fall back to polling where the stream lacks index/funding."""
    symbol = w.market.ccxt_symbol

    def books(tickers: dict[str, Any]) -> bool:
        t = tickers.get(symbol)
        top = book_from_ticker(t, w.market.contract_size) if t is not None else None
        if top is not None:
            w.book(top)
        return True

    def trades(rows: list[dict[str, Any]]) -> bool:
        for row in rows:
            trade = trade_from_ccxt(row, w.market.contract_size)
            if trade is not None:
                w.trade(trade)
        return True

    def marks(ticker: dict[str, Any]) -> bool:
        m = marks_from_ticker(ticker)
        if m is not None:
            w.marks(m)
        return m is not None

    async def marks_then_poll() -> None:
        await _stream(w, until, lambda: ws.watch_mark_price(symbol), marks)
        await _poll_leg(exchange, leg, w, until, book=False, marks=True)  # no-op once time is up

    tasks = [
        _stream(w, until, lambda: ws.watch_bids_asks([symbol]), books),
        _stream(w, until, lambda: ws.watch_trades(symbol), trades),
    ]
    if w.perp:
        streamed = ws.has.get("watchMarkPrice") is True
        tasks.append(
            marks_then_poll() if streamed else _poll_leg(exchange, leg, w, until, book=False, marks=True)
        )
    await asyncio.gather(*tasks)


async def record_streams(cfg: LiveConfig, out: Path, duration_secs: float) -> list[LegRecording]:
    """Record every leg of ``cfg`` for ``duration_secs`` into ``out``; public market data only (no keys).

    Raises
    ------
    StartupError
        A venue's markets cannot be loaded.
    """
    out.mkdir(parents=True, exist_ok=True)
    day = datetime.now(UTC)
    exchanges: list[ccxt_async.Exchange] = []  # closed at the end, REST and stream clients alike
    recordings: list[LegRecording] = []
    try:
        with contextlib.ExitStack() as files:
            tasks = []
            until = time.monotonic() + duration_secs
            for leg in (cfg.spot, cfg.perp):
                exchange = open_exchange(leg, cfg.environment, None)
                exchanges.append(exchange)
                try:
                    markets = await retry_read(exchange.load_markets, exchange=exchange)
                except VenueError as exc:
                    raise StartupError(f"{leg.venue} ({leg.exchange}): cannot load markets: {exc}") from exc
                market = market_for(markets, leg.symbol, leg.venue, int(exchange.precisionMode))
                rec = LegRecording(recording_path(out, leg, market, day))
                fh = files.enter_context(gzip.GzipFile(rec.path, "ab"))
                recordings.append(rec)
                writer = _LegWriter(market, fh, rec)
                if leg.market_data == "ws":
                    ws = open_ws_exchange(leg, cfg.environment)
                    exchanges.append(ws)
                    try:
                        await retry_read(ws.load_markets, exchange=ws)
                    except VenueError as exc:
                        raise StartupError(
                            f"{leg.venue} ({leg.exchange}) streams: cannot load markets: {exc}"
                        ) from exc
                    tasks.append(_stream_leg(exchange, ws, leg, writer, until))
                else:
                    tasks.append(_poll_leg(exchange, leg, writer, until, book=True, marks=True))
                    tasks.append(_poll_trades(exchange, leg, writer, until))
            await asyncio.gather(*tasks)
    finally:
        for exchange in exchanges:
            await exchange.close()
    return recordings
