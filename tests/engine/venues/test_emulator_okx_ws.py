"""The emulator's OKX v5 public websocket, read by the real ccxt.pro ``okx`` class and carry's data client.

Every streamed value is checked against the recording it replays (../shared/data): Binance's spot and USD-M
BTCUSDT of 2023-04-05, stated in OKX's units (the book on OKX's 0.1 tick, bid down and ask up; swap sizes
in contracts of 0.01 BTC). The emulator runs on a step clock: a test subscribes, waits until the emulator
holds the subscription, then moves the market.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import aiohttp
import orjson
import pytest
from nautilus_trader.adapters.okx import OKXLiveDataClientFactory
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.data.messages import SubscribeQuoteTicks
from nautilus_trader.model.data import (
    FundingRateUpdate,
    IndexPriceUpdate,
    MarkPriceUpdate,
    QuoteTick,
    TradeTick,
)
from nautilus_trader.model.identifiers import TraderId

from engine.config.live import Credentials, VenueSettings
from engine.venues.ccxt_factory import create_async_exchange
from engine.venues.connect import open_ws_exchange
from engine.venues.emulator import EmulatorThread, Recording
from engine.venues.emulator.market import MARK, QUOTE
from engine.venues.emulator.okx_ws import okx_hub_of
from engine.venues.native import native_clients
from tests.engine.venues.conftest import API_KEY, API_SECRET, SPOT_FILE, USDM_FILE_0405
from tests.engine.venues.test_ccxt_ws import Harness, assert_recorded_trades, start_client, trades_round_trip
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

PASSPHRASE = "emulator-passphrase"
SPOT_SYM, SWAP_SYM = "BTC/USDT", "BTC/USDT:USDT"
SPOT_ID, SWAP_ID = "BTC-USDT", "BTC-USDT-SWAP"
CT_VAL = Decimal("0.01")  # BTC per BTC-USDT-SWAP contract
TICK = Decimal("0.1")
MARKETS = {SPOT_SYM: (SPOT, SPOT_ID, SPOT_FILE), SWAP_SYM: (USDM, SWAP_ID, USDM_FILE_0405)}


def okx_leg(emu: EmulatorThread, symbol: str) -> VenueSettings:
    """An OKX websocket leg pointed at the emulator."""
    return VenueSettings(venue="OKX", exchange="okx", symbol=symbol, base_url=emu.base_url, market_data="ws")


async def until_subscribed(emu: EmulatorThread, *subs: str) -> None:
    """Wait until the emulator's OKX hub holds every ``channel:instId`` in ``subs``."""
    hub = okx_hub_of(emu.emulator)
    await until_held(lambda: emu.call(hub.subscribed), *subs)


def mark_time(emu: EmulatorThread, index: int) -> int:
    """The recorded event time ``E`` (ms) of the mark event at ``index``."""
    mark_ns = emu.emulator.market.recording.events[index][3][4]
    assert isinstance(mark_ns, int)
    return mark_ns // 1_000_000


def _plain(x: Decimal) -> str:
    return "0" if x == 0 else f"{x.normalize():f}"


def okx_book(book: dict[str, Any], symbol: str) -> tuple[str, str, str, str]:
    """A recorded Binance book ticker as OKX states it: (bidPx, bidSz, askPx, askSz)."""
    ct = CT_VAL if symbol == SWAP_SYM else Decimal(1)
    bid = Decimal(book["b"]).quantize(TICK, rounding=ROUND_FLOOR)
    ask = Decimal(book["a"]).quantize(TICK, rounding=ROUND_CEILING)
    return _plain(bid), _plain(Decimal(book["B"]) / ct), _plain(ask), _plain(Decimal(book["A"]) / ct)


# ---- ccxt.pro okx on the emulator ----------------------------------------------------------------------


def test_open_ws_exchange_when_okx_leg_on_emulator_then_public_url_on_loopback_with_demo_flag(
    emu: EmulatorThread,
) -> None:
    async def scenario() -> tuple[str, dict[str, Any], list[str]]:
        ex = open_ws_exchange(okx_leg(emu, SWAP_SYM), "paper", enable_rate_limit=False)
        try:
            url = ex.get_url("bbo-tbt", "public")
            watch = asyncio.ensure_future(ex.watch_bids_asks([SWAP_SYM]))
            await until_subscribed(emu, f"bbo-tbt:{SWAP_ID}")
            hub = okx_hub_of(emu.emulator)
            seen = emu.call(lambda: [c.path_qs for c in hub.connections])
            watch.cancel()
            return url, dict(ex.headers or {}), seen
        finally:
            await ex.close()

    url, headers, seen = run(scenario)
    ws_host = emu.base_url.replace("http://", "ws://")
    assert url == f"{ws_host}/ws/v5/public?brokerId=9999"  # OKX demo's stream flag, path kept
    assert headers.get("x-simulated-trading") == "1"  # and the demo header on its REST (markets)
    assert seen == ["/ws/v5/public?brokerId=9999"]


@pytest.mark.parametrize("symbol", [SPOT_SYM, SWAP_SYM])
def test_bids_asks_when_streamed_by_bbo_tbt_then_ccxt_pro_reads_recorded_books_in_okx_units(
    emu: EmulatorThread, symbol: str
) -> None:
    market, inst_id, rel = MARKETS[symbol]
    books = recorded(rel, "bookTicker")
    events = emu.emulator.market.recording.events

    async def scenario() -> list[tuple[dict[str, Any], dict[str, Any], int]]:
        ex = open_ws_exchange(okx_leg(emu, symbol), "paper", enable_rate_limit=False)
        out = []
        try:
            for i in range(4):
                watch = asyncio.ensure_future(ex.watch_bids_asks([symbol]))
                if i == 0:
                    await until_subscribed(emu, f"bbo-tbt:{inst_id}")
                index = step_until(emu, market, QUOTE)
                out.append(((await watch)[symbol], books[ordinal(emu, index)], index))
        finally:
            await ex.close()
        return out

    for ticker, book, index in run(scenario):
        info = ticker["info"]
        bid_px, bid_sz, ask_px, ask_sz = okx_book(book, symbol)
        assert info["bids"] == [[bid_px, bid_sz, "0", "1"]] and info["asks"] == [[ask_px, ask_sz, "0", "1"]]
        assert (info["seqId"], int(info["ts"])) == (index, events[index][0] // 1_000_000)
        assert ticker["symbol"] == symbol
        assert (ticker["bid"], ticker["askVolume"]) == (float(bid_px), float(ask_sz))


def test_mark_funding_index_when_watched_then_ccxt_pro_reads_the_recorded_values(emu: EmulatorThread) -> None:
    by_time = {m["E"]: m for m in recorded(USDM_FILE_0405, "markPrice@1s")}

    async def scenario() -> list[tuple[dict[str, Any], ...]]:
        ex = open_ws_exchange(okx_leg(emu, SWAP_SYM), "paper", enable_rate_limit=False)
        out: list[tuple[dict[str, Any], ...]] = []
        try:
            for i in range(3):
                watches = [
                    asyncio.ensure_future(ex.watch_mark_price(SWAP_SYM)),
                    asyncio.ensure_future(ex.watch_funding_rate(SWAP_SYM)),
                    asyncio.ensure_future(ex.watch_ticker(SPOT_SYM, {"channel": "index-tickers"})),
                ]
                if i == 0:
                    subs = (f"mark-price:{SWAP_ID}", f"funding-rate:{SWAP_ID}", f"index-tickers:{SPOT_ID}")
                    await until_subscribed(emu, *subs)
                step_until(emu, USDM, MARK)
                out.append(tuple(await asyncio.gather(*watches)))
        finally:
            await ex.close()
        return out

    results = run(scenario)
    assert len({mark["timestamp"] for mark, _, _ in results}) == 3
    for mark, funding, index in results:
        rec = by_time[mark["timestamp"]]
        assert Decimal(mark["info"]["markPx"]) == Decimal(rec["p"]) and mark["symbol"] == SWAP_SYM
        assert Decimal(index["info"]["idxPx"]) == Decimal(rec["i"]) and index["indexPrice"] == float(rec["i"])
        assert int(index["info"]["ts"]) == rec["E"]
        assert Decimal(funding["info"]["fundingRate"]) == Decimal(rec["r"])
        assert (funding["fundingTimestamp"], funding["interval"]) == (rec["T"], "8h")
        assert funding["nextFundingTimestamp"] == rec["T"] + 8 * 3600 * 1000


# ---- carry's data client on the OKX websocket ----------------------------------------------------------


async def okx_client(
    emu: EmulatorThread, symbol: str, poll_secs: float = 5.0, ws_lacks: tuple[str, ...] = ()
) -> Harness:
    """Build and connect a data client on the emulator's OKX REST (markets, first poll) and websocket
    (``ws_lacks``: ccxt.pro methods to present as missing)."""
    rest = create_async_exchange("okx", emu.base_url, enable_rate_limit=False, sandbox=True)
    ws = open_ws_exchange(okx_leg(emu, symbol), "paper", enable_rate_limit=False)
    ws.has = dict(ws.has) | dict.fromkeys(ws_lacks, False)
    return await start_client(rest, ws, symbol, "OKX", poll_secs)


@pytest.mark.parametrize("symbol", [SPOT_SYM, SWAP_SYM])
def test_quotes_when_okx_streams_then_published_in_order_on_okx_tick_with_recorded_base_sizes(
    emu: EmulatorThread, symbol: str
) -> None:
    market, inst_id, rel = MARKETS[symbol]
    books = recorded(rel, "bookTicker")

    async def scenario() -> tuple[list[QuoteTick], list[dict[str, Any]]]:
        h = await okx_client(emu, symbol)
        return await h.stream_quotes(
            emu, books, market, 4, lambda: until_subscribed(emu, f"bbo-tbt:{inst_id}")
        )

    quotes, expected = run(scenario)
    streamed = quotes[1:]  # the first comes from the REST poll at connect
    assert [(str(q.bid_price), str(q.ask_price)) for q in streamed] == [
        okx_book(b, symbol)[0::2] for b in expected
    ]
    # Sizes in base units whatever OKX counts them in: the recorded Binance sizes.
    assert [(q.bid_size.as_decimal(), q.ask_size.as_decimal()) for q in streamed] == [
        (Decimal(b["B"]), Decimal(b["A"])) for b in expected
    ]


def test_trades_when_okx_streams_then_trade_ticks_once_each_with_recorded_ids_sides_and_base_sizes(
    emu: EmulatorThread,
) -> None:
    by_id = {str(t["t"]): t for t in recorded(USDM_FILE_0405, "trade")}
    hub = okx_hub_of(emu.emulator)
    h, ids, after = trades_round_trip(
        emu,
        lambda: okx_client(emu, SWAP_SYM),
        2000,
        USDM,
        lambda: emu.call(hub.subscribed),
        f"trades:{SWAP_ID}",
    )
    expected = [str(i) for i in ids]
    assert len(expected) > 20
    assert_recorded_trades(h.of(TradeTick), expected, by_id)
    assert f"bbo-tbt:{SWAP_ID}" in after and f"mark-price:{SWAP_ID}" in after  # the other channels stay


def test_marks_when_okx_streams_mark_funding_and_index_then_each_published_with_recorded_values(
    emu: EmulatorThread,
) -> None:
    by_time = {m["E"]: m for m in recorded(USDM_FILE_0405, "markPrice@1s")}

    async def scenario() -> tuple[Harness, list[dict[str, Any]]]:
        h = await okx_client(emu, SWAP_SYM)
        expected = []
        try:
            await until_subscribed(emu, f"mark-price:{SWAP_ID}")
            expected.append(by_time[mark_time(emu, step_until(emu, USDM, MARK))])
            # The first mark-only message brings the funding-rate and index streams in.
            await until_subscribed(emu, f"funding-rate:{SWAP_ID}", f"index-tickers:{SPOT_ID}")
            for n in range(2, 5):
                expected.append(by_time[mark_time(emu, step_until(emu, USDM, MARK))])
                await h.until_count(n, IndexPriceUpdate, FundingRateUpdate)
        finally:
            await h.close()
        return h, expected

    h, expected = run(scenario)
    marks, indexes, rates = h.of(MarkPriceUpdate)[1:], h.of(IndexPriceUpdate)[1:], h.of(FundingRateUpdate)[1:]
    # [0] of each came from the REST poll at connect; then one mark per recorded update, and from the second
    # update on its funding rate and index too.
    assert [str(m.value) for m in marks] == [r["p"] for r in expected]  # 8 decimals, as Binance recorded it
    assert [str(i.value) for i in indexes] == [r["i"] for r in expected[1:]]
    assert [f.rate for f in rates] == [Decimal(r["r"]) for r in expected[1:]]
    assert [f.next_funding_ns for f in rates] == [r["T"] * 1_000_000 for r in expected[1:]]
    assert all(f.interval == 480 for f in rates)
    assert h.client.polls == 1  # only the REST poll at connect: all three came by stream


def test_marks_when_index_not_streamable_then_index_polled_alone_and_mark_funding_streamed(
    emu: EmulatorThread,
) -> None:
    by_time = {m["E"]: m for m in recorded(USDM_FILE_0405, "markPrice@1s")}
    hub = okx_hub_of(emu.emulator)

    async def scenario() -> tuple[Harness, dict[str, Any], list[str]]:
        h = await okx_client(emu, SWAP_SYM, poll_secs=0.02, ws_lacks=("watchTicker",))
        try:
            await until_subscribed(emu, f"mark-price:{SWAP_ID}")
            step_until(emu, USDM, MARK)
            await until_subscribed(emu, f"funding-rate:{SWAP_ID}")
            last = by_time[mark_time(emu, step_until(emu, USDM, MARK))]
            await h.until_count(2, FundingRateUpdate)
            # Two more polled indexes: the later one was surely served after the last mark was applied.
            await h.until_count(len(h.of(IndexPriceUpdate)) + 2, IndexPriceUpdate)
            subs = emu.call(hub.subscribed)
        finally:
            await h.close()
        return h, last, subs

    h, last, subs = run(scenario)
    assert f"index-tickers:{SPOT_ID}" not in subs
    assert [str(m.value) for m in h.of(MarkPriceUpdate)[-1:]] == [last["p"]]
    assert [f.rate for f in h.of(FundingRateUpdate)[1:]] == [Decimal(last["r"])]  # streamed, not polled
    assert str(h.of(IndexPriceUpdate)[-1].value) == last["i"]
    assert h.client.polls >= 3  # the REST poll at connect, then the index polls


# ---- the protocol, spoken by hand ----------------------------------------------------------------------


def test_protocol_when_subscribe_ping_unsubscribe_and_bad_requests_then_answered_as_okx(
    emu: EmulatorThread,
) -> None:
    url = emu.base_url.replace("http://", "ws://") + "/ws/v5/public"
    events = emu.emulator.market.recording.events
    arg = {"channel": "bbo-tbt", "instId": SPOT_ID}

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_json({"id": "7", "op": "subscribe", "args": [arg]})
            out["sub"] = await ws.receive_json()
            await ws.send_str("ping")
            out["pong"] = await ws.receive_str()
            out["index"] = step_until(emu, SPOT, QUOTE)
            out["push"] = await ws.receive_json()
            await ws.send_json({"op": "unsubscribe", "args": [arg]})
            out["unsub"] = await ws.receive_json()
            step_until(emu, SPOT, QUOTE)
            await ws.send_str("ping")
            out["after"] = await ws.receive_str()  # the next frame: no book came in between
            bad_args = [
                {"channel": "bbo-tbt", "instId": "ETH-USDT"},
                {"channel": "candle1m", "instId": SPOT_ID},
            ]
            await ws.send_json(
                {"op": "subscribe", "args": [*bad_args, {"channel": "trades", "instId": SPOT_ID}]}
            )
            out["unknown"] = [await ws.receive_json() for _ in range(3)]
            for name, frame in (
                ("not_json", "subscribe bbo-tbt"),
                ("bad_op", orjson.dumps({"op": "listen", "args": [arg]}).decode()),
                ("no_args", orjson.dumps({"op": "subscribe"}).decode()),
            ):
                await ws.send_str(frame)
                out[name] = await ws.receive_json()
            out["subs"] = emu.call(okx_hub_of(emu.emulator).subscribed)
        return out

    out = run(scenario)
    conn_id = out["sub"]["connId"]
    assert out["sub"] == {"event": "subscribe", "arg": arg, "connId": conn_id, "id": "7"}
    assert out["pong"] == "pong"
    push, index = out["push"], out["index"]
    bid, ask, bid_qty, ask_qty = (str(x) for x in events[index][3])
    book = {"b": bid, "a": ask, "B": bid_qty, "A": ask_qty}
    bid_px, bid_sz, ask_px, ask_sz = okx_book(book, SPOT_SYM)
    assert push == {
        "arg": arg,
        "data": [
            {
                "asks": [[ask_px, ask_sz, "0", "1"]],
                "bids": [[bid_px, bid_sz, "0", "1"]],
                "ts": str(events[index][0] // 1_000_000),
                "seqId": index,
            }
        ],
    }
    assert out["unsub"] == {"event": "unsubscribe", "arg": arg, "connId": conn_id}
    assert out["after"] == "pong"
    missing, candle, trades = out["unknown"]
    assert (missing["event"], missing["code"], missing["connId"]) == ("error", "60018", conn_id)
    assert "channel:bbo-tbt,instId:ETH-USDT doesn't exist" in missing["msg"]
    assert candle["code"] == "60018" and "channel:candle1m" in candle["msg"]
    assert trades["event"] == "subscribe"  # the valid argument of the same request still subscribes
    assert (out["not_json"]["code"], out["not_json"]["msg"]) == (
        "60012",
        "Illegal request: subscribe bbo-tbt",
    )
    assert (out["bad_op"]["code"], out["no_args"]["code"]) == ("60019", "60013")
    assert out["subs"] == [f"trades:{SPOT_ID}"]


def _login_arg(secret: str = API_SECRET, stamp: str | None = None) -> dict[str, str]:
    """OKX's websocket login argument, signed as OKX documents it."""
    stamp = stamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{stamp}GET/users/self/verify".encode(), hashlib.sha256).digest()
    sign = base64.b64encode(digest).decode()
    return {"apiKey": API_KEY, "passphrase": PASSPHRASE, "timestamp": stamp, "sign": sign}


def test_login_when_on_business_endpoint_then_signature_checked_and_public_endpoint_refuses_it(
    emu: EmulatorThread,
) -> None:
    base = emu.base_url.replace("http://", "ws://")

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{base}/ws/v5/public") as ws:
                await ws.send_json({"op": "login", "args": [_login_arg()]})
                out["public"] = await ws.receive_json()
            async with session.ws_connect(f"{base}/ws/v5/business") as ws:
                cases = {
                    "bad_sign": _login_arg(secret="not-the-secret"),
                    "stale": _login_arg(stamp=str(int(time.time()) - 120)),
                    "bad_passphrase": _login_arg() | {"passphrase": "nope"},
                    "bad_key": _login_arg() | {"apiKey": "nope"},
                    "good": _login_arg(),
                }
                for name, arg in cases.items():
                    await ws.send_json({"op": "login", "args": [arg]})
                    out[name] = await ws.receive_json()
                await ws.send_json({"op": "subscribe", "args": [{"channel": "bbo-tbt", "instId": SPOT_ID}]})
                out["market_data"] = await ws.receive_json()  # not on the business endpoint
                hub = okx_hub_of(emu.emulator)
                out["logins"] = emu.call(lambda: [c.api_key for c in hub.connections if c.business])
        return out

    out = run(scenario)
    assert out["public"]["code"] == "60008"
    codes = {name: out[name]["code"] for name in ("bad_sign", "stale", "bad_passphrase", "bad_key")}
    assert codes == {"bad_sign": "60007", "stale": "60004", "bad_passphrase": "60024", "bad_key": "60005"}
    assert {k: out["good"][k] for k in ("event", "code")} == {"event": "login", "code": "0"}
    assert out["market_data"]["code"] == "60018"
    assert out["logins"] == [API_KEY]


OKX_TIME_FIELDS = ("ts", "fundingTime", "nextFundingTime")
CHANNELS = (
    ("bbo-tbt", SPOT_ID),
    ("trades", SPOT_ID),
    ("bbo-tbt", SWAP_ID),
    ("trades", SWAP_ID),
    ("mark-price", SWAP_ID),
    ("funding-rate", SWAP_ID),
    ("index-tickers", SPOT_ID),
)


async def _okx_frames(emu: EmulatorThread, events: int) -> list[dict[str, Any]]:
    """Every push of every channel carry uses while ``events`` replay events are applied."""
    url = emu.base_url.replace("http://", "ws://") + "/ws/v5/public"
    frames: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        args = [{"channel": c, "instId": i} for c, i in CHANNELS]
        await ws.send_json({"op": "subscribe", "args": args})
        for _ in args:
            assert (await ws.receive_json())["event"] == "subscribe"
        emu.advance_events(events)
        await ws.send_str("ping")  # answered after every push the advance queued
        while (msg := await ws.receive()).data != "pong":
            frames.append(orjson.loads(msg.data))
    return frames


def test_stream_time_when_wall_then_every_okx_time_field_shifted_by_one_constant(
    emu: EmulatorThread, spot_and_perp_recording: Recording
) -> None:
    runs = wall_and_recorded(emu, spot_and_perp_recording, _okx_frames, 2000)
    assert {(f["arg"]["channel"], f["arg"]["instId"]) for f in runs.wall} == set(CHANNELS)
    shifts = set()
    for w, r in zip(runs.wall, runs.recorded, strict=True):
        assert w["arg"] == r["arg"]
        (wd,), (rd,) = w["data"], r["data"]
        assert {k: v for k, v in wd.items() if k not in OKX_TIME_FIELDS} == {
            k: v for k, v in rd.items() if k not in OKX_TIME_FIELDS
        }
        shifts |= {int(wd[k]) - int(rd[k]) for k in OKX_TIME_FIELDS if k in rd}
    runs.assert_one_shift(shifts)
    # The recorded side is the recording: funding times are Binance's T, marks its p, at its E.
    by_time = {m["E"]: m for m in recorded(USDM_FILE_0405, "markPrice@1s")}
    funding = [f["data"][0] for f in runs.recorded if f["arg"]["channel"] == "funding-rate"]
    assert funding and all(int(f["fundingTime"]) == by_time[int(f["ts"])]["T"] for f in funding)
    marks = [f["data"][0] for f in runs.recorded if f["arg"]["channel"] == "mark-price"]
    assert all(Decimal(m["markPx"]) == Decimal(by_time[int(m["ts"])]["p"]) for m in marks)


# ---- nautilus's own OKX data client on the same websocket ------------------------------------------------


def test_native_okx_data_client_when_spot_quotes_subscribed_then_streams_the_recorded_books(
    emu: EmulatorThread,
) -> None:
    """nautilus's pyo3 OKX client, configured by carry (`native_clients`, demo environment), logs in on
    ``/ws/v5/business`` with the emulator's key (it insists on keys even for public data), subscribes to
    ``instruments`` and ``bbo-tbt`` on ``/ws/v5/public`` and turns the pushes into quotes."""
    books = recorded(SPOT_FILE, "bookTicker")
    leg = VenueSettings(
        venue="OKX",
        exchange="okx",
        symbol=SPOT_SYM,
        base_url=emu.base_url,
        client="native",
        api_key_env="OKX_K",  # names only: the keys are handed over below
        api_secret_env="OKX_S",
        api_passphrase_env="OKX_P",
    )
    clients = native_clients(leg, "paper", Credentials(API_KEY, API_SECRET, PASSPHRASE))
    iid = clients.instrument_id

    async def scenario() -> tuple[list[QuoteTick], list[dict[str, Any]], list[str | None]]:
        clock = LiveClock()
        msgbus = MessageBus(TraderId("TESTER-001"), clock)
        published: list[Any] = []
        msgbus.register("DataEngine.process", published.append)
        loop = asyncio.get_running_loop()
        client = OKXLiveDataClientFactory.create(loop, "OKX", clients.data_config, msgbus, Cache(), clock)
        expected = []
        try:
            await client._connect()
            command = SubscribeQuoteTicks(
                instrument_id=iid, client_id=client.id, venue=client.venue, command_id=UUID4(), ts_init=0
            )
            await client._subscribe_quote_ticks(command)
            await until_subscribed(emu, f"bbo-tbt:{SPOT_ID}", "instruments:SPOT")
            hub = okx_hub_of(emu.emulator)
            logins = emu.call(lambda: [c.api_key for c in hub.connections if c.business])
            for n in range(1, 4):
                expected.append(books[ordinal(emu, step_until(emu, SPOT, QUOTE))])
                while len([p for p in published if isinstance(p, QuoteTick)]) < n:
                    await asyncio.sleep(0.005)
        finally:
            await client._disconnect()
        return [p for p in published if isinstance(p, QuoteTick)], expected, logins

    quotes, expected, logins = run(scenario)
    assert logins == [API_KEY]
    assert [q.instrument_id for q in quotes] == [iid] * 3
    assert [(str(q.bid_price), str(q.ask_price)) for q in quotes] == [
        okx_book(b, SPOT_SYM)[0::2] for b in expected
    ]
    assert [(q.bid_size.as_decimal(), q.ask_size.as_decimal()) for q in quotes] == [
        (Decimal(b["B"]), Decimal(b["A"])) for b in expected
    ]
