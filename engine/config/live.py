"""The deployment config of a paper, testnet or live run (``configs/paper/*.toml``, ``configs/live/*.toml``).

Safety rules enforced here, at load time (DESIGN.md, reliability rule 8):

- ``environment`` is explicit: ``paper`` (nautilus Sandbox fills on the venue's testnet market data, no
  order is ever sent), ``testnet`` (real orders on the venue's testnet or demo), ``live``.
- In ``paper`` and ``testnet`` every URL must be loopback or one of the venue's documented testnet/demo
  hosts (`TESTNET_HOSTS`); anything else is refused with a message naming the host. Without a
  ``base_url`` the venue client switches ccxt into its sandbox (testnet) tables, and the node builder checks
  every resolved host again (`check_hosts`).
- API keys are referenced by the NAMES of environment variables (``api_key_env``); the values are read at
  node build time only (`read_credentials`) and never stored on a model, logged or journaled.
- ``live`` additionally needs ``--confirm-live`` on the command line (checked by the command, not here).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from engine.config.base import StrictModel, load_toml
from engine.config.risk import RiskSettings
from engine.config.strategy import SpotPerpCarrySettings
from engine.errors import CarryError, ConfigError

Environment = Literal["paper", "testnet", "live"]
ExchangeId = Literal["binance", "binanceusdm", "bybit", "okx"]
ClientKind = Literal["ccxt", "native"]

# The venues' documented testnet / demo REST hosts (ccxt's ``urls['test']`` / ``urls['demo']`` tables).
# OKX's demo trading uses its production host with the ``x-simulated-trading: 1`` header, so an OKX URL is
# only accepted on loopback; without a base URL ccxt's sandbox mode adds that header (checked at build).
# ccxt's Binance classes share one URL table (spot, USD-M, COIN-M), so both take Binance's testnet hosts.
_BINANCE_TESTNETS = frozenset(
    {
        "testnet.binance.vision",
        "testnet.binancefuture.com",
        "demo-api.binance.com",
        "demo-fapi.binance.com",
        "demo-dapi.binance.com",
        # websocket streams of the same testnets
        "stream.testnet.binance.vision",
        "ws-api.testnet.binance.vision",
        "fstream.binancefuture.com",
        "stream.binancefuture.com",
        "demo-fstream.binance.com",
        "dstream.binancefuture.com",
        "demo-stream.binance.com",
        "demo-ws-api.binance.com",
    }
)
TESTNET_HOSTS: dict[str, frozenset[str]] = {
    "binance": _BINANCE_TESTNETS,
    "binanceusdm": _BINANCE_TESTNETS,
    "bybit": frozenset(
        {"api-testnet.bybit.com", "api-demo.bybit.com", "stream-testnet.bybit.com", "stream-demo.bybit.com"}
    ),
    "okx": frozenset(),
}
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# The venue nautilus's native adapter fixes for each exchange (None: the config chooses, see
# `engine.venues.native`).
NATIVE_FIXED_VENUE: dict[str, str | None] = {
    "binance": None,
    "binanceusdm": None,
    "bybit": "BYBIT",
    "okx": "OKX",
}


class UnsafeHostError(ConfigError, ValueError):
    """A paper or testnet config (or the client built from it) points at a host that is not allowed."""


class MissingCredentialsError(CarryError):
    """An environment variable named in the config is not set (the message names the variable)."""


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is a loopback name or address (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_allowed(exchange: str, host: str) -> bool:
    """Whether a paper/testnet client of ``exchange`` may talk to ``host``."""
    return is_loopback(host) or host.lower() in TESTNET_HOSTS.get(exchange, frozenset())


def check_hosts(exchange: str, environment: Environment, urls: Iterable[str], where: str) -> None:
    """Refuse any non-loopback, non-testnet host when ``environment`` is paper or testnet.

    Parameters
    ----------
    exchange : str
        ccxt exchange id.
    environment : {"paper", "testnet", "live"}
        Live allows any host.
    urls : iterable of str
        Every URL the client may call.
    where : str
        Names the config field or client in the message.

    Raises
    ------
    UnsafeHostError
        Naming the first offending host.
    """
    if environment == "live":
        return
    for url in urls:
        host = urlsplit(url).hostname or ""
        if not host_allowed(exchange, host):
            allowed = [*sorted(TESTNET_HOSTS.get(exchange, frozenset())), "loopback"]
            raise UnsafeHostError(
                f"{where}: host {host!r} is not a testnet/demo host of {exchange} "
                f"(allowed in {environment} mode: {', '.join(allowed)}); refusing to reach a mainnet host"
            )


class VenueSettings(StrictModel):
    """One leg's venue: which exchange, how to reach it, which market, where its keys are.

    ``venue`` is the nautilus venue id (``BINANCE``); instrument ids are ``<SYMBOL>.<venue>`` with the
    venue's raw symbol (``BTCUSDT``) for spot and ``<raw>-PERP`` for perpetuals, as in backtests.
    """

    venue: str = Field(min_length=1, pattern=r"^[A-Z0-9_]+$")
    exchange: ExchangeId
    client: ClientKind = "ccxt"
    symbol: str = Field(min_length=3, description="ccxt unified symbol, e.g. BTC/USDT or BTC/USDT:USDT")
    base_url: str | None = None
    market_data: Literal["rest", "ws"] = Field(
        default="rest",
        description="market data by REST polling, or by ccxt.pro websockets (quotes, trades, marks, funding)",
    )
    ws_base_url: str | None = Field(
        default=None, description="websocket host override (default: from base_url)"
    )
    api_key_env: str | None = None
    api_secret_env: str | None = None
    api_passphrase_env: str | None = None
    poll_interval_secs: float = Field(default=1.0, gt=0, le=60)
    timeout_ms: int = Field(default=10_000, ge=100, le=120_000)
    starting_balances: list[str] = Field(default_factory=list, description="paper only, e.g. '1000 USDT'")

    @field_validator("api_key_env", "api_secret_env", "api_passphrase_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError(
                "must be the NAME of an environment variable (upper case, digits, _), never the key itself"
            )
        return v

    @field_validator("base_url", "ws_base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise ValueError(f"not an http(s)/ws(s) URL: {v!r}")
        return v.rstrip("/")

    @field_validator("starting_balances")
    @classmethod
    def _balances(cls, v: list[str]) -> list[str]:
        for item in v:
            amount, _, ccy = item.partition(" ")
            try:
                ok = Decimal(amount) >= 0 and bool(re.fullmatch(r"[A-Z0-9]{2,10}", ccy))
            except ArithmeticError:
                ok = False
            if not ok:
                raise ValueError(f"balance {item!r} is not '<amount> <CURRENCY>'")
        return v

    @property
    def is_perp(self) -> bool:
        """A ccxt swap symbol (``BASE/QUOTE:SETTLE``)."""
        return ":" in self.symbol

    @model_validator(mode="after")
    def _native(self) -> VenueSettings:
        if self.client != "native":
            return self
        if (self.exchange == "binance") == self.is_perp and self.exchange.startswith("binance"):
            raise ValueError(
                f"client = 'native': exchange {self.exchange!r} does not trade {self.symbol!r} "
                "(Binance spot is 'binance', USD-M is 'binanceusdm')"
            )
        fixed = NATIVE_FIXED_VENUE[self.exchange]
        if fixed is not None and self.venue != fixed:
            raise ValueError(
                f"venue must be {fixed!r} with client = 'native' (nautilus's {self.exchange} adapter names "
                f"its venue {fixed}), not {self.venue!r}"
            )
        okx_keys = (self.api_key_env, self.api_secret_env, self.api_passphrase_env)
        if self.exchange == "okx" and None in okx_keys:
            raise ValueError(
                "client = 'native': nautilus's OKX adapter needs API keys even for market data (paper mode "
                "too); set api_key_env, api_secret_env and api_passphrase_env"
            )
        if self.exchange == "okx" and self.is_perp:
            raise ValueError(
                "client = 'native': nautilus's OKX swaps count size in contracts and carry sizes legs in "
                "base units; use client = 'ccxt' for an OKX perpetual"
            )
        return self


class RunSettings(StrictModel):
    """Name and folder of the run: the journal (by default) and the kill-switch file live there."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    dir: Path = Path("runs/live")


class JournalSettings(StrictModel):
    """An SQLAlchemy URL, or empty for ``journal.sqlite`` in the run folder."""

    url: str | None = None


class NodeSettings(StrictModel):
    """TradingNode timeouts (seconds) and log level."""

    timeout_connection: float = Field(default=30.0, gt=0)
    timeout_reconciliation: float = Field(default=30.0, gt=0)
    timeout_post_stop: float = Field(default=2.0, ge=0)
    stop_drain_secs: float = Field(default=5.0, ge=0, description="time for exit orders before stopping")
    log_level: str = "WARNING"
    kill_poll_secs: float = Field(default=0.5, gt=0)
    rate_limit_reducing_secs: float = Field(
        default=10.0, gt=0, description="a venue answering only 429s this long moves the node to REDUCING"
    )
    reconciliation_lookback_mins: int = Field(
        default=1440, ge=1, description="closed orders and fills read back at start (restart recovery)"
    )


class LiveConfig(StrictModel):
    """A paper / testnet / live deployment: environment, the two legs' venues, strategy, journal."""

    environment: Environment
    run: RunSettings
    spot: VenueSettings
    perp: VenueSettings
    strategy: SpotPerpCarrySettings
    risk: RiskSettings = RiskSettings()  # read by the risk gate/controller installed at the node hook
    journal: JournalSettings = JournalSettings()
    node: NodeSettings = NodeSettings()

    @model_validator(mode="after")
    def _safe(self) -> LiveConfig:
        if self.spot.venue == self.perp.venue:
            raise ValueError(f"spot.venue and perp.venue must differ (both {self.spot.venue!r})")
        if self.spot.is_perp:
            raise ValueError(f"spot.symbol {self.spot.symbol!r} is a swap symbol; expected BASE/QUOTE")
        if not self.perp.is_perp:
            raise ValueError(f"perp.symbol {self.perp.symbol!r} is not a swap symbol BASE/QUOTE:SETTLE")
        for leg_name, leg in (("spot", self.spot), ("perp", self.perp)):
            for field_name in ("base_url", "ws_base_url"):
                url = getattr(leg, field_name)
                if url is not None:
                    check_hosts(leg.exchange, self.environment, [url], f"{leg_name}.{field_name}")
            if self.environment != "paper" and (leg.api_key_env is None or leg.api_secret_env is None):
                raise ValueError(
                    f"{leg_name}: api_key_env and api_secret_env are required in {self.environment}"
                )
            if self.environment != "paper" and leg.starting_balances:
                raise ValueError(f"{leg_name}.starting_balances is for paper mode only")
            if self.environment == "paper" and not leg.starting_balances:
                raise ValueError(f"{leg_name}.starting_balances is required in paper mode (Sandbox account)")
        return self

    @property
    def kill_file(self) -> Path:
        """The kill-switch flag the node watches (`carry kill` writes it)."""
        return self.run.dir / "KILL"

    def journal_url(self) -> str:
        """The journal's URL (default ``sqlite:///<run.dir>/journal.sqlite``)."""
        return self.journal.url or f"sqlite:///{self.run.dir / 'journal.sqlite'}"


@dataclass(frozen=True)
class Credentials:
    """API credentials read from the environment; ``repr`` never shows them."""

    api_key: str | None
    secret: str | None
    password: str | None = None

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"

    __str__ = __repr__


def read_credentials(leg: VenueSettings, environ: Mapping[str, str] | None = None) -> Credentials:
    """Read a leg's keys from the environment variables its config names (at node build time only).

    Raises
    ------
    MissingCredentialsError
        Naming the variable that is not set (never a value).
    """
    env = os.environ if environ is None else environ
    values: list[str | None] = []
    for name in (leg.api_key_env, leg.api_secret_env, leg.api_passphrase_env):
        if name is None:
            values.append(None)
            continue
        value = env.get(name)
        if not value:
            raise MissingCredentialsError(f"environment variable {name} (named by the config) is not set")
        values.append(value)
    return Credentials(values[0], values[1], values[2])


def load_live_config(path: str | Path) -> LiveConfig:
    """Load and validate a paper/testnet/live TOML; errors name the file and the field (or the host)."""
    return load_toml(path, LiveConfig)
