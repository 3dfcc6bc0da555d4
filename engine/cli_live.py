"""The live-side ``carry`` commands: paper, live, record, emulator, kill.

``engine.cli`` calls `register(app)` to add them. Commands:

- ``carry paper CONFIG [--duration S]``: a ``paper`` config (Sandbox fills on testnet/emulator data).
- ``carry live CONFIG [--confirm-live] [--duration S]``: a ``testnet`` or ``live`` config; a ``live``
  config is refused without ``--confirm-live``.
- ``carry record CONFIG --out DIR --duration S``: the legs' streams as replayable ``ndjson.gz``.
- ``carry emulator --port P [--data FILE ...] [--faults FILE] [--speed X] [--stream-time recorded|wall]``:
  the loopback Binance emulator.
- ``carry kill CONFIG``: writes the kill-switch flag ``<run.dir>/KILL``; the running node sees it within
  ``node.kill_poll_secs``, exits the carry (clip by clip, hedged), cancels what is open and stops.

Exit code 2 on a refused config or a node that cannot start, 1 when orders were left open at the venue
(journaled ``OPEN_AT_STOP``); messages never contain credentials.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from engine.errors import CarryError

console = Console(stderr=True, soft_wrap=True)

ConfigArg = Annotated[Path, typer.Argument(help="Deployment TOML, e.g. configs/paper/emulator.toml")]
DurationOpt = Annotated[
    float | None, typer.Option("--duration", min=0.0, help="Seconds to run (default: until stopped).")
]


class StreamTimeArg(StrEnum):
    """``carry emulator --stream-time``: see `engine.venues.emulator.EmulatorOptions.stream_time`."""

    recorded = "recorded"
    wall = "wall"


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def _run(config: Path, duration: float | None, allowed: tuple[str, ...], confirm_live: bool) -> None:
    from engine.config.live import load_live_config
    from engine.live.node import run_live

    try:
        cfg = load_live_config(config)
        if cfg.environment not in allowed:
            raise _fail(
                f"{config}: environment {cfg.environment!r} cannot run with this command "
                f"(it takes {' or '.join(allowed)})"
            )
        if cfg.environment == "live" and not confirm_live:
            raise _fail(f"{config} trades LIVE with real money: add --confirm-live to run it")
        outcome = run_live(cfg, duration)
    except CarryError as exc:
        raise _fail(str(exc)) from exc
    console.print(
        f"run [bold]{outcome.run_id}[/] {outcome.status} ({outcome.reason}): "
        f"{outcome.orders} orders, {outcome.fills} fills; journal {outcome.journal_url}"
    )
    if outcome.status.endswith("_OPEN_ORDERS"):
        console.print(
            "[bold red]orders are still open at the venue[/] (journaled as OPEN_AT_STOP): check them"
        )
        raise typer.Exit(code=1)


def paper(config: ConfigArg, duration: DurationOpt = None) -> None:
    """Paper-trade: nautilus Sandbox fills on the venues' testnet (or emulator) market data."""
    _run(config, duration, ("paper",), confirm_live=False)


def live(
    config: ConfigArg,
    confirm_live: Annotated[
        bool, typer.Option("--confirm-live", help="Required for environment = 'live' (real money).")
    ] = False,
    duration: DurationOpt = None,
) -> None:
    """Trade a testnet or live config through the ccxt venue clients (reconciled before it starts)."""
    _run(config, duration, ("testnet", "live"), confirm_live=confirm_live)


def record(
    config: ConfigArg,
    out: Annotated[Path, typer.Option("--out", help="Folder for the .ndjson.gz recordings.")],
    duration: Annotated[float, typer.Option("--duration", min=0.0, help="Seconds to record.")],
) -> None:
    """Record the config's venue streams in the format the backtest replays."""
    from engine.config.live import load_live_config
    from engine.live.record import record_streams

    try:
        cfg = load_live_config(config)
        recordings = asyncio.run(record_streams(cfg, out, duration))
    except CarryError as exc:
        raise _fail(str(exc)) from exc
    for rec in recordings:
        console.print(f"{rec.path}: {rec.book_lines} book, {rec.mark_lines} mark lines, {rec.errors} errors")


def emulator(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port on 127.0.0.1.")],
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="Binance recording to replay (repeat for more).")
    ] = None,
    faults: Annotated[Path | None, typer.Option("--faults", help="JSON/TOML fault rules.")] = None,
    speed: Annotated[float, typer.Option("--speed", min=0.0, help="Replay speed factor.")] = 1.0,
    stream_time: Annotated[
        StreamTimeArg,
        typer.Option(
            "--stream-time",
            help="Websocket stream times: 'recorded', or 'wall' (shifted to today, intervals kept; for "
            "nautilus's native Binance legs, which stamp data with the venue's event time).",
        ),
    ] = StreamTimeArg.recorded,
) -> None:
    """Run the loopback Binance emulator (spot /api/v3 and USD-M /fapi) until interrupted."""
    from engine.paths import data_root
    from engine.venues.emulator import serve

    files = list(data or [])
    if not files:
        root = data_root()
        files = [
            root / "binance/binance_spot_btcusdt_20230405.ndjson.gz",
            root / "binance/binance_usdm_btcusdt_20230405.ndjson.gz",
        ]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise _fail(f"recording not found: {', '.join(missing)}")
    if faults is not None and not faults.is_file():
        raise _fail(f"fault file not found: {faults}")
    serve(port, files, faults, speed=speed, stream_time=stream_time.value)


def kill(config: ConfigArg) -> None:
    """Raise the kill switch of a running node: it exits the carry, cancels open orders and stops."""
    from engine.config.live import load_live_config

    try:
        cfg = load_live_config(config)
    except CarryError as exc:
        raise _fail(str(exc)) from exc
    cfg.kill_file.parent.mkdir(parents=True, exist_ok=True)
    cfg.kill_file.write_text(f"kill requested {datetime.now(UTC).isoformat()}\n")
    console.print(f"kill switch raised: {cfg.kill_file}")


def register(app: typer.Typer) -> None:
    """Add the paper, live, record, emulator and kill commands to the ``carry`` app."""
    app.command()(paper)
    app.command()(live)
    app.command()(record)
    app.command()(emulator)
    app.command()(kill)
