"""Leg safety in real backtests: net delta bounded at every fill; a denied leg leaves nothing unhedged."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from engine.backtest.runner import BacktestResult
from engine.journal.journal import Journal
from tests.engine.backtest.conftest import HOURLY, run, with_overrides

AUG_2021 = {"start": "2021-08-01T00:00:00Z", "end": "2021-08-20T00:00:00Z"}


def _net_deltas(result: BacktestResult, initial_spot: Decimal = Decimal(0)) -> list[Decimal]:
    fills = Journal(f"sqlite:///{result.out_dir / 'journal.sqlite'}").fills(result.run_id)
    net, out = initial_spot, []
    for f in fills:
        net += f.qty if f.side == "BUY" else -f.qty
        out.append(net)
    return out


def test_hourly_run_when_every_fill_then_net_delta_within_tolerance(hourly_run: BacktestResult):
    deltas = _net_deltas(hourly_run)
    assert len(deltas) > 100
    assert max(abs(d) for d in deltas) <= Decimal("0.1")  # max_unhedged of the config


def test_tick_run_when_every_fill_then_net_delta_within_tolerance(tick_run: BacktestResult):
    # Starts with 0.5 BTC spot unhedged (adopted inventory); from the first fill on it is hedged.
    deltas = _net_deltas(tick_run, Decimal("0.5"))
    assert deltas and max(abs(d) for d in deltas) <= Decimal("0.1")


def test_backtest_when_spot_leg_denied_then_no_perp_position(tmp_path: Path, data_dir: Path):
    cfg = with_overrides(HOURLY, {"run": AUG_2021, "spot": {"max_order_notional": "100"}})
    result = run(cfg, tmp_path, data_dir)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    events = journal.order_events(result.run_id)
    assert events and all(e.status == "DENIED" for e in events)
    assert journal.fills(result.run_id) == []  # no spot fill, hence no perp hedge
    assert journal.funding(result.run_id) == []
