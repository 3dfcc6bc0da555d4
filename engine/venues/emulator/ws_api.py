"""Binance spot's WebSocket API on the emulator: session logon and the user data stream.

Binance retired spot listen keys; a spot account's user data now arrive on a WebSocket API connection
(``wss://ws-api.binance.com:443/ws-api/v3``), served here at ``/ws-api/v3``. nautilus's Binance spot
execution client (1.231) uses it that way: ``session.logon``, then ``userDataStream.subscribe``, and events
inline on the same connection; orders themselves go over REST.

Requests are JSON text frames ``{"id": ..., "method": ..., "params": {...}}`` (a method may carry a ``v3/``
prefix); answers ``{"id", "status": 200, "result", "rateLimits"}`` or ``{"id", "status": 4xx, "error":
{"code", "msg"}, "rateLimits"}`` (``rateLimits`` left out with ``returnRateLimits=false`` on the URL or in
the params). Methods served:

==============================  =========================================================================
``session.logon``               ``apiKey``, ``timestamp``, ``signature`` (+ ``recvWindow``): HMAC-SHA256,
                                with the key's secret, of every param but ``signature``, sorted by name,
                                as ``k=v&...``; -1102 (param missing), -2015 (unknown key), -1022 (bad
                                signature), -1021 / -1131 (time window)
``session.status``              the session (``apiKey``, ``authorizedSince`` null when not logged on)
``session.logout``              forget the key; ends the logon's subscription (``eventStreamTerminated``)
``session.subscriptions``       ``[{"subscriptionId": N}]``
``userDataStream.subscribe``    needs a logon (-1002 without one; -2035 when already subscribed):
                                ``{"subscriptionId": N}``, N counting from 0 per connection
``userDataStream.unsubscribe``  ``subscriptionId`` (INT, or its digits as a string, as nautilus sends
                                it) or none for all; ``eventStreamTerminated`` follows the answer; -2036
                                when nothing was active
``ping``, ``time``              ``{}``, ``{"serverTime": ...}``
==============================  =========================================================================

Any other method (``order.place``, ``account.status``, ...) is answered -1020: the emulator takes orders and
serves account queries over REST only.

Events, each ``{"subscriptionId": N, "event": {...}}`` to every subscribed connection, for the spot
account's orders as the exchange core (`engine.venues.emulator.venue.Venue`) reports them through its
``order_listeners``: ``executionReport`` for ``NEW``, ``TRADE`` (status ``PARTIALLY_FILLED`` / ``FILLED``),
``CANCELED`` (``C`` = the order's client id, ``c`` a generated cancel id) and ``EXPIRED`` (with ``eR``), and
``outboundAccountPosition`` with the assets whose free or locked amount changed: right after a trade or a
cancel, and once more after the venue's operation when it locked funds for a resting order. Times are the
venue's (replay clock) plus the market streams' stream-time shift (`engine.venues.emulator.streams`).
``serverShutdown`` goes to every connection when the emulator stops.

Not emulated: Ed25519 and RSA keys, ``userDataStream.subscribe.signature`` and the other WebSocket API
methods, ``REJECTED`` execution reports (a refused order is answered with an error and never exists, as on
Binance for REST orders), ``balanceUpdate``, ``listStatus``, ``externalLockUpdate``, SBE, ping frames every
20 s, the 24 h connection limit, request-weight limits (the counts are reported, never enforced). Binance
accepts only Ed25519 keys for ``session.logon``; the emulator takes HMAC keys there, as nautilus signs with
them, so a client proven here with HMAC keys still needs an Ed25519 key on Binance itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from engine.venues.emulator import streams
from engine.venues.emulator.market import MarketKind
from engine.venues.emulator.render import f8
from engine.venues.emulator.user_stream import SentEvent, order_status
from engine.venues.emulator.venue import BinanceError, Fill, Order, Venue, missing

if TYPE_CHECKING:
    from engine.venues.emulator.app import Emulator

PATH = "/ws-api/v3"
_ZERO = Decimal(0)
_ZERO8 = f8(_ZERO)
_MAX_RECV_WINDOW_MS = 60_000  # as the REST signature check (engine.venues.emulator.app)
_FUTURE_TOLERANCE_MS = 1_000
_MICROS = 10**14  # a timestamp above this is in microseconds (Binance takes both)
_WEIGHTS = {
    "session.logon": 2,
    "session.status": 2,
    "session.logout": 2,
    "session.subscriptions": 2,
    "userDataStream.subscribe": 2,
    "userDataStream.unsubscribe": 2,
    "ping": 1,
    "time": 1,
}
_EXPIRY_REASON = {"IOC": "UNFILLED_IOC_QUANTITY_EXPIRED", "FOK": "UNFILLED_FOK_ORDER_EXPIRED"}


def _wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass(eq=False)
class _Session:
    """One WebSocket API connection: its logon, its subscription and its outgoing frames."""

    ws: web.WebSocketResponse
    connected_ms: int
    rate_limits: bool
    out: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    api_key: str | None = None
    authorized_ms: int | None = None
    subscription: int | None = None  # the logged-on account's user data subscription
    next_subscription: int = 0
    weight_minute: int = -1
    weight: int = 0

    def send(self, message: dict[str, Any]) -> None:
        """Queue one JSON frame (sent in order by the connection's writer)."""
        self.out.put_nowait(orjson.dumps(message))

    def count(self, weight: int) -> int:
        """Add a request's weight to the current UTC minute's count; return the count."""
        minute = _wall_ms() // 60_000
        if minute != self.weight_minute:
            self.weight_minute, self.weight = minute, 0
        self.weight += weight
        return self.weight


def _on_book(exec_type: str, order: Order) -> bool:
    """Whether the order rests on the book after the event (``w``): a GTC limit with quantity left."""
    rests = order.type in ("LIMIT", "LIMIT_MAKER") and order.time_in_force == "GTC"
    return rests and exec_type in ("NEW", "TRADE") and order.remaining > 0


def execution_report(
    exec_type: str,
    order: Order,
    fill: Fill | None,
    execution_id: int,
    cancel_client_id: str = "",
    shift_ms: int = 0,
) -> dict[str, Any]:
    """Binance's spot ``executionReport`` event of one order event.

    Parameters
    ----------
    exec_type : str
        ``NEW``, ``TRADE``, ``CANCELED`` or ``EXPIRED``.
    order : Order
        The order as it stands after the event (for a TRADE: its fill already counted).
    fill : Fill, optional
        The fill of a TRADE.
    execution_id : int
        ``I``: the event's execution id (increasing).
    cancel_client_id : str
        ``c`` of a CANCELED event (the cancel's own id; ``C`` then carries the order's).
    shift_ms : int
        Added to the times (the ``wall`` stream time's offset; 0 = replay clock).
    """
    when = (fill.time_ms if fill is not None else order.update_ms) + shift_ms
    canceled = exec_type == "CANCELED"
    on_book = _on_book(exec_type, order)
    event: dict[str, Any] = {
        "e": "executionReport",
        "E": when,
        "s": order.symbol,
        "c": cancel_client_id if canceled else order.client_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": f8(order.qty),
        "p": f8(order.price),
        "P": _ZERO8,
        "F": _ZERO8,
        "g": -1,
        "C": order.client_id if canceled else "",
        "x": exec_type,
        "X": order_status(exec_type, order),
        "r": "NONE",
        "i": order.order_id,
        "l": f8(fill.qty) if fill is not None else _ZERO8,
        "z": f8(order.executed),
        "L": f8(fill.price) if fill is not None else _ZERO8,
        # Binance: "0" and null until a trade carries a commission.
        "n": f8(fill.commission) if fill is not None else "0",
        "N": fill.commission_asset if fill is not None else None,
        "T": when,
        "t": fill.trade_id if fill is not None else -1,
        "I": execution_id,
        "w": on_book,
        "m": fill.maker if fill is not None else False,
        "M": False,
        "O": order.time_ms + shift_ms,
        "Z": f8(order.cum_quote),
        "Y": f8(fill.price * fill.qty) if fill is not None else _ZERO8,
        "Q": _ZERO8,
    }
    if on_book:  # Working Time: only while the order is on the book
        event["W"] = order.time_ms + shift_ms
    event["V"] = "EXPIRE_MAKER"
    if exec_type == "EXPIRED":
        event["eR"] = _EXPIRY_REASON.get(order.time_in_force, "INSUFFICIENT_LIQUIDITY")
    return event


def outbound_account_position(
    venue: Venue, assets: list[str], time_ms: int, update_ms: int
) -> dict[str, Any]:
    """Binance's ``outboundAccountPosition``: free and locked of ``assets`` in the spot account."""
    balances = [{"a": a, "f": f8(venue.spot[a].free), "l": f8(venue.spot[a].locked)} for a in assets]
    return {"e": "outboundAccountPosition", "E": time_ms, "u": update_ms, "B": balances}


class WsApiHub:
    """The WebSocket API connections of one emulator and the user data of its one spot account.

    Parameters
    ----------
    emu : Emulator
        The emulator whose venue's spot order events are streamed.
    """

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.venue = emu.venue
        self.sessions: set[_Session] = set()
        self.sent: list[SentEvent] = []
        self._execution_ids = itertools.count(1)
        self._cancel_ids = itertools.count(1)
        # (free, locked) per spot asset as last reported (or as it stood when first seen): the assets an
        # outboundAccountPosition lists are those that differ.
        self._reported: dict[str, tuple[Decimal, Decimal]] = {
            a: (b.free, b.locked) for a, b in self.venue.spot.items()
        }
        self._recheck_pending = False
        self._handlers: dict[str, Callable[[_Session, dict[str, Any]], Any]] = {
            "session.logon": self._logon,
            "session.status": self._status,
            "session.logout": self._logout,
            "session.subscriptions": self._subscriptions,
            "userDataStream.subscribe": self._subscribe,
            "userDataStream.unsubscribe": self._unsubscribe,
            "ping": lambda s, p: {},
            "time": lambda s, p: {"serverTime": _wall_ms()},
        }
        self.venue.order_listeners.append(self._on_order)

    # ---- pushing ---------------------------------------------------------------------------------

    def _subscribed(self) -> list[_Session]:
        return [s for s in self.sessions if s.subscription is not None]

    def _push(self, sessions: list[_Session], event: dict[str, Any]) -> None:
        for s in sessions:
            s.send({"subscriptionId": s.subscription, "event": event})

    def _on_order(self, exec_type: str, order: Order, fill: Fill | None) -> None:
        spec = self.venue.spec(order.market)
        if spec.kind is not MarketKind.SPOT:
            return
        listeners = self._subscribed()
        if not listeners:
            self._changed_assets()  # keep the baseline: a later subscriber hears only later changes
            return
        shift = self._shift_ms()
        cancel_id = f"emuwscancel{next(self._cancel_ids):09d}" if exec_type == "CANCELED" else ""
        report = execution_report(exec_type, order, fill, next(self._execution_ids), cancel_id, shift)
        self._push(listeners, report)
        trade_id = fill.trade_id if fill is not None else 0
        self.sent.append(("executionReport", order.client_id, exec_type, trade_id))
        ids = (order.client_id, exec_type, trade_id)
        self._report_balances(listeners, ids)
        if not self._recheck_pending:
            # A resting order's funds are locked after the venue reports it: look again once the venue's
            # operation is over (the loop runs nothing else in between).
            self._recheck_pending = True
            asyncio.get_running_loop().call_soon(self._recheck, ids)

    def _recheck(self, ids: tuple[str, str, int]) -> None:
        self._recheck_pending = False
        self._report_balances(self._subscribed(), ids)

    def _shift_ms(self) -> int:
        return streams.hub_of(self.emu).shift_ms

    def _changed_assets(self) -> list[str]:
        """The spot assets whose (free, locked) changed since last reported (now taken as reported)."""
        changed = []
        for asset, balance in self.venue.spot.items():
            now = (balance.free, balance.locked)
            if self._reported.get(asset, (_ZERO, _ZERO)) != now:
                self._reported[asset] = now
                changed.append(asset)
        return changed

    def _report_balances(self, listeners: list[_Session], ids: tuple[str, str, int]) -> None:
        changed = self._changed_assets()
        if not changed or not listeners:
            return
        when = self.venue.market.now_ms + self._shift_ms()
        self._push(listeners, outbound_account_position(self.venue, changed, when, when))
        self.sent.append(("outboundAccountPosition", *ids))

    def _terminate(self, session: _Session) -> None:
        """End the session's subscription with Binance's ``eventStreamTerminated``."""
        if session.subscription is None:
            return
        event = {"e": "eventStreamTerminated", "E": self.venue.market.now_ms + self._shift_ms()}
        session.send({"subscriptionId": session.subscription, "event": event})
        session.subscription = None

    # ---- requests --------------------------------------------------------------------------------

    def _answer(self, session: _Session, text: str) -> None:
        """Answer one request frame; after the answer, end the subscription an unsubscribe or logout ends."""
        request_id: Any = None
        params: dict[str, Any] = {}
        weight = 1
        ends = False
        try:
            request_id, method, params = _parse(text)
            handler = self._handlers.get(method)
            if handler is None:
                raise BinanceError(-1020, "This operation is not supported.")
            weight = _WEIGHTS[method]
            answer: dict[str, Any] = {"id": request_id, "status": 200, "result": handler(session, params)}
            ends = method in ("userDataStream.unsubscribe", "session.logout")
        except BinanceError as exc:
            answer = _error(request_id, exc)
        count = session.count(weight)
        if session.rate_limits and params.get("returnRateLimits") not in (False, "false"):
            answer["rateLimits"] = [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                    "count": count,
                }
            ]
        session.send(answer)
        if ends:
            self._terminate(session)

    def _session_info(self, session: _Session) -> dict[str, Any]:
        return {
            "apiKey": session.api_key,
            "authorizedSince": session.authorized_ms,
            "connectedSince": session.connected_ms,
            "returnRateLimits": session.rate_limits,
            "serverTime": _wall_ms(),
            "userDataStream": session.subscription is not None,
        }

    def _logon(self, session: _Session, params: dict[str, Any]) -> dict[str, Any]:
        key = params.get("apiKey")
        if not isinstance(key, str) or not key:
            raise missing("apiKey")
        signature = params.get("signature")
        if not isinstance(signature, str) or not signature:
            raise missing("signature")
        secret = self.venue.config.api_keys.get(key)
        if secret is None:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        payload = "&".join(f"{k}={_text(v)}" for k, v in sorted(params.items()) if k != "signature")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):  # HMAC signatures are case-insensitive
            raise BinanceError(-1022, "Signature for this request is not valid.")
        _check_time(params)
        session.api_key, session.authorized_ms = key, _wall_ms()
        return self._session_info(session)

    def _status(self, session: _Session, params: dict[str, Any]) -> dict[str, Any]:
        return self._session_info(session)

    def _logout(self, session: _Session, params: dict[str, Any]) -> dict[str, Any]:
        # The logon's subscription ends with the answer (`_answer` sends eventStreamTerminated after it).
        session.api_key = session.authorized_ms = None
        return self._session_info(session) | {"userDataStream": False}

    def _subscriptions(self, session: _Session, params: dict[str, Any]) -> list[dict[str, int]]:
        return [] if session.subscription is None else [{"subscriptionId": session.subscription}]

    def _subscribe(self, session: _Session, params: dict[str, Any]) -> dict[str, int]:
        if session.api_key is None:
            raise BinanceError(-1002, "You are not authorized to execute this request.", 401)
        if session.subscription is not None:
            raise BinanceError(-2035, "User Data Stream subscription already active.")
        session.subscription = session.next_subscription
        session.next_subscription += 1
        return {"subscriptionId": session.subscription}

    def _unsubscribe(self, session: _Session, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("subscriptionId")
        if wanted is not None:
            if isinstance(wanted, bool) or not (isinstance(wanted, int) or str(wanted).isdigit()):
                raise BinanceError(-1100, "Illegal characters found in parameter 'subscriptionId'.")
            if session.subscription != int(wanted):
                raise BinanceError(-2036, "User Data Stream subscription not active.")
        elif session.subscription is None:
            raise BinanceError(-2036, "User Data Stream subscription not active.")
        return {}  # `_answer` ends the subscription after this answer

    # ---- connections -----------------------------------------------------------------------------

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """One WebSocket API connection: answer its requests until it closes."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        rate_limits = request.query.get("returnRateLimits", "true").lower() != "false"
        session = _Session(ws, _wall_ms(), rate_limits)
        self.sessions.add(session)

        def binary(_: bytes) -> None:  # requests are text frames only
            session.send(_error(None, BinanceError(-1102, "Field value was empty or malformed.")))

        try:
            await streams.pump(ws, session.out, lambda text: self._answer(session, text), binary)
        finally:
            self.sessions.discard(session)
        return ws

    async def close_all(self, app: web.Application | None = None) -> None:
        """Send ``serverShutdown`` to every connection and close it (the app's shutdown hook)."""
        now = self.venue.market.now_ms + self._shift_ms()
        shutdown = orjson.dumps({"event": {"e": "serverShutdown", "E": now}})
        for session in list(self.sessions):
            with contextlib.suppress(ConnectionResetError):
                await session.ws.send_frame(shutdown, WSMsgType.TEXT)
            await session.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def _parse(text: str) -> tuple[Any, str, dict[str, Any]]:
    """(id, method without a ``v3/`` prefix, params) of a request frame; -1102 when it is not one."""
    malformed = BinanceError(-1102, "Field value was empty or malformed.")
    try:
        request = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise malformed from exc
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        raise malformed
    params = request.get("params") or {}
    if not isinstance(params, dict):
        raise malformed
    return request.get("id"), request["method"].removeprefix("v3/"), params


def _error(request_id: Any, exc: BinanceError) -> dict[str, Any]:
    return {"id": request_id, "status": exc.status, "error": {"code": exc.code, "msg": exc.msg}}


def _text(value: Any) -> str:
    """A JSON param value as it stands in the signature payload."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _check_time(params: dict[str, Any]) -> None:
    """Binance's timing security: ``timestamp`` within ``recvWindow`` (default 5000 ms) of the wall clock."""
    stamp = params.get("timestamp")
    if isinstance(stamp, bool) or not (
        isinstance(stamp, int) or (isinstance(stamp, str) and stamp.isdigit())
    ):
        raise missing("timestamp")
    stamp_ms = int(stamp) // 1000 if int(stamp) > _MICROS else int(stamp)
    try:
        window = Decimal(str(params.get("recvWindow", 5000)))
    except InvalidOperation as exc:
        raise BinanceError(-1100, "Illegal characters found in parameter 'recvWindow'.") from exc
    if window > _MAX_RECV_WINDOW_MS:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    now = _wall_ms()
    if stamp_ms < now - window or stamp_ms > now + _FUTURE_TOLERANCE_MS:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


WS_API_HUB: web.AppKey[WsApiHub] = web.AppKey("carry_ws_api_hub", WsApiHub)


def ws_api_hub_of(emu: Emulator) -> WsApiHub:
    """The `WsApiHub` of an emulator."""
    return emu.app[WS_API_HUB]


def add_routes(emu: Emulator) -> None:
    """Register Binance spot's WebSocket API (``/ws-api/v3``) on ``emu.app``."""
    hub = WsApiHub(emu)
    emu.app[WS_API_HUB] = hub
    emu.app.on_shutdown.append(hub.close_all)
    emu.app.router.add_get(PATH, hub.serve)
