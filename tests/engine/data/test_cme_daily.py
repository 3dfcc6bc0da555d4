"""CME MBT daily loader: real file and corrupted copies."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from engine.data.cme_daily import load_cme_daily, parse_outright_symbol
from engine.errors import DataFormatError
from engine.paths import data_root

FILE = "cme/cme_mbt_ohlcv1d_2021_2026.csv"
HEADER = "ts_event,rtype,publisher_id,instrument_id,open,high,low,close,volume,symbol\n"


def test_cme_daily_when_real_file_then_outrights_and_spreads_apart() -> None:
    daily, stats = load_cme_daily(data_root() / FILE)
    assert stats.lines == 9267 and stats.bad_lines == 0
    assert len(daily.outrights) == 6738 and len(daily.spreads) == 2529
    assert all("-" not in b.symbol for b in daily.outrights)
    assert all(b.near + "-" + b.far == b.symbol for b in daily.spreads)
    first, last = daily.outrights[0], daily.outrights[-1]
    assert (first.day, first.symbol, first.close) == (date(2021, 5, 2), "MBTK1", Decimal("56795"))
    assert (first.root, first.month, first.year, first.month_code) == ("MBT", 5, 2021, "K")
    assert last.day == date(2026, 2, 12)


def test_cme_daily_when_one_digit_year_then_decade_from_trade_date() -> None:
    daily, _ = load_cme_daily(data_root() / FILE)
    years = {b.symbol: b.year for b in daily.outrights}
    assert years["MBTK1"] == 2021 and years["MBTZ5"] == 2025 and years["MBTZ6"] == 2026
    # MBTZ6 already trades in 2025: the year is the first at or after the trade date ending in 6.
    assert min(b.day for b in daily.outrights if b.symbol == "MBTZ6").year == 2025


def test_outright_symbol_when_decade_boundary_then_next_decade() -> None:
    assert parse_outright_symbol("MBTH0", date(2029, 11, 1)) == ("MBT", 3, 2030)
    assert parse_outright_symbol("BTCZ29", date(2029, 11, 1)) == ("BTC", 12, 2029)
    with pytest.raises(ValueError, match="not <root>"):
        parse_outright_symbol("MBTA1", date(2021, 1, 1))


def test_cme_daily_when_spread_then_quoted_far_minus_near() -> None:
    daily, _ = load_cme_daily(data_root() / FILE)
    px = {(b.symbol, b.day): b.close for b in daily.outrights}
    spread = next(s for s in daily.spreads if s.symbol == "MBTK1-MBTM1")
    near, far = px[("MBTK1", spread.day)], px[("MBTM1", spread.day)]
    assert abs((far - near) - spread.close) < abs((near - far) - spread.close)


def test_cme_daily_when_corrupted_lines_then_counted_and_skipped(tmp_path: Path) -> None:
    ts = "2021-05-03T00:00:00.000000000Z"
    body = (
        f"{ts},35,1,1,59000,59000,59000,59000,1,MBTQ1\n"  # 2 ok
        f"{ts},33,1,1,59000,59000,59000,59000,1,MBTU1\n"  # 3 rtype
        f"{ts},35,1,1,0,0,0,0,1,MBTV1\n"  # 4 zero price
        f"{ts},35,1,1,59000,59000,59000,59000,1,MBTQ1\n"  # 5 duplicate
        f"2021-05-03T05:00:00Z,35,1,1,59000,59000,59000,59000,1,MBTX1\n"  # 6 not midnight
        f"{ts},35,1,1,59000,58000,59000,59000,1,MBTZ1\n"  # 7 high below open
        f"{ts},35,1,1,59000,59000,59000,59000,1,BTC\n"  # 8 symbol
        f"{ts},35,1,2,-5,10,-5,10,3,MBTK1-MBTM1\n"  # 9 ok spread, negative allowed
    )
    p = tmp_path / "cme.csv"
    p.write_text(HEADER + body)
    daily, stats = load_cme_daily(p)
    assert [b.symbol for b in daily.outrights] == ["MBTQ1"]
    assert [b.close for b in daily.spreads] == [Decimal(10)]
    assert stats.bad_lines == 6
    assert [s.split(":")[0] for s in stats.samples] == ["line 3", "line 4", "line 5", "line 6", "line 7"]


def test_cme_daily_when_wrong_header_then_format_error_names_file(tmp_path: Path) -> None:
    p = tmp_path / "cme.csv"
    p.write_text("ts_event,close,symbol\n")
    with pytest.raises(DataFormatError, match=r"cme\.csv.*instrument_id"):
        load_cme_daily(p)
