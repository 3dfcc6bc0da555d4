"""Funding history CSV loader: real file and corrupted copies."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.data.funding_csv import load_funding_history, london_to_utc_ns
from engine.errors import DataFileMissingError, DataFormatError
from engine.paths import data_root

FILE = "binance/binance_btcusdt_funding_2019_2024.csv"
HEADER = '\ufeff"Time","Contracts","Funding Interval","Funding Rate"\n'


def _ns(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * 1_000_000_000


def _write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    p = tmp_path / "funding.csv"
    p.write_text(header + body, encoding="utf-8")
    return p


def test_funding_when_real_file_then_all_rows_ascending_on_8h_grid() -> None:
    rows, stats = load_funding_history(data_root() / FILE)
    assert len(rows) == 5386 and stats.bad_lines == 0 and stats.lines == 5386
    assert rows[0].ts_ns == _ns(2019, 9, 10, 8)  # "2019-09-10 09:00:00" London (BST)
    assert rows[-1].ts_ns == _ns(2024, 8, 9, 8)  # "2024-08-09 09:00:00" London (BST)
    assert all(a.ts_ns < b.ts_ns for a, b in itertools.pairwise(rows))
    assert {r.ts_ns // 3_600_000_000_000 % 24 for r in rows} == {0, 8, 16}
    assert {r.interval_hours for r in rows} == {8}


def test_funding_when_settlement_20230405_then_rate_matches_tick_recording() -> None:
    rows, _ = load_funding_history(data_root() / FILE)
    by_ts = {r.ts_ns: r for r in rows}
    assert by_ts[_ns(2023, 4, 5)].rate == Decimal("0.00002760")


def test_funding_when_real_summer_row_at_0100_london_then_0000_utc() -> None:
    # File line 1218: "2023-07-01 01:00:00","BTCUSDT Perpetual","8h","0.010000%" (BST = UTC+1).
    rows, _ = load_funding_history(data_root() / FILE)
    by_ts = {r.ts_ns: r for r in rows}
    assert by_ts[_ns(2023, 7, 1, 0)].rate == Decimal("0.00010000")
    assert _ns(2023, 7, 1, 1) not in by_ts


def test_funding_when_real_file_then_2021_mean_annualized_matches_readme() -> None:
    rows, _ = load_funding_history(data_root() / FILE)
    y2021 = [r.rate for r in rows if _ns(2021, 1, 1) <= r.ts_ns < _ns(2022, 1, 1)]
    mean_apr = sum(y2021) / len(y2021) * 1095
    assert round(float(mean_apr), 3) == 0.306


def test_london_time_when_summer_then_utc_is_one_hour_earlier() -> None:
    assert london_to_utc_ns("2023-07-01 01:00:00") == _ns(2023, 7, 1, 0)
    assert london_to_utc_ns("2023-01-01 01:00:00") == _ns(2023, 1, 1, 1)


def test_london_time_when_autumn_ambiguous_hour_then_first_occurrence() -> None:
    # 2023-10-29 01:00 London happens twice; the first (BST) one is 00:00 UTC.
    assert london_to_utc_ns("2023-10-29 01:00:00") == _ns(2023, 10, 29, 0)


def test_london_time_when_spring_gap_then_value_error() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        london_to_utc_ns("2023-03-26 01:30:00")


def test_funding_when_percent_string_then_exact_fraction(tmp_path: Path) -> None:
    p = _write(tmp_path, '"2024-08-09 01:00:00","BTCUSDT Perpetual","8h","0.004994%"\n')
    rows, stats = load_funding_history(p)
    assert rows[0].rate == Decimal("0.00004994") and rows[0].interval_hours == 8
    assert rows[0].ts_ns == _ns(2024, 8, 9, 0) and stats.bad_lines == 0


def test_funding_when_corrupted_lines_then_counted_and_skipped(tmp_path: Path) -> None:
    body = (
        '"2024-08-09 09:00:00","BTCUSDT Perpetual","8h","0.002184%"\n'  # line 2 ok
        '"2024-08-09 10:00:00","BTCUSDT Perpetual","8h","0.002184%"\n'  # 3 off grid
        '"not a time","BTCUSDT Perpetual","8h","0.002184%"\n'  # 4
        '"2024-08-08 17:00:00","BTCUSDT Perpetual","8h","abc%"\n'  # 5
        '"2024-08-08 09:00:00","BTCUSDT Perpetual","8h","NaN%"\n'  # 6
        '"2024-08-08 01:00:00","BTCUSDT Perpetual","eight","0.01%"\n'  # 7
        '"2024-08-09 09:00:00","BTCUSDT Perpetual","8h","0.002184%"\n'  # 8 duplicate
        '"2024-08-07 17:00:00","BTCUSDT Perpetual","8h"\n'  # 9 short
        '"2024-08-07 09:00:00","BTCUSDT Perpetual","8h","0.01"\n'  # 10 no percent sign
        '"2024-08-07 01:00:00","BTCUSDT Perpetual","8h","0.01%"\n'  # 11 ok
    )
    rows, stats = load_funding_history(_write(tmp_path, body))
    assert [r.ts_ns for r in rows] == [_ns(2024, 8, 7, 0), _ns(2024, 8, 9, 8)]
    assert stats.bad_lines == 8 and stats.lines == 10 and stats.events == 2
    assert stats.samples[0].startswith("line 3:") and "grid" in stats.samples[0]
    assert stats.samples[1].startswith("line 4:")
    assert len(stats.samples) == 5


def test_funding_when_wrong_header_then_format_error_names_file(tmp_path: Path) -> None:
    p = _write(tmp_path, '"2024-08-09 09:00:00","BTCUSDT","8h","0.01%"\n', header="Time,Rate\n")
    with pytest.raises(DataFormatError, match=r"funding\.csv.*Funding Interval"):
        load_funding_history(p)


def test_funding_when_file_missing_then_error_names_path(tmp_path: Path) -> None:
    with pytest.raises(DataFileMissingError, match=r"nope\.csv"):
        load_funding_history(tmp_path / "nope.csv")


def test_funding_when_spring_gap_time_or_4h_interval_then_gap_bad_and_4h_grid_kept(tmp_path: Path) -> None:
    body = (
        '"2024-03-31 01:00:00","BTCUSDT Perpetual","8h","0.01%"\n'  # 2: clocks jump 01:00 -> 02:00
        '"2024-01-10 04:00:00","BTCUSDT Perpetual","4h","0.02%"\n'  # 3: GMT, on a 4h grid
        '"2024-01-10 04:00:00","BTCUSDT Perpetual","8h","0.02%"\n'  # 4: 04:00 is off an 8h grid
    )
    rows, stats = load_funding_history(_write(tmp_path, body))
    got = [(r.ts_ns, r.interval_hours, r.rate) for r in rows]
    assert got == [(_ns(2024, 1, 10, 4), 4, Decimal("0.0002"))]
    assert stats.bad_lines == 2
    assert stats.samples[0].startswith("line 2:") and "does not exist" in stats.samples[0]
    assert stats.samples[1].startswith("line 4:") and "8h" in stats.samples[1]
