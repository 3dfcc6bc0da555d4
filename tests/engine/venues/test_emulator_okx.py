"""The real ``ccxt.okx`` (built by carry's factory, demo mode) against the emulator's OKX v5 front.

Every request goes over real HTTP on 127.0.0.1 to ``/api/v5/...``; nothing in ccxt is mocked. The
recording is Binance's (spot and USD-M BTCUSDT, 2023-04-05): the OKX front states OKX's grid (tick 0.1,
swap ``ctVal`` 0.01 BTC) over it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import (
    GenerateFillReports,
    GenerateOrderStatusReports,
    GeneratePositionStatusReports,
)
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide, PositionSide, TimeInForce
from nautilus_trader.model.events import OrderAccepted, OrderFilled, OrderRejected
from nautilus_trader.model.orders import Order

from engine.config.live import Credentials, VenueSettings
from engine.venues.ccxt_data import CcxtDataClient
from engine.venues.ccxt_exec import CcxtExecutionClient, venue_client_id
from engine.venues.ccxt_factory import create_async_exchange, create_sync_exchange
from engine.venues.ccxt_poll import fetch_perp_marks
from engine.venues.connect import open_exchange
from engine.venues.emulator import EmulatorOptions, EmulatorThread, FaultRule, Recording, VenueConfig
from engine.venues.emulator.market import MarketKind
from engine.venues.errors import (
    DuplicateClientOrderIdError,
    InsufficientMarginError,
    UnknownOutcomeError,
    place_order,
    translate,
)
from engine.venues.instruments import market_for
from tests.engine.venues.conftest import API_KEY, API_SECRET
from tests.engine.venues.test_ccxt_exec import STRATEGY, TRADER, Harness

PASSPHRASE = "emulator-passphrase"
SPOT = "BTC/USDT"
SWAP = "BTC/USDT:USDT"
ORDER_PATH = "/api/v5/trade/order"
SETTLEMENT_MS = 1680652800000  # 2023-04-05 00:00 UTC


def _okx(emu: EmulatorThread, *, key: str = API_KEY, secret: str = API_SECRET, demo: bool = True) -> ccxt.okx:
    exchange = create_sync_exchange(
        "okx",
        emu.base_url,
        api_key=key,
        secret=secret,
        password=PASSPHRASE,
        enable_rate_limit=False,
        sandbox=demo,
    )
    exchange.load_markets()
    return exchange


@pytest.fixture
def okx(emu: EmulatorThread) -> ccxt.okx:
    return _okx(emu)


# ---- conformance: markets and market data ------------------------------------------------------------


def test_markets_when_loaded_then_carry_instruments_follow_okx_grid_and_contract_size(okx: ccxt.okx) -> None:
    assert set(okx.markets) == {SPOT, SWAP}  # spot + swap only: no futures/option lists requested
    assert okx.headers.get("x-simulated-trading") == "1"
    swap = market_for(okx.markets, SWAP, "OKX", int(okx.precisionMode))
    assert (swap.market_id, swap.contract_size) == ("BTC-USDT-SWAP", Decimal("0.01"))
    assert swap.instrument.price_increment.as_decimal() == Decimal("0.1")
    assert swap.instrument.size_increment.as_decimal() == Decimal("0.0001")  # 0.01 contract x 0.01 BTC
    assert swap.to_venue_amount(Decimal("0.05")) == Decimal("5")
    spot = market_for(okx.markets, SPOT, "OKX", int(okx.precisionMode))
    assert spot.instrument.price_increment.as_decimal() == Decimal("0.1")
    assert spot.instrument.size_increment.as_decimal() == Decimal("0.00000001")
    assert okx.market(SPOT)["limits"]["amount"]["min"] == pytest.approx(0.00001)
    assert okx.market(SWAP)["limits"]["amount"]["min"] == pytest.approx(0.01)


def test_market_data_when_fetched_then_book_on_okx_tick_and_swap_sizes_in_contracts(
    okx: ccxt.okx, emu: EmulatorThread
) -> None:
    ticker = okx.fetch_ticker(SPOT)
    # Recorded spot top of book 28165.47 / 28165.48, moved onto OKX's 0.1 tick (bid down, ask up).
    assert (ticker["info"]["bidPx"], ticker["info"]["askPx"]) == ("28165.4", "28165.5")
    book = okx.fetch_order_book(SWAP)
    assert book["bids"][0][0] == 28155.1 and book["bids"][0][0] < book["asks"][0][0]
    raw = okx.public_get_market_books({"instId": "BTC-USDT-SWAP"})["data"][0]
    assert Decimal(raw["bids"][0][1]) == Decimal("6")  # 0.06 BTC recorded = 6 contracts
    assert okx.fetch_mark_price(SWAP)["markPrice"] > 0
    funding = okx.fetch_funding_rate(SWAP)
    assert (funding["fundingTimestamp"], funding["interval"]) == (SETTLEMENT_MS, "8h")
    assert funding["fundingRate"] is not None
    assert abs(okx.fetch_time() - okx.milliseconds()) < 60_000
    assert okx.fetch_funding_rate_history(SWAP) == []  # the 00:00 rate settles a moment later
    emu.advance_to_ms(emu.now_ms + 60_000)
    history = okx.fetch_funding_rate_history(SWAP)
    assert [(h["timestamp"], h["fundingRate"]) for h in history] == [(SETTLEMENT_MS, 0.0000276)]


def test_perp_marks_when_okx_then_index_from_index_tickers(emu: EmulatorThread) -> None:
    async def scenario() -> Any:
        exchange = create_async_exchange("okx", emu.base_url, enable_rate_limit=False, sandbox=True)
        try:
            await exchange.load_markets()
            return await fetch_perp_marks(exchange, SWAP)
        finally:
            await exchange.close()

    marks = asyncio.run(scenario())
    assert marks is not None
    assert Decimal(marks.index) > 0 and marks.mark != marks.index
    assert marks.next_funding_ms == SETTLEMENT_MS and marks.interval_min == 480


def test_data_client_when_okx_swap_quotes_in_contracts_then_quote_size_is_the_recorded_base_size(
    emu: EmulatorThread,
) -> None:
    async def scenario() -> list[QuoteTick]:
        exchange = create_async_exchange("okx", emu.base_url, enable_rate_limit=False, sandbox=True)
        clock = LiveClock()
        msgbus = MessageBus(TRADER, clock)
        published: list[Any] = []
        msgbus.register("DataEngine.process", published.append)
        try:
            markets = await exchange.load_markets()
            market = market_for(markets, SWAP, "OKX", int(exchange.precisionMode))
            loop = asyncio.get_running_loop()
            client = CcxtDataClient(loop, exchange, market, msgbus, Cache(), clock, 5.0, False)
            await client._connect()  # the first REST poll publishes a quote
            await client._disconnect()
        finally:
            await exchange.close()
        return [p for p in published if isinstance(p, QuoteTick)]

    (quote,) = asyncio.run(scenario())
    state = next(m for m in emu.emulator.market.markets if m.spec.kind is MarketKind.USDM)
    # OKX shows 6 contracts at the bid (ctVal 0.01): the quote says the 0.06 BTC recorded.
    assert (quote.bid_size.as_decimal(), quote.ask_size.as_decimal()) == (state.bid_qty, state.ask_qty)
    assert quote.bid_size.as_decimal() == Decimal("0.06")


# ---- conformance: orders, accounts ------------------------------------------------------------------


def test_swap_market_order_when_filled_then_contracts_at_recorded_bid_and_position_in_contracts(
    okx: ccxt.okx, emu: EmulatorThread
) -> None:
    placed = okx.create_order(SWAP, "market", "sell", 2, None, {"clientOrderId": "carryswap1"})
    assert placed["clientOrderId"] == "carryswap1"
    order = okx.fetch_order(None, SWAP, {"clOrdId": "carryswap1"})
    assert (order["id"], order["status"], order["filled"], order["average"]) == (
        placed["id"],
        "closed",
        2,
        28155.1,
    )
    assert order["info"]["sz"] == "2" and order["fee"]["currency"] == "USDT"
    assert emu.state()["positions"]["BTCUSDT"]["qty"] == "-0.02"  # 2 contracts x 0.01 BTC
    (position,) = okx.fetch_positions([SWAP])
    assert (position["contracts"], position["side"], position["contractSize"]) == (2, "short", 0.01)
    trades = okx.fetch_order_trades(placed["id"], SWAP)
    assert sum(t["amount"] for t in trades) == 2
    balance = okx.fetch_balance()
    assert balance["USDT"]["total"] < 200_000  # spot 100k + swap wallet 100k, less the fee
    assert balance["USDT"]["used"] > 0  # the position's initial margin


def test_spot_limit_when_marketable_then_fills_at_the_okx_tick_and_balances_move(okx: ccxt.okx) -> None:
    okx.create_order(SPOT, "limit", "buy", 0.001, 28170, {"clientOrderId": "carryspot1"})
    order = okx.fetch_order(None, SPOT, {"clOrdId": "carryspot1"})
    assert (order["status"], order["filled"], order["average"]) == ("closed", 0.001, 28165.5)
    balance = okx.fetch_balance()
    assert balance["BTC"]["total"] == pytest.approx(1 + 0.001 * 0.999)  # fee in the base received


def test_order_when_partial_fill_fault_then_rest_canceled_and_cancel_finds_nothing_open(
    okx: ccxt.okx, emu: EmulatorThread
) -> None:
    emu.add_fault(FaultRule(kind="partial_fill", path=ORDER_PATH, method="POST", fill_ratio=0.5))
    okx.create_order(SWAP, "limit", "sell", 4, 28000, {"clientOrderId": "carrypart1"})
    order = okx.fetch_order(None, SWAP, {"clOrdId": "carrypart1"})
    assert (order["status"], order["filled"], order["remaining"]) == ("canceled", 2, 2)
    with pytest.raises(ccxt.OrderNotFound, match="51401"):
        okx.cancel_order(None, SWAP, {"clOrdId": "carrypart1"})


def test_resting_limit_when_canceled_then_gone_from_open_orders(okx: ccxt.okx) -> None:
    placed = okx.create_order(SWAP, "limit", "buy", 1, 20000, {"clientOrderId": "carryrest1"})
    assert [o["clientOrderId"] for o in okx.fetch_open_orders(SWAP)] == ["carryrest1"]
    okx.cancel_order(placed["id"], SWAP)
    assert okx.fetch_open_orders(SWAP) == []
    assert okx.fetch_order(placed["id"], SWAP)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        okx.fetch_order(None, SWAP, {"clOrdId": "nosuchorder"})


def test_reconcile_when_fresh_client_after_restart_then_same_open_orders_and_positions(
    okx: ccxt.okx, emu: EmulatorThread
) -> None:
    okx.create_order(SWAP, "market", "sell", 3, None, {"clientOrderId": "carryrec1"})
    okx.create_order(SWAP, "limit", "buy", 1, 20000, {"clientOrderId": "carryrec2"})
    fresh = _okx(emu)
    assert [o["clientOrderId"] for o in fresh.fetch_open_orders(SWAP)] == ["carryrec2"]
    assert [(p["contracts"], p["side"]) for p in fresh.fetch_positions([SWAP])] == [(3, "short")]
    assert [o["clientOrderId"] for o in fresh.fetch_closed_orders(SWAP)] == ["carryrec1"]
    assert sum(t["amount"] for t in fresh.fetch_my_trades(SWAP)) == 3


def test_duplicate_open_clordid_when_resent_then_carry_sees_a_duplicate_to_look_up(okx: ccxt.okx) -> None:
    okx.create_order(SWAP, "limit", "buy", 1, 20000, {"clientOrderId": "carrydup1"})

    async def resend() -> None:
        okx.create_order(SWAP, "limit", "buy", 1, 20000, {"clientOrderId": "carrydup1"})

    with pytest.raises(DuplicateClientOrderIdError) as info:
        asyncio.run(place_order(resend))
    assert info.value.code == 51016


# ---- authentication ---------------------------------------------------------------------------------


@pytest.fixture
def live_and_demo(spot_and_perp_recording: Recording) -> Iterator[EmulatorThread]:
    config = VenueConfig(
        api_keys={API_KEY: API_SECRET, "live-key": "live-secret"},
        passphrases={API_KEY: PASSPHRASE, "live-key": PASSPHRASE},
        live_keys=frozenset({"live-key"}),
    )
    with EmulatorThread(recording=spot_and_perp_recording, options=EmulatorOptions(venue=config)) as emu:
        yield emu


def test_demo_header_when_key_environment_mismatches_then_50101(live_and_demo: EmulatorThread) -> None:
    emu = live_and_demo
    with pytest.raises(ccxt.AuthenticationError, match="50101"):
        _okx(emu, demo=False).fetch_balance()  # a demo key without x-simulated-trading
    with pytest.raises(ccxt.AuthenticationError, match="50101"):
        _okx(emu, key="live-key", secret="live-secret").fetch_balance()  # a live key with it
    live = _okx(emu, key="live-key", secret="live-secret", demo=False)
    assert live.fetch_balance()["USDT"]["free"] > 0
    assert _okx(emu).fetch_balance()["USDT"]["free"] > 0


def test_signature_when_wrong_then_rejected_with_50113_and_http_401(
    okx: ccxt.okx, emu: EmulatorThread
) -> None:
    with pytest.raises(ccxt.AuthenticationError, match="50113"):
        _okx(emu, secret="not-the-secret").fetch_balance()
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    path = "/api/v5/account/balance"
    good = base64.b64encode(
        hmac.new(API_SECRET.encode(), f"{stamp}GET{path}".encode(), hashlib.sha256).digest()
    ).decode()
    headers = {
        "OK-ACCESS-KEY": API_KEY,
        "OK-ACCESS-PASSPHRASE": PASSPHRASE,
        "OK-ACCESS-TIMESTAMP": stamp,
        "x-simulated-trading": "1",
    }
    for sign, status, code in ((good, 200, "0"), (good[:-4] + "AAA=", 401, "50113")):
        request = urllib.request.Request(emu.base_url + path, headers=headers | {"OK-ACCESS-SIGN": sign})
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                got_status, body = resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            got_status, body = exc.code, json.loads(exc.read())
        assert (got_status, body["code"]) == (status, code)


def test_faults_when_on_okx_paths_then_answered_in_okx_words(okx: ccxt.okx, emu: EmulatorThread) -> None:
    emu.add_fault(FaultRule(kind="rate_limit", path=ORDER_PATH, method="POST"))
    with pytest.raises(ccxt.RateLimitExceeded, match="50011"):
        okx.create_order(SWAP, "market", "sell", 1, None, {"clientOrderId": "carry429"})
    assert okx.last_http_response is not None and emu.create_count("carry429") == 0
    emu.add_fault(FaultRule(kind="reject", path=ORDER_PATH, method="POST", code=51008, msg="Insufficient"))
    with pytest.raises(ccxt.InsufficientFunds, match="51008"):
        okx.create_order(SWAP, "market", "sell", 1, None, {"clientOrderId": "carryrej"})
    emu.add_fault(FaultRule(kind="reject", path="/api/v5/account/positions", code=50113, msg="Invalid Sign"))
    with pytest.raises(ccxt.AuthenticationError, match="50113"):
        okx.fetch_positions([SWAP])


# ---- carry's execution client on the OKX front ------------------------------------------------------


class OkxHarness(Harness):
    """The exec-client harness of test_ccxt_exec, with OKX's order helpers."""

    def market(self, side: OrderSide, qty: str) -> Order:
        inst = next(iter(self.client.markets.values())).instrument
        return self.factory.market(inst.id, side, inst.make_qty(Decimal(qty)), time_in_force=TimeInForce.IOC)

    def cid(self, order: Order) -> str:
        return venue_client_id(order.client_order_id.value, "okx")


@pytest.fixture
def perp(emu: EmulatorThread) -> Iterator[OkxHarness]:
    loop = asyncio.new_event_loop()
    clock = LiveClock()
    msgbus = MessageBus(TRADER, clock)
    cache = Cache()
    events: list[Any] = []
    msgbus.register("ExecEngine.process", events.append)
    exchange = create_async_exchange(
        "okx",
        emu.base_url,
        api_key=API_KEY,
        secret=API_SECRET,
        password=PASSPHRASE,
        enable_rate_limit=False,
        timeout_ms=3000,
        sandbox=True,
    )
    try:
        markets = loop.run_until_complete(exchange.load_markets())
        market = market_for(markets, SWAP, "OKX", int(exchange.precisionMode))
        cache.add_instrument(market.instrument)
        client = CcxtExecutionClient(
            loop, exchange, [market], msgbus, cache, clock, 0.2, close_exchange=False
        )
        client.placement_window_ms, client.unknown_margin_s = 1000, 1.0  # expTime 1 s after sending
        yield OkxHarness(loop, client, events, OrderFactory(TRADER, STRATEGY, clock), cache, emu)
    finally:
        loop.run_until_complete(exchange.close())
        loop.close()


def test_exec_when_base_units_on_the_swap_then_contracts_at_the_venue_and_fills_in_base(
    perp: OkxHarness, okx: ccxt.okx
) -> None:
    order = perp.market(OrderSide.SELL, "0.05")
    perp.submit(order)
    perp.run(perp.client.poll_orders())  # OKX answers a create with ids only: the fill comes on the poll
    venue_order = okx.fetch_order(None, SWAP, {"clOrdId": perp.cid(order)})
    assert (venue_order["info"]["sz"], venue_order["info"]["ordType"]) == ("5", "market")
    assert perp.emu.state()["positions"]["BTCUSDT"]["qty"] == "-0.05"
    assert len(perp.of(OrderAccepted, order)) == 1
    assert sum(f.last_qty.as_decimal() for f in perp.of(OrderFilled, order)) == Decimal("0.05")
    positions = perp.run(
        perp.client.generate_position_status_reports(
            GeneratePositionStatusReports(None, None, None, UUID4(), 0)
        )
    )
    assert [(p.position_side, p.quantity.as_decimal()) for p in positions] == [
        (PositionSide.SHORT, Decimal("0.05"))
    ]
    fills = perp.run(
        perp.client.generate_fill_reports(GenerateFillReports(None, None, None, None, UUID4(), 0))
    )
    assert sum(f.last_qty.as_decimal() for f in fills) == Decimal("0.05")


def test_exec_when_response_dropped_then_looked_up_and_exactly_one_create(perp: OkxHarness) -> None:
    perp.emu.add_fault(FaultRule(kind="drop_after_commit", path=ORDER_PATH, method="POST"))
    order = perp.market(OrderSide.SELL, "0.02")
    perp.submit(order)
    assert perp.emu.create_count(perp.cid(order)) == 1  # looked up by clOrdId, never resent
    assert perp.client.creates_sent == 1
    assert len(perp.of(OrderAccepted, order)) == 1
    assert sum(f.last_qty.as_decimal() for f in perp.of(OrderFilled, order)) == Decimal("0.02")
    assert not perp.of(OrderRejected, order)


def test_exec_when_margin_insufficient_then_rejected_as_insufficient_margin(perp: OkxHarness) -> None:
    order = perp.market(OrderSide.SELL, "1000")  # 28M USDT notional at 20x on a 100k wallet
    perp.submit(order)
    (rejected,) = perp.of(OrderRejected, order)
    assert rejected.reason.startswith(InsufficientMarginError.__name__) and "51008" in rejected.reason
    assert perp.emu.create_count(perp.cid(order)) == 1


def test_exec_when_429_storm_then_each_order_sent_once_and_none_booked(perp: OkxHarness) -> None:
    perp.emu.add_fault(FaultRule(kind="rate_limit", path=ORDER_PATH, method="POST", count=None))
    orders = [perp.market(OrderSide.SELL, "0.01") for _ in range(3)]
    for order in orders:
        perp.submit(order)
    assert perp.client.creates_sent == 3
    for order in orders:
        (rejected,) = perp.of(OrderRejected, order)
        assert "RateLimited" in rejected.reason
        assert perp.emu.create_count(perp.cid(order)) == 0
    assert perp.emu.state()["positions"] == {}


def test_exec_reconciliation_when_resting_order_then_reported_with_its_client_order_id(
    perp: OkxHarness,
) -> None:
    inst = next(iter(perp.client.markets.values())).instrument
    resting = perp.factory.limit(
        inst.id, OrderSide.BUY, inst.make_qty(Decimal("0.01")), inst.make_price(Decimal(20000))
    )
    perp.submit(resting)
    reports = perp.run(
        perp.client.generate_order_status_reports(
            GenerateOrderStatusReports(None, None, None, True, UUID4(), 0)
        )
    )
    assert [(r.client_order_id, r.quantity.as_decimal()) for r in reports] == [
        (resting.client_order_id, Decimal("0.01"))
    ]


def test_open_exchange_when_okx_paper_leg_on_the_emulator_then_demo_header_and_signed_calls_work(
    emu: EmulatorThread,
) -> None:
    leg = VenueSettings(venue="OKX", exchange="okx", symbol=SWAP, base_url=emu.base_url)

    async def scenario() -> dict[str, Any]:
        exchange = open_exchange(leg, "paper", Credentials(API_KEY, API_SECRET, PASSPHRASE))
        try:
            assert exchange.headers.get("x-simulated-trading") == "1"
            assert exchange.urls["api"]["rest"] == emu.base_url
            await exchange.load_markets()
            balance: dict[str, Any] = await exchange.fetch_balance()
            return balance
        finally:
            await exchange.close()

    assert asyncio.run(scenario())["USDT"]["free"] > 0


# ---- the "never arrived" deadline rests on OKX's expTime ---------------------------------------------


def test_create_when_arriving_after_exp_time_then_okx_refuses_it_unbooked_with_50102(
    okx: ccxt.okx, emu: EmulatorThread
) -> None:
    past = str(okx.milliseconds() - 1)
    with pytest.raises(ccxt.BaseError, match="50102") as info:
        okx.create_order(SWAP, "market", "sell", 1, None, {"clientOrderId": "carryexp1", "expTime": past})
    assert okx.last_request_headers.get("expTime") == past  # a header, as OKX wants it, not a body field
    assert "expTime" not in (okx.last_request_body or "")
    assert not isinstance(translate(info.value, placing_order=True), UnknownOutcomeError)  # a definite no
    with pytest.raises(ccxt.OrderNotFound):
        okx.fetch_order(None, SWAP, {"clOrdId": "carryexp1"})
    future = str(okx.milliseconds() + 5000)
    okx.create_order(SWAP, "market", "sell", 1, None, {"clientOrderId": "carryexp2", "expTime": future})
    assert okx.fetch_order(None, SWAP, {"clOrdId": "carryexp2"})["status"] == "closed"


def test_exec_when_placement_arrives_late_then_declared_absent_only_after_okx_would_refuse_it(
    perp: OkxHarness, okx: ccxt.okx
) -> None:
    client = perp.client
    client.placement_window_ms, client.unknown_margin_s = 500, 0.5
    client.exchange.timeout = 300  # no answer within 0.3 s: unknown outcome
    perp.emu.add_fault(FaultRule(kind="latency", path=ORDER_PATH, method="POST", latency_ms=1500))
    order = perp.market(OrderSide.SELL, "0.01")
    sent_ns = time.time_ns()
    perp.submit(order)
    (rejected,) = perp.of(OrderRejected, order)
    assert "never arrived" in rejected.reason
    assert rejected.ts_event >= sent_ns + 500 * 1_000_000  # not before the expTime the request carried
    time.sleep(max(0.0, (sent_ns + 1_700_000_000 - time.time_ns()) / 1e9))  # the request has now arrived
    with pytest.raises(ccxt.OrderNotFound):  # ... and OKX refused it: nothing live that carry forgot
        okx.fetch_order(None, SWAP, {"clOrdId": perp.cid(order)})
    assert perp.emu.state()["positions"] == {}


def test_exec_when_venue_does_not_refuse_late_requests_then_unknown_order_stays_submitted_until_found(
    perp: OkxHarness,
) -> None:
    client = perp.client
    client.placement_window_ms = None  # as on a venue without recvWindow/expTime: no expTime sent either
    assert client.unknown_deadline_s is None
    client.exchange.timeout = 300
    perp.emu.add_fault(FaultRule(kind="latency", path=ORDER_PATH, method="POST", latency_ms=1000))
    order = perp.market(OrderSide.SELL, "0.01")
    perp.submit(order)
    perp.run(client.poll_orders())
    assert not perp.of(OrderRejected, order) and not perp.of(OrderAccepted, order)  # still SUBMITTED
    time.sleep(1.1)  # the late request arrives and OKX books it
    perp.run(client.poll_orders())
    assert len(perp.of(OrderAccepted, order)) == 1
    assert sum(f.last_qty.as_decimal() for f in perp.of(OrderFilled, order)) == Decimal("0.01")
    assert perp.emu.create_count(perp.cid(order)) == 1 and client.creates_sent == 1
