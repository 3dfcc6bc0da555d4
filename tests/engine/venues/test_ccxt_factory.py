"""ccxt exchanges pointed at a base URL: every API host rewritten, paths kept, retries off, errors mapped."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from engine.venues.ccxt_factory import (
    create_async_exchange,
    create_sync_exchange,
    map_errors_on_any_host,
    rewrite_host,
)
from engine.venues.emulator import EmulatorThread
from tests.engine.venues.conftest import API_KEY, API_SECRET

BASE = "http://127.0.0.1:18080"


def _leaves(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [leaf for value in node.values() for leaf in _leaves(value)]
    return []


@pytest.mark.parametrize("exchange_id", ["binance", "binanceusdm", "bybit", "okx"])
def test_create_sync_exchange_when_base_url_then_every_api_url_is_loopback_with_paths_kept(
    exchange_id: str,
) -> None:
    stock = getattr(ccxt, exchange_id)()
    ours = create_sync_exchange(exchange_id, BASE, api_key="k", secret="s")
    stock_urls = [u for u in _leaves(stock.urls["api"]) if "://" in u]
    our_urls = [u for u in _leaves(ours.urls["api"]) if "://" in u]
    assert len(our_urls) == len(stock_urls) > 0
    for before, after in zip(stock_urls, our_urls, strict=True):
        assert after.startswith(BASE)
        assert urlsplit(after).path == urlsplit(before).path


def test_create_sync_exchange_when_binance_then_paths_are_binance_rest_families() -> None:
    api = create_sync_exchange("binanceusdm", BASE).urls["api"]
    assert api["fapiPublic"] == f"{BASE}/fapi/v1"
    assert api["fapiPrivateV3"] == f"{BASE}/fapi/v3"
    assert api["public"] == f"{BASE}/api/v3"
    assert api["sapi"] == f"{BASE}/sapi/v1"
    assert api["fapiData"] == f"{BASE}/futures/data"


def test_create_exchange_when_options_given_then_carry_defaults_and_keys_applied() -> None:
    ex = create_sync_exchange(
        "binance",
        BASE,
        api_key=API_KEY,
        secret=API_SECRET,
        enable_rate_limit=False,
        options={"recvWindow": 5000},
    )
    assert (ex.apiKey, ex.secret, ex.enableRateLimit) == (API_KEY, API_SECRET, False)
    assert ex.options["fetchCurrencies"] is False
    assert ex.options["fetchMargins"] is False
    assert ex.options["fetchMarkets"]["types"] == ["spot"]
    assert ex.options["maxRetriesOnFailure"] == 0
    assert ex.options["recvWindow"] == 5000
    assert create_sync_exchange("binanceusdm", BASE).options["fetchMarkets"]["types"] == ["linear"]


def test_create_async_exchange_when_called_then_async_class_pointed_at_base() -> None:
    async def make() -> tuple[bool, str]:
        ex = create_async_exchange("binanceusdm", BASE, api_key="k", secret="s", timeout_ms=1234)
        try:
            return isinstance(ex, ccxt_async.binanceusdm), ex.urls["api"]["fapiPrivate"] + f"|{ex.timeout}"
        finally:
            await ex.close()

    is_async, url = asyncio.run(make())
    assert is_async and url == f"{BASE}/fapi/v1|1234"


def test_rewrite_host_when_base_has_path_prefix_then_prefix_kept() -> None:
    assert rewrite_host("https://fapi.binance.com/fapi/v1", "http://127.0.0.1:9/proxy/") == (
        "http://127.0.0.1:9/proxy/fapi/v1"
    )


def test_error_mapping_when_loopback_then_ccxt_maps_binance_codes_only_with_the_helper(
    emu: EmulatorThread,
) -> None:
    plain = create_sync_exchange(
        "binanceusdm",
        emu.base_url,
        api_key=API_KEY,
        secret=API_SECRET,
        enable_rate_limit=False,
        map_errors=False,
    )
    plain.load_markets()
    with pytest.raises(ccxt.ExchangeError) as info:
        plain.create_order("BTC/USDT:USDT", "market", "sell", 1000.0)
    assert type(info.value) is ccxt.ExchangeError  # -2019 unmapped off Binance's hosts
    map_errors_on_any_host(plain)
    with pytest.raises(ccxt.InsufficientFunds, match="-2019"):
        plain.create_order("BTC/USDT:USDT", "market", "sell", 1000.0)
