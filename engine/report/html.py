"""report.html: one self-contained page (charts embedded as base64 and linked by file name)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.journal import Fill, FundingPayment, RiskEvent
from engine.report.charts import Chart
from engine.report.csvs import dec_text
from engine.report.summary import iso_utc

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 1150px;
       color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; font-family: ui-monospace, monospace; }
th { background: #f4f4f4; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.8em; color: #666; }
.note { color: #666; font-size: 0.85em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def flatten(summary: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten nested summary dicts to ``("pnl_usd.total", value)`` rows, keys sorted."""
    rows: list[tuple[str, Any]] = []
    for key in sorted(summary):
        value = summary[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{_e(value)}</td>"
    if isinstance(value, int | float):
        return f'<td class="num">{_e(value)}</td>'
    if isinstance(value, list | dict):
        return f"<td>{_e(json.dumps(value, sort_keys=True))}</td>"
    return f"<td>{_e(value)}</td>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(chart: Chart, out_dir: Path) -> str:
    data = base64.b64encode((out_dir / chart.filename).read_bytes()).decode("ascii")
    name = _e(chart.filename)
    return (
        f'<figure id="{name}"><img src="data:image/png;base64,{data}" alt="{_e(chart.title)}" '
        f'data-file="{name}"><figcaption>{_e(chart.title)} &middot; <a href="{name}">{name}</a>'
        "</figcaption></figure>"
    )


def render_html(
    summary: Mapping[str, Any],
    charts: Sequence[Chart],
    out_dir: Path,
    fills: Sequence[Fill],
    funding: Sequence[FundingPayment],
    risk_events: Sequence[RiskEvent],
    max_rows: int = 50,
) -> str:
    """Render the report page.

    Parameters
    ----------
    summary : Mapping[str, Any]
        The summary as written to ``summary.json``.
    charts : Sequence[Chart]
        Charts already written in ``out_dir``; each is embedded and linked by its file name.
    out_dir : Path
        The output folder.
    fills, funding, risk_events : Sequence
        The run's records; the first ``max_rows`` of each are tabulated.
    max_rows : int
        Rows shown per table (the CSVs have them all).
    """
    title = f"carry run {summary.get('run_id', '')}: {summary.get('strategy', '')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="note">{_e(summary.get("start"))} to {_e(summary.get("end"))} &middot; '
        'data: <a href="summary.json">summary.json</a>, <a href="fills.csv">fills.csv</a>, '
        '<a href="funding.csv">funding.csv</a></p>',
        "<h2>Summary</h2>",
        "<table><tbody>",
        *(f"<tr><th>{_e(k)}</th>{_cell(v)}</tr>" for k, v in flatten(summary)),
        "</tbody></table>",
        "<h2>Charts</h2>",
        *(_figure(c, out_dir) for c in charts),
    ]
    shown = fills[:max_rows]
    parts.append(f"<h2>Fills</h2><p class='note'>first {len(shown)} of {len(fills)} (all in fills.csv)</p>")
    parts.append(
        _table(
            (
                "ts",
                "instrument_id",
                "side",
                "qty",
                "price",
                "fee",
                "fee_currency",
                "client_order_id",
                "venue",
                "trade_id",
            ),
            [
                (
                    iso_utc(f.ts_ns),
                    f.instrument_id,
                    f.side,
                    dec_text(f.qty),
                    dec_text(f.price),
                    dec_text(f.fee),
                    f.fee_currency,
                    f.client_order_id,
                    f.venue,
                    f.trade_id,
                )
                for f in shown
            ],
            numeric={3, 4, 5},
        )
    )
    shown_f = funding[:max_rows]
    parts.append(
        f"<h2>Funding payments</h2><p class='note'>first {len(shown_f)} of {len(funding)} "
        "(all in funding.csv); amount &gt; 0 = received</p>"
    )
    parts.append(
        _table(
            ("ts", "instrument_id", "position_qty", "mark_price", "rate", "amount", "currency"),
            [
                (
                    iso_utc(p.ts_ns),
                    p.instrument_id,
                    dec_text(p.position_qty),
                    dec_text(p.mark_price),
                    dec_text(p.rate),
                    dec_text(p.amount),
                    p.currency,
                )
                for p in shown_f
            ],
            numeric={2, 3, 4, 5},
        )
    )
    if risk_events:
        shown_r = risk_events[:max_rows]
        parts.append(f"<h2>Risk events</h2><p class='note'>first {len(shown_r)} of {len(risk_events)}</p>")
        parts.append(
            _table(
                ("ts", "kind", "reason", "figures"),
                [(iso_utc(r.ts_ns), r.kind, r.reason, r.figures_json) for r in shown_r],
                numeric=set(),
            )
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)
