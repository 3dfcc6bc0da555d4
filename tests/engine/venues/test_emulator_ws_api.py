"""The emulator's Binance spot WebSocket API: ``session.logon``, ``userDataStream.subscribe`` and the spot
account's ``executionReport`` / ``outboundAccountPosition`` events.

Orders go in over REST through the real ccxt ``binance`` client; the events are decoded with nautilus's own
Binance spot schemas, so every field its execution client reads is present and typed as Binance sends it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import msgspec
import pytest
from nautilus_trader.adapters.binance.spot.schemas.user import (
    BinanceSpotAccountUpdateMsg,
    BinanceSpotOrderUpdateData,
)

from engine.venues.emulator import EmulatorThread
from engine.venues.emulator.ws_api import ws_api_hub_of
from tests.engine.venues.conftest import API_KEY, API_SECRET

SILENCE_SECS = 0.3  # how long "nothing more arrives" is watched for


class WsApi:
    """One WebSocket API connection: requests by method name, answers and events in arrival order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = iter(range(1, 1_000_000))

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request; return its answer (checked to carry the request's id)."""
        request_id = next(self._ids)
        request: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            request["params"] = params
        await self.ws.send_json(request)
        answer = await self.next()
        assert answer["id"] == request_id, answer
        return answer

    async def next(self) -> dict[str, Any]:
        """The next frame (answer or event)."""
        frame: dict[str, Any] = await asyncio.wait_for(self.ws.receive_json(), 10)
        return frame

    async def silent(self) -> bool:
        """Whether nothing arrives for `SILENCE_SECS`."""
        try:
            await asyncio.wait_for(self.ws.receive(), SILENCE_SECS)
        except TimeoutError:
            return True
        return False

    async def logon(self, secret: str = API_SECRET, key: str = API_KEY, **extra: Any) -> dict[str, Any]:
        """``session.logon`` signed as Binance documents (and nautilus signs): HMAC of the sorted params."""
        params: dict[str, Any] = {"apiKey": key, "timestamp": int(time.time() * 1000)} | extra
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        params["signature"] = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return await self.call("session.logon", params)


def _run(emu: EmulatorThread, scenario: Callable[[WsApi], Awaitable[None]]) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as http:
            url = emu.base_url.replace("http://", "ws://") + "/ws-api/v3"
            async with http.ws_connect(url) as ws:
                await scenario(WsApi(ws))

    asyncio.run(main())


def _order(event: dict[str, Any]) -> BinanceSpotOrderUpdateData:
    assert event["e"] == "executionReport"
    return msgspec.json.decode(msgspec.json.encode(event), type=BinanceSpotOrderUpdateData)


def _account(event: dict[str, Any]) -> BinanceSpotAccountUpdateMsg:
    assert event["e"] == "outboundAccountPosition"
    return msgspec.json.decode(msgspec.json.encode(event), type=BinanceSpotAccountUpdateMsg)


def _balances(msg: BinanceSpotAccountUpdateMsg) -> dict[str, tuple[Decimal, Decimal]]:
    return {b.a: (Decimal(b.f), Decimal(b.l)) for b in msg.B}


def _venue_balances(emu: EmulatorThread, *assets: str) -> dict[str, tuple[Decimal, Decimal]]:
    spot = emu.state()["spot"]
    return {a: (Decimal(spot[a]["free"]), Decimal(spot[a]["locked"])) for a in assets}


def test_ws_api_when_logon_signed_with_the_secret_then_session_authorized(emu: EmulatorThread) -> None:
    async def scenario(api: WsApi) -> None:
        before = await api.call("session.status")
        assert (before["result"]["apiKey"], before["result"]["authorizedSince"]) == (None, None)
        answer = await api.logon()
        assert answer["status"] == 200 and "error" not in answer
        result = answer["result"]
        assert (result["apiKey"], result["userDataStream"], result["returnRateLimits"]) == (
            API_KEY,
            False,
            True,
        )
        assert result["connectedSince"] <= result["authorizedSince"] <= result["serverTime"]
        # status (2) + logon (2): the connection's request weight this minute.
        [limit] = answer["rateLimits"]
        assert (limit["rateLimitType"], limit["limit"], limit["count"]) == ("REQUEST_WEIGHT", 6000, 4)
        status = await api.call("session.status")
        assert status["result"]["apiKey"] == API_KEY
        assert status["result"]["authorizedSince"] == result["authorizedSince"]

    _run(emu, scenario)


@pytest.mark.parametrize(
    ("logon", "status", "code"),
    [
        ({"secret": "not-the-secret"}, 400, -1022),
        ({"key": "unknown-key"}, 401, -2015),
        ({"recvWindow": 60_001}, 400, -1131),
    ],
    ids=["wrong_signature", "unknown_key", "recv_window_too_large"],
)
def test_ws_api_when_logon_not_valid_then_refused_with_binance_error_and_not_authorized(
    emu: EmulatorThread, logon: dict[str, Any], status: int, code: int
) -> None:
    async def scenario(api: WsApi) -> None:
        answer = await api.logon(**logon)
        assert (answer["status"], answer["error"]["code"]) == (status, code)
        assert "result" not in answer
        assert (await api.call("session.status"))["result"]["apiKey"] is None

    _run(emu, scenario)


def test_ws_api_when_logon_signature_wrong_then_message_is_binances(emu: EmulatorThread) -> None:
    async def scenario(api: WsApi) -> None:
        answer = await api.logon(secret="not-the-secret")
        assert answer["error"] == {"code": -1022, "msg": "Signature for this request is not valid."}

    _run(emu, scenario)


def test_ws_api_when_subscribe_before_logon_then_refused_and_no_events_pushed(
    emu: EmulatorThread, spot_client: ccxt.Exchange
) -> None:
    async def scenario(api: WsApi) -> None:
        answer = await api.call("userDataStream.subscribe")
        assert (answer["status"], answer["error"]["code"]) == (401, -1002)
        await asyncio.to_thread(spot_client.create_order, "BTC/USDT", "market", "buy", 0.01)
        assert await api.silent()
        assert (await api.call("session.subscriptions"))["result"] == []

    _run(emu, scenario)
    assert ws_api_hub_of(emu.emulator).sent == []  # read after the run: nothing was pushed


def test_ws_api_when_market_buy_over_rest_then_execution_reports_and_account_position_pushed(
    emu: EmulatorThread, spot_client: ccxt.Exchange
) -> None:
    events: list[dict[str, Any]] = []

    async def scenario(api: WsApi) -> None:
        await api.logon()
        answer = await api.call("userDataStream.subscribe")
        assert answer["result"] == {"subscriptionId": 0}
        assert (await api.call("session.status"))["result"]["userDataStream"] is True
        order = await asyncio.to_thread(spot_client.create_order, "BTC/USDT", "market", "buy", 0.01)
        assert order["status"] == "closed"
        for _ in range(3):
            frame = await api.next()
            assert frame["subscriptionId"] == 0
            events.append(frame["event"])
        assert await api.silent()  # one trade: nothing more

    _run(emu, scenario)
    new, trade = _order(events[0]), _order(events[1])
    account = _account(events[2])
    fill = spot_client.privateGetMyTrades({"symbol": "BTCUSDT"})[-1]
    assert (new.x.value, new.X.value, new.z, new.n, new.N, new.t) == (
        "NEW",
        "NEW",
        "0.00000000",
        "0",
        None,
        -1,
    )
    assert (new.s, new.S.value, new.o.value, new.q, new.C) == ("BTCUSDT", "BUY", "MARKET", "0.01000000", "")
    assert (trade.x.value, trade.X.value, trade.l, trade.z) == ("TRADE", "FILLED", "0.01000000", "0.01000000")
    assert (trade.L, trade.t, trade.i, trade.c) == (
        fill["price"],
        int(fill["id"]),
        int(fill["orderId"]),
        new.c,
    )
    assert (trade.N, trade.n) == ("BTC", fill["commission"])  # spot: commission in the asset received
    assert trade.n == "0.00001000" and trade.m is False and trade.w is False
    assert Decimal(trade.Y) == Decimal(trade.Z) == Decimal(fill["price"]) * Decimal("0.01")
    # Step clock, recorded stream time: event and trade times are the venue's (replay clock).
    assert trade.E == trade.T == int(fill["time"]) and int(fill["time"]) == new.O
    assert trade.I > new.I
    assert _balances(account) == _venue_balances(emu, "BTC", "USDT")
    assert _balances(account)["BTC"] == (Decimal("1.00999000"), Decimal(0))  # 1 + 0.01 - 0.00001 fee
    sent = ws_api_hub_of(emu.emulator).sent
    assert [(e, x, t) for e, _, x, t in sent] == [
        ("executionReport", "NEW", 0),
        ("executionReport", "TRADE", trade.t),
        ("outboundAccountPosition", "TRADE", trade.t),
    ]


def test_ws_api_when_limit_rests_then_lock_reported_and_cancel_unlocks_with_original_client_id(
    emu: EmulatorThread, spot_client: ccxt.Exchange
) -> None:
    events: list[dict[str, Any]] = []

    async def scenario(api: WsApi) -> None:
        await api.logon()
        await api.call("userDataStream.subscribe")
        order = await asyncio.to_thread(spot_client.create_order, "BTC/USDT", "limit", "buy", 0.01, 20000)
        events.extend([(await api.next())["event"] for _ in range(2)])  # NEW, then the lock
        await asyncio.to_thread(spot_client.cancel_order, order["id"], "BTC/USDT")
        events.extend([(await api.next())["event"] for _ in range(2)])  # CANCELED, then the unlock
        assert await api.silent()

    _run(emu, scenario)
    new, lock, canceled, unlock = (
        _order(events[0]),
        _account(events[1]),
        _order(events[2]),
        _account(events[3]),
    )
    assert (new.x.value, new.o.value, new.f.value, new.p, new.w) == (
        "NEW",
        "LIMIT",
        "GTC",
        "20000.00000000",
        True,
    )
    assert new.W == new.O
    assert _balances(lock) == {"USDT": (Decimal("99800"), Decimal("200"))}  # 0.01 x 20000 held for the bid
    assert (canceled.x.value, canceled.X.value, canceled.w, canceled.W) == (
        "CANCELED",
        "CANCELED",
        False,
        None,
    )
    # Binance: ``C`` is the canceled order's client id, ``c`` the cancel request's own.
    assert new.c == canceled.C and canceled.c.startswith("emuwscancel") and canceled.c != new.c
    assert _balances(unlock) == {"USDT": (Decimal("100000"), Decimal(0))}


def test_ws_api_when_unsubscribed_then_stream_terminated_and_later_orders_not_pushed(
    emu: EmulatorThread, spot_client: ccxt.Exchange
) -> None:
    async def scenario(api: WsApi) -> None:
        await api.logon()
        await api.call("userDataStream.subscribe")
        # nautilus sends the subscription id as a string; Binance's INT parameter takes it.
        answer = await api.call("userDataStream.unsubscribe", {"subscriptionId": "0"})
        assert (answer["status"], answer["result"]) == (200, {})
        terminated = await api.next()
        assert terminated["subscriptionId"] == 0 and terminated["event"]["e"] == "eventStreamTerminated"
        await asyncio.to_thread(spot_client.create_order, "BTC/USDT", "market", "buy", 0.01)
        assert await api.silent()
        again = await api.call("userDataStream.unsubscribe")
        assert (again["status"], again["error"]["code"]) == (400, -2036)
        # A new subscription on the same connection gets the next id.
        assert (await api.call("userDataStream.subscribe"))["result"] == {"subscriptionId": 1}

    _run(emu, scenario)
    assert ws_api_hub_of(emu.emulator).sent == []


def test_ws_api_when_logged_out_then_subscription_ends_and_subscribe_refused(emu: EmulatorThread) -> None:
    async def scenario(api: WsApi) -> None:
        await api.logon()
        await api.call("userDataStream.subscribe")
        answer = await api.call("session.logout")
        assert (answer["result"]["apiKey"], answer["result"]["userDataStream"]) == (None, False)
        assert (await api.next())["event"]["e"] == "eventStreamTerminated"
        refused = await api.call("userDataStream.subscribe")
        assert refused["error"]["code"] == -1002

    _run(emu, scenario)


def test_ws_api_when_method_not_served_or_frame_malformed_then_binance_errors(emu: EmulatorThread) -> None:
    async def scenario(api: WsApi) -> None:
        answer = await api.call("order.place", {"symbol": "BTCUSDT"})
        assert (answer["status"], answer["error"]["code"]) == (400, -1020)
        await api.ws.send_str("{not json")
        malformed = await api.next()
        assert (malformed["id"], malformed["error"]["code"]) == (None, -1102)
        assert (await api.call("v3/ping", {"returnRateLimits": False})) == {
            "id": 2,
            "status": 200,
            "result": {},
        }

    _run(emu, scenario)
