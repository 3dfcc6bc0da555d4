"""nautilus's native adapters as carry legs: config checks, client configs per environment, and the USD-M
data client publishing mark, index and funding from Binance's one ``markPrice`` stream."""

from __future__ import annotations

import asyncio
import tomllib
from decimal import Decimal
from typing import Any

import pytest
from nautilus_trader.adapters.binance.common.enums import BinanceAccountType, BinanceEnvironment
from nautilus_trader.adapters.binance.config import BinanceDataClientConfig
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.core import nautilus_pyo3
from nautilus_trader.model.data import FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate
from nautilus_trader.model.identifiers import InstrumentId, TraderId, Venue
from pydantic import ValidationError

from engine.config.live import Credentials, LiveConfig, UnsafeHostError, VenueSettings
from engine.paths import PROJECT_ROOT
from engine.venues.native import _binance_futures_data_client, native_clients, native_instrument_id

TESTNET_TOML = PROJECT_ROOT / "configs/paper/binance_testnet.toml"
CREDS = Credentials("key-native-test", "secret-native-test", "pass-native-test")


OKX_KEYS = {"api_key_env": "OKX_K", "api_secret_env": "OKX_S", "api_passphrase_env": "OKX_P"}


def _leg(**kw: Any) -> VenueSettings:
    base = {"venue": "BINANCE_USDM", "exchange": "binanceusdm", "symbol": "BTC/USDT:USDT", "client": "native"}
    keys = OKX_KEYS if kw.get("exchange") == "okx" else {}
    return VenueSettings.model_validate(base | keys | kw)


@pytest.mark.parametrize(
    ("exchange", "venue", "symbol", "expected"),
    [
        ("binance", "BINANCE", "BTC/USDT", "BTCUSDT.BINANCE"),
        ("binanceusdm", "BINANCE_USDM", "BTC/USDT:USDT", "BTCUSDT-PERP.BINANCE_USDM"),
        ("bybit", "BYBIT", "BTC/USDT", "BTCUSDT-SPOT.BYBIT"),
        ("bybit", "BYBIT", "BTC/USDT:USDT", "BTCUSDT-LINEAR.BYBIT"),
        ("okx", "OKX", "BTC/USDT", "BTC-USDT.OKX"),
    ],
)
def test_native_instrument_id_when_leg_given_then_named_as_the_adapter_names_it(
    exchange: str, venue: str, symbol: str, expected: str
) -> None:
    leg = _leg(exchange=exchange, venue=venue, symbol=symbol)
    assert native_instrument_id(leg) == InstrumentId.from_str(expected)


def test_native_bybit_leg_when_venue_not_bybit_then_refused_naming_the_venue() -> None:
    with pytest.raises(ValidationError, match="venue must be 'BYBIT'"):
        _leg(exchange="bybit", venue="BYBIT_PERP")


def test_native_okx_perp_leg_when_configured_then_refused_contracts_vs_base_units() -> None:
    with pytest.raises(ValidationError, match="contracts"):
        _leg(exchange="okx", venue="OKX")


def test_native_okx_leg_when_key_names_missing_then_refused_keys_needed_even_for_market_data() -> None:
    with pytest.raises(ValidationError, match="api_passphrase_env"):
        _leg(exchange="okx", venue="OKX", symbol="BTC/USDT", api_passphrase_env=None)


def test_native_binance_leg_when_exchange_does_not_match_symbol_then_refused() -> None:
    with pytest.raises(ValidationError, match="'binance' does not trade 'BTC/USDT:USDT'"):
        _leg(exchange="binance", venue="BINANCE")


def test_native_legs_when_both_bybit_then_refused_one_account_per_leg() -> None:
    raw = tomllib.loads(TESTNET_TOML.read_text())
    raw["spot"] |= {"venue": "BYBIT", "exchange": "bybit", "client": "native", "base_url": None}
    raw["perp"] |= {"venue": "BYBIT", "exchange": "bybit", "client": "native", "base_url": None}
    raw["spot"].pop("base_url")
    raw["perp"].pop("base_url")
    with pytest.raises(ValidationError, match="must differ"):
        LiveConfig.model_validate(raw)


def test_native_binance_clients_when_testnet_without_urls_then_testnet_hosts_and_keys_passed() -> None:
    clients = native_clients(_leg(), "testnet", CREDS)
    data, execution = clients.data_config, clients.exec_config
    assert execution is not None
    assert data.environment == execution.environment == BinanceEnvironment.TESTNET
    assert data.account_type == BinanceAccountType.USDT_FUTURES
    assert data.venue == execution.venue == Venue("BINANCE_USDM")
    assert execution.api_key == "key-native-test"  # from the environment variable, at build time only
    assert data.api_key is None  # market data needs no key
    assert all("binancefuture.com" in u or "binance.com" in u for u in clients.urls)


@pytest.mark.parametrize(
    ("urls", "streams", "ws_api"),
    [
        ({"base_url": "http://127.0.0.1:8765"}, "ws://127.0.0.1:8765", "ws://127.0.0.1:8765/ws-api/v3"),
        (
            {"base_url": "http://127.0.0.1:8765", "ws_base_url": "ws://localhost:8766/stream"},
            "ws://localhost:8766/stream",
            "ws://localhost:8766/ws-api/v3",
        ),
        ({}, None, None),
    ],
    ids=["loopback", "loopback_stream_path", "testnet_default"],
)
def test_native_binance_spot_exec_when_testnet_then_user_data_from_the_websocket_api_host(
    urls: dict[str, str], streams: str | None, ws_api: str | None
) -> None:
    leg = _leg(exchange="binance", venue="BINANCE", symbol="BTC/USDT", **urls)
    clients = native_clients(leg, "testnet", CREDS)
    execution = clients.exec_config
    assert execution is not None
    # The spot exec client's base_url_ws is its WebSocket API (session.logon, user data); None = nautilus's
    # host for the environment. The data client keeps the market streams' host.
    assert (clients.data_config.base_url_ws, execution.base_url_ws) == (streams, ws_api)
    assert (ws_api or "wss://ws-api.testnet.binance.vision/ws-api/v3") in clients.urls


def test_native_binance_perp_exec_when_loopback_then_websocket_urls_unchanged() -> None:
    clients = native_clients(_leg(base_url="http://127.0.0.1:9"), "testnet", CREDS)
    execution = clients.exec_config
    assert execution is not None
    assert execution.base_url_ws == execution.base_url_ws_stream == "ws://127.0.0.1:9"
    assert not any("ws-api" in u for u in clients.urls)


def test_native_clients_when_paper_then_no_execution_client_and_no_keys() -> None:
    clients = native_clients(_leg(base_url="http://127.0.0.1:9"), "paper", None)
    assert clients.exec_config is None
    assert clients.data_config.base_url_ws == "ws://127.0.0.1:9"


def test_native_bybit_clients_when_testnet_then_testnet_environment_and_host() -> None:
    clients = native_clients(_leg(exchange="bybit", venue="BYBIT"), "testnet", CREDS)
    assert clients.data_config.environment == nautilus_pyo3.BybitEnvironment.TESTNET
    assert clients.exec_config is not None
    assert clients.exec_config.product_types == (nautilus_pyo3.BybitProductType.LINEAR,)
    assert clients.urls == ("https://api-testnet.bybit.com",)


def test_native_okx_spot_clients_when_testnet_then_demo_environment() -> None:
    leg = _leg(exchange="okx", venue="OKX", symbol="BTC/USDT")
    clients = native_clients(leg, "testnet", CREDS)
    assert clients.exec_config is not None
    assert clients.exec_config.environment == nautilus_pyo3.OKXEnvironment.DEMO
    assert clients.exec_config.api_passphrase == "pass-native-test"


def test_native_clients_when_live_url_in_testnet_then_refused_naming_the_host() -> None:
    leg = _leg().model_copy(update={"base_url": "https://fapi.binance.com"})  # skips load-time validation
    with pytest.raises(UnsafeHostError, match=r"fapi\.binance\.com"):
        native_clients(leg, "testnet", CREDS)


MARK_MSG = (
    b'{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1680652800001,"s":"BTCUSDT",'
    b'"p":"28155.10000000","P":"28160.00000000","i":"28149.61543478","r":"0.00002760","T":1680681600000}}'
)


def test_usdm_data_client_when_mark_price_message_then_mark_index_and_funding_published() -> None:
    clock = LiveClock()
    msgbus = MessageBus(TraderId("TESTER-001"), clock)
    received: list[Any] = []
    msgbus.register("DataEngine.process", received.append)
    loop = asyncio.new_event_loop()
    try:
        config = BinanceDataClientConfig(
            venue=Venue("BINANCE_USDM"),
            account_type=BinanceAccountType.USDT_FUTURES,
            environment=BinanceEnvironment.TESTNET,
            base_url_http="http://127.0.0.1:9",
            base_url_ws="ws://127.0.0.1:9",
        )
        client = _binance_futures_data_client(loop, "BINANCE_USDM", config, msgbus, Cache(), clock)
        client._handle_mark_price(MARK_MSG)
    finally:
        loop.close()
    mark, index, funding = received[-3:]
    iid = InstrumentId.from_str("BTCUSDT-PERP.BINANCE_USDM")
    assert isinstance(mark, MarkPriceUpdate) and mark.instrument_id == iid
    assert isinstance(index, IndexPriceUpdate) and index.value.as_decimal() == Decimal("28149.61543478")
    assert isinstance(funding, FundingRateUpdate) and funding.rate == Decimal("0.00002760")
    assert funding.next_funding_ns == 1680681600000 * 1_000_000
    assert mark.ts_event == index.ts_event == funding.ts_event == 1680652800001 * 1_000_000
