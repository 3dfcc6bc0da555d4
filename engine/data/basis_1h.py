"""Binance hourly basis CSV (spot, USD-M perpetual and COIN-M perpetual closes) to Decimal rows.

The file (``binance_btc_basis_1h_2021_2024.csv``) has the header ``Time,BTCUSDT Spot,BTCUSDT Future,Basis
BTCUSDT Future,BTCUSD PERP Future,Basis BTCUSD PERP Future``; times are UTC. ``Time`` labels the bar by
its **open** time: the 23:00 row's spot close equals that day's daily close, so a caller that wants the
time the close was observed adds one hour. A few hours are missing (left missing, not filled) and some
COIN-M closes are empty (the row is kept with ``coinm_close=None``).

The two ``Basis`` columns are differences of the closes; they are not read (recompute them from the
closes rather than trust a float-rounded copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from engine.data.csv_rows import csv_rows
from engine.data.funding_csv import utc_to_ns
from engine.data.stats import LoadStats
from engine.paths import require_file

BASIS_1H_COLUMNS = (
    "Time",
    "BTCUSDT Spot",
    "BTCUSDT Future",
    "Basis BTCUSDT Future",
    "BTCUSD PERP Future",
    "Basis BTCUSD PERP Future",
)


@dataclass(frozen=True, slots=True)
class HourlyBasisRow:
    """One hour of closes.

    Attributes
    ----------
    ts_ns : int
        The row's labeled time, UTC ns: the bar's **open** time (callers shift by 1h for the close time).
    spot_close : Decimal
        BTCUSDT spot close.
    perp_close : Decimal
        BTCUSDT USD-M perpetual close.
    coinm_close : Decimal or None
        BTCUSD COIN-M perpetual close; None where the file has none.
    """

    ts_ns: int
    spot_close: Decimal
    perp_close: Decimal
    coinm_close: Decimal | None


def parse_price(text: str, column: str) -> Decimal:
    """Return a strictly positive, finite Decimal price.

    Raises
    ------
    ValueError
        Naming the column and the value.
    """
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"{column}: {text!r} is not a number") from exc
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{column}: {text!r} is not a positive finite price")
    return value


def load_hourly_basis(path: Path) -> tuple[list[HourlyBasisRow], LoadStats]:
    """Load the hourly basis CSV.

    Parameters
    ----------
    path : Path
        The CSV, absolute or relative to the data root.

    Returns
    -------
    tuple[list[HourlyBasisRow], LoadStats]
        Rows ascending by ``ts_ns``, and what was read and skipped (line numbers are the file's; the
        header is line 1). A repeated timestamp keeps its first row and counts the others as bad.

    Raises
    ------
    DataFileMissingError
        If the file does not exist.
    DataFormatError
        If the header is not the expected one.
    """
    p = require_file(path)
    stats = LoadStats(source=p.name)
    out: list[HourlyBasisRow] = []
    seen: set[int] = set()
    for line_no, row in csv_rows(p, BASIS_1H_COLUMNS, stats):
        try:
            ts = utc_to_ns(row[0])
            spot = parse_price(row[1], BASIS_1H_COLUMNS[1])
            perp = parse_price(row[2], BASIS_1H_COLUMNS[2])
            coinm = parse_price(row[4], BASIS_1H_COLUMNS[4]) if row[4].strip() else None
        except ValueError as exc:
            stats.bad(line_no, str(exc)[:160])
            continue
        if ts in seen:
            stats.bad(line_no, f"duplicate time {row[0]}")
            continue
        seen.add(ts)
        out.append(HourlyBasisRow(ts, spot, perp, coinm))
    out.sort(key=lambda r: r.ts_ns)
    stats.events = len(out)
    return out, stats
