"""OKX v5 public websocket on the emulator, for ccxt.pro's ``okx`` class and nautilus's OKX data client.

Endpoints as on ``ws.okx.com:8443`` and ``wspap.okx.com:8443`` (demo: the query, e.g. ccxt.pro's
``?brokerId=9999``, is accepted and ignored): ``/ws/v5/public`` (market data) and ``/ws/v5/business``
(``login`` only: nautilus's data client logs in there at connect; the candle channels it would serve are
not emulated). `engine.venues.connect.open_ws_exchange` maps ccxt.pro's ``wss://ws.okx.com:443/ws/v5`` onto
the emulator's host with the path kept.

Requests, as OKX documents them:

- ``{"op": "subscribe" | "unsubscribe", "args": [{"channel": ..., "instId": ...}, ...]}`` -> one
  ``{"event": "subscribe" | "unsubscribe", "arg": {...}, "connId": ...}`` per argument (with the request's
  ``id`` when it has one); an argument naming a channel or instrument not served on that endpoint gets
  ``{"event": "error", "code": "60018", "msg": "Wrong URL or channel:...,instId:... doesn't exist..."}``
  and the others are still answered;
- ``{"op": "login", "args": [{"apiKey", "passphrase", "timestamp", "sign"}]}`` on the business endpoint:
  ``sign = base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify"))`` with the emulator's keys,
  the timestamp (Unix seconds) within 30 s of the wall clock -> ``{"event": "login", "code": "0", ...}``,
  else 60005 (key), 60024 (passphrase), 60004 (timestamp) or 60007 (sign); on the public endpoint 60008;
- the text frame ``ping`` -> ``pong`` (OKX's keepalive; protocol pings are answered too);
- not JSON -> ``60012`` (``Illegal request: ...``), another ``op`` -> ``60019``, missing or malformed
  ``args`` -> ``60013``.

Channels (public endpoint), pushed as ``{"arg": {"channel", "instId"}, "data": [row]}`` from the replay's
events as the clock advances (the events and order the Binance streams of `engine.venues.emulator.streams`
push):

===================  ================================  ==============================================
channel              instId                            row
===================  ================================  ==============================================
``bbo-tbt``          ``BTC-USDT``, ``BTC-USDT-SWAP``   ``asks`` / ``bids`` (one level each), ``ts``,
                                                       ``seqId`` (the event's replay position)
``trades``           ``BTC-USDT``, ``BTC-USDT-SWAP``   ``instId``, ``tradeId`` (the recorded id),
                                                       ``px``, ``sz``, ``side`` (the taker's), ``ts``,
                                                       ``count``, ``source``, ``seqId``
``mark-price``       ``BTC-USDT-SWAP``                 ``instType``, ``instId``, ``markPx``, ``ts``
``funding-rate``     ``BTC-USDT-SWAP``                 as ``GET /api/v5/public/funding-rate``
``index-tickers``    ``BTC-USDT`` (the swap's family)  as ``GET /api/v5/market/index-tickers``
``instruments``      none (``instType``)               the type's listings, once, on subscribe (they
                                                       never change here)
===================  ================================  ==============================================

Units and grids are the OKX REST front's (`engine.venues.emulator.okx`): the recorded book moved onto OKX's
0.1 tick (bid down, ask up), swap sizes in contracts (``ctVal`` 0.01 BTC), trade prices as recorded. Mark,
index and funding rows are pushed once per recorded mark update (Binance's 1 s ``markPrice@1s``), so all
three channels move together: OKX itself pushes mark prices on change (at most every 200 ms), indexes
every 100 ms on change and funding rates every 30 to 90 s. Times: the recorded ones, plus the stream
hub's ``shift_ms`` in ``wall`` stream time (`EmulatorOptions.stream_time`), ``fundingTime`` included.

Not emulated: snapshots on subscribe (the first push is the next replayed event), the ``tickers``,
``books*`` and candle channels, ``/ws/v5/private``, the demo/live key check of login (the websocket carries
no ``x-simulated-trading`` header), OKX's subscription rate limits and its 30 s idle disconnect.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSCloseCode, web

from engine.venues.emulator import okx, streams
from engine.venues.emulator.market import MARK, QUOTE, TRADE, Event
from engine.venues.emulator.okx import (
    OkxFront,
    OkxInstrument,
    book_top,
    funding_row,
    index_row,
    okx_text,
)

if TYPE_CHECKING:
    from engine.venues.emulator.app import Emulator

PUBLIC_PATH = "/ws/v5/public"
BUSINESS_PATH = "/ws/v5/business"
_MAX_SKEW_S = 30.0
_INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"})
_MS = 1_000_000
_PONG = b"pong"

# Channel -> the replay event kind it carries.
_CHANNELS: dict[str, int] = {
    "bbo-tbt": QUOTE,
    "trades": TRADE,
    "mark-price": MARK,
    "funding-rate": MARK,
    "index-tickers": MARK,
}
_SWAP_ONLY = frozenset({"mark-price", "funding-rate"})


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscribed channel: its name, OKX instId and the instrument whose events feed it (the swap
    for ``index-tickers``, whose instId is the swap's family)."""

    channel: str
    inst_id: str
    inst: OkxInstrument


@dataclass(eq=False)
class OkxConnection:
    """One websocket client: its OKX connection id, subscriptions and outgoing queue."""

    ws: web.WebSocketResponse
    conn_id: str
    path_qs: str  # as the client connected (demo clients add ``?brokerId=9999``)
    business: bool = False  # ``/ws/v5/business`` (login, no channel carry uses) rather than public
    out: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    subs: dict[tuple[str, str], Subscription] = field(default_factory=dict)
    inst_types: set[str] = field(default_factory=set)  # ``instruments`` channel subscriptions
    api_key: str | None = None  # after a successful login
    # (market, event kind) -> subscriptions it feeds: the push path's lookup.
    by_event: dict[tuple[int, int], list[Subscription]] = field(default_factory=dict)

    def send(self, message: dict[str, Any]) -> None:
        """Queue one JSON message (sent in order by the connection's writer)."""
        self.out.put_nowait(orjson.dumps(message))

    def reindex(self) -> None:
        """Rebuild `by_event` after the subscriptions changed."""
        index: dict[tuple[int, int], list[Subscription]] = {}
        for sub in self.subs.values():
            index.setdefault((sub.inst.market, _CHANNELS[sub.channel]), []).append(sub)
        self.by_event = index


def _error(conn: OkxConnection, code: str, msg: str, req_id: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"event": "error", "code": code, "msg": msg, "connId": conn.conn_id}
    if req_id is not None:
        out["id"] = req_id
    return out


class OkxStreamHub:
    """Every open OKX public websocket of one emulator; pushes the replay's events as they are applied.

    Parameters
    ----------
    emu : Emulator
        The emulator; its OKX REST front (instruments) and Binance stream hub (replay hook, stream time)
        must be registered already.
    """

    def __init__(self, emu: Emulator) -> None:
        self.front: OkxFront = okx.front_of(emu)
        self.hub = streams.hub_of(emu)
        self.market = emu.market
        self.connections: set[OkxConnection] = set()
        self.hub.listeners.append(self._on_events)

    # ---- pushing ---------------------------------------------------------------------------------

    def _on_events(self, events: Sequence[Event], first: int) -> None:
        if not self.connections:
            return
        shift_ms = self.hub.shift_ms
        for offset, ev in enumerate(events):
            key = (ev[1], ev[2])
            frames: dict[tuple[str, str], bytes] = {}  # each channel rendered once per event
            for conn in self.connections:
                for sub in conn.by_event.get(key, ()):
                    frame = frames.get((sub.channel, sub.inst_id))
                    if frame is None:
                        message = {
                            "arg": {"channel": sub.channel, "instId": sub.inst_id},
                            "data": [self.render(sub, ev, first + offset, shift_ms)],
                        }
                        frame = frames[(sub.channel, sub.inst_id)] = orjson.dumps(message)
                    conn.out.put_nowait(frame)

    def render(self, sub: Subscription, ev: Event, seq: int, shift_ms: int = 0) -> dict[str, Any]:
        """The ``data`` row of replay event ``ev`` on ``sub``'s channel.

        Parameters
        ----------
        sub : Subscription
            Channel and instrument.
        ev : Event
            ``(ts_ns, market, kind, payload)`` from `engine.venues.emulator.market`.
        seq : int
            The event's position in the recording (``seqId``).
        shift_ms : int
            Added to every time field (``wall`` stream time; 0 = as recorded).
        """
        ts_ns, _market, _kind, p = ev
        inst = sub.inst
        if sub.channel == "bbo-tbt":
            bid, ask, bid_qty, ask_qty = p
            assert isinstance(bid, Decimal) and isinstance(ask, Decimal)
            assert isinstance(bid_qty, Decimal) and isinstance(ask_qty, Decimal)
            bid_px, bid_sz, ask_px, ask_sz = book_top(inst, bid, ask, bid_qty, ask_qty)
            return {
                "asks": [[ask_px, ask_sz, "0", "1"]],
                "bids": [[bid_px, bid_sz, "0", "1"]],
                "ts": str(ts_ns // _MS + shift_ms),
                "seqId": seq,
            }
        if sub.channel == "trades":
            price, size, seller, trade_id, trade_ns = p
            assert isinstance(price, Decimal) and isinstance(size, Decimal) and isinstance(trade_ns, int)
            return {
                "instId": inst.inst_id,
                "tradeId": str(trade_id),
                "px": okx_text(price),
                "sz": okx_text(inst.to_sz(size)),
                "side": "sell" if seller else "buy",  # the taker's side (Binance: buyer is maker)
                "ts": str(trade_ns // _MS + shift_ms),
                "count": "1",
                "source": "0",
                "seqId": seq,
            }
        mark, index, rate, next_ns, mark_ns = p
        assert isinstance(mark, Decimal) and isinstance(index, Decimal) and isinstance(rate, Decimal)
        assert isinstance(next_ns, int) and isinstance(mark_ns, int)
        ts_ms = mark_ns // _MS + shift_ms
        if sub.channel == "mark-price":
            return {"instType": "SWAP", "instId": inst.inst_id, "markPx": okx_text(mark), "ts": str(ts_ms)}
        if sub.channel == "index-tickers":
            return index_row(sub.inst_id, index, ts_ms)
        settled = self.front.settled_rate(inst)
        return funding_row(inst, rate, next_ns // _MS + shift_ms, settled, ts_ms)

    # ---- requests --------------------------------------------------------------------------------

    def resolve(self, channel: Any, inst_id: Any) -> Subscription | None:
        """The subscription ``channel`` / ``inst_id`` names, or None when nothing emulated matches."""
        if channel not in _CHANNELS or not isinstance(inst_id, str):
            return None
        if channel == "index-tickers":
            for swap in self.front.instruments.values():
                if swap.swap and f"{swap.spec.base}-{swap.spec.quote}" == inst_id:
                    return Subscription(channel, inst_id, swap)
            return None
        inst = self.front.instruments.get(inst_id)
        if inst is None or (channel in _SWAP_ONLY and not inst.swap):
            return None
        return Subscription(channel, inst_id, inst)

    def handle_request(self, conn: OkxConnection, text: str) -> None:
        """Answer one client text frame as OKX does (answers are queued on ``conn``)."""
        if text == "ping":
            conn.out.put_nowait(_PONG)
            return
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            req = None
        if not isinstance(req, dict):
            conn.send(_error(conn, "60012", f"Illegal request: {text}"))
            return
        op, args, req_id = req.get("op"), req.get("args"), req.get("id")
        if op not in ("subscribe", "unsubscribe", "login"):
            conn.send(_error(conn, "60019", f"Invalid op: {op}", req_id))
            return
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            conn.send(_error(conn, "60013", "Invalid args", req_id))
            return
        if op == "login":
            self._login(conn, args[0], req_id)
            return
        for arg in args:
            channel, inst_id = arg.get("channel"), arg.get("instId")
            if channel == "instruments" and not conn.business and arg.get("instType") in _INST_TYPES:
                self._instruments(conn, op, arg, req_id)
                continue
            sub = None if conn.business else self.resolve(channel, inst_id)
            if sub is None:
                msg = (
                    f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. Please use the correct "
                    "URL, channel and parameters referring to API document."
                )
                conn.send(_error(conn, "60018", msg, req_id))
                continue
            if op == "subscribe":
                conn.subs[(sub.channel, sub.inst_id)] = sub
            else:
                conn.subs.pop((sub.channel, sub.inst_id), None)
            answer: dict[str, Any] = {"event": op, "arg": arg, "connId": conn.conn_id}
            if req_id is not None:
                answer["id"] = req_id
            conn.send(answer)
        conn.reindex()

    def _instruments(self, conn: OkxConnection, op: str, arg: dict[str, Any], req_id: Any) -> None:
        """The ``instruments`` channel: answered, then (on subscribe) every listed instrument of the type
        once, as OKX's first push; the emulated listings never change afterwards."""
        inst_type = str(arg["instType"])
        answer: dict[str, Any] = {"event": op, "arg": arg, "connId": conn.conn_id}
        conn.send(answer if req_id is None else answer | {"id": req_id})
        if op == "unsubscribe":
            conn.inst_types.discard(inst_type)
            return
        conn.inst_types.add(inst_type)
        rows = [
            self.front.instrument_row(i) for i in self.front.instruments.values() if i.inst_type == inst_type
        ]
        if rows:
            conn.send({"arg": {"channel": "instruments", "instType": inst_type}, "data": rows})

    def _login(self, conn: OkxConnection, arg: dict[str, Any], req_id: Any) -> None:
        """``login`` on the business endpoint: key, passphrase, timestamp (Unix seconds, within 30 s of the
        wall clock) and ``sign = base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify"))``,
        checked against the emulator's keys as the REST front checks them."""
        if not conn.business:
            conn.send(_error(conn, "60008", "Login is not supported for public channels", req_id))
            return
        config = self.front.venue.config
        key, stamp = str(arg.get("apiKey") or ""), str(arg.get("timestamp") or "")
        secret = config.api_keys.get(key)
        if secret is None:
            conn.send(_error(conn, "60005", "Invalid apiKey", req_id))
            return
        if not hmac.compare_digest(config.passphrases.get(key, ""), str(arg.get("passphrase") or "")):
            conn.send(_error(conn, "60024", "Wrong passphrase", req_id))
            return
        try:
            sent = float(stamp)
        except ValueError:
            sent = float("nan")
        if not abs(time.time() - sent) <= _MAX_SKEW_S:  # NaN fails too
            conn.send(_error(conn, "60004", "Invalid timestamp", req_id))
            return
        digest = hmac.new(secret.encode(), f"{stamp}GET/users/self/verify".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), str(arg.get("sign") or "")):
            conn.send(_error(conn, "60007", "Invalid sign", req_id))
            return
        conn.api_key = key
        answer: dict[str, Any] = {"event": "login", "code": "0", "msg": "", "connId": conn.conn_id}
        conn.send(answer if req_id is None else answer | {"id": req_id})

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """One websocket connection: requests until the client leaves."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        business = request.path == BUSINESS_PATH
        conn = OkxConnection(ws, secrets.token_hex(4), request.path_qs, business)
        self.connections.add(conn)
        try:
            await streams.pump(ws, conn.out, lambda text: self.handle_request(conn, text))
        finally:
            self.connections.discard(conn)
        return ws

    def subscribed(self) -> list[str]:
        """``channel:instId`` of every subscription on open connections (tests wait on this)."""
        subs = [f"{channel}:{inst_id}" for c in self.connections for channel, inst_id in c.subs]
        return subs + [f"instruments:{t}" for c in self.connections for t in c.inst_types]

    async def close_all(self, app: web.Application | None = None) -> None:
        """Close every connection, as a venue going away does (also the app's shutdown hook)."""
        for conn in list(self.connections):
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


OKX_WS_HUB: web.AppKey[OkxStreamHub] = web.AppKey("carry_okx_ws_hub", OkxStreamHub)


def okx_hub_of(emu: Emulator) -> OkxStreamHub:
    """The `OkxStreamHub` of an emulator."""
    return emu.app[OKX_WS_HUB]


def add_routes(emu: Emulator) -> None:
    """Register ``/ws/v5/public`` on ``emu.app``.

    Call after `engine.venues.emulator.okx.add_routes` and `engine.venues.emulator.streams.add_routes`
    (it reads the OKX instruments and hooks onto the stream hub). The path is matched before the Binance
    raw streams' ``/ws/{streams}`` whatever the order: aiohttp resolves the most specific path first.
    """
    hub = OkxStreamHub(emu)
    emu.app[OKX_WS_HUB] = hub
    emu.app.on_shutdown.append(hub.close_all)
    emu.app.router.add_get(PUBLIC_PATH, hub.serve)
    emu.app.router.add_get(BUSINESS_PATH, hub.serve)
