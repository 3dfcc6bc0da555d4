"""Perpetual premium over spot per venue, its regime band, a weighted global premium, cross-venue
divergence and its persistence, and a z-score against a trailing one-year baseline.

Premium, in basis points, per venue and bar: ``(perp_close / spot_close - 1) * 10_000``, the venue's
USDT-margined perpetual against its own USDT spot market (same quote currency, so no USD/USDT basis
creeps in). Coin-margined perpetuals are quoted in USD and are left out unless configured.

Regime bands (DESIGN.md, configurable): backwardation below -0.2%; normal contango +0.05% to +0.2%; high
+0.3% to +0.5%; extreme above +0.5%. The gaps between DESIGN's bands get their own names so that every
value has one: ``flat`` (-0.2% to +0.05%) and ``elevated`` (+0.2% to +0.3%). A value on a boundary
belongs to the named band (0.2% is normal, 0.5% is high, -0.2% is flat).

Global premium, two methods (``global_method``):

- ``premium_mean`` (default): the weighted mean of the venues' own premiums, ``sum w_v prem_v / sum w_v``
  with ``w_v`` the venue perpetual's weight. Each venue's premium compares its perp and spot closes at the
  same instant, so this stays right when venues' bars are stamped at different instants, which they are
  in the shipped multi-venue file: measured against Binance's hourly closes, a Binance bar's close is the
  price 8 h after its label, a Bybit or OKX bar's close the price 4 h after its label (median gap under
  1.5 bps at those offsets, 17-24 bps one hour either side). To first order in the price differences
  between venues it equals the index ratio below.
- ``index_ratio``: a weighted perpetual index against a weighted spot index,
  ``(sum w_v perp_v / sum w_v) / (sum u_v spot_v / sum u_v) - 1``, the textbook form; only meaningful
  when all venues' closes are taken at the same instant (with the shipped file it mixes closes 4 h
  apart and swings by tens of bps for that reason alone).

Weights are each market's trailing mean quote volume (close x base volume; the file's volumes are in base
units on all three venues, checked by their quote-volume magnitudes) over ``weight_window_days``, or equal.

Divergence: the spread between the highest and the lowest venue premium at each bar, after a trailing
mean over ``divergence_smoothing_bars`` bars (one 8-hour print should not start a streak); it is
persistent once it has stayed above ``divergence_threshold_bps`` (0.2 percentage points = 20 bps) for
``divergence_min_days`` days in a row.

Z-score: ``(x_t - mean) / std`` of the ``zscore_window_days`` before bar t (the bar itself excluded), once
at least ``zscore_min_days`` of history exist; NaN before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.data.multi_venue import MultiVenueBars, VenueSeries
from engine.signals.funding import trailing_mean

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
NS_PER_HOUR = 3_600 * 1_000_000_000
BPS = 10_000.0

BACKWARDATION: Final = 0
FLAT: Final = 1
NORMAL: Final = 2
ELEVATED: Final = 3
HIGH: Final = 4
EXTREME: Final = 5
REGIME_NAMES: Final[tuple[str, ...]] = ("backwardation", "flat", "normal", "elevated", "high", "extreme")


class PremiumBands(BaseModel):
    """Regime band edges in basis points (DESIGN.md defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backwardation_below_bps: float = -20.0
    normal_from_bps: float = 5.0
    normal_to_bps: float = 20.0
    high_from_bps: float = 30.0
    extreme_above_bps: float = 50.0

    @model_validator(mode="after")
    def _ordered(self) -> PremiumBands:
        edges = [
            self.backwardation_below_bps,
            self.normal_from_bps,
            self.normal_to_bps,
            self.high_from_bps,
            self.extreme_above_bps,
        ]
        if not all(np.isfinite(edges)) or edges != sorted(edges):
            raise ValueError(f"band edges must be finite and ascending, got {edges}")
        return self


class PremiumConfig(BaseModel):
    """Settings of the premium signals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bands: PremiumBands = PremiumBands()
    weighting: Literal["quote_volume", "equal"] = "quote_volume"
    global_method: Literal["premium_mean", "index_ratio"] = "premium_mean"
    weight_window_days: float = Field(default=30.0, gt=0)
    divergence_threshold_bps: float = Field(default=20.0, ge=0)
    divergence_min_days: float = Field(default=7.0, gt=0)
    divergence_smoothing_bars: int = Field(default=3, ge=1)
    zscore_window_days: float = Field(default=365.0, gt=0)
    zscore_min_days: float = Field(default=30.0, gt=0)
    coin_margined: bool = False


def premium_bps(perp_close: FloatArray, spot_close: FloatArray) -> FloatArray:
    """Return ``(perp / spot - 1) * 10_000``; NaN where a price is missing or not positive."""
    p = np.asarray(perp_close, dtype=np.float64)
    s = np.asarray(spot_close, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((p > 0) & (s > 0), (p / s - 1.0) * BPS, np.nan)


def regime(premium: FloatArray, bands: PremiumBands | None = None) -> npt.NDArray[np.int8]:
    """Return the regime code of each premium (index into ``REGIME_NAMES``); -1 where NaN."""
    b = bands or PremiumBands()
    x = np.asarray(premium, dtype=np.float64)
    codes = np.select(
        [
            x < b.backwardation_below_bps,
            x < b.normal_from_bps,
            x <= b.normal_to_bps,
            x < b.high_from_bps,
            x <= b.extreme_above_bps,
            x > b.extreme_above_bps,
        ],
        [BACKWARDATION, FLAT, NORMAL, ELEVATED, HIGH, EXTREME],
        default=-1,
    )
    return codes.astype(np.int8)


def regime_names(codes: npt.NDArray[np.int8]) -> npt.NDArray[np.str_]:
    """Return the names of regime codes (``""`` for -1)."""
    names = np.asarray((*REGIME_NAMES, ""), dtype=np.str_)
    c = np.asarray(codes, dtype=np.intp)
    return names[np.where(c < 0, len(REGIME_NAMES), c)]


def trailing_zscore(values: FloatArray, window: int, min_periods: int) -> FloatArray:
    """Return each value's z-score against the ``window`` values before it (NaNs skipped).

    NaN where fewer than ``min_periods`` finite values precede it, or their standard deviation is zero.
    """
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    x = np.where(ok, v, 0.0)
    c1 = np.concatenate(([0.0], np.cumsum(x)))
    c2 = np.concatenate(([0.0], np.cumsum(x * x)))
    cn = np.concatenate(([0], np.cumsum(ok)))
    t = np.arange(len(v))
    lo = np.maximum(t - window, 0)
    n = (cn[t] - cn[lo]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1[t] - c1[lo]) / n
        var = (c2[t] - c2[lo]) / n - mean * mean
        std = np.sqrt(np.maximum(var, 0.0) * n / (n - 1.0))  # sample standard deviation
        z = (v - mean) / std
    return np.where((n >= max(min_periods, 2)) & (std > 0) & ok, z, np.nan)


def run_length(flag: npt.NDArray[np.bool_]) -> IntArray:
    """Return, at each position, how many consecutive True values end there (0 where False)."""
    f = np.asarray(flag, dtype=bool)
    idx = np.arange(len(f), dtype=np.int64)
    last_false = np.maximum.accumulate(np.where(f, -1, idx))
    return np.where(f, idx - last_false, 0)


def weighted_index(prices: FloatArray, weights: FloatArray) -> FloatArray:
    """Return the weighted mean over rows (venues) of ``prices`` at each column (bar), NaNs skipped."""
    p = np.asarray(prices, dtype=np.float64)
    w = np.where(np.isfinite(p), np.nan_to_num(np.asarray(weights, dtype=np.float64)), 0.0)
    num = np.nansum(p * w, axis=0)
    den = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def divergence_bps(premiums: FloatArray) -> FloatArray:
    """Return the highest minus the lowest venue premium at each bar (NaN with fewer than two venues)."""
    p = np.asarray(premiums, dtype=np.float64)
    n = np.isfinite(p).sum(axis=0)
    hi = np.max(np.where(np.isfinite(p), p, -np.inf), axis=0)
    lo = np.min(np.where(np.isfinite(p), p, np.inf), axis=0)
    return np.where(n >= 2, hi - lo, np.nan)


@dataclass(frozen=True, slots=True)
class PremiumSignals:
    """Premium signals of one asset over a common bar grid.

    Attributes
    ----------
    asset : str
        Base asset, e.g. ``BTC``.
    ts_ns : ndarray of int64
        Bar open times, UTC ns.
    bar_hours : float
        Bar length.
    venues : tuple of str
        Row order of the per-venue arrays.
    premium_bps, zscore : ndarray of float64, shape (venues, bars)
        Per-venue premium and its z-score.
    regime : ndarray of int8, shape (venues, bars)
        Per-venue regime code.
    global_premium_bps, global_zscore : ndarray of float64
        Weighted global perp-vs-spot premium and its z-score.
    global_regime : ndarray of int8
        Its regime code.
    divergence_bps : ndarray of float64
        Smoothed cross-venue spread of premiums.
    divergence_days : ndarray of float64
        How long the divergence has been above the threshold, in days (0 when not).
    divergence_persistent : ndarray of bool
        ``divergence_days >= divergence_min_days``.
    """

    asset: str
    ts_ns: IntArray
    bar_hours: float
    venues: tuple[str, ...]
    premium_bps: FloatArray
    regime: npt.NDArray[np.int8]
    zscore: FloatArray
    global_premium_bps: FloatArray
    global_regime: npt.NDArray[np.int8]
    global_zscore: FloatArray
    divergence_bps: FloatArray
    divergence_days: FloatArray
    divergence_persistent: npt.NDArray[np.bool_]


def _on_grid(series: VenueSeries, grid: IntArray, values: FloatArray) -> FloatArray:
    out = np.full(len(grid), np.nan)
    pos = np.searchsorted(grid, series.ts_ns)
    out[pos] = values
    return out


def premium_signals(bars: MultiVenueBars, crypto: str, config: PremiumConfig | None = None) -> PremiumSignals:
    """Compute the premium signals of one asset across the venues of a multi-venue file.

    Parameters
    ----------
    bars : MultiVenueBars
        The loaded file.
    crypto : str
        The file's asset name (``bitcoin``, ``ethereum``).
    config : PremiumConfig, optional
        Bands, weighting and windows; defaults if omitted.

    Raises
    ------
    KeyError
        If no venue has both a spot market and a perpetual of the asset.
    """
    cfg = config or PremiumConfig()
    pairs: list[tuple[str, VenueSeries, VenueSeries]] = []
    for exchange in bars.exchanges:
        try:
            pairs.append(
                (exchange, bars.perp(exchange, crypto, cfg.coin_margined), bars.spot(exchange, crypto))
            )
        except KeyError:
            continue
    if not pairs:
        raise KeyError(f"no venue has both a spot market and a perpetual of {crypto}")
    grid = np.unique(np.concatenate([s.ts_ns for _, p, sp in pairs for s in (p, sp)]))
    bar_hours = float(np.median(np.diff(grid)) / NS_PER_HOUR) if len(grid) > 1 else 8.0
    bars_per_day = 24.0 / bar_hours
    perp = np.vstack([_on_grid(p, grid, p.close) for _, p, _ in pairs])
    spot = np.vstack([_on_grid(s, grid, s.close) for _, _, s in pairs])
    prem = premium_bps(perp, spot)
    z_window = max(round(cfg.zscore_window_days * bars_per_day), 1)
    z_min = max(round(cfg.zscore_min_days * bars_per_day), 2)
    zscore = np.vstack([trailing_zscore(row, z_window, z_min) for row in prem])

    if cfg.weighting == "equal":
        w_perp = np.ones_like(perp)
        w_spot = np.ones_like(spot)
    else:
        w_window = max(round(cfg.weight_window_days * bars_per_day), 1)
        w_perp = np.vstack(
            [trailing_mean(_on_grid(p, grid, p.close * p.volume), w_window) for _, p, _ in pairs]
        )
        w_spot = np.vstack(
            [trailing_mean(_on_grid(s, grid, s.close * s.volume), w_window) for _, _, s in pairs]
        )
    if cfg.global_method == "premium_mean":
        glob = weighted_index(prem, w_perp)
    else:
        glob = premium_bps(weighted_index(perp, w_perp), weighted_index(spot, w_spot))

    smooth = np.vstack([trailing_mean(row, cfg.divergence_smoothing_bars) for row in prem])
    div = divergence_bps(smooth)
    with np.errstate(invalid="ignore"):
        above = div > cfg.divergence_threshold_bps
    days = run_length(above) / bars_per_day
    asset = pairs[0][2].pair.split("/")[0]
    return PremiumSignals(
        asset=asset,
        ts_ns=grid,
        bar_hours=bar_hours,
        venues=tuple(v for v, _, _ in pairs),
        premium_bps=prem,
        regime=regime(prem, cfg.bands),
        zscore=zscore,
        global_premium_bps=glob,
        global_regime=regime(glob, cfg.bands),
        global_zscore=trailing_zscore(glob, z_window, z_min),
        divergence_bps=div,
        divergence_days=days,
        divergence_persistent=days >= cfg.divergence_min_days,
    )
