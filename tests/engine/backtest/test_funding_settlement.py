"""Funding settlement on the real recordings: the right rate, mark and position at each settlement."""

from __future__ import annotations

import gzip
import json
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from engine.backtest.runner import BacktestResult
from engine.config.backtest import load_backtest_config
from engine.data.basis_1h import load_hourly_basis
from engine.data.funding_csv import load_funding_history
from engine.journal.journal import Journal
from tests.engine.backtest.conftest import HOURLY

SETTLEMENT_MS = 1_680_652_800_000  # 2023-04-05T00:00:00Z
NS_PER_HOUR = 3_600_000_000_000
EIGHT_DP = Decimal("0.00000001")


def _journal(result: BacktestResult) -> Journal:
    return Journal(f"sqlite:///{result.out_dir / 'journal.sqlite'}")


def _recorded_final_mark(path: Path) -> tuple[Decimal, Decimal]:
    """Mark and rate of the last markPrice message naming the 00:00 settlement, read from the raw file."""
    mark = rate = None
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if "markPrice" not in line[:60]:
                continue
            data = json.loads(line.split(" ", 1)[1])["data"]
            if data["T"] == SETTLEMENT_MS:
                mark, rate = Decimal(data["p"]), Decimal(data["r"])
    assert mark is not None and rate is not None
    return mark, rate


def test_tick_replay_when_carry_open_across_0000_then_exactly_one_payment_of_minus_qty_mark_rate(
    tick_run: BacktestResult, data_dir: Path
):
    payments = _journal(tick_run).funding(tick_run.run_id)
    assert len(payments) == 1
    p = payments[0]
    assert p.ts_ns == SETTLEMENT_MS * 1_000_000
    assert p.rate == Decimal("0.0000276")
    mark, rate = _recorded_final_mark(data_dir / "binance/binance_usdm_btcusdt_20230405.ndjson.gz")
    assert rate == p.rate
    assert p.mark_price == mark  # 28155.10: the message at 00:00:00.010 that still names 00:00
    assert p.position_qty == Decimal("-0.5")  # the short perp hedging 0.5 BTC spot
    assert p.amount == (-p.position_qty * mark * rate).quantize(EIGHT_DP, ROUND_HALF_EVEN)
    assert p.amount > 0  # a short receives positive funding


def test_hourly_run_when_settlement_then_recorded_rate_mark_and_open_position(
    hourly_run: BacktestResult, data_dir: Path
):
    journal = _journal(hourly_run)
    payments = journal.funding(hourly_run.run_id)
    fills = journal.fills(hourly_run.run_id)
    settlements, _ = load_funding_history(data_dir / "binance/binance_btcusdt_funding_2019_2024.csv")
    rows, _ = load_hourly_basis(data_dir / "binance/binance_btc_basis_1h_2021_2024.csv")
    rates = {s.ts_ns: s.rate for s in settlements}
    closes = {r.ts_ns + NS_PER_HOUR: r.perp_close for r in rows}  # a close is known an hour after its label
    perp_fills = [(f.ts_ns, f.qty if f.side == "BUY" else -f.qty) for f in fills if "PERP" in f.instrument_id]

    def position_at(ts: int) -> Decimal:
        return sum((q for t, q in perp_fills if t <= ts), Decimal(0))

    assert len(payments) > 100
    for p in payments:
        assert p.rate == rates[p.ts_ns], f"settlement {p.ts_ns}: rate not the recorded one"
        assert p.mark_price == closes[p.ts_ns]
        assert p.position_qty == position_at(p.ts_ns)
    # Completeness: every settlement in the window at which a position was open was paid, no other.
    run = load_backtest_config(HOURLY).run
    window = [t for t in rates if run.start_ns <= t <= run.end_ns]
    open_at = {t for t in window if position_at(t) != 0}
    assert {p.ts_ns for p in payments} == open_at
