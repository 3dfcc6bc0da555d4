"""Paper/testnet/live deployment configs: explicit environment, testnet-only hosts, secrets by name only."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from pydantic import ValidationError

from engine.config.live import (
    LiveConfig,
    MissingCredentialsError,
    UnsafeHostError,
    load_live_config,
    read_credentials,
)
from engine.errors import ConfigError
from engine.paths import PROJECT_ROOT
from engine.venues.connect import open_exchange, open_ws_exchange, resolved_urls

EMULATOR_TOML = PROJECT_ROOT / "configs/paper/emulator.toml"
TESTNET_TOML = PROJECT_ROOT / "configs/paper/binance_testnet.toml"


def _raw(path: Path = EMULATOR_TOML) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "cfg.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def test_shipped_paper_configs_when_loaded_then_valid() -> None:
    emu = load_live_config(EMULATOR_TOML)
    testnet = load_live_config(TESTNET_TOML)
    native = load_live_config(PROJECT_ROOT / "configs/paper/emulator_native.toml")
    assert emu.environment == testnet.environment == native.environment == "paper"
    assert (native.spot.client, native.perp.client) == ("native", "native")
    assert testnet.spot.base_url == "https://testnet.binance.vision"
    assert testnet.perp.base_url == "https://testnet.binancefuture.com"


def test_paper_config_when_base_url_is_mainnet_then_refused_naming_the_host(tmp_path: Path) -> None:
    raw = _raw()
    raw["perp"]["base_url"] = "https://fapi.binance.com"
    with pytest.raises(ConfigError) as err:
        load_live_config(_write(tmp_path, raw))
    assert "fapi.binance.com" in str(err.value)
    assert "perp.base_url" in str(err.value)


def test_testnet_config_when_host_is_another_venues_testnet_then_refused(tmp_path: Path) -> None:
    raw = _raw(TESTNET_TOML)
    raw["environment"] = "testnet"
    for leg in ("spot", "perp"):
        raw[leg].pop("starting_balances")
    raw["spot"]["base_url"] = "https://api-testnet.bybit.com"  # a testnet, but not Binance's
    with pytest.raises(ConfigError, match=re.escape("api-testnet.bybit.com")):
        load_live_config(_write(tmp_path, raw))


def test_live_config_when_mainnet_host_then_accepted(tmp_path: Path) -> None:
    raw = _raw(TESTNET_TOML)
    raw["environment"] = "live"
    for leg in ("spot", "perp"):
        raw[leg].pop("starting_balances")
        raw[leg].pop("base_url")
    cfg = load_live_config(_write(tmp_path, raw))
    assert cfg.environment == "live"


def test_config_when_environment_missing_then_refused(tmp_path: Path) -> None:
    raw = _raw()
    raw.pop("environment")
    with pytest.raises(ConfigError, match="environment"):
        load_live_config(_write(tmp_path, raw))


def test_config_when_key_value_given_instead_of_env_name_then_refused() -> None:
    raw = copy.deepcopy(_raw())
    raw["spot"]["api_key_env"] = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
    with pytest.raises(ValidationError, match=r"spot\.api_key_env"):
        LiveConfig.model_validate(raw)


def test_testnet_config_when_no_key_env_names_then_refused() -> None:
    raw = _raw(TESTNET_TOML)
    raw["environment"] = "testnet"
    for leg in ("spot", "perp"):
        raw[leg].pop("starting_balances")
    raw["spot"].pop("api_key_env")
    with pytest.raises(ValidationError, match="api_key_env and api_secret_env are required"):
        LiveConfig.model_validate(raw)


def test_credentials_when_env_var_missing_then_error_names_variable_not_value() -> None:
    cfg = load_live_config(TESTNET_TOML)
    with pytest.raises(MissingCredentialsError, match="BINANCE_TESTNET_API_KEY"):
        read_credentials(cfg.spot, {})
    creds = read_credentials(
        cfg.spot, {"BINANCE_TESTNET_API_KEY": "k-123", "BINANCE_TESTNET_API_SECRET": "s-very-secret"}
    )
    assert creds.secret == "s-very-secret"
    assert "s-very-secret" not in repr(creds) and "s-very-secret" not in str(creds)


def test_paper_client_when_no_base_url_then_sandbox_hosts_only() -> None:
    raw = _raw(TESTNET_TOML)
    for leg in ("spot", "perp"):
        raw[leg].pop("base_url")
    cfg = LiveConfig.model_validate(raw)
    for venue in (cfg.spot, cfg.perp):
        exchange = open_exchange(venue, cfg.environment, None)
        hosts = {u.split("/")[2] for u in resolved_urls(exchange)}
        assert hosts and all("testnet" in h or h.startswith("demo-") for h in hosts), hosts


def test_paper_client_when_ccxt_tables_point_at_mainnet_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import ccxt.async_support as ccxt_async

    cfg = load_live_config(TESTNET_TOML).spot.model_copy(update={"base_url": None})
    # A ccxt whose sandbox switch does nothing: the node's own host check must still refuse.
    monkeypatch.setattr(ccxt_async.binance, "set_sandbox_mode", lambda self, enabled: None)
    with pytest.raises(UnsafeHostError, match=re.escape("api.binance.com")):
        open_exchange(cfg, "paper", None)


def test_paper_config_when_stream_url_is_mainnet_then_refused_naming_the_host(tmp_path: Path) -> None:
    raw = _raw()
    raw["spot"]["market_data"] = "ws"
    raw["spot"]["ws_base_url"] = "wss://stream.binance.com:9443"
    with pytest.raises(ConfigError) as err:
        load_live_config(_write(tmp_path, raw))
    assert "stream.binance.com" in str(err.value) and "spot.ws_base_url" in str(err.value)


def test_paper_stream_client_when_no_urls_then_testnet_streams_only() -> None:
    raw = _raw(TESTNET_TOML)
    raw["spot"].pop("base_url")
    raw["spot"]["market_data"] = "ws"
    cfg = LiveConfig.model_validate(raw)
    exchange = open_ws_exchange(cfg.spot, "paper")
    hosts = {u.split("/")[2].split(":")[0] for u in resolved_urls(exchange)}
    assert "stream.testnet.binance.vision" in hosts
    assert not {h for h in hosts if h.endswith("binance.com") and not h.startswith("demo-")}
