"""Nautilus instruments for the markets carry trades.

The numbers (tick size, lot step, fees, margin rates) come from the deployment config; the defaults in
`engine.config.venues` are Binance's published values for BTCUSDT spot and the USD-M perpetual at VIP0.
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.model.currencies import BTC, USD, USDT
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair
from nautilus_trader.model.objects import Currency, Money, Price, Quantity


def _precision(increment: Decimal) -> int:
    exponent = increment.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def currency(code: str) -> Currency:
    """Return the nautilus currency for ``code`` (BTC, USDT, USD, ...)."""
    known = {"BTC": BTC, "USDT": USDT, "USD": USD}
    return known.get(code) or Currency.from_str(code)


def spot_pair(
    venue: str,
    symbol: str,
    base: str,
    quote: str,
    tick_size: Decimal,
    lot_step: Decimal,
    maker_fee: Decimal,
    taker_fee: Decimal,
    min_notional: Decimal | None = None,
) -> CurrencyPair:
    """Return a spot ``CurrencyPair`` (traded on a CASH venue)."""
    quote_ccy = currency(quote)
    return CurrencyPair(
        instrument_id=InstrumentId(Symbol(symbol), Venue(venue)),
        raw_symbol=Symbol(symbol),
        base_currency=currency(base),
        quote_currency=quote_ccy,
        price_precision=_precision(tick_size),
        size_precision=_precision(lot_step),
        price_increment=Price(tick_size, _precision(tick_size)),
        size_increment=Quantity(lot_step, _precision(lot_step)),
        min_notional=Money(min_notional, quote_ccy) if min_notional else None,
        maker_fee=maker_fee,
        taker_fee=taker_fee,
        ts_event=0,
        ts_init=0,
    )


def linear_perpetual(
    venue: str,
    symbol: str,
    base: str,
    quote: str,
    tick_size: Decimal,
    lot_step: Decimal,
    maker_fee: Decimal,
    taker_fee: Decimal,
    margin_init: Decimal,
    margin_maint: Decimal,
    min_notional: Decimal | None = None,
) -> CryptoPerpetual:
    """Return a linear (quote-margined) ``CryptoPerpetual`` (traded on a MARGIN venue)."""
    quote_ccy = currency(quote)
    return CryptoPerpetual(
        instrument_id=InstrumentId(Symbol(symbol), Venue(venue)),
        raw_symbol=Symbol(symbol.removesuffix("-PERP")),
        base_currency=currency(base),
        quote_currency=quote_ccy,
        settlement_currency=quote_ccy,
        is_inverse=False,
        price_precision=_precision(tick_size),
        size_precision=_precision(lot_step),
        price_increment=Price(tick_size, _precision(tick_size)),
        size_increment=Quantity(lot_step, _precision(lot_step)),
        min_notional=Money(min_notional, quote_ccy) if min_notional else None,
        margin_init=margin_init,
        margin_maint=margin_maint,
        maker_fee=maker_fee,
        taker_fee=taker_fee,
        ts_event=0,
        ts_init=0,
    )
