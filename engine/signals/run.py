"""Compute every signal over the shipped files and write CSVs, PNG charts and an HTML page.

``run_signals(data_root, out_dir)`` writes to ``out_dir``:

- ``cme_basis.csv``: ``date,contract,days_to_expiry,future_close,spot_close,annualized_basis``, the front
  and the next month of each CME day (see ``engine.signals.cme_basis`` for the spot pairing);
- ``attribution.csv``: ``date,cme_basis_annualized,funding_annualized,state``, the inputs as classified
  (CME basis of the front month, or the next month near expiry; Binance BTCUSDT funding from the funding
  history, trailing means per ``AttributionConfig``);
- ``premium.csv``: ``ts,venue,asset,premium_bps,regime,zscore``, per venue and ``global`` per 8-hour bar
  (``ts`` = the file's bar label, UTC);
- ``divergence.csv``: ``ts,asset,divergence_bps,days_above,persistent``;
- ``funding_daily.csv``: ``date,venue,pair,funding_annualized,settlements``, per venue and perpetual;
- ``premium_regimes.png``, ``cme_basis_vs_funding.png``, ``venue_premiums.png`` and ``signals.html``.
"""

from __future__ import annotations

import csv
import html
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import matplotlib.dates as mdates
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict

from engine.data.cme_daily import load_cme_daily
from engine.data.funding_csv import load_funding_history
from engine.data.multi_venue import MultiVenueBars, load_multi_venue
from engine.data.spot_daily import load_spot_daily
from engine.data.stats import LoadStats
from engine.paths import require_file
from engine.signals.attribution import STATE_NAMES, AttributionConfig, attribute, state_names
from engine.signals.cme_basis import CmeBasis, cme_basis, front_series, spot_close_by_day
from engine.signals.funding import daily_funding, settlements_to_arrays, trailing_mean
from engine.signals.premium import REGIME_NAMES, PremiumConfig, PremiumSignals, premium_signals, regime_names

FloatArray = npt.NDArray[np.float64]
DayArray = npt.NDArray[np.datetime64]

_STATE_COLORS = {
    "neutral": None,
    "institution_led": "#4c72b0",
    "leverage_led": "#dd8452",
    "synchronized_risk_on": "#c44e52",
}
_REGIME_COLORS = {
    "backwardation": "#8172b3",
    "flat": "#eeeeee",
    "normal": "#55a868",
    "elevated": "#ccb974",
    "high": "#dd8452",
    "extreme": "#c44e52",
}


class SignalsConfig(BaseModel):
    """What ``run_signals`` reads and how it classifies.

    Attributes
    ----------
    cme_file, spot_daily_file, funding_file, multi_venue_file : str
        Paths relative to the data root (or absolute).
    cme_root : {"MBT", "BTC"}
        The CME product of the basis.
    attribution : AttributionConfig
        Flow-attribution thresholds and windows.
    premium : PremiumConfig
        Premium bands, weighting, divergence and z-score settings.
    charts : bool
        Draw the PNG charts and the HTML page.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cme_file: str = "cme/cme_mbt_ohlcv1d_2021_2026.csv"
    spot_daily_file: str = "cme/binance_btcusdt_spot_1d_2017_2024.csv"
    funding_file: str = "binance/binance_btcusdt_funding_2019_2024.csv"
    multi_venue_file: str = "multi_venue/bin_byb_okx_8h_2023_2024.csv"
    cme_root: Literal["MBT", "BTC"] = "MBT"
    attribution: AttributionConfig = AttributionConfig()
    premium: PremiumConfig = PremiumConfig()
    charts: bool = True


def _num(x: float, digits: int = 10) -> str:
    return "" if not np.isfinite(x) else f"{x:.{digits}g}"


def _day_str(days: DayArray) -> list[str]:
    return [str(d) for d in np.datetime_as_string(days.astype("datetime64[D]"), unit="D")]


def _ts_str(ts_ns: npt.NDArray[np.int64]) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(ts_ns.astype("datetime64[ns]"), unit="s")]


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    n = 0
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow(row)
            n += 1
    return n


@dataclass(frozen=True, slots=True)
class AttributionSeries:
    """The daily inputs of the flow attribution as classified, and the state of each day."""

    day: DayArray
    contract: npt.NDArray[np.str_]
    cme_basis_annualized: FloatArray
    funding_annualized: FloatArray
    state: npt.NDArray[np.int8]


VenueFunding = tuple[str, str, DayArray, FloatArray, npt.NDArray[np.int64]]


@dataclass(frozen=True, slots=True)
class Signals:
    """Every signal computed from the files, and the files' load statistics."""

    basis: CmeBasis
    attribution: AttributionSeries
    premium: list[PremiumSignals]
    funding_daily: list[VenueFunding]
    stats: list[LoadStats]


def compute_signals(data_root: Path, config: SignalsConfig | None = None) -> Signals:
    """Load the files and compute every signal (nothing written).

    Parameters
    ----------
    data_root : Path
        Folder the configured file paths are relative to.
    config : SignalsConfig, optional
        Files and thresholds; defaults if omitted.
    """
    cfg = config or SignalsConfig()
    stats: list[LoadStats] = []
    cme, s = load_cme_daily(require_file(cfg.cme_file, data_root))
    stats.append(s)
    spot, s = load_spot_daily(require_file(cfg.spot_daily_file, data_root))
    stats.append(s)
    funding, s = load_funding_history(require_file(cfg.funding_file, data_root))
    stats.append(s)
    bars, s = load_multi_venue(require_file(cfg.multi_venue_file, data_root))
    stats.append(s)

    basis = cme_basis(cme, *spot_close_by_day(spot), root=cfg.cme_root)
    a = cfg.attribution
    b_day, b_ann, b_contract = front_series(basis, a.min_days_to_expiry)
    f_day, f_ann, _ = daily_funding(*settlements_to_arrays(funding))
    f_smooth = trailing_mean(f_ann, a.funding_window_days)
    b_smooth = trailing_mean(b_ann, a.cme_window_days)
    day, ib, jf = np.intersect1d(b_day, f_day, assume_unique=True, return_indices=True)
    cme_x, fund_x = b_smooth[ib], f_smooth[jf]
    attribution = AttributionSeries(day, b_contract[ib], cme_x, fund_x, attribute(cme_x, fund_x, a))
    premiums = [premium_signals(bars, crypto, cfg.premium) for crypto in bars.cryptos]
    return Signals(basis, attribution, premiums, _venue_funding(bars), stats)


def _venue_funding(bars: MultiVenueBars) -> list[VenueFunding]:
    out: list[VenueFunding] = []
    for series in bars.series.values():
        if series.is_spot:
            continue
        # The file gives one rate per 8-hour bar; the interval is the bar length.
        days, ann, count = daily_funding(series.ts_ns, series.funding, 8)
        out.append((series.exchange, series.pair, days, ann, count))
    return out


def run_signals(data_root: Path, out_dir: Path, config: SignalsConfig | None = None) -> dict[str, object]:
    """Compute the signals and write the CSVs, charts and ``signals.html`` into ``out_dir``.

    Parameters
    ----------
    data_root : Path
        Folder holding the shared data files (``engine.paths.data_root()``).
    out_dir : Path
        Output folder; created if missing.
    config : SignalsConfig, optional
        Files and thresholds; defaults if omitted.

    Returns
    -------
    dict
        ``outputs`` (name -> path), ``rows`` (CSV name -> data rows), ``bad_lines`` (total over the
        loaded files), ``load_stats`` (per file), ``attribution_days`` (state -> days),
        ``premium_regime_bars`` (asset -> regime -> bars of the global premium),
        ``persistent_divergence_bars`` and ``max_divergence_bps`` (per asset) and ``seconds``.
    """
    cfg = config or SignalsConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sig = compute_signals(Path(data_root), cfg)
    t1 = time.perf_counter()
    basis, attr, premiums, stats = sig.basis, sig.attribution, sig.premium, sig.stats
    outputs: dict[str, str] = {}
    rows: dict[str, int] = {}

    p = out / "cme_basis.csv"
    rows[p.name] = _write_csv(
        p,
        ("date", "contract", "days_to_expiry", "future_close", "spot_close", "annualized_basis"),
        zip(
            _day_str(basis.day),
            basis.contract.tolist(),
            basis.days_to_expiry.tolist(),
            [_num(x) for x in basis.future_close],
            [_num(x) for x in basis.spot_close],
            [_num(x) for x in basis.annualized_basis],
            strict=True,
        ),
    )
    outputs[p.name] = str(p)

    p = out / "attribution.csv"
    rows[p.name] = _write_csv(
        p,
        ("date", "cme_basis_annualized", "funding_annualized", "state"),
        zip(
            _day_str(attr.day),
            [_num(x) for x in attr.cme_basis_annualized],
            [_num(x) for x in attr.funding_annualized],
            state_names(attr.state).tolist(),
            strict=True,
        ),
    )
    outputs[p.name] = str(p)

    p = out / "premium.csv"
    header = ("ts", "venue", "asset", "premium_bps", "regime", "zscore")
    rows[p.name] = _write_csv(p, header, _premium_rows(premiums))
    outputs[p.name] = str(p)

    p = out / "divergence.csv"
    div_rows = []
    for ps in premiums:
        for ts, d, days, persistent in zip(
            _ts_str(ps.ts_ns), ps.divergence_bps, ps.divergence_days, ps.divergence_persistent, strict=True
        ):
            div_rows.append((ts, ps.asset, _num(d, 6), _num(days, 6), int(persistent)))
    rows[p.name] = _write_csv(p, ("ts", "asset", "divergence_bps", "days_above", "persistent"), div_rows)
    outputs[p.name] = str(p)

    p = out / "funding_daily.csv"
    f_rows = []
    for venue, pair, days_arr, ann, count in sig.funding_daily:
        for d, x, n in zip(_day_str(days_arr), ann, count, strict=True):
            f_rows.append((d, venue, pair, _num(x, 8), int(n)))
    rows[p.name] = _write_csv(p, ("date", "venue", "pair", "funding_annualized", "settlements"), f_rows)
    outputs[p.name] = str(p)
    t2 = time.perf_counter()

    attribution_days = {
        name: int(np.count_nonzero(attr.state == code)) for code, name in enumerate(STATE_NAMES)
    }
    regime_bars = {
        ps.asset: {
            name: int(np.count_nonzero(ps.global_regime == code)) for code, name in enumerate(REGIME_NAMES)
        }
        for ps in premiums
    }
    result: dict[str, object] = {
        "outputs": outputs,
        "rows": rows,
        "bad_lines": sum(s.bad_lines for s in stats),
        "load_stats": [s.as_dict() for s in stats],
        "attribution_days": attribution_days,
        "premium_regime_bars": regime_bars,
        "persistent_divergence_bars": {ps.asset: int(ps.divergence_persistent.sum()) for ps in premiums},
        "max_divergence_bps": {ps.asset: float(np.nanmax(ps.divergence_bps)) for ps in premiums},
    }
    if cfg.charts:
        charts = _draw_charts(out, basis, attr, premiums, cfg)
        outputs.update(charts)
        page = out / "signals.html"
        page.write_text(_html(result, charts, stats), encoding="utf-8")
        outputs[page.name] = str(page)
    t3 = time.perf_counter()
    result["seconds"] = {"compute": t1 - t0, "write_csv": t2 - t1, "charts": t3 - t2}
    return result


def _premium_rows(premiums: Sequence[PremiumSignals]) -> Iterable[tuple[str, str, str, str, str, str]]:
    for ps in premiums:
        ts = _ts_str(ps.ts_ns)
        for v, venue in enumerate(ps.venues):
            reg = regime_names(ps.regime[v]).tolist()
            for i, t in enumerate(ts):
                yield t, venue, ps.asset, _num(ps.premium_bps[v, i], 8), reg[i], _num(ps.zscore[v, i], 6)
        greg = regime_names(ps.global_regime).tolist()
        for i, t in enumerate(ts):
            yield (
                t,
                "global",
                ps.asset,
                _num(ps.global_premium_bps[i], 8),
                greg[i],
                _num(ps.global_zscore[i], 6),
            )


def _shade_bands(ax: Axes, cfg: SignalsConfig, lo: float, hi: float) -> None:
    b = cfg.premium.bands
    edges = [
        ("backwardation", min(lo, b.backwardation_below_bps), b.backwardation_below_bps),
        ("flat", b.backwardation_below_bps, b.normal_from_bps),
        ("normal", b.normal_from_bps, b.normal_to_bps),
        ("elevated", b.normal_to_bps, b.high_from_bps),
        ("high", b.high_from_bps, b.extreme_above_bps),
        ("extreme", b.extreme_above_bps, max(hi, b.extreme_above_bps)),
    ]
    for name, y0, y1 in edges:
        ax.axhspan(y0, y1, color=_REGIME_COLORS[name], alpha=0.25, lw=0, label=name)


def _draw_charts(
    out: Path,
    basis: CmeBasis,
    attr: AttributionSeries,
    premiums: Sequence[PremiumSignals],
    cfg: SignalsConfig,
) -> dict[str, str]:
    charts: dict[str, str] = {}
    b = cfg.premium.bands

    fig = Figure(figsize=(11, 3.2 * len(premiums)), layout="constrained")
    axes = fig.subplots(len(premiums), 1, squeeze=False)[:, 0]
    for ax, ps in zip(axes, premiums, strict=True):
        t = ps.ts_ns.astype("datetime64[ns]")
        lo = min(float(np.nanmin(ps.premium_bps)), b.backwardation_below_bps - 10)
        hi = max(float(np.nanmax(ps.premium_bps)), b.extreme_above_bps + 10)
        _shade_bands(ax, cfg, lo, hi)
        for v, venue in enumerate(ps.venues):
            ax.plot(t, ps.premium_bps[v], lw=0.5, alpha=0.5, label=venue)
        ax.plot(t, ps.global_premium_bps, lw=1.2, color="black", label="global (weighted)")
        ax.set_ylim(lo, hi)
        ax.set_ylabel("perp premium, bps")
        ax.set_title(f"{ps.asset}: perp premium over spot (8h closes) with regime bands")
        ax.legend(loc="upper left", fontsize=7, ncol=5)
    p = out / "premium_regimes.png"
    fig.savefig(p, dpi=110)
    charts[p.name] = str(p)

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax = fig.subplots()
    day = attr.day
    ax.plot(day, 100 * attr.cme_basis_annualized, lw=0.9, label="CME basis, annualized")
    ax.plot(day, 100 * attr.funding_annualized, lw=0.9, label="Binance funding APR (trailing)")
    front = basis.select(0)
    ax.plot(
        front.day, 100 * front.annualized_basis, lw=0.3, alpha=0.4, color="grey", label="front month (raw)"
    )
    state = attr.state
    for code, name in enumerate(STATE_NAMES):
        color = _STATE_COLORS[name]
        if color is None:
            continue
        ax.fill_between(
            day,
            0,
            1,
            where=state == code,
            transform=ax.get_xaxis_transform(),
            color=color,
            alpha=0.18,
            lw=0,
            step="mid",
            label=name.replace("_", " "),
        )
    ax.axhline(100 * cfg.attribution.cme_rich, color="#4c72b0", ls=":", lw=0.8)
    ax.axhline(100 * cfg.attribution.funding_rich, color="#dd8452", ls=":", lw=0.8)
    ax.set_ylim(-40, 60)
    ax.set_ylabel("% a year")
    ax.set_title(f"CME {cfg.cme_root} basis against offshore funding, flow attribution shaded")
    ax.legend(loc="upper right", fontsize=7, ncol=3)
    p = out / "cme_basis_vs_funding.png"
    fig.savefig(p, dpi=110)
    charts[p.name] = str(p)

    n_venues = max(len(ps.venues) for ps in premiums)
    fig = Figure(figsize=(4 * n_venues, 3 * len(premiums)), layout="constrained")
    grid = fig.subplots(len(premiums), n_venues, squeeze=False, sharey="row")
    for r, ps in enumerate(premiums):
        t = ps.ts_ns.astype("datetime64[ns]")
        for v, venue in enumerate(ps.venues):
            ax = grid[r, v]
            ax.plot(t, ps.premium_bps[v], lw=0.5)
            ax.plot(t, trailing_mean(ps.premium_bps[v], 21), lw=1.0, color="black")
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_title(f"{venue} {ps.asset}", fontsize=9)
            locator = mdates.AutoDateLocator(maxticks=5)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            ax.tick_params(labelsize=7)
        grid[r, 0].set_ylabel("premium, bps (black: 7-day mean)")
    p = out / "venue_premiums.png"
    fig.savefig(p, dpi=100)
    charts[p.name] = str(p)
    return charts


_NOTES = (
    "CME daily bars are UTC days and are paired with the Binance daily close of the same UTC date. "
    "Attribution uses the front month (the next month within a week of expiry) and the trailing mean of "
    "Binance BTCUSDT funding. In the multi-venue file a Bybit or OKX bar's close is the price 4 h after its "
    "label, a Binance bar's 8 h after: premiums are computed within each venue, and the global premium is "
    "the volume-weighted mean of the venues' premiums."
)


def _html(result: dict[str, object], charts: dict[str, str], stats: Sequence[LoadStats]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, Mapping):
            return ", ".join(f"{k} {cell(x)}" for k, x in v.items() if x)
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    def table(d: object) -> str:
        items = d.items() if isinstance(d, Mapping) else []
        body = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(cell(v))}</td></tr>" for k, v in items
        )
        return f"<table>{body}</table>"

    loads = {s.source: f"{s.events} rows, {s.bad_lines} bad" for s in stats}
    imgs = "".join(
        f'<h2>{html.escape(Path(path).stem.replace("_", " "))}</h2><img src="{html.escape(Path(path).name)}">'
        for path in charts.values()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>carry signals</title>"
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%}"
        "td{padding:2px 10px;border-bottom:1px solid #ddd}</style></head><body>"
        "<h1>carry signals</h1>"
        f"<h2>files</h2>{table(loads)}"
        f"<h2>attribution, days per state</h2>{table(result['attribution_days'])}"
        f"<h2>global premium regime, bars</h2>{table(result['premium_regime_bars'])}"
        f"<h2>cross-venue divergence, max bps (smoothed)</h2>{table(result['max_divergence_bps'])}"
        f"<p>{html.escape(_NOTES)}</p>"
        f"{imgs}</body></html>"
    )
