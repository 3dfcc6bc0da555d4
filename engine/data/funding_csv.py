"""Binance funding history CSV to UTC funding settlements.

The file (``binance_btcusdt_funding_2019_2024.csv``) starts with a UTF-8 byte-order mark, has the header
``"Time","Contracts","Funding Interval","Funding Rate"``, lists settlements newest first, gives ``Time``
in **Europe/London local time** and the rate as a percent string (``"0.004994%"``).

Local time is resolved with ``zoneinfo``. The ambiguous autumn hour (01:00-02:00 on the last Sunday of
October happens twice) is read as its first, summer-time occurrence (``fold=0``): that is the reading
under which every settlement lands on Binance's 00:00/08:00/16:00 UTC grid. Each settlement is checked
against that grid (multiples of its own interval from midnight UTC, so 4h or 1h contracts also pass); a
row that is off the grid, or whose local time does not exist (the spring-forward hour), is counted as
bad and skipped, never shifted.

``london_to_utc_ns`` is shared with the other London-time loaders; the row loop is ``engine.data.csv_rows``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from engine.data.csv_rows import csv_rows
from engine.data.stats import LoadStats
from engine.paths import require_file

LONDON = ZoneInfo("Europe/London")
NS_PER_S = 1_000_000_000
NS_PER_HOUR = 3_600 * NS_PER_S
FUNDING_COLUMNS = ("Time", "Contracts", "Funding Interval", "Funding Rate")
_INTERVAL = re.compile(r"^\s*(\d+)\s*h\s*$")


@dataclass(frozen=True, slots=True)
class FundingSettlement:
    """One funding settlement of a perpetual.

    Attributes
    ----------
    ts_ns : int
        Settlement time, UTC, nanoseconds since the epoch.
    rate : Decimal
        The rate as a fraction, e.g. ``Decimal("0.00004994")`` for ``"0.004994%"``.
    interval_hours : int
        Hours between settlements, from the ``Funding Interval`` column (``"8h"`` -> 8).
    """

    ts_ns: int
    rate: Decimal
    interval_hours: int


def london_to_utc_ns(text: str) -> int:
    """Convert a Europe/London wall time ``YYYY-MM-DD HH:MM:SS`` to UTC nanoseconds since the epoch.

    The ambiguous autumn hour is read as its first (summer-time) occurrence, ``fold=0``.

    Raises
    ------
    ValueError
        If the text does not parse, or names a wall time that does not exist (the spring-forward hour).
    """
    local = _naive(text).replace(tzinfo=LONDON, fold=0)
    utc = local.astimezone(UTC)
    # A wall time inside the spring gap does not round-trip: reject it rather than guess.
    if utc.astimezone(LONDON).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ValueError(f"local time {text!r} does not exist in Europe/London (clocks went forward)")
    return int(utc.timestamp()) * NS_PER_S


def utc_to_ns(text: str) -> int:
    """Convert a UTC wall time ``YYYY-MM-DD HH:MM:SS`` to nanoseconds since the epoch.

    Raises
    ------
    ValueError
        If the text does not parse.
    """
    return int(_naive(text).replace(tzinfo=UTC).timestamp()) * NS_PER_S


def _naive(text: str) -> datetime:
    # fromisoformat is ~5x faster than strptime; it also takes offsets, which these files never carry.
    t = text.strip()
    if len(t) < 19:
        raise ValueError(f"time {text!r} is not YYYY-MM-DD HH:MM:SS")
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is not None:
        raise ValueError(f"time {text!r} carries an offset; expected a wall time YYYY-MM-DD HH:MM:SS")
    return dt


def parse_percent(text: str) -> Decimal:
    """Return a percent string (``"0.004994%"``) as an exact Decimal fraction (``0.00004994``).

    Raises
    ------
    ValueError
        If it is not a finite number with a trailing ``%``.
    """
    t = text.strip()
    if not t.endswith("%"):
        raise ValueError(f"rate {text!r} is not a percent string")
    try:
        pct = Decimal(t[:-1])
    except InvalidOperation as exc:
        raise ValueError(f"rate {text!r} is not a number") from exc
    if not pct.is_finite():
        raise ValueError(f"rate {text!r} is not finite")
    return pct.scaleb(-2)  # exact: moves the decimal point, no rounding


def load_funding_history(path: Path) -> tuple[list[FundingSettlement], LoadStats]:
    """Load a Binance funding history CSV.

    Parameters
    ----------
    path : Path
        The CSV, absolute or relative to the data root.

    Returns
    -------
    tuple[list[FundingSettlement], LoadStats]
        Settlements ascending by ``ts_ns`` (the file is newest first), and what was read and skipped.
        Line numbers in the stats are the file's (the header is line 1).

    Raises
    ------
    DataFileMissingError
        If the file does not exist.
    DataFormatError
        If the header is not ``Time, Contracts, Funding Interval, Funding Rate``.
    """
    p = require_file(path)
    stats = LoadStats(source=p.name)
    out: list[FundingSettlement] = []
    seen: set[int] = set()
    for line_no, row in csv_rows(p, FUNDING_COLUMNS, stats):  # utf-8-sig drops the BOM
        time_s, _contract, interval_s, rate_s = row
        try:
            ts = london_to_utc_ns(time_s)
            m = _INTERVAL.match(interval_s)
            if m is None or int(m.group(1)) <= 0:
                raise ValueError(f"funding interval {interval_s!r} is not like '8h'")
            hours = int(m.group(1))
            rate = parse_percent(rate_s)
        except ValueError as exc:
            stats.bad(line_no, str(exc)[:160])
            continue
        if ts % (hours * NS_PER_HOUR):
            stats.bad(line_no, f"{time_s} London is off the {hours}h UTC settlement grid")
            continue
        if ts in seen:
            stats.bad(line_no, f"duplicate settlement time {time_s}")
            continue
        seen.add(ts)
        out.append(FundingSettlement(ts, rate, hours))
    out.sort(key=lambda s: s.ts_ns)
    stats.events = len(out)
    return out, stats
