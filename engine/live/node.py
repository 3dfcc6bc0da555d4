"""Assemble and run a nautilus TradingNode for paper, testnet or live trading.

One code path for every mode; only the clients differ:

============  ===========================================  =============================================
environment   market data                                  execution
============  ===========================================  =============================================
``paper``     `CcxtDataClient` on the testnet / emulator   nautilus ``SandboxExecutionClient`` (no order
                                                           is ever sent to a venue)
``testnet``   `CcxtDataClient` on the testnet / demo       `CcxtExecutionClient` on the testnet / demo
``live``      `CcxtDataClient` on the venue                `CcxtExecutionClient` on the venue
============  ===========================================  =============================================

A leg with ``client = "native"`` uses nautilus's own Binance / Bybit / OKX adapter instead of the ccxt
clients (`engine.venues.native`); the Sandbox still fills in paper mode, and the strategy and the gate do not
change.

Start: credentials are read from the environment (names from the config), markets are loaded (instruments
go into the cache before any client connects), the strategy comes from `engine.strategy_factory`, the
`JournalRecorder` listens on the node's message bus (durable journal), and the pre-trade gate hook
``install_gate(kernel)`` runs. nautilus then connects the clients and reconciles every execution client
(orders, fills, positions, balances) before the trader starts; if that fails, `LiveRun.start` raises
`StartupError` naming the venue and the error, and nothing is traded.

Stop (SIGINT/SIGTERM, ``--duration``, or the kill-switch file ``<run.dir>/KILL``): the node sends its reason
to the risk controller (``CarryRisk.wind_down``), which goes REDUCING; while the node still runs, the
strategy's exit (``close_on_stop``, always on the kill switch) unwinds the carry clip by clip (hedge on
fills), then every order
still open is canceled and waited for; only then is the node stopped (nautilus stops its engines right
after a strategy's ``on_stop``, see `engine.backtest.runner`). Any order still not closed is journaled as
``OPEN_AT_STOP`` so none is left unjournaled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import ccxt.async_support as ccxt_async
import msgspec
from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.config import LiveExecEngineConfig, LoggingConfig, TradingNodeConfig
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.execution_client import LiveExecutionClient
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.instruments import CryptoPerpetual, Instrument
from nautilus_trader.system.kernel import NautilusKernel

from engine.accounting import spot_perp_equity
from engine.config.live import Credentials, LiveConfig, VenueSettings, read_credentials
from engine.errors import CarryError
from engine.journal.journal import Journal
from engine.recorder import JournalRecorder
from engine.records import TOPIC_RISK, RiskRecord
from engine.strategy_factory import spot_perp_carry_config
from engine.venues.ccxt_data import CcxtDataClient
from engine.venues.ccxt_exec import CcxtExecutionClient
from engine.venues.connect import open_exchange, open_ws_exchange
from engine.venues.errors import VenueError, retry_read
from engine.venues.health import TOPIC_VENUE_HEALTH, RateLimitMonitor, VenueHealthRecord
from engine.venues.instruments import DEFAULT_MARGIN_INIT, DEFAULT_MARGIN_MAINT, VenueMarket, market_for
from engine.venues.native import NativeAdapterError, NativeClients, QuoteFeed, native_clients
from engine.venues.native import create_data_client as native_data_client
from engine.venues.native import create_exec_client as native_exec_client
from engine.venues.native import load_instrument as load_native_instrument
from risk.controller import RiskController
from risk.gate import WIND_DOWN_ENDPOINT
from risk.mirror import SlotSpec, slot_spec
from strategies.spot_perp_carry import SpotPerpCarry

STRATEGY_NAME = "SpotPerpCarry"
GateInstaller = Callable[[NautilusKernel], None]


class StartupError(CarryError):
    """The node could not start: a venue unreachable, markets missing, or reconciliation failed."""


def risk_slot(instrument: Instrument) -> SlotSpec:
    """The risk slot of a leg's instrument.

    nautilus's native Binance perpetuals carry margin rates of 1 (its adapter ignores the venue's values);
    the gate then uses the rates the ccxt path uses (Binance BTCUSDT's first leverage bracket).
    """
    if isinstance(instrument, CryptoPerpetual) and instrument.margin_maint >= 1:
        return slot_spec(instrument, mmr=float(DEFAULT_MARGIN_MAINT), imr=float(DEFAULT_MARGIN_INIT))
    return slot_spec(instrument)


def risk_gate(cfg: LiveConfig, instruments: list[Instrument]) -> GateInstaller:
    """The node's pre-trade gate: carry's RiskController (and its gate on the bus) over ``instruments``."""

    def install(kernel: NautilusKernel) -> None:
        controller = RiskController(cfg.risk, [risk_slot(i) for i in instruments])
        kernel.trader.add_actor(controller)
        controller.attach(kernel)

    return install


@dataclass
class LiveRun:
    """A built node and what belongs to it; `start`, `wait`, `stop` run it on its loop."""

    config: LiveConfig
    node: TradingNode
    loop: asyncio.AbstractEventLoop
    strategy: SpotPerpCarry
    journal: Journal
    recorder: JournalRecorder
    run_id: str
    markets: dict[str, VenueMarket]
    exchanges: list[ccxt_async.Exchange]
    data_clients: list[LiveMarketDataClient]
    exec_clients: list[LiveExecutionClient]
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str = "stop"
    _run_task: asyncio.Task[None] | None = None

    @property
    def kernel(self) -> NautilusKernel:
        """The node's kernel."""
        return self.node.kernel

    # -- start ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the node; return once the trader runs (reconciled), else raise `StartupError`."""
        self._run_task = self.loop.create_task(self.node.run_async(), name="carry-node")
        cfg = self.config.node
        deadline = time.monotonic() + cfg.timeout_connection + cfg.timeout_reconciliation + 5.0
        while not self.node.trader.is_running:
            failed = [c.reconciliation_error for c in self.exec_clients if isinstance(c, CcxtExecutionClient)]
            errors = [e for e in failed if e]
            if errors:
                raise StartupError("reconciliation failed, refusing to start: " + "; ".join(errors))
            if self._run_task.done():
                exc = self._run_task.exception()
                raise StartupError(f"node stopped while starting: {exc!r}")
            if time.monotonic() > deadline:
                raise StartupError(
                    "node did not start (venue connection or reconciliation timed out); nothing was traded"
                )
            await asyncio.sleep(0.05)

    # -- wait -----------------------------------------------------------------------------------------

    async def wait(self, duration_secs: float | None) -> str:
        """Run until the duration ends, a signal arrives, or the kill file appears; return why."""
        kill_file = self.config.kill_file
        end = None if duration_secs is None else time.monotonic() + duration_secs
        while not self.stop_event.is_set():
            if kill_file.exists():
                self.stop_reason = "kill_switch"
                break
            if end is not None and time.monotonic() >= end:
                self.stop_reason = "duration"
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=self.config.node.kill_poll_secs)
        return self.stop_reason

    # -- stop -----------------------------------------------------------------------------------------

    async def stop(self) -> str:
        """Exit (if configured), cancel what is open while the node runs, stop it; journal leftovers."""
        strategy = self.strategy
        drain = self.config.node.stop_drain_secs
        if self.node.trader.is_running:
            # No new risk while stopping: the risk controller goes REDUCING (the gate then passes only
            # risk-reducing orders) and tells the strategies, which exit when their config says so.
            self.kernel.msgbus.send(WIND_DOWN_ENDPOINT, self.stop_reason)
            if self.config.strategy.close_on_stop or self.stop_reason == "kill_switch":
                strategy.request_exit(self.stop_reason)
                await self._until(lambda: strategy.is_flat, drain)
            for iid in (strategy.spot_id, strategy.perp_id):
                strategy.cancel_all_orders(iid)
            # In flight (submitted, not yet acknowledged) counts too: an IOC leg the cancel cannot reach
            # still fills, and the strategy must see that fill to hedge it before the node stops.
            cache = self.kernel.cache
            await self._until(lambda: not (cache.orders_open() or cache.orders_inflight()), drain)
        await self.node.stop_async()
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
        leftovers = self._journal_leftovers()
        end_ns = self.kernel.clock.timestamp_ns()
        self.recorder.snapshot_equity(end_ns)
        status = "KILLED" if self.stop_reason == "kill_switch" else "COMPLETED"
        if leftovers:
            status += "_OPEN_ORDERS"  # orders still open at the venue: journaled, and flagged for the desk
        self.journal.finish_run(self.run_id, status, end_ns=end_ns)
        for exchange in self.exchanges:
            await exchange.close()
        return status

    async def _until(self, done: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.05)
        return True

    def _journal_leftovers(self) -> list[str]:
        """Journal every order the node still holds open (none should be): OPEN_AT_STOP."""
        left: list[str] = []
        now = self.kernel.clock.timestamp_ns()
        for order in self.kernel.cache.orders():
            if order.is_closed:
                continue
            left.append(order.client_order_id.value)
            self.journal.record_order_event(
                self.run_id,
                now,
                order.client_order_id.value,
                "OPEN_AT_STOP",
                f"status {order.status_string()}",
            )
        return left

    def dispose(self) -> None:
        """Release the node (call after `stop`, outside the loop) and close the journal."""
        self.journal.close()
        if not self.loop.is_closed():
            # Finish what is still scheduled (executor workers, client tasks) before the loop closes.
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.node.dispose()


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _redacted_config(cfg: LiveConfig) -> str:
    """The config as JSON: only the names of credential variables are in it, never values."""
    return json.dumps(json.loads(cfg.model_dump_json()))


async def _load_market(exchange: ccxt_async.Exchange, leg: VenueSettings) -> VenueMarket:
    try:
        markets = await retry_read(lambda: exchange.load_markets(), exchange=exchange)
    except VenueError as exc:
        raise StartupError(
            f"{leg.venue} ({leg.exchange}): cannot load markets: {type(exc).__name__}: {exc}"
        ) from exc
    return market_for(markets, leg.symbol, leg.venue, int(exchange.precisionMode))


def build_node(
    cfg: LiveConfig,
    *,
    install_gate: GateInstaller | None = None,
    environ: dict[str, str] | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    enable_rate_limit: bool = True,
) -> LiveRun:
    """Build the TradingNode of ``cfg`` (clients, strategy, journal recorder, gate); not started.

    Parameters
    ----------
    cfg : LiveConfig
        The validated deployment config (``live`` must have been confirmed by the caller).
    install_gate : callable, optional
        ``install_gate(kernel)`` is called once the node is built, before it starts; by default carry's
        risk controller and pre-trade gate (see ``risk_gate``), which replace the ``RiskEngine.execute``
        endpoint there. Tests may pass another installer; there is no way to run without one.
    environ : dict, optional
        Where credentials are read (default ``os.environ``).
    loop : asyncio.AbstractEventLoop, optional
        The node's loop (default a new one).
    enable_rate_limit : bool
        ccxt's client-side throttle.

    Raises
    ------
    StartupError
        A venue's markets cannot be loaded or the symbol is missing.
    """
    loop = loop or asyncio.new_event_loop()
    legs = {"spot": cfg.spot, "perp": cfg.perp}
    # Credentials and hosts are checked, and ccxt markets loaded, before any node exists.
    exchanges, markets = _open_ccxt_legs(cfg, legs, loop, environ, enable_rate_limit)
    natives = {
        name: native_clients(leg, cfg.environment, _credentials(cfg, leg, environ))
        for name, leg in legs.items()
        if leg.client == "native"
    }

    cfg.run.dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        cfg.kill_file.unlink()  # a stale kill flag from an earlier run must not stop this one at once
    node = TradingNode(config=_node_config(cfg), loop=loop)
    node.build()  # no client configs: carry registers its clients directly below
    kernel = node.kernel
    kernel.msgbus.subscribe(topic=TOPIC_VENUE_HEALTH, handler=lambda rec: _on_venue_health(kernel, rec))

    data_clients: list[LiveMarketDataClient] = []
    exec_clients: list[LiveExecutionClient] = []
    instruments: dict[str, Instrument] = {}
    try:
        for name, leg in legs.items():
            if name in natives:
                dc, ec, instruments[name] = _native_leg(cfg, name, natives[name], kernel, loop)
            else:
                dc, ec = _ccxt_leg(
                    cfg, name, leg, exchanges[name], markets[name], kernel, loop, enable_rate_limit
                )
                instruments[name] = markets[name].instrument
            kernel.data_engine.register_client(dc)
            kernel.exec_engine.register_client(ec)
            data_clients.append(dc)
            exec_clients.append(ec)
    except BaseException:
        for exchange in exchanges.values():
            loop.run_until_complete(exchange.close())
        node.dispose()
        raise

    spot, perp = instruments["spot"], instruments["perp"]
    if natives:
        node.trader.add_actor(QuoteFeed([instruments[name].id for name in natives]))
    # Restart recovery: orders and fills read back from the venues at start are claimed by the strategy (not
    # nautilus's EXTERNAL strategy), so it adopts the positions they built and hedges any imbalance.
    strategy_cfg = msgspec.structs.replace(
        spot_perp_carry_config(cfg.strategy, spot, perp), external_order_claims=[spot.id, perp.id]
    )
    strategy = SpotPerpCarry(strategy_cfg)
    node.trader.add_strategy(strategy)

    journal = Journal(cfg.journal_url(), durable=True)
    run_id = f"{cfg.run.name}-{cfg.environment}-{_utc_stamp()}"
    journal.start_run(run_id, STRATEGY_NAME, cfg.environment, _redacted_config(cfg), start_ns=time.time_ns())

    equity = spot_perp_equity(kernel.cache, kernel.portfolio, spot, perp)
    recorder = JournalRecorder(journal, run_id, kernel.msgbus, kernel.cache, equity)

    # ---- PRE-TRADE GATE HOOK ------------------------------------------------------------------------
    # The risk gate installs itself on the kernel's message bus here (it replaces the RiskEngine.execute
    # endpoint), after every client and the strategy are registered and before anything starts.
    (install_gate or risk_gate(cfg, [spot, perp]))(kernel)
    if WIND_DOWN_ENDPOINT not in kernel.msgbus.endpoints():
        node.dispose()
        raise StartupError(f"the pre-trade gate installer did not register {WIND_DOWN_ENDPOINT}")
    # -------------------------------------------------------------------------------------------------

    return LiveRun(
        config=cfg,
        node=node,
        loop=loop,
        strategy=strategy,
        journal=journal,
        recorder=recorder,
        run_id=run_id,
        markets=markets,
        exchanges=list(exchanges.values()),
        data_clients=data_clients,
        exec_clients=exec_clients,
    )


def _credentials(cfg: LiveConfig, leg: VenueSettings, environ: dict[str, str] | None) -> Credentials | None:
    # Paper mode reads public market data only: keys are neither needed nor read, except by nautilus's native
    # OKX adapter, which insists on them for market data too.
    native_okx = leg.client == "native" and leg.exchange == "okx"
    return None if cfg.environment == "paper" and not native_okx else read_credentials(leg, environ)


def _open_ccxt_legs(
    cfg: LiveConfig,
    legs: dict[str, VenueSettings],
    loop: asyncio.AbstractEventLoop,
    environ: dict[str, str] | None,
    enable_rate_limit: bool,
) -> tuple[dict[str, ccxt_async.Exchange], dict[str, VenueMarket]]:
    """Open the ccxt legs' exchanges and load their markets (closing them all if one fails)."""
    exchanges: dict[str, ccxt_async.Exchange] = {}
    markets: dict[str, VenueMarket] = {}
    try:
        for name, leg in legs.items():
            if leg.client != "ccxt":
                continue
            creds = _credentials(cfg, leg, environ)
            exchanges[name] = open_exchange(leg, cfg.environment, creds, enable_rate_limit=enable_rate_limit)
            markets[name] = loop.run_until_complete(_load_market(exchanges[name], leg))
    except BaseException:
        for exchange in exchanges.values():
            loop.run_until_complete(exchange.close())
        raise
    return exchanges, markets


def _node_config(cfg: LiveConfig) -> TradingNodeConfig:
    return TradingNodeConfig(
        trader_id="CARRY-001",
        logging=LoggingConfig(log_level=cfg.node.log_level, log_colors=False),
        exec_engine=LiveExecEngineConfig(
            reconciliation=True,
            reconciliation_lookback_mins=cfg.node.reconciliation_lookback_mins,
            reconciliation_startup_delay_secs=0.0,
            # Our clients resolve orders of unknown outcome themselves (lookup by client order id, never a
            # resend); nautilus's in-flight check would mark them failed after a few queries.
            inflight_check_interval_ms=0,
        ),
        timeout_connection=cfg.node.timeout_connection,
        timeout_reconciliation=cfg.node.timeout_reconciliation,
        timeout_portfolio=5.0,
        timeout_disconnection=2.0,
        timeout_post_stop=cfg.node.timeout_post_stop,
        timeout_shutdown=2.0,
    )


def _sandbox(
    name: str, leg: VenueSettings, kernel: NautilusKernel, loop: asyncio.AbstractEventLoop
) -> LiveExecutionClient:
    """Paper fills: nautilus's Sandbox on the leg's market data; no order is ever sent to a venue."""
    return SandboxExecutionClient(
        loop=loop,
        portfolio=kernel.portfolio,
        msgbus=kernel.msgbus,
        cache=kernel.cache,
        clock=kernel.clock,
        config=SandboxExecutionClientConfig(
            venue=leg.venue,
            starting_balances=list(leg.starting_balances),
            oms_type="NETTING",
            account_type="MARGIN" if name == "perp" else "CASH",
        ),
    )


def _ccxt_leg(
    cfg: LiveConfig,
    name: str,
    leg: VenueSettings,
    exchange: ccxt_async.Exchange,
    market: VenueMarket,
    kernel: NautilusKernel,
    loop: asyncio.AbstractEventLoop,
    enable_rate_limit: bool,
) -> tuple[LiveMarketDataClient, LiveExecutionClient]:
    """A ccxt leg's data client and execution client (Sandbox in paper mode), sharing a health monitor."""
    kernel.cache.add_instrument(market.instrument)
    health = RateLimitMonitor(
        leg.venue,
        cfg.node.rate_limit_reducing_secs,
        lambda rec: kernel.msgbus.publish(TOPIC_VENUE_HEALTH, rec),
        kernel.clock.timestamp_ns,
    )
    ws = (
        open_ws_exchange(leg, cfg.environment, enable_rate_limit=enable_rate_limit)
        if leg.market_data == "ws"
        else None
    )
    dc = CcxtDataClient(
        loop, exchange, market, kernel.msgbus, kernel.cache, kernel.clock, leg.poll_interval_secs, False, ws
    )
    dc.health = health
    if cfg.environment == "paper":
        return dc, _sandbox(name, leg, kernel, loop)
    ec = CcxtExecutionClient(
        loop, exchange, [market], kernel.msgbus, kernel.cache, kernel.clock, leg.poll_interval_secs, False
    )
    ec.health = health
    return dc, ec


def _native_leg(
    cfg: LiveConfig,
    name: str,
    clients: NativeClients,
    kernel: NautilusKernel,
    loop: asyncio.AbstractEventLoop,
) -> tuple[LiveMarketDataClient, LiveExecutionClient, Instrument]:
    """A native leg's clients; its instrument is loaded now through the adapter's own provider."""
    leg = clients.leg
    try:
        # nautilus's pyo3 clients raise ValueError on a bad setting (e.g. a key they require) when built.
        dc = native_data_client(clients, loop, kernel.msgbus, kernel.cache, kernel.clock)
        instrument = loop.run_until_complete(load_native_instrument(dc, clients.instrument_id))
    except (NativeAdapterError, ValueError) as exc:
        raise StartupError(f"{leg.venue} ({leg.exchange}, native): {exc}") from exc
    kernel.cache.add_instrument(instrument)
    if cfg.environment == "paper":
        return dc, _sandbox(name, leg, kernel, loop), instrument
    ec = native_exec_client(clients, loop, kernel.msgbus, kernel.cache, kernel.clock)
    return dc, ec, instrument


def _on_venue_health(kernel: NautilusKernel, rec: VenueHealthRecord) -> None:
    """Journal a venue's health change. The risk controller, the one writer of the trading state, hears
    the same record and goes REDUCING during a persistent rate-limit storm and back once it is over."""
    figures = {"streak_secs": rec.streak_secs, "rate_limited_answers": float(rec.rate_limited_answers)}
    kernel.msgbus.publish(
        TOPIC_RISK, RiskRecord(rec.ts_ns, "venue_health", f"{rec.venue} {rec.state}", figures)
    )


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended."""

    run_id: str
    status: str
    reason: str
    journal_url: str
    orders: int
    fills: int


def run_live(
    cfg: LiveConfig,
    duration_secs: float | None = None,
    *,
    install_gate: GateInstaller | None = None,
    environ: dict[str, str] | None = None,
    handle_signals: bool = True,
    on_started: Callable[[LiveRun], None] | None = None,
) -> RunOutcome:
    """Build, start, run and cleanly stop a node (the ``carry paper`` / ``carry live`` commands).

    Raises
    ------
    StartupError
        When the node could not start (the node is stopped and the journal closed first).
    """
    run = build_node(cfg, install_gate=install_gate, environ=environ)
    loop = run.loop
    signals = (signal.SIGINT, signal.SIGTERM)
    if handle_signals:
        for sig in signals:
            loop.add_signal_handler(sig, run.stop_event.set)
    try:
        try:
            loop.run_until_complete(run.start())
        except StartupError:
            run.stop_reason = "startup_failed"
            loop.run_until_complete(_stop_quietly(run))
            run.journal.finish_run(run.run_id, "FAILED_TO_START")
            raise
        if on_started is not None:
            on_started(run)
        reason = loop.run_until_complete(run.wait(duration_secs))
        status = loop.run_until_complete(run.stop())
    finally:
        if handle_signals:
            for sig in signals:
                loop.remove_signal_handler(sig)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        run.dispose()
    return RunOutcome(run.run_id, status, reason, run.journal.url, run.recorder.orders, run.recorder.fills)


async def _stop_quietly(run: LiveRun) -> None:
    await run.node.stop_async()
    if run._run_task is not None:
        run._run_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run._run_task
    for exchange in run.exchanges:
        await exchange.close()


def kill_file_for(cfg: LiveConfig) -> Path:
    """Where `carry kill` writes the kill-switch flag for ``cfg``'s run."""
    return cfg.kill_file
