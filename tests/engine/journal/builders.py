"""A small, hand-computable carry run written into a journal, shared by the journal and report tests.

One entry and one exit of a 0.5 BTC spot-perp carry on Binance, two funding settlements (one received,
one paid), one denied order, hourly market samples and equity. The figures below are worked by hand:

- fills: spot BUY 0.3 @ 28000 (fee 0.0003 BTC = 8.4 USD) at 12:00:01, spot BUY 0.2 @ 28010
  (fee 0.0002 BTC = 5.602 USD) and perp SELL 0.5 @ 28030 (fee 5.606 USDT) at 12:00:02; exit perp BUY 0.5
  @ 28100 (fee 5.62 USDT) at 10:00:01 next day, spot SELL 0.5 @ 28090 (fee 11.236 USDT) at 10:00:03.
- net base delta at each fill time: +0.3, 0, +0.5, 0 -> max |delta| = 0.5.
- price P&L of the legs: spot 14045 - 14002 = +43, perp 14015 - 14050 = -35 -> +8.
- funding: 0.5 * 28155.10000000 * 0.00002760 = +0.38854038 received; 0.5 * 28200 * -0.00001 = -0.141 paid.
- fees: -(8.4 + 5.602 + 5.606 + 5.62 + 11.236) = -36.464.
- final equity = 100000 + 8 + 0.24754038 - 36.464 = 99971.78354038, so basis P&L = +8 exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from engine.journal import Journal

RUN_ID = "bt-hand-1"
STRATEGY = "SpotPerpCarry"
SPOT = "BTCUSDT.BINANCE"
PERP = "BTCUSDT-PERP.BINANCE"
INITIAL_EQUITY = Decimal("100000")
FINAL_EQUITY = Decimal("99971.78354038")
EXPECTED_FUNDING = Decimal("0.24754038")
EXPECTED_FEES = Decimal("-36.464")
EXPECTED_BASIS = Decimal("8")
EXPECTED_MAX_DELTA = Decimal("0.5")
FUNDING_RATE_1 = Decimal("0.00002760")
MARK_1 = Decimal("28155.10000000")
CONFIG_JSON = '{"strategy": {"entry_basis_bps": 10}, "venues": {"binance": {"api_key_env": "BINANCE_KEY"}}}'

HOUR = 3_600_000_000_000
SECOND = 1_000_000_000


def ns(iso: str) -> int:
    """Nanoseconds since the epoch of an ISO UTC time like ``2023-04-04T12:00:00``."""
    dt = datetime.fromisoformat(iso).replace(tzinfo=UTC)
    return int(dt.timestamp()) * SECOND


START_NS = ns("2023-04-04T12:00:00")
END_NS = ns("2023-04-05T12:00:00")
ENTER_NS = ns("2023-04-04T12:00:00")
EXIT_NS = ns("2023-04-05T10:00:00")
SETTLE_1_NS = ns("2023-04-05T00:00:00")
SETTLE_2_NS = ns("2023-04-05T08:00:00")


def write_hand_run(journal: Journal, run_id: str = RUN_ID) -> None:
    """Write the hand-computed run into ``journal`` and finish it."""
    j = journal
    j.start_run(run_id, STRATEGY, "backtest", CONFIG_JSON, start_ns=START_NS)
    # Hourly market samples and HOLD decisions; equity flat at the initial value until the exit.
    t = START_NS
    i = 0
    while t <= END_NS:
        basis = 12.5 - 0.25 * i
        j.record_market(run_id, t, basis, 10.95 - 0.1 * i, Decimal("28000") + i, Decimal("28035") + i)
        if t not in (ENTER_NS, EXIT_NS):
            j.record_decision(run_id, t, "carry-1", "HOLD", "no signal change", {"basis_bps": basis})
        if t < EXIT_NS:
            j.record_equity(
                run_id, t, INITIAL_EQUITY, {"BINANCE": Decimal("60000"), "BINANCE_PERP": Decimal("40000")}
            )
        t += HOUR
        i += 1

    j.record_decision(
        run_id,
        ENTER_NS,
        "carry-1",
        "ENTER",
        "basis and funding above entry",
        {"basis_bps": 12.5, "apr": 10.95},
    )
    j.record_intent(run_id, ENTER_NS, "O-1", SPOT, "BUY", Decimal("0.5"), "MARKET", "P-1", "spot", "enter")
    j.record_fill(
        run_id,
        ENTER_NS + SECOND,
        "O-1",
        "BINANCE",
        "T-1",
        SPOT,
        "BUY",
        Decimal("0.3"),
        Decimal("28000.00"),
        Decimal("0.0003"),
        "BTC",
    )
    j.record_intent(
        run_id,
        ENTER_NS + SECOND,
        "O-2",
        PERP,
        "SELL",
        Decimal("0.5"),
        "MARKET",
        "P-1",
        "perp",
        "hedge spot fills",
    )
    j.record_fill(
        run_id,
        ENTER_NS + 2 * SECOND,
        "O-1",
        "BINANCE",
        "T-2",
        SPOT,
        "BUY",
        Decimal("0.2"),
        Decimal("28010.00"),
        Decimal("0.0002"),
        "BTC",
    )
    j.record_fill(
        run_id,
        ENTER_NS + 2 * SECOND,
        "O-2",
        "BINANCE_PERP",
        "T-2",
        PERP,
        "SELL",
        Decimal("0.5"),
        Decimal("28030.00"),
        Decimal("5.6060"),
        "USDT",
    )
    j.record_position(run_id, ENTER_NS + 2 * SECOND, SPOT, Decimal("0.5"), Decimal("28004.00"))
    j.record_position(run_id, ENTER_NS + 2 * SECOND, PERP, Decimal("-0.5"), Decimal("28030.00"))

    j.record_intent(
        run_id, ENTER_NS + HOUR, "O-5", SPOT, "BUY", Decimal("0.1"), "MARKET", "P-2", "spot", "add"
    )
    j.record_order_event(run_id, ENTER_NS + HOUR, "O-5", "DENIED", "venue exposure limit")
    j.record_risk_event(run_id, ENTER_NS + HOUR, "DENIAL", "venue exposure limit", {"exposure_usd": 60000.0})

    j.record_funding(
        run_id, SETTLE_1_NS, PERP, Decimal("-0.5"), MARK_1, FUNDING_RATE_1, Decimal("0.38854038"), "USDT"
    )
    j.record_funding(
        run_id,
        SETTLE_2_NS,
        PERP,
        Decimal("-0.5"),
        Decimal("28200"),
        Decimal("-0.00001"),
        Decimal("-0.141"),
        "USDT",
    )

    j.record_decision(run_id, EXIT_NS, "carry-1", "EXIT", "basis at exit threshold", {"basis_bps": 1.0})
    j.record_intent(run_id, EXIT_NS, "O-4", PERP, "BUY", Decimal("0.5"), "MARKET", "P-1", "perp", "exit")
    j.record_fill(
        run_id,
        EXIT_NS + SECOND,
        "O-4",
        "BINANCE_PERP",
        "T-3",
        PERP,
        "BUY",
        Decimal("0.5"),
        Decimal("28100"),
        Decimal("5.62"),
        "USDT",
    )
    j.record_intent(
        run_id, EXIT_NS + SECOND, "O-3", SPOT, "SELL", Decimal("0.5"), "MARKET", "P-1", "spot", "exit"
    )
    j.record_fill(
        run_id,
        EXIT_NS + 3 * SECOND,
        "O-3",
        "BINANCE",
        "T-4",
        SPOT,
        "SELL",
        Decimal("0.5"),
        Decimal("28090"),
        Decimal("11.236"),
        "USDT",
    )
    j.record_position(run_id, EXIT_NS + 3 * SECOND, SPOT, Decimal("0"), None)
    j.record_position(run_id, EXIT_NS + 3 * SECOND, PERP, Decimal("0"), None)
    j.record_equity(
        run_id,
        EXIT_NS + 3 * SECOND,
        FINAL_EQUITY,
        {"BINANCE": Decimal("60043"), "BINANCE_PERP": Decimal("39928.78354038")},
    )
    j.finish_run(run_id, "COMPLETED", end_ns=END_NS)
