"""Nautilus instruments from a ccxt exchange's markets (precision, lot size, min notional, contract size).

Quantities are always in BASE units on the nautilus side, on every venue: the strategy sizes both legs in
base units. Where a venue counts perpetuals in contracts (OKX ``BTC-USDT-SWAP``: 0.01 BTC a contract), the
instrument's size increment is ``contract_size x amount step`` and the execution client converts base units
to contracts (`VenueMarket.to_venue_amount`) when it calls ccxt.

Instrument ids follow the backtest's: ``<venue id>.<VENUE>`` for spot (``BTCUSDT.BINANCE``) and
``<venue id>-PERP.<VENUE>`` for perpetuals (``BTCUSDT-PERP.BINANCE_USDM``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair, Instrument

from engine.errors import CarryError
from engine.instruments import linear_perpetual, spot_pair

# ccxt precision modes (ccxt.base.decimal_to_precision): the precision numbers are either decimal places
# or tick sizes.
_DECIMAL_PLACES = 2
_SIGNIFICANT_DIGITS = 3
_TICK_SIZE = 4

# Perp margin rates are not in ccxt's unified market structure; Binance BTCUSDT's first bracket.
DEFAULT_MARGIN_INIT = Decimal("0.10")
DEFAULT_MARGIN_MAINT = Decimal("0.004")


class MarketNotSupportedError(CarryError):
    """The exchange does not list the symbol, or the market lacks what carry needs (named in the message)."""


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def step_of(precision: Any, mode: int) -> Decimal:
    """The increment a ccxt precision number stands for (tick size, or 10**-places)."""
    value = _dec(precision)
    if value is None:
        raise MarketNotSupportedError("market has no precision")
    if mode == _TICK_SIZE:
        return value.normalize()
    if mode == _DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    raise MarketNotSupportedError(f"unsupported ccxt precision mode {mode} (significant digits)")


@dataclass(frozen=True)
class VenueMarket:
    """One venue market as carry trades it: the nautilus instrument and what the venue client needs.

    Attributes
    ----------
    instrument : Instrument
        Quantities in base units.
    ccxt_symbol : str
        The unified symbol (``BTC/USDT:USDT``).
    market_id : str
        The venue's own symbol (``BTCUSDT``).
    contract_size : Decimal
        Base units per venue contract (1 for spot and Binance/Bybit linear perps).
    """

    instrument: Instrument
    ccxt_symbol: str
    market_id: str
    contract_size: Decimal

    def to_venue_amount(self, base_qty: Decimal) -> Decimal:
        """Base units to the venue's amount (contracts for contract-sized perps)."""
        return base_qty / self.contract_size

    def from_venue_amount(self, amount: Decimal) -> Decimal:
        """The venue's amount to base units."""
        return amount * self.contract_size


def venue_market(market: dict[str, Any], venue: str, precision_mode: int) -> VenueMarket:
    """Build a `VenueMarket` from one ccxt market.

    Parameters
    ----------
    market : dict
        ``exchange.markets[symbol]`` after ``load_markets``.
    venue : str
        The nautilus venue id (``BINANCE``).
    precision_mode : int
        ``exchange.precisionMode``.

    Raises
    ------
    MarketNotSupportedError
        For inverse or dated contracts, or a market without precisions.
    """
    symbol = market.get("symbol", "?")
    kind = market.get("type")
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    tick = step_of(precision.get("price"), precision_mode)
    amount_step = step_of(precision.get("amount"), precision_mode)
    min_cost = _dec((limits.get("cost") or {}).get("min"))
    maker = _dec(market.get("maker")) or Decimal(0)
    taker = _dec(market.get("taker")) or Decimal(0)
    base, quote, market_id = str(market["base"]), str(market["quote"]), str(market["id"])
    if kind == "spot":
        instrument: Instrument = spot_pair(
            venue, market_id, base, quote, tick, amount_step, maker, taker, min_cost or None
        )
        return VenueMarket(instrument, symbol, market_id, Decimal(1))
    if kind == "swap":
        if not market.get("linear"):
            raise MarketNotSupportedError(f"{symbol}: inverse perpetuals are not supported (carry is linear)")
        contract_size = _dec(market.get("contractSize")) or Decimal(1)
        name = market_id if market_id.endswith(("-SWAP", "-PERP")) else f"{market_id}-PERP"
        perp = linear_perpetual(
            venue,
            name,
            base,
            quote,
            tick,
            (amount_step * contract_size).normalize(),
            maker,
            taker,
            DEFAULT_MARGIN_INIT,
            DEFAULT_MARGIN_MAINT,
            min_cost or None,
        )
        return VenueMarket(perp, symbol, market_id, contract_size)
    raise MarketNotSupportedError(f"{symbol}: market type {kind!r} is not spot or swap")


def market_for(
    markets: dict[str, dict[str, Any]], symbol: str, venue: str, precision_mode: int
) -> VenueMarket:
    """The `VenueMarket` of ``symbol`` in an exchange's loaded markets, or a clear error."""
    market = markets.get(symbol)
    if market is None:
        near = ", ".join(sorted(s for s in markets if s.split("/")[0] == symbol.split("/")[0])[:8])
        raise MarketNotSupportedError(f"{venue}: symbol {symbol!r} is not listed (similar: {near or 'none'})")
    return venue_market(market, venue, precision_mode)


def is_spot(instrument: Instrument) -> bool:
    """A spot pair (CASH account)."""
    return isinstance(instrument, CurrencyPair)


def is_perp(instrument: Instrument) -> bool:
    """A perpetual (MARGIN account)."""
    return isinstance(instrument, CryptoPerpetual)
