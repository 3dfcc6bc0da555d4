"""BookMirror: the kernels' numpy book kept in step with a nautilus cache and portfolio.

One slot per instrument the desk trades; venues and assets in a fixed order. ``refresh`` copies
positions, marks, entry prices, funding and venue cash into the book's views in place (no allocation),
so the kernels always read the current book. It runs per order check and per risk evaluation, never per
quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nautilus_trader.cache.cache import Cache
from nautilus_trader.model.enums import PositionSide
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair, FuturesContract, Instrument
from nautilus_trader.portfolio.portfolio import Portfolio

from engine.accounting import USD_LIKE
from risk.book import KIND_FUTURE, KIND_PERP, KIND_SPOT, Book, Position, build_book
from risk.book import Venue as BookVenue


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """How one instrument maps onto the book."""

    instrument_id: InstrumentId
    venue: str
    asset: str
    kind: int
    multiplier: float
    mmr: float
    imr: float
    funding_interval_hours: float = 8.0


def slot_spec(instrument: Instrument, mmr: float | None = None, imr: float | None = None) -> SlotSpec:
    """The slot of a nautilus instrument (spot pair, perpetual or dated future).

    ``mmr``/``imr`` override the instrument's margin rates (e.g. CME performance bonds from config).
    """
    if isinstance(instrument, CurrencyPair):
        kind, asset = KIND_SPOT, instrument.base_currency.code
    elif isinstance(instrument, CryptoPerpetual):
        kind, asset = KIND_PERP, instrument.base_currency.code
    elif isinstance(instrument, FuturesContract):
        kind, asset = KIND_FUTURE, instrument.underlying
    else:
        raise TypeError(f"no risk slot for {type(instrument).__name__} {instrument.id}")
    return SlotSpec(
        instrument_id=instrument.id,
        venue=instrument.id.venue.value,
        asset=asset,
        kind=kind,
        multiplier=float(instrument.multiplier),
        mmr=float(mmr if mmr is not None else instrument.margin_maint),
        imr=float(imr if imr is not None else instrument.margin_init),
    )


class BookMirror:
    """A kernel ``Book`` mirroring the nautilus cache for a fixed set of instruments.

    Parameters
    ----------
    specs : list[SlotSpec]
        One per instrument.
    cache : Cache
        Positions, quotes, marks and funding rates are read from here.
    portfolio : Portfolio
        Account balances are read from here.
    """

    def __init__(self, specs: list[SlotSpec], cache: Cache, portfolio: Portfolio) -> None:
        self.specs = specs
        self.cache = cache
        self.portfolio = portfolio
        self.venues = sorted({s.venue for s in specs})
        self.assets = sorted({s.asset for s in specs})
        self._slot = {s.instrument_id: i for i, s in enumerate(specs)}
        self._venue_ids = [Venue(v) for v in self.venues]
        self._slot_venue = [Venue(s.venue) for s in specs]
        self.funding_accrued = [0.0] * len(specs)
        self.book: Book = build_book(
            [
                Position(
                    venue=self.venues.index(s.venue),
                    asset=self.assets.index(s.asset),
                    kind=s.kind,
                    qty=0.0,
                    mark=1.0,  # placeholder until the first price; strategies never trade an unquoted leg
                    multiplier=s.multiplier,
                    mmr=s.mmr,
                    imr=s.imr,
                    funding_interval_hours=s.funding_interval_hours,
                )
                for s in specs
            ],
            [BookVenue(cash=0.0) for _ in self.venues],
            n_assets=len(self.assets),
        )

    def slot_of(self, instrument_id: InstrumentId) -> int | None:
        """The slot of an instrument, or None if the book does not trade it."""
        return self._slot.get(instrument_id)

    def add_funding(self, instrument_id: InstrumentId, amount_usd: float) -> None:
        """Accrue a booked funding payment (received > 0) to its slot."""
        slot = self._slot.get(instrument_id)
        if slot is not None:
            self.funding_accrued[slot] += amount_usd

    def price(self, instrument_id: InstrumentId, is_buy: bool) -> float:
        """The price a market order would trade at: the touch on its side, else the mark, else 0."""
        q = self.cache.quote_tick(instrument_id)
        if q is not None:
            return (q.ask_price if is_buy else q.bid_price).as_double()
        mark = self.cache.mark_price(instrument_id)
        return mark.value.as_double() if mark is not None else 0.0

    def refresh(self) -> None:
        """Copy the current positions, marks, funding and cash into the book's arrays."""
        b = self.book
        accounts = {v: self.portfolio.account(v) for v in self._venue_ids}
        for i, s in enumerate(self.specs):
            iid = s.instrument_id
            mark = self._mark(iid, s.kind)
            if mark > 0.0:
                b.mark[i] = mark
            if s.kind == KIND_SPOT:
                b.qty[i] = self._spot_balance(accounts[self._slot_venue[i]], s)
            else:
                qty, entry = self._position(iid)
                b.qty[i] = qty
                b.entry[i] = entry
                rate = self.cache.funding_rate(iid)
                if rate is not None:
                    b.funding_rate[i] = float(rate.rate)
                    if rate.interval:
                        b.funding_interval_hours[i] = rate.interval / 60.0
            b.funding_accrued[i] = self.funding_accrued[i]
        for j, vid in enumerate(self._venue_ids):
            b.venue_cash[j] = self._cash(accounts[vid])

    def _mark(self, iid: InstrumentId, kind: int) -> float:
        if kind != KIND_SPOT:
            m = self.cache.mark_price(iid)
            if m is not None:
                return m.value.as_double()
        q = self.cache.quote_tick(iid)
        if q is None:
            return 0.0
        return (q.bid_price.as_double() + q.ask_price.as_double()) / 2.0

    def _position(self, iid: InstrumentId) -> tuple[float, float]:
        qty = 0.0
        entry = 0.0
        for pos in self.cache.positions_open(instrument_id=iid):
            q = pos.quantity.as_double()
            qty += q if pos.side == PositionSide.LONG else -q
            entry = pos.avg_px_open
        return qty, entry

    @staticmethod
    def _spot_balance(account: Any, s: SlotSpec) -> float:
        if account is None:
            return 0.0
        for ccy, bal in account.balances().items():
            if ccy.code == s.asset:
                return bal.total.as_double()
        return 0.0

    @staticmethod
    def _cash(account: Any) -> float:
        # float is fine here: the book is the kernels' float arena, never booked money.
        if account is None:
            return 0.0
        return sum(bal.total.as_double() for ccy, bal in account.balances().items() if ccy.code in USD_LIKE)
