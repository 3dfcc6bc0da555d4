"""Binance daily spot loader: real file and corrupted copies."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from engine.data.spot_daily import load_spot_daily
from engine.errors import DataFormatError
from engine.paths import data_root

FILE = "cme/binance_btcusdt_spot_1d_2017_2024.csv"
HEAD = (
    "https://www.CryptoDataDownload.com\n"
    "Unix,Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USDT,tradecount\n"
)


def test_spot_daily_when_real_file_then_every_day_ascending() -> None:
    bars, stats = load_spot_daily(data_root() / FILE)
    assert len(bars) == 2549 and stats.bad_lines == 0
    assert bars[0].day == date(2017, 8, 17) and bars[-1].day == date(2024, 8, 8)
    assert bars[-1].close == Decimal("61685.99") and bars[-1].ts_ns == 1723075200 * 10**9
    assert all((b.day - a.day).days == 1 for a, b in itertools.pairwise(bars))


def test_spot_daily_when_corrupted_lines_then_counted_and_skipped(tmp_path: Path) -> None:
    body = (
        "1723075200000,2024-08-08,BTCUSDT,55133.76,62745.14,54730.0,61685.99,1,2,3\n"  # 3 ok
        "1722988800000,2024-08-06,BTCUSDT,56022.0,57736.05,54558.62,55134.16,1,2,3\n"  # 4 unix != date
        "1722988800,2024-08-07,BTCUSDT,56022.0,57736.05,54558.62,55134.16,1,2,3\n"  # 5 ok, seconds
        "1722902400000,2024-08-06,BTCUSDT,0,57736.05,54558.62,55134.16,1,2,3\n"  # 6 zero open
        "1722816000000,2024-08-05,BTCUSDT,56022.0,57736.05,54558.62,NaN,1,2,3\n"  # 7 NaN close
        "1723075200000,2024-08-08,BTCUSDT,55133.76,62745.14,54730.0,61685.99,1,2,3\n"  # 8 duplicate
        "1722729600000,2024-08-04,BTCUSDT,56022.0\n"  # 9 short
    )
    p = tmp_path / "spot.csv"
    p.write_text(HEAD + body)
    bars, stats = load_spot_daily(p)
    assert [b.day for b in bars] == [date(2024, 8, 7), date(2024, 8, 8)]
    assert stats.bad_lines == 5
    assert [s.split(":")[0] for s in stats.samples] == ["line 4", "line 6", "line 7", "line 8", "line 9"]


def test_spot_daily_when_header_not_on_line_2_then_format_error_names_file(tmp_path: Path) -> None:
    p = tmp_path / "spot.csv"
    p.write_text("Unix,Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USDT,tradecount\n1,2,3\n")
    with pytest.raises(DataFormatError, match=r"spot\.csv.*line 2"):
        load_spot_daily(p)
