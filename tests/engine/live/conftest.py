"""Fixtures: the recordings, a replaying emulator on loopback, and deployment configs pointed at it."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from nautilus_trader.model.enums import TradingState
from nautilus_trader.system.kernel import NautilusKernel

from engine.config.live import LiveConfig
from engine.journal.models import Fill
from engine.paths import PROJECT_ROOT
from engine.records import STOPPING, TOPIC_TRADING_STATE, TradingStateRecord
from engine.venues.emulator import EmulatorOptions, EmulatorThread, Recording, VenueConfig, load_recording
from risk.gate import PAIR_ENDPOINT, WIND_DOWN_ENDPOINT
from tests.engine.venues.conftest import SPOT_FILE, USDM_FILE_0405, _require

EMULATOR_TOML = PROJECT_ROOT / "configs/paper/emulator.toml"
# Credentials for the testnet-mode tests: unique strings, so a leak anywhere is found by grep.
KEY_ENV, SECRET_ENV = "CARRY_TEST_EMU_KEY", "CARRY_TEST_EMU_SECRET"
TEST_KEY, TEST_SECRET = "k-4b1d9e0c7f2a", "s-e3c1a9f07b5d42c8-never-log-me"


@pytest.fixture(scope="session")
def recording() -> Recording:
    """Spot and USD-M BTCUSDT, 2023-04-05 00:00 to 00:06:54 UTC."""
    return load_recording([_require(SPOT_FILE), _require(USDM_FILE_0405)])


@pytest.fixture
def replay_emu(recording: Recording) -> Iterator[EmulatorThread]:
    """An emulator replaying in real time, with the test credentials."""
    options = EmulatorOptions(clock="replay", speed=1.0, venue=VenueConfig(api_keys={TEST_KEY: TEST_SECRET}))
    with EmulatorThread(recording=recording, options=options) as emu:
        yield emu


def approve_all(kernel: NautilusKernel) -> None:
    """A stand-in pre-trade gate that approves every pair (the real gate is tested under tests/risk).

    It stands in for the risk controller's wind-down too: REDUCING on nautilus's RiskEngine (which still
    checks orders here), announced to the strategies.
    """

    def answer(check: Any) -> None:
        check.approved = True
        check.reason = "test_gate"

    def wind_down(reason: str) -> None:
        kernel.risk_engine.set_trading_state(TradingState.REDUCING)
        now = kernel.clock.timestamp_ns()
        kernel.msgbus.publish(TOPIC_TRADING_STATE, TradingStateRecord(now, "REDUCING", STOPPING + reason))

    kernel.msgbus.register(PAIR_ENDPOINT, answer)
    kernel.msgbus.register(WIND_DOWN_ENDPOINT, wind_down)


def live_config(base_url: str, run_dir: Path, environment: str = "paper", **node: Any) -> LiveConfig:
    """configs/paper/emulator.toml pointed at ``base_url`` and ``run_dir`` (testnet: with key env names)."""
    raw = tomllib.loads(EMULATOR_TOML.read_text())
    raw["environment"] = environment
    raw["run"]["dir"] = str(run_dir)
    raw["node"] = raw.get("node", {}) | {"log_level": "WARNING"} | node
    for leg in ("spot", "perp"):
        raw[leg]["base_url"] = base_url
        raw[leg]["poll_interval_secs"] = 0.2
        if environment != "paper":
            raw[leg].pop("starting_balances", None)
            raw[leg]["api_key_env"] = KEY_ENV
            raw[leg]["api_secret_env"] = SECRET_ENV
    return LiveConfig.model_validate(raw)


GateFn = Callable[[NautilusKernel], None]


def held_change(fill: Fill, base: str = "BTC") -> Decimal:
    """What a fill changes in the ``base`` held: its signed quantity less a fee taken in ``base``
    (Binance spot takes its fee from the asset bought)."""
    signed = fill.qty if fill.side == "BUY" else -fill.qty
    return signed - (fill.fee if fill.fee_currency == base else 0)
