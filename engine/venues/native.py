"""nautilus's own Binance, Bybit and OKX adapters as carry legs (``client = "native"`` in the config).

The strategy and the risk gate do not change: a native leg gives them the same nautilus objects (an
instrument, quotes, mark / index / funding updates, order events) under the same kind of instrument id.

How each exchange maps (nautilus 1.231):

==============  ===================================  =================================================
exchange        instrument ids                       venue
==============  ===================================  =================================================
``binance``     ``BTCUSDT.<venue>``                  any (``BinanceDataClientConfig.venue``): spot and
``binanceusdm`` ``BTCUSDT-PERP.<venue>``             USD-M are separate Binance wallets, one per leg
``bybit``       ``BTCUSDT-SPOT.BYBIT`` /             ``BYBIT`` only (its adapter fixes the venue)
                ``BTCUSDT-LINEAR.BYBIT``
``okx``         ``BTC-USDT.OKX``                     ``OKX`` only; spot legs only (see below)
==============  ===================================  =================================================

- nautilus's USD-M data client publishes the mark from Binance's ``markPrice`` stream but not the index
  and funding rate the same message carries, and does not implement index / funding subscriptions;
  `CarryBinanceFuturesDataClient` publishes all three from that one stream.
- nautilus's OKX swap instruments count size in contracts (``BTC-USDT-SWAP``: 0.01 BTC); carry sizes
  legs in base units, so a native OKX perpetual leg is refused at config load (use ``client = "ccxt"``,
  which converts).
- Bybit and OKX put spot and perpetual on one venue (their unified account); carry keeps one account per
  leg, so at most one leg of a config can be a native Bybit (or OKX) leg.
- nautilus's Binance spot execution client gets its user data over Binance's WebSocket API (``session.logon``,
  ``userDataStream.subscribe``) at its config's ``base_url_ws``: on a loopback host that is the emulator's
  ``/ws-api/v3``, else nautilus's WebSocket API host for the environment (never the market streams' host).
  Binance's ``session.logon`` takes Ed25519 keys only; the emulator also takes HMAC keys.
- nautilus's clients stream quotes only when subscribed, carry's strategies read them from the cache:
  `QuoteFeed` subscribes for the native legs.
- Environments: ``paper`` and ``testnet`` use the adapters' TESTNET (Binance, Bybit) or DEMO (OKX) enum,
  ``live`` their production one; every URL a client will use is checked like the ccxt clients'.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from nautilus_trader.adapters.binance.common.enums import BinanceAccountType, BinanceEnvironment
from nautilus_trader.adapters.binance.common.urls import (
    get_http_base_url,
    get_ws_api_base_url,
    get_ws_base_url,
    get_ws_public_base_url,
)
from nautilus_trader.adapters.binance.config import BinanceDataClientConfig, BinanceExecClientConfig
from nautilus_trader.adapters.binance.factories import (
    BinanceLiveDataClientFactory,
    BinanceLiveExecClientFactory,
    get_cached_binance_futures_instrument_provider,
    get_cached_binance_http_client,
)
from nautilus_trader.adapters.binance.futures.data import BinanceFuturesDataClient
from nautilus_trader.adapters.binance.futures.types import BinanceFuturesMarkPriceUpdate
from nautilus_trader.adapters.binance.http.error import BinanceError
from nautilus_trader.adapters.bybit import (
    BybitDataClientConfig,
    BybitExecClientConfig,
    BybitLiveDataClientFactory,
    BybitLiveExecClientFactory,
)
from nautilus_trader.adapters.okx import (
    OKXDataClientConfig,
    OKXExecClientConfig,
    OKXLiveDataClientFactory,
    OKXLiveExecClientFactory,
)
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.config import ActorConfig, InstrumentProviderConfig
from nautilus_trader.core import nautilus_pyo3
from nautilus_trader.data.messages import (
    SubscribeFundingRates,
    SubscribeIndexPrices,
    SubscribeMarkPrices,
    UnsubscribeFundingRates,
    UnsubscribeIndexPrices,
    UnsubscribeMarkPrices,
)
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.execution_client import LiveExecutionClient
from nautilus_trader.model.data import FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.instruments import Instrument

from engine.config.live import Credentials, Environment, VenueSettings, check_hosts, is_loopback
from engine.errors import CarryError

BINANCE_FUNDING_INTERVAL_MIN = 480


class NativeAdapterError(CarryError):
    """A native adapter cannot serve the leg as configured (the message names the leg and why)."""


def _base_quote(symbol: str) -> tuple[str, str]:
    pair = symbol.partition(":")[0]
    base, _, quote = pair.partition("/")
    if not base or not quote:
        raise NativeAdapterError(f"symbol {symbol!r} is not a ccxt BASE/QUOTE[:SETTLE] symbol")
    return base, quote


def native_instrument_id(leg: VenueSettings) -> InstrumentId:
    """The id nautilus's native adapter gives ``leg``'s market (see the module table)."""
    base, quote = _base_quote(leg.symbol)
    if leg.exchange in ("binance", "binanceusdm"):
        symbol = f"{base}{quote}-PERP" if leg.is_perp else f"{base}{quote}"
    elif leg.exchange == "bybit":
        symbol = f"{base}{quote}-{'LINEAR' if leg.is_perp else 'SPOT'}"
    else:
        symbol = f"{base}-{quote}-SWAP" if leg.is_perp else f"{base}-{quote}"
    return InstrumentId.from_str(f"{symbol}.{leg.venue}")


@dataclass(frozen=True)
class NativeClients:
    """What the node needs to run one native leg.

    Attributes
    ----------
    instrument_id : InstrumentId
        The leg's instrument, as the adapter names it.
    data_config, exec_config
        The adapter's client configs (``exec_config`` None in paper mode: the Sandbox fills).
    urls : tuple of str
        Every base URL the clients will use (checked against the environment).
    """

    leg: VenueSettings
    instrument_id: InstrumentId
    data_config: Any
    exec_config: Any | None
    urls: tuple[str, ...]


def _ws_of(url: str | None) -> str | None:
    if url is None:
        return None
    return url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


def _loopback_ws_api(ws: str | None) -> str | None:
    """The emulator's Binance spot WebSocket API on ``ws``'s loopback host (``/ws-api/v3``), else None.

    nautilus's spot execution client takes its user data from the WebSocket API at the exec config's
    ``base_url_ws``; a market-stream URL there would not answer. None lets nautilus choose Binance's WebSocket
    API host for the environment.
    """
    if ws is None:
        return None
    parts = urlsplit(ws)
    if not is_loopback(parts.hostname or ""):
        return None
    return f"{parts.scheme}://{parts.netloc}/ws-api/v3"


def _binance(leg: VenueSettings, env: Environment, creds: Credentials, iid: InstrumentId) -> NativeClients:
    account = BinanceAccountType.USDT_FUTURES if leg.is_perp else BinanceAccountType.SPOT
    environment = BinanceEnvironment.LIVE if env == "live" else BinanceEnvironment.TESTNET
    ws = leg.ws_base_url or _ws_of(leg.base_url)
    providers = InstrumentProviderConfig(load_ids=frozenset([iid]))
    common: dict[str, Any] = {
        "venue": Venue(leg.venue),
        "account_type": account,
        "environment": environment,
        "base_url_http": leg.base_url,
        "base_url_ws": ws,
        "instrument_provider": providers,
    }
    data = BinanceDataClientConfig(**common)
    execution = None
    urls = [
        leg.base_url or get_http_base_url(account, environment, False),
        ws or get_ws_base_url(account, environment, False),
        ws or get_ws_public_base_url(account, environment, False),
    ]
    if env != "paper":
        # Spot user data come over Binance's WebSocket API, not the market streams' host.
        ws_api = None if leg.is_perp else _loopback_ws_api(ws)
        execution = BinanceExecClientConfig(
            # max_retries unset: nautilus does not resend an order placement (an unknown outcome).
            **(common | {"base_url_ws": ws if leg.is_perp else ws_api}),
            # USD-M user-data stream (REST listenKey with HMAC keys): <ws>?listenKey=..., as the data side.
            base_url_ws_stream=ws if leg.is_perp else None,
            api_key=creds.api_key,
            api_secret=creds.secret,
        )
        if not leg.is_perp:
            urls.append(ws_api or get_ws_api_base_url(account, environment, False))
    return NativeClients(leg, iid, data, execution, tuple(urls))


def _bybit(leg: VenueSettings, env: Environment, creds: Credentials, iid: InstrumentId) -> NativeClients:
    product = nautilus_pyo3.BybitProductType.LINEAR if leg.is_perp else nautilus_pyo3.BybitProductType.SPOT
    environment = (
        nautilus_pyo3.BybitEnvironment.MAINNET if env == "live" else nautilus_pyo3.BybitEnvironment.TESTNET
    )
    providers = InstrumentProviderConfig(load_ids=frozenset([iid]))
    data = BybitDataClientConfig(
        api_key=creds.api_key,
        api_secret=creds.secret,
        product_types=(product,),
        environment=environment,
        base_url_http=leg.base_url,
        instrument_provider=providers,
    )
    execution = None
    if env != "paper":
        execution = BybitExecClientConfig(
            api_key=creds.api_key,
            api_secret=creds.secret,
            product_types=(product,),
            environment=environment,
            base_url_http=leg.base_url,
            instrument_provider=providers,
        )
    urls = (leg.base_url or nautilus_pyo3.get_bybit_http_base_url(environment),)
    return NativeClients(leg, iid, data, execution, urls)


def _okx_ws(url: str | None, endpoint: str) -> str | None:
    """The URL of one OKX websocket endpoint (``public`` for data, ``private`` for execution) on ``url``.

    nautilus's OKX clients connect to ``base_url_ws`` as given (and derive ``/ws/v5/business`` from it), while
    carry's ``ws_base_url`` / ``base_url`` name a host: a URL without a path gets OKX's ``/ws/v5/<endpoint>``.
    """
    if url is None or urlsplit(url).path not in ("", "/"):
        return url
    return f"{url.rstrip('/')}/ws/v5/{endpoint}"


def _okx(leg: VenueSettings, env: Environment, creds: Credentials, iid: InstrumentId) -> NativeClients:
    environment = nautilus_pyo3.OKXEnvironment.LIVE if env == "live" else nautilus_pyo3.OKXEnvironment.DEMO
    spot = nautilus_pyo3.OKXInstrumentType.SPOT
    providers = InstrumentProviderConfig(load_ids=frozenset([iid]))
    common: dict[str, Any] = {
        "api_key": creds.api_key,
        "api_secret": creds.secret,
        "api_passphrase": creds.password,
        "instrument_types": (spot,),
        "environment": environment,
        "base_url_http": leg.base_url,
        "instrument_provider": providers,
    }
    ws = leg.ws_base_url or _ws_of(leg.base_url)
    data = OKXDataClientConfig(**common, base_url_ws=_okx_ws(ws, "public"))
    execution = OKXExecClientConfig(**common, base_url_ws=_okx_ws(ws, "private")) if env != "paper" else None
    # OKX demo trading is the production host with the simulated-trading flag (environment DEMO above),
    # as for the ccxt client; only explicit URLs are host-checked.
    urls = tuple(u for u in (leg.base_url, leg.ws_base_url) if u is not None)
    return NativeClients(leg, iid, data, execution, urls)


def native_clients(leg: VenueSettings, environment: Environment, creds: Credentials | None) -> NativeClients:
    """The native adapter configs of ``leg`` for ``environment``; every URL host-checked.

    Raises
    ------
    UnsafeHostError
        A paper/testnet client would reach a host that is neither loopback nor a testnet/demo host.
    """
    creds = creds or Credentials(None, None)
    iid = native_instrument_id(leg)
    build = {"binance": _binance, "binanceusdm": _binance, "bybit": _bybit, "okx": _okx}[leg.exchange]
    clients = build(leg, environment, creds, iid)
    check_hosts(leg.exchange, environment, clients.urls, f"{leg.venue} ({leg.exchange}) native client")
    return clients


class CarryBinanceFuturesDataClient(BinanceFuturesDataClient):
    """nautilus's Binance USD-M data client, publishing index and funding from the mark-price stream.

    Binance's ``<symbol>@markPrice`` message carries mark, index, funding rate and next funding time; the
    parent client turns it into a `MarkPriceUpdate` (and its own custom data type) only. Mark, index and
    funding subscriptions here share that one stream.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mark_stream_users: dict[InstrumentId, set[str]] = {}

    def _handle_mark_price_data(self, data: Any) -> None:
        iid = self._get_cached_instrument_id(data.s)
        update: BinanceFuturesMarkPriceUpdate = data.parse_to_binance_futures_mark_price_update(
            instrument_id=iid, ts_init=self._clock.timestamp_ns()
        )
        # Exact integer ns: nautilus's parse goes through float milliseconds (off by up to ~100 ns).
        ts_event, ts_init = int(data.E) * 1_000_000, update.ts_init
        self._handle_data(MarkPriceUpdate(iid, update.mark, ts_event, ts_init))
        self._handle_data(IndexPriceUpdate(iid, update.index, ts_event, ts_init))
        self._handle_data(
            FundingRateUpdate(
                iid,
                Decimal(update.funding_rate),
                ts_event=ts_event,
                ts_init=ts_init,
                interval=BINANCE_FUNDING_INTERVAL_MIN,
                next_funding_ns=update.next_funding_ns or None,
            )
        )

    async def _use_mark_stream(self, iid: InstrumentId, user: str) -> None:
        users = self._mark_stream_users.setdefault(iid, set())
        if not users:
            await self._ws_client.subscribe_mark_price(iid.symbol.value, speed=1000)
        users.add(user)

    async def _release_mark_stream(self, iid: InstrumentId, user: str) -> None:
        users = self._mark_stream_users.get(iid, set())
        users.discard(user)
        if not users:
            await self._ws_client.unsubscribe_mark_price(iid.symbol.value, speed=1000)

    async def _subscribe_mark_prices(self, command: SubscribeMarkPrices) -> None:
        await self._use_mark_stream(command.instrument_id, "mark")

    async def _subscribe_index_prices(self, command: SubscribeIndexPrices) -> None:
        await self._use_mark_stream(command.instrument_id, "index")

    async def _subscribe_funding_rates(self, command: SubscribeFundingRates) -> None:
        await self._use_mark_stream(command.instrument_id, "funding")

    async def _unsubscribe_mark_prices(self, command: UnsubscribeMarkPrices) -> None:
        await self._release_mark_stream(command.instrument_id, "mark")

    async def _unsubscribe_index_prices(self, command: UnsubscribeIndexPrices) -> None:
        await self._release_mark_stream(command.instrument_id, "index")

    async def _unsubscribe_funding_rates(self, command: UnsubscribeFundingRates) -> None:
        await self._release_mark_stream(command.instrument_id, "funding")


def _binance_futures_data_client(
    loop: asyncio.AbstractEventLoop,
    name: str,
    config: BinanceDataClientConfig,
    msgbus: MessageBus,
    cache: Cache,
    clock: LiveClock,
) -> CarryBinanceFuturesDataClient:
    """`CarryBinanceFuturesDataClient` wired as nautilus's factory wires its parent (non-LIVE URLs)."""
    environment = config.environment or BinanceEnvironment.LIVE
    client = get_cached_binance_http_client(
        clock=clock,
        account_type=config.account_type,
        api_key=config.api_key,
        api_secret=config.api_secret,
        base_url=config.base_url_http,
        environment=environment,
    )
    provider = get_cached_binance_futures_instrument_provider(
        client=client,
        clock=clock,
        account_type=config.account_type,
        config=config.instrument_provider,
        venue=config.venue,
    )
    ws = config.base_url_ws
    return CarryBinanceFuturesDataClient(
        loop=loop,
        client=client,
        msgbus=msgbus,
        cache=cache,
        clock=clock,
        instrument_provider=provider,
        account_type=config.account_type,
        base_url_ws=ws or get_ws_base_url(config.account_type, environment, False),
        name=name,
        config=config,
        base_url_ws_public=ws or get_ws_public_base_url(config.account_type, environment, False),
    )


def create_data_client(
    clients: NativeClients,
    loop: asyncio.AbstractEventLoop,
    msgbus: MessageBus,
    cache: Cache,
    clock: LiveClock,
) -> LiveMarketDataClient:
    """The leg's native data client (client id = the leg's venue)."""
    name = clients.leg.venue
    cfg = clients.data_config
    if isinstance(cfg, BinanceDataClientConfig):
        if cfg.account_type.is_futures:
            return _binance_futures_data_client(loop, name, cfg, msgbus, cache, clock)
        return BinanceLiveDataClientFactory.create(loop, name, cfg, msgbus, cache, clock)
    if isinstance(cfg, BybitDataClientConfig):
        return BybitLiveDataClientFactory.create(loop, name, cfg, msgbus, cache, clock)
    return OKXLiveDataClientFactory.create(loop, name, cfg, msgbus, cache, clock)


def create_exec_client(
    clients: NativeClients,
    loop: asyncio.AbstractEventLoop,
    msgbus: MessageBus,
    cache: Cache,
    clock: LiveClock,
) -> LiveExecutionClient:
    """The leg's native execution client (testnet and live only)."""
    cfg = clients.exec_config
    if cfg is None:
        raise NativeAdapterError(f"{clients.leg.venue}: no execution client in paper mode (Sandbox fills)")
    name = clients.leg.venue
    if isinstance(cfg, BinanceExecClientConfig):
        return BinanceLiveExecClientFactory.create(loop, name, cfg, msgbus, cache, clock)
    if isinstance(cfg, BybitExecClientConfig):
        return BybitLiveExecClientFactory.create(loop, name, cfg, msgbus, cache, clock)
    return OKXLiveExecClientFactory.create(loop, name, cfg, msgbus, cache, clock)


class QuoteFeed(Actor):
    """Subscribes to the native legs' quotes, so nautilus's clients stream them into the cache.

    carry's strategies read the latest quote from the cache (no per-quote handler, the backtest's hot path);
    the ccxt clients publish quotes without a subscription, nautilus's native clients only when subscribed.
    """

    def __init__(self, instrument_ids: list[InstrumentId]) -> None:
        super().__init__(ActorConfig(component_id="NativeQuoteFeed"))
        self._ids = list(instrument_ids)

    def on_start(self) -> None:
        """Subscribe to each leg's quote ticks on its client (the venue)."""
        for iid in self._ids:
            self.subscribe_quote_ticks(iid)


async def load_instrument(client: LiveMarketDataClient, instrument_id: InstrumentId) -> Instrument:
    """Load ``instrument_id`` through the client's own instrument provider (as its connect will).

    Raises
    ------
    NativeAdapterError
        The venue does not list it.
    """
    provider = client._instrument_provider
    try:
        await provider.load_async(instrument_id)
    except KeyError as exc:  # nautilus's Binance providers index the venue's symbols by name
        raise NativeAdapterError(f"{instrument_id}: the venue's instrument list does not have it") from exc
    except (BinanceError, ValueError, RuntimeError, OSError) as exc:  # HTTP, decoding, pyo3 client errors
        raise NativeAdapterError(f"{instrument_id}: cannot load: {type(exc).__name__}: {exc}") from exc
    instrument = provider.find(instrument_id)
    if instrument is None:
        raise NativeAdapterError(f"{instrument_id}: the venue's instrument list does not have it")
    return instrument


__all__ = [
    "CarryBinanceFuturesDataClient",
    "NativeAdapterError",
    "NativeClients",
    "QuoteFeed",
    "create_data_client",
    "create_exec_client",
    "load_instrument",
    "native_clients",
    "native_instrument_id",
]
