"""The short summary table printed at the end of a run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def _money(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def print_summary(summary: Mapping[str, Any], console: Console | None = None) -> None:
    """Print the key figures of a run summary as a rich table.

    Parameters
    ----------
    summary : Mapping[str, Any]
        The dict returned by :func:`engine.report.write_report`.
    console : rich.console.Console, optional
        Where to print (default: a new console on stdout).
    """
    pnl = summary.get("pnl_usd", {})
    quote = summary.get("quote_currency", "USD")
    table = Table(
        title=f"{summary.get('strategy', '?')} ({summary.get('mode', '?')})",
        caption=f"{summary.get('start', '?')} -> {summary.get('end', '?')}",
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    wall = summary.get("wall_seconds") or 0.0
    events = summary.get("events", 0)
    rate = f" ({events / wall:,.0f}/s)" if wall > 0 else ""
    rows: list[tuple[str, str]] = [
        ("events", f"{events:,}{rate}"),
        ("wall seconds", f"{wall:,.1f}"),
        ("bad lines", f"{summary.get('bad_lines', 0):,}"),
        ("orders / fills", f"{summary.get('orders', 0):,} / {summary.get('fills', 0):,}"),
        ("entries / exits", f"{summary.get('entries', 0):,} / {summary.get('exits', 0):,}"),
        ("funding payments", f"{summary.get('funding_payments', 0):,}"),
        ("max |net delta| (base)", f"{summary.get('max_abs_net_delta_base', 0):.8f}"),
        (f"P&L funding ({quote})", _money(pnl.get("funding"))),
        (f"P&L basis ({quote})", _money(pnl.get("basis"))),
        (f"P&L fees ({quote})", _money(pnl.get("fees"))),
        (f"P&L total ({quote})", _money(pnl.get("total"))),
    ]
    denied = summary.get("order_events", {}).get("DENIED")
    if denied:
        rows.insert(4, ("orders denied", f"{denied:,}"))
    for name, value in rows:
        table.add_row(name, value)
    (console or Console()).print(table)
