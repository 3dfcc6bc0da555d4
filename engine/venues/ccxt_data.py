"""A nautilus market data client backed by ccxt's unified REST API (polling).

It streams what the deployment configures, whatever the strategy subscribes to: the spot leg's quotes, and
for a perpetual also mark, index and funding-rate updates (Binance's ``/fapi/v1/premiumIndex``). The
Sandbox execution client of paper mode matches against these quotes, and SpotPerpCarry reads the latest
quote from the cache, so quotes are published with or without a subscription.

Timestamps: ``ts_event`` and ``ts_init`` are the node clock at receipt. Venue times are not used for
``ts_event`` because the strategy's staleness check compares quote ages on the node clock (a replaying
emulator's clock runs in the past).

Two ways in (config ``market_data``):

- ``rest``: the book (and a perpetual's marks) polled every ``poll_interval_secs``; trade ticks, once
  subscribed, by polling ``fetch_trades``;
- ``ws`` (``ws_exchange`` given): quotes from the book-ticker stream (ccxt.pro ``watch_bids_asks``), a
  perpetual's mark, index and funding from the mark-price stream (``watch_mark_price``: Binance's
  ``markPrice@1s``), trade ticks from ``watch_trades``. A mark stream with the mark only (OKX's
  ``mark-price``) is joined by the funding-rate stream (``watch_funding_rate``) and the index stream (OKX
  ``index-tickers`` through ``watch_ticker``), each published as it comes; where the venue's ccxt.pro class
  lacks a method, that feed falls back to REST polling (the index alone when only it is missing). Without
  a mark-price stream (Bybit), a perpetual's marks come from its ticker stream (``watch_ticker``: Bybit's
  linear ``tickers`` carry mark, index, funding rate and next funding time), published when they change.

Each feed runs in its own task, so the quote path stays one await and one conversion. Trade ticks carry the
venue's trade id and aggressor side (Binance's ``m``: buyer is maker -> the seller was the aggressor) and
are deduplicated by trade id (a reconnect or overlapping polls may repeat trades).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.data.messages import (
    SubscribeFundingRates,
    SubscribeIndexPrices,
    SubscribeMarkPrices,
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    UnsubscribeFundingRates,
    UnsubscribeIndexPrices,
    UnsubscribeMarkPrices,
    UnsubscribeQuoteTicks,
    UnsubscribeTradeTicks,
)
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.model.data import (
    FundingRateUpdate,
    IndexPriceUpdate,
    MarkPriceUpdate,
    QuoteTick,
    TradeTick,
)
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import ClientId, TradeId, Venue
from nautilus_trader.model.objects import Price

from engine.data.binance_ws import REFERENCE_PRICE_PRECISION
from engine.venues.ccxt_poll import (
    BookTop,
    PerpMarks,
    SeenIds,
    VenueTrade,
    book_from_ticker,
    fetch_book_top,
    fetch_okx_index,
    fetch_perp_marks,
    fetch_recent_trades,
    funding_from_ccxt,
    marks_from_ticker,
    stream_price,
    trade_from_ccxt,
)
from engine.venues.errors import RateLimitedError, VenueError, translate
from engine.venues.health import RateLimitMonitor
from engine.venues.instruments import VenueMarket, is_perp

_REF_Q = Decimal(1).scaleb(-REFERENCE_PRICE_PRECISION)
DEFAULT_FUNDING_INTERVAL_MIN = 480
_TRADE_POLL_LIMIT = 100

QuoteHook = Callable[[QuoteTick, int], None]


def reference_price(text: str) -> Price:
    """A mark or index price string on the 8-decimal reference grid (as the backtest loader books them)."""
    return Price.from_str(format(Decimal(text).quantize(_REF_Q), "f"))


class MarkStreamIncomplete(Exception):
    """The venue's mark stream lacks the index or the funding rate: marks are polled instead."""


class CcxtDataClient(LiveMarketDataClient):
    """Streams or polls one venue market through ccxt and publishes nautilus data.

    Parameters
    ----------
    loop : asyncio.AbstractEventLoop
        The node's loop.
    exchange : ccxt.async_support.Exchange
        Markets already loaded; closed by `_disconnect`.
    market : VenueMarket
        The instrument and its ccxt symbol.
    msgbus, cache, clock
        The kernel's.
    poll_interval_secs : float
        Seconds between polls.
    close_exchange : bool
        Close the ccxt session on disconnect (False when the execution client shares it).
    ws_exchange : ccxt.pro exchange, optional
        Streams quotes, marks and trades (``market_data = "ws"``); closed by `_disconnect`.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        exchange: ccxt_async.Exchange,
        market: VenueMarket,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        poll_interval_secs: float = 1.0,
        close_exchange: bool = True,
        ws_exchange: ccxt_async.Exchange | None = None,
    ) -> None:
        venue = market.instrument.id.venue
        super().__init__(
            loop=loop,
            client_id=ClientId(venue.value),
            venue=Venue(venue.value),
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=InstrumentProvider(),
        )
        self.exchange = exchange
        self.market = market
        self.poll_interval_secs = poll_interval_secs
        self._close_exchange = close_exchange
        self._poll_task: asyncio.Task[None] | None = None
        self.ws_exchange = ws_exchange
        self._ws_task: asyncio.Task[None] | None = None
        self._marks_task: asyncio.Task[None] | None = None
        self._trades_task: asyncio.Task[None] | None = None
        # Funding and index feeds of a mark stream that carries the mark only (OKX), started by its first
        # message (see `_split_marks`).
        self._funding_task: asyncio.Task[None] | None = None
        self._index_task: asyncio.Task[None] | None = None
        self.ws_messages = 0
        self._last_book: BookTop | None = None
        self._funding_interval_min: int | None = None
        # (mark, index, rate, next funding ms) last published from the ticker stream (`_on_ticker_marks`).
        self._ticker_marks: tuple[str, str, str, int | None] | None = None
        self._seen_trades = SeenIds()
        self.polls = 0
        self.trade_polls = 0
        self.poll_errors = 0
        # Instrumentation for scripts/bench_paper.py: called with (quote, perf_counter_ns at receipt).
        self.on_quote: QuoteHook | None = None
        # The venue's rate-limit monitor (shared with its execution client), set by the node.
        self.health: RateLimitMonitor | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def _streams(self, method: str) -> bool:
        """Whether ``method`` (``watchMarkPrice`` ...) runs on the venue's stream rather than by polling."""
        return self.ws_exchange is not None and self.ws_exchange.has.get(method) is True

    async def _connect(self) -> None:
        instrument = self.market.instrument
        self._cache.add_instrument(instrument)
        self._handle_data(instrument)
        await self.poll_once()  # the first quote (and marks) in the cache before the strategy starts
        if self.ws_exchange is not None:
            self._ws_task = self.create_task(self._ws_loop(), log_msg=f"stream {instrument.id}")
        if is_perp(instrument) and self._streams("watchMarkPrice"):
            self._marks_task = self.create_task(self._marks_loop(), log_msg=f"marks {instrument.id}")
        elif is_perp(instrument) and self._streams("watchTicker"):
            # No mark stream, but the ticker may carry mark, index and funding (Bybit's linear tickers).
            self._marks_task = self.create_task(self._ticker_marks_loop(), log_msg=f"marks {instrument.id}")
        if self.ws_exchange is None or (is_perp(instrument) and self._marks_task is None):
            self._poll_task = self.create_task(self._poll_loop(), log_msg=f"poll {instrument.id}")

    async def _disconnect(self) -> None:
        for task in (self._poll_task, self._ws_task, self._marks_task, self._trades_task):
            if task is not None:
                task.cancel()
        self._poll_task = self._ws_task = self._marks_task = self._trades_task = None
        for task in (self._funding_task, self._index_task):
            if task is not None:
                task.cancel()
        self._funding_task = self._index_task = None
        if self.ws_exchange is not None:
            await self.ws_exchange.close()
        if self._close_exchange:
            await self.exchange.close()

    async def _watch(
        self, what: str, watch: Callable[[], Awaitable[Any]], handle: Callable[[Any, int], None]
    ) -> None:
        """Await one stream forever, handing each update and its receipt time (perf_counter_ns) to
        ``handle``; venue errors back off and resubscribe (ccxt.pro reconnects underneath)."""
        backoff = 0.5
        while True:
            try:
                update = await watch()
            except ccxt.BaseError as exc:
                err = translate(exc, placing_order=False)
                self._log.warning(f"{what}: {type(err).__name__}: {exc}; reconnecting in {backoff}s")
                if self.health is not None and isinstance(err, RateLimitedError):
                    self.health.rate_limited()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            received = time.perf_counter_ns()
            backoff = 0.5
            self.ws_messages += 1
            handle(update, received)

    async def _ws_loop(self) -> None:
        """Quotes from the venue's book-ticker stream (ccxt.pro ``watch_bids_asks``)."""
        assert self.ws_exchange is not None
        ws, symbol = self.ws_exchange, self.market.ccxt_symbol
        await self._watch(f"stream {symbol}", lambda: ws.watch_bids_asks([symbol]), self._on_bids_asks)

    def _on_bids_asks(self, tickers: dict[str, Any], received: int) -> None:
        ticker = tickers.get(self.market.ccxt_symbol)
        book = book_from_ticker(ticker, self.market.contract_size) if ticker is not None else None
        if book is not None:
            self._publish_book(book, received)

    async def _marks_loop(self) -> None:
        """Mark, index and funding from the venue's mark-price stream (ccxt.pro ``watch_mark_price``); polls
        instead when the stream turns out not to carry all three and no funding-rate stream can join it."""
        assert self.ws_exchange is not None
        ws, symbol = self.ws_exchange, self.market.ccxt_symbol
        try:
            await self._watch(f"marks {symbol}", lambda: ws.watch_mark_price(symbol), self._on_mark_price)
        except MarkStreamIncomplete:
            self._log.warning(f"marks {symbol}: the stream lacks index or funding; polling them instead")
            self._marks_task = None
            self._poll_task = self.create_task(self._poll_loop(), log_msg=f"poll {self.market.instrument.id}")

    def _on_mark_price(self, ticker: dict[str, Any], received: int) -> None:
        marks = marks_from_ticker(ticker, self._funding_interval_min)
        if marks is not None:
            self._publish_marks(marks)
            return
        mark = stream_price(ticker, "markPrice")
        # A mark-only stream (OKX's mark-price channel) with a funding-rate stream beside it: split feeds.
        if mark is None or not self._streams("watchFundingRate"):
            raise MarkStreamIncomplete(self.market.ccxt_symbol)
        if self._funding_task is None:
            self._split_marks()
        self._publish_mark(mark)

    def _split_marks(self) -> None:
        """Start the funding-rate stream (ccxt.pro ``watch_funding_rate``) and the index feed beside a
        mark-only mark stream: the index stream where ccxt.pro can watch one (OKX ``index-tickers``), else
        REST polling of the index alone."""
        assert self.ws_exchange is not None
        ws, symbol, iid = self.ws_exchange, self.market.ccxt_symbol, self.market.instrument.id
        self._funding_task = self.create_task(
            self._watch(f"funding {symbol}", lambda: ws.watch_funding_rate(symbol), self._on_funding_rate),
            log_msg=f"funding {iid}",
        )
        index_symbol = self._index_stream_symbol()
        if index_symbol is None:
            self._log.info(f"marks {symbol}: mark and funding streamed, the index polled")
            self._index_task = self.create_task(self._index_poll_loop(), log_msg=f"index {iid}")
            return
        self._index_task = self.create_task(
            self._watch(
                f"index {index_symbol}",
                lambda: ws.watch_ticker(index_symbol, {"channel": "index-tickers"}),
                self._on_index,
            ),
            log_msg=f"index {iid}",
        )

    def _index_stream_symbol(self) -> str | None:
        """The ccxt symbol whose ``index-tickers`` channel carries the perpetual's index (OKX: the swap's
        instrument family, ``BTC-USDT``, also the spot market's id, which ccxt.pro needs loaded)."""
        ws = self.ws_exchange
        if ws is None or ws.id != "okx" or not self._streams("watchTicker"):
            return None
        info = ws.market(self.market.ccxt_symbol).get("info") or {}
        family = info.get("instFamily") or info.get("uly")
        for m in (ws.markets or {}).values():
            if m.get("spot") and m.get("id") == family:
                return str(m["symbol"])
        return None

    def _on_funding_rate(self, fr: dict[str, Any], received: int) -> None:
        funding = funding_from_ccxt(fr)
        if funding is None:
            return
        if funding.interval_min:
            self._funding_interval_min = funding.interval_min
        self._publish_funding(funding.rate, funding.next_funding_ms, self._funding_interval_min)

    def _on_index(self, ticker: dict[str, Any], received: int) -> None:
        index = stream_price(ticker, "indexPrice")
        if index is not None:
            self._publish_index(index)

    async def _index_poll_loop(self) -> None:
        """The index alone by REST polling (OKX ``market/index-tickers``), where it is not streamed."""
        symbol = self.market.ccxt_symbol
        while True:
            await asyncio.sleep(self.poll_interval_secs)
            self.polls += 1
            try:
                if self.exchange.id == "okx":
                    index = await fetch_okx_index(self.exchange, symbol)
                else:
                    marks = await fetch_perp_marks(self.exchange, symbol)
                    index = marks.index if marks is not None else None
            except VenueError as exc:
                self.poll_errors += 1
                if self.health is not None and isinstance(exc, RateLimitedError):
                    self.health.rate_limited()
                self._log.warning(f"poll index {symbol} failed: {type(exc).__name__}: {exc}")
                continue
            if index is not None:
                self._publish_index(index)

    async def _ticker_marks_loop(self) -> None:
        """Mark, index and funding from the venue's ticker stream (ccxt.pro ``watch_ticker``: Bybit's linear
        ``tickers``) where there is no mark-price stream; polls instead when the ticker lacks one of them."""
        assert self.ws_exchange is not None
        ws, symbol = self.ws_exchange, self.market.ccxt_symbol
        try:
            await self._watch(f"marks {symbol}", lambda: ws.watch_ticker(symbol), self._on_ticker_marks)
        except MarkStreamIncomplete:
            self._log.warning(f"marks {symbol}: the ticker lacks mark, index or funding; polling instead")
            self._marks_task = None
            self._poll_task = self.create_task(self._poll_loop(), log_msg=f"poll {self.market.instrument.id}")

    def _on_ticker_marks(self, ticker: dict[str, Any], received: int) -> None:
        marks = marks_from_ticker(ticker, self._funding_interval_min)
        if marks is None:
            raise MarkStreamIncomplete(self.market.ccxt_symbol)
        # Bybit's ticker deltas carry what changed and ccxt.pro merges them: an update that moved only the
        # book or the last price repeats the marks, which are published once.
        key = (marks.mark, marks.index, marks.rate, marks.next_funding_ms)
        if key != self._ticker_marks:
            self._ticker_marks = key
            self._publish_marks(marks)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_secs)
            await self.poll_once()

    async def poll_once(self) -> None:
        """Poll what is not streamed (the book, a perpetual's marks) once and publish it; venue errors
        are logged."""
        self.polls += 1
        try:
            book = (
                None
                if self._ws_task is not None
                else await fetch_book_top(self.exchange, self.market.ccxt_symbol)
            )
            received = time.perf_counter_ns()
            marks = (
                await fetch_perp_marks(self.exchange, self.market.ccxt_symbol)
                if is_perp(self.market.instrument) and self._marks_task is None
                else None
            )
        except VenueError as exc:
            # Stale data stops new entries in the strategy (its quote-age check); keep polling.
            self.poll_errors += 1
            if self.health is not None and isinstance(exc, RateLimitedError):
                self.health.rate_limited()
            self._log.warning(f"poll {self.market.ccxt_symbol} failed: {type(exc).__name__}: {exc}")
            return
        if self.health is not None:
            self.health.ok()
        if book is not None:
            self._publish_book(book, received)
        if marks is not None:
            if marks.interval_min:
                self._funding_interval_min = marks.interval_min  # the mark stream does not state it
            self._publish_marks(marks)

    # -- trades ---------------------------------------------------------------------------------------

    async def _trades_ws_loop(self) -> None:
        """Trade ticks from the venue's trade stream (ccxt.pro ``watch_trades``)."""
        assert self.ws_exchange is not None
        ws, symbol = self.ws_exchange, self.market.ccxt_symbol
        await self._watch(f"trades {symbol}", lambda: ws.watch_trades(symbol), self._on_trades)

    def _on_trades(self, trades: list[dict[str, Any]], received: int) -> None:
        for t in trades:
            trade = trade_from_ccxt(t, self.market.contract_size)
            if trade is not None:
                self._publish_trade(trade)

    async def _trades_poll_loop(self) -> None:
        """Trade ticks by polling ``fetch_trades``; the first poll only marks what already happened."""
        symbol = self.market.ccxt_symbol
        first = True
        while True:
            self.trade_polls += 1
            try:
                trades = await fetch_recent_trades(self.exchange, symbol, _TRADE_POLL_LIMIT)
            except VenueError as exc:
                self.poll_errors += 1
                if self.health is not None and isinstance(exc, RateLimitedError):
                    self.health.rate_limited()
                self._log.warning(f"poll trades {symbol} failed: {type(exc).__name__}: {exc}")
            else:
                for trade in trades:
                    if first:
                        self._seen_trades.seen(trade.trade_id)
                    else:
                        self._publish_trade(trade)
                first = False
            await asyncio.sleep(self.poll_interval_secs)

    # -- conversions ----------------------------------------------------------------------------------

    def _publish_book(self, book: BookTop, received_perf_ns: int) -> None:
        inst = self.market.instrument
        bid, ask = Decimal(book.bid), Decimal(book.ask)
        if not (bid > 0 and ask > 0 and bid <= ask):
            self._log.warning(f"{inst.id}: invalid book bid={book.bid} ask={book.ask}, skipped")
            return
        now = self._clock.timestamp_ns()
        size_b, size_a = Decimal(book.bid_size), Decimal(book.ask_size)  # base units (ccxt_poll converts)
        quote = QuoteTick(
            instrument_id=inst.id,
            bid_price=inst.make_price(bid),
            ask_price=inst.make_price(ask),
            bid_size=inst.make_qty(size_b),
            ask_size=inst.make_qty(size_a),
            ts_event=now,
            ts_init=now,
        )
        self._last_book = book
        self._handle_data(quote)
        if self.on_quote is not None:
            self.on_quote(quote, received_perf_ns)

    def _publish_marks(self, marks: PerpMarks) -> None:
        now = self._clock.timestamp_ns()
        self._publish_mark(marks.mark, now)
        self._publish_index(marks.index, now)
        self._publish_funding(marks.rate, marks.next_funding_ms, marks.interval_min, now)

    def _publish_mark(self, mark: str, now: int | None = None) -> None:
        now = self._clock.timestamp_ns() if now is None else now
        self._handle_data(MarkPriceUpdate(self.market.instrument.id, reference_price(mark), now, now))

    def _publish_index(self, index: str, now: int | None = None) -> None:
        now = self._clock.timestamp_ns() if now is None else now
        self._handle_data(IndexPriceUpdate(self.market.instrument.id, reference_price(index), now, now))

    def _publish_funding(
        self, rate: str, next_funding_ms: int | None, interval_min: int | None, now: int | None = None
    ) -> None:
        now = self._clock.timestamp_ns() if now is None else now
        self._handle_data(
            FundingRateUpdate(
                self.market.instrument.id,
                Decimal(rate),
                ts_event=now,
                ts_init=now,
                interval=interval_min or DEFAULT_FUNDING_INTERVAL_MIN,
                next_funding_ns=next_funding_ms * 1_000_000 if next_funding_ms else None,
            )
        )

    def _publish_trade(self, trade: VenueTrade) -> None:
        if self._seen_trades.seen(trade.trade_id):
            return
        inst = self.market.instrument
        price, size = Decimal(trade.price), Decimal(trade.size)  # base units (ccxt_poll converts)
        if not (price > 0 and size > 0):
            self._log.warning(f"{inst.id}: invalid trade {trade.trade_id} p={trade.price} q={trade.size}")
            return
        side = (
            AggressorSide.NO_AGGRESSOR
            if trade.seller_aggressor is None
            else AggressorSide.SELLER
            if trade.seller_aggressor
            else AggressorSide.BUYER
        )
        now = self._clock.timestamp_ns()
        self._handle_data(
            TradeTick(
                inst.id, inst.make_price(price), inst.make_qty(size), side, TradeId(trade.trade_id), now, now
            )
        )

    # -- subscriptions: quotes and marks are streamed already; trades on demand ----------------------

    async def _subscribe_quote_ticks(self, command: SubscribeQuoteTicks) -> None:
        return None

    async def _subscribe_trade_ticks(self, command: SubscribeTradeTicks) -> None:
        if command.instrument_id != self.market.instrument.id or self._trades_task is not None:
            return
        streamed = self._streams("watchTrades")
        loop = self._trades_ws_loop() if streamed else self._trades_poll_loop()
        self._trades_task = self.create_task(loop, log_msg=f"trades {command.instrument_id}")

    async def _subscribe_mark_prices(self, command: SubscribeMarkPrices) -> None:
        return None

    async def _subscribe_index_prices(self, command: SubscribeIndexPrices) -> None:
        return None

    async def _subscribe_funding_rates(self, command: SubscribeFundingRates) -> None:
        return None

    async def _unsubscribe_quote_ticks(self, command: UnsubscribeQuoteTicks) -> None:
        return None

    async def _unsubscribe_trade_ticks(self, command: UnsubscribeTradeTicks) -> None:
        if command.instrument_id != self.market.instrument.id or self._trades_task is None:
            return
        self._trades_task.cancel()
        self._trades_task = None
        if self._streams("unWatchTrades"):
            assert self.ws_exchange is not None
            try:
                await self.ws_exchange.un_watch_trades(self.market.ccxt_symbol)
            except ccxt.BaseError as exc:  # the subscription ends with the connection anyway
                self._log.warning(f"unsubscribe trades {self.market.ccxt_symbol}: {exc}")

    async def _unsubscribe_mark_prices(self, command: UnsubscribeMarkPrices) -> None:
        return None

    async def _unsubscribe_index_prices(self, command: UnsubscribeIndexPrices) -> None:
        return None

    async def _unsubscribe_funding_rates(self, command: UnsubscribeFundingRates) -> None:
        return None
