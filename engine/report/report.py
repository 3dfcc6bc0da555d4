"""write_report: summary.json, fills.csv, funding.csv, PNG charts and report.html, all from the journal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.journal import Journal, JournalError
from engine.report.charts import (
    Chart,
    ChartHook,
    plot_basis_funding,
    plot_equity,
    plot_pnl_attribution,
    plot_risk_events,
)
from engine.report.csvs import write_fills_csv, write_funding_csv
from engine.report.facts import DEFAULT_REGIMES, RegimeBand, RunFacts
from engine.report.html import render_html
from engine.report.risk_charts import plot_headroom_exposure
from engine.report.summary import build_summary, write_summary_json

EQUITY_PNG = "equity.png"
BASIS_FUNDING_PNG = "basis_funding.png"
PNL_PNG = "pnl_attribution.png"
RISK_PNG = "risk_events.png"


def write_report(
    journal: Journal,
    run_id: str,
    out_dir: Path,
    facts: RunFacts,
    *,
    regimes: Sequence[RegimeBand] = DEFAULT_REGIMES,
    chart_hooks: Sequence[ChartHook] = (),
    html_rows: int = 50,
) -> dict[str, Any]:
    """Write a run's report into ``out_dir`` and return its summary.

    Files: ``summary.json``, ``fills.csv``, ``funding.csv``, ``equity.png``, ``basis_funding.png``,
    ``pnl_attribution.png`` (and ``risk_events.png`` when the run has risk events), ``report.html``.

    Summary keys: ``run_id``, ``strategy``, ``mode``, ``status``, ``start`` and ``end`` (ISO UTC, ``Z``),
    ``events``, ``wall_seconds``, ``bad_lines``, ``orders`` (intents), ``order_events`` (count by status),
    ``fills``, ``funding_payments``, ``entries``, ``exits``, ``risk_events`` (count by kind),
    ``max_abs_net_delta_base``, ``quote_currency``, ``initial_equity_usd``, ``final_equity_usd`` and
    ``pnl_usd`` {``total``, ``funding``, ``basis``, ``fees``}, plus ``facts.extra``. Money is computed in
    Decimal and written as floats rounded to 8 dp; ``total`` and ``basis`` are null without equity.

    Parameters
    ----------
    journal : Journal
        The journal holding the run (buffered records are flushed first).
    run_id : str
        The run.
    out_dir : Path
        Output folder, created if missing; existing report files are overwritten.
    facts : RunFacts
        What only the runner knows (times, events, wall time, bad lines, initial equity).
    regimes : Sequence[RegimeBand]
        Premium regime bands shaded on the basis chart (default: DESIGN.md's).
    chart_hooks : Sequence[ChartHook]
        Extra charts (e.g. margin headroom and exposure per venue), appended to the page.
    html_rows : int
        Rows of each table shown in report.html.

    Returns
    -------
    dict
        The summary, as written to ``summary.json``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if journal.run(run_id) is None:
        raise JournalError(f"run {run_id!r} is not in the journal {journal.url}")
    summary = build_summary(journal, run_id, facts)
    write_summary_json(summary, out_dir / "summary.json")

    fills = journal.fills(run_id)
    funding = journal.funding(run_id)
    write_fills_csv(fills, out_dir / "fills.csv")
    write_funding_csv(funding, out_dir / "funding.csv")

    charts: list[Chart] = []
    eq = journal.equity_arrays(run_id)
    plot_equity(eq.ts_ns, eq.equity_usd, eq.by_venue, out_dir / EQUITY_PNG, facts.quote_currency)
    charts.append(Chart("Equity", EQUITY_PNG))

    market = journal.market_arrays(run_id)
    trades = journal.decisions(run_id, actions=("ENTER", "EXIT"))
    entries = np.array([d.ts_ns for d in trades if d.action == "ENTER"], dtype=np.int64)
    exits = np.array([d.ts_ns for d in trades if d.action == "EXIT"], dtype=np.int64)
    plot_basis_funding(
        market.ts_ns,
        market.basis_bps,
        market.funding_apr_pct,
        entries,
        exits,
        out_dir / BASIS_FUNDING_PNG,
        regimes,
    )
    charts.append(
        Chart("Basis (bps) and annualized funding (%), regimes shaded, entries and exits", BASIS_FUNDING_PNG)
    )

    plot_pnl_attribution(summary["pnl_usd"], out_dir / PNL_PNG, facts.quote_currency)
    charts.append(Chart("P&L attribution", PNL_PNG))

    all_risk = journal.risk_events(run_id)
    samples = [r for r in all_risk if r.kind == "SAMPLE"]
    risk_events = [r for r in all_risk if r.kind != "SAMPLE"]  # samples are series, charted on their own
    charts.extend(plot_headroom_exposure(samples, out_dir))
    if risk_events:
        ts = np.array([r.ts_ns for r in risk_events], dtype=np.int64)
        plot_risk_events(ts, [r.kind for r in risk_events], out_dir / RISK_PNG)
        charts.append(Chart("Risk events", RISK_PNG))
    for hook in chart_hooks:
        charts.extend(hook(journal, run_id, out_dir))

    page = render_html(summary, charts, out_dir, fills, funding, risk_events, max_rows=html_rows)
    (out_dir / "report.html").write_text(page, encoding="utf-8")
    return summary
