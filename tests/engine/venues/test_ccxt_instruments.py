"""Instruments from ccxt markets: precisions and limits as the (emulated) venue states them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair

from engine.venues.emulator import EmulatorThread
from engine.venues.instruments import MarketNotSupportedError, market_for, venue_market
from tests.engine.venues.conftest import make_sync


def test_binance_spot_market_when_loaded_from_emulator_then_instrument_has_venue_filters(
    emu: EmulatorThread,
) -> None:
    ex = make_sync("binance", emu.base_url)
    m = market_for(ex.markets, "BTC/USDT", "BINANCE", int(ex.precisionMode))
    inst = m.instrument
    assert isinstance(inst, CurrencyPair)
    assert str(inst.id) == "BTCUSDT.BINANCE"
    assert inst.price_increment.as_decimal() == Decimal("0.01")
    assert inst.size_increment.as_decimal() == Decimal("0.00001")
    assert inst.min_notional is not None and inst.min_notional.as_decimal() == Decimal("5")
    assert inst.taker_fee == Decimal("0.001")
    assert m.contract_size == 1


def test_binance_usdm_market_when_loaded_from_emulator_then_linear_perp(emu: EmulatorThread) -> None:
    ex = make_sync("binanceusdm", emu.base_url)
    m = market_for(ex.markets, "BTC/USDT:USDT", "BINANCE_USDM", int(ex.precisionMode))
    inst = m.instrument
    assert isinstance(inst, CryptoPerpetual)
    assert str(inst.id) == "BTCUSDT-PERP.BINANCE_USDM"
    assert inst.price_increment.as_decimal() == Decimal("0.1")
    assert inst.size_increment.as_decimal() == Decimal("0.001")
    assert inst.min_notional is not None and inst.min_notional.as_decimal() == Decimal("100")
    assert not inst.is_inverse
    assert m.ccxt_symbol == "BTC/USDT:USDT" and m.market_id == "BTCUSDT"


def _okx_like_swap() -> dict[str, Any]:
    return {
        "symbol": "BTC/USDT:USDT",
        "id": "BTC-USDT-SWAP",
        "type": "swap",
        "linear": True,
        "base": "BTC",
        "quote": "USDT",
        "contractSize": 0.01,
        "precision": {"amount": 1.0, "price": 0.1},
        "limits": {"amount": {"min": 1.0}, "cost": {"min": None}},
        "maker": 0.0002,
        "taker": 0.0005,
    }


def test_contract_sized_swap_when_built_then_quantities_in_base_units() -> None:
    m = venue_market(_okx_like_swap(), "OKX", 4)
    assert str(m.instrument.id) == "BTC-USDT-SWAP.OKX"
    assert m.instrument.size_increment.as_decimal() == Decimal("0.01")  # one contract = 0.01 BTC
    assert m.to_venue_amount(Decimal("0.05")) == Decimal("5")
    assert m.from_venue_amount(Decimal("5")) == Decimal("0.05")


def test_market_when_inverse_or_missing_then_refused_with_the_symbol() -> None:
    inverse = _okx_like_swap() | {"linear": False, "symbol": "BTC/USD:BTC"}
    with pytest.raises(MarketNotSupportedError, match="BTC/USD:BTC"):
        venue_market(inverse, "OKX", 4)
    with pytest.raises(MarketNotSupportedError, match="ETH/USDT"):
        market_for({"BTC/USDT": _okx_like_swap()}, "ETH/USDT", "OKX", 4)


def test_decimal_places_precision_mode_when_built_then_steps_from_places() -> None:
    market = _okx_like_swap() | {"precision": {"amount": 0, "price": 1}, "contractSize": 1}
    m = venue_market(market, "X", 2)
    assert m.instrument.price_increment.as_decimal() == Decimal("0.1")
    assert m.instrument.size_increment.as_decimal() == Decimal("1")
