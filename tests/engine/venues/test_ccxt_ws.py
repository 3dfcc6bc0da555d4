"""Quotes by websocket: the real ccxt.pro ``binance`` client against a loopback book-ticker stream.

The stream server speaks Binance's websocket protocol as ccxt.pro uses it (``SUBSCRIBE`` with an id, the
``{"result": null, "id": ...}`` answer, then raw ``bookTicker`` messages); markets come from the emulator.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.identifiers import TraderId

from engine.config.live import VenueSettings
from engine.venues.ccxt_data import CcxtDataClient
from engine.venues.ccxt_factory import create_async_exchange
from engine.venues.connect import open_ws_exchange, resolved_urls
from engine.venues.emulator import EmulatorThread
from engine.venues.instruments import market_for

BOOKS = [("28160.01", "28160.02"), ("28161.50", "28161.60"), ("28159.99", "28160.00")]


def test_spot_quotes_when_streamed_by_websocket_then_published_in_order_with_venue_strings(
    emu: EmulatorThread,
) -> None:
    subscribed: list[Any] = []

    async def stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            sub = json.loads(msg.data)
            subscribed.append(sub)
            await ws.send_json({"result": None, "id": sub["id"]})
            for u, (bid, ask) in enumerate(BOOKS, start=1):
                await ws.send_json({"u": u, "s": "BTCUSDT", "b": bid, "B": "1.5", "a": ask, "A": "2.25"})
                await asyncio.sleep(0.02)
        return ws

    async def scenario() -> list[QuoteTick]:
        app = web.Application()
        app.router.add_get("/ws", stream)
        app.router.add_get("/ws/{tail:.*}", stream)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        leg = VenueSettings(
            venue="BINANCE",
            exchange="binance",
            symbol="BTC/USDT",
            base_url=emu.base_url,
            ws_base_url=f"ws://127.0.0.1:{port}",
            market_data="ws",
        )
        rest = create_async_exchange("binance", emu.base_url, enable_rate_limit=False)
        ws_ex = open_ws_exchange(leg, "paper", enable_rate_limit=False)
        assert all(u.split("/")[2].startswith("127.0.0.1") for u in resolved_urls(ws_ex))
        loop = asyncio.get_running_loop()
        clock = LiveClock()
        msgbus = MessageBus(TraderId("TESTER-001"), clock)
        received: list[Any] = []
        msgbus.register("DataEngine.process", received.append)
        try:
            markets = await rest.load_markets()
            market = market_for(markets, "BTC/USDT", "BINANCE", int(rest.precisionMode))
            client = CcxtDataClient(loop, rest, market, msgbus, Cache(), clock, 5.0, False, ws_ex)
            await client._connect()
            for _ in range(200):
                if len([d for d in received if isinstance(d, QuoteTick)]) >= 1 + len(BOOKS):
                    break
                await asyncio.sleep(0.02)
            await client._disconnect()
        finally:
            await rest.close()
            await runner.cleanup()
        return [d for d in received if isinstance(d, QuoteTick)]

    quotes = asyncio.run(scenario())
    assert subscribed and subscribed[0]["method"] == "SUBSCRIBE"
    assert subscribed[0]["params"] == ["btcusdt@bookTicker"]
    streamed = [(str(q.bid_price), str(q.ask_price)) for q in quotes[1:]]  # the first comes from REST
    assert streamed == [(b, a) for b, a in BOOKS]
    assert all(q.bid_size.as_decimal() == Decimal("1.50000") for q in quotes[1:])
