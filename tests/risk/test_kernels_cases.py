"""Hand-computed cases for the risk kernels; every figure below is worked out in the comments."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from risk import kernels, reference
from risk.book import (
    APPROVE,
    DENY_FUNDING_DRAG,
    DENY_INITIAL_MARGIN,
    DENY_INVALID_ORDER,
    DENY_LIQUIDATION_DISTANCE,
    DENY_MARGIN_HEADROOM,
    DENY_NET_DELTA,
    DENY_SHOCK_HEADROOM,
    DENY_VENUE_EXPOSURE_SHARE,
    DENY_VENUE_EXPOSURE_USD,
    FP_AGAINST,
    FP_HORIZON,
    FP_NEXT,
    FT_DRAG,
    FT_HORIZON,
    FT_NEXT,
    KIND_FUTURE,
    KIND_PERP,
    KIND_SPOT,
    LQ_DIST_PCT,
    LQ_PRICE,
    MODE_ISOLATED,
    R_BEFORE,
    R_INDEX,
    R_LIMIT,
    R_SHOCK,
    R_VALUE,
    VE_ASSETS,
    VE_EXPOSURE,
    VE_NOTIONAL,
    VE_SHARE,
    VM_EQUITY,
    VM_FREE,
    VM_HEADROOM,
    VM_IM_ORDERS,
    VM_MAINT,
    Book,
    LimitArrays,
    MarginTier,
    OpenOrder,
    Position,
    Venue,
    build_book,
    build_limits,
    make_work,
    with_order,
    with_orders,
)
from risk.limits import RiskLimits, to_kernel_arrays

BINANCE_LIKE_TIERS = (
    MarginTier(50_000.0, 0.004, 0.0),
    MarginTier(250_000.0, 0.005, 50.0),
    MarginTier(1_000_000.0, 0.01, 1_300.0),
)
OPEN = 1e18

Check = Callable[..., int]
IMPLEMENTATIONS = pytest.mark.parametrize(
    "check", [kernels.pretrade_check, reference.pretrade_check], ids=["kernel", "reference"]
)


def _limits(book: Book, **overrides: float | list[float] | tuple[float, ...]) -> LimitArrays:
    """Limits that never fire, except those overridden."""
    params: dict = {
        "exposure_usd": OPEN,
        "exposure_share": OPEN,
        "headroom_floor": -OPEN,
        "min_liquidation_distance_pct": -OPEN,
        "max_abs_net_delta": OPEN,
        "max_funding_drag_usd": OPEN,
        "horizon_hours": 24.0,
        "shocks": (),
        "shock_headroom_floor": -OPEN,
    }
    params.update(overrides)
    return build_limits(book.n_venues, book.n_assets, **params)


def _run(check: Check, book: Book, lim: LimitArrays, *order: float) -> tuple[int, np.ndarray]:
    work = make_work(book, lim)
    slot_b = int(order[3]) if len(order) > 3 else -1
    legs = (int(order[0]), float(order[1]), float(order[2]), slot_b, *(map(float, order[4:6] or (0.0, 0.0))))
    code = check(book.ints, book.floats, work, *legs)
    return code, work


def _carry_book(perp_cash: float = 20_000.0) -> Book:
    """Spot venue 0 (100k USD, 1 BTC long), perp venue 1 (short 1 BTC perp at 50,000)."""
    return build_book(
        [
            Position(0, 0, KIND_SPOT, 1.0, mark=50_000.0, entry=50_000.0),
            Position(1, 0, KIND_PERP, -1.0, mark=50_000.0, entry=50_000.0, mmr=0.004, imr=0.1),
        ],
        [Venue(100_000.0), Venue(perp_cash)],
    )


# ---------------------------------------------------------------------------------------------------
# Net delta.


def test_net_delta_when_spot_long_and_perp_short_equal_then_delta_neutral() -> None:
    out = np.full((2, 1), np.nan)
    kernels.net_delta(*_arenas(_carry_book()), out)
    assert out[0, 0] == 0.0 and out[1, 0] == 0.0


def test_net_delta_when_cme_micro_futures_then_contracts_times_multiplier() -> None:
    # 10 MBT contracts of 0.1 BTC short against 1 BTC spot: 1 - 10 * 0.1 = 0.
    book = build_book(
        [
            Position(0, 0, KIND_SPOT, 1.0, mark=50_000.0),
            Position(1, 0, KIND_FUTURE, -10.0, mark=50_500.0, entry=50_500.0, multiplier=0.1, mmr=0.05),
        ],
        [Venue(0.0), Venue(50_000.0)],
    )
    out = np.full((2, 1), np.nan)
    kernels.net_delta(*_arenas(book), out)
    assert out[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_net_delta_when_open_orders_could_fill_then_reported_with_and_without_them() -> None:
    book = with_order(_carry_book(), OpenOrder(1, 0, KIND_PERP, -0.25, 50_100.0, imr=0.1))
    out = np.full((2, 1), np.nan)
    kernels.net_delta(*_arenas(book), out)
    assert out[0, 0] == 0.0 and out[1, 0] == -0.25


def _arenas(book: Book) -> tuple[np.ndarray, np.ndarray]:
    return book.ints, book.floats


# ---------------------------------------------------------------------------------------------------
# Margin, headroom, liquidation, shocks.


def test_margin_when_notional_in_second_and_third_binance_brackets_then_tiered_maintenance() -> None:
    # 2 BTC at 50,000 = 100,000 notional: bracket 2, 100,000 * 0.5% - 50 = 450.
    # 6 BTC at 50,000 = 300,000 notional: bracket 3, 300,000 * 1% - 1,300 = 1,700.
    # 1 BTC at 50,000 = 50,000 notional: bracket 1 (cap inclusive), 50,000 * 0.4% = 200.
    book = build_book(
        [
            Position(0, 0, KIND_PERP, -2.0, 50_000.0, 50_000.0, mmr=0.004, tiers=BINANCE_LIKE_TIERS),
            Position(1, 0, KIND_PERP, 6.0, 50_000.0, 50_000.0, mmr=0.004, tiers=BINANCE_LIKE_TIERS),
            Position(2, 0, KIND_PERP, 1.0, 50_000.0, 50_000.0, mmr=0.004, tiers=BINANCE_LIKE_TIERS),
        ],
        [Venue(1e6), Venue(1e6), Venue(1e6)],
    )
    for impl in (kernels.margin, reference.margin):
        per_pos, per_venue = np.full(3, np.nan), np.full((8, 3), np.nan)
        impl(book.ints, book.floats, per_pos, per_venue)
        assert per_pos == pytest.approx([450.0, 1_700.0, 200.0], rel=1e-12)
        assert per_venue[VM_MAINT] == pytest.approx([450.0, 1_700.0, 200.0], rel=1e-12)


def test_margin_headroom_when_short_perp_under_water_then_equity_less_maintenance_over_equity() -> None:
    # Cash 10,000; short 1 BTC from 50,000, mark 51,000: P&L -1,000, equity 9,000;
    # maintenance 51,000 * 0.4% = 204; headroom (9,000 - 204) / 9,000. Initial margin 5,100; a resting
    # spot buy of 0.1 BTC at 50,000 locks 5,000 more: free margin 9,000 - 5,100 - 5,000 = -1,100.
    book = build_book(
        [Position(0, 0, KIND_PERP, -1.0, 51_000.0, 50_000.0, mmr=0.004, imr=0.1)],
        [Venue(10_000.0)],
        [OpenOrder(0, 0, KIND_SPOT, 0.1, 50_000.0)],
    )
    per_pos, per_venue = np.full(1, np.nan), np.full((8, 1), np.nan)
    kernels.margin(book.ints, book.floats, per_pos, per_venue)
    assert per_venue[VM_EQUITY, 0] == 9_000.0
    assert per_venue[VM_HEADROOM, 0] == pytest.approx((9_000.0 - 204.0) / 9_000.0, rel=1e-12)
    assert per_venue[VM_IM_ORDERS, 0] == 5_000.0
    assert per_venue[VM_FREE, 0] == pytest.approx(-1_100.0, rel=1e-12)


def test_liquidation_when_cross_short_then_price_where_wallet_equals_maintenance() -> None:
    # Cross, cash 20,000, short 1 at 50,000, mmr 0.4%: 20,000 - (P - 50,000) = 0.004 P
    # -> P = 70,000 / 1.004 = 69,721.115...; distance (P - 50,000) / 50,000 = 39.442...%.
    book = _carry_book()
    for impl in (kernels.liquidation, reference.liquidation):
        out = np.full((2, 2), -1.0)
        impl(book.ints, book.floats, out)
        assert math.isnan(out[LQ_PRICE, 0]) and out[LQ_DIST_PCT, 0] == math.inf  # spot never liquidates
        assert out[LQ_PRICE, 1] == pytest.approx(70_000.0 / 1.004, rel=1e-12)
        assert out[LQ_DIST_PCT, 1] == pytest.approx(
            100.0 * (70_000.0 / 1.004 - 50_000.0) / 50_000.0, rel=1e-12
        )


def test_liquidation_when_isolated_then_only_its_own_margin_counts() -> None:
    # Same short, isolated with 5,000 of the 20,000: 5,000 - (P - 50,000) = 0.004 P -> P = 55,000 / 1.004.
    # A long 1 at 50,000 isolated with 5,000: 5,000 + (P - 50,000) = 0.004 P -> P = 45,000 / 0.996.
    book = build_book(
        [
            Position(
                0, 0, KIND_PERP, -1.0, 50_000.0, 50_000.0, mmr=0.004, isolated=True, isolated_margin=5_000.0
            ),
            Position(1, 0, KIND_PERP, 1.0, 50_000.0, 50_000.0, mmr=0.004, isolated_margin=5_000.0),
        ],
        [Venue(20_000.0), Venue(20_000.0, margin_mode=MODE_ISOLATED)],
    )
    for impl in (kernels.liquidation, reference.liquidation):
        out = np.full((2, 2), -1.0)
        impl(book.ints, book.floats, out)
        assert out[LQ_PRICE, 0] == pytest.approx(55_000.0 / 1.004, rel=1e-12)
        assert out[LQ_DIST_PCT, 0] == pytest.approx(100.0 * 4_800.0 / 50_200.0, rel=1e-12)
        assert out[LQ_PRICE, 1] == pytest.approx(45_000.0 / 0.996, rel=1e-12)


def test_shock_headroom_when_short_perp_and_rally_of_20pct_then_equity_gone() -> None:
    # Cash 10,000, short 1 from 50,000 at mark 51,000. +20%: mark 61,200, P&L -11,200, equity -1,200:
    # headroom -inf. -10%: mark 45,900, P&L +4,100, equity 14,100, maintenance 183.6.
    book = build_book([Position(0, 0, KIND_PERP, -1.0, 51_000.0, 50_000.0, mmr=0.004)], [Venue(10_000.0)])
    shocks = np.array([0.2, -0.1])
    for impl in (kernels.shock_headroom, reference.shock_headroom):
        out = np.full((2, 1), np.nan)
        impl(book.ints, book.floats, shocks, out)
        assert out[0, 0] == -math.inf
        assert out[1, 0] == pytest.approx((14_100.0 - 183.6) / 14_100.0, rel=1e-12)


# ---------------------------------------------------------------------------------------------------
# Funding and exposure.


def test_funding_drag_when_short_receives_and_long_pays_then_long_flagged_and_drag_net() -> None:
    # Rate +0.01% per 8h at 50,000. Short 2: next +10 received, 72h horizon: 9 settlements, +90.
    # Long 3 on a 4h interval: next -15, 18 settlements, -270, flagged. Net -180: drag 180.
    book = build_book(
        [
            Position(
                0, 0, KIND_PERP, -2.0, 50_000.0, 50_000.0, funding_rate=1e-4, funding_interval_hours=8.0
            ),
            Position(1, 0, KIND_PERP, 3.0, 50_000.0, 50_000.0, funding_rate=1e-4, funding_interval_hours=4.0),
        ],
        [Venue(1e5), Venue(1e5)],
    )
    for impl in (kernels.funding_drag, reference.funding_drag):
        per_pos, total = np.full((3, 2), np.nan), np.full(4, np.nan)
        impl(book.ints, book.floats, 72.0, per_pos, total)
        assert per_pos[FP_NEXT] == pytest.approx([10.0, -15.0], rel=1e-12)
        assert per_pos[FP_HORIZON] == pytest.approx([90.0, -270.0], rel=1e-12)
        assert list(per_pos[FP_AGAINST]) == [0.0, 1.0]
        assert total[FT_NEXT] == pytest.approx(-5.0, rel=1e-12)
        assert total[FT_HORIZON] == pytest.approx(-180.0, rel=1e-12)
        assert total[FT_DRAG] == pytest.approx(180.0, rel=1e-12)


def test_venue_exposure_when_spot_and_perp_venues_then_larger_of_assets_and_notional() -> None:
    # Venue 0: 100,000 cash + 1 BTC at 50,000 = 150,000 assets, 50,000 notional -> 150,000.
    # Venue 1: 20,000 cash, short 1 at 50,000 = 20,000 assets, 50,000 notional -> 50,000.
    # Total equity 170,000.
    for impl in (kernels.venue_exposure, reference.venue_exposure):
        out = np.full((4, 2), np.nan)
        impl(*_arenas(_carry_book()), out)
        assert list(out[VE_ASSETS]) == [150_000.0, 20_000.0]
        assert list(out[VE_NOTIONAL]) == [50_000.0, 50_000.0]
        assert list(out[VE_EXPOSURE]) == [150_000.0, 50_000.0]
        assert out[VE_SHARE] == pytest.approx([150 / 170, 50 / 170], rel=1e-12)


# ---------------------------------------------------------------------------------------------------
# Pre-trade check.


@IMPLEMENTATIONS
def test_pretrade_when_pair_would_push_perp_venue_over_exposure_limit_then_pair_denied_before_first_leg(
    check: Check,
) -> None:
    # Perp venue exposure 50,000 now; limit 70,000. The pair adds 0.5 BTC to each leg: the perp venue's
    # notional goes to 75,000. The first leg alone (spot buy) would pass: the pair is denied as a whole.
    book = _carry_book()
    lim = _limits(book, exposure_usd=[1e9, 70_000.0])
    code, work = _run(check, book, lim, 0, 0.5, 50_000.0, 1, -0.5, 50_000.0)
    assert code == DENY_VENUE_EXPOSURE_USD
    assert (work[R_INDEX], work[R_VALUE], work[R_LIMIT], work[R_BEFORE]) == (1, 75_000.0, 70_000.0, 50_000.0)
    first_leg_only, _ = _run(check, book, lim, 0, 0.5, 50_000.0)
    assert first_leg_only == APPROVE


@IMPLEMENTATIONS
def test_pretrade_when_order_reduces_a_breached_exposure_then_approved(check: Check) -> None:
    book = _carry_book()
    lim = _limits(book, exposure_usd=[1e9, 40_000.0])  # already breached: 50,000 > 40,000
    code, _ = _run(check, book, lim, 1, 0.2, 50_000.0)  # buy back 0.2 of the short
    assert code == APPROVE
    code, work = _run(check, book, lim, 1, -0.2, 50_000.0)  # adding to the short makes it worse
    assert code == DENY_VENUE_EXPOSURE_USD and work[R_VALUE] == 60_000.0


@IMPLEMENTATIONS
def test_pretrade_when_hedged_pair_then_delta_limit_passes_and_single_leg_is_denied(check: Check) -> None:
    book = _carry_book()
    lim = _limits(book, max_abs_net_delta=0.1)
    assert _run(check, book, lim, 0, 1.0, 50_000.0, 1, -1.0, 50_000.0)[0] == APPROVE
    code, work = _run(check, book, lim, 0, 1.0, 50_000.0)
    assert code == DENY_NET_DELTA
    assert (work[R_INDEX], work[R_VALUE], work[R_LIMIT], work[R_BEFORE]) == (0, 1.0, 0.1, 0.0)


@IMPLEMENTATIONS
def test_pretrade_when_spot_buy_exceeds_cash_then_initial_margin_denied(check: Check) -> None:
    # Venue 0 has 100,000 USD: buying 3 BTC at 50,000 needs 150,000 -> free margin -50,000.
    code, work = _run(check, _carry_book(), _limits(_carry_book()), 0, 3.0, 50_000.0)
    assert code == DENY_INITIAL_MARGIN
    assert (work[R_VALUE], work[R_BEFORE], work[R_INDEX]) == (-50_000.0, 100_000.0, 0)


@IMPLEMENTATIONS
def test_pretrade_when_perp_short_grows_past_headroom_floor_then_denied_with_figures(check: Check) -> None:
    # Perp venue: cash 20,000, short 1 -> maintenance 200, headroom 0.99. Selling 2 more at 50,000:
    # short 3, maintenance 600, headroom (20,000 - 600) / 20,000 = 0.97 < floor 0.975 (initial margin
    # 15,000 still fits in the 20,000).
    book = _carry_book()
    lim = _limits(book, headroom_floor=0.975)
    code, work = _run(check, book, lim, 1, -2.0, 50_000.0)
    assert code == DENY_MARGIN_HEADROOM
    assert work[R_VALUE] == pytest.approx(0.97, rel=1e-12)
    assert work[R_BEFORE] == pytest.approx(0.99, rel=1e-12)


@IMPLEMENTATIONS
def test_pretrade_when_short_grows_near_liquidation_then_distance_limit_denies(check: Check) -> None:
    # Cross short 1 with 20,000: 39.44% from liquidation. Short 2 in total: gap 20,000 - 400 = 19,600,
    # slope 2 * 50,000 * 1.004 = 100,400 -> 19.52%, below a 25% minimum.
    book = _carry_book()
    lim = _limits(book, min_liquidation_distance_pct=25.0)
    code, work = _run(check, book, lim, 1, -1.0, 50_000.0)
    assert code == DENY_LIQUIDATION_DISTANCE
    assert work[R_VALUE] == pytest.approx(100.0 * 19_600.0 / 100_400.0, rel=1e-12)
    assert work[R_BEFORE] == pytest.approx(100.0 * 19_800.0 / 50_200.0, rel=1e-12)


@IMPLEMENTATIONS
def test_pretrade_when_rally_shock_would_wipe_the_perp_venue_then_shock_headroom_denies(check: Check) -> None:
    # After selling 1 more (short 2, cash 20,000), +20% takes P&L to -20,000: equity 0 -> -inf headroom.
    book = _carry_book()
    lim = _limits(book, shocks=(-0.2, 0.2), shock_headroom_floor=0.0)
    code, work = _run(check, book, lim, 1, -1.0, 50_000.0)
    assert code == DENY_SHOCK_HEADROOM
    assert work[R_SHOCK] == 1 and work[R_VALUE] == -math.inf


@IMPLEMENTATIONS
def test_pretrade_when_long_perp_pays_funding_beyond_limit_then_funding_drag_denies(check: Check) -> None:
    # Buying 2 perp at 50,000 with rate +0.01%/8h: pays 10 per settlement, 3 per 24h horizon = 30 > 25.
    book = build_book(
        [Position(0, 0, KIND_PERP, 0.0, 50_000.0, 0.0, mmr=0.004, imr=0.1, funding_rate=1e-4)],
        [Venue(1e6)],
    )
    lim = _limits(book, max_funding_drag_usd=25.0, horizon_hours=24.0)
    code, work = _run(check, book, lim, 0, 2.0, 50_000.0)
    assert code == DENY_FUNDING_DRAG
    assert work[R_VALUE] == pytest.approx(30.0, rel=1e-12) and work[R_BEFORE] == 0.0
    assert _run(check, book, lim, 0, -2.0, 50_000.0)[0] == APPROVE  # the short receives


@IMPLEMENTATIONS
def test_pretrade_when_venue_would_hold_too_large_a_share_then_share_limit_denies(check: Check) -> None:
    # Perp venue exposure 50,000 of 170,000 total equity (29.4%); selling 1 more makes 100,000 (58.8%).
    book = _carry_book()
    lim = _limits(book, exposure_share=[1.0, 0.5])
    code, work = _run(check, book, lim, 1, -1.0, 50_000.0)
    assert code == DENY_VENUE_EXPOSURE_SHARE
    assert work[R_VALUE] == pytest.approx(100_000.0 / 170_000.0, rel=1e-12)


def test_pretrade_gate_when_called_twice_then_decision_reports_the_last_check() -> None:
    book = _carry_book()
    gate = kernels.PreTradeGate(book, _limits(book, max_abs_net_delta=0.1))
    assert gate.check(0, 1.0, 50_000.0) == DENY_NET_DELTA
    assert gate.decision().reason == "net_delta" and gate.decision().value == 1.0
    assert gate.check_pair(0, 1.0, 50_000.0, 1, -1.0, 50_000.0) == APPROVE
    assert gate.decision().approved


def test_pretrade_gate_when_mark_updated_in_place_then_next_check_sees_it() -> None:
    # The gate reads the book's arenas: a rally written into the book's mark view must show up.
    book = _carry_book()
    gate = kernels.PreTradeGate(book, _limits(book, min_liquidation_distance_pct=30.0))
    assert gate.check(1, -0.1, 50_000.0) == APPROVE  # ~37% from liquidation after the order
    book.mark[1] = 60_000.0  # P&L -10,000: the short is now ~16% from liquidation
    assert gate.check(1, -0.1, 60_000.0) == DENY_LIQUIDATION_DISTANCE


def test_pretrade_gate_when_default_pydantic_limits_then_a_modest_carry_pair_is_approved() -> None:
    book = _carry_book(perp_cash=50_000.0)
    lim = to_kernel_arrays(
        RiskLimits.model_validate({"assets": {"BTC": {"max_abs_net_delta": 0.5}}}), ["spot", "perp"], ["BTC"]
    )
    gate = kernels.PreTradeGate(book, lim)
    assert gate.check_pair(0, 0.2, 50_000.0, 1, -0.2, 50_000.0) == APPROVE, gate.decision()
    assert gate.check(0, 0.6, 50_000.0) == DENY_NET_DELTA


def test_with_orders_when_pair_appended_then_open_orders_hold_both_legs() -> None:
    book = with_orders(
        _carry_book(), OpenOrder(0, 0, KIND_SPOT, 0.5, 50_000.0), OpenOrder(1, 0, KIND_PERP, -0.5, 50_000.0)
    )
    assert book.n_orders == 2 and list(book.order_qty) == [0.5, -0.5]
    out = np.full((2, 1), np.nan)
    kernels.net_delta(book.ints, book.floats, out)
    assert out[1, 0] == 0.0


@IMPLEMENTATIONS
def test_pretrade_when_work_buffer_built_for_a_smaller_book_then_refused(check: Check) -> None:
    # A buffer for a 1-venue, 1-asset book is too small for the 2-venue carry book: the check fails
    # closed instead of writing past the buffer's end.
    small = build_book([Position(0, 0, KIND_PERP, 0.0, 100.0)], [Venue(1e6)])
    work = make_work(small, _limits(small))
    book = _carry_book()
    assert check(book.ints, book.floats, work, 1, -0.1, 50_000.0, -1, 0.0, 0.0) == DENY_INVALID_ORDER
