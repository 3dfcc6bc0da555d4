"""Loader throughput: messages per second parsing the real Binance tick recordings into nautilus data.

Prints, per file and in total: lines read per second (every message, depth lines included, which are
skipped without decoding) and converted messages per second (bookTicker, trade and markPrice lines turned
into nautilus objects). The baseline measured in the same run is the bare cost of decompressing and
splitting the lines (what any loader pays before parsing).

    .venv/bin/python scripts/bench_loaders.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from isal import igzip_threaded

from engine.backtest.assembly import build_perp, build_spot
from engine.config.venues import PerpVenueConfig, SpotVenueConfig
from engine.data.binance_ws import BinanceWsLoader
from engine.paths import data_root

FILES = [
    ("binance/binance_spot_btcusdt_20230405.ndjson.gz", "spot"),
    ("binance/binance_usdm_btcusdt_20230404.ndjson.gz", "perp"),
    ("binance/binance_usdm_btcusdt_20230405.ndjson.gz", "perp"),
]


def _best(fn: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = data_root()
    inst = {"spot": build_spot(SpotVenueConfig()), "perp": build_perp(PerpVenueConfig())}
    tot_lines = tot_conv = 0
    tot_t = tot_base = 0.0
    for rel, kind in FILES:
        path: Path = root / rel

        def bare(path: Path = path) -> None:
            with igzip_threaded.open(path, "rb", threads=1) as fh:
                for _ in fh:
                    pass

        loader = BinanceWsLoader(path, inst[kind])

        def parse(path: Path = path, kind: str = kind) -> None:
            for _ in BinanceWsLoader(path, inst[kind]).chunks():
                pass

        for _ in loader.chunks():
            pass
        s = loader.stats
        converted = s.lines - s.skipped - s.bad_lines
        t_base, t = _best(bare, args.repeat), _best(parse, args.repeat)
        tot_lines, tot_conv, tot_t, tot_base = (
            tot_lines + s.lines,
            tot_conv + converted,
            tot_t + t,
            tot_base + t_base,
        )
        print(
            f"{path.name:45s} lines {s.lines:6d} converted {converted:6d}  "
            f"{s.lines / t:10,.0f} lines/s  {converted / t:10,.0f} converted msg/s  "
            f"(decompress+split alone {s.lines / t_base:10,.0f} lines/s)"
        )
    print(
        f"TOTAL lines {tot_lines} converted {tot_conv}: {tot_lines / tot_t:,.0f} lines/s, "
        f"{tot_conv / tot_t:,.0f} converted msg/s; parse costs {tot_t / tot_base:.1f}x bare decompression"
    )


if __name__ == "__main__":
    main()
