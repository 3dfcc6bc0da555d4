"""``carry record``: streams recorded from the emulator replay through the backtest's own loader."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from nautilus_trader.model.data import FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate, QuoteTick
from nautilus_trader.model.instruments import Instrument

from engine.data.binance_ws import BinanceWsLoader
from engine.live.record import record_streams
from engine.venues.emulator import EmulatorThread, Recording
from engine.venues.instruments import market_for
from tests.engine.live.conftest import live_config
from tests.engine.venues.conftest import SPOT_FILE, USDM_FILE_0405, _require, make_sync


def _quotes(path: Path, instrument: Instrument) -> list[tuple[str, str]]:
    loader = BinanceWsLoader(path, instrument)
    return [(str(e.bid_price), str(e.ask_price)) for e in loader.events() if isinstance(e, QuoteTick)]


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
        stop = threading.Event()

        def move_market() -> None:
            while not stop.wait(0.05):
                emu.advance_events(200)

        mover = threading.Thread(target=move_market)
        mover.start()
        try:
            recs = asyncio.run(record_streams(cfg, tmp_path / "rec", 1.5))
        finally:
            stop.set()
            mover.join()

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
