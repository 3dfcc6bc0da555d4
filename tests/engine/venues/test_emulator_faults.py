"""Faults injected by the emulator, seen through the real ccxt and our error boundary.

The reliability rules under test (DESIGN.md): an order placement with no answer is an unknown outcome,
looked up by client order id and never resent blindly; reads are retried, bounded, honouring 429s.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from engine.venues.ccxt_factory import create_async_exchange
from engine.venues.emulator import (
    EmulatorOptions,
    EmulatorThread,
    FaultFileError,
    FaultRule,
    Recording,
    load_faults,
)
from engine.venues.errors import (
    InsufficientMarginError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    UnknownOutcomeError,
    place_order,
    retry_read,
    retry_read_sync,
    translate,
)
from tests.engine.venues.conftest import API_KEY, API_SECRET, make_sync

PERP = "BTC/USDT:USDT"
SPOT = "BTC/USDT"
ORDER_PATH = "/fapi/v1/order"
FAST = RetryPolicy(attempts=4, initial_s=0.001, max_wait_s=0.01, max_retry_after_s=30.0)


def _async_usdm(emu: EmulatorThread, timeout_ms: int = 5_000) -> ccxt_async.Exchange:
    return create_async_exchange(
        "binanceusdm",
        emu.base_url,
        api_key=API_KEY,
        secret=API_SECRET,
        enable_rate_limit=False,
        timeout_ms=timeout_ms,
    )


def test_create_order_when_response_dropped_after_fill_then_lookup_finds_it_and_one_create_reached(
    emu: EmulatorThread,
) -> None:
    emu.add_fault(FaultRule("drop_after_commit", path=ORDER_PATH, method="POST"))

    async def scenario() -> dict[str, Any]:
        exchange = _async_usdm(emu)
        try:
            await exchange.load_markets()
            with pytest.raises(UnknownOutcomeError) as info:
                await place_order(
                    lambda: exchange.create_order(
                        PERP, "market", "sell", 0.01, params={"clientOrderId": "cx-drop"}
                    ),
                    exchange=exchange,
                )
            assert isinstance(
                info.value.__cause__, ccxt.ExchangeNotAvailable
            )  # async ccxt's dropped connection
            # Rule 3: look the order up by its client order id before anything is resent.
            found: dict[str, Any] = await retry_read(
                lambda: exchange.fetch_order(None, PERP, params={"origClientOrderId": "cx-drop"}),
                exchange=exchange,
                policy=FAST,
            )
            return found
        finally:
            await exchange.close()

    found = asyncio.run(scenario())
    assert (found["status"], found["filled"], found["clientOrderId"]) == ("closed", 0.01, "cx-drop")
    assert emu.create_count("cx-drop") == 1
    assert Decimal(emu.state()["positions"]["BTCUSDT"]["qty"]) == Decimal("-0.01")


def test_create_order_when_sync_client_loses_response_then_unknown_outcome_not_rejection(
    emu: EmulatorThread,
) -> None:
    emu.add_fault(FaultRule("drop_after_commit", path="/api/v3/order", method="POST"))
    exchange = make_sync("binance", emu.base_url)
    with pytest.raises(ccxt.NetworkError) as info:
        exchange.create_order(SPOT, "market", "buy", 0.01, params={"clientOrderId": "cx-sync"})
    assert isinstance(translate(info.value, placing_order=True), UnknownOutcomeError)
    order = retry_read_sync(lambda: exchange.fetch_order(None, SPOT, params={"origClientOrderId": "cx-sync"}))
    assert order["status"] == "closed" and emu.create_count("cx-sync") == 1


def test_create_order_when_429_then_rate_limited_error_with_retry_after_and_no_order_booked(
    emu: EmulatorThread,
) -> None:
    rule = emu.add_fault(FaultRule("rate_limit", path=ORDER_PATH, method="POST", count=1, retry_after_s=2))

    async def scenario() -> None:
        exchange = _async_usdm(emu)
        try:
            await exchange.load_markets()
            with pytest.raises(RateLimitedError) as info:
                await place_order(
                    lambda: exchange.create_order(
                        PERP, "market", "sell", 0.01, params={"clientOrderId": "cx-429"}
                    ),
                    exchange=exchange,
                )
            assert info.value.retry_after == 2.0
            with pytest.raises(NotFoundError):
                await retry_read(
                    lambda: exchange.fetch_order(None, PERP, params={"origClientOrderId": "cx-429"}),
                    exchange=exchange,
                    policy=FAST,
                )
            # Looked up and absent: now (and only now) the same client order id may be sent again.
            await place_order(
                lambda: exchange.create_order(
                    PERP, "market", "sell", 0.01, params={"clientOrderId": "cx-429"}
                ),
                exchange=exchange,
            )
        finally:
            await exchange.close()

    asyncio.run(scenario())
    assert emu.call(lambda: rule.hits) == 1
    assert emu.create_count("cx-429") == 1
    assert Decimal(emu.state()["positions"]["BTCUSDT"]["qty"]) == Decimal("-0.01")


def test_reads_when_429_for_two_requests_then_retry_read_waits_retry_after_and_succeeds(
    emu: EmulatorThread,
) -> None:
    rule = emu.add_fault(FaultRule("rate_limit", path="/fapi/v1/ticker/24hr", count=2, retry_after_s=3))
    exchange = make_sync("binanceusdm", emu.base_url)
    slept: list[float] = []
    ticker = retry_read_sync(
        lambda: exchange.fetch_ticker(PERP), exchange=exchange, policy=FAST, sleep=slept.append
    )
    assert ticker["symbol"] == PERP
    assert emu.call(lambda: rule.hits) == 2
    assert slept == [3.0, 3.0]  # the venue's Retry-After dominates the (tiny) jittered backoff


def test_reads_when_429_persists_then_retry_gives_up_after_bounded_attempts(emu: EmulatorThread) -> None:
    rule = emu.add_fault(FaultRule("rate_limit", path="/fapi/v1/premiumIndex", count=None, retry_after_s=1))
    exchange = make_sync("binanceusdm", emu.base_url)
    slept: list[float] = []
    with pytest.raises(RateLimitedError):
        retry_read_sync(
            lambda: exchange.fetch_funding_rate(PERP), exchange=exchange, policy=FAST, sleep=slept.append
        )
    assert emu.call(lambda: rule.hits) == FAST.attempts
    assert len(slept) == FAST.attempts - 1


def test_reads_when_429_window_elapses_then_requests_pass_again(emu: EmulatorThread) -> None:
    emu.add_fault(FaultRule("rate_limit", path="/api/v3/depth", count=None, window_s=0.3))
    exchange = make_sync("binance", emu.base_url)
    with pytest.raises(ccxt.DDoSProtection):
        exchange.fetch_order_book(SPOT)
    with pytest.raises(ccxt.DDoSProtection):
        exchange.fetch_order_book(SPOT)
    deadline = time.monotonic() + 5
    while True:
        try:
            book = exchange.fetch_order_book(SPOT)
            break
        except ccxt.DDoSProtection:
            assert time.monotonic() < deadline, "429 window never closed"
            time.sleep(0.1)
    assert book["bids"]


def test_create_order_when_partial_fill_fault_then_half_fills_and_remainder_expires_or_cancels(
    emu: EmulatorThread, usdm_client: ccxt.Exchange
) -> None:
    emu.add_fault(FaultRule("partial_fill", path=ORDER_PATH, method="POST", count=2, fill_ratio=0.5))
    market = usdm_client.create_order(PERP, "market", "sell", 0.02, params={"clientOrderId": "cx-p1"})
    assert (market["status"], market["filled"], market["remaining"]) == ("expired", 0.01, 0.01)
    ask = usdm_client.fetch_order_book(PERP)["asks"][0][0]
    gtc = usdm_client.create_order(PERP, "limit", "buy", 0.004, ask, params={"clientOrderId": "cx-p2"})
    assert (gtc["status"], gtc["filled"]) == ("canceled", 0.002)
    assert usdm_client.fetch_open_orders(PERP) == []
    assert usdm_client.fetch_positions([PERP])[0]["contracts"] == pytest.approx(0.008)


def test_create_order_when_reject_fault_then_rejected_error_with_code_and_nothing_booked(
    emu: EmulatorThread,
) -> None:
    emu.add_fault(
        FaultRule("reject", path=ORDER_PATH, method="POST", code=-2019, msg="Margin is insufficient.")
    )

    async def scenario() -> None:
        exchange = _async_usdm(emu)
        try:
            await exchange.load_markets()
            with pytest.raises(InsufficientMarginError) as info:
                await place_order(
                    lambda: exchange.create_order(PERP, "market", "sell", 0.01), exchange=exchange
                )
            assert info.value.code == -2019 and not info.value.retryable
        finally:
            await exchange.close()

    asyncio.run(scenario())
    assert emu.state()["positions"] == {}


def test_create_order_when_answer_slower_than_timeout_then_unknown_outcome_and_order_is_live(
    emu: EmulatorThread,
) -> None:
    emu.add_fault(FaultRule("latency", path=ORDER_PATH, method="POST", latency_ms=800))

    async def scenario() -> None:
        exchange = _async_usdm(emu, timeout_ms=200)
        try:
            await exchange.load_markets()
            with pytest.raises(UnknownOutcomeError) as info:
                await place_order(
                    lambda: exchange.create_order(
                        PERP, "market", "sell", 0.01, params={"clientOrderId": "cx-slow"}
                    ),
                    exchange=exchange,
                )
            assert isinstance(info.value.__cause__, ccxt.RequestTimeout)
        finally:
            await exchange.close()

    asyncio.run(scenario())
    exchange = make_sync("binanceusdm", emu.base_url)
    deadline = time.monotonic() + 10
    while emu.create_count("cx-slow") == 0:  # the venue books it after the client gave up
        assert time.monotonic() < deadline
        time.sleep(0.05)
    order = retry_read_sync(lambda: exchange.fetch_order(None, PERP, params={"origClientOrderId": "cx-slow"}))
    assert order["status"] == "closed"


def test_create_order_when_connection_reset_then_unknown_outcome_and_lookup_finds_nothing(
    emu: EmulatorThread,
) -> None:
    emu.add_fault(FaultRule("reset", path=ORDER_PATH, method="POST"))

    async def scenario() -> None:
        exchange = _async_usdm(emu)
        try:
            await exchange.load_markets()
            with pytest.raises(UnknownOutcomeError):
                await place_order(
                    lambda: exchange.create_order(
                        PERP, "market", "sell", 0.01, params={"clientOrderId": "cx-rst"}
                    ),
                    exchange=exchange,
                )
            with pytest.raises(NotFoundError):
                await retry_read(
                    lambda: exchange.fetch_order(None, PERP, params={"origClientOrderId": "cx-rst"}),
                    exchange=exchange,
                    policy=FAST,
                )
        finally:
            await exchange.close()

    asyncio.run(scenario())
    assert emu.create_count("cx-rst") == 0


def test_fault_file_when_json_and_toml_then_rules_load_and_apply(
    tmp_path: Path, spot_and_perp_recording: Recording
) -> None:
    as_json = tmp_path / "faults.json"
    as_json.write_text(
        json.dumps({"faults": [{"kind": "rate_limit", "path": "/api/v3/ticker/24hr", "count": 1}]})
    )
    as_toml = tmp_path / "faults.toml"
    as_toml.write_text(
        '[[faults]]\nkind = "reject"\npath = "/fapi/v1/order"\nmethod = "POST"\ncode = -4164\n'
        'msg = "Order\'s notional must be no smaller than 100 (unless you choose reduce only)."\n'
    )
    assert [r.kind for r in load_faults(as_toml)] == ["reject"]
    with EmulatorThread(recording=spot_and_perp_recording, faults=as_json) as emu:
        exchange = make_sync("binance", emu.base_url)
        with pytest.raises(ccxt.DDoSProtection):
            exchange.fetch_ticker(SPOT)
        assert exchange.fetch_ticker(SPOT)["bid"] > 0


def test_fault_file_when_unknown_field_or_kind_then_error_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"faults": [{"kind": "rate_limit", "pth": "/x"}]}))
    with pytest.raises(FaultFileError, match="pth"):
        load_faults(bad)
    bad.write_text(json.dumps({"faults": [{"kind": "meteor"}]}))
    with pytest.raises(FaultFileError, match="meteor"):
        load_faults(bad)


def test_control_endpoint_when_fault_posted_over_http_then_applies_and_clock_advances(
    emu: EmulatorThread,
) -> None:
    def post(path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            emu.base_url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    post(
        "/_emulator/faults",
        {"kind": "reject", "path": "/api/v3/order", "code": -1013, "msg": "Filter failure: NOTIONAL"},
    )
    exchange = make_sync("binance", emu.base_url)
    with pytest.raises(ccxt.BadRequest, match="-1013"):
        exchange.create_order(SPOT, "market", "buy", 0.01)
    start = emu.now_ms
    answer = post("/_emulator/advance", {"to_ms": start + 5_000})
    assert answer["now_ms"] == start + 5_000 and answer["applied"] > 0


def test_replay_clock_when_running_then_market_time_moves_by_itself(
    spot_and_perp_recording: Recording,
) -> None:
    options = EmulatorOptions(clock="replay", speed=50.0)
    with EmulatorThread(recording=spot_and_perp_recording, options=options) as emu:
        start = emu.now_ms
        deadline = time.monotonic() + 10
        while emu.now_ms < start + 1_000:
            assert time.monotonic() < deadline, "replay clock did not move"
            time.sleep(0.02)
