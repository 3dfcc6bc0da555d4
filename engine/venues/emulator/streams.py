"""Binance websocket market streams on the emulator, for ccxt.pro (and any Binance stream client).

Endpoints, as on Binance's stream hosts, under a path prefix that names the host family (one loopback
host serves them all; `engine.venues.connect.open_ws_exchange` maps ``stream.binance.com`` to
``/stream`` and ``fstream.binance.com`` to ``/fstream``):

==================================================  =========================================================
spot (``stream.binance.com``)                       ``/stream/ws``, ``/stream/ws/<s1>/<s2>``,
                                                    ``/stream/stream?streams=<s1>/<s2>``; also without the
                                                    prefix (``/ws``, ``/stream``)
USD-M (``fstream.binance.com``)                     the same under ``/fstream``, ``/fstream/public`` and
                                                    ``/fstream/market`` (ccxt.pro asks for ``/public/ws``
                                                    for book tickers and trades, ``/market/ws`` for marks)
==================================================  =========================================================

ccxt.pro tells spot from futures by ``'/stream' in url`` (``is_spot_url``), which the prefixes keep true
for spot and false for ``/fstream``. Raw endpoints (``/ws``) send the bare payload, combined ones
(``/stream``) wrap it as ``{"stream": name, "data": payload}``; ``SET_PROPERTY combined`` switches.

Requests: ``{"method": "SUBSCRIBE" | "UNSUBSCRIBE", "params": [...], "id": N}`` -> ``{"result": null,
"id": N}``; ``LIST_SUBSCRIPTIONS``; ``SET_PROPERTY`` / ``GET_PROPERTY`` ``combined``; errors as Binance
answers them (``{"code": 2, "msg": "Invalid request: ...", "id": N}``). Unknown stream names are
accepted and stay silent (ccxt.pro connects to ``/ws/<n>`` with a connection number as the "stream").

Streams: ``<sym>@bookTicker``, ``<sym>@trade``, ``<sym>@aggTrade`` (one trade per aggregate: the recording
has individual trades only), and on USD-M ``<sym>@markPrice@1s`` / ``<sym>@markPrice`` (every 3 s). The
messages are the replay's events, pushed as the clock advances (step or replay clock), in recorded order.
Prices and sizes are written in Binance's own formats: spot with 8 decimals, USD-M on the symbol's
``pricePrecision`` / ``quantityPrecision``, marks and rates with 8 decimals: the recorded strings come
back as they were recorded (the recorded ``P``, estimated settle price, is not kept; the index stands
in for it, as in ``/fapi/v1/premiumIndex``). Times: ``E`` is the replay time the event was applied,
``T`` the recorded trade / next-funding time.

Stream time (`EmulatorOptions.stream_time`): ``recorded`` sends those times as recorded; ``wall`` adds one
constant, ``shift_ms`` = (wall clock at emulator start) - (replay clock at start), to every time field
(``E``, ``T``), so a replay of an old recording looks like a live venue today (nautilus's Binance clients
stamp futures quotes and marks with the venue's event time) while every interval between events, and
between an event and its next funding time, stays exactly as recorded. The funding time ``T`` is therefore
shifted off Binance's 00/08/16 UTC grid: what stays true is its distance from ``E`` (a settlement is
crossed at the same replayed moment as in the recording). REST answers keep the replay clock (see
`engine.venues.emulator.app`).

The REST trade lists (``/api/v3/trades``, ``/api/v3/aggTrades``, ``/fapi/v1/trades``,
``/fapi/v1/aggTrades``) read the same recorded trades, so REST polling and streams agree on ids.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from engine.venues.emulator.market import MARK, QUOTE, TRADE, Event, MarketKind, MarketSpec
from engine.venues.emulator.render import f8, fdec
from engine.venues.emulator.venue import BinanceError

if TYPE_CHECKING:
    from engine.venues.emulator.app import Emulator

_MS = 1_000_000
_MARK_3S_MS = 3_000
_TRADES_KEPT = 1_000  # Binance's REST trade lists return at most 1000
_METHODS = "SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY"

SPOT_PREFIXES = ("", "/stream")
USDM_PREFIXES = ("/fstream", "/fstream/public", "/fstream/market")

# Stream channel -> the replay event kind it carries.
_CHANNELS: dict[str, int] = {
    "bookTicker": QUOTE,
    "trade": TRADE,
    "aggTrade": TRADE,
    "markPrice": MARK,
    "markPrice@1s": MARK,
}


@dataclass(frozen=True, slots=True)
class Stream:
    """One subscribed stream: its Binance name, market and channel."""

    name: str
    market: int
    channel: str


@dataclass(eq=False)
class Connection:
    """One websocket client: its endpoint family, subscriptions and outgoing queue."""

    kind: MarketKind
    combined: bool
    ws: web.WebSocketResponse
    out: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    streams: dict[str, Stream] = field(default_factory=dict)
    # (market, event kind) -> subscribed streams carrying it: the push path's lookup.
    by_event: dict[tuple[int, int], list[Stream]] = field(default_factory=dict)
    last_mark_ms: dict[str, int] = field(default_factory=dict)

    def send(self, message: Any) -> None:
        """Queue one JSON message (sent in order by the connection's writer)."""
        self.out.put_nowait(orjson.dumps(message))


class StreamHub:
    """Every open stream connection of one emulator; pushes the replay's events as it advances.

    Parameters
    ----------
    emu : Emulator
        The emulator whose market is streamed (its ``market.on_advance`` hook is taken).
    """

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.market = emu.market
        self.connections: set[Connection] = set()
        # Added to every streamed time field (ms); 0 = recorded times. Set by `Emulator.start`.
        self.shift_ms = 0
        # Recent trades per market (REST trade lists), from what the clock has already applied.
        self.trades: list[deque[Event]] = [deque(maxlen=_TRADES_KEPT) for _ in self.market.markets]
        self._keep_trades(self.market.recording.events[: self.market.cursor])
        # Other protocols' stream fronts (OKX ...): ``listener(events, first)`` for every applied slice,
        # ``first`` being the recording position of ``events[0]``. They read `shift_ms` from this hub.
        self.listeners: list[Callable[[Sequence[Event], int], None]] = []
        self.market.on_advance = self._on_advance

    # ---- pushing ---------------------------------------------------------------------------------

    def _keep_trades(self, events: Iterable[Event]) -> None:
        for ev in events:
            if ev[2] == TRADE:
                self.trades[ev[1]].append(ev)

    def _on_advance(self, first: int, stop: int) -> None:
        events = self.market.recording.events[first:stop]
        self._keep_trades(events)
        for listener in self.listeners:
            listener(events, first)
        if not self.connections:
            return
        for offset, ev in enumerate(events):
            key = (ev[1], ev[2])
            for conn in self.connections:
                subs = conn.by_event.get(key)
                if subs:
                    self._push(conn, subs, ev, first + offset, self.shift_ms)

    def _push(self, conn: Connection, subs: list[Stream], ev: Event, seq: int, shift_ms: int) -> None:
        spec = self.market.markets[ev[1]].spec
        for s in subs:
            data = render_event(spec, s.channel, ev, seq, shift_ms)
            if s.channel == "markPrice":  # the 3 s stream: every third 1 s update
                last = conn.last_mark_ms.get(s.name)
                if last is not None and data["E"] - last < _MARK_3S_MS:
                    continue
                conn.last_mark_ms[s.name] = data["E"]
            conn.send({"stream": s.name, "data": data} if conn.combined else data)

    # ---- requests --------------------------------------------------------------------------------

    def parse_stream(self, kind: MarketKind, name: str) -> Stream | None:
        """The stream ``name`` on an endpoint of ``kind``, or None when it names nothing emulated."""
        symbol, _, channel = name.partition("@")
        if channel not in _CHANNELS or (channel.startswith("markPrice") and kind is not MarketKind.USDM):
            return None
        index = self.market.market_index(kind, symbol.upper())
        return None if index is None else Stream(name, index, channel)

    def subscribe(self, conn: Connection, names: Iterable[str]) -> None:
        """Add streams to ``conn`` (names nothing emulated are accepted and stay silent)."""
        for name in names:
            stream = self.parse_stream(conn.kind, name)
            conn.streams[name] = stream if stream is not None else Stream(name, -1, "")
        conn.by_event = _index(conn.streams.values())

    def unsubscribe(self, conn: Connection, names: Iterable[str]) -> None:
        """Remove streams from ``conn``."""
        for name in names:
            conn.streams.pop(name, None)
            conn.last_mark_ms.pop(name, None)
        conn.by_event = _index(conn.streams.values())

    def handle_request(self, conn: Connection, text: str) -> dict[str, Any]:
        """Answer one client request (a JSON text frame) as Binance does."""
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return {"code": 3, "msg": f"Invalid JSON: {exc}"}
        if not isinstance(req, dict):
            return {"code": 3, "msg": "Invalid JSON: expected an object"}
        req_id = req.get("id")
        if not (isinstance(req_id, int) and not isinstance(req_id, bool) and req_id >= 0):
            return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
        method = req.get("method")
        params = req.get("params", [])
        if not isinstance(params, list):
            return {"code": 2, "msg": "Invalid request: params must be an array", "id": req_id}
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(p, str) for p in params):
                return {"code": 1, "msg": "Invalid value type: expected String", "id": req_id}
            (self.subscribe if method == "SUBSCRIBE" else self.unsubscribe)(conn, params)
            return {"result": None, "id": req_id}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(conn.streams), "id": req_id}
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            return _property(conn, method, params, req_id)
        return {
            "code": 2,
            "msg": f"Invalid request: unknown variant {method}, expected one of {_METHODS}",
            "id": req_id,
        }

    async def serve(self, request: web.Request, kind: MarketKind, combined: bool) -> web.WebSocketResponse:
        """One websocket connection: streams named in the URL, then requests until the client leaves."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Connection(kind, combined, ws)
        names = request.query.get("streams", "") if combined else request.match_info.get("streams", "")
        self.subscribe(conn, [n for n in names.split("/") if n])
        self.connections.add(conn)
        try:
            await pump(ws, conn.out, lambda text: conn.send(self.handle_request(conn, text)))
        finally:
            self.connections.discard(conn)
        return ws

    def subscribed(self, kind: MarketKind | None = None) -> list[str]:
        """Every stream name subscribed on open connections (tests wait on this)."""
        return [n for c in self.connections if kind in (None, c.kind) for n in c.streams]

    async def close_all(self, app: web.Application | None = None) -> None:
        """Close every stream connection, as a venue going away does (also the app's shutdown hook:
        aiohttp would otherwise wait for open websockets before it stops)."""
        for conn in list(self.connections):
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def _index(streams: Iterable[Stream]) -> dict[tuple[int, int], list[Stream]]:
    index: dict[tuple[int, int], list[Stream]] = {}
    for s in streams:
        if s.market >= 0:
            index.setdefault((s.market, _CHANNELS[s.channel]), []).append(s)
    return index


def _property(conn: Connection, method: str, params: list[Any], req_id: int) -> dict[str, Any]:
    if not params or not isinstance(params[0], str):
        return {"code": 2, "msg": "Invalid request: property name must be a string", "id": req_id}
    if params[0] != "combined":
        return {"code": 0, "msg": "Unknown property", "id": req_id}
    if method == "GET_PROPERTY":
        return {"result": conn.combined, "id": req_id}
    if len(params) < 2 or not isinstance(params[1], bool):
        return {"code": 1, "msg": "Invalid value type: expected Boolean", "id": req_id}
    conn.combined = params[1]
    return {"result": None, "id": req_id}


async def write_frames(ws: web.WebSocketResponse, out: asyncio.Queue[bytes]) -> None:
    """Send a connection's queued messages in order, as text frames (the venues send text), until it
    closes (run as the connection's writer task).

    One writer per connection keeps the order in which the venue's synchronous listeners queued events.
    """
    while not ws.closed:
        frame = await out.get()
        with contextlib.suppress(ConnectionResetError):  # the client left; the reader loop ends too
            await ws.send_frame(frame, WSMsgType.TEXT)


async def pump(
    ws: web.WebSocketResponse,
    out: asyncio.Queue[bytes],
    on_text: Callable[[str], None] | None = None,
    on_binary: Callable[[bytes], None] | None = None,
) -> None:
    """Run one prepared websocket connection until the client leaves or the socket fails.

    ``out``'s frames go out through a `write_frames` writer task; every received text frame goes to
    ``on_text`` and every binary one to ``on_binary`` (a frame without a handler is dropped). The writer is
    cancelled and awaited on the way out. The caller keeps its own connection bookkeeping around this
    (registering the connection before, discarding it in a ``finally`` after).
    """
    writer = asyncio.get_running_loop().create_task(write_frames(ws, out))
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                if on_text is not None:
                    on_text(msg.data)
            elif msg.type is WSMsgType.BINARY:
                if on_binary is not None:
                    on_binary(msg.data)
            elif msg.type is WSMsgType.ERROR:
                break
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


# ---- messages ------------------------------------------------------------------------------------


@cache  # built once per market, not once per streamed message
def _formats(spec: MarketSpec) -> tuple[Callable[[Decimal], str], Callable[[Decimal], str]]:
    """Price and quantity formatters of ``spec``'s stream messages."""
    if spec.kind is MarketKind.SPOT:
        return f8, f8
    # USD-M writes prices on pricePrecision (2 for BTCUSDT, although the tick is 0.10), as exchangeInfo.
    pd, qd = max(2, spec.price_decimals), spec.qty_decimals
    return (lambda x: fdec(x, pd)), (lambda x: fdec(x, qd))


def render_event(spec: MarketSpec, channel: str, ev: Event, seq: int, shift_ms: int = 0) -> dict[str, Any]:
    """The Binance stream payload of replay event ``ev`` on ``channel`` (``seq``: its replay position).

    Parameters
    ----------
    spec : MarketSpec
        The event's market.
    channel : str
        ``bookTicker``, ``trade``, ``aggTrade``, ``markPrice`` or ``markPrice@1s``.
    ev : Event
        ``(ts_ns, market, kind, payload)`` from `engine.venues.emulator.market`.
    seq : int
        Position of the event in the recording: the book ticker's update id ``u``.
    shift_ms : int
        Added to every time field (the ``wall`` stream time's constant offset; 0 = as recorded).
    """
    ts_ns, _market, _kind, p = ev
    px, qty = _formats(spec)
    spot = spec.kind is MarketKind.SPOT
    # Shift whole milliseconds after flooring, so recorded ms intervals are kept exactly.
    event_ms = ts_ns // _MS + shift_ms
    if channel == "bookTicker":
        bid, ask, bid_qty, ask_qty = p
        assert isinstance(bid, Decimal) and isinstance(ask, Decimal)
        assert isinstance(bid_qty, Decimal) and isinstance(ask_qty, Decimal)
        book = {"b": px(bid), "B": qty(bid_qty), "a": px(ask), "A": qty(ask_qty)}
        if spot:  # spot book tickers carry no event type and no times
            return {"u": seq, "s": spec.symbol} | book
        return {"e": "bookTicker", "u": seq, "s": spec.symbol} | book | {"T": event_ms, "E": event_ms}
    if channel in ("trade", "aggTrade"):
        price, size, seller, trade_id, trade_ns = p
        assert isinstance(price, Decimal) and isinstance(size, Decimal) and isinstance(trade_ns, int)
        trade_ms = trade_ns // _MS + shift_ms
        if channel == "trade":
            out: dict[str, Any] = {"e": "trade", "E": event_ms, "s": spec.symbol, "t": trade_id}
            out |= {"p": px(price), "q": qty(size), "T": trade_ms, "m": seller}
        else:
            out = {"e": "aggTrade", "E": event_ms, "s": spec.symbol, "a": trade_id, "p": px(price)}
            out |= {"q": qty(size), "f": trade_id, "l": trade_id, "T": trade_ms, "m": seller}
        if spot:
            out["M"] = True
        elif channel == "trade":
            out["X"] = "MARKET"
        return out
    mark, index, rate, next_ns, mark_ns = p
    assert isinstance(mark, Decimal) and isinstance(index, Decimal) and isinstance(rate, Decimal)
    assert isinstance(next_ns, int) and isinstance(mark_ns, int)
    return {
        "e": "markPriceUpdate",
        "E": mark_ns // _MS + shift_ms,
        "s": spec.symbol,
        "p": f8(mark),
        "P": f8(index),
        "i": f8(index),
        "r": f8(rate),
        "T": next_ns // _MS + shift_ms,
    }


# ---- REST trade lists ----------------------------------------------------------------------------


def _rest_trade(spec: MarketSpec, ev: Event, agg: bool) -> dict[str, Any]:
    price, size, seller, trade_id, trade_ns = ev[3]
    assert isinstance(price, Decimal) and isinstance(size, Decimal) and isinstance(trade_ns, int)
    px, qty = _formats(spec)
    if agg:
        out: dict[str, Any] = {"a": trade_id, "p": px(price), "q": qty(size), "f": trade_id, "l": trade_id}
        out |= {"T": trade_ns // _MS, "m": seller}
        if spec.kind is MarketKind.SPOT:
            out["M"] = True
        return out
    quote = price * size
    out = {"id": trade_id, "price": px(price), "qty": qty(size)}
    out["quoteQty"] = f8(quote) if spec.kind is MarketKind.SPOT else _plain(quote)
    out |= {"time": trade_ns // _MS, "isBuyerMaker": seller}
    if spec.kind is MarketKind.SPOT:
        out["isBestMatch"] = True
    return out


def _plain(x: Decimal) -> str:
    return f"{x.normalize():f}"


def _int_param(request: web.Request, name: str, default: int) -> int:
    """An integer query parameter, or Binance's -1100 when it is not one."""
    text = request.query.get(name)
    if not text:
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.") from exc


def _trade_list(hub: StreamHub, request: web.Request, kind: MarketKind, agg: bool) -> list[dict[str, Any]]:
    index = hub.emu.venue.resolve(kind, request.query.get("symbol"))
    limit = max(1, min(_int_param(request, "limit", 500), _TRADES_KEPT))
    rows = list(hub.trades[index])
    from_id = request.query.get("fromId")
    if from_id is not None:
        first = _int_param(request, "fromId", 0)
        rows = [ev for ev in rows if ev[3][3] >= first][:limit]  # type: ignore[operator]
    elif agg and ("startTime" in request.query or "endTime" in request.query):
        start = _int_param(request, "startTime", 0) * _MS
        end = _int_param(request, "endTime", 2**62 // _MS) * _MS
        rows = [ev for ev in rows if start <= ev[3][4] <= end][:limit]  # type: ignore[operator]
    else:
        rows = rows[-limit:]
    spec = hub.market.markets[index].spec
    return [_rest_trade(spec, ev, agg) for ev in rows]


# ---- routes --------------------------------------------------------------------------------------

HUB: web.AppKey[StreamHub] = web.AppKey("carry_stream_hub", StreamHub)


def hub_of(emu: Emulator) -> StreamHub:
    """The `StreamHub` of an emulator."""
    return emu.app[HUB]


def add_routes(emu: Emulator) -> None:
    """Register the stream endpoints (and the REST trade lists) on ``emu.app``."""
    hub = StreamHub(emu)
    emu.app[HUB] = hub
    emu.app.on_shutdown.append(hub.close_all)
    r = emu.app.router

    def ws(kind: MarketKind, combined: bool) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await hub.serve(request, kind, combined)

        return handler

    for prefixes, kind in ((SPOT_PREFIXES, MarketKind.SPOT), (USDM_PREFIXES, MarketKind.USDM)):
        for prefix in prefixes:
            r.add_get(f"{prefix}/ws", ws(kind, False))
            r.add_get(f"{prefix}/ws/{{streams:.+}}", ws(kind, False))
            r.add_get(f"{prefix}/stream", ws(kind, True))

    def trades(kind: MarketKind, agg: bool) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            rows = _trade_list(hub, request, kind, agg)
            return web.Response(body=orjson.dumps(rows), content_type="application/json")

        return handler

    for prefix, kind in (("/api/v3", MarketKind.SPOT), ("/fapi/v1", MarketKind.USDM)):
        r.add_get(f"{prefix}/trades", trades(kind, False))
        r.add_get(f"{prefix}/aggTrades", trades(kind, True))
