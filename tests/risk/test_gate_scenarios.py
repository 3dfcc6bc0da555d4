"""Risk scenarios on the real hourly Binance data (issue 3's acceptance cases)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from engine.backtest.runner import BacktestResult, run_backtest
from engine.journal.journal import Journal
from tests.risk.scenarios import PERP, high_leverage, tight_exposure


def _journal(out: Path) -> Journal:
    return Journal(f"sqlite:///{out / 'journal.sqlite'}")


def _risk(result: BacktestResult) -> dict[str, Any]:
    """The summary's ``risk`` block (``RiskController.summary``)."""
    return cast(dict[str, Any], result.summary["risk"])


def test_tight_venue_limit_when_2021_rally_then_denials_and_exposure_never_over_limit(
    tmp_path: Path, data_dir: Path
):
    result = run_backtest(tight_exposure(), tmp_path, data_dir)
    risk = _risk(result)
    assert risk["denials_by_reason"].get("venue_exposure_usd", 0) > 0
    assert 0 < risk["max_exposure_usd_by_venue"][PERP] <= 60_000.0
    samples = [
        json.loads(e.figures_json)
        for e in _journal(tmp_path).risk_events(result.run_id)
        if e.kind == "SAMPLE"
    ]
    assert samples and max(s[f"exposure_usd_{PERP}"] for s in samples) <= 60_000.0
    assert cast(int, result.summary["fills"]) > 0  # it traded while under the limit


def test_high_leverage_when_no_margin_floor_then_liquidated_in_2021_rally(tmp_path: Path, data_dir: Path):
    result = run_backtest(high_leverage(with_floor=False), tmp_path, data_dir)
    assert _risk(result)["liquidations"] == 1
    events = [e for e in _journal(tmp_path).risk_events(result.run_id) if e.kind == "LIQUIDATION"]
    assert len(events) == 1
    figures = json.loads(events[0].figures_json)
    assert figures["equity"] < figures["maintenance"]
    # The spot leg left unhedged by the liquidation is unwound: the book ends flat.
    fills = _journal(tmp_path).fills(result.run_id)
    spot = sum((f.qty if f.side == "BUY" else -f.qty) for f in fills if "PERP" not in f.instrument_id)
    assert spot == 0


def test_high_leverage_when_margin_floor_then_reduces_in_time_and_not_liquidated(
    tmp_path: Path, data_dir: Path
):
    result = run_backtest(high_leverage(with_floor=True), tmp_path, data_dir)
    risk = _risk(result)
    assert risk["liquidations"] == 0
    journal = _journal(tmp_path)
    states = [e.reason for e in journal.risk_events(result.run_id) if e.kind == "STATE"]
    assert any(s.startswith("REDUCING:margin_headroom") for s in states)
    exits = [d for d in journal.decisions(result.run_id) if d.action == "EXIT"]
    assert any(d.reason == "risk_margin_headroom" for d in exits)
    assert risk["min_margin_headroom"] > 0.5  # never near the maintenance line
