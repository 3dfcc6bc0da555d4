"""Bybit's v5 public websocket on the emulator, read by the real ccxt.pro ``bybit`` class through carry's data
client (and by nautilus's own Rust Bybit websocket client).

Every streamed value is checked against the recording it replays (../shared/data): the recorded book, trade
ids, sides, prices, sizes, marks, indexes and funding rates. The emulator runs on a step clock: a test
subscribes, waits until the emulator holds the topic, then moves the market.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from nautilus_trader.core import nautilus_pyo3
from nautilus_trader.model.data import (
    FundingRateUpdate,
    IndexPriceUpdate,
    MarkPriceUpdate,
    QuoteTick,
    TradeTick,
    capsule_to_data,
)

from engine.config.live import VenueSettings
from engine.venues.ccxt_factory import create_async_exchange
from engine.venues.connect import open_ws_exchange, resolved_urls
from engine.venues.emulator import EmulatorThread, Recording
from engine.venues.emulator.bybit_ws import bybit_hub_of
from engine.venues.emulator.market import MARK, QUOTE, TRADE, MarketKind
from tests.engine.venues.conftest import SPOT_FILE, USDM_FILE_0405
from tests.engine.venues.test_ccxt_ws import (
    Harness,
    assert_recorded_trades,
    marks_polled,
    start_client,
    trades_round_trip,
)
from tests.engine.venues.test_emulator_streams import (
    SPOT,
    USDM,
    ordinal,
    recorded,
    run,
    step_until,
    until_held,
    wall_and_recorded,
)

SPOT_SYMBOL = "BTC/USDT"
PERP = "BTC/USDT:USDT"
# (ccxt symbol, emulator market index, Bybit category endpoint, recording)
MARKETS = {
    "spot": (SPOT_SYMBOL, SPOT, MarketKind.SPOT, SPOT_FILE),
    "linear": (PERP, USDM, MarketKind.USDM, USDM_FILE_0405),
}


def bybit_leg(base_url: str, symbol: str, **kw: Any) -> VenueSettings:
    """A Bybit websocket leg pointed at ``base_url``."""
    return VenueSettings(
        venue="BYBIT", exchange="bybit", symbol=symbol, base_url=base_url, market_data="ws", **kw
    )


async def until_topic(emu: EmulatorThread, topic: str, kind: MarketKind) -> None:
    """Wait until the emulator holds ``topic`` on a ``kind`` endpoint (the client's subscribe has landed)."""
    hub = bybit_hub_of(emu.emulator)
    await until_held(lambda: emu.call(hub.subscribed, kind), topic)


async def connect(emu: EmulatorThread, symbol: str, poll_secs: float = 5.0, ws: Any = None) -> Harness:
    """carry's `CcxtDataClient` on the emulator: ccxt's REST ``bybit`` and ccxt.pro's ``bybit`` streams (or
    the stand-in ``ws``)."""
    rest = create_async_exchange("bybit", emu.base_url, enable_rate_limit=False)
    ws = ws or open_ws_exchange(bybit_leg(emu.base_url, symbol), "paper", enable_rate_limit=False)
    return await start_client(rest, ws, symbol, "BYBIT", poll_secs)


def _int(x: object) -> int:
    """An integer field of a replay event's payload (typed ``object`` there)."""
    assert isinstance(x, int)
    return x


def book_of(q: QuoteTick) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return (
        q.bid_price.as_decimal(),
        q.ask_price.as_decimal(),
        q.bid_size.as_decimal(),
        q.ask_size.as_decimal(),
    )


def recorded_book(b: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return Decimal(b["b"]), Decimal(b["a"]), Decimal(b["B"]), Decimal(b["A"])


# ---- URLs ------------------------------------------------------------------------------------------


def test_ws_urls_when_pointed_at_the_emulator_then_bybit_public_paths_kept_on_its_host(
    emu: EmulatorThread,
) -> None:
    port = emu.base_url.rsplit(":", 1)[1]
    # base_url only (mainnet tables, rewritten) and ws_base_url on a testnet leg (testnet tables, rewritten).
    mainnet = open_ws_exchange(bybit_leg(emu.base_url, PERP), "paper")
    testnet = open_ws_exchange(
        bybit_leg(emu.base_url, SPOT_SYMBOL, ws_base_url=f"ws://127.0.0.1:{port}"), "testnet"
    )
    try:
        for ex in (mainnet, testnet):
            public = ex.urls["api"]["ws"]["public"]
            assert public["spot"] == f"ws://127.0.0.1:{port}/v5/public/spot"
            assert public["linear"] == f"ws://127.0.0.1:{port}/v5/public/linear"
            assert all("bybit.com" not in u for u in resolved_urls(ex))
    finally:
        asyncio.run(mainnet.close())
        asyncio.run(testnet.close())


# ---- quotes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", ["spot", "linear"])
def test_quotes_when_streamed_by_orderbook_1_then_published_as_the_recorded_books_in_order(
    emu: EmulatorThread, category: str
) -> None:
    symbol, market, kind, rel = MARKETS[category]
    books = recorded(rel, "bookTicker")

    async def scenario() -> tuple[list[QuoteTick], Any, list[dict[str, Any]]]:
        h = await connect(emu, symbol)
        expected = []
        try:
            await until_topic(emu, f"orderbook.1.{symbol[:3]}USDT", kind)
            await h.until(lambda: len(h.of(QuoteTick)) >= 2)  # the REST poll, then the subscribe snapshot
            state = emu.call(lambda: emu.emulator.market.markets[market])
            at_subscribe = (state.bid, state.ask, state.bid_qty, state.ask_qty)
            for n in range(3, 7):  # one at a time: ccxt.pro keeps only the latest book between awaits
                expected.append(books[ordinal(emu, step_until(emu, market, QUOTE))])
                await h.until(lambda n=n: len(h.of(QuoteTick)) >= n)  # type: ignore[misc]
        finally:
            await h.close()
        return h.of(QuoteTick), at_subscribe, expected

    quotes, at_subscribe, expected = run(scenario)
    assert book_of(quotes[1]) == at_subscribe
    assert [book_of(q) for q in quotes[2:]] == [recorded_book(b) for b in expected]
    assert len({book_of(q) for q in quotes[2:]}) > 1  # the book moved: not one value repeated


# ---- trades ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", ["spot", "linear"])
def test_trades_when_streamed_then_trade_ticks_once_each_with_recorded_ids_sides_prices_sizes(
    emu: EmulatorThread, category: str
) -> None:
    symbol, market, kind, rel = MARKETS[category]
    by_id = {t["t"]: t for t in recorded(rel, "trade")}
    topic = f"publicTrade.{symbol[:3]}USDT"
    hub = bybit_hub_of(emu.emulator)

    h, ids, after = trades_round_trip(
        emu, lambda: connect(emu, symbol), 2500, market, lambda: emu.call(hub.subscribed, kind), topic
    )
    expected = [_int(i) for i in ids]
    assert len(expected) > 10
    ticks = h.of(TradeTick)
    # Linear trade ids are the recorded ids as UUIDs (Bybit's derivatives ids), spot ids the recorded ones.
    linear = category == "linear"
    assert_recorded_trades(
        ticks, expected, by_id, lambda t: uuid.UUID(t.trade_id.value).int if linear else int(t.trade_id.value)
    )
    assert f"orderbook.1.{symbol[:3]}USDT" in after  # the book stays subscribed
    # A repeated trade (a resubscription replaying it) publishes nothing new.
    h.client._on_trades(
        [{"id": ticks[0].trade_id.value, "side": "buy", "amount": 1.0, "info": {"p": "1"}}], 0
    )
    assert len(h.of(TradeTick)) == len(ticks)


# ---- marks -----------------------------------------------------------------------------------------


def test_linear_marks_when_no_mark_stream_then_ticker_publishes_the_recorded_mark_index_funding(
    emu: EmulatorThread,
) -> None:
    """ccxt.pro's bybit has no ``watch_mark_price``: the data client reads mark, index and funding from the
    linear ``tickers`` stream (snapshot, then deltas) and publishes them once per change."""
    by_time = {m["E"]: m for m in recorded(USDM_FILE_0405, "markPrice@1s")}
    events = emu.emulator.market.recording.events

    def key(rec: dict[str, Any]) -> tuple[str, str, str, int]:
        return rec["p"], rec["i"], rec["r"], rec["T"]

    async def scenario() -> tuple[Harness, tuple[Any, ...], list[dict[str, Any]], int]:
        h = await connect(emu, PERP)
        expected: list[dict[str, Any]] = []
        try:
            await until_topic(emu, "tickers.BTCUSDT", MarketKind.USDM)
            await h.until(lambda: len(h.of(FundingRateUpdate)) >= 2)  # REST poll, then the ticker snapshot
            m = emu.call(lambda: emu.emulator.market.markets[USDM])
            snapshot = (m.mark, m.index, m.funding_rate, m.next_funding_ns)
            last: tuple[str, str, str, int] | None = None
            steps = 0
            while len(expected) < 4:
                steps += 1
                rec = by_time[_int(events[step_until(emu, USDM, MARK)][3][4]) // 1_000_000]  # its E
                if last is not None and key(rec) == last:
                    continue  # unchanged marks: a ticker delta carries nothing of them
                last = key(rec)
                expected.append(rec)
                await h.until(lambda: len(h.of(FundingRateUpdate)) >= 2 + len(expected))
        finally:
            await h.close()
        return h, snapshot, expected, steps

    h, snapshot, expected, steps = run(scenario)
    kinds = [type(d) for d in h.published if not isinstance(d, QuoteTick)][1:]  # [0]: the instrument
    assert kinds == [MarkPriceUpdate, IndexPriceUpdate, FundingRateUpdate] * (2 + len(expected))
    marks, indexes = h.of(MarkPriceUpdate)[1:], h.of(IndexPriceUpdate)[1:]
    rates = h.of(FundingRateUpdate)[1:]
    # [0]: the subscribe snapshot, the book as the emulator held it (the index exactly, not REST's rounding).
    assert (marks[0].value.as_decimal(), indexes[0].value.as_decimal()) == snapshot[:2]
    assert (rates[0].rate, rates[0].next_funding_ns) == snapshot[2:]
    assert [str(m.value) for m in marks[1:]] == [r["p"] for r in expected]  # 8 decimals, as recorded
    assert [str(i.value) for i in indexes[1:]] == [r["i"] for r in expected]
    assert [f.rate for f in rates[1:]] == [Decimal(r["r"]) for r in expected]
    assert [f.next_funding_ns for f in rates[1:]] == [r["T"] * 1_000_000 for r in expected]
    assert all(f.interval == 480 for f in rates)
    assert h.client.polls == 1  # only the REST poll at connect: the ticker stream fed the rest
    assert steps >= len(expected)
    # A ticker update that moved only the book repeats the marks: nothing is published again.
    count = len(h.published)
    info = {"markPrice": "28155.1", "indexPrice": "28165.04857143", "fundingRate": "0.0000276"}
    ticker = {"bid": 1.0, "info": info | {"nextFundingTime": "1680681600000", "bid1Price": "1.0"}}
    h.client._ticker_marks = ("28155.1", "28165.04857143", "0.0000276", 1680681600000)
    h.client._on_ticker_marks(ticker, 0)
    assert len(h.published) == count


@dataclass
class TickerWithoutMarks:
    """A stand-in ccxt.pro exchange without a mark stream whose ticker carries no mark, index or funding."""

    has: dict[str, bool]

    async def watch_bids_asks(self, symbols: list[str]) -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def watch_ticker(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol, "last": 99999.0, "info": {"symbol": "BTCUSDT", "lastPrice": "99999.0"}}

    async def close(self) -> None:
        return None


def test_linear_marks_when_the_ticker_lacks_them_then_polled_by_rest(emu: EmulatorThread) -> None:
    stream = TickerWithoutMarks({"watchTicker": True, "watchMarkPrice": False})
    # Every mark published came with its index and funding rate, from Bybit's REST tickers and funding.
    h = marks_polled(lambda: connect(emu, PERP, poll_secs=0.02, ws=stream))
    assert h.client.polls >= 3
    state = emu.emulator.market.markets[USDM]
    assert {m.value.as_decimal() for m in h.of(MarkPriceUpdate)} == {state.mark}


# ---- the protocol ----------------------------------------------------------------------------------


def test_protocol_when_subscribe_ping_unsubscribe_and_bad_requests_then_answered_as_bybit(
    emu: EmulatorThread,
) -> None:
    url = emu.base_url.replace("http://", "ws://")
    books = recorded(USDM_FILE_0405, "bookTicker")
    spot_trades = {t["t"]: t for t in recorded(SPOT_FILE, "trade")}

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{url}/v5/public/linear") as ws:
                sub = {"op": "subscribe", "args": ["orderbook.1.BTCUSDT"], "req_id": "book-1"}
                await ws.send_json(sub)
                out["sub"], out["snapshot"] = await ws.receive_json(), await ws.receive_json()
                out["book_index"] = step_until(emu, USDM, QUOTE)
                out["book"] = await ws.receive_json()
                await ws.send_json({"op": "ping", "req_id": 7})
                out["pong"] = await ws.receive_json()
                await ws.send_json(sub | {"req_id": "again"})
                out["again"] = await ws.receive_json()
                await ws.send_json({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"], "req_id": "deep"})
                out["deep"] = await ws.receive_json()
                await ws.send_json({"op": "subscribe", "args": ["tickers.ETHUSDT"]})
                out["eth"] = await ws.receive_json()
                await ws.send_json({"op": "unsubscribe", "args": ["orderbook.1.BTCUSDT"], "req_id": "u"})
                out["unsub"] = await ws.receive_json()
                step_until(emu, USDM, QUOTE)
                await ws.send_json({"op": "ping"})
                out["after"] = await ws.receive_json()  # the next frame: no book came in between
                await ws.send_json({"op": "auth", "args": [], "req_id": "x"})
                out["bad_op"] = await ws.receive_json()
                await ws.send_str("hello")
                out["not_json"] = await ws.receive_json()
                out["linear_topics"] = emu.call(bybit_hub_of(emu.emulator).subscribed, MarketKind.USDM)
            async with session.ws_connect(f"{url}/v5/public/spot") as ws:
                many = {
                    "op": "subscribe",
                    "args": [f"publicTrade.X{i}USDT" for i in range(11)],
                    "req_id": "m",
                }
                await ws.send_json(many)
                out["many"] = await ws.receive_json()
                await ws.send_json({"op": "subscribe", "args": ["publicTrade.BTCUSDT"], "req_id": 3})
                out["trade_sub"] = await ws.receive_json()
                step_until(emu, SPOT, TRADE)
                out["trade"] = await ws.receive_json()
        return out

    out = run(scenario)
    conn_id = out["sub"]["conn_id"]
    assert isinstance(conn_id, str) and conn_id
    ack = {"success": True, "ret_msg": "", "conn_id": conn_id}
    assert out["sub"] == ack | {"req_id": "book-1", "op": "subscribe"}
    snap = out["snapshot"]
    assert snap["topic"] == "orderbook.1.BTCUSDT" and snap["type"] == "snapshot"
    book = out["book"]
    assert (book["topic"], book["type"], book["data"]["s"]) == ("orderbook.1.BTCUSDT", "snapshot", "BTCUSDT")
    rec = books[ordinal(emu, out["book_index"])]
    (bid, bid_qty), (ask, ask_qty) = book["data"]["b"][0], book["data"]["a"][0]
    assert recorded_book(rec) == (Decimal(bid), Decimal(ask), Decimal(bid_qty), Decimal(ask_qty))
    assert (bid, ask) == (format(Decimal(rec["b"]), ".1f"), format(Decimal(rec["a"]), ".1f"))  # the 0.1 tick
    assert book["data"]["u"] == book["data"]["seq"] == out["book_index"] > snap["data"]["u"]
    assert book["ts"] == book["cts"] == emu.emulator.market.recording.events[out["book_index"]][0] // 10**6
    assert out["pong"] == {
        "success": True,
        "ret_msg": "pong",
        "conn_id": conn_id,
        "req_id": "7",
        "op": "ping",
    }
    failed = {"success": False, "conn_id": conn_id, "op": "subscribe"}
    assert out["again"] == failed | {
        "req_id": "again",
        "ret_msg": "error:already subscribed,topic:orderbook.1.BTCUSDT",
    }
    assert out["deep"] == failed | {
        "req_id": "deep",
        "ret_msg": "error:handler not found,topic:orderbook.50.BTCUSDT",
    }
    assert out["eth"] == failed | {"req_id": "", "ret_msg": "error:handler not found,topic:tickers.ETHUSDT"}
    assert out["unsub"] == ack | {"req_id": "u", "op": "unsubscribe"}
    assert out["after"]["ret_msg"] == "pong"
    assert out["bad_op"]["success"] is False and out["bad_op"]["ret_msg"] == "error:invalid op"
    assert out["bad_op"]["request"] == {"op": "auth", "args": []} and "op" not in out["bad_op"]
    assert out["not_json"]["success"] is False and out["not_json"]["ret_msg"] == "error:request not json"
    assert out["linear_topics"] == []
    assert out["many"]["success"] is False and out["many"]["ret_msg"] == "error:args size >10"
    assert out["trade_sub"]["success"] is True and out["trade_sub"]["req_id"] == "3"
    trade = out["trade"]
    assert (trade["topic"], trade["type"]) == ("publicTrade.BTCUSDT", "snapshot")
    (row,) = trade["data"]
    rec = spot_trades[int(row["i"])]
    assert (Decimal(row["p"]), Decimal(row["v"]), row["T"]) == (
        Decimal(rec["p"]),
        Decimal(rec["q"]),
        rec["T"],
    )
    assert row["S"] == ("Sell" if rec["m"] else "Buy") and row["BT"] is False and row["s"] == "BTCUSDT"


# ---- stream time -----------------------------------------------------------------------------------

TOPICS = ["orderbook.1.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT"]


async def _bybit_frames(emu: EmulatorThread, events: int) -> list[dict[str, Any]]:
    """Every frame a linear and a spot connection get (subscribe snapshots included) while ``emu`` applies
    ``events`` events."""
    url = emu.base_url.replace("http://", "ws://")
    frames: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        conns = [await session.ws_connect(f"{url}/v5/public/{c}") for c in ("linear", "spot")]
        for ws in conns:
            await ws.send_json({"op": "subscribe", "args": TOPICS, "req_id": "s"})
            assert (await ws.receive_json())["success"] is True
        emu.advance_events(events)
        for ws in conns:
            # A request's answer is queued after every frame the advance pushed: read up to it.
            await ws.send_json({"op": "ping", "req_id": "end"})
            while (msg := await ws.receive_json()).get("op") != "ping":
                frames.append(msg)
            await ws.close()
    return frames


def _times(frame: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """A frame without its time fields (``ts``, ``cts``, trades' ``T``, ``nextFundingTime``), and those."""
    times = [frame[k] for k in ("ts", "cts") if k in frame]
    rest = {k: v for k, v in frame.items() if k not in ("ts", "cts", "data")}
    data = frame["data"]
    if isinstance(data, list):
        times += [row["T"] for row in data]
        rest["data"] = [{k: v for k, v in row.items() if k != "T"} for row in data]
    else:
        if "nextFundingTime" in data:
            times.append(int(data["nextFundingTime"]))
        rest["data"] = {k: v for k, v in data.items() if k != "nextFundingTime"}
    return rest, times


def test_stream_time_when_wall_then_every_time_field_shifted_by_one_constant_and_the_rest_as_recorded(
    emu: EmulatorThread, spot_and_perp_recording: Recording
) -> None:
    runs = wall_and_recorded(emu, spot_and_perp_recording, _bybit_frames, 3000)
    topics = {(f["topic"], f["type"]) for f in runs.wall}
    assert {(t, "snapshot") for t in TOPICS} | {("tickers.BTCUSDT", "delta")} <= topics
    shifts = set()
    for w, r in zip(runs.wall, runs.recorded, strict=True):
        (w_rest, w_times), (r_rest, r_times) = _times(w), _times(r)
        assert w_rest == r_rest
        shifts |= {wt - rt for wt, rt in zip(w_times, r_times, strict=True)}
    runs.assert_one_shift(shifts)
    # The recorded side is the recording itself: a book message's ``u`` is its event's position.
    events = spot_and_perp_recording.events
    books = [f for f in runs.recorded if f["topic"].startswith("orderbook") and f["data"]["u"] > 0]
    pushed = books[2:]  # [0], [1]: the subscribe snapshots
    assert pushed and all(b["ts"] == events[b["data"]["u"]][0] // 1_000_000 for b in pushed)


# ---- nautilus's own Bybit websocket client ---------------------------------------------------------

_FROM_PYO3: list[tuple[type, Any]] = [
    (nautilus_pyo3.MarkPriceUpdate, MarkPriceUpdate.from_pyo3),
    (nautilus_pyo3.IndexPriceUpdate, IndexPriceUpdate.from_pyo3),
    (nautilus_pyo3.FundingRateUpdate, FundingRateUpdate.from_pyo3),
]


def _native(msg: Any) -> Any:
    """A message of nautilus's Bybit websocket client as its data client converts it (`_handle_msg`)."""
    if nautilus_pyo3.is_pycapsule(msg):
        return capsule_to_data(msg)
    for pyo3_type, convert in _FROM_PYO3:
        if isinstance(msg, pyo3_type):
            return convert(msg)
    return msg


def test_native_bybit_ws_client_when_pointed_at_the_emulator_then_parses_recorded_quotes_and_marks(
    emu: EmulatorThread,
) -> None:
    """nautilus's Rust ``BybitWebSocketClient`` (the one its Bybit data client runs) on the emulator's
    endpoints: spot quotes from ``orderbook.1``, linear quotes, marks and funding from ``tickers``."""
    spot_books = recorded(SPOT_FILE, "bookTicker")
    by_time = {m["E"]: m for m in recorded(USDM_FILE_0405, "markPrice@1s")}
    events = emu.emulator.market.recording.events
    ws_url = emu.base_url.replace("http://", "ws://")

    def of(items: list[Any], kind: type) -> list[Any]:
        return [d for d in items if isinstance(d, kind)]

    async def scenario() -> tuple[list[Any], list[Any], int, dict[str, Any]]:
        http = nautilus_pyo3.BybitHttpClient(
            api_key=None, api_secret=None, base_url=emu.base_url, demo=False, testnet=True, proxy_url=None
        )
        got: dict[str, list[Any]] = {"spot": [], "linear": []}
        clients = []
        products = {
            "spot": nautilus_pyo3.BybitProductType.SPOT,
            "linear": nautilus_pyo3.BybitProductType.LINEAR,
        }
        for category, product in products.items():
            ws = nautilus_pyo3.BybitWebSocketClient.new_public(
                product_type=product,
                environment=nautilus_pyo3.BybitEnvironment.TESTNET,
                url=f"{ws_url}/v5/public/{category}",
                proxy_url=None,
            )
            for inst in await http.request_instruments(product, None, None):
                ws.cache_instrument(inst)
            sink = got[category]
            await ws.connect(
                loop_=asyncio.get_running_loop(), callback=lambda msg, sink=sink: sink.append(_native(msg))
            )
            await ws.wait_until_active(timeout_secs=5.0)
            clients.append(ws)
        try:
            await clients[0].subscribe_orderbook(nautilus_pyo3.InstrumentId.from_str("BTCUSDT-SPOT.BYBIT"), 1)
            await clients[1].subscribe_ticker(nautilus_pyo3.InstrumentId.from_str("BTCUSDT-LINEAR.BYBIT"))
            await until_topic(emu, "orderbook.1.BTCUSDT", MarketKind.SPOT)
            await until_topic(emu, "tickers.BTCUSDT", MarketKind.USDM)
            first = emu.call(lambda: emu.emulator.market.cursor)
            applied = emu.advance_events(3000)
            window = range(first, first + applied)
            spot_quotes = [i for i in window if events[i][1] == SPOT and events[i][2] == QUOTE]
            last_mark = [i for i in window if events[i][1] == USDM and events[i][2] == MARK][-1]
            final = by_time[_int(events[last_mark][3][4]) // 1_000_000]  # the last mark message applied
            while len(of(got["spot"], QuoteTick)) < 1 + len(spot_quotes) or not (
                (marks := of(got["linear"], MarkPriceUpdate))
                and marks[-1].value.as_decimal() == Decimal(final["p"])
            ):
                await asyncio.sleep(0.02)  # the scenario's overall guard bounds the wait
        finally:
            for ws in clients:
                await ws.close()
        return got["spot"], got["linear"], spot_quotes[0], final

    spot, linear, first_quote, final = run(scenario)
    quotes = of(spot, QuoteTick)[1:]  # [0]: the subscribe snapshot
    start = ordinal(emu, first_quote)
    assert len(quotes) > 100
    assert [book_of(q) for q in quotes] == [recorded_book(b) for b in spot_books[start : start + len(quotes)]]
    assert of(linear, QuoteTick) and of(linear, IndexPriceUpdate)
    # The rate only: nautilus publishes funding from a ticker message carrying both rate and next funding
    # time, and Bybit's deltas (so the emulator's) carry only what changed.
    assert of(linear, FundingRateUpdate)[-1].rate == Decimal(final["r"])
