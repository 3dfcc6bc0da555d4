"""Hourly closes and funding settlements as a nautilus event stream for the backtest.

Each hourly row becomes, at its close time (label + 1 h, when the close was known): a spot ``QuoteTick`` and
a perp ``QuoteTick`` at ``close * (1 -/+ half_spread)`` rounded outward to the tick, a ``MarkPriceUpdate``
(the perp close) and an ``IndexPriceUpdate`` (the spot close). Each funding settlement becomes a
``FundingRateUpdate`` stamped at its settlement time ``T`` naming ``T`` (the rate that settled), placed after
the prices of ``T``. The half-spread stands in for the spread and slippage the hourly file cannot show.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from nautilus_trader.core.data import Data
from nautilus_trader.model.data import FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate, QuoteTick
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity

from engine.data.basis_1h import HourlyBasisRow
from engine.data.binance_ws import REFERENCE_PRICE_PRECISION
from engine.data.funding_csv import FundingSettlement

NS_PER_HOUR = 3_600_000_000_000


def _quote(inst: Instrument, close: Decimal, half_spread: Decimal, size: Quantity, ts: int) -> QuoteTick:
    tick = inst.price_increment.as_decimal()
    bid = (close * (1 - half_spread) / tick).to_integral_value(ROUND_FLOOR) * tick
    ask = (close * (1 + half_spread) / tick).to_integral_value(ROUND_CEILING) * tick
    p = inst.price_precision
    return QuoteTick(inst.id, Price(bid, p), Price(ask, p), size, size, ts, ts)


def _ref_price(value: Decimal) -> Price:
    return Price(value.quantize(Decimal(1).scaleb(-REFERENCE_PRICE_PRECISION)), REFERENCE_PRICE_PRECISION)


def hourly_events(
    rows: Sequence[HourlyBasisRow],
    settlements: Sequence[FundingSettlement],
    spot: Instrument,
    perp: Instrument,
    half_spread_bps: Decimal,
    quote_size: Decimal,
    start_ns: int,
    end_ns: int,
    chunk_size: int = 20_000,
) -> Iterator[list[Data]]:
    """Yield the events of ``[start_ns, end_ns]`` in time order, in chunks, for ``add_data_iterator``."""
    half_spread = half_spread_bps / Decimal(10_000)
    spot_size = Quantity(quote_size, spot.size_precision)
    perp_size = Quantity(quote_size, perp.size_precision)
    funding = [s for s in settlements if start_ns <= s.ts_ns <= end_ns]
    fi = 0
    out: list[Data] = []
    for row in rows:
        ts = row.ts_ns + NS_PER_HOUR
        if ts < start_ns:
            continue
        if ts > end_ns:
            break
        while fi < len(funding) and funding[fi].ts_ns < ts:  # settlements between two hourly closes
            out.append(_funding(perp, funding[fi]))
            fi += 1
        out.append(_quote(spot, row.spot_close, half_spread, spot_size, ts))
        out.append(_quote(perp, row.perp_close, half_spread, perp_size, ts))
        out.append(MarkPriceUpdate(perp.id, _ref_price(row.perp_close), ts, ts))
        out.append(IndexPriceUpdate(perp.id, _ref_price(row.spot_close), ts, ts))
        while fi < len(funding) and funding[fi].ts_ns == ts:
            out.append(_funding(perp, funding[fi]))
            fi += 1
        if len(out) >= chunk_size:
            yield out
            out = []
    out.extend(_funding(perp, s) for s in funding[fi:])
    if out:
        yield out


def _funding(perp: Instrument, s: FundingSettlement) -> FundingRateUpdate:
    return FundingRateUpdate(
        perp.id,
        s.rate,
        interval=s.interval_hours * 60,
        next_funding_ns=s.ts_ns,
        ts_event=s.ts_ns,
        ts_init=s.ts_ns,
    )
