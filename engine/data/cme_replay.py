"""Daily CME closes, Binance daily closes and funding settlements as a nautilus event stream.

Every price of UTC day ``D`` is stamped ``D + 1 00:00:01 UTC``, one second after all of that day's closes are
known (the CME daily bars are UTC days closing at 24:00 UTC, or at the Globex close on Fridays and holidays;
the Binance daily bar closes at 24:00 UTC): nothing is seen before it happened, and the 00:00 UTC funding
settlement is paid on the position held through the day, not on one the day's decision opens just after the
close. At that stamp, in order:

- a ``QuoteTick`` per CME contract with a bar that day, at ``close -/+ cme_half_spread`` rounded outward to
  the 5 USD tick (sizes in contracts); a contract whose expiry instant is before the stamp gets none (its
  expiry-day close is its final settlement price, used by the settlement module instead);
- the perp's ``QuoteTick`` at ``price -/+ perp_half_spread`` (lot 0.001), its ``MarkPriceUpdate`` (the perp
  price) and ``IndexPriceUpdate`` (the spot close); the strategy decides on the index update, the last
  price event of the stamp;
- the funding settlements (``FundingRateUpdate`` at its own time ``T`` naming ``T``) in between, in time
  order (the 00:00 settlement one second before the prices stamped after it); a settlement is booked at the
  latest daily mark;
- optionally, perp quotes at given instants in between (the perp price at each futures expiry, from the
  hourly file), so that the hedge of a future settled at 16:00 London is closed at that moment's price.

The perp price is the Binance **spot** daily close unless a per-day perp close is given (the USD-M
perpetual's 24:00 UTC close from the hourly basis file): the BTCUSDT perp trades within a few bps of spot,
so the spot close is a close proxy, and it is what the pairing of ``engine.signals.cme_basis`` uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from nautilus_trader.core.data import Data
from nautilus_trader.model.data import FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate, QuoteTick
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity

from engine.data.basis_1h import HourlyBasisRow
from engine.data.binance_ws import REFERENCE_PRICE_PRECISION
from engine.data.cme_daily import CmeOutrightBar
from engine.data.funding_csv import FundingSettlement
from engine.data.spot_daily import SpotDailyBar

NS_PER_DAY = 86_400 * 1_000_000_000
STAMP_DELAY_NS = 1_000_000_000  # prices of day D are stamped D + 1 00:00:01 UTC
_BPS = Decimal(10_000)


def quote_at(inst: Instrument, close: Decimal, half_spread: Decimal, size: Quantity, ts: int) -> QuoteTick:
    """A two-sided quote at ``close * (1 -/+ half_spread)`` rounded outward to the instrument's tick."""
    tick = inst.price_increment.as_decimal()
    bid = (close * (1 - half_spread) / tick).to_integral_value(ROUND_FLOOR) * tick
    ask = (close * (1 + half_spread) / tick).to_integral_value(ROUND_CEILING) * tick
    p = inst.price_precision
    return QuoteTick(inst.id, Price(bid, p), Price(ask, p), size, size, ts, ts)


def _ref_price(value: Decimal) -> Price:
    return Price(value.quantize(Decimal(1).scaleb(-REFERENCE_PRICE_PRECISION)), REFERENCE_PRICE_PRECISION)


def _funding(perp: Instrument, s: FundingSettlement) -> FundingRateUpdate:
    return FundingRateUpdate(
        perp.id,
        s.rate,
        interval=s.interval_hours * 60,
        next_funding_ns=s.ts_ns,
        ts_event=s.ts_ns,
        ts_init=s.ts_ns,
    )


def usdm_daily_closes(rows: Sequence[HourlyBasisRow]) -> dict[date, Decimal]:
    """Return the USD-M perp's 24:00 UTC close per UTC day: the close of the hour labeled 23:00."""
    out: dict[date, Decimal] = {}
    for row in rows:
        if row.ts_ns % NS_PER_DAY == 23 * 3_600 * 1_000_000_000:
            out[_day_of(row.ts_ns)] = row.perp_close
    return out


def _day_of(ts_ns: int) -> date:
    return date.fromordinal(719_163 + ts_ns // NS_PER_DAY)  # 719_163 = date(1970, 1, 1).toordinal()


def daily_events(
    cme_bars: Sequence[CmeOutrightBar],
    spot_bars: Sequence[SpotDailyBar],
    settlements: Sequence[FundingSettlement],
    contracts: Mapping[str, Instrument],
    perp: Instrument,
    cme_half_spread_bps: Decimal,
    perp_half_spread_bps: Decimal,
    cme_quote_size: Decimal,
    perp_quote_size: Decimal,
    start_ns: int,
    end_ns: int,
    perp_closes: Mapping[date, Decimal] | None = None,
    fixing_prices: Mapping[int, Decimal] | None = None,
    chunk_size: int = 5_000,
) -> Iterator[list[Data]]:
    """Yield the daily events stamped in ``[start_ns, end_ns]`` in time order, in chunks.

    Parameters
    ----------
    cme_bars : Sequence[CmeOutrightBar]
        Outright daily bars; only symbols in ``contracts`` are quoted.
    spot_bars : Sequence[SpotDailyBar]
        Spot daily bars, ascending; a day without a spot bar has no events (no perp price).
    settlements : Sequence[FundingSettlement]
        Funding settlements, ascending.
    contracts : Mapping[str, Instrument]
        The futures instruments by CME symbol (``MBTH4``).
    perp : Instrument
        The perpetual.
    cme_half_spread_bps, perp_half_spread_bps : Decimal
        Half-spreads of the synthetic quotes.
    cme_quote_size, perp_quote_size : Decimal
        Size shown on each side (contracts; base units).
    start_ns, end_ns : int
        Window of the stamps.
    perp_closes : Mapping[date, Decimal], optional
        The perp's own daily close by UTC day, where known; the spot close elsewhere.
    fixing_prices : Mapping[int, Decimal], optional
        Extra perp quotes (no mark, no index: no decision is taken on them) by time, e.g. the perp price at
        each futures expiry, so that a settled future's hedge is closed at the price of that moment.
    """
    cme_half = cme_half_spread_bps / _BPS
    perp_half = perp_half_spread_bps / _BPS
    perp_size = Quantity(perp_quote_size, perp.size_precision)
    by_day: dict[date, list[CmeOutrightBar]] = {}
    for bar in cme_bars:
        if bar.symbol in contracts:
            by_day.setdefault(bar.day, []).append(bar)
    # Funding updates and fixing quotes between daily stamps, merged in time order.
    between: list[tuple[int, Data]] = [(s.ts_ns, _funding(perp, s)) for s in settlements]
    for fix_ns, fix_px in (fixing_prices or {}).items():
        between.append((fix_ns, quote_at(perp, fix_px, perp_half, perp_size, fix_ns)))
    between = sorted((e for e in between if start_ns <= e[0] <= end_ns), key=lambda e: e[0])
    closes = perp_closes or {}
    fi = 0
    out: list[Data] = []
    for spot in spot_bars:
        ts = spot.ts_ns + NS_PER_DAY + STAMP_DELAY_NS
        if ts < start_ns:
            continue
        if ts > end_ns:
            break
        while fi < len(between) and between[fi][0] < ts:
            out.append(between[fi][1])
            fi += 1
        for bar in by_day.get(spot.day, ()):
            inst = contracts[bar.symbol]
            expiration_ns: int = getattr(inst, "expiration_ns", 0)
            if expiration_ns and ts > expiration_ns:
                continue  # expired: its last close settles it (engine.backtest.cme_settlement)
            size = Quantity(cme_quote_size, inst.size_precision)
            out.append(quote_at(inst, bar.close, cme_half, size, ts))
        price = closes.get(spot.day, spot.close)
        out.append(quote_at(perp, price, perp_half, perp_size, ts))
        out.append(MarkPriceUpdate(perp.id, _ref_price(price), ts, ts))
        out.append(IndexPriceUpdate(perp.id, _ref_price(spot.close), ts, ts))
        while fi < len(between) and between[fi][0] == ts:
            out.append(between[fi][1])
            fi += 1
        if len(out) >= chunk_size:
            yield out
            out = []
    out.extend(e for _, e in between[fi:])
    if out:
        yield out
