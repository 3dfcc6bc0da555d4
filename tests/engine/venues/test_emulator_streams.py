"""The emulator's Binance websocket streams, read by the real ccxt.pro ``binance`` / ``binanceusdm`` classes.

Every streamed message is checked against the recording it replays (../shared/data): the same strings,
ids, sides and times the venue sent. The emulator runs on a step clock: a test subscribes, waits until
the emulator has the subscription, then moves the market.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from engine.config.live import ExchangeId, VenueSettings
from engine.venues.connect import open_ws_exchange
from engine.venues.emulator import EmulatorOptions, EmulatorThread, Recording
from engine.venues.emulator.market import MARK, QUOTE, TRADE
from engine.venues.emulator.streams import hub_of
from tests.engine.venues.conftest import SPOT_FILE, USDM_FILE_0405, _require

SPOT, USDM = 0, 1  # market indices of the spot_and_perp_recording fixture


def recorded(rel: str, channel: str) -> list[dict[str, Any]]:
    """The payloads of one stream of a recording, in file order (``channel``: ``bookTicker`` ...)."""
    marker = f'@{channel}"'
    out = []
    with gzip.open(_require(rel), "rt") as fh:
        for line in fh:
            if marker in line[:70]:
                out.append(orjson.loads(line.partition(" ")[2])["data"])
    return out


def ws_leg(emu: EmulatorThread, exchange: ExchangeId, symbol: str) -> VenueSettings:
    """A websocket leg pointed at the emulator."""
    venue = "BINANCE_USDM" if ":" in symbol else "BINANCE"
    return VenueSettings(
        venue=venue, exchange=exchange, symbol=symbol, base_url=emu.base_url, market_data="ws"
    )


async def until_held(subscribed: Callable[[], list[str]], *names: str) -> None:
    """Wait until an emulator hub's subscriptions (``subscribed()``) hold every one of ``names`` (the
    client's subscribe has landed)."""
    for _ in range(2000):
        if set(names) <= set(subscribed()):
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{', '.join(names)} never subscribed")


async def until_subscribed(emu: EmulatorThread, stream: str) -> None:
    """Wait until the emulator holds a subscription to ``stream`` (the client's SUBSCRIBE has landed)."""
    hub = hub_of(emu.emulator)
    await until_held(lambda: emu.call(hub.subscribed), stream)


def step_until(emu: EmulatorThread, market: int, kind: int) -> int:
    """Advance one event at a time until an event of ``market``/``kind`` is applied; return its index."""
    events = emu.emulator.market.recording.events
    while True:
        cursor = emu.call(lambda: emu.emulator.market.cursor)
        assert emu.advance_events(1) == 1, "recording exhausted"
        if events[cursor][1] == market and events[cursor][2] == kind:
            return cursor


def ordinal(emu: EmulatorThread, index: int) -> int:
    """How many events of the same market and kind precede event ``index``: its line in the recording."""
    events = emu.emulator.market.recording.events
    _, market, kind, _ = events[index]
    return sum(1 for e in events[:index] if e[1] == market and e[2] == kind)


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async scenario with a guard against a hung stream (not a timed assertion)."""

    async def guarded() -> Any:
        return await asyncio.wait_for(coro(), timeout=30)

    return asyncio.run(guarded())


@dataclass
class WallAndRecorded:
    """The same frames streamed by a ``stream_time = "wall"`` emulator and by one on recorded times."""

    wall: list[dict[str, Any]]
    recorded: list[dict[str, Any]]
    wall_start_ms: int  # the wall clock just before the wall emulator started
    replay_start_ms: int  # the wall emulator's replay clock at its start

    def assert_one_shift(self, shifts: set[int]) -> None:
        """``shifts`` (wall minus recorded time of every time field) are one constant, so the recorded
        intervals are kept: (wall clock at start) - (replay clock at start)."""
        assert len(shifts) == 1  # one constant for every field of every stream: recorded intervals kept
        shift = next(iter(shifts))
        # The emulator started between these two readings of the wall clock.
        assert (
            self.wall_start_ms - self.replay_start_ms
            <= shift
            <= int(time.time() * 1000) - self.replay_start_ms
        )


def wall_and_recorded(
    emu: EmulatorThread,
    recording: Recording,
    frames: Callable[[EmulatorThread, int], Awaitable[list[dict[str, Any]]]],
    events: int,
) -> WallAndRecorded:
    """``frames(e, events)`` on a fresh ``stream_time = "wall"`` emulator on ``recording``, then on ``emu``
    (recorded times); both see the same frames, more than 100 of them."""
    wall_start_ms = int(time.time() * 1000)
    with EmulatorThread(recording=recording, options=EmulatorOptions(stream_time="wall")) as wall:
        replay_start_ms = wall.now_ms
        wall_frames = run(lambda: frames(wall, events))
    recorded_frames = run(lambda: frames(emu, events))
    assert len(wall_frames) == len(recorded_frames) > 100
    return WallAndRecorded(wall_frames, recorded_frames, wall_start_ms, replay_start_ms)


def test_book_tickers_when_spot_streamed_then_ccxt_pro_reads_the_recorded_books(emu: EmulatorThread) -> None:
    books = recorded(SPOT_FILE, "bookTicker")

    async def scenario() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        ex = open_ws_exchange(ws_leg(emu, "binance", "BTC/USDT"), "paper", enable_rate_limit=False)
        pairs = []
        try:
            await ex.load_markets()
            for i in range(4):
                watch = asyncio.ensure_future(ex.watch_bids_asks(["BTC/USDT"]))
                if i == 0:
                    await until_subscribed(emu, "btcusdt@bookTicker")
                index = step_until(emu, SPOT, QUOTE)
                tickers = await watch
                pairs.append((tickers["BTC/USDT"], books[ordinal(emu, index)]))
        finally:
            await ex.close()
        return pairs

    for ticker, book in run(scenario):
        info = ticker["info"]
        assert (info["b"], info["B"], info["a"], info["A"]) == (book["b"], book["B"], book["a"], book["A"])
        assert ticker["symbol"] == "BTC/USDT"  # spot, not the USD-M swap: the URL told ccxt.pro


def test_trades_when_streamed_then_ids_sides_and_strings_are_the_recorded_ones(emu: EmulatorThread) -> None:
    by_id = {t["t"]: t for t in recorded(USDM_FILE_0405, "trade")}

    async def scenario() -> list[dict[str, Any]]:
        ex = open_ws_exchange(ws_leg(emu, "binanceusdm", "BTC/USDT:USDT"), "paper", enable_rate_limit=False)
        trades: list[dict[str, Any]] = []
        try:
            await ex.load_markets()
            watch = asyncio.ensure_future(ex.watch_trades("BTC/USDT:USDT"))
            await until_subscribed(emu, "btcusdt@trade")
            emu.advance_events(3000)
            trades.extend(await watch)
            while len(trades) < 5:
                trades.extend(await ex.watch_trades("BTC/USDT:USDT"))
        finally:
            await ex.close()
        return trades

    trades = run(scenario)
    assert len(trades) >= 5
    ids = [int(t["id"]) for t in trades]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for t in trades:
        rec = by_id[int(t["id"])]
        assert t["symbol"] == "BTC/USDT:USDT"
        assert (t["info"]["p"], t["info"]["q"], t["info"]["m"]) == (rec["p"], rec["q"], rec["m"])
        assert t["side"] == ("sell" if rec["m"] else "buy")
        assert t["timestamp"] == rec["T"]


def test_mark_price_when_streamed_then_mark_index_and_funding_are_the_recorded_ones(
    emu: EmulatorThread,
) -> None:
    by_time = {m["E"]: m for m in recorded(USDM_FILE_0405, "markPrice@1s")}

    async def scenario() -> list[dict[str, Any]]:
        ex = open_ws_exchange(ws_leg(emu, "binanceusdm", "BTC/USDT:USDT"), "paper", enable_rate_limit=False)
        marks = []
        try:
            await ex.load_markets()
            for i in range(3):
                watch = asyncio.ensure_future(ex.watch_mark_price("BTC/USDT:USDT"))
                if i == 0:
                    await until_subscribed(emu, "btcusdt@markPrice@1s")
                step_until(emu, USDM, MARK)
                marks.append(await watch)
        finally:
            await ex.close()
        return marks

    marks = run(scenario)
    times = [m["timestamp"] for m in marks]
    assert times == sorted(times) and len(set(times)) == 3
    for m in marks:
        rec = by_time[m["timestamp"]]
        info = m["info"]
        assert (info["p"], info["i"], info["r"], info["T"]) == (rec["p"], rec["i"], rec["r"], rec["T"])
        assert m["markPrice"] == float(rec["p"]) and m["indexPrice"] == float(rec["i"])


def test_subscribe_and_unsubscribe_when_requested_then_acked_listed_and_stopped(emu: EmulatorThread) -> None:
    url = emu.base_url.replace("http://", "ws://")

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{url}/fstream/ws") as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1})
            out["sub"] = await ws.receive_json()
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
            out["list"] = await ws.receive_json()
            step_until(emu, USDM, TRADE)
            out["trade"] = await ws.receive_json()
            await ws.send_json({"method": "UNSUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 3})
            out["unsub"] = await ws.receive_json()
            step_until(emu, USDM, TRADE)
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 4})
            out["after"] = await ws.receive_json()  # the next frame: no trade came in between
            await ws.send_json({"method": "PING", "id": 5})
            out["bad_method"] = await ws.receive_json()
            await ws.send_json({"method": "SUBSCRIBE", "params": [], "id": -1})
            out["bad_id"] = await ws.receive_json()
        async with aiohttp.ClientSession() as session:
            combined = (
                f"{url}/stream?streams=btcusdt@trade/btcusdt@depth@100ms"  # depth: not emulated, silent
            )
            async with session.ws_connect(combined) as ws:
                await ws.send_json({"method": "GET_PROPERTY", "params": ["combined"], "id": 6})
                out["combined"] = await ws.receive_json()
                step_until(emu, SPOT, TRADE)
                out["wrapped"] = await ws.receive_json()
        return out

    out = run(scenario)
    assert out["sub"] == {"result": None, "id": 1}
    assert out["list"] == {"result": ["btcusdt@aggTrade"], "id": 2}
    trade = out["trade"]
    assert trade["e"] == "aggTrade" and trade["s"] == "BTCUSDT" and trade["a"] == trade["f"] == trade["l"]
    assert out["unsub"] == {"result": None, "id": 3}
    assert out["after"] == {"result": [], "id": 4}
    assert out["bad_method"]["code"] == 2 and "unknown variant PING" in out["bad_method"]["msg"]
    assert out["bad_id"] == {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
    assert out["combined"] == {"result": True, "id": 6}
    assert out["wrapped"]["stream"] == "btcusdt@trade" and out["wrapped"]["data"]["e"] == "trade"
    assert out["wrapped"]["data"]["p"].endswith("000000")  # spot: 8 decimals, as the venue writes them


def test_ws_urls_when_pointed_at_loopback_then_spot_and_futures_paths_differ(emu: EmulatorThread) -> None:
    spot = open_ws_exchange(ws_leg(emu, "binance", "BTC/USDT"), "paper")
    perp = open_ws_exchange(ws_leg(emu, "binanceusdm", "BTC/USDT:USDT"), "paper")
    port = emu.base_url.rsplit(":", 1)[1]
    assert spot.urls["api"]["ws"]["spot"] == f"ws://127.0.0.1:{port}/stream/ws"
    assert perp.urls["api"]["ws"]["linear"] == f"ws://127.0.0.1:{port}/fstream/ws"
    # ccxt.pro's own routing: '/stream' in the URL means spot.
    assert "/stream" not in perp.get_ws_url("linear", "market")
    asyncio.run(spot.close())
    asyncio.run(perp.close())


@pytest.mark.parametrize(("exchange", "symbol", "rel"), [("binance", "BTC/USDT", SPOT_FILE)])
def test_rest_trades_when_fetched_then_same_ids_and_strings_as_the_stream(
    emu: EmulatorThread, exchange: str, symbol: str, rel: str
) -> None:
    from tests.engine.venues.conftest import make_sync

    by_id = {str(t["t"]): t for t in recorded(rel, "trade")}
    emu.advance_events(3000)
    client = make_sync(exchange, emu.base_url)
    trades = client.fetch_trades(symbol, limit=20)
    assert len(trades) == 20
    for t in trades:
        rec = by_id[t["id"]]
        assert (t["info"]["p"], t["info"]["q"], t["info"]["m"]) == (rec["p"], rec["q"], rec["m"])
        assert t["timestamp"] == rec["T"]
    assert trades[-1]["timestamp"] <= emu.now_ms


# Time fields of the streamed payloads (spot book tickers carry none).
TIME_FIELDS = ("E", "T")


async def _stream_frames(emu: EmulatorThread, events: int) -> list[dict[str, Any]]:
    """Every frame a USD-M and a spot combined connection get while ``emu`` applies ``events`` events."""
    url = emu.base_url.replace("http://", "ws://")
    usdm = "btcusdt@bookTicker/btcusdt@trade/btcusdt@aggTrade/btcusdt@markPrice@1s/btcusdt@markPrice"
    frames: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        fut = await session.ws_connect(f"{url}/fstream/stream?streams={usdm}")
        spot = await session.ws_connect(f"{url}/stream?streams=btcusdt@trade/btcusdt@aggTrade")
        await until_subscribed(emu, "btcusdt@markPrice")
        await until_subscribed(emu, "btcusdt@aggTrade")
        emu.advance_events(events)
        for ws in (fut, spot):
            # A request's answer is queued after every stream frame the advance pushed: read up to it.
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 9})
            while "id" not in (msg := await ws.receive_json()):
                frames.append(msg)
            await ws.close()
    return frames


def test_stream_time_when_wall_then_every_time_field_shifted_by_one_constant_and_intervals_kept(
    emu: EmulatorThread, spot_and_perp_recording: Recording
) -> None:
    """``stream_time = "wall"``: the same frames as the recorded streams, every ``E`` / ``T`` moved by one
    constant (wall clock at start - replay clock at start), so intervals (and ``T - E`` to the next funding)
    are the recorded ones."""
    runs = wall_and_recorded(emu, spot_and_perp_recording, _stream_frames, 2000)
    channels = {f["stream"].partition("@")[2] for f in runs.wall}
    assert channels == {"bookTicker", "trade", "aggTrade", "markPrice@1s", "markPrice"}
    shifts = set()
    for w, r in zip(runs.wall, runs.recorded, strict=True):
        assert w["stream"] == r["stream"]
        wd, rd = w["data"], r["data"]
        assert {k: v for k, v in wd.items() if k not in TIME_FIELDS} == {
            k: v for k, v in rd.items() if k not in TIME_FIELDS
        }
        shifts |= {wd[k] - rd[k] for k in TIME_FIELDS if k in rd}
    runs.assert_one_shift(shifts)
    # The recorded side is the recording itself: a book ticker's ``u`` is its event's position.
    events = spot_and_perp_recording.events
    books = [f["data"] for f in runs.recorded if f["stream"].endswith("@bookTicker")]
    assert books and all(b["E"] == events[b["u"]][0] // 1_000_000 for b in books)
