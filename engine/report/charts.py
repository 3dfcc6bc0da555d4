"""PNG charts of a run (matplotlib, Agg): equity, basis and funding with regimes and trades, P&L attribution.

Long runs (26k hourly samples, ~100k market samples) are reduced to a min/max envelope per pixel-sized
bucket before plotting: the picture is the same (spikes are kept) and rendering stays well under a second.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI; must precede pyplot

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from engine.report.facts import DEFAULT_REGIMES, RegimeBand

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from engine.journal import Journal

NS_PER_DAY = 86_400 * 10**9
MAX_POINTS = 4_000
MAX_TRADE_LINES = 200
DPI = 100
# Fixed metadata so that the same run gives byte-identical PNGs.
_PNG_META = {"Software": None}


@dataclass(frozen=True)
class Chart:
    """A chart written by the report: its title and file name inside the output folder."""

    title: str
    filename: str


#: A hook adding charts to the report (e.g. margin headroom and exposure per venue from the risk module):
#: called with the journal, the run id and the output folder, returns the charts it wrote there.
ChartHook = Callable[["Journal", str, Path], Sequence[Chart]]


def to_mpl_days(ts_ns: np.ndarray) -> np.ndarray:
    """Nanoseconds since the epoch to matplotlib date numbers (days since 1970-01-01)."""
    return ts_ns.astype(np.float64) / NS_PER_DAY


def envelope(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a series to at most ``max_points`` points keeping each bucket's min and max.

    Parameters
    ----------
    x, y : np.ndarray
        The series, ``x`` sorted. NaNs in ``y`` are ignored within a bucket (an all-NaN bucket stays NaN,
        which leaves a gap in the line, as the original would).
    max_points : int
        Upper bound of the returned length.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        ``x`` and ``y`` unchanged if short enough, else per bucket the bucket's first ``x`` twice, with the
        bucket's min and max.
    """
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = max(max_points // 2, 1)
    starts = np.linspace(0, n, buckets, endpoint=False).astype(np.int64)
    starts = np.unique(starts)
    with np.errstate(invalid="ignore"):
        lo = np.fmin.reduceat(y, starts)
        hi = np.fmax.reduceat(y, starts)
    xs = np.repeat(x[starts], 2)
    ys = np.empty(2 * len(starts))
    ys[0::2] = lo
    ys[1::2] = hi
    return xs, ys


def band_label(band: RegimeBand) -> str:
    """Legend text of a regime band, e.g. ``normal (+0.05%..+0.2%)`` or ``extreme (> +0.5%)``."""
    if band.low_pct is None:
        return f"{band.name} (< {band.high_pct:+g}%)"
    if band.high_pct is None:
        return f"{band.name} (> {band.low_pct:+g}%)"
    return f"{band.name} ({band.low_pct:+g}%..{band.high_pct:+g}%)"


def robust_limits(ax: Axes, y: np.ndarray, unit: str, tail_pct: float = 0.1) -> tuple[float, float]:
    """Set y-limits to the central mass of ``y`` so one outlier does not flatten the chart.

    The limits span the ``tail_pct``..``100 - tail_pct`` percentiles plus a 15% margin, always including 0.
    Samples left off-scale are counted in a note on the axes, with the extreme values.

    Returns
    -------
    tuple[float, float]
        The limits set.
    """
    finite = y[np.isfinite(y)]
    if len(finite) == 0:
        return ax.get_ylim()
    p_lo, p_hi = np.percentile(finite, [tail_pct, 100.0 - tail_pct])
    p_lo, p_hi = min(float(p_lo), 0.0), max(float(p_hi), 0.0)
    pad = 0.15 * max(p_hi - p_lo, 1e-9)
    lo = max(p_lo - pad, float(finite.min()) - pad * 0.1)
    hi = min(p_hi + pad, float(finite.max()) + pad * 0.1)
    ax.set_ylim(lo, hi)
    off = int(np.count_nonzero(finite < lo) + np.count_nonzero(finite > hi))
    if off:
        ax.text(
            0.005,
            0.02,
            f"{off} samples off-scale (min {finite.min():.1f}, max {finite.max():.1f} {unit})",
            transform=ax.transAxes,
            fontsize=7,
            color="#555",
        )
    return lo, hi


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI, metadata=_PNG_META)
    plt.close(fig)


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_equity(
    ts_ns: np.ndarray, equity: np.ndarray, by_venue: Mapping[str, np.ndarray], path: Path, quote: str = "USD"
) -> None:
    """Equity curve: the total on its own scale (so its moves show), each venue's equity beneath it."""
    if len(ts_ns) == 0:
        fig, ax = plt.subplots(figsize=(11, 4.5), layout="constrained")
        _empty(ax, "no equity snapshots journaled")
        ax.set_title("Equity")
        _save(fig, path)
        return
    fig, (ax, ax_v) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, height_ratios=(2, 1), layout="constrained"
    )
    x = to_mpl_days(ts_ns)
    ax.plot(*envelope(x, equity), color="black", lw=1.2)
    ax.set_ylabel(f"total equity ({quote})")
    ax.set_title("Equity")
    for venue, series in by_venue.items():
        ax_v.plot(*envelope(x, series), lw=0.9, label=venue)
    if by_venue:
        ax_v.legend(loc="best", fontsize=8)
    else:
        _empty(ax_v, "no per-venue equity journaled")
    ax_v.set_ylabel(f"by venue ({quote})")
    for axis in (ax, ax_v):
        axis.grid(alpha=0.3)
        axis.ticklabel_format(axis="y", useOffset=False, style="plain")
    _date_axis(ax_v)
    _save(fig, path)


def plot_basis_funding(
    ts_ns: np.ndarray,
    basis_bps: np.ndarray,
    funding_apr_pct: np.ndarray,
    entries_ns: np.ndarray,
    exits_ns: np.ndarray,
    path: Path,
    regimes: Sequence[RegimeBand] = DEFAULT_REGIMES,
) -> None:
    """Basis (bps) with the premium regime bands shaded, annualized funding (%), entries and exits marked."""
    fig, (ax_b, ax_f) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, layout="constrained")
    if len(ts_ns) == 0:
        _empty(ax_b, "no market samples journaled")
        _empty(ax_f, "no market samples journaled")
        ax_b.set_title("Basis and funding")
        _save(fig, path)
        return
    x = to_mpl_days(ts_ns)
    ax_b.plot(*envelope(x, basis_bps), color="#1f77b4", lw=0.8, label="basis")
    ax_f.plot(*envelope(x, funding_apr_pct), color="#8c564b", lw=0.8, label="funding APR")
    ax_f.axhline(0.0, color="grey", lw=0.6)
    ax_b.axhline(0.0, color="grey", lw=0.6)
    lo, hi = robust_limits(ax_b, basis_bps, "bps")
    robust_limits(ax_f, funding_apr_pct, "%")

    # Shade the regimes inside the visible range only, so an open-ended band does not stretch the axis.
    for band in regimes:
        b_lo = lo if band.low_pct is None else band.low_pct * 100.0  # percent -> bps
        b_hi = hi if band.high_pct is None else band.high_pct * 100.0
        if b_hi <= lo or b_lo >= hi:
            # Out of view: a legend entry only, so the reader still sees every band's bounds.
            ax_b.axhspan(0, 0, color=band.color, alpha=0.12, lw=0, label=band_label(band))
            continue
        ax_b.axhspan(max(b_lo, lo), min(b_hi, hi), color=band.color, alpha=0.12, lw=0, label=band_label(band))
    ax_b.set_ylim(lo, hi)

    finite = np.isfinite(basis_bps)
    for when, marker, color, label in (
        (entries_ns, "^", "#2ca02c", "entry"),
        (exits_ns, "v", "#d62728", "exit"),
    ):
        if len(when) == 0:
            continue
        wx = to_mpl_days(when)
        if finite.any():
            wy = np.interp(wx, x[finite], basis_bps[finite])
            ax_b.scatter(wx, wy, marker=marker, color=color, s=60, zorder=5, edgecolors="black", label=label)
        if len(wx) <= MAX_TRADE_LINES:  # beyond that the lines hide the series; the markers remain
            for axis in (ax_b, ax_f):
                axis.vlines(wx, 0, 1, transform=axis.get_xaxis_transform(), colors=color, lw=0.6, alpha=0.6)

    ax_b.set_ylabel("basis (bps)")
    ax_b.set_title("Basis and annualized funding")
    # Outside the axes: inside, it would hide the series wherever the data happens to be.
    ax_b.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    ax_f.set_ylabel("funding, annualized (%)")
    for axis in (ax_b, ax_f):
        axis.grid(alpha=0.3)
    _date_axis(ax_f)
    _save(fig, path)


def plot_pnl_attribution(pnl: Mapping[str, float | None], path: Path, quote: str = "USD") -> None:
    """Bars of the P&L attribution: funding, basis, fees and total."""
    names = ["funding", "basis", "fees", "total"]
    values = [pnl.get(k) for k in names]
    heights = [0.0 if v is None else float(v) for v in values]
    colors = ["#2ca02c" if h >= 0 else "#d62728" for h in heights]
    colors[-1] = "#1f77b4"
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    bars = ax.bar(names, heights, color=colors)
    for bar, v in zip(bars, values, strict=True):
        text = "n/a" if v is None else f"{v:,.2f}"
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom" if bar.get_height() >= 0 else "top",
            fontsize=9,
        )
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_ylabel(f"P&L ({quote})")
    ax.set_title("P&L attribution")
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def plot_risk_events(ts_ns: np.ndarray, kinds: Sequence[str], path: Path) -> None:
    """Risk events over time, one row per kind (denials, state changes, liquidations)."""
    names = sorted(set(kinds))
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.4 * len(names)), layout="constrained")
    x = to_mpl_days(ts_ns)
    rows = np.array([names.index(k) for k in kinds], dtype=np.float64)
    ax.scatter(x, rows, marker="|", s=200, color="#d62728")
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(-0.5, len(names) - 0.5)
    ax.set_title("Risk events")
    ax.grid(axis="x", alpha=0.3)
    _date_axis(ax)
    _save(fig, path)
