"""Run a carry backtest end to end: assemble, replay, journal, report."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import Venue
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from engine.accounting import mid, venue_equity_usd
from engine.backtest.assembly import Assembled, StreamWrap, build_engine
from engine.config.backtest import BacktestConfig
from engine.journal.journal import Journal, remove_sqlite_journal
from engine.recorder import JournalRecorder
from engine.report import RunFacts, write_report
from engine.strategy_factory import spot_perp_carry_config
from risk.controller import RiskController
from risk.mirror import slot_spec
from strategies.spot_perp_carry import SpotPerpCarry

STRATEGY_NAME = "SpotPerpCarry"


@dataclass(frozen=True)
class BacktestResult:
    """What a run produced."""

    run_id: str
    out_dir: Path
    summary: dict[str, object]
    assembled: Assembled


def run_id_for(cfg: BacktestConfig) -> str:
    """A deterministic run id: the run name plus a digest of the whole config (reruns share it)."""
    digest = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:12]
    return f"{cfg.run.name}-{digest}"


def run_backtest(
    cfg: BacktestConfig,
    out_dir: Path,
    data_root: Path,
    progress: bool = False,
    log_level: str = "ERROR",
) -> BacktestResult:
    """Replay ``cfg`` over its recorded data and write the journal and report into ``out_dir``.

    Parameters
    ----------
    cfg : BacktestConfig
        The validated deployment config.
    out_dir : Path
        Created if missing; ``journal.sqlite`` (unless the config names another journal URL),
        ``summary.json``, ``fills.csv``, ``funding.csv``, charts and ``report.html`` are written there.
    data_root : Path
        Where the config's data paths are resolved.
    progress : bool
        Show a rich progress bar over the data's time span.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    wall0 = time.perf_counter()
    with _progress(cfg, progress) as wrap:
        a = build_engine(cfg, data_root, log_level, wrap)
        summary, run_id = _replay(a, cfg, out_dir, wall0)
    return BacktestResult(run_id, out_dir, summary, a)


def _replay(a: Assembled, cfg: BacktestConfig, out_dir: Path, wall0: float) -> tuple[dict[str, object], str]:
    run_id = run_id_for(cfg)
    journal_path = out_dir / "journal.sqlite"
    if cfg.journal.url is None:
        remove_sqlite_journal(journal_path)  # a rerun into the same folder starts from an empty journal
    # Intents are still committed before each order is sent; a backtest skips the fsync (a rerun reproduces
    # it exactly), paper and live journals wait for the disk.
    journal = Journal(cfg.journal.url or f"sqlite:///{journal_path}", durable=False)
    journal.start_run(
        run_id, STRATEGY_NAME, cfg.environment, cfg.model_dump_json(), start_ns=cfg.run.start_ns, replace=True
    )
    kernel = a.engine.kernel
    # The risk controller (and its gate on the message bus) goes in before any strategy can send.
    controller = RiskController(cfg.risk, [slot_spec(a.spot), slot_spec(a.perp)])
    a.engine.add_actor(controller)
    controller.attach(kernel)
    a.liquidation._on_liquidation = controller.count_liquidation
    strategy = SpotPerpCarry(spot_perp_carry_config(cfg.strategy, a.spot, a.perp))
    a.engine.add_strategy(strategy)
    spot_venue, perp_venue = Venue(cfg.spot.venue), Venue(cfg.perp.venue)

    def equity() -> tuple[Decimal, dict[str, Decimal]]:
        spot_mid = mid(kernel.cache, a.spot.id) or Decimal(0)
        prices = {cfg.spot.base: spot_mid}
        by_venue = {
            cfg.spot.venue: venue_equity_usd(kernel.cache, kernel.portfolio, spot_venue, prices, []),
            cfg.perp.venue: venue_equity_usd(kernel.cache, kernel.portfolio, perp_venue, prices, [a.perp.id]),
        }
        return sum(by_venue.values(), Decimal(0)), by_venue

    recorder = JournalRecorder(journal, run_id, kernel.msgbus, kernel.cache, equity)
    # Replay without finalizing, then exit while the kernel still runs: a hedge sent from an exit fill must
    # still reach the venue, which it cannot once the engine has stopped its components.
    a.engine.run(start=cfg.run.start, end=cfg.run.end, streaming=True)
    if cfg.strategy.close_on_stop:
        now = kernel.clock.timestamp_ns()
        strategy.request_exit("end_of_data")
        a.engine.run(start=now, end=now, streaming=True)  # no data left: drains the exit's orders and hedges
    a.engine.end()
    a.funding.flush()
    end_ns = kernel.clock.timestamp_ns()
    recorder.snapshot_equity(end_ns)
    journal.finish_run(run_id, "COMPLETED", end_ns=end_ns)
    first = journal.first_equity(run_id)  # taken at the first market sample, before any decision
    initial = first.equity_usd if first is not None else Decimal(0)
    facts = RunFacts(
        strategy=STRATEGY_NAME,
        start_ns=cfg.run.start_ns,
        end_ns=cfg.run.end_ns,
        events=sum(s.events for s in a.stats),
        wall_seconds=time.perf_counter() - wall0,
        bad_lines=sum(s.bad_lines for s in a.stats),
        initial_equity_usd=initial,
        quote_currency=cfg.perp.quote,
        extra={"data": [s.as_dict() for s in a.stats], "risk": controller.summary()},
        initial_positions=_initial_positions(cfg, a),
    )
    summary = write_report(journal, run_id, out_dir, facts)
    journal.close()
    a.engine.dispose()
    return summary, run_id


def _initial_positions(cfg: BacktestConfig, a: Assembled) -> dict[str, Decimal]:
    """Inventory the strategy adopts at start, for the report's net delta."""
    held = cfg.strategy.initial_spot_inventory
    return {a.spot.id.value: held} if held else {}


@contextmanager
def _progress(cfg: BacktestConfig, enabled: bool) -> Iterator[StreamWrap | None]:
    """A rich progress bar over the data's time span, advanced once per streamed chunk (not per event)."""
    if not enabled:
        yield None
        return
    span = max(cfg.run.end_ns - cfg.run.start_ns, 1)
    with Progress(
        TextColumn("[bold]replay"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"), TimeElapsedColumn()
    ) as bar:
        task = bar.add_task("replay", total=100.0)

        def track(chunks: Iterator[list[Data]]) -> Iterator[list[Data]]:
            for chunk in chunks:
                bar.update(task, completed=min(100.0, 100.0 * (chunk[-1].ts_init - cfg.run.start_ns) / span))
                yield chunk

        yield track
        bar.update(task, completed=100.0)
