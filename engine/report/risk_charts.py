"""The risk module's chart: margin headroom and counterparty exposure per venue over time.

Drawn from the controller's periodic ``SAMPLE`` risk events (``headroom_<venue>``, ``exposure_usd_<venue>``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from engine.journal.models import RiskEvent
from engine.report.charts import Chart, _date_axis, _save, envelope, to_mpl_days

RISK_SERIES_PNG = "risk_headroom_exposure.png"


def plot_headroom_exposure(samples: Sequence[RiskEvent], out_dir: Path) -> list[Chart]:
    """Write the headroom/exposure chart from ``SAMPLE`` events; no chart without samples."""
    if not samples:
        return []
    ts = np.array([s.ts_ns for s in samples], dtype=np.int64)
    figures = [json.loads(s.figures_json) for s in samples]
    keys = sorted({k for f in figures for k in f})
    fig, (ax_h, ax_e) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, layout="constrained")
    x = to_mpl_days(ts)
    for key in keys:
        y = np.array([f.get(key, np.nan) if f.get(key) is not None else np.nan for f in figures], dtype=float)
        xs, ys = envelope(x, y)
        if key.startswith("headroom_"):
            ax_h.plot(xs, ys, lw=1, label=key.removeprefix("headroom_"))
        elif key.startswith("exposure_usd_"):
            ax_e.plot(xs, ys, lw=1, label=key.removeprefix("exposure_usd_"))
    ax_h.set_ylabel("margin headroom")
    ax_h.set_ylim(-0.05, 1.05)
    ax_h.set_title("Margin headroom and exposure per venue")
    ax_e.set_ylabel("exposure (USD)")
    for ax in (ax_h, ax_e):
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    _date_axis(ax_e)
    _save(fig, out_dir / RISK_SERIES_PNG)
    return [Chart("Margin headroom and exposure per venue", RISK_SERIES_PNG)]
