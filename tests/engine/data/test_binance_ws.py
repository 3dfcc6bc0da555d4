"""The Binance websocket recording loader, on the real recordings and on corrupted copies."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import pytest
from nautilus_trader.model.data import (
    FundingRateUpdate,
    IndexPriceUpdate,
    MarkPriceUpdate,
    QuoteTick,
    TradeTick,
)

from engine.data.binance_ws import BadValue, BinanceWsLoader, to_raw

SPOT = "binance/binance_spot_btcusdt_20230405.ndjson.gz"
PERP_0404 = "binance/binance_usdm_btcusdt_20230404.ndjson.gz"
PERP_0405 = "binance/binance_usdm_btcusdt_20230405.ndjson.gz"
NS = 1_000_000


@pytest.mark.parametrize(
    ("path", "lines", "skipped"),
    [(SPOT, 15_088, 3_929), (PERP_0404, 13_384, 4_323), (PERP_0405, 60_381, 11_788)],
)
def test_load_when_real_recording_then_every_line_accounted_for(data_dir, spot, perp, path, lines, skipped):
    inst = spot if "spot" in path else perp
    loader = BinanceWsLoader(data_dir / path, inst)
    events = list(loader.events())
    s = loader.stats
    assert s.lines == lines  # the data README's line counts
    assert s.bad_lines == 0
    assert s.skipped == skipped  # depth streams (and the REST snapshot) are not converted
    assert s.events == len(events)
    inits = [e.ts_init for e in events]
    assert inits == sorted(inits)  # ordered for the engine without buffering


def test_load_when_perp_recording_then_streams_map_to_nautilus_types(data_dir, perp):
    events = list(BinanceWsLoader(data_dir / PERP_0405, perp).events())
    kinds = {type(e) for e in events}
    assert kinds == {QuoteTick, TradeTick, MarkPriceUpdate, IndexPriceUpdate, FundingRateUpdate}
    # The first markPrice message after 00:00 still names the 00:00 settlement with the rate that settled.
    first = next(e for e in events if isinstance(e, FundingRateUpdate))
    assert first.next_funding_ns == 1_680_652_800_000 * NS
    assert first.rate == Decimal("0.00002760")
    assert first.interval == 480
    assert first.ts_event == 1_680_652_800_010 * NS  # the exchange's E, not the receive time


def test_load_when_spot_book_ticker_has_no_exchange_time_then_receive_time_less_feed_delay(data_dir, spot):
    events = list(BinanceWsLoader(data_dir / SPOT, spot).events())
    quote = next(e for e in events if isinstance(e, QuoteTick))
    recv_ns = 1_680_652_800_004_231 * 1_000  # the line's receive time
    assert recv_ns - 40 * NS < quote.ts_event < recv_ns  # a few ms of measured feed delay taken off
    assert str(quote.bid_price) == "28165.47" and str(quote.ask_price) == "28165.48"


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "bad.ndjson.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


GOOD_BOOK = (
    '1680652800070436 {"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":1,"s":"BTCUSDT",'
    '"b":"28155.10","B":"0.060","a":"28155.20","A":"3.793","T":1680652800089,"E":1680652800093}}'
)


def test_load_when_lines_corrupted_then_counted_sampled_and_skipped(tmp_path, perp):
    lines = [
        GOOD_BOOK,
        '1680652800070437 {"stream":"btcusdt@bookTicker","data":{"b":"28155.10",',  # truncated JSON
        GOOD_BOOK.replace('"b":"28155.10"', '"b":"28156.10"'),  # crossed book
        GOOD_BOOK.replace('"a":"28155.20"', '"a":"-1.0"'),  # negative price
        GOOD_BOOK.replace('"a":"28155.20"', '"a":"28155.25"'),  # off the 0.10 tick grid
        GOOD_BOOK.replace('"B":"0.060"', '"B":"nan"'),  # not a number
        "garbage without a space",
        GOOD_BOOK.replace("1680652800093", "1680652800094"),
    ]
    loader = BinanceWsLoader(_write(tmp_path, lines), perp)
    events = list(loader.events())
    assert len(events) == 2
    assert loader.stats.bad_lines == 6
    assert loader.stats.lines == 8
    assert loader.stats.samples[0].startswith("line 2:")
    assert any("line 5:" in s and "finer than 1 decimals" in s for s in loader.stats.samples)


def test_to_raw_when_decimal_string_then_exact_fixed_point():
    assert to_raw("28165.47000000", 2) == 2_816_547 * 10**14
    assert to_raw("0.00056000", 5) == 56 * 10**11
    assert to_raw("7", 0) == 7 * 10**16


@pytest.mark.parametrize("text", ["1e5", "-1.0", "1.2.3", "", "0x10", "28155.25"])
def test_to_raw_when_not_a_grid_decimal_then_bad_value(text):
    with pytest.raises(BadValue):
        to_raw(text, 1)
