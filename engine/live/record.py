"""Record the configured venues' market streams to the format the backtest replays (``carry record``).

Each leg is polled through ccxt's unified REST API (as the live data client does) and written as Binance
websocket messages, one ``<recv_us> <json>`` line each, gzip-compressed: exactly what
`engine.data.binance_ws.BinanceWsLoader` reads.

- top of book -> ``<symbol>@bookTicker`` (``b``, ``B``, ``a``, ``A``; written when it changes);
- perpetual mark, index, funding -> ``<symbol>@markPrice@1s`` (``E``, ``p``, ``i``, ``r``, ``T``; each poll).

Files: ``<out>/<exchange>_<spot|usdm>_<symbol>_<YYYYMMDD>.ndjson.gz`` (UTC date of the start). Prices and
sizes are the venue's own decimal strings where ccxt exposes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import ccxt.async_support as ccxt_async
import orjson

from engine.config.live import LiveConfig, VenueSettings
from engine.live.node import StartupError
from engine.venues.ccxt_poll import BookTop, fetch_book_top, fetch_perp_marks
from engine.venues.connect import open_exchange
from engine.venues.errors import VenueError, retry_read
from engine.venues.instruments import VenueMarket, is_perp, market_for


@dataclass
class LegRecording:
    """What one leg's recorder wrote."""

    path: Path
    book_lines: int = 0
    mark_lines: int = 0
    errors: int = 0


def recording_path(out: Path, leg: VenueSettings, market: VenueMarket, day: datetime) -> Path:
    """Where a leg's stream goes (the loaders' naming: ``binance_usdm_btcusdt_20230405.ndjson.gz``)."""
    kind = "usdm" if is_perp(market.instrument) else "spot"
    return out / f"{leg.exchange}_{kind}_{market.market_id.lower()}_{day:%Y%m%d}.ndjson.gz"


def _line(recv_us: int, stream: str, data: dict[str, object]) -> bytes:
    return str(recv_us).encode() + b" " + orjson.dumps({"stream": stream, "data": data}) + b"\n"


async def _record_leg(
    exchange: ccxt_async.Exchange,
    leg: VenueSettings,
    market: VenueMarket,
    fh: gzip.GzipFile,
    rec: LegRecording,
    until: float,
) -> None:
    name = market.market_id.lower()
    last: BookTop | None = None
    update_id = 0
    perp = is_perp(market.instrument)
    while time.monotonic() < until:
        try:
            book = await fetch_book_top(exchange, market.ccxt_symbol)
            recv_us = time.time_ns() // 1_000
            if book is not None and (
                last is None
                or (book.bid, book.ask, book.bid_size, book.ask_size)
                != (
                    last.bid,
                    last.ask,
                    last.bid_size,
                    last.ask_size,
                )
            ):
                update_id += 1
                data: dict[str, object] = {"u": update_id, "s": market.market_id}
                if book.ts_ms is not None and perp:
                    data |= {"e": "bookTicker", "E": book.ts_ms, "T": book.ts_ms}
                data |= {"b": book.bid, "B": book.bid_size, "a": book.ask, "A": book.ask_size}
                fh.write(_line(recv_us, f"{name}@bookTicker", data))
                rec.book_lines += 1
                last = book
            if perp:
                marks = await fetch_perp_marks(exchange, market.ccxt_symbol)
                recv_us = time.time_ns() // 1_000
                if marks is not None:
                    event_ms = marks.ts_ms or recv_us // 1_000
                    fh.write(
                        _line(
                            recv_us,
                            f"{name}@markPrice@1s",
                            {
                                "e": "markPriceUpdate",
                                "E": event_ms,
                                "s": market.market_id,
                                "p": marks.mark,
                                "i": marks.index,
                                "r": marks.rate,
                                "T": marks.next_funding_ms or 0,
                            },
                        )
                    )
                    rec.mark_lines += 1
        except VenueError:
            rec.errors += 1
        await asyncio.sleep(leg.poll_interval_secs)


async def record_streams(cfg: LiveConfig, out: Path, duration_secs: float) -> list[LegRecording]:
    """Record every leg of ``cfg`` for ``duration_secs`` into ``out``; public market data only (no keys).

    Raises
    ------
    StartupError
        A venue's markets cannot be loaded.
    """
    out.mkdir(parents=True, exist_ok=True)
    day = datetime.now(UTC)
    exchanges: list[ccxt_async.Exchange] = []
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
                tasks.append(_record_leg(exchange, leg, market, fh, rec, until))
            await asyncio.gather(*tasks)
    finally:
        for exchange in exchanges:
            await exchange.close()
    return recordings
