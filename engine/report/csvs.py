"""fills.csv and funding.csv: exact decimal strings as journaled, UTC timestamps with microseconds."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from engine.journal import Fill, FundingPayment
from engine.report.summary import iso_utc

FILLS_HEADER = ("ts", "instrument_id", "side", "qty", "price", "fee", "fee_currency", "client_order_id")
FUNDING_HEADER = ("ts", "instrument_id", "position_qty", "mark_price", "rate", "amount")


def dec_text(value: Decimal) -> str:
    """Fixed-point text of a Decimal, never through float (``0.00002760`` stays ``0.00002760``)."""
    return format(value, "f")


def write_fills_csv(fills: Iterable[Fill], path: Path) -> int:
    """Write ``fills.csv`` in the order given (time order); return the number of rows."""
    n = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(FILLS_HEADER)
        for f in fills:
            w.writerow(
                (
                    iso_utc(f.ts_ns),
                    f.instrument_id,
                    f.side,
                    dec_text(f.qty),
                    dec_text(f.price),
                    dec_text(f.fee),
                    f.fee_currency,
                    f.client_order_id,
                )
            )
            n += 1
    return n


def write_funding_csv(payments: Iterable[FundingPayment], path: Path) -> int:
    """Write ``funding.csv``: settlement time, signed position, mark, rate, amount (> 0 = received)."""
    n = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(FUNDING_HEADER)
        for p in payments:
            w.writerow(
                (
                    iso_utc(p.ts_ns),
                    p.instrument_id,
                    dec_text(p.position_qty),
                    dec_text(p.mark_price),
                    dec_text(p.rate),
                    dec_text(p.amount),
                )
            )
            n += 1
    return n
