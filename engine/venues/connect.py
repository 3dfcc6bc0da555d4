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

import ccxt.async_support as ccxt_async

from engine.config.live import Credentials, Environment, UnsafeHostError, VenueSettings, check_hosts
from engine.venues.ccxt_factory import create_async_exchange

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
