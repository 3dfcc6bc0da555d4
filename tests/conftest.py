"""Shared fixtures: the real data root and instruments."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair

from engine.instruments import linear_perpetual, spot_pair
from engine.paths import data_root

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = PROJECT_ROOT / "configs"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = data_root()
    if not root.is_dir():
        pytest.fail(f"real data not found at {root}: set CARRY_DATA_DIR or place ../shared beside the repo")
    return root


@pytest.fixture(scope="session")
def spot() -> CurrencyPair:
    return spot_pair(
        "BINANCE",
        "BTCUSDT",
        "BTC",
        "USDT",
        Decimal("0.01"),
        Decimal("0.00001"),
        Decimal("0.001"),
        Decimal("0.001"),
    )


@pytest.fixture(scope="session")
def perp() -> CryptoPerpetual:
    return linear_perpetual(
        "BINANCE_USDM",
        "BTCUSDT-PERP",
        "BTC",
        "USDT",
        Decimal("0.10"),
        Decimal("0.001"),
        Decimal("0.0002"),
        Decimal("0.0005"),
        Decimal("0.1"),
        Decimal("0.004"),
    )
