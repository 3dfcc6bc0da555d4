"""Hourly basis CSV loader: real file and corrupted copies."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.data.basis_1h import load_hourly_basis
from engine.errors import DataFormatError
from engine.paths import data_root

FILE = "binance/binance_btc_basis_1h_2021_2024.csv"
HEADER = "Time,BTCUSDT Spot,BTCUSDT Future,Basis BTCUSDT Future,BTCUSD PERP Future,Basis BTCUSD PERP Future\n"


def _ns(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * 1_000_000_000


def test_hourly_basis_when_real_file_then_rows_times_and_empty_coinm() -> None:
    rows, stats = load_hourly_basis(data_root() / FILE)
    # The data README says 26,284 rows; the file holds 26,285 valid, distinct hours.
    assert len(rows) == 26285 and stats.bad_lines == 0
    assert rows[0].ts_ns == _ns(2021, 7, 1, 1) and rows[-1].ts_ns == _ns(2024, 7, 1, 0)
    assert rows[0].spot_close == Decimal("34936.43") and rows[0].perp_close == Decimal("34923.04")
    assert rows[0].coinm_close == Decimal("34940.1")
    assert sum(r.coinm_close is None for r in rows) == 263
    assert all(a.ts_ns < b.ts_ns for a, b in itertools.pairwise(rows))


def test_hourly_basis_when_corrupted_lines_then_counted_and_skipped(tmp_path: Path) -> None:
    body = (
        "2021-07-01 01:00:00,34936.43,34923.04,-13.39,34940.1,3.67\n"  # 2 ok
        "2021-07-01 02:00:00,-1,34286.16,0,34305.6,0\n"  # 3 negative spot
        "2021-07-01 03:00:00,34120.01,nan,0,34129.0,0\n"  # 4 nan perp
        "2021-07-01 25:00:00,34120.01,34120.06,0,34129.0,0\n"  # 5 bad time
        "2021-07-01 01:00:00,34936.43,34923.04,-13.39,34940.1,3.67\n"  # 6 duplicate
        "2021-07-01 04:00:00,34120.01,34120.06,0.05\n"  # 7 short
        "2021-07-01 05:00:00,34120.01,34120.06,0.05,,\n"  # 8 ok, no COIN-M
        "2021-07-01 06:00:00,34120.01,34120.06,0.05,0,0\n"  # 9 zero COIN-M
    )
    p = tmp_path / "basis.csv"
    p.write_text(HEADER + body)
    rows, stats = load_hourly_basis(p)
    assert [r.ts_ns for r in rows] == [_ns(2021, 7, 1, 1), _ns(2021, 7, 1, 5)]
    assert rows[1].coinm_close is None
    assert stats.bad_lines == 6 and stats.lines == 8
    assert [s.split(":")[0] for s in stats.samples] == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    assert "BTCUSDT Spot" in stats.samples[0]


def test_hourly_basis_when_wrong_header_then_format_error_names_file(tmp_path: Path) -> None:
    p = tmp_path / "basis.csv"
    p.write_text("Time,Spot,Perp\n2021-07-01 01:00:00,1,2\n")
    with pytest.raises(DataFormatError, match=r"basis\.csv.*BTCUSD PERP Future"):
        load_hourly_basis(p)


def test_hourly_basis_when_23h_row_then_spot_close_is_daily_close() -> None:
    from engine.data.spot_daily import load_spot_daily

    rows, _ = load_hourly_basis(data_root() / FILE)
    daily, _ = load_spot_daily(data_root() / "cme/binance_btcusdt_spot_1d_2017_2024.csv")
    close_of_day = {b.ts_ns: b.close for b in daily}
    day_ns = 86_400_000_000_000
    # The row labeled 23:00 is the last hour of the day: its label is the bar's open, not its close.
    last_hours = [r for r in rows if r.ts_ns % day_ns == 23 * 3_600_000_000_000]
    assert len(last_hours) == 1096
    assert all(r.spot_close == close_of_day[r.ts_ns - r.ts_ns % day_ns] for r in last_hours)
