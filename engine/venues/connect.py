"""Open a ccxt exchange for one configured venue leg, safely.

- ``base_url`` set: every ``urls['api']`` host is rewritten to it (the emulator, a testnet host);
- no ``base_url`` and a paper/testnet environment: ccxt's sandbox (testnet/demo) tables are switched on;
- every resolved host is then checked again against the environment (`engine.config.live.check_hosts`),
  so a paper or testnet node can never reach a mainnet host, whatever ccxt's tables say;
- ccxt's own retries are off (`engine.venues.ccxt_factory`); the credentials are passed in, read from the
  environment by the caller, and never logged.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from engine.config.live import (
    Credentials,
    Environment,
    UnsafeHostError,
    VenueSettings,
    check_hosts,
    is_loopback,
)
from engine.venues.ccxt_factory import create_async_exchange, rewrite_host

# Where each exchange takes a client order id on order lookups (ccxt's unified ``clientOrderId`` param is
# mapped to newClientOrderId / orderLinkId / clOrdId on create by ccxt itself).
LOOKUP_PARAM: dict[str, str] = {
    "binance": "origClientOrderId",
    "binanceusdm": "origClientOrderId",
    "bybit": "orderLinkId",
    "okx": "clOrdId",
}


def _all_urls(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node] if "://" in node else []
    if isinstance(node, dict):
        return [u for v in node.values() for u in _all_urls(v)]
    return []


def resolved_urls(exchange: ccxt_async.Exchange) -> list[str]:
    """Every REST URL of ``exchange.urls['api']``, with ccxt's ``{hostname}`` placeholder filled in."""
    hostname = str(getattr(exchange, "hostname", "") or "")
    return [u.replace("{hostname}", hostname) for u in _all_urls(cast(dict[str, Any], exchange.urls)["api"])]


def open_exchange(
    leg: VenueSettings,
    environment: Environment,
    credentials: Credentials | None,
    *,
    enable_rate_limit: bool = True,
) -> ccxt_async.Exchange:
    """Create the async ccxt exchange of ``leg`` for ``environment`` (not yet connected).

    Raises
    ------
    UnsafeHostError
        A paper/testnet client would reach a host that is neither loopback nor a testnet/demo host.
    """
    options: dict[str, Any] = {}
    if leg.exchange == "bybit":
        options["defaultType"] = "swap" if leg.is_perp else "spot"
    if leg.exchange == "okx":
        options["defaultType"] = "swap" if leg.is_perp else "spot"
    creds = credentials or Credentials(None, None)
    exchange = create_async_exchange(
        leg.exchange,
        leg.base_url,
        api_key=creds.api_key,
        secret=creds.secret,
        options=options,
        timeout_ms=leg.timeout_ms,
        enable_rate_limit=enable_rate_limit,
        # OKX demo trading is the production API plus a header: keep the header when pointed elsewhere
        # (the emulator checks it, as OKX does, against the key's environment).
        sandbox=leg.exchange == "okx" and leg.base_url is not None and environment != "live",
    )
    if creds.password is not None:
        exchange.password = creds.password
    if leg.base_url is None and environment != "live":
        exchange.set_sandbox_mode(True)
        if leg.exchange == "okx":
            headers = cast(dict[str, str], exchange.headers or {})
            if headers.get("x-simulated-trading") != "1":
                raise UnsafeHostError(
                    "okx: sandbox mode did not set the x-simulated-trading header; refusing (demo only)"
                )
            return exchange  # OKX demo: production host + header, checked above
    check_hosts(leg.exchange, environment, resolved_urls(exchange), f"{leg.venue} ({leg.exchange}) client")
    return exchange


def _ws_base(base_url: str) -> str:
    parts = urlsplit(base_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


# Exchanges whose stream families differ only by host (Binance: stream.binance.com spot, fstream USD-M,
# dstream COIN-M, all at /ws): on one loopback host the family must move into the path.
_FAMILY_BY_HOST = frozenset({"binance", "binanceusdm", "binancecoinm"})


def _ws_url(url: str, ws_base_url: str, family_in_path: bool) -> str:
    """``url`` on ``ws_base_url``'s host; with ``family_in_path`` the venue host's first label leads the path
    (``wss://fstream.binance.com/ws`` -> ``ws://127.0.0.1:8765/fstream/ws``, see the emulator's streams)."""
    if not family_in_path:
        return rewrite_host(url, ws_base_url)
    label = (urlsplit(url).hostname or "").split(".")[0]
    return rewrite_host(url, f"{ws_base_url.rstrip('/')}/{label}")


def _point_ws(node: Any, base_url: str | None, ws_base_url: str, family_in_path: bool = False) -> Any:
    """Rewrite a ccxt URL table: websocket entries to ``ws_base_url``'s host, REST ones to ``base_url``'s."""
    if isinstance(node, str):
        if node.startswith(("ws://", "wss://")):
            return _ws_url(node, ws_base_url, family_in_path)
        return rewrite_host(node, base_url) if base_url is not None and "://" in node else node
    if isinstance(node, dict):
        return {k: _point_ws(v, base_url, ws_base_url, family_in_path) for k, v in node.items()}
    return node


def open_ws_exchange(
    leg: VenueSettings, environment: Environment, *, enable_rate_limit: bool = True
) -> ccxt_async.Exchange:
    """A ccxt.pro exchange for ``leg``'s public websocket streams (no credentials), hosts checked as REST.

    On a loopback ``ws_base_url`` (or ``base_url``) a Binance exchange's stream hosts become path prefixes
    (``/stream/ws`` spot, ``/fstream/ws`` USD-M), which the emulator serves and ccxt.pro still reads as
    spot or futures (it tests ``'/stream' in url``).

    Raises
    ------
    UnsafeHostError
        A paper/testnet client would reach a host that is neither loopback nor a testnet/demo host.
    """
    cls = getattr(ccxt_pro, leg.exchange)
    options: dict[str, Any] = {"fetchCurrencies": False, "maxRetriesOnFailure": 0}
    if leg.exchange in ("binance", "binanceusdm"):
        options["fetchMarkets"] = {"types": ["linear" if leg.is_perp else "spot"]}
        options["fetchMargins"] = False
    if leg.exchange in ("bybit", "okx"):
        options["defaultType"] = "swap" if leg.is_perp else "spot"
    exchange = cls({"enableRateLimit": enable_rate_limit, "timeout": leg.timeout_ms, "options": options})
    if leg.base_url is None and environment != "live":
        exchange.set_sandbox_mode(True)  # REST (markets) on the testnet tables; streams overridden below
    elif leg.exchange == "okx" and environment != "live":
        # OKX demo is the production API plus a flag (REST header, ``brokerId=9999`` on stream URLs): keep
        # it when pointed elsewhere (the emulator), as `open_exchange` does; every host is rewritten below.
        exchange.set_sandbox_mode(True)
    ws_base = leg.ws_base_url or (_ws_base(leg.base_url) if leg.base_url is not None else None)
    if ws_base is not None:
        urls = cast(dict[str, Any], exchange.urls)
        # Only a loopback host (the emulator) serves every stream family on one host.
        family_in_path = leg.exchange in _FAMILY_BY_HOST and is_loopback(urlsplit(ws_base).hostname or "")
        urls["api"] = _point_ws(urls["api"], leg.base_url, _ws_base(ws_base), family_in_path)
    elif leg.exchange == "okx" and environment != "live":
        return cast(ccxt_async.Exchange, exchange)  # OKX demo streams: production host, demo flag
    check_hosts(leg.exchange, environment, resolved_urls(exchange), f"{leg.venue} ({leg.exchange}) stream")
    return cast(ccxt_async.Exchange, exchange)
