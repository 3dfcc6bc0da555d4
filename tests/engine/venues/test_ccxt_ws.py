"""The data client on websockets: real ccxt.pro Binance classes against the emulator's streams.

Quotes (``bookTicker``), marks, index and funding (``markPrice@1s``) and trade ticks (``trade``) come from
the emulator's replay of the real recordings; each published nautilus object is checked against the
recorded message it came from. REST polling of trades and the fallback from an incomplete mark stream are
covered too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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

    async def until_count(self, kind: type, n: int) -> None:
        """Wait until at least ``n`` objects of ``kind`` have been published."""
        await self.until(lambda: len(self.of(kind)) >= n)

    def trade_command(self, kind: type = SubscribeTradeTicks) -> Any:
        """A (un)subscribe-trade-ticks command for the client's instrument."""
        c = self.client
        return kind(c.market.instrument.id, c.id, c.venue, UUID4(), 0)

    async def close(self) -> None:
        """Disconnect the client and close the REST session."""
        await self.client._disconnect()
        await self.rest.close()


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
    clock = LiveClock()
    msgbus = MessageBus(TraderId("TESTER-001"), clock)
    published: list[Any] = []
    msgbus.register("DataEngine.process", published.append)
    markets = await rest.load_markets()
    venue = "BINANCE_USDM" if ":" in symbol else "BINANCE"
    market = market_for(markets, symbol, venue, int(rest.precisionMode))
    loop = asyncio.get_running_loop()
    client = CcxtDataClient(loop, rest, market, msgbus, Cache(), clock, poll_secs, False, ws_ex or None)
    await client._connect()
    return Harness(client, rest, published)


def test_spot_quotes_when_streamed_by_websocket_then_published_in_order_with_venue_strings(
    emu: EmulatorThread,
) -> None:
    books = recorded(SPOT_FILE, "bookTicker")

    async def scenario() -> tuple[list[QuoteTick], list[dict[str, Any]]]:
        h = await connect(emu, "binance", "BTC/USDT")
        assert all(u.split("/")[2].startswith("127.0.0.1") for u in resolved_urls(h.client.ws_exchange))
        expected = []
        try:
            await until_subscribed(emu, "btcusdt@bookTicker")
            for n in range(2, 5):  # one at a time: ccxt.pro keeps only the latest book between awaits
                expected.append(books[ordinal(emu, step_until(emu, SPOT, QUOTE))])
                await h.until_count(QuoteTick, n)
        finally:
            await h.close()
        return h.of(QuoteTick), expected

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
                await h.until_count(FundingRateUpdate, n)
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
    events = emu.emulator.market.recording.events

    async def scenario() -> tuple[Harness, list[str], list[str]]:
        h = await connect(emu, "binanceusdm", PERP)
        try:
            h.client.subscribe_trade_ticks(h.trade_command())
            await until_subscribed(emu, "btcusdt@trade")
            first = emu.call(lambda: emu.emulator.market.cursor)
            applied = emu.advance_events(2000)
            window = events[first : first + applied]
            expected = [str(e[3][3]) for e in window if e[1] == USDM and e[2] == TRADE]
            await h.until(lambda: len(h.of(TradeTick)) >= len(expected))
            h.client.unsubscribe_trade_ticks(h.trade_command(UnsubscribeTradeTicks))
            hub = hub_of(emu.emulator)
            await h.until(lambda: "btcusdt@trade" not in emu.call(hub.subscribed))
            after = emu.call(hub.subscribed)
        finally:
            await h.close()
        return h, expected, after

    h, expected, after = run(scenario)
    ticks = h.of(TradeTick)
    assert len(expected) > 20
    assert [t.trade_id.value for t in ticks] == expected  # in order, once each
    for t in ticks:
        rec = by_id[t.trade_id.value]
        assert t.price.as_decimal() == Decimal(rec["p"]) and t.size.as_decimal() == Decimal(rec["q"])
        assert t.aggressor_side == (AggressorSide.SELLER if rec["m"] else AggressorSide.BUYER)
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


def test_marks_when_stream_lacks_index_and_funding_then_polled_by_rest(emu: EmulatorThread) -> None:
    async def scenario() -> Harness:
        stream = MarkOnlyStream({"watchMarkPrice": True})
        h = await connect(emu, "binanceusdm", PERP, ws=stream, poll_secs=0.02)
        try:
            await h.until(lambda: len(h.of(FundingRateUpdate)) >= 3)  # the poll at connect, then 2 more
        finally:
            await h.close()
        return h

    h = run(scenario)
    # Every mark published came with its index and funding rate, from /fapi/v1/premiumIndex.
    assert len(h.of(MarkPriceUpdate)) == len(h.of(IndexPriceUpdate)) == len(h.of(FundingRateUpdate)) >= 3
    assert "99999.00000000" not in {str(m.value) for m in h.of(MarkPriceUpdate)}
