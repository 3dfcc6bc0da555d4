"""Internal latency of the live node: a quote reaching the data client -> the order leaving the exec client.

A TradingNode is built from ``configs/paper/emulator.toml`` in ``testnet`` mode against the loopback emulator
(so the ccxt execution client is in the path), with a strategy that answers every spot quote with a limit
order far from the market. The orders are IOC, as carry's legs are: they expire at once and nothing rests.
(``--resting``: GTC instead, so every order stays open; nautilus's RiskEngine checks each new order against
the notional of all open orders on its instrument, a cost that grows with the number resting.) Two
instrumentation hooks time the path:

- t0: `CcxtDataClient` has the venue's answer in hand (``perf_counter_ns`` right after the REST call
  returns, before conversion to a ``QuoteTick``);
- t1: `CcxtExecutionClient` is about to hand the order to ccxt (``create_order``).

So t1 - t0 covers conversion, the live data engine's queue, the strategy, the RiskEngine, the execution
engine's queue and the client's submit task; it excludes the network. The baseline, measured in the same
run on the same loop, is one bare asyncio ``call_soon`` hop. Target: p50 < 1 ms.

The emulator runs as its own process (``carry emulator``), as a venue is: the node's process does only the
node's work. ``--emulator thread`` runs it on a thread of the node's process instead (the test harness's
shape); its replay and HTTP serving then share the node's GIL and show up in the node's latency.

    .venv/bin/python scripts/bench_paper.py [--orders 300] [--emulator process|thread] [--resting]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.trading.strategy import Strategy

from engine.config.live import LiveConfig
from engine.live.node import build_node
from engine.paths import PROJECT_ROOT, data_root
from engine.venues.ccxt_exec import CcxtExecutionClient
from engine.venues.emulator import EmulatorThread, load_recording

KEY, SECRET = "emulator-key", "emulator-secret"  # the emulator's default account


class QuoteResponderConfig(StrategyConfig, frozen=True):
    """Which instrument to answer, how many orders to send, and whether they rest (GTC) or expire (IOC)."""

    instrument_id: InstrumentId
    orders: int
    resting: bool = False


class QuoteResponder(Strategy):
    """Sends one far-from-market limit buy per quote, up to ``orders``: IOC (expires at once) or GTC."""

    def __init__(self, config: QuoteResponderConfig) -> None:
        super().__init__(config)
        self.iid = config.instrument_id
        self.limit = config.orders
        self.tif = TimeInForce.GTC if config.resting else TimeInForce.IOC
        self.trigger: dict[ClientOrderId, int] = {}
        self.decided: dict[ClientOrderId, int] = {}  # perf_counter_ns when the strategy saw the quote

    def on_start(self) -> None:
        """Subscribe to the spot quotes."""
        self.subscribe_quote_ticks(self.iid)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        """Answer the quote with an order (remember which quote triggered it)."""
        if len(self.trigger) >= self.limit:
            return
        t = time.perf_counter_ns()
        inst = self.cache.instrument(self.iid)
        order = self.order_factory.limit(
            self.iid,
            OrderSide.BUY,
            inst.make_qty(Decimal("0.001")),
            inst.make_price(Decimal("20000")),
            time_in_force=self.tif,
        )
        self.trigger[order.client_order_id] = tick.ts_init
        self.decided[order.client_order_id] = t
        self.submit_order(order)


def _config(base_url: str) -> LiveConfig:
    raw = tomllib.loads((PROJECT_ROOT / "configs/paper/emulator.toml").read_text())
    raw["environment"] = "testnet"
    raw["run"]["dir"] = "/tmp/carry-bench-paper"
    raw["node"] = raw["node"] | {"log_level": "ERROR"}
    raw["strategy"] = raw["strategy"] | {
        "entry_basis_bps": 10_000.0,
        "exit_basis_bps": -10_000.0,
    }  # never trades
    for leg in ("spot", "perp"):
        raw[leg].pop("starting_balances")
        raw[leg] |= {"base_url": base_url, "api_key_env": "BENCH_KEY", "api_secret_env": "BENCH_SECRET"}
        raw[leg]["poll_interval_secs"] = 0.02  # under nautilus's 100 submits/s RiskEngine throttle
    return LiveConfig.model_validate(raw)


def _stamp(fut: asyncio.Future[int]) -> None:
    fut.set_result(time.perf_counter_ns())


async def _hop_baseline(n: int = 2000) -> list[float]:
    loop = asyncio.get_running_loop()
    out = []
    for _ in range(n):
        fut: asyncio.Future[int] = loop.create_future()
        t0 = time.perf_counter_ns()
        loop.call_soon(_stamp, fut)
        out.append((await fut - t0) / 1e6)
    return out


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


@contextmanager
def _emulator_process(files: list[Path]) -> Iterator[str]:
    """``carry emulator`` on a free loopback port in its own process; yields its base URL."""
    cmd = [sys.executable, "-m", "engine.cli", "emulator", "--port", "0"]
    for f in files:
        cmd += ["--data", str(f)]
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on " not in line:
            raise RuntimeError(f"emulator did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def _emulator_thread(files: list[Path]) -> Iterator[str]:
    """The emulator on a thread of this process; yields its base URL."""
    with EmulatorThread(recording=load_recording(files)) as emu:
        yield emu.base_url


def _measure(
    base_url: str, orders: int, resting: bool
) -> tuple[list[float], QuoteResponder, dict[int, int], dict[ClientOrderId, int]]:
    """Run the node against ``base_url`` until ``orders`` orders left; return the baseline and the stamps."""
    run = build_node(_config(base_url), environ={"BENCH_KEY": KEY, "BENCH_SECRET": SECRET})
    spot_dc = next(dc for dc in run.data_clients if dc.market.instrument.id == run.strategy.spot_id)
    spot_ec = next(
        ec
        for ec in run.exec_clients
        if isinstance(ec, CcxtExecutionClient) and run.strategy.spot_id in ec.markets
    )
    received: dict[int, int] = {}
    sent: dict[ClientOrderId, int] = {}
    spot_dc.on_quote = lambda q, t0: received.__setitem__(q.ts_init, t0)
    spot_ec.on_send = lambda coid, t1: sent.__setitem__(coid, t1)
    responder = QuoteResponder(
        QuoteResponderConfig(instrument_id=run.strategy.spot_id, orders=orders, resting=resting)
    )
    run.node.trader.add_strategy(responder)
    loop = run.loop
    baseline = loop.run_until_complete(_hop_baseline())
    loop.run_until_complete(run.start())

    async def until_done() -> None:
        end = time.monotonic() + 60
        while len(sent) < orders and time.monotonic() < end:
            await asyncio.sleep(0.1)

    loop.run_until_complete(until_done())
    loop.run_until_complete(run.stop())
    run.dispose()
    return baseline, responder, received, sent


def main() -> None:
    """Run the benchmark and print p50/p99 against the baseline."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--emulator", choices=("process", "thread"), default="process")
    parser.add_argument("--resting", action="store_true", help="GTC orders that stay open (default IOC)")
    args = parser.parse_args()
    d = data_root() / "binance"
    files = [d / "binance_spot_btcusdt_20230405.ndjson.gz", d / "binance_usdm_btcusdt_20230405.ndjson.gz"]
    emulator = _emulator_process if args.emulator == "process" else _emulator_thread
    with emulator(files) as base_url:
        baseline, responder, received, sent = _measure(base_url, args.orders, args.resting)
    pairs = [(c, ts) for c, ts in responder.trigger.items() if c in sent and ts in received]
    lat = [(sent[c] - received[ts]) / 1e6 for c, ts in pairs]
    to_strategy = [(responder.decided[c] - received[ts]) / 1e6 for c, ts in pairs]
    to_send = [(sent[c] - responder.decided[c]) / 1e6 for c, _ in pairs]
    p50 = _pct(lat, 0.5)
    b50 = statistics.median(baseline)

    def line(what: str, values: list[float]) -> str:
        return f"{what}: p50 {_pct(values, 0.5):.3f} ms, p99 {_pct(values, 0.99):.3f} ms"

    shape = "GTC, resting" if args.resting else "IOC, expiring"
    print(f"emulator: {args.emulator}; orders: {shape}; samples: {len(lat)} (of {args.orders})")
    print(f"baseline asyncio call_soon hop: p50 {b50 * 1e3:.1f} us, p99 {_pct(baseline, 0.99) * 1e3:.1f} us")
    print(line("quote at data client -> order at ccxt", lat) + f" (p50 = {p50 / b50:.0f}x baseline)")
    print(line("  of which data client -> strategy", to_strategy))
    print(line("  of which strategy -> ccxt create_order", to_send))
    print(f"target p50 < 1 ms: {'met' if p50 < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
