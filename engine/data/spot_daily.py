"""Binance daily spot bars (CryptoDataDownload CSV) to Decimal rows.

The file (``binance_btcusdt_spot_1d_2017_2024.csv``) starts with a provenance line (a URL), has its header
``Unix,Date,Symbol,Open,High,Low,Close,Volume <base>,Volume <quote>,tradecount`` on line 2, and lists days
newest first. A bar covers one UTC day: it opens at 00:00 UTC of ``Date`` and its close is the last trade
before 24:00 UTC. ``Unix`` is the open time; its unit (s, ms or us: CryptoDataDownload has used all three)
is told from its size and checked against ``Date``, a mismatch counted as bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from engine.data.basis_1h import parse_price
from engine.data.csv_rows import csv_rows
from engine.data.funding_csv import NS_PER_S
from engine.data.stats import LoadStats
from engine.errors import DataFormatError
from engine.paths import require_file

SPOT_DAILY_PRICE_COLUMNS = ("Unix", "Date", "Symbol", "Open", "High", "Low", "Close")
SPOT_DAILY_COLUMNS_TEXT = (
    "Unix, Date, Symbol, Open, High, Low, Close, Volume <base>, Volume <quote>, tradecount"
)


@dataclass(frozen=True, slots=True)
class SpotDailyBar:
    """One UTC day of a spot market.

    Attributes
    ----------
    day : date
        The UTC day.
    ts_ns : int
        Bar open, 00:00 UTC of ``day``, ns (the close is observed at 24:00 UTC).
    symbol : str
        E.g. ``BTCUSDT``.
    open, high, low, close : Decimal
        Prices in quote currency.
    volume_base, volume_quote : Decimal
        Traded volume in base and in quote currency.
    trades : int
        Number of trades.
    """

    day: date
    ts_ns: int
    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume_base: Decimal
    volume_quote: Decimal
    trades: int


_COLUMNS = (*SPOT_DAILY_PRICE_COLUMNS, "Volume <base>", "Volume <quote>", "tradecount")
_N_COLUMNS = len(_COLUMNS)


def _check_header(path: Path, header: list[str] | None) -> None:
    h = [c.strip() for c in header] if header is not None else []
    ok = (
        len(h) == _N_COLUMNS
        and tuple(h[:7]) == SPOT_DAILY_PRICE_COLUMNS
        and h[7].startswith("Volume ")
        and h[8].startswith("Volume ")
        and h[9] == "tradecount"
    )
    if not ok:
        raise DataFormatError(
            f"{path}: unexpected header on line 2 {h!r}; expected columns {SPOT_DAILY_COLUMNS_TEXT} "
            "(line 1 is a provenance line)"
        )


def _unix_to_seconds(text: str) -> int:
    value = int(text)
    # Tell the unit from the size: seconds until 2286, then ms, then us.
    for scale in (1, 1_000, 1_000_000):
        if value < 10_000_000_000 * scale:
            seconds, rem = divmod(value, scale)
            if rem:
                raise ValueError(f"Unix {text} is not a whole second")
            return seconds
    raise ValueError(f"Unix {text} is out of range")


def load_spot_daily(path: Path) -> tuple[list[SpotDailyBar], LoadStats]:
    """Load a CryptoDataDownload daily spot CSV.

    Parameters
    ----------
    path : Path
        The CSV, absolute or relative to the data root.

    Returns
    -------
    tuple[list[SpotDailyBar], LoadStats]
        Bars ascending by day, and what was read and skipped (line numbers are the file's: the provenance
        line is 1, the header 2). A repeated day keeps its first bar and counts the others as bad.

    Raises
    ------
    DataFileMissingError
        If the file does not exist.
    DataFormatError
        If line 2 is not the expected header.
    """
    p = require_file(path)
    stats = LoadStats(source=p.name)
    out: list[SpotDailyBar] = []
    seen: set[date] = set()
    # Line 1 is a provenance line; the volume columns are named after the pair, so the header check is own.
    rows = csv_rows(p, _COLUMNS, stats, preamble_lines=1, header_check=_check_header)
    for line_no, row in rows:
        unix_s, date_s, symbol, o_s, h_s, l_s, c_s, vb_s, vq_s, n_s = row
        try:
            day = date.fromisoformat(date_s.strip()[:10])
            start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
            if _unix_to_seconds(unix_s) != start:
                raise ValueError(f"Unix {unix_s} is not 00:00 UTC of {date_s}")
            o = parse_price(o_s, "Open")
            h = parse_price(h_s, "High")
            lo = parse_price(l_s, "Low")
            c = parse_price(c_s, "Close")
            if h < max(o, c, lo) or lo > min(o, c):
                raise ValueError(f"inconsistent bar o={o_s} h={h_s} l={l_s} c={c_s}")
            vb, vq, trades = Decimal(vb_s), Decimal(vq_s), int(n_s)
            if not (vb.is_finite() and vq.is_finite()) or vb < 0 or vq < 0 or trades < 0:
                raise ValueError(f"bad volume {vb_s!r}/{vq_s!r}/{n_s!r}")
        except (ValueError, ArithmeticError) as exc:
            stats.bad(line_no, f"{exc}"[:160])
            continue
        if day in seen:
            stats.bad(line_no, f"duplicate day {date_s}")
            continue
        seen.add(day)
        out.append(SpotDailyBar(day, start * NS_PER_S, symbol, o, h, lo, c, vb, vq, trades))
    out.sort(key=lambda b: b.day)
    stats.events = len(out)
    return out, stats
