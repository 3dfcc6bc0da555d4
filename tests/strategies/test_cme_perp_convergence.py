"""CmePerpConvergence on short windows of the real daily data: direction, signals, gate hook, expiry modes."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from nautilus_trader.model.identifiers import InstrumentId
from pydantic import ValidationError

from engine.backtest.cme_runner import CmeBacktestResult, run_cme_backtest
from engine.cme import CmeContract
from engine.config.base import describe_validation_error
from engine.config.cme_backtest import (
    CmeBacktestConfig,
    convergence_strategy_config,
    load_cme_backtest_config,
)
from engine.journal.journal import Journal
from strategies.cme_perp_convergence import CmePerpConvergence
from tests.conftest import CONFIGS

CONFIG = CONFIGS / "backtest" / "cme_mbt_vs_binance_perp_1d.toml"
PERP = "BTCUSDT-PERP.BINANCE_USDM"


def _cfg(overrides: dict[str, dict[str, Any]]) -> CmeBacktestConfig:
    raw = load_cme_backtest_config(CONFIG).model_dump(mode="json")
    for section, fields in overrides.items():
        raw[section] = {**raw[section], **fields}
    return CmeBacktestConfig.model_validate(raw)


def _run(tmp_path: Path, data_dir: Path, start: str, end: str, **strategy: Any) -> CmeBacktestResult:
    cfg = _cfg({"run": {"start": start, "end": end}, "strategy": strategy})
    return run_cme_backtest(cfg, tmp_path, data_dir)


def _journal(r: CmeBacktestResult) -> Journal:
    return Journal(f"sqlite:///{r.out_dir / 'journal.sqlite'}")


def test_entry_when_cme_rich_then_sell_future_buy_perp_on_recomputable_signals(
    tmp_path: Path, data_dir: Path
):
    r = _run(tmp_path, data_dir, "2021-06-26T00:00:00Z", "2021-07-10T00:00:00Z")
    journal = _journal(r)
    enter = journal.decisions(r.run_id, actions=("ENTER",))[0]
    assert enter.reason == "cme_rich"
    sig = json.loads(enter.signals_json)
    assert sig["spread_apr_pct"] >= 5.0
    assert sig["residual_delta_base"] == 0.0
    # The recorded basis recomputed by hand from the recorded closes and the contract's expiry.
    dte = sig["days_to_expiry"]
    assert sig["cme_basis_apr_pct"] == pytest.approx(
        (sig["future_mid"] / sig["spot_index"] - 1) * 365 / dte * 100
    )
    assert sig["spread_apr_pct"] == pytest.approx(sig["cme_basis_apr_pct"] - sig["funding_apr_pct"])
    fills = journal.fills(r.run_id)
    assert fills[0].instrument_id.endswith(".CME") and fills[0].side == "SELL" and fills[0].qty == 1
    assert fills[1].instrument_id == PERP and fills[1].side == "BUY" and fills[1].qty == Decimal("0.1")
    contract = CmeContract(2021, 7)
    assert fills[0].instrument_id == f"{contract.symbol}.CME"
    close_day = datetime.fromtimestamp(enter.ts_ns // 10**9, tz=UTC).date().toordinal() - 1
    assert dte == contract.expiry.toordinal() - close_day


def test_entry_when_gate_refuses_pair_then_nothing_sent(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(CmePerpConvergence, "_pair_allowed", lambda self, legs: False)
    r = _run(tmp_path, data_dir, "2021-06-26T00:00:00Z", "2021-07-10T00:00:00Z")
    journal = _journal(r)
    assert journal.decisions(r.run_id, actions=("GATE_DENIED",))
    assert journal.fills(r.run_id) == [] and journal.intents(r.run_id) == []


def test_orders_when_globex_shut_then_no_cme_fill_on_saturday_stamps(tmp_path: Path, data_dir: Path):
    r = _run(tmp_path, data_dir, "2022-01-01T00:00:00Z", "2022-07-01T00:00:00Z")
    cme = [f for f in _journal(r).fills(r.run_id) if f.instrument_id.endswith(".CME")]
    assert len(cme) > 20
    assert all(datetime.fromtimestamp(f.ts_ns // 10**9, tz=UTC).weekday() != 5 for f in cme)


def test_expiry_when_close_configured_then_exit_before_expiry_and_no_roll(tmp_path: Path, data_dir: Path):
    r = _run(
        tmp_path,
        data_dir,
        "2021-06-26T00:00:00Z",
        "2021-08-10T00:00:00Z",
        expiry_action="close",
        exit_spread_apr_pct=-1000.0,
    )
    journal = _journal(r)
    assert journal.decisions(r.run_id, actions=("ROLL",)) == []
    exits = journal.decisions(r.run_id, actions=("EXIT",))
    assert exits and exits[0].reason == "expiry"
    assert exits[0].ts_ns < CmeContract(2021, 7).expiry_ns
    assert r.summary["convergence"]["settlements"] == 0  # type: ignore[index]


def test_end_of_data_when_position_open_then_exit_flat(tmp_path: Path, data_dir: Path):
    r = _run(tmp_path, data_dir, "2021-06-26T00:00:00Z", "2021-07-10T00:00:00Z", exit_spread_apr_pct=-1000.0)
    exits = _journal(r).decisions(r.run_id, actions=("EXIT",))
    assert [d.reason for d in exits] == ["end_of_data"]
    assert r.strategy.is_flat and r.summary["convergence"]["final_net_delta_base"] == 0  # type: ignore[index]


def test_config_when_percentages_then_fractions_in_strategy_config():
    cfg = load_cme_backtest_config(CONFIG)
    sc = convergence_strategy_config(cfg, InstrumentId.from_str(PERP))
    assert sc.entry_spread_apr == pytest.approx(0.05) and sc.exit_spread_apr == pytest.approx(0.01)
    assert sc.cme_root == "MBT" and sc.contracts == 10 and sc.expiry_action == "roll"


@pytest.mark.parametrize(
    ("section", "fields", "named"),
    [
        ("strategy", {"exit_spread_apr_pct": 6.0}, "exit_spread_apr_pct"),
        ("strategy", {"clip_contracts": 11}, "clip_contracts"),
        ("strategy", {"expiry_action": "hold"}, "strategy.expiry_action"),
        ("perp", {"lot_step": "0.03"}, "perp.lot_step"),
        ("cme", {"margin_maint": "0.5"}, "margin_maint"),
        ("cme", {"fee_per_contract": "-1"}, "cme.fee_per_contract"),
        ("cme", {"venue": "BINANCE_USDM"}, "cme.venue and perp.venue must differ"),
        ("strategy", {"surprise": 1}, "strategy.surprise"),
    ],
)
def test_config_when_field_invalid_then_error_names_it(section: str, fields: dict[str, Any], named: str):
    raw = tomllib.loads(CONFIG.read_text())
    raw[section] = {**raw[section], **fields}
    with pytest.raises(ValidationError) as info:
        CmeBacktestConfig.model_validate(raw)
    assert named in describe_validation_error("cfg", info.value)
