"""Fixtures: the loopback emulator on the real recordings, and real ccxt clients pointed at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest

from engine.paths import data_root
from engine.venues.ccxt_factory import create_sync_exchange
from engine.venues.emulator import EmulatorThread, Recording, load_recording

API_KEY = "emulator-key"
API_SECRET = "emulator-secret"

SPOT_FILE = "binance/binance_spot_btcusdt_20230405.ndjson.gz"
USDM_FILE_0404 = "binance/binance_usdm_btcusdt_20230404.ndjson.gz"
USDM_FILE_0405 = "binance/binance_usdm_btcusdt_20230405.ndjson.gz"


def _require(rel: str) -> Path:
    path = data_root() / rel
    if not path.is_file():
        pytest.fail(f"recording {path} not present (see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def spot_and_perp_recording() -> Recording:
    """Spot and USD-M BTCUSDT, 2023-04-05 00:00 to 00:06:54 UTC."""
    return load_recording([_require(SPOT_FILE), _require(USDM_FILE_0405)])


@pytest.fixture(scope="session")
def perp_over_funding_recording() -> Recording:
    """USD-M BTCUSDT 2023-04-04 23:58:20 to 2023-04-05 00:06:54: straddles the 00:00 settlement."""
    return load_recording([_require(USDM_FILE_0404), _require(USDM_FILE_0405)])


@pytest.fixture
def emu(spot_and_perp_recording: Recording) -> Iterator[EmulatorThread]:
    """A fresh emulator (step clock) on 127.0.0.1, a free port."""
    with EmulatorThread(recording=spot_and_perp_recording) as emulator:
        yield emulator


def make_sync(exchange_id: str, base_url: str, secret: str = API_SECRET, **kw: Any) -> ccxt.Exchange:
    """A real synchronous ccxt exchange pointed at the emulator."""
    exchange = create_sync_exchange(
        exchange_id, base_url, api_key=API_KEY, secret=secret, enable_rate_limit=False, **kw
    )
    exchange.load_markets()
    return exchange


@pytest.fixture
def spot_client(emu: EmulatorThread) -> ccxt.Exchange:
    """``ccxt.binance`` (spot) on the emulator."""
    return make_sync("binance", emu.base_url)


@pytest.fixture
def usdm_client(emu: EmulatorThread) -> ccxt.Exchange:
    """``ccxt.binanceusdm`` on the emulator."""
    return make_sync("binanceusdm", emu.base_url)


@pytest.fixture(scope="session")
def ccxt_fixtures() -> dict[str, Any]:
    """ccxt's recorded Binance responses and markets (ground truth for shapes)."""
    root = data_root() / "ccxt_fixtures"
    if not (root / "response_binance.json").is_file():
        pytest.fail(f"ccxt fixtures not found under {root}")
    return {
        "response": json.loads((root / "response_binance.json").read_text()),
        "markets": json.loads((root / "markets_binance.json").read_text()),
    }
