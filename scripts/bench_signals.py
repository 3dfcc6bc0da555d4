"""Signals benchmark: load and compute the signals over the whole multi-venue file and the CME file.

Measured, best of ``--repeat`` runs in one process (the first, cold run is printed too):

- ``target``: the multi-venue file (load + premium, regime, global premium, divergence, z-score for BTC
  and ETH) and the CME file (load + front/next annualized basis, which needs the Binance daily spot file,
  loaded too). Target: under 0.5 s.
- ``all signals``: ``compute_signals``, the above plus the funding history and the flow attribution
  (what ``carry signals`` computes before writing).

The baseline measured in the same run is a bare ``csv.reader`` pass over the same three files (open, split
the lines, nothing converted): the floor any loader of these files pays. Nothing is written.

    .venv/bin/python scripts/bench_signals.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable
from pathlib import Path

from engine.data.cme_daily import load_cme_daily
from engine.data.multi_venue import load_multi_venue
from engine.data.spot_daily import load_spot_daily
from engine.paths import data_root
from engine.signals.cme_basis import cme_basis, spot_close_by_day
from engine.signals.premium import premium_signals
from engine.signals.run import SignalsConfig, compute_signals

CFG = SignalsConfig()


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Return (first run, best run) seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times[0], min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = data_root()
    mv_path: Path = root / CFG.multi_venue_file
    cme_path: Path = root / CFG.cme_file
    spot_path: Path = root / CFG.spot_daily_file

    def bare() -> None:
        for p in (mv_path, cme_path, spot_path):
            with open(p, newline="") as fh:
                for _ in csv.reader(fh):
                    pass

    stages: dict[str, float] = {}

    def target() -> None:
        t0 = time.perf_counter()
        bars, _ = load_multi_venue(mv_path)
        t1 = time.perf_counter()
        prem = [premium_signals(bars, c, CFG.premium) for c in bars.cryptos]
        t2 = time.perf_counter()
        cme, _ = load_cme_daily(cme_path)
        spot, _ = load_spot_daily(spot_path)
        t3 = time.perf_counter()
        basis = cme_basis(cme, *spot_close_by_day(spot))
        t4 = time.perf_counter()
        assert len(prem) == 2 and len(basis.day) > 0
        for name, dt in (
            ("load multi-venue", t1 - t0),
            ("premium signals (BTC, ETH)", t2 - t1),
            ("load CME + daily spot", t3 - t2),
            ("CME basis (front, next)", t4 - t3),
        ):
            stages[name] = min(stages.get(name, float("inf")), dt)

    base_first, base_best = _timed(bare, args.repeat)
    tgt_first, tgt_best = _timed(target, args.repeat)
    all_first, all_best = _timed(lambda: compute_signals(root, CFG), args.repeat)

    rows = sum(len(p.read_bytes().splitlines()) for p in (mv_path, cme_path, spot_path))
    print(f"files: {mv_path.name}, {cme_path.name}, {spot_path.name} ({rows:,} lines)")
    print(f"{'stage':40s} {'best s':>8s}")
    for name, dt in stages.items():
        print(f"{name:40s} {dt:8.4f}")
    print(f"{'baseline: bare csv.reader pass':40s} {base_best:8.4f}   (first {base_first:.4f})")
    print(f"{'target: multi-venue + CME, load+compute':40s} {tgt_best:8.4f}   (first {tgt_first:.4f})")
    print(f"{'all signals (compute_signals)':40s} {all_best:8.4f}   (first {all_first:.4f})")
    print(
        f"target / baseline: {tgt_best / base_best:.2f}x; target < 0.5 s: {'yes' if tgt_best < 0.5 else 'NO'}"
    )


if __name__ == "__main__":
    main()
