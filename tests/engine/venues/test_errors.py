"""The venue error boundary: the translation table and the retry policy (reads and cancels only)."""

from __future__ import annotations

import asyncio

import ccxt
import pytest

from engine.venues.errors import (
    AuthError,
    ClockSkewError,
    DuplicateClientOrderIdError,
    InsufficientMarginError,
    InvalidOrderError,
    NetworkUnavailableError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    RetryableError,
    RetryPolicy,
    UnknownOutcomeError,
    VenueError,
    parse_retry_after,
    place_order,
    retry_cancel,
    retry_read,
    retry_read_sync,
    translate,
    venue_code,
)

FAST = RetryPolicy(attempts=3, initial_s=0.001, max_wait_s=0.01, max_retry_after_s=5.0)


def _binance(code: int, msg: str) -> str:
    return f'binanceusdm {{"code":{code},"msg":"{msg}"}}'


# (ccxt exception as ccxt raises it, placing_order, expected class, expected venue code)
TABLE: list[tuple[ccxt.BaseError, bool, type[VenueError], int | None]] = [
    # No answer: unknown outcome for a placement, retryable for a read.
    (
        ccxt.RequestTimeout("binanceusdm POST http://127.0.0.1:1/fapi/v1/order"),
        True,
        UnknownOutcomeError,
        None,
    ),
    (
        ccxt.RequestTimeout("binanceusdm GET http://127.0.0.1:1/fapi/v1/order"),
        False,
        NetworkUnavailableError,
        None,
    ),
    (
        ccxt.ExchangeNotAvailable("binanceusdm POST http://127.0.0.1:1/fapi/v1/order"),
        True,
        UnknownOutcomeError,
        None,
    ),
    (ccxt.ExchangeNotAvailable("binanceusdm GET ..."), False, NetworkUnavailableError, None),
    (ccxt.NetworkError("binance POST http://127.0.0.1:1/api/v3/order"), True, UnknownOutcomeError, None),
    (ccxt.OnMaintenance("binance system maintenance"), True, UnknownOutcomeError, None),
    (ccxt.BadResponse("binance unparsable body"), True, UnknownOutcomeError, None),
    (
        ccxt.ExchangeError(_binance(-1007, "Timeout waiting for response from backend server.")),
        True,
        UnknownOutcomeError,
        -1007,
    ),
    (
        ccxt.ExchangeError(_binance(-1007, "Timeout waiting for response from backend server.")),
        False,
        NetworkUnavailableError,
        -1007,
    ),
    # Rate limits and clocks: not processed, retryable.
    (
        ccxt.DDoSProtection('binanceusdm 429 Too Many Requests {"code": -1003, "msg": "Too many requests"}'),
        True,
        RateLimitedError,
        -1003,
    ),
    (ccxt.RateLimitExceeded("binance rate limit"), False, RateLimitedError, None),
    (
        ccxt.InvalidNonce(_binance(-1021, "Timestamp for this request is outside of the recvWindow.")),
        False,
        ClockSkewError,
        -1021,
    ),
    # Definite answers.
    (
        ccxt.InsufficientFunds(_binance(-2019, "Margin is insufficient.")),
        True,
        InsufficientMarginError,
        -2019,
    ),
    # On loopback without the host fix ccxt raises a bare ExchangeError: the code still classifies it.
    (ccxt.ExchangeError(_binance(-2019, "Margin is insufficient.")), True, InsufficientMarginError, -2019),
    (
        ccxt.ExchangeError(_binance(-4164, "Order's notional must be no smaller than 100")),
        True,
        InvalidOrderError,
        -4164,
    ),
    (
        ccxt.BadRequest('binance {"code":-1013,"msg":"Filter failure: NOTIONAL"}'),
        True,
        InvalidOrderError,
        -1013,
    ),
    (ccxt.ExchangeError(_binance(-2022, "ReduceOnly Order is rejected.")), True, InvalidOrderError, -2022),
    (
        ccxt.InsufficientFunds("binance Account has insufficient balance for requested action."),
        True,
        InsufficientMarginError,
        None,
    ),
    (
        ccxt.InvalidOrder(_binance(-4116, "ClientOrderId is duplicated.")),
        True,
        DuplicateClientOrderIdError,
        -4116,
    ),
    (
        ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'),
        True,
        DuplicateClientOrderIdError,
        -2010,
    ),
    (ccxt.OrderNotFound(_binance(-2011, "Unknown order sent.")), False, NotFoundError, -2011),
    (ccxt.OrderNotFound(_binance(-2013, "Order does not exist.")), False, NotFoundError, -2013),
    (
        ccxt.OperationRejected('binance {"code":-2011,"msg":"Unknown order sent."}'),
        False,
        NotFoundError,
        -2011,
    ),
    (
        ccxt.AuthenticationError(_binance(-1022, "Signature for this request is not valid.")),
        False,
        AuthError,
        -1022,
    ),
    (
        ccxt.AuthenticationError(_binance(-2015, "Invalid API-key, IP, or permissions for action.")),
        True,
        AuthError,
        -2015,
    ),
    (ccxt.BadSymbol(_binance(-1121, "Invalid symbol.")), True, InvalidOrderError, -1121),
    (ccxt.ExchangeError("binance something we have never seen"), True, RejectedError, None),
    (ccxt.BaseError("no idea"), False, VenueError, None),
]


@pytest.mark.parametrize(("exc", "placing", "expected", "code"), TABLE, ids=lambda v: type(v).__name__)
def test_translate_when_ccxt_raises_then_maps_to_venue_hierarchy(
    exc: ccxt.BaseError, placing: bool, expected: type[VenueError], code: int | None
) -> None:
    out = translate(exc, placing_order=placing)
    assert type(out) is expected
    assert out.code == code
    assert out.retryable == issubclass(expected, RetryableError)


def test_translate_when_order_placement_has_no_answer_then_never_retryable() -> None:
    for exc in (ccxt.RequestTimeout("t"), ccxt.ExchangeNotAvailable("x"), ccxt.NetworkError("n")):
        out = translate(exc, placing_order=True)
        assert isinstance(out, UnknownOutcomeError) and not out.retryable


def test_translate_when_429_with_retry_after_header_then_carries_seconds() -> None:
    exc = ccxt.DDoSProtection("binanceusdm 429 Too Many Requests")
    out = translate(
        exc, placing_order=False, headers={"Retry-After": "7", "Content-Type": "application/json"}
    )
    assert isinstance(out, RateLimitedError) and out.retry_after == 7.0
    # A stale Retry-After from an earlier answer does not leak onto other errors.
    other = translate(ccxt.RequestTimeout("t"), placing_order=False, headers={"Retry-After": "7"})
    assert other.retry_after is None


def test_parse_retry_after_when_bybit_reset_timestamp_then_seconds_until_it() -> None:
    assert parse_retry_after({"X-Bapi-Limit-Reset-Timestamp": "1700000002500"}, now=1700000000.0) == 2.5
    assert parse_retry_after({"x-bapi-limit-reset-timestamp": "1699999999000"}, now=1700000000.0) == 0.0
    assert parse_retry_after({"X-Bapi-Limit-Reset-Timestamp": "n/a"}) is None
    # Retry-After, where given, wins.
    both = {"Retry-After": "3", "X-Bapi-Limit-Reset-Timestamp": "1700000009000"}
    assert parse_retry_after(both, now=1700000000.0) == 3.0


def test_parse_retry_after_when_http_date_then_seconds_from_now() -> None:
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after(None) is None


def test_venue_code_when_message_has_binance_json_then_code_and_msg_parsed() -> None:
    assert venue_code(ccxt.ExchangeError(_binance(-2019, "Margin is insufficient."))) == (
        -2019,
        "Margin is insufficient.",
    )
    assert venue_code(ccxt.ExchangeError("binance plain text")) == (None, None)


# ---- retry policy ------------------------------------------------------------------------------------


class Flaky:
    """Raises the given ccxt errors in turn, then returns ``result``; counts calls."""

    def __init__(self, errors: list[ccxt.BaseError], result: str = "ok") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result

    async def coro(self) -> str:
        return self()


def test_retry_read_when_network_errors_then_retries_and_returns() -> None:
    flaky = Flaky([ccxt.RequestTimeout("t"), ccxt.ExchangeNotAvailable("x")])
    slept: list[float] = []
    assert retry_read_sync(flaky, policy=FAST, sleep=slept.append) == "ok"
    assert flaky.calls == 3
    assert all(0 <= s <= FAST.max_wait_s for s in slept) and len(slept) == 2


def test_retry_read_when_errors_persist_then_bounded_attempts_and_translated_error() -> None:
    flaky = Flaky([ccxt.RequestTimeout("t")] * 10)
    with pytest.raises(NetworkUnavailableError):
        retry_read_sync(flaky, policy=FAST, sleep=lambda _s: None)
    assert flaky.calls == FAST.attempts


@pytest.mark.parametrize(
    "error",
    [
        ccxt.InsufficientFunds(_binance(-2019, "Margin is insufficient.")),
        ccxt.OrderNotFound(_binance(-2013, "Order does not exist.")),
        ccxt.AuthenticationError(_binance(-1022, "Signature for this request is not valid.")),
    ],
    ids=["rejected", "not-found", "auth"],
)
def test_retry_read_when_error_not_retryable_then_single_attempt(error: ccxt.BaseError) -> None:
    flaky = Flaky([error])
    with pytest.raises(VenueError):
        retry_read_sync(flaky, policy=FAST, sleep=lambda _s: None)
    assert flaky.calls == 1


def test_retry_read_when_retry_after_exceeds_cap_then_gives_up_at_once() -> None:
    class Exchange:
        last_response_headers = {"Retry-After": "600"}  # noqa: RUF012 - mimics ccxt's attribute

    flaky = Flaky([ccxt.DDoSProtection("429")] * 3)
    with pytest.raises(RateLimitedError) as info:
        retry_read_sync(flaky, exchange=Exchange(), policy=FAST, sleep=lambda _s: None)
    assert flaky.calls == 1 and info.value.retry_after == 600.0


def test_retry_cancel_when_async_timeouts_then_retries_with_jittered_waits() -> None:
    flaky = Flaky([ccxt.RequestTimeout("t"), ccxt.RequestTimeout("t")])
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    assert asyncio.run(retry_cancel(flaky.coro, policy=FAST, sleep=sleep)) == "ok"
    assert flaky.calls == 3 and len(slept) == 2


def test_retry_read_when_async_rejected_then_single_attempt() -> None:
    flaky = Flaky([ccxt.InvalidOrder(_binance(-4164, "notional"))])

    async def never(_s: float) -> None:
        raise AssertionError("must not sleep")

    with pytest.raises(InvalidOrderError):
        asyncio.run(retry_read(flaky.coro, policy=FAST, sleep=never))
    assert flaky.calls == 1


def test_place_order_when_timeout_then_single_attempt_and_unknown_outcome() -> None:
    flaky = Flaky([ccxt.RequestTimeout("t")])
    with pytest.raises(UnknownOutcomeError) as info:
        asyncio.run(place_order(flaky.coro))
    assert flaky.calls == 1
    assert isinstance(info.value.__cause__, ccxt.RequestTimeout)
