"""Backtests on the real data, run once per test session and shared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.backtest.runner import BacktestResult, run_backtest
from engine.config.backtest import BacktestConfig, load_backtest_config
from tests.conftest import CONFIGS

TICKS = CONFIGS / "backtest" / "binance_btc_ticks_20230405.toml"
HOURLY = CONFIGS / "backtest" / "binance_btc_carry_1h.toml"


def with_overrides(path: Path, overrides: dict[str, dict[str, Any]]) -> BacktestConfig:
    """The bundled config at ``path`` with some sections' fields replaced (validated again)."""
    raw = load_backtest_config(path).model_dump(mode="json")
    for section, fields in overrides.items():
        raw[section] = {**raw[section], **fields}
    return BacktestConfig.model_validate(raw)


def run(cfg: BacktestConfig, out: Path, data_dir: Path) -> BacktestResult:
    return run_backtest(cfg, out, data_dir)


@pytest.fixture(scope="session")
def tick_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> BacktestResult:
    return run(load_backtest_config(TICKS), tmp_path_factory.mktemp("ticks"), data_dir)


@pytest.fixture(scope="session")
def hourly_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> BacktestResult:
    return run(load_backtest_config(HOURLY), tmp_path_factory.mktemp("hourly"), data_dir)
