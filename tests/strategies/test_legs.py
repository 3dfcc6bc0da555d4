"""The leg planner: hedges from fills, clips bounded by the tolerance, never an unhedged remainder."""

from __future__ import annotations

from decimal import Decimal
from itertools import cycle

from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.legs import LegAction, floor_to_step, plan_next_leg

D = Decimal
SPOT_STEP, PERP_STEP = D("0.00001"), D("0.001")


def test_plan_when_spot_filled_unhedged_then_hedge_exactly_the_fill():
    step = plan_next_leg(D("0.1"), D(0), D("1"), D("0.1"), SPOT_STEP, PERP_STEP)
    assert (step.action, step.qty) == (LegAction.HEDGE, D("-0.1"))


def test_plan_when_balanced_and_short_of_target_then_next_clip():
    step = plan_next_leg(D("0.3"), D("-0.3"), D("1"), D("0.1"), SPOT_STEP, PERP_STEP)
    assert (step.action, step.qty) == (LegAction.CLIP, D("0.1"))


def test_plan_when_exiting_then_sell_clips():
    step = plan_next_leg(D("0.05"), D("-0.05"), D(0), D("0.1"), SPOT_STEP, PERP_STEP)
    assert (step.action, step.qty) == (LegAction.CLIP, D("-0.05"))


def test_plan_when_partial_fill_below_hedge_lot_then_no_hedge_yet():
    step = plan_next_leg(D("0.0004"), D(0), D("0.0004"), D("0.1"), SPOT_STEP, PERP_STEP)
    assert step.action is LegAction.DONE  # 0.0004 BTC cannot be hedged on a 0.001 lot


def test_plan_when_residual_below_lot_then_next_clip_completes_it_to_a_hedgeable_amount():
    step = plan_next_leg(D("0.10003"), D("-0.1"), D("1"), D("0.1"), SPOT_STEP, PERP_STEP)
    assert (step.action, step.qty) == (LegAction.CLIP, D("0.09997"))


def test_floor_to_step_when_negative_then_toward_zero():
    assert floor_to_step(D("-0.12345"), PERP_STEP) == D("-0.123")


@settings(max_examples=200, deadline=None)
@given(
    target=st.integers(min_value=0, max_value=5000).map(lambda n: D(n) * PERP_STEP),
    clip=st.integers(min_value=1, max_value=500).map(lambda n: D(n) * PERP_STEP),
    fill_fractions=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=50),
)
def test_plan_when_fills_partial_then_net_delta_within_one_clip_and_target_reached(
    target, clip, fill_fractions
):
    """Executing the plan with arbitrary partial fills keeps |net delta| <= clip and ends at the target."""
    spot = perp = D(0)
    fractions = cycle(fill_fractions)
    for _ in range(200_000):
        step = plan_next_leg(spot, perp, target, clip, SPOT_STEP, PERP_STEP)
        if step.action is LegAction.DONE:
            break
        lot = PERP_STEP if step.action is LegAction.HEDGE else SPOT_STEP
        filled = floor_to_step(step.qty * D(next(fractions)) / 100, lot) or step.qty
        if step.action is LegAction.HEDGE:
            perp += filled
        else:
            spot += filled
        assert abs(spot + perp) <= clip
    else:
        raise AssertionError("planner did not finish")
    assert abs(spot + perp) < PERP_STEP
    assert abs(target - spot) < PERP_STEP
