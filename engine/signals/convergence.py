"""CME-future-vs-perpetual convergence signals: which way the gap points, when it has closed, how to size.

The trade (DESIGN.md): a CME future that is *rich* against the offshore perpetual is sold and the perpetual
bought; held to expiry the future converges to spot, so the position earns the CME basis and pays the perp's
funding. It is worth doing when the annualized CME basis exceeds the perp's funding APR by a margin
(``spread_apr = cme_basis_apr - funding_apr``), or, independently, when the price gap between the two
(``gap_bps = (F / P - 1) * 10_000``) is beyond a band. The reverse (long CME, short perp) when CME is
*cheap*.

All inputs are annualized fractions (0.10 = 10% a year) and bps. Every function takes floats or NumPy
arrays (elementwise) and has no state: the strategy calls them once a day, tests call them without an engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | FloatArray

SHORT_CME: Final = -1  # CME rich: sell the future, buy the perp
LONG_CME: Final = 1  # CME cheap: buy the future, sell the perp
NO_TRADE: Final = 0

CHICAGO = ZoneInfo("America/Chicago")
_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ConvergenceThresholds:
    """When to enter and when the gap has converged.

    Attributes
    ----------
    entry_spread_apr : float
        Enter when ``|cme_basis_apr - funding_apr|`` is at least this (annualized fraction, > 0).
    exit_spread_apr : float
        Converged when the spread, signed in the position's favour, has fallen to this or below.
        Must be below ``entry_spread_apr``.
    entry_gap_bps : float or None
        Also enter when ``|gap_bps|`` is at least this (None: the gap alone never triggers).
    exit_gap_bps : float or None
        A position entered on either trigger is also converged when the signed gap has fallen to this.
    allow_cheap : bool
        Trade the reverse direction (long CME, short perp) when CME is cheap.
    """

    entry_spread_apr: float
    exit_spread_apr: float
    entry_gap_bps: float | None = None
    exit_gap_bps: float | None = None
    allow_cheap: bool = True


def gap_bps(future: ArrayLike, perp: ArrayLike) -> FloatArray:
    """Return ``(future / perp - 1) * 10_000``; NaN where a price is not positive."""
    f = np.asarray(future, dtype=np.float64)
    p = np.asarray(perp, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((f > 0) & (p > 0), (f / p - 1.0) * 10_000.0, np.nan)


def spread_apr(cme_basis_apr: ArrayLike, funding_apr: ArrayLike) -> FloatArray:
    """Return ``cme_basis_apr - funding_apr``: what a short-CME / long-perp position earns a year."""
    return np.asarray(cme_basis_apr, dtype=np.float64) - np.asarray(funding_apr, dtype=np.float64)


def entry_side(spread: ArrayLike, gap: ArrayLike, th: ConvergenceThresholds) -> npt.NDArray[np.int64]:
    """Return the side of the CME leg to open: ``SHORT_CME`` (-1), ``LONG_CME`` (+1) or ``NO_TRADE`` (0).

    Rich (short CME) when ``spread >= entry_spread_apr`` or ``gap >= entry_gap_bps``; cheap (long CME,
    only with ``allow_cheap``) when ``spread <= -entry_spread_apr`` or ``gap <= -entry_gap_bps``. NaN
    inputs never trigger. When the two triggers disagree in direction nothing is traded.
    """
    s = np.asarray(spread, dtype=np.float64)
    g = np.asarray(gap, dtype=np.float64)
    rich = s >= th.entry_spread_apr
    cheap = s <= -th.entry_spread_apr
    if th.entry_gap_bps is not None:
        rich = rich | (g >= th.entry_gap_bps)
        cheap = cheap | (g <= -th.entry_gap_bps)
    if not th.allow_cheap:
        cheap = np.zeros_like(cheap)
    side = np.where(rich & ~cheap, SHORT_CME, np.where(cheap & ~rich, LONG_CME, NO_TRADE))
    return side.astype(np.int64)


def converged(
    side: ArrayLike | int, spread: ArrayLike, gap: ArrayLike, th: ConvergenceThresholds
) -> npt.NDArray[np.bool_]:
    """True where a position of ``side`` has converged and should be closed.

    The spread and gap are signed in the position's favour (``-side * value``: positive while a short-CME
    position still has edge). Converged when the favourable spread is at or below ``exit_spread_apr``, or,
    with ``exit_gap_bps`` set, the favourable gap at or below it. A NaN input is not convergence.
    """
    d = -np.asarray(side, dtype=np.float64)
    fav_spread = d * np.asarray(spread, dtype=np.float64)
    out = fav_spread <= th.exit_spread_apr
    if th.exit_gap_bps is not None:
        out = out | (d * np.asarray(gap, dtype=np.float64) <= th.exit_gap_bps)
    return np.asarray(out & (d != 0), dtype=np.bool_)


def hedge_for_contracts(contracts: int, multiplier: Decimal, hedge_step: Decimal) -> tuple[Decimal, Decimal]:
    """Return the perp quantity that hedges ``contracts`` futures, and the residual delta left.

    Parameters
    ----------
    contracts : int
        Signed number of futures contracts (negative = short).
    multiplier : Decimal
        Base units per contract (0.1 BTC for MBT, 5 for BTC).
    hedge_step : Decimal
        Lot step of the perp.

    Returns
    -------
    tuple[Decimal, Decimal]
        ``(perp_qty, residual)``: signed perp quantity (opposite sign to the futures), a multiple of
        ``hedge_step`` rounded toward zero, and ``contracts * multiplier + perp_qty``, which is below one
        hedge step (hence below one contract whenever the perp's lot is finer than a contract).
    """
    base = Decimal(contracts) * multiplier
    perp = -(base / hedge_step).to_integral_value(rounding=ROUND_DOWN) * hedge_step
    return perp, base + perp


def globex_open(ts_ns: int) -> bool:
    """True when CME Globex trades at ``ts_ns``: Sunday 17:00 to Friday 16:00 Chicago, except 16:00-17:00.

    Holidays are not modelled here: a holiday has no bar in the daily file, so the quote the strategy sees is
    stale and its freshness check blocks trading instead.
    """
    local = datetime.fromtimestamp(ts_ns / _NS_PER_S, tz=UTC).astimezone(CHICAGO)
    wd, hour = local.weekday(), local.hour  # Monday = 0
    if wd == 5:
        return False
    if wd == 6:
        return hour >= 17
    if wd == 4:
        return hour < 16
    return hour != 16
