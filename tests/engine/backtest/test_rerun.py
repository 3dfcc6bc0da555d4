"""A backtest rerun gives an identical journal, summary and CSVs."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from engine.backtest.runner import BacktestResult, run_backtest
from engine.config.backtest import load_backtest_config
from tests.engine.backtest.conftest import TICKS


def _dump(db: Path) -> dict[str, list[tuple]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        tables = [r[0] for r in conn.execute(sa.text("select name from sqlite_master where type='table'"))]
        return {t: sorted(map(tuple, conn.execute(sa.text(f"select * from {t}")))) for t in sorted(tables)}


def test_rerun_when_same_config_then_identical_journal_summary_and_csvs(
    tick_run: BacktestResult, tmp_path: Path, data_dir: Path
):
    again = run_backtest(load_backtest_config(TICKS), tmp_path, data_dir)
    first_db, second_db = _dump(tick_run.out_dir / "journal.sqlite"), _dump(tmp_path / "journal.sqlite")
    assert sum(len(rows) for rows in first_db.values()) > 100
    assert first_db == second_db
    strip = lambda s: {k: v for k, v in s.items() if k != "wall_seconds"}  # noqa: E731
    assert strip(tick_run.summary) == strip(again.summary)
    for name in ("fills.csv", "funding.csv"):
        assert (tick_run.out_dir / name).read_bytes() == (tmp_path / name).read_bytes()
