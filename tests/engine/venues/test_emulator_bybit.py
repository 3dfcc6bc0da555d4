"""The real ``ccxt.bybit`` (and carry's exec client on it) against the emulator's Bybit v5 front.

Every request goes over real HTTP on 127.0.0.1, signed as Bybit v5 wants; nothing in ccxt is mocked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import GenerateOrderStatusReports, GeneratePositionStatusReports
from nautilus_trader.model.enums import OrderSide, PositionSide
from nautilus_trader.model.events import OrderAccepted, OrderCanceled, OrderFilled, OrderRejected

from engine.venues.ccxt_exec import venue_client_id
from engine.venues.emulator import EmulatorThread, FaultRule
from engine.venues.errors import (
    DuplicateClientOrderIdError,
    InsufficientMarginError,
    RateLimitedError,
    retry_read_sync,
    translate,
)
from engine.venues.instruments import market_for
from tests.engine.venues.conftest import API_KEY, make_sync
from tests.engine.venues.test_ccxt_exec import Harness, _harness, _limit, _market

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
SETTLEMENT_MS = 1680652800000  # 2023-04-05 00:00 UTC
CREATE = "/v5/order/create"


@pytest.fixture
def bybit(emu: EmulatorThread) -> ccxt.Exchange:
    """``ccxt.bybit`` on the emulator, made by carry's factory."""
    return make_sync("bybit", emu.base_url)


def _raw_get(base_url: str, path: str, query: str, sign_secret: str) -> tuple[int, dict[str, Any]]:
    """A hand-signed Bybit v5 GET (to see status and body exactly as the venue sends them)."""
    stamp, window = str(int(time.time() * 1000)), "5000"
    sign = hmac.new(sign_secret.encode(), (stamp + API_KEY + window + query).encode(), hashlib.sha256)
    req = urllib.request.Request(
        f"{base_url}{path}?{query}",
        headers={
            "X-BAPI-API-KEY": API_KEY,
            "X-BAPI-TIMESTAMP": stamp,
            "X-BAPI-RECV-WINDOW": window,
            "X-BAPI-SIGN": sign.hexdigest(),
        },
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


# ---- markets and market data ----------------------------------------------------------------------


def test_markets_when_loaded_then_carry_instruments_have_the_grid_the_front_states(
    bybit: ccxt.Exchange,
) -> None:
    raw = bybit.publicGetV5MarketInstrumentsInfo({"category": "linear", "symbol": "BTCUSDT"})
    lot = raw["result"]["list"][0]["lotSizeFilter"]
    assert (lot["qtyStep"], lot["minOrderQty"], lot["minNotionalValue"]) == ("0.001", "0.001", "100")
    assert raw["result"]["list"][0]["priceFilter"]["tickSize"] == "0.10"
    assert raw["result"]["list"][0]["fundingInterval"] == 480
    spot = market_for(bybit.markets, SPOT, "BYBIT", int(bybit.precisionMode))
    perp = market_for(bybit.markets, PERP, "BYBIT", int(bybit.precisionMode))
    assert (spot.market_id, perp.market_id) == ("BTCUSDT", "BTCUSDT")
    assert spot.instrument.price_increment.as_decimal() == Decimal("0.01")
    assert spot.instrument.size_increment.as_decimal() == Decimal("0.00001")
    assert spot.instrument.min_notional is not None and spot.instrument.min_notional.as_decimal() == 5
    assert perp.instrument.price_increment.as_decimal() == Decimal("0.1")
    assert perp.instrument.size_increment.as_decimal() == Decimal("0.001")
    assert perp.contract_size == 1 and bybit.market(PERP)["limits"]["cost"]["min"] == 100
    assert bybit.market(PERP)["linear"] and bybit.market(SPOT)["spot"]


def test_market_data_when_fetched_then_recorded_book_mark_index_and_funding(
    bybit: ccxt.Exchange, emu: EmulatorThread
) -> None:
    ticker = bybit.fetch_ticker(PERP)
    assert (ticker["bid"], ticker["ask"]) == (28155.1, 28155.2)  # first USD-M book of the recording
    assert ticker["markPrice"] > 0 and ticker["indexPrice"] > 0
    rate = bybit.fetch_funding_rate(PERP)
    assert rate["fundingRate"] == pytest.approx(0.0000276)
    assert (rate["fundingTimestamp"], rate["interval"]) == (SETTLEMENT_MS, "8h")
    book = bybit.fetch_order_book(SPOT)
    assert (book["bids"][0][0], book["asks"][0][0]) == (28165.47, 28165.48)
    assert abs(bybit.fetch_time() - time.time() * 1000) < 5_000
    assert bybit.fetch_funding_rate_history(PERP) == []  # the 00:00 rate is final a moment later
    emu.advance_to_ms(SETTLEMENT_MS + 5_000)
    history = bybit.fetch_funding_rate_history(PERP)
    assert [(h["timestamp"], h["fundingRate"]) for h in history] == [
        (SETTLEMENT_MS, pytest.approx(0.0000276))
    ]


# ---- orders, fills, accounts ----------------------------------------------------------------------


def test_orders_when_market_and_limit_submitted_then_filled_at_the_recorded_book(
    bybit: ccxt.Exchange, emu: EmulatorThread
) -> None:
    sold = bybit.create_order(PERP, "market", "sell", 0.01, None, {"clientOrderId": "bb-perp-1"})
    assert sold["clientOrderId"] == "bb-perp-1" and sold["status"] is None  # Bybit answers ids only
    perp = bybit.fetch_order(sold["id"], PERP)
    assert (perp["status"], perp["filled"], perp["average"]) == ("closed", 0.01, 28155.1)
    bought = bybit.create_order(SPOT, "limit", "buy", 0.01, 28200.0, {"clientOrderId": "bb-spot-1"})
    spot = bybit.fetch_order(bought["id"], SPOT)
    assert (spot["status"], spot["filled"], spot["average"]) == ("closed", 0.01, 28165.48)  # recorded ask
    assert spot["fee"] == {"cost": pytest.approx(0.00001), "currency": "BTC"}
    trades = bybit.fetch_my_trades(PERP)
    assert [(t["side"], t["amount"], t["takerOrMaker"]) for t in trades] == [("sell", 0.01, "taker")]
    assert bybit.fetch_order_trades(sold["id"], PERP)[0]["id"] == trades[0]["id"]
    [position] = bybit.fetch_positions([PERP])
    assert (position["side"], position["contracts"], position["entryPrice"]) == ("short", 0.01, 28155.1)
    balance = bybit.fetch_balance()
    assert balance["BTC"]["total"] == pytest.approx(1 + 0.01 - 0.00001)
    assert balance["USDT"]["used"] == pytest.approx(0.01 * 28155.1 / 20)  # position IM at 20x
    assert emu.create_count("bb-perp-1") == 1 and emu.create_count("bb-spot-1") == 1


@pytest.mark.parametrize(("symbol", "qty", "status"), [(PERP, 0.02, "canceled"), (SPOT, 0.02, "closed")])
def test_order_when_partial_fill_fault_then_rest_canceled_with_bybit_status(
    bybit: ccxt.Exchange, emu: EmulatorThread, symbol: str, qty: float, status: str
) -> None:
    emu.add_fault(FaultRule(kind="partial_fill", path=CREATE, method="POST", fill_ratio=0.5))
    price = 28000.0 if symbol == PERP else 28100.0
    placed = bybit.create_order(symbol, "limit", "sell", qty, price, {"clientOrderId": "bb-part"})
    order = bybit.fetch_order(placed["id"], symbol)
    # Derivatives: Cancelled even after a fill; spot: PartiallyFilledCanceled, which ccxt calls "closed".
    assert order["info"]["orderStatus"] == ("Cancelled" if symbol == PERP else "PartiallyFilledCanceled")
    assert (order["status"], order["filled"], order["amount"]) == (status, 0.01, 0.02)
    assert bybit.fetch_open_orders(symbol) == []


def test_resting_order_when_canceled_then_canceled_and_a_second_cancel_is_order_not_found(
    bybit: ccxt.Exchange, emu: EmulatorThread
) -> None:
    placed = bybit.create_order(PERP, "limit", "buy", 0.01, 20000.0, {"clientOrderId": "bb-rest"})
    [open_order] = bybit.fetch_open_orders(PERP)
    assert (open_order["id"], open_order["status"], open_order["clientOrderId"]) == (
        placed["id"],
        "open",
        "bb-rest",
    )
    bybit.cancel_order(placed["id"], PERP)
    assert bybit.fetch_open_orders(PERP) == []
    assert bybit.fetch_order(placed["id"], PERP)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        bybit.cancel_order(placed["id"], PERP)
    assert emu.state()["open_orders"] == 0


def test_order_when_fetched_by_order_link_id_then_found_but_ccxt_fetch_order_by_link_id_is_not(
    bybit: ccxt.Exchange,
) -> None:
    placed = bybit.create_order(PERP, "market", "sell", 0.01, None, {"clientOrderId": "bb-link"})
    found = bybit.fetch_open_orders(PERP, None, None, {"orderLinkId": "bb-link", "openOnly": 1})
    assert [(o["id"], o["status"]) for o in found] == [(placed["id"], "closed")]
    history = bybit.fetch_canceled_and_closed_orders(PERP, None, None, {"orderLinkId": "bb-link"})
    assert [o["id"] for o in history] == [placed["id"]]
    # ccxt quirk: fetch_order(None, ...) sends orderId=None, which Bybit looks up before orderLinkId.
    with pytest.raises(ccxt.OrderNotFound):
        bybit.fetch_order(None, PERP, {"orderLinkId": "bb-link"})


def test_reconcile_when_a_fresh_client_connects_then_it_sees_the_same_orders_and_positions(
    bybit: ccxt.Exchange, emu: EmulatorThread
) -> None:
    bybit.create_order(PERP, "market", "sell", 0.01, None, {"clientOrderId": "bb-r1"})
    bybit.create_order(PERP, "limit", "buy", 0.01, 20000.0, {"clientOrderId": "bb-r2"})
    fresh = make_sync("bybit", emu.base_url)
    assert [o["clientOrderId"] for o in fresh.fetch_open_orders(PERP)] == ["bb-r2"]
    [pos] = fresh.fetch_positions([PERP])
    assert (pos["side"], pos["contracts"]) == ("short", 0.01)
    assert [o["clientOrderId"] for o in fresh.fetch_closed_orders(PERP)] == ["bb-r1"]


# ---- errors and faults --------------------------------------------------------------------------------


def test_errors_when_venue_refuses_then_bybit_codes_map_to_ccxt_classes(
    bybit: ccxt.Exchange, emu: EmulatorThread
) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="110007"):
        bybit.create_order(PERP, "market", "sell", 100, None, {"clientOrderId": "bb-big"})
    with pytest.raises(ccxt.InsufficientFunds, match="170131"):
        bybit.create_order(SPOT, "market", "sell", 50, None, {"clientOrderId": "bb-big-spot"})
    with pytest.raises(ccxt.InvalidOrder, match="110094"):
        bybit.create_order(PERP, "limit", "buy", 0.001, 20000.0, {"clientOrderId": "bb-tiny"})
    with pytest.raises(ccxt.InvalidOrder, match="110017"):
        bybit.create_order(PERP, "market", "buy", 0.01, None, {"clientOrderId": "bb-ro", "reduceOnly": True})
    bybit.create_order(PERP, "market", "sell", 0.01, None, {"clientOrderId": "bb-dup"})
    with pytest.raises(ccxt.InvalidOrder, match="110072") as dup:
        bybit.create_order(PERP, "market", "sell", 0.01, None, {"clientOrderId": "bb-dup"})
    assert isinstance(translate(dup.value, placing_order=True), DuplicateClientOrderIdError)
    assert emu.create_count("bb-dup") == 2  # unique among ALL orders on Bybit, even a filled one's id
    with pytest.raises(ccxt.OrderNotFound, match="110001"):
        bybit.cancel_order("00000000-0000-0000-0000-000000000001", PERP)


def test_faults_when_rate_limited_or_rejected_on_v5_paths_then_bybit_shaped(
    bybit: ccxt.Exchange, emu: EmulatorThread
) -> None:
    emu.add_fault(FaultRule(kind="rate_limit", path=CREATE, method="POST", count=1))
    with pytest.raises(ccxt.RateLimitExceeded, match="10006"):
        bybit.create_order(PERP, "market", "sell", 0.01, None, {"clientOrderId": "bb-rl"})
    assert "X-Bapi-Limit-Reset-Timestamp" in (bybit.last_response_headers or {})
    emu.add_fault(FaultRule(kind="reject", path=CREATE, method="POST"))  # Binance -2019 -> Bybit 110007
    with pytest.raises(ccxt.InsufficientFunds, match="110007"):
        bybit.create_order(PERP, "market", "sell", 0.01, None, {"clientOrderId": "bb-rj"})
    assert emu.create_count("bb-rl") == 0 and emu.create_count("bb-rj") == 0


def test_rate_limit_when_bybit_sends_reset_timestamp_not_retry_after_then_carry_waits_until_the_reset(
    bybit: ccxt.Exchange, emu: EmulatorThread
) -> None:
    emu.add_fault(FaultRule(kind="rate_limit", path="/v5/market/tickers", retry_after_s=2))
    sleeps: list[float] = []
    ticker = retry_read_sync(lambda: bybit.fetch_ticker(PERP), exchange=bybit, sleep=sleeps.append)
    assert ticker["bid"] == 28155.1  # the second attempt got through
    # Bybit's X-Bapi-Limit-Reset-Timestamp is 2 s ahead: carry waited until then, not a bare jitter.
    assert len(sleeps) == 1 and 1.0 < sleeps[0] <= 2.0
    emu.add_fault(FaultRule(kind="rate_limit", path="/v5/market/tickers", retry_after_s=120))
    with pytest.raises(ccxt.RateLimitExceeded) as info:
        bybit.fetch_ticker(PERP)
    err = translate(info.value, placing_order=False, headers=bybit.last_response_headers)
    assert isinstance(err, RateLimitedError) and err.retry_after is not None and 100 < err.retry_after <= 120
    with pytest.raises(RateLimitedError):  # beyond the policy's cap: no in-line wait, the caller decides
        emu.add_fault(FaultRule(kind="rate_limit", path="/v5/market/tickers", retry_after_s=120))
        retry_read_sync(lambda: bybit.fetch_ticker(PERP), exchange=bybit, sleep=sleeps.append)
    assert len(sleeps) == 1


def test_signature_when_wrong_then_rejected_with_10004(emu: EmulatorThread) -> None:
    with pytest.raises(ccxt.AuthenticationError, match="10004"):
        make_sync("bybit", emu.base_url, secret="not-the-secret")  # load_markets signs coin/query-info
    status, body = _raw_get(emu.base_url, "/v5/account/wallet-balance", "accountType=UNIFIED", "nope")
    assert (status, body["retCode"]) == (200, 10004)  # Bybit answers API errors with HTTP 200
    status, body = _raw_get(
        emu.base_url, "/v5/account/wallet-balance", "accountType=UNIFIED", "emulator-secret"
    )
    assert (status, body["retCode"], body["result"]["list"][0]["accountType"]) == (200, 0, "UNIFIED")


# ---- carry's execution client on the Bybit front ----------------------------------------------------


@pytest.fixture
def perp(emu: EmulatorThread) -> Iterator[Harness]:
    yield from _harness(emu, "bybit", PERP, "BYBIT")


@pytest.fixture
def spot(emu: EmulatorThread) -> Iterator[Harness]:
    yield from _harness(emu, "bybit", SPOT, "BYBIT")


def _filled(h: Harness, order: Any) -> Decimal:
    return sum((f.last_qty.as_decimal() for f in h.of(OrderFilled, order)), Decimal(0))


def test_exec_market_order_when_submitted_then_accepted_and_filled_on_poll(perp: Harness) -> None:
    order = _market(perp, OrderSide.SELL, "0.010")
    perp.submit(order)
    assert len(perp.of(OrderAccepted, order)) == 1  # Bybit's create answer has ids only
    perp.run(perp.client.poll_orders())
    assert _filled(perp, order) == Decimal("0.010")
    assert {f.last_px.as_decimal() for f in perp.of(OrderFilled, order)} == {Decimal("28155.1")}


def test_exec_when_response_dropped_then_found_by_order_link_id_and_exactly_one_create(
    perp: Harness,
) -> None:
    perp.emu.add_fault(FaultRule(kind="drop_after_commit", path=CREATE, method="POST"))
    order = _market(perp, OrderSide.SELL, "0.010")
    perp.submit(order)
    cid = venue_client_id(order.client_order_id.value, "bybit")
    assert perp.emu.create_count(cid) == 1 and perp.client.creates_sent == 1
    assert len(perp.of(OrderAccepted, order)) == 1
    assert _filled(perp, order) == Decimal("0.010")
    assert not perp.of(OrderRejected, order)


def test_exec_when_margin_insufficient_then_rejected_as_insufficient_margin(perp: Harness) -> None:
    order = _market(perp, OrderSide.SELL, "100.000")
    perp.submit(order)
    [rejected] = perp.of(OrderRejected, order)
    assert InsufficientMarginError.__name__ in rejected.reason and "110007" in rejected.reason


def test_exec_when_rate_limit_storm_then_each_order_sent_once_and_none_created(perp: Harness) -> None:
    perp.emu.add_fault(FaultRule(kind="rate_limit", path=CREATE, method="POST", count=None))
    orders = [_market(perp, OrderSide.SELL, "0.010") for _ in range(3)]
    for order in orders:
        perp.submit(order)
    assert perp.client.creates_sent == 3
    for order in orders:
        [rejected] = perp.of(OrderRejected, order)
        assert "RateLimited" in rejected.reason
        assert perp.emu.create_count(venue_client_id(order.client_order_id.value, "bybit")) == 0


def test_exec_spot_when_partial_fill_then_canceled_rest_is_final(spot: Harness) -> None:
    spot.emu.add_fault(FaultRule(kind="partial_fill", path=CREATE, method="POST", fill_ratio=0.5))
    order = _limit(spot, OrderSide.BUY, "0.02000", "28200.00")
    spot.submit(order)
    spot.run(spot.client.poll_orders())
    assert _filled(spot, order) == Decimal("0.01000")
    assert len(spot.of(OrderCanceled, order)) == 1  # PartiallyFilledCanceled ("closed") is final


def test_exec_reconciliation_when_position_and_resting_order_then_reported(perp: Harness) -> None:
    perp.submit(_market(perp, OrderSide.SELL, "0.010"))
    resting = _limit(perp, OrderSide.BUY, "0.010", "20000.0")
    perp.submit(resting)
    reports = perp.run(
        perp.client.generate_order_status_reports(
            GenerateOrderStatusReports(None, None, None, True, UUID4(), 0)
        )
    )
    assert [r.client_order_id for r in reports] == [resting.client_order_id]
    positions = perp.run(
        perp.client.generate_position_status_reports(
            GeneratePositionStatusReports(None, None, None, UUID4(), 0)
        )
    )
    assert [(p.position_side, p.quantity.as_decimal()) for p in positions] == [
        (PositionSide.SHORT, Decimal("0.010"))
    ]
