"""The live-side commands: refusals, the kill switch, and a clean stop on SIGTERM in a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path

import tomli_w
import typer
from typer.testing import CliRunner

from engine.cli_live import register
from engine.journal.journal import Journal
from engine.paths import PROJECT_ROOT
from engine.venues.emulator import EmulatorThread
from tests.engine.live.conftest import EMULATOR_TOML

app = typer.Typer()
register(app)
runner = CliRunner()


def _toml(raw: dict[str, object]) -> str:
    return tomli_w.dumps(raw)


def _config(tmp_path: Path, **changes: Mapping[str, object]) -> Path:
    raw = tomllib.loads(EMULATOR_TOML.read_text())
    raw["run"]["dir"] = str(tmp_path / "run")
    for section, values in changes.items():
        if section == "top":
            raw.update(values)
        else:
            raw[section] = raw[section] | values
    path = tmp_path / "cfg.toml"
    path.write_text(_toml(raw))
    return path


def test_paper_command_when_config_points_at_mainnet_then_exit_2_naming_the_host(tmp_path: Path) -> None:
    cfg = _config(tmp_path, spot={"base_url": "https://api.binance.com"})
    result = runner.invoke(app, ["paper", str(cfg), "--duration", "1"])
    assert result.exit_code == 2
    assert "api.binance.com" in result.output
    assert not (tmp_path / "run").exists()  # refused before anything was built


def test_live_command_when_live_config_without_confirm_then_refused(tmp_path: Path) -> None:
    live = {"top": {"environment": "live"}}
    legs = {"api_key_env": "X_KEY", "api_secret_env": "X_SECRET", "starting_balances": []}
    cfg = _config(tmp_path, spot=legs, perp=legs, **live)
    result = runner.invoke(app, ["live", str(cfg)])
    assert result.exit_code == 2
    assert "--confirm-live" in result.output


def test_paper_command_when_given_a_live_config_then_refused(tmp_path: Path) -> None:
    legs = {"api_key_env": "X_KEY", "api_secret_env": "X_SECRET", "starting_balances": []}
    cfg = _config(tmp_path, spot=legs, perp=legs, top={"environment": "live"})
    result = runner.invoke(app, ["paper", str(cfg)])
    assert result.exit_code == 2 and "'live'" in result.output


def test_kill_command_when_run_then_flag_written_under_run_dir(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    result = runner.invoke(app, ["kill", str(cfg)])
    assert result.exit_code == 0
    assert (tmp_path / "run" / "KILL").is_file()


def test_paper_process_when_sigterm_then_exits_flat_and_journal_completed(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = _config(
        tmp_path,
        spot={"base_url": replay_emu.base_url, "poll_interval_secs": 0.2},
        perp={"base_url": replay_emu.base_url, "poll_interval_secs": 0.2},
    )
    # The paper command with a gate that approves every pair (the risk gate is wired by the risk module).
    script = (
        "import sys, typer\n"
        "import engine.live.node as node\n"
        "from engine.cli_live import register\n"
        "from tests.engine.live.conftest import approve_all\n"
        "run_live = node.run_live\n"
        "node.run_live = lambda cfg, d, **kw: run_live(cfg, d, install_gate=approve_all, **kw)\n"
        "app = typer.Typer(); register(app); app()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "paper", str(cfg)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        journal_path = tmp_path / "run" / "journal.sqlite"
        deadline = time.monotonic() + 40
        entered = False
        while time.monotonic() < deadline and not entered:
            time.sleep(0.5)
            if journal_path.exists():
                j = Journal(f"sqlite:///{journal_path}", durable=False)
                try:
                    runs = j.runs()
                    entered = bool(runs and j.fills(runs[0].run_id))
                finally:
                    j.close()
        assert entered, "the paper node never traded"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    j = Journal(f"sqlite:///{journal_path}", durable=False)
    try:
        run = j.runs()[0]
        assert run.status == "COMPLETED"
        fills = j.fills(run.run_id)
        actions = [d.action for d in j.decisions(run.run_id)]
        story = [
            *[(d.action, d.reason) for d in j.decisions(run.run_id)],
            *[(f.client_order_id, f.instrument_id, f.side, str(f.qty)) for f in fills],
        ]
        assert "ENTER" not in actions[actions.index("EXIT") :], story  # no new pair once stopping
        for iid in {f.instrument_id for f in fills}:
            net = sum((f.qty if f.side == "BUY" else -f.qty) for f in fills if f.instrument_id == iid)
            assert net == 0, story
        assert not [e for e in j.order_events(run.run_id) if e.status == "OPEN_AT_STOP"]
    finally:
        j.close()


def test_emulator_command_when_started_then_serves_binance_on_loopback_until_sigint(tmp_path: Path) -> None:
    import json
    import urllib.request

    script = "import typer\nfrom engine.cli_live import register\napp = typer.Typer(); register(app); app()\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "emulator", "--port", "0", "--speed", "10"],
        cwd=PROJECT_ROOT,
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        base = line.strip().rsplit(" ", 1)[-1]
        with urllib.request.urlopen(f"{base}/fapi/v1/premiumIndex?symbol=BTCUSDT", timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["symbol"] == "BTCUSDT" and float(body["markPrice"]) > 0
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
