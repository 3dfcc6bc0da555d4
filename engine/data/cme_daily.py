"""CME Micro Bitcoin (MBT) daily bars (Databento ``ohlcv-1d``) to outright and calendar-spread bars.

The file (``cme_mbt_ohlcv1d_2021_2026.csv``) has the columns ``ts_event,rtype,publisher_id,instrument_id,
open,high,low,close,volume,symbol``. ``ts_event`` is midnight UTC of the bar's UTC day (the file has
Sunday bars, from Globex's Sunday-evening open, and no Saturday bars: the bars are UTC days, not CME
trade dates), so a bar's close is the last trade before 24:00 UTC of that day. ``rtype`` 35 is
Databento's daily OHLCV record; any other record type is counted as bad.

``symbol`` is either an outright (``MBTK1``: root ``MBT``, month code ``K`` = May, one-digit year) or a
calendar spread (``MBTK1-MBTM1``). One-digit years span 2021-2026 here, so the decade is resolved from
the bar's date: the contract year is the first year at or after the bar's year ending in that digit (a
contract trades before it expires, and listings reach less than ten years out). Spreads are returned
apart from outrights; their prices may be zero or negative and are not checked for sign.

Prices are Decimal: the convergence backtest settles futures at these closes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from engine.data.csv_rows import csv_rows
from engine.data.funding_csv import NS_PER_S
from engine.data.stats import LoadStats
from engine.paths import require_file

CME_DAILY_COLUMNS = (
    "ts_event",
    "rtype",
    "publisher_id",
    "instrument_id",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "symbol",
)
OHLCV_1D_RTYPE = 35
MONTH_CODES = "FGHJKMNQUVXZ"  # January .. December
_OUTRIGHT = re.compile(r"^([A-Z]{1,4}?)([FGHJKMNQUVXZ])(\d{1,2})$")


@dataclass(frozen=True, slots=True)
class CmeOutrightBar:
    """One daily bar of one outright futures contract.

    Attributes
    ----------
    day : date
        The bar's UTC day.
    ts_ns : int
        Midnight UTC of ``day``, ns (the bar opens then; its close is the last trade before next midnight).
    symbol : str
        As in the file, e.g. ``MBTK1``.
    root : str
        Product code, e.g. ``MBT``.
    month : int
        Contract month, 1-12.
    year : int
        Contract year, four digits.
    instrument_id : int
        Databento's instrument id.
    open, high, low, close : Decimal
        Prices in USD per BTC.
    volume : int
        Contracts traded.
    """

    day: date
    ts_ns: int
    symbol: str
    root: str
    month: int
    year: int
    instrument_id: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int

    @property
    def month_code(self) -> str:
        """The CME month letter (F=Jan ... Z=Dec)."""
        return MONTH_CODES[self.month - 1]


@dataclass(frozen=True, slots=True)
class CmeSpreadBar:
    """One daily bar of a calendar spread (``near-far``), quoted as far minus near price.

    Attributes
    ----------
    day, ts_ns, symbol, instrument_id, open, high, low, close, volume
        As for ``CmeOutrightBar``; prices may be zero or negative.
    near, far : str
        The two legs' symbols.
    """

    day: date
    ts_ns: int
    symbol: str
    near: str
    far: str
    instrument_id: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(frozen=True, slots=True)
class CmeDaily:
    """The outrights and the calendar spreads of one file, each ascending by (day, contract)."""

    outrights: list[CmeOutrightBar]
    spreads: list[CmeSpreadBar]

    def by_symbol(self) -> dict[str, list[CmeOutrightBar]]:
        """Return the outright bars grouped by symbol, each ascending by day."""
        out: dict[str, list[CmeOutrightBar]] = {}
        for bar in self.outrights:
            out.setdefault(bar.symbol, []).append(bar)
        return out


def parse_outright_symbol(symbol: str, on: date) -> tuple[str, int, int]:
    """Split an outright symbol into ``(root, month, year)``, resolving a one-digit year from ``on``.

    Parameters
    ----------
    symbol : str
        E.g. ``MBTK1`` (one-digit year) or ``MBTK21`` (two-digit year).
    on : date
        A day the contract traded; the contract year is the first at or after ``on.year`` that ends in
        the symbol's digit(s).

    Raises
    ------
    ValueError
        If the symbol is not root + month code + year digits.
    """
    m = _OUTRIGHT.match(symbol)
    if m is None:
        raise ValueError(f"symbol {symbol!r} is not <root><month code><year>")
    root, code, digits = m.groups()
    modulus = 10 ** len(digits)
    year = on.year + (int(digits) - on.year) % modulus
    return root, MONTH_CODES.index(code) + 1, year


def _decimal(text: str, column: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{column}: {text!r} is not a number") from exc
    if not value.is_finite():
        raise ValueError(f"{column}: {text!r} is not finite")
    return value


def load_cme_daily(path: Path) -> tuple[CmeDaily, LoadStats]:
    """Load a CME daily OHLCV file (Databento ``ohlcv-1d`` CSV).

    Parameters
    ----------
    path : Path
        The CSV, absolute or relative to the data root.

    Returns
    -------
    tuple[CmeDaily, LoadStats]
        Outrights and spreads apart, and what was read and skipped (line numbers are the file's; the
        header is line 1). A repeated (symbol, day) keeps its first bar and counts the others as bad.

    Raises
    ------
    DataFileMissingError
        If the file does not exist.
    DataFormatError
        If the header is not the expected one.
    """
    p = require_file(path)
    stats = LoadStats(source=p.name)
    outrights: list[CmeOutrightBar] = []
    spreads: list[CmeSpreadBar] = []
    seen: set[tuple[str, date]] = set()
    day_cache: dict[str, tuple[date, int]] = {}  # a date repeats once per listed contract
    symbol_cache: dict[tuple[str, int], tuple[str, int, int]] = {}
    for line_no, row in csv_rows(p, CME_DAILY_COLUMNS, stats):
        ts_s, rtype_s, _pub, iid_s, o_s, h_s, l_s, c_s, v_s, symbol = row
        try:
            cached = day_cache.get(ts_s)
            if cached is None:
                stamp = datetime.fromisoformat(ts_s)
                if stamp.tzinfo is None or stamp.utcoffset() or stamp.time() != datetime.min.time():
                    raise ValueError(f"ts_event {ts_s!r} is not midnight UTC")
                cached = day_cache[ts_s] = (stamp.date(), int(stamp.timestamp()) * NS_PER_S)
            day, ts_ns = cached
            if int(rtype_s) != OHLCV_1D_RTYPE:
                raise ValueError(f"rtype {rtype_s} is not a daily bar ({OHLCV_1D_RTYPE})")
            iid = int(iid_s)
            o = _decimal(o_s, "open")
            h = _decimal(h_s, "high")
            lo = _decimal(l_s, "low")
            c = _decimal(c_s, "close")
            volume = int(v_s)
            if volume < 0:
                raise ValueError(f"negative volume {v_s}")
            if h < max(o, c, lo) or lo > min(o, c):
                raise ValueError(f"inconsistent bar o={o_s} h={h_s} l={l_s} c={c_s}")
            if "-" in symbol:
                near, _, far = symbol.partition("-")
                parse_outright_symbol(near, day)
                parse_outright_symbol(far, day)
                bar_key = (symbol, day)
                if bar_key in seen:
                    raise KeyError(symbol)
                spreads.append(CmeSpreadBar(day, ts_ns, symbol, near, far, iid, o, h, lo, c, volume))
            else:
                parsed = symbol_cache.get((symbol, day.year))
                if parsed is None:
                    parsed = symbol_cache[(symbol, day.year)] = parse_outright_symbol(symbol, day)
                root, month, year = parsed
                if lo <= 0:
                    raise ValueError(f"non-positive outright price l={l_s}")
                bar_key = (symbol, day)
                if bar_key in seen:
                    raise KeyError(symbol)
                outrights.append(
                    CmeOutrightBar(day, ts_ns, symbol, root, month, year, iid, o, h, lo, c, volume)
                )
            seen.add(bar_key)
        except KeyError:
            stats.bad(line_no, f"duplicate bar {symbol} {ts_s[:10]}")
        except ValueError as exc:
            stats.bad(line_no, str(exc)[:160])
    outrights.sort(key=lambda b: (b.day, b.year, b.month))
    spreads.sort(key=lambda b: (b.day, b.symbol))
    stats.events = len(outrights) + len(spreads)
    return CmeDaily(outrights, spreads), stats
