"""The carry command line, end to end on the real tick recording."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app
from tests.conftest import CONFIGS

runner = CliRunner()


def test_backtest_when_tick_config_then_outputs_written_and_summary_printed(tmp_path: Path, data_dir: Path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "backtest",
            str(CONFIGS / "backtest" / "binance_btc_ticks_20230405.toml"),
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("summary.json", "fills.csv", "funding.csv", "report.html", "journal.sqlite"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["funding_payments"] == 1
    assert summary["start"] == "2023-04-04T23:58:00Z"
    assert summary["bad_lines"] == 0
    assert set(summary["pnl_usd"]) >= {"total", "funding", "basis", "fees"}
    funding = (out / "funding.csv").read_text().splitlines()
    assert funding[0] == "ts,instrument_id,position_qty,mark_price,rate,amount"
    assert funding[1].startswith("2023-04-05T00:00:00")


def test_backtest_when_config_field_unknown_then_exit_2_naming_field(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    text = (CONFIGS / "backtest" / "binance_btc_ticks_20230405.toml").read_text()
    bad.write_text(text.replace("[strategy]\n", "[strategy]\nentry_bassis_bps = 3\n"))
    result = runner.invoke(app, ["backtest", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "strategy.entry_bassis_bps" in result.output


def test_backtest_when_data_missing_then_exit_2_naming_path(tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "backtest",
            str(CONFIGS / "backtest" / "binance_btc_ticks_20230405.toml"),
            "--out",
            str(tmp_path / "o"),
            "--data-dir",
            str(tmp_path / "empty"),
        ],
    )
    assert result.exit_code == 2
    assert "binance_spot_btcusdt_20230405.ndjson.gz" in result.output


def test_signals_when_real_data_then_csvs_with_the_issue_columns(tmp_path: Path, data_dir: Path):
    out = tmp_path / "signals"
    result = runner.invoke(app, ["signals", "--out", str(out), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    headers = {
        "cme_basis.csv": "date,contract,days_to_expiry,future_close,spot_close,annualized_basis",
        "attribution.csv": "date,cme_basis_annualized,funding_annualized,state",
        "premium.csv": "ts,venue,asset,premium_bps,regime,zscore",
    }
    for name, header in headers.items():
        lines = (out / name).read_text().splitlines()
        assert lines[0] == header and len(lines) > 100, name
    assert (out / "signals.html").is_file()
