"""The sequence every backtest runner shares around its own assembly: journal, replay, exit, report.

A runner (``engine.backtest.runner``, ``engine.backtest.cme_runner``) builds its engine inside
``BacktestSession.progress``, opens the journal, adds its risk controller and strategy, and hands the rest to
the session:

1. ``open_journal``: a deterministic run id, an empty journal for a rerun into the same folder;
2. ``replay``: streaming replay of the window, then ``request_exit("end_of_data")`` and a drain while the
   kernel still runs, then ``engine.end()``, the funding flush, the final equity snapshot;
3. ``report``: ``RunFacts`` from the common figures plus the runner's own, ``write_report``, clean-up.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.core.data import Data
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from engine.backtest.assembly import StreamWrap
from engine.backtest.funding import FundingSettlementModule
from engine.config.backtest import JournalSection, RunSection
from engine.data.stats import LoadStats
from engine.journal.journal import Journal, remove_sqlite_journal
from engine.recorder import EquityFn, JournalRecorder
from engine.report import RunFacts, write_report
from strategies.base import LeggedStrategy

__all__ = ["BacktestSession", "SessionConfig", "run_id_for"]


class SessionConfig(Protocol):
    """What the session reads of a backtest config (``BacktestConfig``, ``CmeBacktestConfig``)."""

    @property
    def environment(self) -> str:
        """Always ``"backtest"``."""
        ...

    @property
    def run(self) -> RunSection:
        """Run name and window."""
        ...

    @property
    def journal(self) -> JournalSection:
        """Journal URL, if not the run folder's ``journal.sqlite``."""
        ...

    def model_dump_json(self) -> str:
        """The whole config as JSON (pydantic)."""
        ...


def run_id_for(cfg: SessionConfig) -> str:
    """A deterministic run id: the run name plus a digest of the whole config (reruns share it)."""
    digest = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:12]
    return f"{cfg.run.name}-{digest}"


class BacktestSession:
    """One backtest run: its output folder, journal and wall clock, and the replay sequence.

    Parameters
    ----------
    cfg : SessionConfig
        The validated deployment config.
    out_dir : Path
        Created if missing; the journal (unless the config names another URL) and the report go there.
    strategy_name : str
        Strategy name for the journal's run row and the summary.

    Attributes
    ----------
    run_id : str
        ``run_id_for(cfg)``.
    initial_equity_usd : Decimal
        Equity at the first market sample (set by ``replay``; zero if there was none).
    """

    def __init__(self, cfg: SessionConfig, out_dir: Path, strategy_name: str) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.wall0 = time.perf_counter()
        self.cfg = cfg
        self.out_dir = out_dir
        self.strategy_name = strategy_name
        self.run_id = run_id_for(cfg)
        self.initial_equity_usd = Decimal(0)
        self.events = 0  # streamed to the engine, counted per chunk by the ``progress`` wrapper
        self._journal: Journal | None = None

    @property
    def journal(self) -> Journal:
        """The journal opened by ``open_journal``."""
        if self._journal is None:
            raise RuntimeError("BacktestSession.open_journal has not been called")
        return self._journal

    @contextmanager
    def progress(self, enabled: bool) -> Iterator[StreamWrap]:
        """The wrapper to put around the engine's data streams: counts the events streamed (the summary's
        ``events``) and, when ``enabled``, advances a rich progress bar over the run's time span. Both act
        once per chunk, never per event."""
        start_ns = self.cfg.run.start_ns
        span = max(self.cfg.run.end_ns - start_ns, 1)
        columns = (TextColumn("[bold]replay"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"))
        with Progress(*columns, TimeElapsedColumn(), disable=not enabled) as bar:
            task = bar.add_task("replay", total=100.0)

            def track(chunks: Iterator[list[Data]]) -> Iterator[list[Data]]:
                for chunk in chunks:
                    self.events += len(chunk)
                    if enabled:
                        bar.update(task, completed=min(100.0, 100.0 * (chunk[-1].ts_init - start_ns) / span))
                    yield chunk

            yield track
            bar.update(task, completed=100.0)

    def open_journal(self) -> Journal:
        """Open the journal and start the run (call once the engine is built, before any component runs)."""
        journal_path = self.out_dir / "journal.sqlite"
        if self.cfg.journal.url is None:
            remove_sqlite_journal(journal_path)  # a rerun into the same folder starts from an empty journal
        # Intents are still committed before each order is sent; a backtest skips the fsync (a rerun
        # reproduces it exactly), paper and live journals wait for the disk.
        self._journal = Journal(self.cfg.journal.url or f"sqlite:///{journal_path}", durable=False)
        self._journal.start_run(
            self.run_id,
            self.strategy_name,
            self.cfg.environment,
            self.cfg.model_dump_json(),
            start_ns=self.cfg.run.start_ns,
            replace=True,
        )
        return self._journal

    def replay(
        self,
        engine: BacktestEngine,
        strategy: LeggedStrategy,
        funding: FundingSettlementModule,
        equity: EquityFn,
    ) -> None:
        """Record, replay the window, exit at the end of data, finish the run in the journal.

        Parameters
        ----------
        engine : BacktestEngine
            Assembled, with the risk controller and ``strategy`` added.
        strategy : LeggedStrategy
            Asked to exit at the end of the data when its config says ``close_on_stop``.
        funding : FundingSettlementModule
            Flushed once the engine has ended (its last settlements are journaled).
        equity : EquityFn
            The runner's ``(equity_usd, by_venue)`` for the recorder's snapshots.
        """
        journal = self.journal
        kernel = engine.kernel
        recorder = JournalRecorder(journal, self.run_id, kernel.msgbus, kernel.cache, equity)
        # Replay without finalizing, then exit while the kernel still runs: a hedge sent from an exit fill
        # must still reach the venue, which it cannot once the engine has stopped its components.
        engine.run(start=self.cfg.run.start, end=self.cfg.run.end, streaming=True)
        if strategy.cfg.close_on_stop:
            now = kernel.clock.timestamp_ns()
            strategy.request_exit("end_of_data")
            # No data left: this drains the exit's orders and hedges.
            engine.run(start=now, end=now, streaming=True)
        engine.end()
        funding.flush()
        end_ns = kernel.clock.timestamp_ns()
        recorder.snapshot_equity(end_ns)
        journal.finish_run(self.run_id, "COMPLETED", end_ns=end_ns)
        first = journal.first_equity(self.run_id)  # taken at the first market sample, before any decision
        self.initial_equity_usd = first.equity_usd if first is not None else Decimal(0)

    def report(
        self,
        engine: BacktestEngine,
        stats: list[LoadStats],
        quote_currency: str,
        extra: dict[str, Any],
        *,
        initial_positions: Mapping[str, Decimal] | None = None,
        base_multipliers: Mapping[str, Decimal] | None = None,
    ) -> dict[str, object]:
        """Write the report from the journal and the run's facts, close the journal, dispose of the engine.

        Parameters
        ----------
        engine : BacktestEngine
            Disposed of once the report is written.
        stats : list of LoadStats
            The loaders' counts: bad lines summed into ``bad_lines``, all listed under ``data``.
        quote_currency : str
            Currency of funding amounts and fees.
        extra : dict
            The runner's own summary blocks (``risk``, ``convergence``, ...), after ``data``.
        initial_positions, base_multipliers : Mapping, optional
            As in ``RunFacts``.

        Returns
        -------
        dict
            The summary written to ``summary.json``.
        """
        facts = RunFacts(
            strategy=self.strategy_name,
            start_ns=self.cfg.run.start_ns,
            end_ns=self.cfg.run.end_ns,
            events=self.events,
            wall_seconds=time.perf_counter() - self.wall0,
            bad_lines=sum(s.bad_lines for s in stats),
            initial_equity_usd=self.initial_equity_usd,
            quote_currency=quote_currency,
            extra={"data": [s.as_dict() for s in stats], **extra},
            base_multipliers=base_multipliers or {},
            initial_positions=initial_positions or {},
        )
        summary = write_report(self.journal, self.run_id, self.out_dir, facts)
        self.journal.close()
        engine.dispose()
        return summary
