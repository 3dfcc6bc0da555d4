"""The TradingNode in paper and testnet mode against the loopback emulator, end to end."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from nautilus_trader.model.enums import OrderSide, TradingState

from engine.journal.journal import Journal
from engine.live.node import LiveRun, StartupError, build_node, run_live
from engine.paths import PROJECT_ROOT
from engine.venues.emulator import EmulatorThread, FaultRule
from tests.engine.live.conftest import (
    KEY_ENV,
    SECRET_ENV,
    TEST_KEY,
    TEST_SECRET,
    approve_all,
    held_change,
    live_config,
)

ENV = {KEY_ENV: TEST_KEY, SECRET_ENV: TEST_SECRET}


def _journal(url: str) -> Journal:
    return Journal(url, durable=False)


def test_paper_node_when_run_against_emulator_then_sandbox_fills_are_journaled_and_nothing_is_sent(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = live_config(replay_emu.base_url, tmp_path)
    outcome = run_live(cfg, 3.0, handle_signals=False)  # the node's own risk gate, as `carry paper` runs it
    assert (outcome.status, outcome.reason) == ("COMPLETED", "duration")
    j = _journal(outcome.journal_url)
    try:
        run = j.run(outcome.run_id)
        assert run is not None and run.status == "COMPLETED" and run.mode == "paper"
        intents, fills = j.intents(outcome.run_id), j.fills(outcome.run_id)
        actions = [d.action for d in j.decisions(outcome.run_id)]
        assert actions[0] == "ENTER" and "EXIT" in actions  # entered, then exited on stop
        assert "ENTER" not in actions[actions.index("EXIT") :]  # no new pair once stopping
        # Every Sandbox market order filled, except one the stop caught in flight: the node goes REDUCING
        # when it starts stopping and nautilus denies an entry clip sent just before; it is journaled.
        filled = {f.client_order_id for f in fills}
        denials = [e for e in j.order_events(outcome.run_id) if e.status == "DENIED"]
        assert all("REDUCING" in (e.reason or "") for e in denials)  # only the stop's REDUCING denies
        denied = {e.client_order_id for e in denials}
        assert len(intents) >= 4 and len(fills) >= 4
        assert filled <= {i.client_order_id for i in intents}
        assert {i.client_order_id for i in intents} == filled | denied and not filled & denied
        assert j.market(outcome.run_id)  # market samples from the polled quotes and marks
        assert not [e for e in j.order_events(outcome.run_id) if e.status == "OPEN_AT_STOP"]
        net: dict[str, Decimal] = {}
        for f in fills:
            net[f.instrument_id] = net.get(f.instrument_id, Decimal(0)) + (
                f.qty if f.side == "BUY" else -f.qty
            )
        assert set(net.values()) == {Decimal(0)}  # flat after the stop exit
    finally:
        j.close()
    assert replay_emu.state()["create_requests"] == {}  # paper mode never sends an order


def test_testnet_node_when_run_then_orders_reach_venue_once_each_and_flat_at_stop(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = live_config(replay_emu.base_url, tmp_path / "run", environment="testnet")
    seen: dict[str, object] = {}

    def started(run: LiveRun) -> None:
        seen["cache_accounts"] = len(run.kernel.cache.accounts())

    outcome = run_live(
        cfg, 3.0, install_gate=approve_all, environ=ENV, handle_signals=False, on_started=started
    )
    assert outcome.status == "COMPLETED"
    assert seen["cache_accounts"] == 2  # both venue accounts reconciled before the strategy started
    j = _journal(outcome.journal_url)
    try:
        fills = j.fills(outcome.run_id)
        intents = j.intents(outcome.run_id)
        assert fills and len({f.trade_id for f in fills}) == len(fills)
        venue_creates = replay_emu.state()["create_requests"]
        assert sorted(venue_creates) == sorted(i.client_order_id for i in intents)  # one create each
        assert set(venue_creates.values()) == {1}
        perp_net = sum(
            (f.qty if f.side == "BUY" else -f.qty) for f in fills if f.instrument_id.endswith("BINANCE_USDM")
        )
        positions = replay_emu.state()["positions"]
        assert Decimal(positions.get("BTCUSDT", {"qty": "0"})["qty"]) == perp_net == 0
    finally:
        j.close()


SECRET_RUN = (
    "import sys\n"
    "from engine.config.live import LiveConfig\n"
    "from engine.live.node import run_live\n"
    "from pathlib import Path\n"
    "outcome = run_live(LiveConfig.model_validate_json(sys.argv[1]), 3.0, handle_signals=False)\n"
    "Path(sys.argv[2]).write_text(outcome.status)\n"
)


def test_testnet_node_when_run_with_keys_then_secret_never_in_logs_or_files(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    """In a fresh process (nautilus logging is process-global: another test's config could silence it), with
    DEBUG logs and the real risk gate: the key and secret appear in no log line and no file of the run."""
    cfg = live_config(replay_emu.base_url, tmp_path / "run", environment="testnet", log_level="DEBUG")
    env = {**os.environ, **ENV}
    status_file = tmp_path / "status.txt"  # outside the run folder that is scanned below
    proc = subprocess.run(
        [sys.executable, "-c", SECRET_RUN, cfg.model_dump_json(), str(status_file)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    logs = proc.stdout + proc.stderr
    assert status_file.read_text() == "COMPLETED"
    assert "CARRY-001" in logs  # the node's log lines are here to be searched
    files = [p.read_bytes().decode("latin-1") for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert files, "the run wrote no files"
    for text in [logs, *files]:
        assert TEST_SECRET not in text
        assert TEST_KEY not in text


def test_testnet_node_when_reconciliation_fails_then_refuses_to_start_and_sends_nothing(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    replay_emu.add_fault(
        FaultRule(kind="reject", path="/fapi/v1/openOrders", count=None, code=-1000, msg="x")
    )
    cfg = live_config(replay_emu.base_url, tmp_path, environment="testnet")
    with pytest.raises(StartupError, match=r"reconciliation failed.*BINANCE_USDM"):
        run_live(cfg, 2.0, install_gate=approve_all, environ=ENV, handle_signals=False)
    assert replay_emu.state()["create_requests"] == {}
    j = Journal(cfg.journal_url(), durable=False)
    try:
        runs = j.runs()
        assert [r.status for r in runs] == ["FAILED_TO_START"]
        assert not j.intents(runs[0].run_id)
    finally:
        j.close()


def test_paper_node_when_kill_switch_raised_then_exits_flat_and_run_marked_killed(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = live_config(replay_emu.base_url, tmp_path)

    def raise_kill_switch_soon(run: LiveRun) -> None:
        run.loop.call_later(1.5, lambda: cfg.kill_file.write_text("kill\n"))

    outcome = run_live(
        cfg, 30.0, install_gate=approve_all, handle_signals=False, on_started=raise_kill_switch_soon
    )
    assert (outcome.status, outcome.reason) == ("KILLED", "kill_switch")
    j = _journal(outcome.journal_url)
    try:
        decisions = j.decisions(outcome.run_id)
        assert [d.reason for d in decisions if d.action == "EXIT"] == ["kill_switch"]
        actions = [d.action for d in decisions]
        assert "ENTER" not in actions[actions.index("EXIT") :]
        fills = j.fills(outcome.run_id)
        assert sum((f.qty if f.side == "BUY" else -f.qty) for f in fills if "PERP" in f.instrument_id) == 0
    finally:
        j.close()


def test_paper_node_when_stopped_without_close_on_stop_then_book_kept_and_no_exit(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = live_config(replay_emu.base_url, tmp_path)
    cfg = cfg.model_copy(update={"strategy": cfg.strategy.model_copy(update={"close_on_stop": False})})
    outcome = run_live(cfg, 3.0, install_gate=approve_all, handle_signals=False)
    assert (outcome.status, outcome.reason) == ("COMPLETED", "duration")
    j = _journal(outcome.journal_url)
    try:
        decisions = j.decisions(outcome.run_id)
        assert "ENTER" in [d.action for d in decisions]
        assert "EXIT" not in [d.action for d in decisions]  # the wind-down kept the book for a restart
        fills = j.fills(outcome.run_id)
        assert sum((f.qty if f.side == "BUY" else -f.qty) for f in fills if "PERP" in f.instrument_id) < 0
    finally:
        j.close()


def test_testnet_node_when_rate_limit_storm_persists_then_reducing_exit_and_no_duplicate_order(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = live_config(
        replay_emu.base_url,
        tmp_path,
        environment="testnet",
        rate_limit_reducing_secs=1.0,
        stop_drain_secs=2.0,
    )
    checks: dict[str, object] = {}

    def storm(run: LiveRun) -> None:
        strategy = run.strategy

        async def go() -> None:
            end = time.monotonic() + 15
            while not (strategy.perp_qty < 0 and not strategy.is_flat and not strategy._working):
                assert time.monotonic() < end, "never hedged"
                await asyncio.sleep(0.1)
            replay_emu.add_fault(FaultRule(kind="rate_limit", path="/fapi/*", count=None, retry_after_s=1))
            end = time.monotonic() + 15
            while run.kernel.risk_engine.trading_state != TradingState.REDUCING:
                assert time.monotonic() < end, "the storm never moved the node to REDUCING"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # the strategy exits under the storm
            replay_emu.clear_faults()

        run.loop.run_until_complete(go())
        checks["state"] = run.kernel.risk_engine.trading_state

    outcome = run_live(cfg, 0.5, environ=ENV, handle_signals=False, on_started=storm)  # the real gate
    assert checks["state"] == TradingState.REDUCING
    creates = replay_emu.state()["create_requests"]
    assert creates and set(creates.values()) == {1}  # no order reached the venue twice
    j = _journal(outcome.journal_url)
    try:
        risk = [(e.kind, e.reason) for e in j.risk_events(outcome.run_id)]
        assert ("venue_health", "BINANCE_USDM RATE_LIMITED") in risk
        exits = [d.reason for d in j.decisions(outcome.run_id) if d.action == "EXIT"]
        assert exits[0] == "risk_rate_limited_BINANCE_USDM"
        intents = {i.client_order_id for i in j.intents(outcome.run_id)}
        assert set(creates) <= intents  # everything at the venue was journaled as an intent first
    finally:
        j.close()


def test_paper_node_when_key_env_names_set_but_unset_in_env_then_builds_without_reading_them(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = live_config(replay_emu.base_url, tmp_path)
    legs = {"api_key_env": "CARRY_TEST_UNSET_KEY", "api_secret_env": "CARRY_TEST_UNSET_SECRET"}
    cfg = cfg.model_copy(
        update={"spot": cfg.spot.model_copy(update=legs), "perp": cfg.perp.model_copy(update=legs)}
    )
    run = build_node(cfg, environ={})
    try:
        assert [type(c).__name__ for c in run.exec_clients] == ["SandboxExecutionClient"] * 2
        assert all(ex.apiKey in (None, "") for ex in run.exchanges)
    finally:
        for ex in run.exchanges:
            run.loop.run_until_complete(ex.close())
        run.dispose()


def test_testnet_node_when_perp_leg_rejected_then_spot_unwound_and_nothing_left_unhedged(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    replay_emu.add_fault(FaultRule(kind="reject", path="/fapi/v1/order", method="POST", count=None))
    cfg = live_config(replay_emu.base_url, tmp_path, environment="testnet")
    outcome = run_live(cfg, 2.5, install_gate=approve_all, environ=ENV, handle_signals=False)
    j = _journal(outcome.journal_url)
    try:
        actions = [d.action for d in j.decisions(outcome.run_id)]
        assert "UNWIND" in actions
        fills = j.fills(outcome.run_id)
        assert fills and not [f for f in fills if "PERP" in f.instrument_id]
        bought = sum(f.qty for f in fills if f.side == "BUY")
        sold = sum(f.qty for f in fills if f.side == "SELL")
        # The spot clip was sold back, all of what the account held of it (the buy's fee was taken in BTC):
        # no unhedged spot, and not a satoshi more sold than held.
        assert sold < bought
        assert sum(held_change(f) for f in fills) == 0
        rejected = [e for e in j.order_events(outcome.run_id) if e.status == "REJECTED"]
        assert len(rejected) >= 2  # the hedge and its retry, each sent once
    finally:
        j.close()
    assert set(replay_emu.state()["create_requests"].values()) == {1}


def test_testnet_node_when_an_order_cannot_be_canceled_at_stop_then_journaled_open_at_stop(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = live_config(replay_emu.base_url, tmp_path, environment="testnet", stop_drain_secs=1.0)
    cfg = cfg.model_copy(update={"strategy": cfg.strategy.model_copy(update={"entry_basis_bps": 10_000.0})})
    resting: dict[str, str] = {}

    def rest_an_order(run: LiveRun) -> None:
        strategy = run.strategy
        perp = run.markets["perp"].instrument
        order = strategy.order_factory.limit(
            perp.id, OrderSide.BUY, perp.make_qty(Decimal("0.010")), perp.make_price(Decimal("20000"))
        )
        strategy.submit_order(order)
        resting["id"] = order.client_order_id.value

        async def accepted() -> None:
            while not (o := run.kernel.cache.order(order.client_order_id)) or not o.is_open:
                await asyncio.sleep(0.05)

        run.loop.run_until_complete(asyncio.wait_for(accepted(), 10))
        replay_emu.add_fault(FaultRule(kind="reject", path="/fapi/v1/order", method="DELETE", count=None))

    outcome = run_live(
        cfg, 0.2, install_gate=approve_all, environ=ENV, handle_signals=False, on_started=rest_an_order
    )
    assert outcome.status == "COMPLETED_OPEN_ORDERS"
    assert replay_emu.state()["open_orders"] == 1  # the venue still holds it
    j = _journal(outcome.journal_url)
    try:
        run = j.run(outcome.run_id)
        assert run is not None and run.status == "COMPLETED_OPEN_ORDERS"
        left = [e for e in j.order_events(outcome.run_id) if e.status == "OPEN_AT_STOP"]
        assert [e.client_order_id for e in left] == [resting["id"]]
    finally:
        j.close()
