"""The blocking ``serve`` entry point (behind ``carry emulator``) in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import ccxt
import pytest

from engine.paths import PROJECT_ROOT, data_root
from engine.venues.emulator import EmulatorThread, Recording
from tests.engine.venues.conftest import API_KEY, API_SECRET, SPOT_FILE, USDM_FILE_0405, make_sync


def test_serve_when_started_as_process_then_replays_answers_ccxt_and_stops_on_sigterm(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"faults": [{"kind": "rate_limit", "path": "/fapi/v1/premiumIndex"}]}))
    files = [str(data_root() / SPOT_FILE), str(data_root() / USDM_FILE_0405)]
    code = (
        "import sys; from pathlib import Path; from engine.venues.emulator import serve; "
        "serve(0, [Path(p) for p in sys.argv[2:]], Path(sys.argv[1]), speed=20.0)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(faults), *files],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server listens (or the process dies)
        assert line.startswith("carry emulator listening on http://127.0.0.1:"), (line, proc.poll())
        base_url = line.rsplit(" ", 1)[1].strip()
        exchange = make_sync("binanceusdm", base_url)
        with pytest.raises(ccxt.DDoSProtection):
            exchange.fetch_funding_rate("BTC/USDT:USDT")  # the fault file is in force
        first = exchange.fetch_ticker("BTC/USDT:USDT")["timestamp"]
        deadline = time.monotonic() + 10
        while exchange.fetch_ticker("BTC/USDT:USDT")["timestamp"] == first:  # replay clock runs
            assert time.monotonic() < deadline, "replay clock did not move"
            time.sleep(0.05)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    # DESIGN rule 8: keys and secrets never appear in output.
    assert API_KEY not in line + out + err and API_SECRET not in line + out + err


def test_emulator_thread_when_port_taken_then_raises_and_leaves_no_thread(
    emu: EmulatorThread, spot_and_perp_recording: Recording
) -> None:
    count = threading.active_count()
    with pytest.raises(OSError):
        EmulatorThread(recording=spot_and_perp_recording, port=int(emu.base_url.rsplit(":", 1)[1]))
    assert threading.active_count() == count
