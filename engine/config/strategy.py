"""Deployment config of the spot-perp carry strategy (the pydantic layer over its msgspec config)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from engine.config.base import StrictModel

PositiveDecimal = Annotated[Decimal, Field(gt=0)]


class SpotPerpCarrySettings(StrictModel):
    """Thresholds, sizing and leg handling of ``SpotPerpCarry`` (bps, annualized percent, hours, seconds)."""

    kind: Literal["spot_perp_carry"] = "spot_perp_carry"

    trade_size: PositiveDecimal = Decimal("1.0")
    clip_size: PositiveDecimal = Decimal("0.1")
    max_unhedged: PositiveDecimal = Decimal("0.1")
    entry_basis_bps: float = 5.0
    exit_basis_bps: float = 0.0
    entry_funding_apr_pct: float = 10.0
    horizon_hours: float = Field(default=336.0, gt=0)
    slippage_bps: float = Field(default=2.0, ge=0)
    min_edge_ratio: float = Field(default=1.0, gt=0)
    negative_funding_exit_count: int = Field(default=3, ge=1)
    max_holding_hours: float = Field(default=720.0, gt=0)
    leg_timeout_secs: float = Field(default=10.0, gt=0)
    hedge_attempts: int = Field(default=2, ge=1)
    max_quote_age_secs: float = Field(default=5.0, gt=0)
    sample_interval_secs: float = Field(default=3600.0, gt=0)
    entry_cooldown_secs: float = Field(default=3600.0, ge=0)
    close_on_stop: bool = True
    initial_spot_inventory: Decimal = Field(default=Decimal(0), ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> SpotPerpCarrySettings:
        if self.exit_basis_bps >= self.entry_basis_bps:
            raise ValueError(
                f"exit_basis_bps ({self.exit_basis_bps}) must be below "
                f"entry_basis_bps ({self.entry_basis_bps})"
            )
        if self.clip_size > self.trade_size:
            raise ValueError(f"clip_size ({self.clip_size}) must not exceed trade_size ({self.trade_size})")
        if self.clip_size > self.max_unhedged:
            raise ValueError(
                f"clip_size ({self.clip_size}) must not exceed max_unhedged ({self.max_unhedged}): "
                "one clip is the most a leg can be ahead of its hedge"
            )
        return self
