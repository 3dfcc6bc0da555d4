"""Run a carry backtest end to end: assemble, replay, journal, report.

This module holds what is the spot-perp run's own: the engine assembly it calls, the risk controller's
slots, the strategy and the equity of its two venues. The journal, replay, exit and report sequence is
``engine.backtest.session``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from engine.accounting import spot_perp_equity
from engine.backtest.assembly import Assembled, build_engine
from engine.backtest.session import BacktestSession
from engine.config.backtest import BacktestConfig
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
    session = BacktestSession(cfg, out_dir, STRATEGY_NAME)
    with session.progress(progress) as wrap:
        a = build_engine(cfg, data_root, log_level, wrap)
        summary = _replay(a, cfg, session)
    return BacktestResult(session.run_id, out_dir, summary, a)


def _replay(a: Assembled, cfg: BacktestConfig, session: BacktestSession) -> dict[str, object]:
    session.open_journal()
    kernel = a.engine.kernel
    # The risk controller (and its gate on the message bus) goes in before any strategy can send.
    controller = RiskController(cfg.risk, [slot_spec(a.spot), slot_spec(a.perp)])
    a.engine.add_actor(controller)
    controller.attach(kernel)
    a.liquidation._on_liquidation = controller.count_liquidation
    strategy = SpotPerpCarry(spot_perp_carry_config(cfg.strategy, a.spot, a.perp))
    a.engine.add_strategy(strategy)

    equity = spot_perp_equity(kernel.cache, kernel.portfolio, a.spot, a.perp)
    session.replay(a.engine, strategy, a.funding, equity)
    return session.report(
        a.engine,
        a.stats,
        cfg.perp.quote,
        {"risk": controller.summary()},
        initial_positions=_initial_positions(cfg, a),
    )


def _initial_positions(cfg: BacktestConfig, a: Assembled) -> dict[str, Decimal]:
    """Inventory the strategy adopts at start, for the report's net delta."""
    held = cfg.strategy.initial_spot_inventory
    return {a.spot.id.value: held} if held else {}
