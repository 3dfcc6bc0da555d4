"""Bybit v5 public websocket on the emulator, for ccxt.pro's ``bybit`` class (and any Bybit stream client).

Endpoints ``/v5/public/spot`` (the emulator's spot market) and ``/v5/public/linear`` (its USD-M perpetual;
Bybit names both ``BTCUSDT``), as on ``stream.bybit.com`` and ``stream-testnet.bybit.com``:
`engine.venues.connect.open_ws_exchange` moves ccxt.pro's ``wss://stream[-testnet].bybit.com/v5/public/...``
onto the emulator's host with the path kept.

Requests, as Bybit documents them:

- ``{"op": "subscribe" | "unsubscribe", "args": [topic, ...], "req_id": ...}`` ->
  ``{"success": true, "ret_msg": "", "conn_id": ..., "req_id": ..., "op": ...}``. ``req_id`` comes back as a
  string (Bybit's type; ``""`` when the request had none). A topic not served here, or one already
  subscribed, fails the whole request (``success: false``, ``ret_msg`` ``error:handler not found,topic:<t>``
  or ``error:already subscribed,topic:<t>``); spot takes at most 10 topics per request, as Bybit;
- ``{"op": "ping"}`` -> ``{"success": true, "ret_msg": "pong", ..., "op": "ping"}`` (protocol pings are
  answered too);
- not JSON, another ``op``, or ``args`` not a list of strings: ``success: false`` with ``ret_msg``
  ``error:request not json`` / ``error:invalid op`` / ``error:args invalid`` (the request echoed under
  ``request``, as Bybit answers an invalid op).

Topics, the ones ccxt.pro subscribes to for what carry needs (``watch_bids_asks``, ``watch_trades``,
``watch_ticker``), pushed from the replay's events as the clock advances (the same events, in the same
order, as the Binance streams of `engine.venues.emulator.streams`):

=======================  ==================================================================================
``orderbook.1.<sym>``    ``type: snapshot`` on subscribe and on every recorded book update: ``data`` ``s``,
                         ``b`` / ``a`` (the one top level), ``u`` and ``seq`` (the event's replay
                         position); ``ts`` and ``cts`` the event's time
``publicTrade.<sym>``    one message per recorded trade: ``T``, ``s``, ``S`` (the taker's side: Binance's
                         ``m`` = buyer is maker -> ``Sell``), ``v``, ``p``, ``L`` (linear: tick direction),
                         ``i`` (linear: the recorded id as a UUID, as Bybit's derivatives ids look; spot:
                         the recorded id), ``BT`` false, ``seq``
``tickers.<sym>``        linear: a snapshot on subscribe, then ``delta`` messages carrying only the fields
                         that changed: ``markPrice``, ``indexPrice``, ``fundingRate``, ``nextFundingTime``
                         at once on every recorded mark update (Binance's ``markPrice@1s``), the best
                         bid/ask, last price and 24h statistics at most every 100 ms of replay time (Bybit's
                         push interval). Spot: full ``snapshot`` messages (``lastPrice``, 24h statistics,
                         ``usdIndexPrice``) on trades, at most every 50 ms.
=======================  ==================================================================================

Formats: prices and sizes on the market's tick and step decimals; mark and index keep the recorded
precision (Binance's index has 8 decimals, Bybit would print its ``priceScale``), so a client reads back
exactly the recorded values. Times: the recorded ones, plus the stream hub's ``shift_ms`` in ``wall``
stream time (`EmulatorOptions.stream_time`), ``nextFundingTime`` included.

Deviations from Bybit, stated: every level-1 book message is a snapshot of the single top level (Bybit
documents a snapshot then deltas; at depth 1 both ccxt.pro and nautilus read each message as the whole top),
and the linear "same snapshot again after 3 s without change" is not sent; 24h statistics run from the start
of the recording and are read at the end of each replay step; ``openInterest`` is 0; each trade is its own
message (Bybit packs a match's trades into one). Not emulated: ``/v5/public/inverse`` and ``option``,
``/v5/private``, ``/v5/trade``, other topics and depths, the 10-minute idle disconnect.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSCloseCode, web

from engine.venues.emulator import streams
from engine.venues.emulator.market import MARK, QUOTE, TRADE, Event, MarketKind, MarketSpec, MarketState
from engine.venues.emulator.render import fdec

if TYPE_CHECKING:
    from engine.venues.emulator.app import Emulator

SPOT = MarketKind.SPOT
LINEAR = MarketKind.USDM
PATHS = {"/v5/public/spot": SPOT, "/v5/public/linear": LINEAR}
_MS = 1_000_000
_MAX_SPOT_ARGS = 10
_FUNDING_INTERVAL_HOURS = "8"  # BTCUSDT settles every 8 h (the REST front's fundingInterval)
# Bybit's ticker push interval (ms) for book, last-price and statistics changes.
_TICKER_EVERY_MS = {SPOT: 50, LINEAR: 100}
_ZERO = Decimal(0)

# Topic channel -> the replay event kinds that feed it, per category.
_FEEDS: dict[MarketKind, dict[str, tuple[int, ...]]] = {
    SPOT: {"orderbook.1": (QUOTE,), "publicTrade": (TRADE,), "tickers": (TRADE,)},
    LINEAR: {"orderbook.1": (QUOTE,), "publicTrade": (TRADE,), "tickers": (QUOTE, TRADE, MARK)},
}


@dataclass(frozen=True, slots=True)
class Topic:
    """One subscribed topic: its Bybit name, channel (``orderbook.1``, ``publicTrade``, ``tickers``) and
    the emulator market that feeds it."""

    name: str
    channel: str
    market: int


@dataclass(slots=True)
class TickerState:
    """A ``tickers`` subscription: the row as the client holds it, what changed since the last push."""

    fields: dict[str, str]
    changed: set[str] = field(default_factory=set)
    pushed_ms: int = 0


@dataclass(eq=False)
class BybitConnection:
    """One websocket client: its category, Bybit connection id, topics and outgoing queue."""

    ws: web.WebSocketResponse
    kind: MarketKind
    conn_id: str
    out: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    topics: dict[str, Topic] = field(default_factory=dict)
    # (market, event kind) -> topics it feeds: the push path's lookup.
    by_event: dict[tuple[int, int], list[Topic]] = field(default_factory=dict)
    tickers: dict[str, TickerState] = field(default_factory=dict)

    def send(self, message: dict[str, Any]) -> None:
        """Queue one JSON message (sent in order by the connection's writer)."""
        self.out.put_nowait(orjson.dumps(message))

    def reindex(self) -> None:
        """Rebuild `by_event` after the topics changed."""
        index: dict[tuple[int, int], list[Topic]] = {}
        for topic in self.topics.values():
            for kind in _FEEDS[self.kind][topic.channel]:
                index.setdefault((topic.market, kind), []).append(topic)
        self.by_event = index


# ---- formats -------------------------------------------------------------------------------------------


def _places(x: Decimal) -> int:
    exponent = x.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _px(spec: MarketSpec, x: Decimal) -> str:
    """A price on the tick's decimals, or more where the recorded value has more (an index)."""
    return fdec(x, max(spec.price_decimals, _places(x)))


def _sz(spec: MarketSpec, x: Decimal) -> str:
    return fdec(x, max(spec.qty_decimals, _places(x)))


def _num(x: Decimal) -> str:
    return f"{x.normalize():f}" if x else "0"


def _trade_id(kind: MarketKind, trade_id: int) -> str:
    return str(uuid.UUID(int=trade_id)) if kind is LINEAR else str(trade_id)


def _stats(spec: MarketSpec, state: MarketState, last: Decimal) -> dict[str, str]:
    """Last price and 24h statistics (from the start of the recording, as the REST front's tickers)."""
    t = state.ticker
    opened = t.open if t.open is not None else last
    pct = (last - opened) / opened if opened else _ZERO
    return {
        "lastPrice": _px(spec, last),
        "prevPrice24h": _px(spec, opened),
        "price24hPcnt": f"{pct:.4f}",
        "highPrice24h": _px(spec, t.high if t.high is not None else last),
        "lowPrice24h": _px(spec, t.low if t.low is not None else last),
        "turnover24h": _num(t.quote_volume),
        "volume24h": _num(t.volume),
    }


def _book(spec: MarketSpec, bid: Decimal, ask: Decimal, bid_qty: Decimal, ask_qty: Decimal) -> dict[str, str]:
    return {
        "bid1Price": _px(spec, bid),
        "bid1Size": _sz(spec, bid_qty),
        "ask1Price": _px(spec, ask),
        "ask1Size": _sz(spec, ask_qty),
    }


def _marks(mark: Decimal, index: Decimal, rate: Decimal, next_ms: int, spec: MarketSpec) -> dict[str, str]:
    return {
        "markPrice": _px(spec, mark),
        "indexPrice": _px(spec, index),
        "fundingRate": _num(rate),
        "nextFundingTime": str(next_ms),
    }


def _tick_direction(price: Decimal, last: Decimal, last_direction: str) -> str:
    if price > last:
        return "PlusTick"
    if price < last:
        return "MinusTick"
    return "ZeroPlusTick" if last_direction in ("PlusTick", "ZeroPlusTick") else "ZeroMinusTick"


def _ack(conn: BybitConnection, op: str, req_id: str, ok: bool = True, msg: str = "") -> dict[str, Any]:
    return {"success": ok, "ret_msg": msg, "conn_id": conn.conn_id, "req_id": req_id, "op": op}


# ---- the hub -------------------------------------------------------------------------------------------


class BybitStreamHub:
    """Every open Bybit public websocket of one emulator; pushes the replay's events as they are applied.

    Parameters
    ----------
    emu : Emulator
        The emulator; its Binance stream hub (replay hook, stream time) must be registered already.
    """

    def __init__(self, emu: Emulator) -> None:
        self.hub = streams.hub_of(emu)
        self.market = emu.market
        self.connections: set[BybitConnection] = set()
        # market -> (last trade price, its tick direction): the trades' ``L`` and the tickers'
        # ``tickDirection``, kept while connections are open (seeded from the applied trades).
        self._ticks: dict[int, tuple[Decimal, str]] = {}
        self._conn_ids = 0
        self.hub.listeners.append(self._on_events)

    # ---- pushing ---------------------------------------------------------------------------------

    def _on_events(self, events: Sequence[Event], first: int) -> None:
        if not self.connections:
            return
        shift_ms = self.hub.shift_ms
        for offset, ev in enumerate(events):
            key = (ev[1], ev[2])
            direction = self._direction(ev) if ev[2] == TRADE else ""
            frames: dict[str, bytes] = {}  # book and trade messages are the same for every client
            fields: dict[str, str] | None = None
            for conn in self.connections:
                for topic in conn.by_event.get(key, ()):
                    if topic.channel == "tickers":
                        if fields is None:
                            fields = self._ticker_fields(ev, direction, shift_ms)
                        self._push_ticker(conn, topic, ev, first + offset, shift_ms, fields)
                        continue
                    frame = frames.get(topic.name)
                    if frame is None:
                        message = self.render(topic, ev, first + offset, shift_ms, direction)
                        frame = frames[topic.name] = orjson.dumps(message)
                    conn.out.put_nowait(frame)

    def render(
        self, topic: Topic, ev: Event, seq: int, shift_ms: int = 0, direction: str = ""
    ) -> dict[str, Any]:
        """The ``orderbook.1`` or ``publicTrade`` message of replay event ``ev``.

        Parameters
        ----------
        topic : Topic
            The topic (its market is the event's).
        ev : Event
            ``(ts_ns, market, kind, payload)`` from `engine.venues.emulator.market`.
        seq : int
            The event's position in the recording (book ``u`` / ``seq``, trade ``seq``).
        shift_ms : int
            Added to every time field (``wall`` stream time; 0 = as recorded).
        direction : str
            A linear trade's tick direction (``L``).
        """
        ts_ns, market, _kind, p = ev
        spec = self.market.markets[market].spec
        ts_ms = ts_ns // _MS + shift_ms
        if topic.channel == "orderbook.1":
            bid, ask, bid_qty, ask_qty = p
            assert isinstance(bid, Decimal) and isinstance(ask, Decimal)
            assert isinstance(bid_qty, Decimal) and isinstance(ask_qty, Decimal)
            return _book_message(topic, spec, (bid, ask, bid_qty, ask_qty), seq, ts_ms, ts_ms)
        price, size, seller, trade_id, trade_ns = p
        assert isinstance(price, Decimal) and isinstance(size, Decimal)
        assert isinstance(trade_id, int) and isinstance(trade_ns, int)
        row: dict[str, Any] = {
            "T": trade_ns // _MS + shift_ms,
            "s": spec.symbol,
            "S": "Sell" if seller else "Buy",
            "v": _sz(spec, size),
            "p": _px(spec, price),
        }
        if spec.kind is LINEAR:
            row["L"] = direction
        row |= {"i": _trade_id(spec.kind, trade_id), "BT": False, "seq": seq}
        return {"topic": topic.name, "type": "snapshot", "ts": ts_ms, "data": [row]}

    def _direction(self, ev: Event) -> str:
        price = ev[3][0]
        assert isinstance(price, Decimal)
        last, last_direction = self._ticks.get(ev[1], (price, "ZeroPlusTick"))
        direction = _tick_direction(price, last, last_direction)
        self._ticks[ev[1]] = (price, direction)
        return direction

    def _ticker_fields(self, ev: Event, direction: str, shift_ms: int) -> dict[str, str]:
        """The ticker fields replay event ``ev`` sets (24h statistics as of the end of the replay step)."""
        _ts, market, kind, p = ev
        state = self.market.markets[market]
        spec = state.spec
        if kind == QUOTE:
            bid, ask, bid_qty, ask_qty = p
            assert isinstance(bid, Decimal) and isinstance(ask, Decimal)
            assert isinstance(bid_qty, Decimal) and isinstance(ask_qty, Decimal)
            return _book(spec, bid, ask, bid_qty, ask_qty)
        if kind == TRADE:
            price = p[0]
            assert isinstance(price, Decimal)
            out = _stats(spec, state, price)
            if spec.kind is SPOT:
                out["usdIndexPrice"] = out["lastPrice"]
            else:
                out["tickDirection"] = direction
            return out
        mark, index, rate, next_ns, _mark_ns = p
        assert isinstance(mark, Decimal) and isinstance(index, Decimal) and isinstance(rate, Decimal)
        assert isinstance(next_ns, int)
        return _marks(mark, index, rate, next_ns // _MS + shift_ms, spec)

    def _push_ticker(
        self, conn: BybitConnection, topic: Topic, ev: Event, seq: int, shift_ms: int, fields: dict[str, str]
    ) -> None:
        state = conn.tickers[topic.name]
        for name, value in fields.items():
            if state.fields.get(name) != value:
                state.fields[name] = value
                state.changed.add(name)
        ts_ms = ev[0] // _MS
        # A mark update goes out at once (each recorded one reaches the client); book and last-price
        # changes wait for Bybit's push interval.
        if not state.changed or (ev[2] != MARK and ts_ms - state.pushed_ms < _TICKER_EVERY_MS[conn.kind]):
            return
        state.pushed_ms = ts_ms
        symbol = state.fields["symbol"]
        if conn.kind is SPOT:  # spot tickers are always whole snapshots
            kind, data = "snapshot", dict(state.fields)
        else:
            kind, data = "delta", {"symbol": symbol} | {k: state.fields[k] for k in sorted(state.changed)}
        state.changed.clear()
        conn.send({"topic": topic.name, "type": kind, "ts": ts_ms + shift_ms, "cs": seq, "data": data})

    # ---- snapshots on subscribe ------------------------------------------------------------------

    def _seed_ticks(self) -> None:
        """Last trade price and direction per market from the trades applied so far (a first connection)."""
        self._ticks.clear()
        for market, trades in enumerate(self.hub.trades):
            prices = [ev[3][0] for ev in list(trades)[-2:]]
            if prices:
                last = prices[-1]
                assert isinstance(last, Decimal)
                before = prices[0]
                assert isinstance(before, Decimal)
                self._ticks[market] = (last, _tick_direction(last, before, "ZeroPlusTick"))

    def _snapshot(self, conn: BybitConnection, topic: Topic) -> dict[str, Any] | None:
        """What Bybit sends right after subscribing ``topic`` (nothing for trades, nor for a book not yet
        quoted); a ``tickers`` topic's row is kept on ``conn`` for its deltas."""
        state = self.market.markets[topic.market]
        spec = state.spec
        shift_ms = self.hub.shift_ms
        now_ms = self.market.now_ms + shift_ms
        seq = max(0, self.market.cursor - 1)  # the last applied event
        book = None
        if state.bid is not None and state.ask is not None:
            book = (state.bid, state.ask, state.bid_qty, state.ask_qty)
        if topic.channel == "orderbook.1":
            cts_ms = state.quote_ts_ns // _MS + shift_ms
            return None if book is None else _book_message(topic, spec, book, seq, now_ms, cts_ms)
        if topic.channel != "tickers":
            return None
        fields: dict[str, str] = {"symbol": spec.symbol}
        last = state.ticker.last if state.ticker.last is not None else state.bid
        if spec.kind is SPOT:
            if last is not None:
                fields |= _stats(spec, state, last)
                fields["usdIndexPrice"] = fields["lastPrice"]
        else:
            if last is not None:
                fields["tickDirection"] = self._ticks.get(topic.market, (last, "ZeroPlusTick"))[1]
                fields |= _stats(spec, state, last)
                fields["prevPrice1h"] = fields["prevPrice24h"]
            if state.mark is not None and state.index is not None and state.funding_rate is not None:
                next_ms = state.next_funding_ns // _MS + shift_ms
                fields |= _marks(state.mark, state.index, state.funding_rate, next_ms, spec)
            fields |= {"openInterest": "0", "openInterestValue": "0.00"}
            if book is not None:
                fields |= _book(spec, *book)
            fields |= {"fundingIntervalHour": _FUNDING_INTERVAL_HOURS, "deliveryTime": "0", "basisRate": ""}
        conn.tickers[topic.name] = TickerState(dict(fields), pushed_ms=self.market.now_ms)
        return {"topic": topic.name, "type": "snapshot", "ts": now_ms, "cs": seq, "data": fields}

    # ---- requests --------------------------------------------------------------------------------

    def resolve(self, kind: MarketKind, name: str) -> Topic | None:
        """The topic ``name`` on a ``kind`` endpoint, or None when it names nothing emulated."""
        channel, _, symbol = name.rpartition(".")
        if channel not in _FEEDS[kind]:
            return None
        market = self.market.market_index(kind, symbol)
        return None if market is None else Topic(name, channel, market)

    def handle_request(self, conn: BybitConnection, text: str) -> None:
        """Answer one client text frame as Bybit does (answers, then snapshots, are queued on ``conn``)."""
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            req = None
        if not isinstance(req, dict):
            conn.send(_ack(conn, "", "", False, "error:request not json"))
            return
        op, args = req.get("op"), req.get("args")
        req_id = "" if req.get("req_id") is None else str(req["req_id"])
        if op == "ping":
            conn.send(_ack(conn, "ping", req_id, True, "pong"))
            return
        if op not in ("subscribe", "unsubscribe"):
            answer = _ack(conn, "", req_id, False, "error:invalid op")
            del answer["op"]  # an op Bybit does not know is not echoed as one
            conn.send(answer | {"request": {"op": op, "args": args}})
            return
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            conn.send(_ack(conn, op, req_id, False, "error:args invalid"))
            return
        if op == "unsubscribe":
            for name in args:
                conn.topics.pop(name, None)
                conn.tickers.pop(name, None)
            conn.reindex()
            conn.send(_ack(conn, op, req_id))
            return
        if conn.kind is SPOT and len(args) > _MAX_SPOT_ARGS:
            conn.send(_ack(conn, op, req_id, False, f"error:args size >{_MAX_SPOT_ARGS}"))
            return
        topics: list[Topic] = []
        for name in args:
            topic = self.resolve(conn.kind, name)
            if topic is None:
                conn.send(_ack(conn, op, req_id, False, f"error:handler not found,topic:{name}"))
                return
            if name in conn.topics or topic in topics:
                conn.send(_ack(conn, op, req_id, False, f"error:already subscribed,topic:{name}"))
                return
            topics.append(topic)
        conn.send(_ack(conn, op, req_id))
        for topic in topics:
            conn.topics[topic.name] = topic
            snapshot = self._snapshot(conn, topic)
            if snapshot is not None:
                conn.send(snapshot)
        conn.reindex()

    async def serve(self, request: web.Request, kind: MarketKind) -> web.WebSocketResponse:
        """One websocket connection on a ``kind`` endpoint: requests until the client leaves."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._conn_ids += 1
        conn = BybitConnection(ws, kind, f"{uuid.uuid4().hex[:20]}-{self._conn_ids}")
        if not self.connections:
            self._seed_ticks()
        self.connections.add(conn)
        try:
            await streams.pump(ws, conn.out, lambda text: self.handle_request(conn, text))
        finally:
            self.connections.discard(conn)
        return ws

    def subscribed(self, kind: MarketKind | None = None) -> list[str]:
        """Every topic subscribed on open connections (of one category, or all; tests wait on this)."""
        return [name for c in self.connections if kind in (None, c.kind) for name in c.topics]

    async def close_all(self, app: web.Application | None = None) -> None:
        """Close every connection, as a venue going away does (also the app's shutdown hook)."""
        for conn in list(self.connections):
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def _book_message(
    topic: Topic,
    spec: MarketSpec,
    book: tuple[Decimal, Decimal, Decimal, Decimal],
    seq: int,
    ts_ms: int,
    cts_ms: int,
) -> dict[str, Any]:
    bid, ask, bid_qty, ask_qty = book
    data = {
        "s": spec.symbol,
        "b": [[_px(spec, bid), _sz(spec, bid_qty)]],
        "a": [[_px(spec, ask), _sz(spec, ask_qty)]],
        "u": seq,
        "seq": seq,
    }
    return {"topic": topic.name, "type": "snapshot", "ts": ts_ms, "data": data, "cts": cts_ms}


BYBIT_WS_HUB: web.AppKey[BybitStreamHub] = web.AppKey("carry_bybit_ws_hub", BybitStreamHub)


def bybit_hub_of(emu: Emulator) -> BybitStreamHub:
    """The `BybitStreamHub` of an emulator."""
    return emu.app[BYBIT_WS_HUB]


def add_routes(emu: Emulator) -> None:
    """Register ``/v5/public/spot`` and ``/v5/public/linear`` on ``emu.app``.

    Call after `engine.venues.emulator.streams.add_routes` (it hooks onto the stream hub). The paths share
    nothing with Binance's ``/ws``, ``/stream`` and ``/fstream`` routes; the Bybit REST front's middleware
    (``/v5/`` paths) passes a websocket answer through unchanged.
    """
    hub = BybitStreamHub(emu)
    emu.app[BYBIT_WS_HUB] = hub
    emu.app.on_shutdown.append(hub.close_all)

    def endpoint(kind: MarketKind) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await hub.serve(request, kind)

        return handler

    for path, kind in PATHS.items():
        emu.app.router.add_get(path, endpoint(kind))
