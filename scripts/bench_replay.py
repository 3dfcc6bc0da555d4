"""Replay throughput: the full carry backtest against a bare nautilus engine on the same events.

Both replay the real Binance tick recordings (spot + USD-M perp, 2023-04-04/05) tiled back to back to about
``--events`` events, streamed from the compressed files. The baseline, measured in the same run, is a bare
nautilus BacktestEngine with the same venues, instruments and data streams and a strategy that does
nothing. The carry run is ``run_backtest`` end to end: SpotPerpCarry, funding settlement, journal, report.
Each runs in its own process so peak RSS is its own.

    .venv/bin/python scripts/bench_replay.py [--events 5000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from engine.config.backtest import BacktestConfig, load_backtest_config
from engine.paths import PROJECT_ROOT, data_root

TICKS = PROJECT_ROOT / "configs" / "backtest" / "binance_btc_ticks_20230405.toml"
EVENTS_PER_TILE = 69_841  # the three recordings' events (spot 11,159 + perp 9,259 + 49,423)
SHIFT_SECS = 540  # the recordings span 23:58:20-00:06:54 (514 s)


def tiled_config(events: int) -> BacktestConfig:
    """The tick config replayed ``ceil(events / EVENTS_PER_TILE)`` times, 540 s apart."""
    tiles = -(-events // EVENTS_PER_TILE)
    base = load_backtest_config(TICKS)
    raw = base.model_dump(mode="json")
    raw["data"].update(tile=tiles, tile_shift_secs=SHIFT_SECS)
    raw["run"]["end"] = (base.run.start + timedelta(seconds=tiles * SHIFT_SECS + 60)).isoformat()
    raw["strategy"]["max_holding_hours"] = 1_000.0
    return BacktestConfig.model_validate(raw)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_bare(cfg: BacktestConfig) -> dict[str, float]:
    """A bare engine: same venues, instruments and streams; a strategy that subscribes to nothing."""
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, StrategyConfig
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money
    from nautilus_trader.trading.strategy import Strategy

    from engine.backtest.assembly import build_perp, build_spot
    from engine.config.data import TickDataConfig
    from engine.data.binance_ws import BinanceWsLoader
    from engine.instruments import currency

    t0 = time.perf_counter()
    engine = BacktestEngine(
        BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR"), run_analysis=False)
    )
    spot, perp = build_spot(cfg.spot), build_perp(cfg.perp)
    for venue_cfg, account in ((cfg.spot, AccountType.CASH), (cfg.perp, AccountType.MARGIN)):
        balances = [Money(Decimal(v), currency(k)) for k, v in venue_cfg.starting_balances.items()]
        engine.add_venue(Venue(venue_cfg.venue), OmsType.NETTING, account, balances, base_currency=None)
    engine.add_instrument(spot)
    engine.add_instrument(perp)
    data = cfg.data
    assert isinstance(data, TickDataConfig)
    root, shift = data_root(), data.tile_shift_secs * 1_000_000_000
    loaders = []
    for name, inst, files in (("spot", spot, data.spot_files), ("perp", perp, data.perp_files)):
        pairs = [(BinanceWsLoader(root / f, inst), k * shift) for k in range(data.tile) for f in files]
        loaders += [ld for ld, _ in pairs]
        engine.add_data_iterator(name, (c for ld, s in pairs for c in ld.chunks(data.chunk_size, s)))
    engine.add_strategy(Strategy(StrategyConfig()))
    engine.run(start=cfg.run.start, end=cfg.run.end)
    wall = time.perf_counter() - t0
    events = sum(ld.stats.events for ld in loaders)
    engine.dispose()
    return {"events": events, "wall": wall, "rss_mb": _peak_rss_mb()}


def worker_carry_nogate(cfg: BacktestConfig) -> dict[str, float]:
    """The carry backtest with the risk controller replaced by a pass-through (to price the gate)."""
    from typing import Any

    from nautilus_trader.common.actor import Actor
    from nautilus_trader.config import ActorConfig

    import engine.backtest.runner as runner
    from engine.records import PairCheck

    class PassThrough(Actor):
        def __init__(self, *_: Any) -> None:
            super().__init__(ActorConfig(component_id="RiskController"))

        def attach(self, kernel: Any) -> None:
            def approve(check: PairCheck) -> None:
                check.approved, check.reason = True, "no_gate_benchmark"

            kernel.msgbus.register("CarryRisk.check_pair", approve)

        def count_liquidation(self) -> None:
            pass

        def summary(self) -> dict[str, Any]:
            return {}

    runner.RiskController = PassThrough  # type: ignore[misc,assignment]
    return worker_carry(cfg)


def worker_carry(cfg: BacktestConfig) -> dict[str, float]:
    """The full carry backtest, end to end."""
    from engine.backtest.runner import run_backtest

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = run_backtest(cfg, Path(out), data_root())
        wall = time.perf_counter() - t0
    return {
        "events": float(result.summary["events"]),  # type: ignore[arg-type]
        "wall": wall,
        "rss_mb": _peak_rss_mb(),
        "fills": float(result.summary["fills"]),  # type: ignore[arg-type]
        "funding_payments": float(result.summary["funding_payments"]),  # type: ignore[arg-type]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--worker", choices=["bare", "carry", "carry_nogate"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        cfg = tiled_config(args.events)
        workers = {"bare": worker_bare, "carry": worker_carry, "carry_nogate": worker_carry_nogate}
        out = workers[args.worker](cfg)
        print(json.dumps(out))
        return
    results = {}
    for kind in ("bare", "carry_nogate", "carry"):
        proc = subprocess.run(
            [sys.executable, __file__, "--events", str(args.events), "--worker", kind],
            check=True,
            capture_output=True,
            text=True,
        )
        results[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    bare, carry, nogate = results["bare"], results["carry"], results["carry_nogate"]
    bare_eps, carry_eps = bare["events"] / bare["wall"], carry["events"] / carry["wall"]
    nogate_eps = nogate["events"] / nogate["wall"]
    print(f"events: bare {bare['events']:,.0f}  carry {carry['events']:,.0f}")
    print(
        f"bare nautilus engine, do-nothing strategy: {bare_eps:10,.0f} events/s, "
        f"peak RSS {bare['rss_mb']:.0f} MB"
    )
    print(
        f"carry backtest (strategy, funding, journal, report): {carry_eps:10,.0f} events/s, "
        f"peak RSS {carry['rss_mb']:.0f} MB, fills {carry['fills']:.0f}, "
        f"funding payments {carry['funding_payments']:.0f}"
    )
    print(f"carry with the risk gate replaced by a pass-through: {nogate_eps:10,.0f} events/s")
    print(
        f"ratio carry/bare: {carry_eps / bare_eps:.3f} (target >= 0.85); "
        f"carry peak RSS {carry['rss_mb']:.0f} MB (target <= 1024 MB)"
    )
    print(f"gate cost: {1 - carry_eps / nogate_eps:+.1%} of replay throughput (target <= 5%)")


if __name__ == "__main__":
    main()
