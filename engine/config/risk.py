"""Deployment config of the risk module: limits, trading-state controller, kill switch, liquidation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import Field, field_validator

from engine.config.base import StrictModel
from risk.limits import RiskLimits


class RiskSettings(StrictModel):
    """The ``[risk]`` table. ``limits`` are the pre-trade gate's (see ``risk.limits``).

    Attributes
    ----------
    max_data_age_secs : float
        Market data older than this on any quoted instrument HALTs trading until it is fresh again.
    delta_breach_secs : float
        How long |net delta| may stay beyond its limit before the state goes REDUCING.
    eval_interval_secs : float
        Least time between two risk evaluations (they run on mark updates, never per quote).
    sample_interval_secs : float
        How often margin headroom and exposure per venue are journaled for the report.
    halt_at : datetime, optional
        Kill switch at a time (backtests): HALTED from then on.
    kill_file : str, optional
        Kill switch by file (live): ``carry kill`` creates it; the controller HALTs while it exists.
    liquidation_fee_rate : Decimal
        Fee on the notional of a position the backtest force-closes when equity falls below maintenance.
    exposure_reducing_ratio : float
        A venue whose exposure reaches this share of its USD limit goes REDUCING (prices move positions
        toward a limit that the gate only enforces at order time).
    """

    limits: RiskLimits = RiskLimits()
    max_data_age_secs: float = Field(default=60.0, gt=0)
    delta_breach_secs: float = Field(default=60.0, ge=0)
    eval_interval_secs: float = Field(default=1.0, ge=0)
    sample_interval_secs: float = Field(default=3600.0, gt=0)
    halt_at: datetime | None = None
    kill_file: str | None = None
    liquidation_fee_rate: Decimal = Field(default=Decimal("0.005"), ge=0, le=Decimal("0.1"))
    exposure_reducing_ratio: float = Field(default=0.95, gt=0, le=1)

    @field_validator("halt_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must carry a UTC offset, e.g. 2021-07-01T00:00:00Z")
        return v.astimezone(UTC) if v is not None else None
