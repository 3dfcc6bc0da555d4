"""Binance USD-M's user-data stream on the emulator: listen keys, ``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``.

What nautilus's Binance USD-M execution client (HMAC keys) uses, and Binance documents:

==================================================  =========================================================
``POST /fapi/v1/listenKey``                         a listen key (``X-MBX-APIKEY`` header only, no
                                                    signature); the account's key is reused while it lives
``PUT /fapi/v1/listenKey``                          keepalive (-1125 when the account has no key)
``DELETE /fapi/v1/listenKey``                       close the key and its streams
``GET /fapi/v1/symbolConfig``                       margin type and leverage per symbol (signed)
``GET /fapi/v1/openAlgoOrders``, ``allAlgoOrders``  ``[]``: no algo (conditional) orders here (signed)
``/fstream?listenKey=<key>``, ``/fstream/ws/<key>``  the stream: nautilus builds the first from its
                                                    ``base_url_ws_stream`` (``ws://host:port/fstream``);
                                                    the second is Binance's classic form
==================================================  =========================================================

Events are pushed as the exchange core (`engine.venues.emulator.venue.Venue`) reports them through its
``order_listeners``, for orders on USD-M markets only: ``NEW`` when an order is booked, ``TRADE`` per fill
(followed by an ``ACCOUNT_UPDATE`` with the USDT wallet and the symbol's position, reason ``ORDER``),
``CANCELED`` and ``EXPIRED``. Times are the venue's (replay clock) plus the stream-time shift of the market
streams (`engine.venues.emulator.streams`), so a client on ``wall`` stream time sees fills stamped today.
Not emulated: funding-fee ``ACCOUNT_UPDATE``, ``TRADE_LITE``, ``MARGIN_CALL``, ``listenKeyExpired`` (keys
never expire here). Spot's user data come over Binance's WebSocket API (`engine.venues.emulator.ws_api`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSCloseCode, web

from engine.venues.emulator import streams
from engine.venues.emulator.market import MarketKind, MarketSpec
from engine.venues.emulator.render import f8, fdec
from engine.venues.emulator.venue import BinanceError, Fill, Order, Venue

if TYPE_CHECKING:
    from engine.venues.emulator.app import Emulator

_ZERO = Decimal(0)
_KEY_PATTERN = "[A-Za-z0-9]{64}"  # Binance listen keys: 64 alphanumerics (stream names carry an '@')


@dataclass(eq=False)
class _Client:
    """One user-data stream connection and its outgoing queue."""

    key: str
    ws: web.WebSocketResponse
    out: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)


# (event type, client order id, execution type, trade id) of an event a hub sent to its clients: tests prove
# with these that fills reached a client through its user-data stream.
SentEvent = tuple[str, str, str, int]


def order_status(exec_type: str, order: Order) -> str:
    """The order status an order event leaves ``order`` in (``X`` of Binance's order events).

    The venue reports a TRADE before it sets the order's final status, so it follows from ``remaining``.
    """
    if exec_type == "TRADE":
        return "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
    return exec_type  # NEW, CANCELED, EXPIRED: the status the event leaves the order in


def order_trade_update(
    exec_type: str, order: Order, fill: Fill | None, spec: MarketSpec, shift_ms: int = 0
) -> dict[str, Any]:
    """Binance's ``ORDER_TRADE_UPDATE`` event of one order event.

    Parameters
    ----------
    exec_type : str
        ``NEW``, ``TRADE``, ``CANCELED`` or ``EXPIRED``.
    order : Order
        The order as it stands after the event (for a TRADE: its fill already counted).
    fill : Fill, optional
        The fill of a TRADE.
    spec : MarketSpec
        The order's market (price and quantity formats).
    shift_ms : int
        Added to the times (the ``wall`` stream time's offset; 0 = replay clock).
    """
    pd, qd = spec.price_decimals, spec.qty_decimals  # as the REST order and trade answers
    when = (fill.time_ms if fill is not None else order.update_ms) + shift_ms
    data: dict[str, Any] = {
        "s": order.symbol,
        "c": order.client_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": fdec(order.qty, qd),
        "p": fdec(order.price, pd) if order.price else "0",
        "ap": fdec(order.avg_price, 5) if order.executed else "0",
        "sp": "0",
        "x": exec_type,
        "X": order_status(exec_type, order),
        "i": order.order_id,
        "l": fdec(fill.qty, qd) if fill is not None else "0",
        "z": fdec(order.executed, qd),
        "L": fdec(fill.price, pd) if fill is not None else "0",
    }
    if fill is not None:  # Binance pushes the commission only with a trade
        data |= {"N": fill.commission_asset, "n": f8(fill.commission)}
    data |= {
        "T": when,
        "t": fill.trade_id if fill is not None else 0,
        "b": "0",
        "a": "0",
        "m": fill.maker if fill is not None else False,
        "R": order.reduce_only,
        "wt": "CONTRACT_PRICE",
        "ot": order.type,
        "ps": "BOTH",
        "cp": False,
        "rp": f8(fill.realized_pnl) if fill is not None else "0",
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "EXPIRE_MAKER",
        "pm": "NONE",
        "gtd": 0,
    }
    return {"e": "ORDER_TRADE_UPDATE", "E": when, "T": when, "o": data}


def account_update(
    venue: Venue, order: Order, spec: MarketSpec, realized: Decimal, time_ms: int
) -> dict[str, Any]:
    """Binance's ``ACCOUNT_UPDATE`` after a fill of ``order``: USDT wallet and the symbol's position.

    ``realized`` is the symbol's accumulated realized P&L (``cr``); ``time_ms`` the event time (shifted).
    """
    pos = venue.positions.get(order.market)
    qty, entry = (pos.qty, pos.entry) if pos is not None else (_ZERO, _ZERO)
    qd = spec.qty_decimals
    wallet = f8(venue.usdm_wallet)
    position = {
        "s": order.symbol,
        "pa": fdec(qty, qd),
        "ep": f8(entry),
        "bep": f8(entry),
        "cr": f8(realized),
        "up": f8(venue.unrealized(order.market)),
        "mt": "cross",
        "iw": "0",
        "ps": "BOTH",
        "ma": spec.quote,
    }
    balance = {"a": spec.quote, "wb": wallet, "cw": wallet, "bc": "0"}
    return {
        "e": "ACCOUNT_UPDATE",
        "E": time_ms,
        "T": time_ms,
        "a": {"m": "ORDER", "B": [balance], "P": [position]},
    }


class UserStreamHub:
    """Listen keys and user-data stream connections of one emulator (its one USD-M account).

    Parameters
    ----------
    emu : Emulator
        The emulator whose venue's USD-M order events are streamed.
    """

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.venue = emu.venue
        self.keys: set[str] = set()
        self.clients: set[_Client] = set()
        self.sent: list[SentEvent] = []
        # Accumulated realized P&L per USD-M symbol (ACCOUNT_UPDATE ``cr``), from the fills seen.
        self._realized: dict[str, Decimal] = {}
        self.venue.order_listeners.append(self._on_order)

    # ---- pushing ---------------------------------------------------------------------------------

    def _on_order(self, exec_type: str, order: Order, fill: Fill | None) -> None:
        spec = self.venue.spec(order.market)
        if spec.kind is not MarketKind.USDM:
            return
        if fill is not None:
            self._realized[order.symbol] = self._realized.get(order.symbol, _ZERO) + fill.realized_pnl
        if not self.clients:
            return
        shift = streams.hub_of(self.emu).shift_ms
        self._send(order_trade_update(exec_type, order, fill, spec, shift))
        trade_id = fill.trade_id if fill is not None else 0
        self.sent.append(("ORDER_TRADE_UPDATE", order.client_id, exec_type, trade_id))
        if fill is not None:
            realized = self._realized[order.symbol]
            self._send(account_update(self.venue, order, spec, realized, fill.time_ms + shift))
            self.sent.append(("ACCOUNT_UPDATE", order.client_id, exec_type, trade_id))

    def _send(self, message: dict[str, Any]) -> None:
        frame = orjson.dumps(message)
        for client in self.clients:
            client.out.put_nowait(frame)

    # ---- listen keys -----------------------------------------------------------------------------

    def _api_key(self, request: web.Request) -> str:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", 401)
        if key not in self.venue.config.api_keys:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return key

    async def create_key(self, request: web.Request) -> web.Response:
        """``POST /fapi/v1/listenKey``: the account's live key, or a new one."""
        self._api_key(request)
        if not self.keys:
            self.keys.add(secrets.token_hex(32))
        return _json({"listenKey": next(iter(self.keys))})

    async def keepalive_key(self, request: web.Request) -> web.Response:
        """``PUT /fapi/v1/listenKey``: keys never expire here; -1125 when there is none."""
        self._api_key(request)
        if not self.keys:
            raise BinanceError(-1125, "This listenKey does not exist.")
        return _json({"listenKey": next(iter(self.keys))})

    async def close_key(self, request: web.Request) -> web.Response:
        """``DELETE /fapi/v1/listenKey``: forget the key and close its streams."""
        self._api_key(request)
        self.keys.clear()
        for client in list(self.clients):
            await client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"listenKey closed")
        return _json({})

    async def symbol_config(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/symbolConfig``: cross margin and the leverage of each USD-M symbol."""
        params = await self.emu._signed(request)
        indices = (
            [self.venue.resolve(MarketKind.USDM, params["symbol"])]
            if params.get("symbol")
            else self.venue.usdm_indices()
        )
        rows = [
            {
                "symbol": self.venue.spec(i).symbol,
                "marginType": "CROSSED",
                "isAutoAddMargin": False,
                "leverage": self.venue.leverage.get(i, self.venue.config.leverage),
                "maxNotionalValue": "50000",
            }
            for i in indices
        ]
        return _json(rows)

    async def no_algo_orders(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/openAlgoOrders`` / ``allAlgoOrders``: the emulator takes no algo orders."""
        await self.emu._signed(request)
        return _json([])

    # ---- streams ---------------------------------------------------------------------------------

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """One user-data stream connection (the key from the path or the ``listenKey`` query)."""
        key = request.match_info.get("key") or request.query.get("listenKey", "")
        if key not in self.keys:
            return _json({"code": -1125, "msg": "This listenKey does not exist."}, status=400)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        client = _Client(key, ws)
        self.clients.add(client)
        try:
            await streams.pump(ws, client.out)  # the stream takes no requests; read until the client leaves
        finally:
            self.clients.discard(client)
        return ws

    async def close_all(self, app: web.Application | None = None) -> None:
        """Close every user-data connection (the app's shutdown hook)."""
        for client in list(self.clients):
            await client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


USER_HUB: web.AppKey[UserStreamHub] = web.AppKey("carry_user_stream_hub", UserStreamHub)


def user_hub_of(emu: Emulator) -> UserStreamHub:
    """The `UserStreamHub` of an emulator."""
    return emu.app[USER_HUB]


def add_routes(emu: Emulator) -> None:
    """Register the listen-key, symbolConfig and user-data stream endpoints on ``emu.app``.

    Call before `engine.venues.emulator.streams.add_routes`: ``/fstream/ws/<key>`` must match before the
    market streams' ``/fstream/ws/<streams>``.
    """
    hub = UserStreamHub(emu)
    emu.app[USER_HUB] = hub
    emu.app.on_shutdown.append(hub.close_all)
    r = emu.app.router
    handlers: dict[str, Callable[[web.Request], Any]] = {
        "POST": hub.create_key,
        "PUT": hub.keepalive_key,
        "DELETE": hub.close_key,
    }
    for method, handler in handlers.items():
        r.add_route(method, "/fapi/v1/listenKey", handler)
    r.add_get("/fapi/v1/symbolConfig", hub.symbol_config)
    r.add_get("/fapi/v1/openAlgoOrders", hub.no_algo_orders)
    r.add_get("/fapi/v1/allAlgoOrders", hub.no_algo_orders)
    r.add_get("/fstream", hub.serve)
    r.add_get(f"/fstream/ws/{{key:{_KEY_PATTERN}}}", hub.serve)
