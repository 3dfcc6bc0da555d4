"""Risk limits: invalid or contradictory limits fail at load naming the field; valid ones map onto arrays."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from engine.errors import ConfigError
from risk.book import MODE_CROSS, MODE_ISOLATED
from risk.limits import RiskLimits, VenueLimits, load_limits, to_kernel_arrays


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"venues": {"x": {"reducing_headroom_floor": 0.05}}}, "venues.x.reducing_headroom_floor"),
        (
            {"default_venue": {"halt_headroom_floor": 0.3, "reducing_headroom_floor": 0.3}},
            "default_venue.reducing_headroom_floor",
        ),
        ({"default_venue": {"headroom_floor": 0.2}}, "default_venue.headroom_floor"),
        ({"default_venue": {"exposure_share": 1.5}}, "default_venue.exposure_share"),
        ({"default_venue": {"exposure_share": 0.0}}, "default_venue.exposure_share"),
        ({"venues": {"v1": {"exposure_usd": -1.0}}}, "venues.v1.exposure_usd"),
        (
            {"default_venue": {"min_liquidation_distance_pct": -5.0}},
            "default_venue.min_liquidation_distance_pct",
        ),
        ({"default_venue": {"margin_mode": "portfolio"}}, "default_venue.margin_mode"),
        ({"assets": {"BTC": {"max_abs_net_delta": -0.1}}}, "assets.BTC.max_abs_net_delta"),
        ({"assets": {"BTC": {"max_abs_net_delta": math.nan}}}, "assets.BTC.max_abs_net_delta"),
        ({"funding": {"max_drag_usd": -10.0}}, "funding.max_drag_usd"),
        ({"funding": {"horizon_hours": 0.0}}, "funding.horizon_hours"),
        ({"shocks": {"moves": [-0.1, -0.1]}}, "shocks.moves"),
        ({"shocks": {"moves": [0.0]}}, "shocks.moves"),
        ({"shocks": {"moves": [-1.0]}}, "shocks.moves"),
        ({"shocks": {"min_headroom": 1.0}}, "shocks.min_headroom"),
        ({"default_venue": {"exposure_limit": 5.0}}, "default_venue.exposure_limit"),
        ({"venues": {"bad name": {}}}, "venues.bad name"),
    ],
)
def test_load_limits_when_field_invalid_or_contradictory_then_error_names_the_field(
    data: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_limits(data)
    assert field in str(err.value)


def test_venue_limits_when_reducing_floor_below_halt_floor_then_message_names_both_floors() -> None:
    with pytest.raises(ValidationError) as err:
        VenueLimits(halt_headroom_floor=0.2, reducing_headroom_floor=0.1, headroom_floor=0.5)
    errors = err.value.errors()
    assert [e["loc"] for e in errors] == [("reducing_headroom_floor",)]
    assert "halt_headroom_floor" in errors[0]["msg"]


def test_risk_limits_when_defaults_then_valid_and_name_no_venue_or_asset() -> None:
    limits = RiskLimits()
    assert limits.venues == {} and limits.assets == {}
    v = limits.default_venue
    assert 0 <= v.halt_headroom_floor < v.reducing_headroom_floor <= v.headroom_floor < 1
    assert 0 < v.exposure_share <= 1 and v.exposure_usd > 0
    assert limits.shocks.moves == (-0.2, -0.1, 0.1, 0.2)


def test_risk_limits_when_assigned_after_load_then_frozen() -> None:
    limits = RiskLimits()
    with pytest.raises(ValidationError):
        limits.default_venue.exposure_usd = 1.0


def test_to_kernel_arrays_when_venue_and_asset_overrides_then_each_lands_on_its_index() -> None:
    limits = load_limits(
        {
            "venues": {"perp": {"exposure_usd": 250_000.0, "margin_mode": "isolated"}},
            "assets": {"ETH": {"max_abs_net_delta": 5.0}},
            "funding": {"max_drag_usd": 123.0, "horizon_hours": 48.0},
            "shocks": {"moves": [-0.3, 0.3], "min_headroom": 0.05},
        }
    )
    arrays = to_kernel_arrays(limits, ["spot", "perp"], ["BTC", "ETH"])
    assert list(arrays.exposure_usd) == [1_000_000.0, 250_000.0]
    assert list(arrays.margin_mode) == [MODE_CROSS, MODE_ISOLATED]
    assert list(arrays.max_abs_net_delta) == [1.0, 5.0]
    assert list(arrays.headroom_floor) == [0.4, 0.4]
    assert list(arrays.reducing_floor) == [0.25, 0.25] and list(arrays.halt_floor) == [0.1, 0.1]
    assert (arrays.max_funding_drag_usd, arrays.horizon_hours) == (123.0, 48.0)
    assert list(arrays.shocks) == [-0.3, 0.3] and arrays.shock_headroom_floor == 0.05


def test_to_kernel_arrays_when_override_names_unknown_venue_then_error_names_it() -> None:
    limits = load_limits({"venues": {"binanse": {"exposure_usd": 1.0}}})
    with pytest.raises(ConfigError, match=r"venues\.binanse"):
        to_kernel_arrays(limits, ["binance"], ["BTC"])
    assert len(to_kernel_arrays(limits, ["binance"], ["BTC"], strict=False).exposure_usd) == 1
