"""The venue error boundary: ccxt exceptions translated into what carry may do next.

The hierarchy says what is safe to retry:

- `RetryableError` (`RateLimitedError`, `NetworkUnavailableError`, `ClockSkewError`): the venue did not
  process the request, or it was a read; retry with backoff (reads and cancels only, see below).
- `UnknownOutcomeError`: an order placement timed out or its connection dropped. The order may be live.
  Never resend it; look it up by its client order id first (DESIGN.md, reliability rule 3).
- `RejectedError` (`InsufficientMarginError`, `InvalidOrderError`, `DuplicateClientOrderIdError`): the
  venue answered no. Retrying the same request gets the same answer.
- `NotFoundError`: the venue does not know the order (Binance -2011 on cancel, -2013 on query).
- `AuthError`: keys, signature or permissions; no retry can fix it.

`translate` prefers the venue's own error code (parsed from the message ccxt raises, ``{"code": ...}``)
over ccxt's class, because ccxt's Binance code table depends on the host it talks to (see
`engine.venues.ccxt_factory.map_errors_on_any_host`).

Retry helpers (`retry_read`, `retry_cancel` and their sync twins) use tenacity with bounded attempts,
jittered exponential waits, and honour a 429's ``Retry-After``. There is deliberately no helper for
order placement.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ccxt
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from engine.errors import CarryError

_CODE_RE = re.compile(r'"code"\s*:\s*"?(-?\d+)')
_MSG_RE = re.compile(r'"msg"\s*:\s*"((?:[^"\\]|\\.)*)"')
# OKX answers an order with {"code": "1", "data": [{"sCode": "51016", ...}]}: the order's own code counts.
_S_CODE_RE = re.compile(r'"sCode"\s*:\s*"([1-9]\d*)"')
_RET_CODE_RE = re.compile(r'"retCode"\s*:\s*"?(\d+)')


class VenueError(CarryError):
    """An error at a venue boundary.

    Attributes
    ----------
    code : int or None
        The venue's own error code (Binance ``-2019`` ...), when it gave one.
    retry_after : float or None
        Seconds the venue asked to wait (``Retry-After``; Bybit: until ``X-Bapi-Limit-Reset-Timestamp``),
        when it did.
    """

    retryable = False

    def __init__(self, message: str, *, code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class RetryableError(VenueError):
    """Safe to retry after a wait (for reads and cancels)."""

    retryable = True


class RateLimitedError(RetryableError):
    """HTTP 429/418 or Binance -1003/-1015: the request was not processed; wait ``retry_after``."""


class NetworkUnavailableError(RetryableError):
    """A read (or cancel) got no usable answer: connection refused/reset, timeout, 5xx, server busy."""


class ClockSkewError(RetryableError):
    """Binance -1021: the request timestamp is outside ``recvWindow``; not processed."""


class UnknownOutcomeError(VenueError):
    """An order placement got no answer (timeout, dropped connection, 5xx): it may or may not be live.

    Never resend: look the order up by its client order id, then decide.
    """


class RejectedError(VenueError):
    """The venue refused the request; resending it unchanged gets the same answer."""


class InsufficientMarginError(RejectedError):
    """Margin or balance is insufficient (Binance -2019, -2018, -2010 insufficient balance)."""


class InvalidOrderError(RejectedError):
    """The order breaks a venue rule: lot size, tick, min notional (-1013, -4164), reduce-only (-2022)."""


class DuplicateClientOrderIdError(RejectedError):
    """An OPEN order already has this client order id (Binance -2010 duplicate / -4116).

    It usually means an earlier attempt of the same order reached the venue: look it up.
    """


class NotFoundError(VenueError):
    """The venue does not know the order (Binance -2011 on cancel, -2013 on query)."""


class AuthError(VenueError):
    """Bad API key, signature or permissions (Binance -1022, -2014, -2015)."""


# Binance codes whose meaning does not depend on the request.
_BY_CODE: dict[int, type[VenueError]] = {
    -1003: RateLimitedError,
    -1015: RateLimitedError,
    -1021: ClockSkewError,
    -1002: AuthError,
    -1022: AuthError,
    -2014: AuthError,
    -2015: AuthError,
    -2011: NotFoundError,
    -2013: NotFoundError,
    -2018: InsufficientMarginError,
    -2019: InsufficientMarginError,
    -4116: DuplicateClientOrderIdError,
    -1013: InvalidOrderError,
    -1100: InvalidOrderError,
    -1102: InvalidOrderError,
    -1111: InvalidOrderError,
    -1115: InvalidOrderError,
    -1116: InvalidOrderError,
    -1117: InvalidOrderError,
    -1121: InvalidOrderError,
    -2021: InvalidOrderError,
    -2022: InvalidOrderError,
    -4001: InvalidOrderError,
    -4003: InvalidOrderError,
    -4014: InvalidOrderError,
    -4131: InvalidOrderError,
    -4164: InvalidOrderError,
    -5021: InvalidOrderError,
    -5022: InvalidOrderError,
}
# Bybit retCodes that ccxt maps to a class too coarse for carry (ccxt: InvalidOrder for a duplicate
# orderLinkId, which must be looked up, not taken as a rejection).
_BYBIT_BY_CODE: dict[int, type[VenueError]] = {
    110072: DuplicateClientOrderIdError,
    170141: DuplicateClientOrderIdError,
    12141: DuplicateClientOrderIdError,
}
# OKX codes that ccxt maps to a class too coarse for carry (ccxt: InvalidOrder for a duplicate clOrdId,
# which must be looked up, not taken as a rejection).
_OKX_BY_CODE: dict[int, type[VenueError]] = {51016: DuplicateClientOrderIdError}
# Binance: "execution status unknown" / "unknown error" / "server busy": no definite answer.
_NO_ANSWER_CODES = frozenset({-1000, -1001, -1004, -1006, -1007, -1008})


def venue_code(exc: BaseException) -> tuple[int | None, str | None]:
    """The venue's ``(code, msg)`` from a ccxt exception message (``binance {"code":-2019,...}``)."""
    text = str(exc)
    code = _CODE_RE.search(text)
    msg = _MSG_RE.search(text)
    return (int(code.group(1)) if code else None), (msg.group(1) if msg else None)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from a rate-limit answer's headers, or None.

    ``Retry-After`` (delta-seconds or HTTP date; Binance), else Bybit's ``X-Bapi-Limit-Reset-Timestamp``
    (ms since the epoch when the limit resets: Bybit sends no Retry-After). OKX states no wait with its
    50011. Never negative; callers bound it (`RetryPolicy.max_retry_after_s`).
    """
    if not headers:
        return None
    value = _header(headers, "retry-after")
    if value is None:
        reset = _header(headers, "x-bapi-limit-reset-timestamp")
        return _seconds_until_ms(reset, now) if reset is not None else None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _seconds_until_ms(stamp: str, now: float | None) -> float | None:
    try:
        reset_s = int(stamp.strip()) / 1000.0
    except ValueError:
        return None
    return max(0.0, reset_s - (time.time() if now is None else now))


def translate(
    exc: ccxt.BaseError,
    *,
    placing_order: bool,
    headers: Mapping[str, str] | None = None,
) -> VenueError:
    """Translate a ccxt exception into carry's venue error hierarchy.

    Parameters
    ----------
    exc : ccxt.BaseError
        What ccxt raised.
    placing_order : bool
        True for an order placement: then a missing answer is an `UnknownOutcomeError`, never retryable.
    headers : mapping, optional
        The last response headers (``exchange.last_response_headers``), for the wait (`parse_retry_after`).

    Returns
    -------
    VenueError
        The translated error, with ``__cause__`` set to ``exc`` by the caller's ``raise ... from exc``.
    """
    code, msg = venue_code(exc)
    text = f"{type(exc).__name__}: {exc}"
    retry_after = parse_retry_after(headers)
    cls: type[VenueError] | None = None
    if code is not None:
        if code in _NO_ANSWER_CODES:
            cls = UnknownOutcomeError if placing_order else NetworkUnavailableError
        elif code == -2010:
            low = (msg or "").lower()
            if "duplicate" in low:
                cls = DuplicateClientOrderIdError
            elif "insufficient" in low:
                cls = InsufficientMarginError
            else:
                cls = RejectedError
        else:
            cls = _BY_CODE.get(code)
    if code is None and (ret := _RET_CODE_RE.search(str(exc))) is not None:
        code = int(ret.group(1))  # Bybit's {"retCode": ...}
        cls = _BYBIT_BY_CODE.get(code)
    if (s_code := _S_CODE_RE.search(str(exc))) is not None:
        code = int(s_code.group(1))
        cls = _OKX_BY_CODE.get(code)
    if cls is None:
        cls = _by_class(exc, placing_order)
    # Only a rate-limit answer carries a fresh Retry-After; other errors may leave an older one behind.
    return cls(text, code=code, retry_after=retry_after if issubclass(cls, RateLimitedError) else None)


def _by_class(exc: ccxt.BaseError, placing_order: bool) -> type[VenueError]:
    # Order matters: subclasses before their bases (ccxt's hierarchy: NetworkError < OperationFailed).
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return RateLimitedError
    if isinstance(exc, ccxt.InvalidNonce):
        return ClockSkewError
    if isinstance(exc, ccxt.OperationFailed):
        # RequestTimeout, ExchangeNotAvailable (dropped connection on async ccxt), NetworkError (sync),
        # BadResponse: no definite answer from the venue.
        return UnknownOutcomeError if placing_order else NetworkUnavailableError
    if isinstance(exc, ccxt.AuthenticationError):
        return AuthError
    if isinstance(exc, ccxt.OrderNotFound):
        return NotFoundError
    if isinstance(exc, ccxt.DuplicateOrderId):
        return DuplicateClientOrderIdError
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientMarginError
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.ArgumentsRequired):
        return InvalidOrderError
    if isinstance(exc, ccxt.ExchangeError):
        # The venue answered with an error we have no finer class for: a definite "no".
        return RejectedError
    return VenueError


# ---- retry policy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with jittered exponential waits.

    Attributes
    ----------
    attempts : int
        Total attempts, the first included.
    initial_s : float
        Scale of the exponential wait (full jitter: uniform in ``[0, initial * 2**n]``).
    max_wait_s : float
        Cap of one computed wait.
    max_retry_after_s : float
        Cap of a venue's ``Retry-After`` we are willing to honour in-line; beyond it, give up and let
        the caller decide (e.g. move the trading state to REDUCING).
    """

    attempts: int = 5
    initial_s: float = 0.2
    max_wait_s: float = 5.0
    max_retry_after_s: float = 30.0


READ_POLICY = RetryPolicy()
CANCEL_POLICY = RetryPolicy(attempts=4)


class wait_retry_after(wait_base):  # noqa: N801 - tenacity's naming style for wait strategies
    """Jittered exponential wait, but never shorter than the venue's ``Retry-After``."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.base = wait_random_exponential(multiplier=policy.initial_s, max=policy.max_wait_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = float(self.base(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            wait = max(wait, min(exc.retry_after, self.policy.max_retry_after_s))
        return wait


def _stop_on_long_retry_after(policy: RetryPolicy) -> Callable[[RetryCallState], bool]:
    attempts = stop_after_attempt(policy.attempts)

    def stop(retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetryableError) and (exc.retry_after or 0.0) > policy.max_retry_after_s:
            return True
        return bool(attempts(retry_state))

    return stop


def _retry_kwargs(policy: RetryPolicy, sleep: Callable[[float], Any] | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "stop": _stop_on_long_retry_after(policy),
        "wait": wait_retry_after(policy),
        "retry": retry_if_exception_type(RetryableError),
        "reraise": True,
    }
    if sleep is not None:
        kwargs["sleep"] = sleep
    return kwargs


def _headers_of(exchange: Any) -> Mapping[str, str] | None:
    headers = getattr(exchange, "last_response_headers", None)
    return headers if isinstance(headers, Mapping) else None


async def _call_async[T](fn: Callable[[], Awaitable[T]], exchange: Any) -> T:
    try:
        return await fn()
    except ccxt.BaseError as exc:
        raise translate(exc, placing_order=False, headers=_headers_of(exchange)) from exc


def _call_sync[T](fn: Callable[[], T], exchange: Any) -> T:
    try:
        return fn()
    except ccxt.BaseError as exc:
        raise translate(exc, placing_order=False, headers=_headers_of(exchange)) from exc


async def retry_read[T](
    fn: Callable[[], Awaitable[T]],
    *,
    exchange: Any = None,
    policy: RetryPolicy = READ_POLICY,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """Run a venue read (``lambda: ex.fetch_order(...)``) with translation and bounded retries.

    Parameters
    ----------
    fn : callable
        A zero-argument coroutine function calling ccxt.
    exchange : ccxt exchange, optional
        Where to read ``Retry-After`` from (``last_response_headers``).
    policy : RetryPolicy
        Attempts and waits.
    sleep : callable, optional
        Replaces ``asyncio.sleep`` (tests).

    Raises
    ------
    VenueError
        The translated error once retries are exhausted, or at once when it is not retryable.
    """
    async for attempt in AsyncRetrying(**_retry_kwargs(policy, sleep)):
        with attempt:
            return await _call_async(fn, exchange)
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


async def retry_cancel[T](
    fn: Callable[[], Awaitable[T]],
    *,
    exchange: Any = None,
    policy: RetryPolicy = CANCEL_POLICY,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """Run a cancel with retries: cancelling twice is harmless (the second gets `NotFoundError`)."""
    return await retry_read(fn, exchange=exchange, policy=policy, sleep=sleep)


def retry_read_sync[T](
    fn: Callable[[], T],
    *,
    exchange: Any = None,
    policy: RetryPolicy = READ_POLICY,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Synchronous `retry_read`."""
    for attempt in Retrying(**_retry_kwargs(policy, sleep)):
        with attempt:
            return _call_sync(fn, exchange)
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


def retry_cancel_sync[T](
    fn: Callable[[], T],
    *,
    exchange: Any = None,
    policy: RetryPolicy = CANCEL_POLICY,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Synchronous `retry_cancel`."""
    return retry_read_sync(fn, exchange=exchange, policy=policy, sleep=sleep)


async def place_order[T](fn: Callable[[], Awaitable[T]], *, exchange: Any = None) -> T:
    """Run an order placement once, translating errors; never retried (a timeout is `UnknownOutcomeError`)."""
    try:
        return await fn()
    except ccxt.BaseError as exc:
        raise translate(exc, placing_order=True, headers=_headers_of(exchange)) from exc
