"""Create ccxt exchanges for carry: pointed at a base URL (the loopback emulator, a testnet), ccxt's own
retries off, and Binance error codes mapped on any host.

Why the URL rewrite rather than ``set_sandbox_mode``: sandbox mode swaps in the venue's testnet table,
which has no loopback entry; rewriting the host of every ``urls['api']`` entry keeps each path
(``/api/v3``, ``/fapi/v1`` ...) so ccxt's own request code runs unchanged against the emulator.

Why `map_errors_on_any_host`: ccxt's Binance picks its per-market error table (spot / linear / ...) from
the URL prefix, which only matches Binance's own hosts; on loopback ``-2019 Margin is insufficient``
would arrive as a bare ``ExchangeError`` instead of ``InsufficientFunds``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import ccxt
import ccxt.async_support as ccxt_async

# Options that keep ccxt from calling endpoints a carry venue client does not need (and the emulator
# does not serve): currencies and margin pairs are signed /sapi calls; leverage brackets are loaded
# lazily by fetch_positions (the emulator serves them, so they are not disabled here).
_BINANCE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}},
    "binanceusdm": {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["linear"]}},
    # Bybit: carry trades spot and linear only (no inverse/option market loads); ccxt refuses fetch_order on
    # a unified account unless told it knows the lookup covers only the 500 newest orders per category.
    "bybit": {"fetchMarkets": {"types": ["spot", "linear"]}, "fetchOrder": {"acknowledged": True}},
    # OKX: spot and perpetual swaps only (no futures/option instrument lists); one order per request
    # (/api/v5/trade/order, not ccxt's default batch endpoint).
    "okx": {"fetchMarkets": {"types": ["spot", "swap"]}, "createOrder": "privatePostTradeOrder"},
}


def rewrite_host(url: str, base_url: str) -> str:
    """Replace scheme and host of ``url`` with those of ``base_url``, keeping the path and query.

    Examples
    --------
    >>> rewrite_host("https://fapi.binance.com/fapi/v1", "http://127.0.0.1:8080")
    'http://127.0.0.1:8080/fapi/v1'
    """
    base = urlsplit(base_url)
    parts = urlsplit(url)
    prefix = base.path.rstrip("/")
    return urlunsplit((base.scheme, base.netloc, prefix + parts.path, parts.query, parts.fragment))


def _rewrite(node: Any, base_url: str) -> Any:
    if isinstance(node, str):
        return rewrite_host(node, base_url) if "://" in node else node
    if isinstance(node, dict):
        return {k: _rewrite(v, base_url) for k, v in node.items()}
    return node


def point_at(exchange: ccxt.Exchange | ccxt_async.Exchange, base_url: str) -> None:
    """Rewrite the host of every entry of ``exchange.urls['api']`` (nested tables too) to ``base_url``."""
    urls = cast(dict[str, Any], exchange.urls)
    urls["api"] = _rewrite(urls["api"], base_url)


def _binance_market_type(url: str) -> str | None:
    path = urlsplit(url).path
    if path.startswith("/api/") or path.startswith("/sapi/"):
        return "spot"
    if path.startswith("/fapi/") or path.startswith("/futures/"):
        return "linear"
    if path.startswith("/dapi/"):
        return "inverse"
    if path.startswith("/eapi/"):
        return "option"
    if path.startswith("/papi/"):
        return "portfolioMargin"
    return None


def map_errors_on_any_host(exchange: ccxt.Exchange | ccxt_async.Exchange) -> None:
    """Make a ccxt Binance exchange pick its error table by URL path, not by Binance's host name.

    ccxt's ``get_exceptions_by_url`` matches ``https://fapi.binance.com/`` and the like; on any other host
    it returns no table and codes such as -2019, -4164, -2022 fall through to ``ExchangeError``. This
    replaces it on the instance with a lookup by path (``/api`` spot, ``/fapi`` linear, ...), which gives
    the same classes as on Binance's hosts. No-op for exchanges without that method.
    """
    if not hasattr(exchange, "get_exceptions_by_url"):
        return

    def get_exceptions_by_url(self: Any, url: str | None, exact_or_broad: str) -> dict[str, Any]:
        if url is None:
            return {}
        market_type = _binance_market_type(url)
        if market_type is None:
            return {}
        table = self.safe_dict(self.exceptions, market_type, {})
        return cast(dict[str, Any], self.safe_dict(table, exact_or_broad, {}))

    exchange.get_exceptions_by_url = types.MethodType(get_exceptions_by_url, exchange)


# OKX: the placement endpoints that honour an ``expTime`` request header (ms since the epoch: OKX refuses
# the request with 50102 when it arrives later). ccxt 4.5.90 has no way to send it.
EXP_TIME = "expTime"
_OKX_EXPIRING = frozenset(
    {"trade/order", "trade/batch-orders", "trade/amend-order", "trade/amend-batch-orders"}
)
_EXP_TIME_MARK = "_carry_exp_time_header"


def send_exp_time_as_header(exchange: ccxt.Exchange | ccxt_async.Exchange) -> None:
    """Make an OKX exchange send an ``expTime`` param of its order endpoints as OKX's ``expTime`` header.

    The param is taken out of the request before ccxt signs it (OKX signs the body, not that header), so
    ``create_order(..., params={"expTime": "<ms>"})`` carries the deadline the venue enforces. No-op for
    other exchanges.
    """
    if str(exchange.id) != "okx" or sends_exp_time_header(exchange):
        return
    original = exchange.sign

    def sign(
        self: Any, path: str, api: Any = "public", method: str = "GET", params: Any = None
    ) -> dict[str, Any]:
        expires: Any = None
        if method == "POST" and path in _OKX_EXPIRING and isinstance(params, dict) and EXP_TIME in params:
            params = dict(params)
            expires = params.pop(EXP_TIME)
        request = cast(dict[str, Any], original(path, api, method, {} if params is None else params))
        if expires is not None:
            request["headers"] = dict(request.get("headers") or {}) | {EXP_TIME: str(int(expires))}
        return request

    exchange.sign = types.MethodType(sign, exchange)
    setattr(exchange, _EXP_TIME_MARK, True)


def sends_exp_time_header(exchange: Any) -> bool:
    """Whether `send_exp_time_as_header` was applied (an OKX placement's expiry reaches the venue)."""
    return getattr(exchange, _EXP_TIME_MARK, False) is True


def _config(
    exchange_id: str,
    api_key: str | None,
    secret: str | None,
    password: str | None,
    options: Mapping[str, Any] | None,
    timeout_ms: int,
    enable_rate_limit: bool,
) -> dict[str, Any]:
    merged: dict[str, Any] = dict(_BINANCE_OPTIONS.get(exchange_id, {}))
    # ccxt retries OperationFailed itself when maxRetriesOnFailure > 0: never on a trading client
    # (a retried create_order after a timeout could double-fill); our tenacity policy retries reads.
    merged["maxRetriesOnFailure"] = 0
    merged["maxRetriesOnFailureDelay"] = 0
    merged.update(options or {})
    config: dict[str, Any] = {
        "enableRateLimit": enable_rate_limit,
        "timeout": timeout_ms,
        "options": merged,
    }
    if api_key is not None:
        config["apiKey"] = api_key
    if secret is not None:
        config["secret"] = secret
    if password is not None:
        config["password"] = password
    return config


def _point(exchange: Any, base_url: str | None, sandbox: bool, map_errors: bool) -> None:
    # Sandbox first: it swaps in the testnet/demo URL table (and OKX's x-simulated-trading header),
    # whose hosts are then rewritten to the base URL.
    if sandbox:
        exchange.set_sandbox_mode(True)
    if base_url is not None:
        point_at(exchange, base_url)
        if map_errors:
            map_errors_on_any_host(exchange)


def create_async_exchange(
    exchange_id: str,
    base_url: str | None = None,
    *,
    api_key: str | None = None,
    secret: str | None = None,
    password: str | None = None,
    options: Mapping[str, Any] | None = None,
    timeout_ms: int = 10_000,
    enable_rate_limit: bool = True,
    map_errors: bool = True,
    sandbox: bool = False,
) -> ccxt_async.Exchange:
    """Create an ``ccxt.async_support`` exchange, optionally pointed at ``base_url``.

    Parameters
    ----------
    exchange_id : str
        ccxt id, e.g. ``binance`` or ``binanceusdm``.
    base_url : str, optional
        ``http://127.0.0.1:PORT`` for the emulator; None keeps ccxt's URLs.
    api_key, secret : str, optional
        Credentials; the caller reads them from the environment variables its config names.
    password : str, optional
        The key's passphrase, where the venue has one (OKX).
    options : mapping, optional
        ccxt options merged over carry's defaults.
    timeout_ms : int
        ccxt request timeout; no answer within it raises ``RequestTimeout``.
    enable_rate_limit : bool
        ccxt's client-side throttle (turn off in fast tests).
    map_errors : bool
        Apply `map_errors_on_any_host` when a base URL is given.
    sandbox : bool
        Switch ccxt's sandbox (testnet/demo) mode on before pointing at ``base_url``; for OKX this is
        what sends the ``x-simulated-trading: 1`` header of demo trading.

    Returns
    -------
    ccxt.async_support.Exchange
        Close it with ``await exchange.close()``.
    """
    cls = getattr(ccxt_async, exchange_id)
    exchange = cls(_config(exchange_id, api_key, secret, password, options, timeout_ms, enable_rate_limit))
    _point(exchange, base_url, sandbox, map_errors)
    send_exp_time_as_header(exchange)
    return cast(ccxt_async.Exchange, exchange)


def create_sync_exchange(
    exchange_id: str,
    base_url: str | None = None,
    *,
    api_key: str | None = None,
    secret: str | None = None,
    password: str | None = None,
    options: Mapping[str, Any] | None = None,
    timeout_ms: int = 10_000,
    enable_rate_limit: bool = True,
    map_errors: bool = True,
    sandbox: bool = False,
) -> ccxt.Exchange:
    """Create a synchronous ccxt exchange; parameters as in `create_async_exchange`."""
    cls = getattr(ccxt, exchange_id)
    exchange = cls(_config(exchange_id, api_key, secret, password, options, timeout_ms, enable_rate_limit))
    _point(exchange, base_url, sandbox, map_errors)
    send_exp_time_as_header(exchange)
    return cast(ccxt.Exchange, exchange)
