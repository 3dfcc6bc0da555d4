"""Annualized CME futures basis against Binance spot, per day, for the front and the next month.

``annualized = (F / S - 1) * 365 / days_to_expiry`` (DESIGN.md).

Which spot close
    The CME file's daily bars are UTC days (it has Sunday bars and no Saturday bars), so a bar's close is
    the last trade before 24:00 UTC. The Binance daily bar of the same date also closes at 24:00 UTC. Each
    CME close is therefore paired with the Binance close of the **same UTC date**. The hours still differ
    on Fridays (Globex closes at 16:00 Chicago, 21:00 or 22:00 UTC: up to three hours before the spot
    close), on holidays, and for thin months whose last trade is earlier. Measured on the files: the
    day-to-day change of the front-month raw basis has a standard deviation of 0.63% paired this way, and
    of 4.9% paired with the previous day's spot close (the bar's opening price), so same-date is right.

Days to expiry
    Calendar days from the bar's date to the contract's last trading day (``engine.cme``). The front month
    of a day is the nearest contract expiring strictly after it (``days_to_expiry >= 1``): on its last
    trading day a contract's basis has nothing left to annualize over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from engine.cme import last_trading_day
from engine.data.cme_daily import CmeDaily
from engine.data.spot_daily import SpotDailyBar

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DayArray = npt.NDArray[np.datetime64]

FRONT = 0
NEXT = 1


def annualized_basis(
    future: FloatArray, spot: FloatArray, days_to_expiry: FloatArray | IntArray
) -> FloatArray:
    """Return ``(future / spot - 1) * 365 / days_to_expiry``, a fraction per year.

    NaN where ``days_to_expiry <= 0`` or a price is not positive.
    """
    f = np.asarray(future, dtype=np.float64)
    s = np.asarray(spot, dtype=np.float64)
    d = np.asarray(days_to_expiry, dtype=np.float64)
    ok = (d > 0) & (f > 0) & (s > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, (f / s - 1.0) * 365.0 / d, np.nan)


@dataclass(frozen=True, slots=True)
class CmeBasis:
    """Per-day annualized basis rows (front and next month), ascending by (day, rank).

    Attributes
    ----------
    day : ndarray of datetime64[D]
        UTC day of the CME bar (and of the spot close paired with it).
    rank : ndarray of int64
        0 = front month, 1 = next month.
    contract : ndarray of str
        Contract symbol, e.g. ``MBTH4``.
    days_to_expiry : ndarray of int64
        Calendar days to the last trading day (>= 1).
    future_close, spot_close : ndarray of float64
        The paired closes.
    annualized_basis : ndarray of float64
        ``(F / S - 1) * 365 / days_to_expiry``.
    """

    day: DayArray
    rank: IntArray
    contract: npt.NDArray[np.str_]
    days_to_expiry: IntArray
    future_close: FloatArray
    spot_close: FloatArray
    annualized_basis: FloatArray

    def select(self, rank: int) -> CmeBasis:
        """Return only the rows of one rank (``FRONT`` or ``NEXT``)."""
        m = self.rank == rank
        return CmeBasis(
            self.day[m],
            self.rank[m],
            self.contract[m],
            self.days_to_expiry[m],
            self.future_close[m],
            self.spot_close[m],
            self.annualized_basis[m],
        )


def spot_close_by_day(bars: Sequence[SpotDailyBar]) -> tuple[DayArray, FloatArray]:
    """Return ``(day, close)`` arrays of daily spot bars (ascending as loaded)."""
    n = len(bars)
    days = np.fromiter((b.day.toordinal() for b in bars), dtype=np.int64, count=n)
    close = np.fromiter((float(b.close) for b in bars), dtype=np.float64, count=n)
    return _ordinal_to_day(days), close


_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


def _ordinal_to_day(ordinal: IntArray) -> DayArray:
    return (ordinal - _EPOCH_ORDINAL).astype("datetime64[D]")


def cme_basis(cme: CmeDaily, spot_day: DayArray, spot_close: FloatArray, root: str = "MBT") -> CmeBasis:
    """Compute the front- and next-month annualized basis of every CME day with a spot close.

    Parameters
    ----------
    cme : CmeDaily
        Loaded CME daily bars (outrights are used; spreads are ignored).
    spot_day, spot_close : ndarray
        Daily spot closes by UTC day (``spot_close_by_day``), ascending, unique days.
    root : str
        The product to use (``MBT``).

    Returns
    -------
    CmeBasis
        One row per day and rank where that contract has a bar and the day has a spot close.
    """
    bars = [b for b in cme.outrights if b.root == root]
    n = len(bars)
    ordinal = np.fromiter((b.day.toordinal() for b in bars), dtype=np.int64, count=n)
    month_key = np.fromiter((b.year * 12 + b.month - 1 for b in bars), dtype=np.int64, count=n)
    close = np.fromiter((float(b.close) for b in bars), dtype=np.float64, count=n)
    symbol = np.array([b.symbol for b in bars], dtype=np.str_)
    if n == 0:
        return _empty()
    # Expiry of every month in range (a few dozen calendar calls), then the front month of each day by
    # binary search: the first month whose expiry is after the day.
    first = min(int(month_key.min()), _month_key_of(int(ordinal.min())))
    last = max(int(month_key.max()), _month_key_of(int(ordinal.max())))
    keys = np.arange(first - 1, last + 3)
    expiry = np.array(
        [last_trading_day(int(k) // 12, int(k) % 12 + 1).toordinal() for k in keys], dtype=np.int64
    )
    front_key = keys[np.searchsorted(expiry, ordinal, side="right")]
    rank = month_key - front_key
    dte = expiry[month_key - keys[0]] - ordinal
    day = _ordinal_to_day(ordinal)
    pos = np.searchsorted(spot_day, day)
    pos_c = np.minimum(pos, len(spot_day) - 1)
    has_spot = (pos < len(spot_day)) & (spot_day[pos_c] == day)
    keep = ((rank == FRONT) | (rank == NEXT)) & has_spot & (dte >= 1)
    order = np.lexsort((rank[keep], ordinal[keep]))
    s = spot_close[pos_c[keep]][order]
    f = close[keep][order]
    d = dte[keep][order]
    return CmeBasis(
        day[keep][order],
        rank[keep][order],
        symbol[keep][order],
        d,
        f,
        s,
        annualized_basis(f, s, d),
    )


def _month_key_of(ordinal: int) -> int:
    d = date.fromordinal(ordinal)
    return d.year * 12 + d.month - 1


def _empty() -> CmeBasis:
    return CmeBasis(
        np.array([], dtype="datetime64[D]"),
        np.array([], dtype=np.int64),
        np.array([], dtype=np.str_),
        np.array([], dtype=np.int64),
        np.array([], dtype=np.float64),
        np.array([], dtype=np.float64),
        np.array([], dtype=np.float64),
    )


def daily_series(basis: CmeBasis, rank: int = FRONT) -> tuple[DayArray, FloatArray]:
    """Return ``(day, annualized_basis)`` of one rank, one value per day."""
    sel = basis.select(rank)
    return sel.day, sel.annualized_basis


def front_series(
    basis: CmeBasis, min_days_to_expiry: int = 1
) -> tuple[DayArray, FloatArray, npt.NDArray[np.str_]]:
    """Return one annualized basis per day, rolling to the next month near expiry.

    The front month's basis, or the next month's once the front has fewer than ``min_days_to_expiry``
    days left (or has no bar that day).

    Returns
    -------
    day, annualized_basis, contract : ndarray
        Ascending by day; days with neither an eligible front nor a next-month bar are absent.
    """
    front = basis.rank == FRONT
    eligible = ~front | (basis.days_to_expiry >= min_days_to_expiry)
    # Rows are sorted by (day, rank): of each day's eligible rows, the first is the one to use.
    idx = np.flatnonzero(eligible)
    day = basis.day[idx]
    first = np.ones(len(idx), dtype=bool)
    first[1:] = day[1:] != day[:-1]
    pick = idx[first]
    return basis.day[pick], basis.annualized_basis[pick], basis.contract[pick]
