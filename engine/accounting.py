"""Mark-to-market equity of a run's accounts, in USD (USDT is taken at par with USD)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from nautilus_trader.cache.cache import Cache
from nautilus_trader.model.enums import PositionSide
from nautilus_trader.model.identifiers import InstrumentId, StrategyId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.portfolio.portfolio import Portfolio

USD_LIKE = frozenset({"USD", "USDT", "USDC"})


def signed_position(
    cache: Cache, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
) -> Decimal:
    """Net signed quantity of the open positions on ``instrument_id`` (long > 0), of one strategy if given."""
    total = Decimal(0)
    for pos in cache.positions_open(instrument_id=instrument_id, strategy_id=strategy_id):
        qty = pos.quantity.as_decimal()
        total += qty if pos.side == PositionSide.LONG else -qty
    return total


def mid(cache: Cache, instrument_id: InstrumentId) -> Decimal | None:
    """Mid of the latest quote, or ``None`` without one."""
    q = cache.quote_tick(instrument_id)
    if q is None:
        return None
    return (q.bid_price.as_decimal() + q.ask_price.as_decimal()) / 2


def venue_equity_usd(
    cache: Cache,
    portfolio: Portfolio,
    venue: Venue,
    prices_usd: dict[str, Decimal],
    margin_instruments: list[InstrumentId],
) -> Decimal:
    """Equity of one venue's account: balances at USD prices plus unrealized P&L of its margin positions.

    Parameters
    ----------
    prices_usd : dict[str, Decimal]
        USD price of each non-USD currency held (e.g. ``{"BTC": spot_mid}``).
    margin_instruments : list[InstrumentId]
        Perpetuals/futures on this venue whose open positions add unrealized P&L (valued at the mark when
        one is cached, else the quote mid).
    """
    account = portfolio.account(venue)
    if account is None:
        return Decimal(0)
    total = Decimal(0)
    for ccy, balance in account.balances().items():
        amount = balance.total.as_decimal()
        if ccy.code in USD_LIKE:
            total += amount
        elif amount:
            total += amount * prices_usd.get(ccy.code, Decimal(0))
    for iid in margin_instruments:
        mark = cache.mark_price(iid)
        px = mark.value.as_decimal() if mark is not None else mid(cache, iid)
        if px is None:
            continue
        instrument = cache.instrument(iid)
        multiplier = instrument.multiplier.as_decimal()
        for pos in cache.positions_open(instrument_id=iid):
            qty = pos.quantity.as_decimal()
            signed = qty if pos.side == PositionSide.LONG else -qty
            total += (px - Decimal(str(pos.avg_px_open))) * signed * multiplier
    return total


def spot_perp_equity(
    cache: Cache, portfolio: Portfolio, spot: Instrument, perp: Instrument
) -> Callable[[], tuple[Decimal, dict[str, Decimal]]]:
    """The equity of a spot venue plus a perp venue, for the journal's snapshots (every mode).

    The spot base asset is valued at the spot mid; the perp's open positions add unrealized P&L.
    """
    spot_venue, perp_venue = spot.id.venue, perp.id.venue
    base = spot.get_base_currency().code

    def equity() -> tuple[Decimal, dict[str, Decimal]]:
        prices = {base: mid(cache, spot.id) or Decimal(0)}
        by_venue = {
            spot_venue.value: venue_equity_usd(cache, portfolio, spot_venue, prices, []),
            perp_venue.value: venue_equity_usd(cache, portfolio, perp_venue, prices, [perp.id]),
        }
        return sum(by_venue.values(), Decimal(0)), by_venue

    return equity
