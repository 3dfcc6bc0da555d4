"""Deployment configs: the bundled ones load; a bad field fails at load naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.backtest.dispatch import strategy_kind
from engine.config.backtest import load_backtest_config
from engine.errors import ConfigError
from tests.conftest import CONFIGS

HOURLY = CONFIGS / "backtest" / "binance_btc_carry_1h.toml"


@pytest.mark.parametrize("path", sorted((CONFIGS / "backtest").glob("*.toml")), ids=lambda p: p.name)
def test_load_when_bundled_config_then_valid(path: Path):
    if strategy_kind(path) == "cme_perp_convergence":
        from engine.backtest.cme_runner import load_cme_backtest_config

        assert load_cme_backtest_config(path).environment == "backtest"
    else:
        assert load_backtest_config(path).environment == "backtest"


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = HOURLY.read_text()
    assert old in text
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('trade_size = "1.0"', 'trade_size = "1.0"\ntrade_sise = 2', "strategy.trade_sise"),
        ('taker_fee = "0.001"', 'taker_fee = "0.5"', "spot.taker_fee"),
        ("exit_basis_bps = -2.0", "exit_basis_bps = 6.0", "strategy"),
        ('clip_size = "0.1"', 'clip_size = "0.2"', "strategy"),
        ('start = "2021-07-01T00:00:00Z"', 'start = "2021-07-01T00:00:00"', "run.start"),
        ('end = "2024-07-01T00:00:00Z"', 'end = "2020-07-01T00:00:00Z"', "run"),
        ('venue = "BINANCE_USDM"', 'venue = "BINANCE"', "<root>"),
        ('margin_maint = "0.004"', 'margin_maint = "0.2"', "perp"),
        ('environment = "backtest"', 'environment = "live"', "environment"),
        ('kind = "hourly"', 'kind = "minutely"', "data"),
        ('clip_size = "0.1"', 'clip_size = "0.0005"', "<root>"),
    ],
)
def test_load_when_field_invalid_then_error_names_it(tmp_path: Path, old: str, new: str, field: str):
    with pytest.raises(ConfigError) as info:
        load_backtest_config(_variant(tmp_path, old, new))
    assert f": {field}" in str(info.value) or f"{field}." in str(info.value)


def test_load_when_file_missing_then_error_names_path(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_backtest_config(tmp_path / "nope.toml")


def test_load_when_not_toml_then_error_names_file(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("environment = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_backtest_config(bad)
