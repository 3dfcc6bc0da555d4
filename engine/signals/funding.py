"""Funding rates annualized, and per day from the settlements (per venue).

Annualized: ``rate * 365 * 24 / interval_hours`` (DESIGN.md): 0.01% per 8h is 10.95% a year.

A day's funding is the mean of the annualized settlements whose accrual period lies in that UTC day:
the settlements at 08:00, 16:00 and 24:00 (= 00:00 of the next day) for an 8-hour contract. A rate
settled at time T is set by the premium over the interval before T, so this grouping describes the same
hours as a daily close at 24:00 UTC (the CME and Binance daily closes the basis signals pair it with).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from engine.data.funding_csv import FundingSettlement

NS_PER_DAY = 86_400 * 1_000_000_000
HOURS_PER_YEAR = 365 * 24

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def annualize_funding(rate: FloatArray | float, interval_hours: IntArray | FloatArray | float) -> FloatArray:
    """Return ``rate * 365 * 24 / interval_hours``: funding as a fraction per year.

    Parameters
    ----------
    rate : array_like of float
        Rate per settlement, a fraction (0.0001 = 0.01%).
    interval_hours : array_like
        Hours between settlements (8 on Binance BTCUSDT; some venues 1 or 4).
    """
    return np.asarray(rate, dtype=np.float64) * (
        HOURS_PER_YEAR / np.asarray(interval_hours, dtype=np.float64)
    )


def accrual_day(ts_ns: IntArray) -> npt.NDArray[np.datetime64]:
    """Return the UTC day whose hours a settlement at ``ts_ns`` pays for (00:00 -> the day before)."""
    return ((np.asarray(ts_ns, dtype=np.int64) - 1) // NS_PER_DAY).astype("datetime64[D]")


def daily_funding(
    ts_ns: IntArray, rate: FloatArray, interval_hours: IntArray | FloatArray | float
) -> tuple[npt.NDArray[np.datetime64], FloatArray, IntArray]:
    """Return the mean annualized funding of each UTC day.

    Parameters
    ----------
    ts_ns : ndarray of int64
        Settlement times, UTC ns, ascending.
    rate : ndarray of float64
        Rate of each settlement (fraction); NaN entries are ignored.
    interval_hours : array_like
        Interval of each settlement (or one for all).

    Returns
    -------
    days : ndarray of datetime64[D]
        The days with at least one settlement, ascending.
    annualized : ndarray of float64
        Mean annualized funding of the day.
    count : ndarray of int64
        Settlements averaged (3 on a full 8-hour day).
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    apr = annualize_funding(rate, interval_hours) * np.ones(ts.shape)
    ok = np.isfinite(apr)
    day = accrual_day(ts[ok]).astype(np.int64)
    apr = apr[ok]
    days, inverse = np.unique(day, return_inverse=True)
    count = np.bincount(inverse, minlength=len(days)).astype(np.int64)
    total = np.bincount(inverse, weights=apr, minlength=len(days))
    return days.astype("datetime64[D]"), total / count, count


def settlements_to_arrays(settlements: Sequence[FundingSettlement]) -> tuple[IntArray, FloatArray, IntArray]:
    """Return ``(ts_ns, rate, interval_hours)`` arrays from loaded funding settlements."""
    n = len(settlements)
    ts = np.fromiter((s.ts_ns for s in settlements), dtype=np.int64, count=n)
    rate = np.fromiter((float(s.rate) for s in settlements), dtype=np.float64, count=n)
    hours = np.fromiter((s.interval_hours for s in settlements), dtype=np.int64, count=n)
    return ts, rate, hours


def trailing_mean(values: FloatArray, window: int) -> FloatArray:
    """Return the mean of each value and the ``window - 1`` before it (NaNs skipped; NaN if all are NaN).

    A window of 1 returns the values unchanged.
    """
    v = np.asarray(values, dtype=np.float64)
    if window <= 1:
        return v.copy()
    ok = np.isfinite(v)
    csum = np.concatenate(([0.0], np.cumsum(np.where(ok, v, 0.0))))
    ccount = np.concatenate(([0], np.cumsum(ok)))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - window, 0)
    n = ccount[idx] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (csum[idx] - csum[lo]) / n, np.nan)
