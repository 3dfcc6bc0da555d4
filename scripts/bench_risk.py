"""Benchmark of the risk kernels: latency of one pre-trade check and start-up cost with a warm cache.

Usage::

    .venv/bin/python scripts/bench_risk.py [--quick]

Prints, for books of 10, 200 and 2,000 positions over 10 venues, the p50 and p99 latency of one
pre-trade check of a carry pair (spot buy + perp sell) called from Python with preallocated arrays,
the same for the plain-Python reference measured in the same run, and the speedup; then the start-up
cost (import + loading every compiled kernel from the numba cache + one call) measured in a fresh
subprocess run twice, the second run reported. Writes nothing.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from risk import kernels, reference  # noqa: E402
from risk.book import (  # noqa: E402
    DECISION_NAMES,
    KIND_FUTURE,
    KIND_PERP,
    KIND_SPOT,
    Book,
    LimitArrays,
    MarginTier,
    OpenOrder,
    Position,
    Venue,
    build_book,
    build_limits,
    make_work,
)

N_VENUES = 10
N_ASSETS = 20
TIERS = (
    MarginTier(50_000.0, 0.004, 0.0),
    MarginTier(250_000.0, 0.005, 50.0),
    MarginTier(1e12, 0.01, 1_300.0),
)


def make_book(n_positions: int, seed: int = 7) -> tuple[Book, LimitArrays, int, int]:
    """A book of ``n_positions`` slots over 10 venues, a spot slot and a perp slot of asset 0 first."""
    rng = random.Random(seed)
    positions = [
        Position(0, 0, KIND_SPOT, 2.0, 60_000.0, 58_000.0),
        Position(
            1, 0, KIND_PERP, -2.0, 60_050.0, 59_000.0, mmr=0.004, imr=0.05, funding_rate=1e-4, tiers=TIERS
        ),
    ]
    while len(positions) < n_positions:
        kind = rng.choice([KIND_SPOT, KIND_PERP, KIND_PERP, KIND_FUTURE])
        mark = rng.uniform(1.0, 70_000.0)
        positions.append(
            Position(
                venue=rng.randrange(N_VENUES),
                asset=rng.randrange(N_ASSETS),
                kind=kind,
                qty=rng.uniform(-5.0, 5.0),
                mark=mark,
                entry=mark * rng.uniform(0.9, 1.1),
                multiplier=0.1 if kind == KIND_FUTURE else 1.0,
                mmr=0.005 if kind != KIND_SPOT else 0.0,
                imr=0.05 if kind != KIND_SPOT else 0.0,
                isolated=kind != KIND_SPOT and rng.random() < 0.2,
                isolated_margin=mark * 0.5,
                funding_rate=rng.uniform(-3e-4, 3e-4) if kind == KIND_PERP else 0.0,
                tiers=TIERS if kind == KIND_PERP and rng.random() < 0.5 else (),
            )
        )
    orders = [
        OpenOrder(
            rng.randrange(N_VENUES),
            rng.randrange(N_ASSETS),
            KIND_PERP,
            rng.uniform(-1, 1),
            1_000.0,
            1.0,
            0.05,
        )
        for _ in range(20)
    ]
    venues = [Venue(5_000_000.0) for _ in range(N_VENUES)]
    book = build_book(positions, venues, orders, n_assets=N_ASSETS)
    limits = build_limits(
        N_VENUES,
        N_ASSETS,
        exposure_usd=1e12,
        exposure_share=1.0,
        headroom_floor=0.3,
        min_liquidation_distance_pct=10.0,
        max_abs_net_delta=1e6,
        max_funding_drag_usd=1e9,
        horizon_hours=72.0,
        shocks=(-0.2, -0.1, 0.1, 0.2),
        shock_headroom_floor=0.0,
    )
    return book, limits, 0, 1


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    """p50 and p99 in microseconds."""
    s = sorted(samples_ns)
    return s[len(s) // 2] / 1e3, s[min(len(s) - 1, int(len(s) * 0.99))] / 1e3


def time_calls(call: object, repeats: int) -> list[int]:
    """Time ``repeats`` calls of a zero-argument callable, one perf_counter_ns pair per call."""
    fn = call  # local for speed
    clock = time.perf_counter_ns
    out = []
    for _ in range(repeats):
        t0 = clock()
        fn()  # type: ignore[operator]
        out.append(clock() - t0)
    return out


def bench_size(n_positions: int, repeats: int, ref_repeats: int) -> dict[str, float | str]:
    book, limits, spot, perp = make_book(n_positions)
    ints, floats = book.ints, book.floats
    work = make_work(book, limits)
    args = (ints, floats, work, spot, 0.5, 60_010.0, perp, -0.5, 60_040.0)
    check = kernels.pretrade_check
    code = check(*args)
    ref_code = reference.pretrade_check(*args)
    if code != ref_code:
        raise SystemExit(f"kernel and reference disagree at {n_positions} positions: {code} vs {ref_code}")

    gate = kernels.PreTradeGate(book, limits)
    clock = time.perf_counter_ns
    kernel_ns, gate_ns = [], []
    # The calls are written out in the timed loops (no wrapper function) so that the figures are those
    # of the call an integrator writes: the raw kernel with preallocated arrays, and the gate method.
    for _ in range(repeats):
        t0 = clock()
        check(ints, floats, work, spot, 0.5, 60_010.0, perp, -0.5, 60_040.0)
        kernel_ns.append(clock() - t0)
    check_pair = gate.check_pair
    for _ in range(repeats):
        t0 = clock()
        check_pair(spot, 0.5, 60_010.0, perp, -0.5, 60_040.0)
        gate_ns.append(clock() - t0)

    def ref_call() -> int:
        return reference.pretrade_check(*args)

    empty_ns = []
    for _ in range(repeats):
        t0 = clock()
        empty_ns.append(clock() - t0)
    empty = percentiles(empty_ns)[0]  # the clock's own cost, included in every figure
    k50, k99 = percentiles(kernel_ns)
    g50, g99 = percentiles(gate_ns)
    r50, r99 = percentiles(time_calls(ref_call, ref_repeats))
    return {
        "positions": n_positions,
        "decision": DECISION_NAMES[code],
        "kernel_p50": k50,
        "kernel_p99": k99,
        "gate_p50": g50,
        "gate_p99": g99,
        "ref_p50": r50,
        "ref_p99": r99,
        "speedup_p50": r50 / k50,
        "empty_p50": empty,
    }


STARTUP = """
import time
t0 = time.perf_counter()
from risk.warmup import warm_up_kernels
warm_up_kernels()
print(time.perf_counter() - t0)
"""


def startup_seconds() -> tuple[float, float, float]:
    """Run the start-up script twice in fresh interpreters; return (first, second, second wall)."""
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", STARTUP], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        runs.append((float(out.strip().splitlines()[-1]), time.perf_counter() - t0))
    return runs[0][0], runs[1][0], runs[1][1]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    opts = parser.parse_args()
    repeats = 2_000 if opts.quick else 50_000
    first, second, wall = startup_seconds()
    print("risk pre-trade check, carry pair (spot buy + perp sell), 10 venues, 20 assets, 4 shocks")
    print(
        f"{'positions':>9} {'decision':>9} {'kernel p50/p99 us':>18} {'gate p50/p99 us':>16} "
        f"{'reference p50/p99 us':>21} {'speedup p50':>11}"
    )
    for n in (10, 200, 2_000):
        ref_repeats = max(20, min(2_000, 200_000 // n)) if not opts.quick else 50
        r = bench_size(n, repeats, ref_repeats)
        print(
            f"{r['positions']:>9} {r['decision']:>9} {r['kernel_p50']:>8.2f} / {r['kernel_p99']:<7.2f} "
            f"{r['gate_p50']:>7.2f} / {r['gate_p99']:<6.2f} {r['ref_p50']:>10.1f} / {r['ref_p99']:<8.1f} "
            f"{r['speedup_p50']:>10.0f}x"
        )
    print(f"timer overhead (empty timed region) p50: {r['empty_p50']:.2f} us, included in the figures above")
    print(
        f"start-up in a fresh interpreter (import + load every kernel + first calls): "
        f"first run {first:.2f} s (compiles when the numba cache is cold), "
        f"second run {second:.2f} s (warm cache; whole interpreter {wall:.2f} s)"
    )


if __name__ == "__main__":
    main()
