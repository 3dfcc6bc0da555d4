"""A nautilus execution client backed by ccxt's unified API (one venue, one account).

Order placement follows `engine.venues.errors.place_order` (DESIGN.md, reliability rules 3, 4 and 6):

- The client order id is nautilus's (deterministic per strategy and clock), mapped to the venue's field by
  ccxt's unified ``clientOrderId`` param (Binance ``newClientOrderId``, Bybit ``orderLinkId``, OKX
  ``clOrdId``; OKX takes alphanumerics only, see `venue_client_id`).
- A placement is sent once. A timeout or dropped connection is an UNKNOWN outcome: the order is looked up by
  its client order id until it is found or until the venue's refusal window (+ a margin) has passed since
  the placement call returned, after which the venue refuses the request if it ever arrives; only then is
  it reported rejected ("never arrived"). The window must be the venue's own guarantee
  (`refusal_window_ms`): Binance's and Bybit's ``recvWindow`` (ccxt sends it), OKX's ``expTime`` header
  (sent with every placement, see `engine.venues.ccxt_factory.send_exp_time_as_header`). Where a venue
  gives no such guarantee, an order of unknown outcome is never declared absent: it stays SUBMITTED and is
  looked up on every poll, as it does while the venue cannot be reached at all. Nothing is ever resent.
- A duplicate-client-id answer means an earlier attempt reached the venue: it is looked up, not resent.
- Reads and cancels go through tenacity (`retry_read`, `retry_cancel`); ccxt's own retries are off.
- Fills come from the venue's trades and are deduplicated by trade id.

Open orders are polled (``fetch_order``) every ``poll_interval_secs``; the account is refreshed after fills.
Start-up reconciliation: `generate_order_status_reports` (open orders), `generate_fill_reports` (trades in
the lookback), `generate_position_status_reports` (perpetual positions). A failing venue read is recorded
in ``reconciliation_error`` and raised, so nautilus refuses to start the trader (see `engine.live.node`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import (
    CancelAllOrders,
    CancelOrder,
    GenerateFillReports,
    GenerateOrderStatusReport,
    GenerateOrderStatusReports,
    GeneratePositionStatusReports,
    SubmitOrder,
)
from nautilus_trader.execution.reports import FillReport, OrderStatusReport, PositionStatusReport
from nautilus_trader.live.execution_client import LiveExecutionClient
from nautilus_trader.model.enums import (
    AccountType,
    LiquiditySide,
    OmsType,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
)
from nautilus_trader.model.identifiers import (
    AccountId,
    ClientId,
    ClientOrderId,
    InstrumentId,
    StrategyId,
    TradeId,
    Venue,
    VenueOrderId,
)
from nautilus_trader.model.objects import AccountBalance, Currency, Money

from engine.venues.ccxt_factory import EXP_TIME, sends_exp_time_header
from engine.venues.connect import LOOKUP_PARAM
from engine.venues.errors import (
    DuplicateClientOrderIdError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    UnknownOutcomeError,
    VenueError,
    place_order,
    retry_cancel,
    retry_read,
)
from engine.venues.health import RateLimitMonitor
from engine.venues.history import history
from engine.venues.instruments import VenueMarket, is_perp

_OKX_ID = re.compile(r"[^A-Za-z0-9]")
_STATUS = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
_TERMINAL = frozenset({"closed", "canceled", "expired", "rejected"})
LOOKUP_POLICY = RetryPolicy(attempts=3, initial_s=0.1, max_wait_s=1.0, max_retry_after_s=5.0)

SendHook = Callable[[ClientOrderId, int], None]

# Past the venue's refusal window: clock offset to the venue and the request's own transit.
UNKNOWN_MARGIN_S = 2.0
# OKX: how long a placement stays valid at the venue (its expTime header), ms.
OKX_ORDER_EXPIRY_MS = 5_000


def refusal_window_ms(exchange: ccxt_async.Exchange) -> int | None:
    """How long (ms) after its stamp the venue still accepts a placement, by the venue's own rule; None
    when the venue gives no such guarantee (a late request could still create the order).

    Binance and Bybit refuse a request older than the ``recvWindow`` ccxt sends with it (Binance as the
    ``recvWindow`` param, Bybit as ``X-BAPI-RECV-WINDOW``; ccxt's defaults 10 s and 5 s); OKX refuses one
    arriving after its ``expTime`` header, which carry sends only through `send_exp_time_as_header`.
    """
    eid = str(exchange.id)
    if eid in ("binance", "binanceusdm", "bybit"):
        window = (exchange.options or {}).get("recvWindow")
        return int(window) if window else None
    if eid == "okx" and sends_exp_time_header(exchange):
        return OKX_ORDER_EXPIRY_MS
    return None


class ClientOrderIdError(ValueError):
    """A client order id the venue cannot take (too long after mapping)."""


def venue_client_id(client_order_id: str, exchange_id: str) -> str:
    """The venue's form of a nautilus client order id (deterministic; OKX: alphanumerics, <= 32 chars).

    Raises
    ------
    ClientOrderIdError
        If the mapped id is longer than the venue allows (36 on Binance and Bybit).
    """
    if exchange_id == "okx":
        mapped, limit = _OKX_ID.sub("", client_order_id), 32
    else:
        mapped, limit = client_order_id, 36
    if not mapped or len(mapped) > limit:
        raise ClientOrderIdError(
            f"client order id {client_order_id!r} maps to {mapped!r}: over {limit} chars"
        )
    return mapped


def _d(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None and value != "" else Decimal(0)


def _ms_to_ns(ms: Any) -> int:
    return int(ms) * 1_000_000 if ms else 0


@dataclass
class _Tracked:
    """What the client knows of one of its orders."""

    client_order_id: ClientOrderId
    venue_client_id: str
    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    sent_monotonic: float
    venue_order_id: str | None = None
    accepted: bool = False
    done: bool = False
    unknown: bool = False
    filled: Decimal = Decimal(0)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class CcxtExecutionClient(LiveExecutionClient):
    """Trades one venue account through ccxt.

    Parameters
    ----------
    loop : asyncio.AbstractEventLoop
        The node's loop.
    exchange : ccxt.async_support.Exchange
        Markets loaded, credentials set.
    markets : list of VenueMarket
        The markets traded on this venue (one venue id).
    msgbus, cache, clock
        The kernel's.
    poll_interval_secs : float
        Seconds between open-order polls.
    close_exchange : bool
        Close the ccxt session on disconnect.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        exchange: ccxt_async.Exchange,
        markets: list[VenueMarket],
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        poll_interval_secs: float = 1.0,
        close_exchange: bool = True,
    ) -> None:
        if not markets:
            raise ValueError("an execution client needs at least one market")
        venue = markets[0].instrument.id.venue.value
        perp = any(is_perp(m.instrument) for m in markets)
        super().__init__(
            loop=loop,
            client_id=ClientId(venue),
            venue=Venue(venue),
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN if perp else AccountType.CASH,
            base_currency=None,
            instrument_provider=InstrumentProvider(),
            msgbus=msgbus,
            cache=cache,
            clock=clock,
        )
        self._set_account_id(AccountId(f"{venue}-001"))
        self.exchange = exchange
        self.markets: dict[InstrumentId, VenueMarket] = {m.instrument.id: m for m in markets}
        self.poll_interval_secs = poll_interval_secs
        self._close_exchange = close_exchange
        self._tracked: dict[ClientOrderId, _Tracked] = {}
        self._seen_trades: set[str] = set()
        self._poll_task: asyncio.Task[None] | None = None
        self._lookup_param = LOOKUP_PARAM.get(str(exchange.id), "clientOrderId")
        # The venue's refusal window (None: no venue-side guarantee) and the margin past it.
        self.placement_window_ms: int | None = refusal_window_ms(exchange)
        self.unknown_margin_s = UNKNOWN_MARGIN_S
        self.reconciliation_error: str | None = None
        self.duplicate_fills = 0
        self.creates_sent = 0
        # Instrumentation for scripts/bench_paper.py: (client order id, perf_counter_ns) just before sending.
        self.on_send: SendHook | None = None
        # The venue's rate-limit monitor (shared with its data client), set by the node.
        self.health: RateLimitMonitor | None = None

    @property
    def unknown_deadline_s(self) -> float | None:
        """Seconds after a placement's call returned with no answer, and the order is not at the venue,
        when it is declared never arrived; None: never (the venue does not refuse late requests)."""
        if self.placement_window_ms is None:
            return None
        return self.placement_window_ms / 1000.0 + self.unknown_margin_s

    # -- lifecycle ------------------------------------------------------------------------------------

    async def _connect(self) -> None:
        for m in self.markets.values():
            if self._cache.instrument(m.instrument.id) is None:
                self._cache.add_instrument(m.instrument)
        await self._update_account()
        await self._await_account_registered(timeout_secs=10.0)
        self._poll_task = self.create_task(self._poll_loop(), log_msg=f"poll orders {self.venue}")

    async def _disconnect(self) -> None:
        if self._poll_task is not None:
            self._poll_task.cancel()
            self._poll_task = None
        if self._close_exchange:
            await self.exchange.close()

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_secs)
            await self.poll_orders()

    async def poll_orders(self) -> None:
        """Apply what the venue says of every order not yet final (fills, cancel, expiry).

        One ``fetch_open_orders`` per market; an order looked up on its own only when it has left the open
        list (to get its final state) or when its placement outcome is still unknown.
        """
        pending = [t for t in self._tracked.values() if not t.done]
        if not pending:
            return
        open_by_cid: dict[str, dict[str, Any]] = {}
        for market in {self.markets[t.instrument_id].ccxt_symbol for t in pending}:
            try:
                opened = await retry_read(
                    partial(self.exchange.fetch_open_orders, market), exchange=self.exchange
                )
            except VenueError as exc:
                self._health(exc)
                self._log.warning(f"open orders {market}: {exc}")
                return
            self._health(None)
            open_by_cid |= {str(o.get("clientOrderId")): o for o in opened}
        for tracked in pending:
            async with tracked.lock:
                if tracked.done:
                    continue
                found = open_by_cid.get(tracked.venue_client_id)
                if found is None or tracked.unknown:
                    try:
                        found = await self._lookup(tracked)
                    except NotFoundError:
                        if tracked.unknown and self._past_deadline(tracked):
                            self._reject_never_arrived(tracked)
                        elif tracked.unknown and self.unknown_deadline_s is None:
                            self._log.warning(
                                f"{tracked.client_order_id}: outcome unknown, not at the venue yet; "
                                f"{self.exchange.id} does not refuse late requests: still SUBMITTED"
                            )
                        continue
                    except VenueError as exc:
                        self._log.warning(f"order lookup {tracked.client_order_id} failed: {exc}")
                        continue
                tracked.unknown = False
                await self._apply(tracked, found)

    # -- account --------------------------------------------------------------------------------------

    async def _update_account(self) -> None:
        bal: dict[str, Any] = await retry_read(lambda: self.exchange.fetch_balance(), exchange=self.exchange)
        wanted = set()
        for m in self.markets.values():
            wanted.add(m.instrument.quote_currency.code)
            if not is_perp(m.instrument):
                base = m.instrument.get_base_currency()
                if base is not None:
                    wanted.add(base.code)
        free = bal.get("free") or {}
        used = bal.get("used") or {}
        balances = []
        for code in sorted(set(free) | wanted):
            f, u = _d(free.get(code)), _d(used.get(code))
            if code not in wanted and f == 0 and u == 0:
                continue
            ccy = Currency.from_str(code)
            locked, available = Money(u, ccy), Money(f, ccy)
            total = Money(locked.as_decimal() + available.as_decimal(), ccy)
            balances.append(AccountBalance(total, locked, available))
        self.generate_account_state(balances, [], True, self._clock.timestamp_ns())

    # -- commands -------------------------------------------------------------------------------------

    async def _submit_order(self, command: SubmitOrder) -> None:
        order = command.order
        market = self.markets.get(order.instrument_id)
        now = self._clock.timestamp_ns()
        self.generate_order_submitted(order.strategy_id, order.instrument_id, order.client_order_id, now)
        if market is None:
            self.generate_order_rejected(
                order.strategy_id,
                order.instrument_id,
                order.client_order_id,
                "instrument not on this client",
                now,
            )
            return
        if order.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            self.generate_order_rejected(
                order.strategy_id,
                order.instrument_id,
                order.client_order_id,
                f"order type {order.order_type} not supported by the ccxt client",
                now,
            )
            return
        try:
            cid = venue_client_id(order.client_order_id.value, str(self.exchange.id))
        except ClientOrderIdError as exc:
            self.generate_order_rejected(
                order.strategy_id, order.instrument_id, order.client_order_id, str(exc), now
            )
            return
        tracked = _Tracked(
            order.client_order_id,
            cid,
            order.strategy_id,
            order.instrument_id,
            order.side,
            order.order_type,
            order.quantity.as_decimal(),
            time.monotonic(),
        )
        self._tracked[order.client_order_id] = tracked
        params: dict[str, Any] = {"clientOrderId": cid}
        price: float | None = None
        if order.order_type == OrderType.LIMIT:
            price = float(order.price.as_decimal())
            if order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                params["timeInForce"] = "IOC" if order.time_in_force == TimeInForce.IOC else "FOK"
        if order.is_reduce_only and is_perp(market.instrument):
            params["reduceOnly"] = True
        if self.placement_window_ms is not None and sends_exp_time_header(self.exchange):
            # OKX refuses the request arriving after this: what lets an unanswered one be declared absent.
            params[EXP_TIME] = str(int(time.time() * 1000) + self.placement_window_ms)
        amount = float(market.to_venue_amount(tracked.quantity))
        side = "buy" if order.side == OrderSide.BUY else "sell"
        otype = "market" if order.order_type == OrderType.MARKET else "limit"
        async with tracked.lock:
            if self.on_send is not None:
                self.on_send(order.client_order_id, time.perf_counter_ns())
            self.creates_sent += 1
            try:
                result = await place_order(
                    lambda: self.exchange.create_order(
                        market.ccxt_symbol, otype, side, amount, price, params
                    ),
                    exchange=self.exchange,
                )
            except (UnknownOutcomeError, DuplicateClientOrderIdError) as exc:
                self._log.warning(
                    f"{order.client_order_id}: {type(exc).__name__}; looking it up, not resending"
                )
                tracked.unknown = True
                # The deadline counts from now: ccxt stamps (Binance, Bybit) a request only after its rate
                # limiter let it go, which may be well after the call began.
                tracked.sent_monotonic = time.monotonic()
                found = await self._resolve_unknown(tracked)
                if found is None:
                    return  # rejected after the deadline, or still unknown: the poll loop keeps looking
                result = found
            except VenueError as exc:
                self._health(exc)
                tracked.done = True
                self.generate_order_rejected(
                    order.strategy_id,
                    order.instrument_id,
                    order.client_order_id,
                    f"{type(exc).__name__}: {exc}"[:300],
                    self._clock.timestamp_ns(),
                )
                return
            self._health(None)
            await self._apply(tracked, result)

    def _health(self, exc: VenueError | None) -> None:
        """Report a call's outcome to the venue's rate-limit monitor (None = a usable answer)."""
        if self.health is None:
            return
        if exc is None:
            self.health.ok()
        elif isinstance(exc, RateLimitedError):
            self.health.rate_limited()

    async def _resolve_unknown(self, tracked: _Tracked) -> dict[str, Any] | None:
        """Look an order of unknown outcome up by client order id; never resend it."""
        while True:
            try:
                found = await self._lookup(tracked)
            except NotFoundError:
                if self._past_deadline(tracked):
                    self._reject_never_arrived(tracked)
                    return None
                if self.unknown_deadline_s is None:
                    self._log.error(
                        f"{tracked.client_order_id}: outcome unknown and {self.exchange.id} does not refuse "
                        "late requests: it stays SUBMITTED and is looked up on every poll"
                    )
                    return None
                await asyncio.sleep(0.25)
                continue
            except VenueError as exc:
                self._log.error(
                    f"{tracked.client_order_id}: outcome still unknown ({type(exc).__name__}); it stays "
                    "SUBMITTED and is looked up on every poll"
                )
                return None
            tracked.unknown = False
            return found

    def _past_deadline(self, tracked: _Tracked) -> bool:
        deadline = self.unknown_deadline_s
        return deadline is not None and time.monotonic() - tracked.sent_monotonic > deadline

    def _reject_never_arrived(self, tracked: _Tracked) -> None:
        tracked.done = True
        tracked.unknown = False
        self.generate_order_rejected(
            tracked.strategy_id,
            tracked.instrument_id,
            tracked.client_order_id,
            f"not at the venue {self.unknown_deadline_s or 0:.0f}s after sending (past the venue's refusal "
            "window): never arrived",
            self._clock.timestamp_ns(),
        )

    async def _lookup(self, tracked: _Tracked) -> dict[str, Any]:
        market = self.markets[tracked.instrument_id]
        if tracked.venue_order_id is not None:
            vid = tracked.venue_order_id
            return await retry_read(
                lambda: self.exchange.fetch_order(vid, market.ccxt_symbol),
                exchange=self.exchange,
                policy=LOOKUP_POLICY,
            )
        cid = tracked.venue_client_id
        return await retry_read(
            lambda: self._fetch_by_client_id(market.ccxt_symbol, cid),
            exchange=self.exchange,
            policy=LOOKUP_POLICY,
        )

    async def _fetch_by_client_id(self, symbol: str, cid: str) -> dict[str, Any]:
        """One order by its client order id (raises ccxt's ``OrderNotFound`` when the venue has none).

        ccxt's ``bybit.fetch_order(None, ...)`` still sends ``orderId=None``, which Bybit looks up before
        ``orderLinkId``: no order is ever found. So Bybit is asked by ``orderLinkId`` alone, first among
        the open and 500 newest orders (``openOnly=1``), then in the order history.
        """
        if str(self.exchange.id) != "bybit":
            return await self.exchange.fetch_order(None, symbol, {self._lookup_param: cid})
        params = {"orderLinkId": cid}
        found = await self.exchange.fetch_open_orders(symbol, None, None, {**params, "openOnly": 1})
        if not found:
            found = await self.exchange.fetch_canceled_and_closed_orders(symbol, None, None, params)
        if not found:
            raise ccxt.OrderNotFound(f"{self.exchange.id}: no order with orderLinkId {cid}")
        return found[0]

    async def _cancel_order(self, command: CancelOrder) -> None:
        tracked = self._tracked.get(command.client_order_id) or self._track_cached(command.client_order_id)
        if tracked is None or tracked.done:
            return
        async with tracked.lock:
            if tracked.done:
                return
            market = self.markets[tracked.instrument_id]
            try:
                if tracked.venue_order_id is not None:
                    vid = tracked.venue_order_id
                    result = await retry_cancel(
                        lambda: self.exchange.cancel_order(vid, market.ccxt_symbol), exchange=self.exchange
                    )
                else:
                    params = {self._lookup_param: tracked.venue_client_id}
                    result = await retry_cancel(
                        lambda: self.exchange.cancel_order(None, market.ccxt_symbol, params),
                        exchange=self.exchange,
                    )
            except NotFoundError:
                # Already final at the venue (filled, expired) or never arrived: ask what it is.
                try:
                    result = await self._lookup(tracked)
                except NotFoundError:
                    if tracked.unknown and not self._past_deadline(tracked):
                        return  # the poll loop decides once the deadline has passed
                    tracked.done = True
                    self.generate_order_canceled(
                        tracked.strategy_id,
                        tracked.instrument_id,
                        tracked.client_order_id,
                        VenueOrderId(tracked.venue_order_id or tracked.venue_client_id),
                        self._clock.timestamp_ns(),
                    )
                    return
                except VenueError as exc:
                    self._cancel_rejected(tracked, exc)
                    return
            except VenueError as exc:
                self._cancel_rejected(tracked, exc)
                return
            if result.get("status") is None or result.get("filled") is None:
                try:
                    result = await self._lookup(tracked)  # some venues answer a cancel with ids only
                except VenueError as exc:
                    self._log.warning(f"{tracked.client_order_id}: canceled, state unread ({exc}); next poll")
                    return
            await self._apply(tracked, result)

    def _cancel_rejected(self, tracked: _Tracked, exc: VenueError) -> None:
        self.generate_order_cancel_rejected(
            tracked.strategy_id,
            tracked.instrument_id,
            tracked.client_order_id,
            VenueOrderId(tracked.venue_order_id or tracked.venue_client_id),
            f"{type(exc).__name__}: {exc}"[:300],
            self._clock.timestamp_ns(),
        )

    async def _cancel_all_orders(self, command: CancelAllOrders) -> None:
        for order in self._cache.orders_open(instrument_id=command.instrument_id):
            await self._cancel_order(
                CancelOrder(
                    trader_id=command.trader_id,
                    strategy_id=order.strategy_id,
                    instrument_id=order.instrument_id,
                    client_order_id=order.client_order_id,
                    venue_order_id=order.venue_order_id,
                    command_id=UUID4(),
                    ts_init=self._clock.timestamp_ns(),
                )
            )

    def _track_cached(self, coid: ClientOrderId) -> _Tracked | None:
        """Track an order known only from the cache (reconciled after a restart)."""
        order = self._cache.order(coid)
        if order is None or order.instrument_id not in self.markets:
            return None
        tracked = _Tracked(
            coid,
            venue_client_id(coid.value, str(self.exchange.id)),
            order.strategy_id,
            order.instrument_id,
            order.side,
            order.order_type,
            order.quantity.as_decimal(),
            time.monotonic() - (self.unknown_deadline_s or 0.0),
            venue_order_id=order.venue_order_id.value if order.venue_order_id else None,
            accepted=order.venue_order_id is not None,
            filled=order.filled_qty.as_decimal(),
        )
        self._tracked[coid] = tracked
        return tracked

    # -- venue answers to nautilus events -------------------------------------------------------------

    async def _apply(self, tracked: _Tracked, o: dict[str, Any]) -> None:
        """Turn a ccxt order into accepted / filled / canceled / expired events (each once)."""
        market = self.markets[tracked.instrument_id]
        status = o.get("status")
        vid = str(o.get("id"))
        tracked.venue_order_id = vid
        now = self._clock.timestamp_ns()
        if status == "rejected" and not tracked.accepted:
            tracked.done = True
            self.generate_order_rejected(
                tracked.strategy_id,
                tracked.instrument_id,
                tracked.client_order_id,
                "rejected by the venue",
                now,
            )
            return
        if not tracked.accepted:
            tracked.accepted = True
            self.generate_order_accepted(
                tracked.strategy_id, tracked.instrument_id, tracked.client_order_id, VenueOrderId(vid), now
            )
        filled = market.from_venue_amount(_d(o.get("filled")))
        if filled > tracked.filled:
            trades = [t for t in (o.get("trades") or []) if t.get("id")]
            if sum((_d(t.get("amount")) for t in trades), Decimal(0)) < _d(o.get("filled")):
                trades = await self._order_trades(vid, market.ccxt_symbol)
            for t in sorted(trades, key=lambda t: (t.get("timestamp") or 0, str(t.get("id")))):
                self._emit_fill(tracked, market, vid, t)
            self.create_task(self._refresh_account(), log_msg=f"account after fill {tracked.client_order_id}")
        if status == "closed" and o.get("amount") is not None and _d(o.get("amount")) > _d(o.get("filled")):
            status = "canceled"  # Bybit spot PartiallyFilledCanceled: ccxt says closed, the rest was canceled
        if status in _TERMINAL and tracked.filled >= filled:
            tracked.done = True
            if status == "canceled" or status == "rejected":
                self.generate_order_canceled(
                    tracked.strategy_id,
                    tracked.instrument_id,
                    tracked.client_order_id,
                    VenueOrderId(vid),
                    now,
                )
            elif status == "expired":
                self.generate_order_expired(
                    tracked.strategy_id,
                    tracked.instrument_id,
                    tracked.client_order_id,
                    VenueOrderId(vid),
                    now,
                )

    async def _order_trades(self, vid: str, symbol: str) -> list[dict[str, Any]]:
        """The trades of one order (Binance: ``myTrades``/``userTrades`` filtered by ``orderId``)."""
        if str(self.exchange.id) in ("binance", "binanceusdm"):
            return await retry_read(
                lambda: self.exchange.fetch_my_trades(symbol, None, None, {"orderId": vid}),
                exchange=self.exchange,
            )
        return await retry_read(lambda: self.exchange.fetch_order_trades(vid, symbol), exchange=self.exchange)

    async def _refresh_account(self) -> None:
        try:
            await self._update_account()
        except VenueError as exc:
            self._log.warning(f"account refresh failed: {exc}")

    def _emit_fill(self, tracked: _Tracked, market: VenueMarket, vid: str, t: dict[str, Any]) -> None:
        tid = str(t["id"])
        if tid in self._seen_trades:
            self.duplicate_fills += 1
            return
        self._seen_trades.add(tid)
        inst = market.instrument
        qty = market.from_venue_amount(_d(t.get("amount")))
        fee = t.get("fee") or {}
        fee_ccy = str(fee.get("currency") or inst.quote_currency.code)
        commission = Money(_d(fee.get("cost")), Currency.from_str(fee_ccy))
        tracked.filled += qty
        self.generate_order_filled(
            tracked.strategy_id,
            tracked.instrument_id,
            tracked.client_order_id,
            VenueOrderId(vid),
            None,
            TradeId(tid),
            tracked.side,
            tracked.order_type,
            inst.make_qty(qty),
            inst.make_price(_d(t.get("price"))),
            inst.quote_currency,
            commission,
            LiquiditySide.MAKER if t.get("takerOrMaker") == "maker" else LiquiditySide.TAKER,
            # The node clock, as for market data: strategies time legs from fill events, and a venue clock
            # that is off (or a replaying emulator's) must not fire their timeouts early.
            self._clock.timestamp_ns(),
            {"venue_ts_ms": t.get("timestamp")},
        )

    # -- reconciliation reports -----------------------------------------------------------------------

    def _client_order_id_of(self, o: dict[str, Any]) -> ClientOrderId | None:
        cid = o.get("clientOrderId")
        if not cid:
            return None
        for tracked in self._tracked.values():
            if tracked.venue_client_id == cid:
                return tracked.client_order_id
        for order in self._cache.orders(venue=self.venue):
            if venue_client_id(order.client_order_id.value, str(self.exchange.id)) == cid:
                return order.client_order_id
        return ClientOrderId(str(cid))

    def _order_report(self, market: VenueMarket, o: dict[str, Any]) -> OrderStatusReport:
        inst = market.instrument
        filled = market.from_venue_amount(_d(o.get("filled")))
        status = _STATUS.get(str(o.get("status")), OrderStatus.ACCEPTED)
        if status == OrderStatus.ACCEPTED and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        otype = OrderType.MARKET if o.get("type") == "market" else OrderType.LIMIT
        tif = {"IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}.get(str(o.get("timeInForce")), TimeInForce.GTC)
        now = self._clock.timestamp_ns()
        price = o.get("price")
        avg = o.get("average")
        return OrderStatusReport(
            account_id=self.account_id,
            instrument_id=inst.id,
            venue_order_id=VenueOrderId(str(o["id"])),
            order_side=OrderSide.BUY if o.get("side") == "buy" else OrderSide.SELL,
            order_type=otype,
            time_in_force=TimeInForce.IOC if otype == OrderType.MARKET else tif,
            order_status=status,
            quantity=inst.make_qty(market.from_venue_amount(_d(o.get("amount")))),
            filled_qty=inst.make_qty(filled),
            report_id=UUID4(),
            ts_accepted=_ms_to_ns(o.get("timestamp")) or now,
            ts_last=_ms_to_ns(o.get("lastUpdateTimestamp") or o.get("timestamp")) or now,
            ts_init=now,
            client_order_id=self._client_order_id_of(o),
            price=inst.make_price(_d(price)) if otype == OrderType.LIMIT and price else None,
            avg_px=_d(avg) if avg else None,
            reduce_only=bool(o.get("reduceOnly")),
        )

    async def generate_order_status_report(
        self, command: GenerateOrderStatusReport
    ) -> OrderStatusReport | None:
        """Look one order up (venue order id, else client order id); None if the venue does not know it."""
        market = self.markets.get(command.instrument_id) if command.instrument_id else None
        if market is None:
            return None
        if command.venue_order_id is not None:
            vid = command.venue_order_id.value

            async def fetch() -> dict[str, Any]:
                return await self.exchange.fetch_order(vid, market.ccxt_symbol)
        elif command.client_order_id is not None:
            cid = venue_client_id(command.client_order_id.value, str(self.exchange.id))

            async def fetch() -> dict[str, Any]:
                return await self._fetch_by_client_id(market.ccxt_symbol, cid)
        else:
            raise ValueError("venue_order_id or client_order_id is required")
        try:
            o = await retry_read(fetch, exchange=self.exchange)
        except NotFoundError:
            return None
        return self._order_report(market, o)

    async def generate_order_status_reports(
        self, command: GenerateOrderStatusReports
    ) -> list[OrderStatusReport]:
        """Open orders of this client's markets (and recent closed ones when ``command.start`` is set)."""
        reports: list[OrderStatusReport] = []
        try:
            for market in self._selected(command.instrument_id):
                sym = market.ccxt_symbol
                opened = await retry_read(
                    partial(self.exchange.fetch_open_orders, sym), exchange=self.exchange
                )
                reports += [self._order_report(market, o) for o in opened]
                if not command.open_only and command.start is not None:
                    closed = await history(
                        partial(self.exchange.fetch_closed_orders, sym),
                        self.exchange,
                        command.start,
                        self._clock.timestamp_ns(),
                    )
                    reports += [self._order_report(market, o) for o in closed]
        except VenueError as exc:
            self.reconciliation_error = f"{self.id}: order status: {type(exc).__name__}: {exc}"
            raise
        return reports

    async def generate_fill_reports(self, command: GenerateFillReports) -> list[FillReport]:
        """The account's recent trades on this client's markets (within the lookback when one is given)."""
        reports: list[FillReport] = []
        try:
            for market in self._selected(command.instrument_id):
                sym = market.ccxt_symbol
                if command.start is not None:
                    fetch = partial(self.exchange.fetch_my_trades, sym)
                    trades = await history(fetch, self.exchange, command.start, self._clock.timestamp_ns())
                else:
                    trades = await retry_read(
                        partial(self.exchange.fetch_my_trades, sym), exchange=self.exchange
                    )
                inst = market.instrument
                now = self._clock.timestamp_ns()
                for t in trades:
                    if (
                        command.venue_order_id is not None
                        and str(t.get("order")) != command.venue_order_id.value
                    ):
                        continue
                    fee = t.get("fee") or {}
                    fee_ccy = str(fee.get("currency") or inst.quote_currency.code)
                    reports.append(
                        FillReport(
                            account_id=self.account_id,
                            instrument_id=inst.id,
                            venue_order_id=VenueOrderId(str(t.get("order"))),
                            trade_id=TradeId(str(t["id"])),
                            order_side=OrderSide.BUY if t.get("side") == "buy" else OrderSide.SELL,
                            last_qty=inst.make_qty(market.from_venue_amount(_d(t.get("amount")))),
                            last_px=inst.make_price(_d(t.get("price"))),
                            commission=Money(_d(fee.get("cost")), Currency.from_str(fee_ccy)),
                            liquidity_side=LiquiditySide.MAKER
                            if t.get("takerOrMaker") == "maker"
                            else LiquiditySide.TAKER,
                            report_id=UUID4(),
                            ts_event=_ms_to_ns(t.get("timestamp")) or now,
                            ts_init=now,
                        )
                    )
                    self._seen_trades.add(str(t["id"]))
        except VenueError as exc:
            self.reconciliation_error = f"{self.id}: fills: {type(exc).__name__}: {exc}"
            raise
        return reports

    async def generate_position_status_reports(
        self, command: GeneratePositionStatusReports
    ) -> list[PositionStatusReport]:
        """Perpetual positions as the venue states them (a spot balance is not a position)."""
        reports: list[PositionStatusReport] = []
        try:
            for market in self._selected(command.instrument_id):
                if not is_perp(market.instrument):
                    continue
                sym = market.ccxt_symbol
                positions = await retry_read(
                    partial(self.exchange.fetch_positions, [sym]), exchange=self.exchange
                )
                now = self._clock.timestamp_ns()
                for p in positions:
                    if p.get("symbol") != sym:
                        continue
                    qty = market.from_venue_amount(abs(_d(p.get("contracts"))))
                    side = PositionSide.FLAT
                    if qty > 0:
                        side = PositionSide.LONG if p.get("side") == "long" else PositionSide.SHORT
                    reports.append(
                        PositionStatusReport(
                            account_id=self.account_id,
                            instrument_id=market.instrument.id,
                            position_side=side,
                            quantity=market.instrument.make_qty(qty),
                            report_id=UUID4(),
                            ts_last=now,
                            ts_init=now,
                        )
                    )
        except VenueError as exc:
            self.reconciliation_error = f"{self.id}: positions: {type(exc).__name__}: {exc}"
            raise
        return reports

    def _selected(self, instrument_id: InstrumentId | None) -> list[VenueMarket]:
        if instrument_id is None:
            return list(self.markets.values())
        market = self.markets.get(instrument_id)
        return [market] if market is not None else []
