"""Risk limits as pydantic models, validated at load, and their conversion to the kernels' arrays.

Defaults name no venue and no asset: every venue gets ``default_venue`` and every asset
``default_asset`` unless ``venues``/``assets`` override them by name. A limit that contradicts another
(a REDUCING floor at or below the HALT floor, a gate floor below the REDUCING floor, a share above 1,
a negative limit, duplicate shocks) fails at load with the field named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from engine.errors import ConfigError
from risk.book import MODE_CROSS, MODE_ISOLATED, LimitArrays, build_limits

Fraction = Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VenueLimits(_Frozen):
    """Limits of one venue account.

    Attributes
    ----------
    margin_mode : {"cross", "isolated"}
        The account's margin mode (seeds ``Venue.margin_mode`` of the book).
    exposure_usd : float
        Max counterparty exposure, USD: the larger of the assets held there and the gross notional.
    exposure_share : float
        Max exposure as a share of the book's total equity, in (0, 1].
    halt_headroom_floor, reducing_headroom_floor, headroom_floor : float
        Margin headroom floors, each in [0, 1): the trading-state controller HALTs below the first and
        goes REDUCING below the second; the pre-trade gate denies an order that takes headroom below the
        third. Must rise strictly: halt < reducing <= gate.
    min_liquidation_distance_pct : float
        Min distance of any derivative position there to its liquidation price, percent, in [0, 100).
    """

    margin_mode: Literal["cross", "isolated"] = "cross"
    exposure_usd: Positive = 1_000_000.0
    exposure_share: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] = 1.0
    halt_headroom_floor: Fraction = 0.10
    reducing_headroom_floor: Fraction = 0.25
    headroom_floor: Fraction = 0.40
    min_liquidation_distance_pct: Annotated[float, Field(ge=0.0, lt=100.0, allow_inf_nan=False)] = 15.0

    @field_validator("reducing_headroom_floor")
    @classmethod
    def _reducing_above_halt(cls, value: float, info: ValidationInfo) -> float:
        halt = info.data.get("halt_headroom_floor")
        if halt is not None and value <= halt:
            raise ValueError(
                f"reducing_headroom_floor ({value}) must be above halt_headroom_floor ({halt}): "
                "the book must go REDUCING before it HALTs"
            )
        return value

    @field_validator("headroom_floor")
    @classmethod
    def _gate_not_below_reducing(cls, value: float, info: ValidationInfo) -> float:
        reducing = info.data.get("reducing_headroom_floor")
        if reducing is not None and value < reducing:
            raise ValueError(
                f"headroom_floor ({value}) must not be below reducing_headroom_floor ({reducing}): "
                "the gate would approve orders that put the book straight into REDUCING"
            )
        return value


class AssetLimits(_Frozen):
    """Limits of one underlying asset.

    Attributes
    ----------
    max_abs_net_delta : float
        Max |net delta| in base units (spot + perps + futures x multiplier + open orders).
    """

    max_abs_net_delta: NonNegative = 1.0


class FundingLimits(_Frozen):
    """Funding drag limits.

    Attributes
    ----------
    max_drag_usd : float
        Max projected net funding cost of the book over the horizon at the current rates, USD.
    horizon_hours : float
        Holding horizon for the projection, hours, in (0, 8760].
    """

    max_drag_usd: NonNegative = 10_000.0
    horizon_hours: Annotated[float, Field(gt=0.0, le=8760.0, allow_inf_nan=False)] = 72.0


class ShockScenarios(_Frozen):
    """Price shock scenarios and the headroom every venue must keep under each.

    Attributes
    ----------
    moves : tuple of float
        Relative moves of every mark, each in (-1, 5], non-zero, no duplicates, at most 16.
    min_headroom : float
        Floor of the margin headroom under every scenario, in [0, 1).
    """

    moves: tuple[float, ...] = Field(default=(-0.2, -0.1, 0.1, 0.2), max_length=16)
    min_headroom: Fraction = 0.0

    @field_validator("moves")
    @classmethod
    def _moves_sane(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        for x in value:
            if not math.isfinite(x) or not -1.0 < x <= 5.0 or x == 0.0:
                raise ValueError(f"moves: {x} must be finite, non-zero and in (-1, 5]")
        if len(set(value)) != len(value):
            raise ValueError(f"moves: duplicate scenario in {value}")
        return value


class RiskLimits(_Frozen):
    """Every limit of the pre-trade gate.

    Attributes
    ----------
    default_venue : VenueLimits
        Limits of any venue not named in ``venues``.
    venues : dict of str to VenueLimits
        Per-venue overrides, by venue name.
    default_asset : AssetLimits
        Limits of any asset not named in ``assets``.
    assets : dict of str to AssetLimits
        Per-asset overrides, by asset name (e.g. ``"BTC"``).
    funding : FundingLimits
    shocks : ShockScenarios
    """

    default_venue: VenueLimits = VenueLimits()
    venues: dict[Name, VenueLimits] = Field(default_factory=dict)
    default_asset: AssetLimits = AssetLimits()
    assets: dict[Name, AssetLimits] = Field(default_factory=dict)
    funding: FundingLimits = FundingLimits()
    shocks: ShockScenarios = ShockScenarios()

    def venue(self, name: str) -> VenueLimits:
        """Limits of venue ``name`` (its override, else the default)."""
        return self.venues.get(name, self.default_venue)

    def asset(self, name: str) -> AssetLimits:
        """Limits of asset ``name`` (its override, else the default)."""
        return self.assets.get(name, self.default_asset)


def load_limits(data: Mapping[str, Any]) -> RiskLimits:
    """Validate a mapping (e.g. the ``[risk]`` table of a TOML config) into :class:`RiskLimits`.

    Raises
    ------
    engine.errors.ConfigError
        Naming every offending field by its dotted path, e.g. ``venues.x.reducing_headroom_floor``.
    """
    try:
        return RiskLimits.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid risk limits: {problems}") from exc


def to_kernel_arrays(
    limits: RiskLimits, venues: Sequence[str], assets: Sequence[str], *, strict: bool = True
) -> LimitArrays:
    """Turn validated limits into the :class:`~risk.book.LimitArrays` the kernels read.

    Parameters
    ----------
    limits : RiskLimits
    venues : sequence of str
        Venue names in book order (venue index ``j`` is ``venues[j]``).
    assets : sequence of str
        Asset names in book order.
    strict : bool, default True
        Fail when ``limits`` overrides a venue or asset the book does not have (a typo there would
        otherwise silently fall back to the defaults).

    Returns
    -------
    LimitArrays

    Raises
    ------
    ConfigError
        On an override naming an unknown venue/asset (``strict``) or duplicate names.
    """
    if len(set(venues)) != len(venues) or len(set(assets)) != len(assets):
        raise ConfigError("to_kernel_arrays: venue and asset names must be unique")
    if strict:
        for kind, named, known in (("venues", limits.venues, venues), ("assets", limits.assets, assets)):
            unknown = sorted(set(named) - set(known))
            if unknown:
                raise ConfigError(f"risk limits: {kind}.{unknown[0]} names no {kind[:-1]} of this book")
    vl = [limits.venue(v) for v in venues]
    return build_limits(
        len(venues),
        len(assets),
        exposure_usd=[x.exposure_usd for x in vl],
        exposure_share=[x.exposure_share for x in vl],
        headroom_floor=[x.headroom_floor for x in vl],
        reducing_floor=[x.reducing_headroom_floor for x in vl],
        halt_floor=[x.halt_headroom_floor for x in vl],
        min_liquidation_distance_pct=[x.min_liquidation_distance_pct for x in vl],
        max_abs_net_delta=[limits.asset(a).max_abs_net_delta for a in assets],
        max_funding_drag_usd=limits.funding.max_drag_usd,
        horizon_hours=limits.funding.horizon_hours,
        shocks=limits.shocks.moves,
        shock_headroom_floor=limits.shocks.min_headroom,
        margin_mode=[MODE_ISOLATED if x.margin_mode == "isolated" else MODE_CROSS for x in vl],
    )
