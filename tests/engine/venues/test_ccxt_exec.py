"""The ccxt execution client against the loopback emulator with the real ``ccxt.binance``/``binanceusdm``.

The client's events are captured at the ``ExecEngine.process`` endpoint of a bare message bus, so each test
sees exactly what the client told nautilus; the emulator says what reached the venue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import (
    CancelOrder,
    GenerateFillReports,
    GenerateOrderStatusReports,
    GeneratePositionStatusReports,
    SubmitOrder,
)
from nautilus_trader.model.enums import OrderSide, PositionSide, TimeInForce
from nautilus_trader.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from nautilus_trader.model.identifiers import ClientOrderId, StrategyId, TraderId
from nautilus_trader.model.orders import Order

from engine.venues.ccxt_exec import CcxtExecutionClient, venue_client_id
from engine.venues.ccxt_factory import create_async_exchange
from engine.venues.emulator import EmulatorThread, FaultRule
from engine.venues.errors import VenueError
from engine.venues.instruments import market_for
from tests.engine.venues.conftest import API_KEY, API_SECRET

TRADER = TraderId("TESTER-001")
STRATEGY = StrategyId("S-001")


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    client: CcxtExecutionClient
    events: list[Any]
    factory: OrderFactory
    cache: Cache
    emu: EmulatorThread

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def submit(self, order: Order) -> None:
        self.cache.add_order(order)
        self.run(self.client._submit_order(SubmitOrder(TRADER, STRATEGY, order, UUID4(), 0)))

    def cancel(self, order: Order) -> None:
        cmd = CancelOrder(TRADER, STRATEGY, order.instrument_id, order.client_order_id, None, UUID4(), 0)
        self.run(self.client._cancel_order(cmd))

    def of(self, kind: type[Any], order: Order) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind) and e.client_order_id == order.client_order_id]


def _harness(emu: EmulatorThread, exchange_id: str, symbol: str, venue: str) -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    clock = LiveClock()
    msgbus = MessageBus(TRADER, clock)
    cache = Cache()
    events: list[Any] = []
    msgbus.register("ExecEngine.process", events.append)
    exchange = create_async_exchange(
        exchange_id,
        emu.base_url,
        api_key=API_KEY,
        secret=API_SECRET,
        enable_rate_limit=False,
        timeout_ms=3000,
        options={"recvWindow": 1000},  # the venue refuses a request 1 s old: tests declare absence quickly
    )
    try:
        markets = loop.run_until_complete(exchange.load_markets())
        market = market_for(markets, symbol, venue, int(exchange.precisionMode))
        cache.add_instrument(market.instrument)
        client = CcxtExecutionClient(
            loop, exchange, [market], msgbus, cache, clock, 0.2, close_exchange=False
        )
        client.unknown_margin_s = 1.0
        assert client.unknown_deadline_s == 2.0
        yield Harness(loop, client, events, OrderFactory(TRADER, STRATEGY, clock), cache, emu)
    finally:
        loop.run_until_complete(exchange.close())
        loop.close()


@pytest.fixture
def perp(emu: EmulatorThread) -> Iterator[Harness]:
    yield from _harness(emu, "binanceusdm", "BTC/USDT:USDT", "BINANCE_USDM")


@pytest.fixture
def spot(emu: EmulatorThread) -> Iterator[Harness]:
    yield from _harness(emu, "binance", "BTC/USDT", "BINANCE")


def _market(h: Harness, side: OrderSide, qty: str) -> Order:
    inst = h.client.markets[next(iter(h.client.markets))].instrument
    return h.factory.market(inst.id, side, inst.make_qty(Decimal(qty)), time_in_force=TimeInForce.IOC)


def _limit(h: Harness, side: OrderSide, qty: str, px: str) -> Order:
    inst = h.client.markets[next(iter(h.client.markets))].instrument
    return h.factory.limit(inst.id, side, inst.make_qty(Decimal(qty)), inst.make_price(Decimal(px)))


def test_perp_market_order_when_submitted_then_accepted_and_filled_at_the_book(perp: Harness) -> None:
    order = _market(perp, OrderSide.SELL, "0.010")
    perp.submit(order)
    assert len(perp.of(OrderSubmitted, order)) == 1
    assert len(perp.of(OrderAccepted, order)) == 1
    fills = perp.of(OrderFilled, order)
    assert sum(f.last_qty.as_decimal() for f in fills) == Decimal("0.010")
    assert all(f.last_px.as_decimal() == Decimal("28155.1") for f in fills)  # recorded best bid
    assert fills[0].commission.currency.code == "USDT" and fills[0].commission.as_decimal() > 0
    assert perp.emu.create_count(venue_client_id(order.client_order_id.value, "binanceusdm")) == 1


def test_spot_market_order_when_filled_then_fill_from_full_response_in_base_units(spot: Harness) -> None:
    order = _market(spot, OrderSide.BUY, "0.01")
    spot.submit(order)
    fills = spot.of(OrderFilled, order)
    assert [f.last_qty.as_decimal() for f in fills] == [Decimal("0.01000")]
    assert fills[0].last_px.as_decimal() == Decimal("28165.48")  # recorded best ask


def test_order_when_partial_fill_fault_then_partial_fill_then_expired(perp: Harness) -> None:
    perp.emu.add_fault(FaultRule(kind="partial_fill", path="/fapi/v1/order", method="POST", fill_ratio=0.5))
    order = _market(perp, OrderSide.SELL, "0.020")
    perp.submit(order)
    fills = perp.of(OrderFilled, order)
    assert sum(f.last_qty.as_decimal() for f in fills) == Decimal("0.010")
    assert len(perp.of(OrderExpired, order)) == 1
    assert not perp.of(OrderRejected, order)


def test_resting_limit_when_canceled_then_canceled_event_and_no_fill(perp: Harness) -> None:
    order = _limit(perp, OrderSide.BUY, "0.010", "20000.0")
    perp.submit(order)
    assert len(perp.of(OrderAccepted, order)) == 1
    assert not perp.of(OrderCanceled, order)
    assert perp.emu.state()["open_orders"] == 1
    perp.cancel(order)
    assert len(perp.of(OrderCanceled, order)) == 1
    assert not perp.of(OrderFilled, order)
    assert perp.emu.state()["open_orders"] == 0


def test_placement_when_response_dropped_then_looked_up_and_exactly_one_create(perp: Harness) -> None:
    perp.emu.add_fault(FaultRule(kind="drop_after_commit", path="/fapi/v1/order", method="POST"))
    order = _market(perp, OrderSide.SELL, "0.010")
    perp.submit(order)
    cid = venue_client_id(order.client_order_id.value, "binanceusdm")
    assert perp.emu.create_count(cid) == 1  # looked up, never resent
    assert perp.client.creates_sent == 1
    assert len(perp.of(OrderAccepted, order)) == 1
    assert sum(f.last_qty.as_decimal() for f in perp.of(OrderFilled, order)) == Decimal("0.010")
    assert not perp.of(OrderRejected, order)


def test_placement_when_connection_reset_before_booking_then_rejected_only_after_deadline(
    perp: Harness,
) -> None:
    perp.emu.add_fault(FaultRule(kind="reset", path="/fapi/v1/order", method="POST"))
    order = _market(perp, OrderSide.SELL, "0.010")
    perp.submit(order)
    cid = venue_client_id(order.client_order_id.value, "binanceusdm")
    assert perp.emu.create_count(cid) == 0
    assert perp.client.creates_sent == 1
    rejected = perp.of(OrderRejected, order)
    assert len(rejected) == 1 and "never arrived" in rejected[0].reason


def test_rate_limit_storm_when_orders_submitted_then_each_sent_once_and_none_duplicated(
    perp: Harness,
) -> None:
    perp.emu.add_fault(
        FaultRule(kind="rate_limit", path="/fapi/v1/order", method="POST", count=None, retry_after_s=1)
    )
    orders = [_market(perp, OrderSide.SELL, "0.010") for _ in range(4)]
    for order in orders:
        perp.submit(order)
    assert perp.client.creates_sent == 4  # one attempt per order: placement is never retried
    for order in orders:
        assert len(perp.of(OrderRejected, order)) == 1
        assert "RateLimited" in perp.of(OrderRejected, order)[0].reason
        assert perp.emu.create_count(venue_client_id(order.client_order_id.value, "binanceusdm")) == 0
    assert not [e for e in perp.events if isinstance(e, OrderFilled)]


def test_fills_when_same_trade_seen_twice_then_emitted_once(perp: Harness) -> None:
    order = _limit(perp, OrderSide.BUY, "0.010", "20000.0")
    perp.submit(order)
    tracked = perp.client._tracked[order.client_order_id]
    venue_order = perp.run(perp.client._lookup(tracked))
    fake = {"id": "T1", "amount": 0.001, "price": 20000.0, "fee": {"cost": 0.01, "currency": "USDT"}}
    market = perp.client.markets[order.instrument_id]
    perp.client._emit_fill(tracked, market, str(venue_order["id"]), fake)
    perp.client._emit_fill(tracked, market, str(venue_order["id"]), fake)
    assert len(perp.of(OrderFilled, order)) == 1
    assert perp.client.duplicate_fills == 1


def test_reconciliation_reports_when_position_and_open_order_then_reported(perp: Harness) -> None:
    perp.submit(_market(perp, OrderSide.SELL, "0.010"))
    resting = _limit(perp, OrderSide.BUY, "0.010", "20000.0")
    perp.submit(resting)
    orders = perp.run(
        perp.client.generate_order_status_reports(
            GenerateOrderStatusReports(None, None, None, True, UUID4(), 0)
        )
    )
    assert [r.client_order_id for r in orders] == [resting.client_order_id]
    fills = perp.run(
        perp.client.generate_fill_reports(GenerateFillReports(None, None, None, None, UUID4(), 0))
    )
    assert sum(f.last_qty.as_decimal() for f in fills) == Decimal("0.010")
    positions = perp.run(
        perp.client.generate_position_status_reports(
            GeneratePositionStatusReports(None, None, None, UUID4(), 0)
        )
    )
    assert [(p.position_side, p.quantity.as_decimal()) for p in positions] == [
        (PositionSide.SHORT, Decimal("0.010"))
    ]


def test_reconciliation_when_venue_refuses_then_error_recorded_and_raised(perp: Harness) -> None:
    perp.emu.add_fault(
        FaultRule(kind="reject", path="/fapi/v1/openOrders", code=-2015, msg="Invalid API-key")
    )
    with pytest.raises(VenueError):
        perp.run(
            perp.client.generate_order_status_reports(
                GenerateOrderStatusReports(None, None, None, True, UUID4(), 0)
            )
        )
    assert perp.client.reconciliation_error is not None and "order status" in perp.client.reconciliation_error


def test_venue_client_id_when_okx_then_alphanumeric_and_deterministic() -> None:
    coid = "O-20261123-075902-001-000-12"
    assert venue_client_id(coid, "okx") == "O202611230759020010001" + "2"
    assert venue_client_id(coid, "okx") == venue_client_id(coid, "okx")
    assert venue_client_id(coid, "binance") == coid


def test_order_when_client_order_id_too_long_for_venue_then_rejected_and_never_sent(perp: Harness) -> None:
    inst = perp.client.markets[next(iter(perp.client.markets))].instrument
    order = perp.factory.market(
        inst.id,
        OrderSide.SELL,
        inst.make_qty(Decimal("0.010")),
        client_order_id=ClientOrderId("O-" + "9" * 40),
    )
    perp.submit(order)
    rejected = perp.of(OrderRejected, order)
    assert len(rejected) == 1 and "over 36 chars" in rejected[0].reason
    assert perp.client.creates_sent == 0


def test_refusal_window_when_venue_guarantees_one_then_its_window_else_none() -> None:
    import ccxt

    from engine.venues.ccxt_exec import OKX_ORDER_EXPIRY_MS, refusal_window_ms
    from engine.venues.ccxt_factory import create_sync_exchange

    def window(exchange: Any) -> int | None:
        return refusal_window_ms(exchange)

    assert window(create_sync_exchange("binanceusdm")) == 10_000  # ccxt's recvWindow, sent as a param
    assert window(create_sync_exchange("bybit")) == 5_000  # X-BAPI-RECV-WINDOW, ccxt's default
    assert window(create_sync_exchange("bybit", options={"recvWindow": 3000})) == 3_000
    assert window(create_sync_exchange("okx")) == OKX_ORDER_EXPIRY_MS  # the expTime header carry sends
    assert window(ccxt.okx()) is None  # no expTime header: OKX would take a late request
    assert window(ccxt.kraken()) is None
