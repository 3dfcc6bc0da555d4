"""The emulator's Binance USD-M user-data stream: listen keys, ``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``.

Orders go in through the real ccxt ``binanceusdm`` client; the events are decoded with nautilus's own
Binance schemas, so every field its execution client reads is present and typed as Binance sends it.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import msgspec
from nautilus_trader.adapters.binance.futures.schemas.user import (
    BinanceFuturesAccountUpdateMsg,
    BinanceFuturesOrderUpdateMsg,
)

from engine.venues.emulator import EmulatorThread
from tests.engine.venues.conftest import API_KEY


async def _events(emu: EmulatorThread, client: ccxt.Exchange, n: int) -> tuple[str, list[dict[str, Any]]]:
    """Open the user stream, buy 0.01 BTCUSDT perp at market; return the listen key and ``n`` events."""
    headers = {"X-MBX-APIKEY": API_KEY}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emu.base_url}/fapi/v1/listenKey", headers=headers) as resp:
            key = (await resp.json())["listenKey"]
        async with http.ws_connect(f"{emu.base_url.replace('http', 'ws')}/fstream?listenKey={key}") as ws:
            await asyncio.to_thread(client.create_order, "BTC/USDT:USDT", "market", "buy", 0.01)
            events = [await asyncio.wait_for(ws.receive_json(), 10) for _ in range(n)]
        async with http.put(f"{emu.base_url}/fapi/v1/listenKey", headers=headers) as resp:
            assert resp.status == 200
        async with http.delete(f"{emu.base_url}/fapi/v1/listenKey", headers=headers) as resp:
            assert resp.status == 200
        async with http.put(f"{emu.base_url}/fapi/v1/listenKey", headers=headers) as resp:
            assert (resp.status, (await resp.json())["code"]) == (400, -1125)  # closed: gone
    return key, events


def test_user_stream_when_market_order_fills_then_order_trade_update_has_binance_fields(
    emu: EmulatorThread, usdm_client: ccxt.Exchange
) -> None:
    key, events = asyncio.run(_events(emu, usdm_client, 3))
    assert len(key) == 64 and key.isalnum()
    assert [e["e"] for e in events] == ["ORDER_TRADE_UPDATE", "ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"]
    new, trade = (
        msgspec.json.decode(msgspec.json.encode(e), type=BinanceFuturesOrderUpdateMsg) for e in events[:2]
    )
    account = msgspec.json.decode(msgspec.json.encode(events[2]), type=BinanceFuturesAccountUpdateMsg)
    assert (new.o.x.value, new.o.X.value, new.o.z, new.o.n) == ("NEW", "NEW", "0.000", None)
    fill = usdm_client.fapiPrivateGetUserTrades({"symbol": "BTCUSDT"})[-1]
    o = trade.o
    assert (o.s, o.S.value, o.o.value, o.x.value, o.X.value) == (
        "BTCUSDT",
        "BUY",
        "MARKET",
        "TRADE",
        "FILLED",
    )
    assert (o.q, o.l, o.z) == ("0.010", "0.010", "0.010")
    assert (o.L, o.t, o.i) == (fill["price"], int(fill["id"]), int(fill["orderId"]))
    assert o.n is not None
    assert (o.N, Decimal(o.n)) == ("USDT", Decimal(fill["commission"]))
    assert (o.m, o.R, o.ps.value, o.rp) == (False, False, "BOTH", "0.00000000")
    assert o.c == new.o.c and int(fill["time"]) == o.T and trade.E == o.T  # step clock: no stream shift
    assert account.a.m.value == "ORDER"
    assert [(p.s, p.pa, p.ps.value) for p in account.a.P] == [("BTCUSDT", "0.010", "BOTH")]
    wallet = Decimal(emu.state()["usdm_wallet"])
    assert [(b.a, Decimal(b.wb)) for b in account.a.B] == [("USDT", wallet)]


def test_user_stream_when_listen_key_unknown_then_refused(emu: EmulatorThread) -> None:
    async def connect() -> int:
        url = f"{emu.base_url}/fstream?listenKey={'x' * 64}"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            return resp.status

    assert asyncio.run(connect()) == 400
