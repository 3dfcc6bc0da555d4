"""Deployment config of the venues a strategy trades: instruments, fees, margin, starting balances."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, model_validator

from engine.config.base import StrictModel

PositiveDecimal = Annotated[Decimal, Field(gt=0)]
Fee = Annotated[Decimal, Field(ge=Decimal("-0.01"), le=Decimal("0.01"))]
Rate = Annotated[Decimal, Field(gt=0, le=1)]


class SpotVenueConfig(StrictModel):
    """A spot market on a cash venue. Defaults: Binance BTCUSDT spot at VIP0 (0.1% maker and taker)."""

    venue: str = Field(default="SIM_SPOT", min_length=1, pattern=r"^[A-Z0-9_]+$")
    symbol: str = "BTCUSDT"
    base: str = "BTC"
    quote: str = "USDT"
    tick_size: PositiveDecimal = Decimal("0.01")
    lot_step: PositiveDecimal = Decimal("0.00001")
    min_notional: Decimal = Field(default=Decimal("5"), ge=0)
    maker_fee: Fee = Decimal("0.001")
    taker_fee: Fee = Decimal("0.001")
    starting_balances: dict[str, Decimal] = Field(default_factory=lambda: {"USDT": Decimal("1000000")})
    # Quote currency; nautilus's RiskEngine denies larger orders on this cash venue.
    max_order_notional: PositiveDecimal | None = None

    @model_validator(mode="after")
    def _balances_non_negative(self) -> SpotVenueConfig:
        for ccy, amount in self.starting_balances.items():
            if amount < 0:
                raise ValueError(f"starting_balances.{ccy} must be >= 0, got {amount}")
        return self


class PerpVenueConfig(StrictModel):
    """A linear perpetual on a margin venue. Defaults: Binance USD-M BTCUSDT at VIP0.

    ``margin_init`` is the initial margin rate (1 / leverage); ``margin_maint`` the maintenance rate of the
    first notional tier (Binance BTCUSDT: 0.4%).
    """

    venue: str = Field(default="SIM_PERP", min_length=1, pattern=r"^[A-Z0-9_]+$")
    symbol: str = "BTCUSDT-PERP"
    base: str = "BTC"
    quote: str = "USDT"
    tick_size: PositiveDecimal = Decimal("0.10")
    lot_step: PositiveDecimal = Decimal("0.001")
    min_notional: Decimal = Field(default=Decimal("100"), ge=0)
    maker_fee: Fee = Decimal("0.0002")
    taker_fee: Fee = Decimal("0.0005")
    margin_init: Rate = Decimal("0.10")
    margin_maint: Rate = Decimal("0.004")
    funding_interval_hours: int = Field(default=8, gt=0, le=24)
    starting_balances: dict[str, Decimal] = Field(default_factory=lambda: {"USDT": Decimal("1000000")})

    @model_validator(mode="after")
    def _maint_below_init(self) -> PerpVenueConfig:
        if self.margin_maint >= self.margin_init:
            raise ValueError(
                f"margin_maint ({self.margin_maint}) must be below margin_init ({self.margin_init})"
            )
        return self
