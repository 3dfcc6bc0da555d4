"""Multi-venue 8-hour CSV loader: real file and corrupted copies."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from engine.data.multi_venue import load_multi_venue
from engine.errors import DataFormatError
from engine.paths import data_root

FILE = "multi_venue/bin_byb_okx_8h_2023_2024.csv"
HEADER = "time,exchange,crypto,pair,contract,open,high,low,close,volume,funding rate\n"


def _ns(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * 1_000_000_000


def test_multi_venue_when_real_file_then_18_series_of_1642_bars_on_utc_grid() -> None:
    bars, stats = load_multi_venue(data_root() / FILE)
    assert stats.lines == 29556 and stats.events == 29556 and stats.bad_lines == 0
    assert len(bars.series) == 18 and bars.exchanges == ["binance", "bybit", "okx"]
    assert bars.cryptos == ["bitcoin", "ethereum"]
    for s in bars.series.values():
        assert len(s.ts_ns) == 1642
        assert s.ts_ns[0] == _ns(2023, 1, 1) and s.ts_ns[-1] == _ns(2024, 7, 1, 0)  # 01:00 BST
        assert np.all(np.diff(s.ts_ns) == 8 * 3_600_000_000_000)  # no gap, no DST step
        assert np.isnan(s.funding).all() == s.is_spot


def test_multi_venue_when_real_file_then_first_binance_btc_perp_bar_matches_csv() -> None:
    bars, _ = load_multi_venue(data_root() / FILE)
    usdt = bars.perp("binance", "bitcoin")
    coin = bars.perp("binance", "bitcoin", coin_margined=True)
    spot = bars.spot("binance", "bitcoin")
    assert usdt.pair == "BTCUSDT" and usdt.close[0] == 16519.6 and usdt.funding[0] == 0.0001
    assert coin.pair == "BTCUSDCM" and coin.funding[0] == -1.609e-05
    assert spot.pair == "BTC/USDT" and spot.close[0] == 16526.19


def test_multi_venue_when_corrupted_lines_then_counted_and_skipped(tmp_path: Path) -> None:
    body = (
        "2023-07-01 01:00:00,binance,bitcoin,BTCUSDT,perpetual,100,110,90,105,5,0.0001\n"  # 2 ok, BST
        "2023-07-01 02:00:00,binance,bitcoin,BTCUSDT,perpetual,100,110,90,105,5,0.0001\n"  # 3 off grid
        "2023-07-01 09:00:00,binance,bitcoin,BTCUSDT,perpetual,100,110,90,-105,5,0.0001\n"  # 4 negative
        "2023-07-01 09:00:00,binance,bitcoin,BTCUSDT,perpetual,100,110,90,inf,5,0.0001\n"  # 5 inf
        "2023-07-01 09:00:00,binance,bitcoin,BTC/USDT,spot,100,110,90,105,5,0.0001\n"  # 6 spot funding
        "2023-07-01 01:00:00,binance,bitcoin,BTCUSDT,perpetual,100,110,90,105,5,0.0001\n"  # 7 duplicate
        "2023-07-01 09:00:00,binance,bitcoin,BTCUSDT,perpetual,100,110,90,105,5,0.01%\n"  # 8 percent
        "2023-07-01 09:00:00,binance,bitcoin,BTCUSDT,future,100,110,90,105,5,0.0001\n"  # 9 contract
        "2023-07-01 09:00:00,binance,bitcoin,BTC/USDT,spot,100,110,90,105,5,\n"  # 10 ok
    )
    p = tmp_path / "mv.csv"
    p.write_text(HEADER + body)
    bars, stats = load_multi_venue(p)
    assert stats.bad_lines == 7 and stats.events == 2
    assert bars.perp("binance", "bitcoin").ts_ns.tolist() == [_ns(2023, 7, 1, 0)]
    assert math.isnan(bars.spot("binance", "bitcoin").funding[0])
    assert [s.split(":")[0] for s in stats.samples] == ["line 3", "line 4", "line 5", "line 6", "line 7"]


def test_multi_venue_when_wrong_header_then_format_error_names_file(tmp_path: Path) -> None:
    p = tmp_path / "mv.csv"
    p.write_text("time,exchange,close\n")
    with pytest.raises(DataFormatError, match=r"mv\.csv.*funding rate"):
        load_multi_venue(p)


def test_multi_venue_when_compared_with_hourly_closes_then_bybit_okx_labels_lag_4h() -> None:
    from engine.data.basis_1h import load_hourly_basis

    bars, _ = load_multi_venue(data_root() / FILE)
    hourly, _ = load_hourly_basis(data_root() / "binance/binance_btc_basis_1h_2021_2024.csv")
    # An hourly row is labeled by its open: the close of row t is the price at t + 1h.
    close_at = {r.ts_ns + 3_600_000_000_000: float(r.spot_close) for r in hourly}

    def median_gap_bps(exchange: str, hours_after_label: int) -> float:
        s = bars.spot(exchange, "bitcoin")
        ref = np.array(
            [close_at.get(int(t) + hours_after_label * 3_600_000_000_000, np.nan) for t in s.ts_ns]
        )
        return float(np.nanmedian(np.abs(s.close / ref - 1)) * 10_000)

    assert median_gap_bps("binance", 8) < 0.1  # Binance: the bar's close is at label + 8h
    for venue in ("bybit", "okx"):
        assert median_gap_bps(venue, 4) < 1.5  # Bybit and OKX: at label + 4h
        assert median_gap_bps(venue, 8) > 20


def test_multi_venue_when_clean_file_then_column_and_row_readers_agree() -> None:
    from engine.data.multi_venue import _load_columns, _load_rows

    path = data_root() / FILE
    fast = _load_columns(path, 8)
    rows, stats = _load_rows(path, 8)
    assert fast is not None and stats.bad_lines == 0 and list(fast.series) == list(rows.series)
    for key, a in fast.series.items():
        b = rows.series[key]
        assert (a.exchange, a.crypto, a.pair, a.contract) == (b.exchange, b.crypto, b.pair, b.contract)
        for name in ("ts_ns", "open", "high", "low", "close", "volume", "funding"):
            assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), (key, name)


def test_multi_venue_when_one_bad_value_then_row_reader_reports_it(tmp_path: Path) -> None:
    lines = (data_root() / FILE).read_text().splitlines(keepends=True)
    # Line 101 is a spot row: make its close unparsable (close, volume, funding are the last three fields).
    lines[100] = lines[100].rsplit(",", 3)[0] + ",abc,1,\n"
    p = tmp_path / "mv.csv"
    p.write_text("".join(lines[:200]))
    _, stats = load_multi_venue(p)
    assert stats.bad_lines == 1 and stats.samples[0] == "line 101: could not convert string to float: 'abc'"
    assert stats.events == 198
