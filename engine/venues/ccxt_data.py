"""A nautilus market data client backed by ccxt's unified REST API (polling).

It streams what the deployment configures, whatever the strategy subscribes to: the spot leg's quotes, and
for a perpetual also mark, index and funding-rate updates (Binance's ``/fapi/v1/premiumIndex``). The
Sandbox execution client of paper mode matches against these quotes, and SpotPerpCarry reads the latest
quote from the cache, so quotes are published with or without a subscription.

Timestamps: ``ts_event`` and ``ts_init`` are the node clock at receipt. Venue times are not used for
``ts_event`` because the strategy's staleness check compares quote ages on the node clock (a replaying
emulator's clock runs in the past).

Quotes come by REST polling, or (``ws_exchange`` given, config ``market_data = "ws"``) from the venue's
book-ticker websocket through ccxt.pro (``watch_bids_asks``); marks, index and funding are always polled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

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
from nautilus_trader.model.data import FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate, QuoteTick
from nautilus_trader.model.identifiers import ClientId, Venue
from nautilus_trader.model.objects import Price

from engine.data.binance_ws import REFERENCE_PRICE_PRECISION
from engine.venues.ccxt_poll import BookTop, PerpMarks, book_from_ticker, fetch_book_top, fetch_perp_marks
from engine.venues.errors import RateLimitedError, VenueError, translate
from engine.venues.health import RateLimitMonitor
from engine.venues.instruments import VenueMarket, is_perp

_REF_Q = Decimal(1).scaleb(-REFERENCE_PRICE_PRECISION)
DEFAULT_FUNDING_INTERVAL_MIN = 480

QuoteHook = Callable[[QuoteTick, int], None]


def reference_price(text: str) -> Price:
    """A mark or index price string on the 8-decimal reference grid (as the backtest loader books them)."""
    return Price.from_str(format(Decimal(text).quantize(_REF_Q), "f"))


class CcxtDataClient(LiveMarketDataClient):
    """Polls one venue market through ccxt and publishes nautilus data.

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
        self.ws_messages = 0
        self._last_book: BookTop | None = None
        self.polls = 0
        self.poll_errors = 0
        # Instrumentation for scripts/bench_paper.py: called with (quote, perf_counter_ns at receipt).
        self.on_quote: QuoteHook | None = None
        # The venue's rate-limit monitor (shared with its execution client), set by the node.
        self.health: RateLimitMonitor | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    async def _connect(self) -> None:
        instrument = self.market.instrument
        self._cache.add_instrument(instrument)
        self._handle_data(instrument)
        await self.poll_once()  # the first quote is in the cache before the strategy starts
        if self.ws_exchange is not None:
            self._ws_task = self.create_task(self._ws_loop(), log_msg=f"stream {instrument.id}")
        if self.ws_exchange is None or is_perp(instrument):
            self._poll_task = self.create_task(self._poll_loop(), log_msg=f"poll {instrument.id}")

    async def _disconnect(self) -> None:
        for task in (self._poll_task, self._ws_task):
            if task is not None:
                task.cancel()
        self._poll_task = self._ws_task = None
        if self.ws_exchange is not None:
            await self.ws_exchange.close()
        if self._close_exchange:
            await self.exchange.close()

    async def _ws_loop(self) -> None:
        """Quotes from the venue's book-ticker stream (ccxt.pro ``watch_bids_asks``); reconnects on errors."""
        assert self.ws_exchange is not None
        symbol = self.market.ccxt_symbol
        backoff = 0.5
        while True:
            try:
                tickers = await self.ws_exchange.watch_bids_asks([symbol])
            except ccxt.BaseError as exc:
                err = translate(exc, placing_order=False)
                self._log.warning(f"stream {symbol}: {type(err).__name__}: {exc}; reconnecting in {backoff}s")
                if self.health is not None and isinstance(err, RateLimitedError):
                    self.health.rate_limited()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            received = time.perf_counter_ns()
            backoff = 0.5
            self.ws_messages += 1
            ticker = tickers.get(symbol)
            book = book_from_ticker(ticker) if ticker is not None else None
            if book is not None:
                self._publish_book(book, received)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_secs)
            await self.poll_once()

    async def poll_once(self) -> None:
        """Poll the book (and marks for a perp) once and publish what changed; venue errors are logged."""
        self.polls += 1
        try:
            streaming = self.ws_exchange is not None and self._ws_task is not None
            book = None if streaming else await fetch_book_top(self.exchange, self.market.ccxt_symbol)
            received = time.perf_counter_ns()
            marks = (
                await fetch_perp_marks(self.exchange, self.market.ccxt_symbol)
                if is_perp(self.market.instrument)
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
            self._publish_marks(marks)

    # -- conversions ----------------------------------------------------------------------------------

    def _publish_book(self, book: BookTop, received_perf_ns: int) -> None:
        inst = self.market.instrument
        bid, ask = Decimal(book.bid), Decimal(book.ask)
        if not (bid > 0 and ask > 0 and bid <= ask):
            self._log.warning(f"{inst.id}: invalid book bid={book.bid} ask={book.ask}, skipped")
            return
        now = self._clock.timestamp_ns()
        size_b = self.market.from_venue_amount(Decimal(book.bid_size))
        size_a = self.market.from_venue_amount(Decimal(book.ask_size))
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
        iid = self.market.instrument.id
        now = self._clock.timestamp_ns()
        self._handle_data(MarkPriceUpdate(iid, reference_price(marks.mark), now, now))
        self._handle_data(IndexPriceUpdate(iid, reference_price(marks.index), now, now))
        self._handle_data(
            FundingRateUpdate(
                iid,
                Decimal(marks.rate),
                ts_event=now,
                ts_init=now,
                interval=marks.interval_min or DEFAULT_FUNDING_INTERVAL_MIN,
                next_funding_ns=marks.next_funding_ms * 1_000_000 if marks.next_funding_ms else None,
            )
        )

    # -- subscriptions: everything configured is streamed already -------------------------------------

    async def _subscribe_quote_ticks(self, command: SubscribeQuoteTicks) -> None:
        return None

    async def _subscribe_trade_ticks(self, command: SubscribeTradeTicks) -> None:
        self._log.warning("trade ticks are not polled by the ccxt REST data client")

    async def _subscribe_mark_prices(self, command: SubscribeMarkPrices) -> None:
        return None

    async def _subscribe_index_prices(self, command: SubscribeIndexPrices) -> None:
        return None

    async def _subscribe_funding_rates(self, command: SubscribeFundingRates) -> None:
        return None

    async def _unsubscribe_quote_ticks(self, command: UnsubscribeQuoteTicks) -> None:
        return None

    async def _unsubscribe_trade_ticks(self, command: UnsubscribeTradeTicks) -> None:
        return None

    async def _unsubscribe_mark_prices(self, command: UnsubscribeMarkPrices) -> None:
        return None

    async def _unsubscribe_index_prices(self, command: UnsubscribeIndexPrices) -> None:
        return None

    async def _unsubscribe_funding_rates(self, command: UnsubscribeFundingRates) -> None:
        return None
