"""The data client on websockets: real ccxt.pro Binance classes against the emulator's streams.

Quotes (``bookTicker``), marks, index and funding (``markPrice@1s``) and trade ticks (``trade``) come from
the emulator's replay of the real recordings; each published nautilus object is checked against the
recorded message it came from. REST polling of trades and the fallback from an incomplete mark stream are
covered too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import ccxt.async_support as ccxt_async
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.data.messages import SubscribeTradeTicks, UnsubscribeTradeTicks
from nautilus_trader.model.data import (
    FundingRateUpdate,
    IndexPriceUpdate,
    MarkPriceUpdate,
    QuoteTick,
    TradeTick,
)
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import TraderId

from engine.config.live import ExchangeId
from engine.venues.ccxt_data import CcxtDataClient
from engine.venues.ccxt_factory import create_async_exchange
from engine.venues.connect import open_ws_exchange, resolved_urls
from engine.venues.emulator import EmulatorThread
from engine.venues.emulator.market import MARK, QUOTE, TRADE
from engine.venues.emulator.streams import hub_of
from engine.venues.instruments import market_for
from tests.engine.venues.conftest import SPOT_FILE, USDM_FILE_0405
from tests.engine.venues.test_emulator_streams import (
    SPOT,
    USDM,
    ordinal,
    recorded,
    run,
    step_until,
    until_held,
    until_subscribed,
    ws_leg,
)

PERP = "BTC/USDT:USDT"


@dataclass
class Harness:
    """A data client on the emulator and everything it published (``DataEngine.process``)."""

    client: CcxtDataClient
    rest: ccxt_async.Exchange
    published: list[Any]

    def of(self, kind: type) -> list[Any]:
        """Published objects of one type, in order."""
        return [d for d in self.published if isinstance(d, kind)]

    async def until(self, done: Callable[[], bool]) -> None:
        """Wait until ``done()`` (the scenario's overall guard bounds the wait)."""
        while not done():
            await asyncio.sleep(0.005)

    async def until_count(self, n: int, *kinds: type) -> None:
        """Wait until at least ``n`` objects of each of ``kinds`` have been published."""
        await self.until(lambda: all(len(self.of(k)) >= n for k in kinds))

    def trade_command(self, kind: type = SubscribeTradeTicks) -> Any:
        """A (un)subscribe-trade-ticks command for the client's instrument."""
        c = self.client
        return kind(c.market.instrument.id, c.id, c.venue, UUID4(), 0)

    async def stream_quotes(
        self,
        emu: EmulatorThread,
        books: list[dict[str, Any]],
        market: int,
        count: int,
        until_held: Callable[[], Awaitable[None]],
    ) -> tuple[list[QuoteTick], list[dict[str, Any]]]:
        """Wait until the emulator holds the book subscription (``until_held``), then move the market by
        ``count`` quotes of ``market``, one at a time (ccxt.pro keeps only the latest book between awaits),
        each awaited as a published quote tick. The client is closed on the way out. Returns the quote ticks
        published (the first from the REST poll at connect) and the recorded ``books`` streamed."""
        expected = []
        try:
            await until_held()
            for n in range(2, 2 + count):
                expected.append(books[ordinal(emu, step_until(emu, market, QUOTE))])
                await self.until_count(n, QuoteTick)
        finally:
            await self.close()
        return self.of(QuoteTick), expected

    async def close(self) -> None:
        """Disconnect the client and close the REST session."""
        await self.client._disconnect()
        await self.rest.close()


def trades_round_trip(
    emu: EmulatorThread,
    connect: Callable[[], Awaitable[Harness]],
    events: int,
    market: int,
    subscribed: Callable[[], list[str]],
    name: str,
) -> tuple[Harness, list[object], list[str]]:
    """Connect a client (``connect()``), subscribe it to trade ticks and wait until the emulator's
    subscriptions (``subscribed()``) hold ``name``; apply ``events`` replay events and wait until a trade tick
    is published for each trade of ``market`` among them; unsubscribe and wait until ``name`` is gone; close
    the client. Returns it, those trades' recorded ids in order and what stayed subscribed."""

    async def scenario() -> tuple[Harness, list[object], list[str]]:
        h = await connect()
        try:
            h.client.subscribe_trade_ticks(h.trade_command())
            await until_held(subscribed, name)
            first = emu.call(lambda: emu.emulator.market.cursor)
            applied = emu.advance_events(events)
            window = emu.emulator.market.recording.events[first : first + applied]
            ids = [e[3][3] for e in window if e[1] == market and e[2] == TRADE]
            await h.until(lambda: len(h.of(TradeTick)) >= len(ids))
            h.client.unsubscribe_trade_ticks(h.trade_command(UnsubscribeTradeTicks))
            await h.until(lambda: name not in subscribed())
            return h, ids, subscribed()
        finally:
            await h.close()

    result: tuple[Harness, list[object], list[str]] = run(scenario)
    return result


def assert_recorded_trades(
    ticks: list[TradeTick],
    expected: list[Any],
    by_id: dict[Any, dict[str, Any]],
    recorded_id: Callable[[TradeTick], Any] = lambda t: t.trade_id.value,
) -> None:
    """The ticks are the recorded trades ``expected`` (their ids, as ``recorded_id`` reads them off a tick),
    in order and once each, each with its recorded trade's (``by_id``) price, size and aggressor side."""
    ids = [recorded_id(t) for t in ticks]
    assert ids == expected  # in order, once each
    for t, trade_id in zip(ticks, ids, strict=True):
        rec = by_id[trade_id]
        assert t.price.as_decimal() == Decimal(rec["p"]) and t.size.as_decimal() == Decimal(rec["q"])
        assert t.aggressor_side == (AggressorSide.SELLER if rec["m"] else AggressorSide.BUYER)


async def start_client(
    rest: ccxt_async.Exchange, ws: Any, symbol: str, venue: str, poll_secs: float
) -> Harness:
    """Connect a `CcxtDataClient` for ``symbol`` on ``venue``: markets and polls from ``rest``, streams from
    the ccxt.pro exchange ``ws`` (None: REST only)."""
    clock = LiveClock()
    msgbus = MessageBus(TraderId("TESTER-001"), clock)
    published: list[Any] = []
    msgbus.register("DataEngine.process", published.append)
    markets = await rest.load_markets()
    market = market_for(markets, symbol, venue, int(rest.precisionMode))
    loop = asyncio.get_running_loop()
    client = CcxtDataClient(loop, rest, market, msgbus, Cache(), clock, poll_secs, False, ws)
    await client._connect()
    return Harness(client, rest, published)


async def connect(
    emu: EmulatorThread, exchange: ExchangeId, symbol: str, *, ws: Any = True, poll_secs: float = 5.0
) -> Harness:
    """Build and connect a `CcxtDataClient` on the emulator (``ws``: True, False or a stand-in exchange)."""
    rest = create_async_exchange(exchange, emu.base_url, enable_rate_limit=False)
    ws_ex = (
        open_ws_exchange(ws_leg(emu, exchange, symbol), "paper", enable_rate_limit=False)
        if ws is True
        else ws
    )
    venue = "BINANCE_USDM" if ":" in symbol else "BINANCE"
    return await start_client(rest, ws_ex or None, symbol, venue, poll_secs)


def test_spot_quotes_when_streamed_by_websocket_then_published_in_order_with_venue_strings(
    emu: EmulatorThread,
) -> None:
    books = recorded(SPOT_FILE, "bookTicker")

    async def scenario() -> tuple[list[QuoteTick], list[dict[str, Any]]]:
        h = await connect(emu, "binance", "BTC/USDT")
        assert all(u.split("/")[2].startswith("127.0.0.1") for u in resolved_urls(h.client.ws_exchange))
        return await h.stream_quotes(emu, books, SPOT, 3, lambda: until_subscribed(emu, "btcusdt@bookTicker"))

    quotes, expected = run(scenario)
    streamed = quotes[1:]  # the first comes from the REST poll at connect
    assert [(q.bid_price.as_decimal(), q.ask_price.as_decimal()) for q in streamed] == [
        (Decimal(b["b"]), Decimal(b["a"])) for b in expected
    ]
    assert [(q.bid_size.as_decimal(), q.ask_size.as_decimal()) for q in streamed] == [
        (Decimal(b["B"]), Decimal(b["A"])) for b in expected
    ]


def test_marks_when_streamed_then_mark_index_and_funding_published(emu: EmulatorThread) -> None:
    by_time = {m["E"]: m for m in recorded(USDM_FILE_0405, "markPrice@1s")}
    events = emu.emulator.market.recording.events

    async def scenario() -> tuple[Harness, list[dict[str, Any]]]:
        h = await connect(emu, "binanceusdm", PERP)
        expected = []
        try:
            await until_subscribed(emu, "btcusdt@markPrice@1s")
            for n in range(2, 5):
                index = step_until(emu, USDM, MARK)
                expected.append(by_time[cast(int, events[index][3][4]) // 1_000_000])  # the event's E
                await h.until_count(n, FundingRateUpdate)
        finally:
            await h.close()
        return h, expected

    h, expected = run(scenario)
    kinds = [type(d) for d in h.published if not isinstance(d, QuoteTick)][1:]  # [0]: the instrument
    assert kinds == [MarkPriceUpdate, IndexPriceUpdate, FundingRateUpdate] * 4
    marks, indexes, rates = h.of(MarkPriceUpdate)[1:], h.of(IndexPriceUpdate)[1:], h.of(FundingRateUpdate)[1:]
    assert [str(m.value) for m in marks] == [r["p"] for r in expected]  # 8 decimals, as the venue sends
    assert [str(i.value) for i in indexes] == [r["i"] for r in expected]
    assert [f.rate for f in rates] == [Decimal(r["r"]) for r in expected]
    assert [f.next_funding_ns for f in rates] == [r["T"] * 1_000_000 for r in expected]
    assert all(f.interval == 480 for f in rates)
    assert h.client.polls == 1  # only the REST poll at connect: marks came by stream


def test_trades_when_streamed_then_trade_ticks_with_venue_ids_sides_once_each(emu: EmulatorThread) -> None:
    by_id = {str(t["t"]): t for t in recorded(USDM_FILE_0405, "trade")}
    hub = hub_of(emu.emulator)
    h, ids, after = trades_round_trip(
        emu,
        lambda: connect(emu, "binanceusdm", PERP),
        2000,
        USDM,
        lambda: emu.call(hub.subscribed),
        "btcusdt@trade",
    )
    expected = [str(i) for i in ids]
    assert len(expected) > 20
    ticks = h.of(TradeTick)
    assert_recorded_trades(ticks, expected, by_id)
    assert "btcusdt@bookTicker" in after and "btcusdt@markPrice@1s" in after  # the other streams stay
    # A repeated batch (a resubscription replaying trades) publishes nothing new.
    h.client._on_trades([{"id": ticks[0].trade_id.value, "info": by_id[ticks[0].trade_id.value]}], 0)
    assert len(h.of(TradeTick)) == len(ticks)


def test_trades_when_polled_by_rest_then_each_new_trade_published_once(emu: EmulatorThread) -> None:
    events = emu.emulator.market.recording.events

    async def scenario() -> tuple[list[TradeTick], list[str]]:
        h = await connect(emu, "binance", "BTC/USDT", ws=False, poll_secs=0.02)
        try:
            h.client.subscribe_trade_ticks(h.trade_command())
            await h.until(lambda: h.client.trade_polls >= 1)  # seeded with the trades before subscribing
            expected: list[str] = []
            while len(expected) < 30:  # fewer than one poll's limit (100)
                expected.append(str(events[step_until(emu, SPOT, TRADE)][3][3]))
            await h.until(lambda: len(h.of(TradeTick)) >= len(expected))
            polls = h.client.trade_polls
            await h.until(lambda: h.client.trade_polls >= polls + 3)  # overlapping polls repeat them
        finally:
            await h.close()
        return h.of(TradeTick), expected

    ticks, expected = run(scenario)
    assert [t.trade_id.value for t in ticks] == expected


@dataclass
class MarkOnlyStream:
    """A stand-in ccxt.pro exchange whose mark stream carries the mark only (as OKX's channel does)."""

    has: dict[str, bool]
    closed: bool = False

    async def watch_bids_asks(self, symbols: list[str]) -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def watch_mark_price(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol, "markPrice": 99999.0, "info": {"p": "99999.00000000"}}

    async def close(self) -> None:
        self.closed = True


def marks_polled(connect: Callable[[], Awaitable[Harness]]) -> Harness:
    """Run a client (``connect()``) whose stream lacks the index and funding until three funding rates are
    published (the poll at connect, then 2 more), then check that every mark published came with its index
    and funding rate: all polled by REST."""

    async def scenario() -> Harness:
        h = await connect()
        try:
            await h.until(lambda: len(h.of(FundingRateUpdate)) >= 3)
        finally:
            await h.close()
        return h

    h: Harness = run(scenario)
    assert len(h.of(MarkPriceUpdate)) == len(h.of(IndexPriceUpdate)) == len(h.of(FundingRateUpdate)) >= 3
    return h


def test_marks_when_stream_lacks_index_and_funding_then_polled_by_rest(emu: EmulatorThread) -> None:
    stream = MarkOnlyStream({"watchMarkPrice": True})
    # Every mark published came with its index and funding rate, from /fapi/v1/premiumIndex.
    h = marks_polled(lambda: connect(emu, "binanceusdm", PERP, ws=stream, poll_secs=0.02))
    assert "99999.00000000" not in {str(m.value) for m in h.of(MarkPriceUpdate)}
