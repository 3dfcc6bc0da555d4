"""The leg planner: hedges from fills, clips bounded by the tolerance, never an unhedged remainder."""

from __future__ import annotations

from decimal import Decimal
from itertools import cycle

from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.legs import LegAction, floor_to_step, plan_next_leg, round_to_step

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


def test_plan_when_fee_taken_in_spot_then_hedge_to_the_nearest_lot_not_toward_zero():
    # Bought 0.02 BTC, 0.1% fee in BTC: 0.01998 held. Toward zero would leave 0.00098 BTC (98% of a lot) open.
    step = plan_next_leg(D("0.01998"), D(0), D("0.02"), D("0.02"), SPOT_STEP, PERP_STEP)
    assert (step.action, step.qty) == (LegAction.HEDGE, D("-0.020"))


def test_plan_when_exit_leaves_spot_dust_then_perp_closed_fully():
    # Everything sellable sold; 0.00000098 BTC of fee dust stays. The whole short must still be bought back.
    step = plan_next_leg(D("0.00000098"), D("-0.04"), D(0), D("0.02"), SPOT_STEP, PERP_STEP)
    assert (step.action, step.qty) == (LegAction.HEDGE, D("0.040"))


def test_plan_when_exiting_and_what_is_left_is_sellable_then_sold_even_under_a_hedge_lot():
    step = plan_next_leg(D("0.0004"), D(0), D(0), D("0.02"), SPOT_STEP, PERP_STEP)
    assert (step.action, step.qty) == (LegAction.CLIP, D("-0.0004"))


def test_plan_when_exiting_and_what_is_left_is_under_the_venues_minimum_order_then_done():
    # 0.00015 BTC at ~28k is 4.2 USDT, under Binance's 5 USDT minimum notional: no order could sell it.
    step = plan_next_leg(D("0.00015"), D(0), D(0), D("0.02"), SPOT_STEP, PERP_STEP, first_min=D("0.00018"))
    assert step.action is LegAction.DONE


def test_plan_when_imbalance_exactly_half_a_lot_then_not_over_hedged():
    step = plan_next_leg(D("0.0205"), D("-0.02"), D("0.0205"), D("0.02"), SPOT_STEP, PERP_STEP)
    assert step.action is LegAction.DONE


def test_round_to_step_when_between_lots_then_nearest_and_ties_toward_zero():
    assert round_to_step(D("-0.01998"), PERP_STEP) == D("-0.020")
    assert round_to_step(D("0.0014"), PERP_STEP) == D("0.001")
    assert round_to_step(D("-0.0005"), PERP_STEP) == D("0")


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


FEE = D("0.001")


def _run_to(target, spot, perp, clip, fractions):
    """Execute the plan; a spot buy keeps its fill net of a BTC fee (8 decimals, as Binance books it)."""
    for _ in range(200_000):
        step = plan_next_leg(spot, perp, target, clip, SPOT_STEP, PERP_STEP)
        if step.action is LegAction.DONE:
            return spot, perp
        lot = PERP_STEP if step.action is LegAction.HEDGE else SPOT_STEP
        filled = floor_to_step(step.qty * D(next(fractions)) / 100, lot) or step.qty
        if step.action is LegAction.HEDGE:
            perp += filled
        else:
            spot += filled - (filled * FEE).quantize(D("0.00000001")) if filled > 0 else filled
        assert abs(spot + perp) <= clip
    raise AssertionError("planner did not finish")


@settings(max_examples=200, deadline=None)
@given(
    target=st.integers(min_value=1, max_value=500).map(lambda n: D(n) * PERP_STEP),
    clip=st.integers(min_value=1, max_value=500).map(lambda n: D(n) * PERP_STEP),
    fill_fractions=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=50),
)
def test_plan_when_spot_fees_taken_in_btc_then_entry_hedged_within_half_a_lot_and_exit_ends_perp_flat(
    target, clip, fill_fractions
):
    """With a fee in the asset bought, the entry ends hedged within half a lot and the exit leaves no perp."""
    fractions = cycle(fill_fractions)
    spot, perp = _run_to(target, D(0), D(0), clip, fractions)
    assert abs(spot + perp) <= PERP_STEP / 2
    spot, perp = _run_to(D(0), spot, perp, clip, fractions)
    assert perp == 0
    assert 0 <= spot < SPOT_STEP  # fee dust only: nothing sellable left
