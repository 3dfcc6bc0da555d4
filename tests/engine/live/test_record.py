"""``carry record``: streams recorded from the emulator replay (REST polls or websockets) through the
backtest's own loader."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from nautilus_trader.model.data import (
    FundingRateUpdate,
    IndexPriceUpdate,
    MarkPriceUpdate,
    QuoteTick,
    TradeTick,
)
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.instruments import Instrument

from engine.config.live import LiveConfig
from engine.data.binance_ws import BinanceWsLoader
from engine.live.record import record_streams
from engine.venues.ccxt_factory import create_sync_exchange
from engine.venues.emulator import EmulatorThread, Recording
from engine.venues.emulator.streams import hub_of
from engine.venues.instruments import market_for
from tests.engine.live.conftest import live_config
from tests.engine.venues.conftest import SPOT_FILE, USDM_FILE_0405, _require, make_sync


def _quotes(path: Path, instrument: Instrument) -> list[tuple[str, str]]:
    loader = BinanceWsLoader(path, instrument)
    return [(str(e.bid_price), str(e.ask_price)) for e in loader.events() if isinstance(e, QuoteTick)]


def _record_while_market_moves(
    emu: EmulatorThread,
    cfg: LiveConfig,
    out: Path,
    secs: float,
    ready: Callable[[], bool] = lambda: True,
) -> list[Any]:
    """Run ``carry record`` for ``secs`` while a thread replays the emulator at ~40x (once ``ready``)."""
    stop = threading.Event()

    def move_market() -> None:
        while not ready() and not stop.wait(0.01):
            pass
        while not stop.wait(0.05):
            emu.advance_events(200)

    mover = threading.Thread(target=move_market)
    mover.start()
    try:
        return list(asyncio.run(record_streams(cfg, out, secs)))
    finally:
        stop.set()
        mover.join()


def test_record_when_emulator_streams_then_loader_replays_the_same_books_and_marks(
    recording: Recording, tmp_path: Path
) -> None:
    with EmulatorThread(recording=recording) as emu:  # step clock: the test moves the market
        spot_ex, perp_ex = make_sync("binance", emu.base_url), make_sync("binanceusdm", emu.base_url)
        spot = market_for(spot_ex.markets, "BTC/USDT", "BINANCE", int(spot_ex.precisionMode)).instrument
        perp = market_for(
            perp_ex.markets, "BTC/USDT:USDT", "BINANCE_USDM", int(perp_ex.precisionMode)
        ).instrument
        cfg = live_config(emu.base_url, tmp_path / "run")
        recs = _record_while_market_moves(emu, cfg, tmp_path / "rec", 1.5)

    spot_rec, perp_rec = recs
    assert spot_rec.path.name.startswith("binance_spot_btcusdt_") and spot_rec.path.name.endswith(
        ".ndjson.gz"
    )
    assert perp_rec.path.name.startswith("binanceusdm_usdm_btcusdt_")
    assert spot_rec.book_lines >= 3 and perp_rec.mark_lines >= 3 and spot_rec.errors == perp_rec.errors == 0

    spot_loader = BinanceWsLoader(spot_rec.path, spot)
    spot_events = list(spot_loader.events())
    assert spot_loader.stats.bad_lines == 0
    assert len([e for e in spot_events if isinstance(e, QuoteTick)]) == spot_rec.book_lines
    # Every recorded book is one the venue really showed: it is in the source recording.
    source_books = set(_quotes(_require(SPOT_FILE), spot))
    assert set(_quotes(spot_rec.path, spot)) <= source_books

    perp_loader = BinanceWsLoader(perp_rec.path, perp)
    perp_events = list(perp_loader.events())
    assert perp_loader.stats.bad_lines == 0
    marks = [e for e in perp_events if isinstance(e, MarkPriceUpdate)]
    assert len(marks) == perp_rec.mark_lines
    assert len([e for e in perp_events if isinstance(e, IndexPriceUpdate)]) == len(marks)
    rates = [e for e in perp_events if isinstance(e, FundingRateUpdate)]
    assert len(rates) == len(marks)
    source = list(BinanceWsLoader(_require(USDM_FILE_0405), perp).events())
    assert {r.rate for r in rates} <= {e.rate for e in source if isinstance(e, FundingRateUpdate)}
    assert {str(m.value) for m in marks} <= {str(e.value) for e in source if isinstance(e, MarkPriceUpdate)}
    # Polled trades: each once, exactly as the venue listed them (REST aggTrades, one trade each here).
    for rec, instrument, source_file in ((spot_rec, spot, SPOT_FILE), (perp_rec, perp, USDM_FILE_0405)):
        trades = _recorded_trades(rec.path, instrument)
        assert len(trades) == rec.trade_lines == len({t.trade_id for t in trades})
        source_trades = {_trade_key(t) for t in _recorded_trades(_require(source_file), instrument)}
        assert {_trade_key(t) for t in trades} <= source_trades


def _recorded_trades(path: Path, instrument: Instrument) -> list[TradeTick]:
    loader = BinanceWsLoader(path, instrument)
    trades = [e for e in loader.events() if isinstance(e, TradeTick)]
    assert loader.stats.bad_lines == 0
    return trades


def _trade_key(t: TradeTick) -> tuple[str, str, str, AggressorSide, int]:
    return (t.trade_id.value, str(t.price), str(t.size), t.aggressor_side, t.ts_event)


def test_record_when_streamed_by_websocket_then_loader_replays_the_same_trades_books_and_marks(
    recording: Recording, tmp_path: Path
) -> None:
    with EmulatorThread(recording=recording) as emu:
        spot_ex, perp_ex = make_sync("binance", emu.base_url), make_sync("binanceusdm", emu.base_url)
        spot = market_for(spot_ex.markets, "BTC/USDT", "BINANCE", int(spot_ex.precisionMode)).instrument
        perp = market_for(
            perp_ex.markets, "BTC/USDT:USDT", "BINANCE_USDM", int(perp_ex.precisionMode)
        ).instrument
        cfg = live_config(emu.base_url, tmp_path / "run")
        ws = {"market_data": "ws"}
        cfg = cfg.model_copy(
            update={"spot": cfg.spot.model_copy(update=ws), "perp": cfg.perp.model_copy(update=ws)}
        )
        hub = hub_of(emu.emulator)
        # Replay once every stream is subscribed (ccxt.pro subscribes one by one).
        recs = _record_while_market_moves(
            emu, cfg, tmp_path / "rec", 1.5, ready=lambda: len(emu.call(hub.subscribed)) >= 5
        )

    spot_rec, perp_rec = recs
    assert spot_rec.errors == perp_rec.errors == 0
    assert spot_rec.book_lines >= 3 and spot_rec.trade_lines >= 3 and spot_rec.mark_lines == 0
    assert perp_rec.book_lines >= 3 and perp_rec.trade_lines >= 3 and perp_rec.mark_lines >= 3
    for rec, instrument, source_file in ((spot_rec, spot, SPOT_FILE), (perp_rec, perp, USDM_FILE_0405)):
        trades = _recorded_trades(rec.path, instrument)
        assert len(trades) == rec.trade_lines
        ids = [int(t.trade_id.value) for t in trades]
        assert ids == sorted(set(ids))  # each trade once, in the venue's order
        source = {_trade_key(t) for t in _recorded_trades(_require(source_file), instrument)}
        assert {_trade_key(t) for t in trades} <= source  # id, price, size, side and time as recorded
        assert set(_quotes(rec.path, instrument)) <= set(_quotes(_require(source_file), instrument))
    perp_events = list(BinanceWsLoader(perp_rec.path, perp).events())
    marks = [e for e in perp_events if isinstance(e, MarkPriceUpdate)]
    rates = [e for e in perp_events if isinstance(e, FundingRateUpdate)]
    assert len(marks) == len(rates) == perp_rec.mark_lines
    source_events = list(BinanceWsLoader(_require(USDM_FILE_0405), perp).events())
    source_marks = {(e.ts_event, str(e.value)) for e in source_events if isinstance(e, MarkPriceUpdate)}
    assert {(m.ts_event, str(m.value)) for m in marks} <= source_marks  # the venue's E and mark
    assert {(r.rate, r.next_funding_ns) for r in rates} <= {
        (e.rate, e.next_funding_ns) for e in source_events if isinstance(e, FundingRateUpdate)
    }


def test_record_when_okx_swap_counts_contracts_then_sizes_written_in_base_units(
    recording: Recording, tmp_path: Path
) -> None:
    # The OKX front states the recorded USD-M book in contracts (ctVal 0.01 BTC); the file must hold BTC.
    with EmulatorThread(recording=recording) as emu:
        okx = create_sync_exchange("okx", emu.base_url, enable_rate_limit=False, sandbox=True)
        perp = market_for(okx.load_markets(), "BTC/USDT:USDT", "OKX", int(okx.precisionMode)).instrument
        cfg = live_config(emu.base_url, tmp_path / "run")
        okx_leg = {"venue": "OKX", "exchange": "okx", "starting_balances": []}
        cfg = cfg.model_copy(update={"perp": cfg.perp.model_copy(update=okx_leg)})
        recs = _record_while_market_moves(emu, cfg, tmp_path / "rec", 1.0)

    perp_rec = recs[1]
    assert perp_rec.path.name.startswith("okx_usdm_btc-usdt-swap_") and perp_rec.book_lines >= 1
    sizes = _sizes(perp_rec.path, perp)
    source = _sizes(_require(USDM_FILE_0405), perp)
    assert sizes and sizes <= source  # each recorded size a book size the venue really showed, in BTC


def _sizes(path: Path, instrument: Instrument) -> set[tuple[Decimal, Decimal]]:
    loader = BinanceWsLoader(path, instrument)
    return {
        (e.bid_size.as_decimal().normalize(), e.ask_size.as_decimal().normalize())
        for e in loader.events()
        if isinstance(e, QuoteTick)
    }
