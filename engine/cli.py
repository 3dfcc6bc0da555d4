"""The ``carry`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from engine.errors import CarryError
from engine.paths import data_root

app = typer.Typer(add_completion=False, no_args_is_help=True, help="carry: cash-and-carry execution engine.")
console = Console(stderr=True, soft_wrap=True)  # never wrap a path in an error

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data root (default: $CARRY_DATA_DIR, else ../shared/data)."),
]


def _fail(exc: CarryError) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=2)


@app.command()
def backtest(
    config: Annotated[
        Path, typer.Argument(help="Backtest TOML, e.g. configs/backtest/binance_btc_carry_1h.toml")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder for journal, summary, CSVs and report.")],
    data_dir: DataDirOption = None,
    log_level: Annotated[str, typer.Option(help="nautilus log level (OFF, ERROR, WARNING, INFO).")] = "ERROR",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Replay a strategy over recorded data and write the journal and report."""
    from engine.backtest.dispatch import run_backtest_file
    from engine.report import print_summary

    try:
        result = run_backtest_file(config, out, data_root(data_dir), progress=progress, log_level=log_level)
    except CarryError as exc:
        raise _fail(exc) from exc
    print_summary(result.summary)
    console.print(f"outputs in [bold]{out}[/]: summary.json, fills.csv, funding.csv, report.html")


@app.command()
def signals(
    out: Annotated[Path, typer.Option("--out", help="Output folder for the signal CSVs and charts.")],
    data_dir: DataDirOption = None,
) -> None:
    """Compute the CME basis, flow attribution and cross-venue premium signals and chart them."""
    from engine.signals.run import run_signals

    try:
        result = run_signals(data_root(data_dir), out)
    except CarryError as exc:
        raise _fail(exc) from exc
    outputs = result.get("outputs", [])
    names = sorted(Path(str(p)).name for p in outputs) if isinstance(outputs, list | tuple | dict) else []
    console.print(f"signals written to [bold]{out}[/]: {', '.join(names)}")


def _register_live_commands() -> None:
    # paper, live, record, emulator, kill: their imports load only when one of them runs.
    from engine.cli_live import register

    register(app)


_register_live_commands()

if __name__ == "__main__":
    app()
