"""Restart mid-trade: the process is SIGKILLed between the two legs; the next start reconciles and hedges."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from decimal import ROUND_HALF_DOWN, Decimal
from pathlib import Path

from engine.journal.journal import Journal
from engine.live.node import LiveRun, run_live
from engine.paths import PROJECT_ROOT
from engine.venues.emulator import EmulatorThread, FaultRule
from engine.venues.emulator.market import MarketKind
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
FIRST_RUN = (
    "import sys\n"
    "from engine.config.live import LiveConfig\n"
    "from engine.live.node import run_live\n"
    "from tests.engine.live.conftest import approve_all\n"
    "run_live(LiveConfig.model_validate_json(sys.argv[1]), 60.0, install_gate=approve_all)\n"
)


def _journal_perp_intent(url: str) -> bool:
    j = Journal(url, durable=False)
    try:
        return any(i.leg == "perp" for r in j.runs() for i in j.intents(r.run_id))
    finally:
        j.close()


def _venue_net(emu: EmulatorThread) -> dict[str, Decimal]:
    """What the account holds from its trades: signed quantities less commissions paid in BTC."""

    def net() -> dict[str, Decimal]:
        venue = emu.emulator.venue
        out: dict[str, Decimal] = {}
        for kind, name in ((MarketKind.SPOT, "spot"), (MarketKind.USDM, "perp")):
            out[name] = sum(
                (
                    (f.qty if o.side == "BUY" else -f.qty)
                    - (f.commission if f.commission_asset == "BTC" else 0)
                    for o, f in venue.fills(kind, "BTCUSDT")
                ),
                Decimal(0),
            )
        return out

    return emu.call(net)


def test_restart_when_killed_between_legs_then_reconciles_completes_hedge_and_all_books_agree(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = live_config(replay_emu.base_url, tmp_path / "run", environment="testnet")
    # The first perp hedge hangs at the venue (and is then dropped unbooked): the process dies meanwhile.
    replay_emu.add_fault(FaultRule(kind="latency", path="/fapi/v1/order", method="POST", latency_ms=6_000))
    replay_emu.add_fault(FaultRule(kind="reset", path="/fapi/v1/order", method="POST"))
    proc = subprocess.Popen(
        [sys.executable, "-c", FIRST_RUN, cfg.model_dump_json()],
        cwd=PROJECT_ROOT,
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), **ENV),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 40
        while not (Path(cfg.run.dir / "journal.sqlite").exists() and _journal_perp_intent(cfg.journal_url())):
            assert time.monotonic() < deadline, "the first run never sent its perp leg"
            assert proc.poll() is None, "the first run ended on its own"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    replay_emu.clear_faults()
    before = _venue_net(replay_emu)
    assert before["spot"] > 0 and before["perp"] == 0  # killed between the legs: unhedged spot

    checks: dict[str, object] = {}

    def after_start(run: LiveRun) -> None:
        strategy = run.strategy

        step = run.markets["perp"].instrument.size_increment.as_decimal()

        async def hedged() -> None:
            # Hedged to the perp's lot step, with no order still working.
            end = time.monotonic() + 20
            while not (strategy.perp_qty != 0 and abs(strategy.spot_qty + strategy.perp_qty) < step):
                assert time.monotonic() < end, (
                    f"not hedged: spot {strategy.spot_qty} perp {strategy.perp_qty}"
                )
                await asyncio.sleep(0.1)
            while strategy._working:  # the hedge's order has closed
                await asyncio.sleep(0.05)

        run.loop.run_until_complete(hedged())
        cache: dict[str, Decimal] = {}
        for leg, iid in (("spot", strategy.spot_id), ("perp", strategy.perp_id)):
            cache[leg] = run.recorder.signed_position(iid)
        checks["cache"] = cache
        checks["strategy"] = {"spot": strategy.spot_qty, "perp": strategy.perp_qty}
        checks["venue"] = _venue_net(replay_emu)

    cfg2 = cfg.model_copy(update={"strategy": cfg.strategy.model_copy(update={"close_on_stop": False})})
    outcome = run_live(
        cfg2, 0.1, install_gate=approve_all, environ=ENV, handle_signals=False, on_started=after_start
    )
    assert outcome.status == "COMPLETED"

    held = before["spot"]  # what the killed run bought, net of the commission paid in BTC
    step = Decimal("0.001")  # the perp's lot step
    # Hedged to the nearest lot (0.00999 held -> 0.010 short): within half a lot.
    expected = {"spot": held, "perp": -(held / step).quantize(Decimal(1), ROUND_HALF_DOWN) * step}
    assert expected["perp"] < 0 and abs(expected["spot"] + expected["perp"]) <= step / 2
    assert checks["venue"] == expected
    assert checks["cache"] == expected
    assert checks["strategy"] == expected
    j = Journal(cfg.journal_url(), durable=False)
    try:
        runs = j.runs()
        assert len(runs) == 2
        fills = {(f.venue, f.trade_id): f for r in runs for f in j.fills(r.run_id)}  # one venue trade, once
        journal_net = {"spot": Decimal(0), "perp": Decimal(0)}
        for f in fills.values():
            leg = "perp" if f.instrument_id.endswith("BINANCE_USDM") else "spot"
            journal_net[leg] += held_change(f)
        assert journal_net == expected
        first, second = sorted(runs, key=lambda r: r.start_ns or 0)
        # The killed run's intents were committed before its orders went out (its batched decisions died
        # with it); its perp hedge never reached the venue.
        killed_perp = [i.client_order_id for i in j.intents(first.run_id) if i.leg == "perp"]
        assert len(killed_perp) == 1
        assert replay_emu.create_count(killed_perp[0]) == 0
        decisions = [d.action for d in j.decisions(second.run_id)]
        assert "REPAIR" in decisions and "ENTER" not in decisions  # resumed the trade, did not start another
    finally:
        j.close()
