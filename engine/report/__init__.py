"""The run report, read back from the journal: summary.json, CSVs, PNG charts, report.html, console table."""

from engine.report.charts import Chart, ChartHook
from engine.report.console import print_summary
from engine.report.facts import DEFAULT_REGIMES, RegimeBand, RunFacts
from engine.report.report import write_report
from engine.report.summary import build_summary, iso_utc, max_abs_net_delta, pnl_attribution

__all__ = [
    "DEFAULT_REGIMES",
    "Chart",
    "ChartHook",
    "RegimeBand",
    "RunFacts",
    "build_summary",
    "iso_utc",
    "max_abs_net_delta",
    "pnl_attribution",
    "print_summary",
    "write_report",
]
