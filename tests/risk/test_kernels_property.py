"""Property tests: every numba kernel agrees with its plain-Python reference over random books."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk import kernels, reference
from risk.book import (
    DENY_INVALID_ORDER,
    FP_ROWS,
    FT_ROWS,
    KIND_FUTURE,
    KIND_PERP,
    KIND_SPOT,
    LQ_ROWS,
    MODE_CROSS,
    MODE_ISOLATED,
    R_BEFORE,
    R_CODE,
    R_INDEX,
    R_LIMIT,
    R_SHOCK,
    R_VALUE,
    RESULT_SIZE,
    VE_ROWS,
    VM_ROWS,
    Book,
    LimitArrays,
    MarginTier,
    OpenOrder,
    Position,
    Venue,
    build_book,
    build_limits,
    make_work,
)

REL = 1e-9
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _scale(book: Book) -> float:
    """Size of the USD inputs of the book: the absolute tolerance of a sum is relative to this."""
    s = float(np.sum(np.abs(book.venue_cash)))
    s += float(np.sum(np.abs(book.qty) * book.multiplier * (book.mark + np.abs(book.entry))))
    s += float(np.sum(book.isolated_margin))
    s += float(np.sum(np.abs(book.order_qty) * book.order_multiplier * book.order_price))
    return max(s, 1.0)


def _close(got: float, want: float, abs_tol: float) -> bool:
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    if math.isinf(want) or math.isinf(got):
        return got == want
    return abs(got - want) <= REL * max(abs(got), abs(want)) + abs_tol


def _assert_close(got: np.ndarray, want: np.ndarray, abs_tol: float | np.ndarray, what: str) -> None:
    tol = np.broadcast_to(np.asarray(abs_tol, dtype=np.float64), want.shape)
    for idx in np.ndindex(want.shape):
        g, w = float(got[idx]), float(want[idx])
        assert _close(g, w, float(tol[idx])), f"{what}{list(idx)}: kernel {g!r} != reference {w!r}"


# ---------------------------------------------------------------------------------------------------
# Strategies.

MARKS = st.floats(10.0, 100_000.0)
TIER_SETS = st.sampled_from(
    [
        (),
        (
            MarginTier(50_000.0, 0.004, 0.0),
            MarginTier(250_000.0, 0.005, 50.0),
            MarginTier(1e12, 0.01, 1_300.0),
        ),
        (
            MarginTier(50_000.0, 0.004, 0.0),
            MarginTier(250_000.0, 0.005, 50.0),
            MarginTier(1e12, 0.01, 1_300.0),
        ),
        (MarginTier(10_000.0, 0.01, 0.0), MarginTier(1e12, 0.025, 150.0)),
    ]
)


@st.composite
def positions(draw: st.DrawFn, n_venues: int, n_assets: int) -> Position:
    kind = draw(st.sampled_from([KIND_SPOT, KIND_PERP, KIND_PERP, KIND_FUTURE]))
    mark = draw(MARKS)
    qty = draw(st.one_of(st.just(0.0), st.floats(-50.0, 50.0)))
    mult = 1.0 if kind != KIND_FUTURE else draw(st.sampled_from([0.1, 5.0]))
    notional = abs(qty) * mult * mark
    return Position(
        venue=draw(st.integers(0, n_venues - 1)),
        asset=draw(st.integers(0, n_assets - 1)),
        kind=kind,
        qty=qty,
        mark=mark,
        entry=mark * (1.0 + draw(st.floats(-0.3, 0.3))),
        multiplier=mult,
        mmr=draw(st.floats(0.0, 0.1)),
        imr=draw(st.floats(0.0, 0.2)),
        isolated=kind != KIND_SPOT and draw(st.booleans()),
        isolated_margin=notional * draw(st.floats(0.0, 0.5)),
        funding_accrued=draw(st.floats(-1_000.0, 1_000.0)),
        funding_rate=draw(st.floats(-0.003, 0.003)) if kind == KIND_PERP else 0.0,
        funding_interval_hours=draw(st.sampled_from([1.0, 4.0, 8.0])),
        tiers=draw(TIER_SETS) if kind != KIND_SPOT else (),
    )


@st.composite
def books(draw: st.DrawFn, min_positions: int = 0) -> Book:
    m = draw(st.integers(1, 3))
    a = draw(st.integers(1, 3))
    pos = draw(st.lists(positions(m, a), min_size=min_positions, max_size=12))
    venues = [
        Venue(
            cash=draw(st.one_of(st.floats(-5_000.0, 2_000_000.0), st.floats(2e6, 5e7), st.just(0.0))),
            margin_mode=draw(st.sampled_from([MODE_CROSS, MODE_CROSS, MODE_ISOLATED])),
        )
        for _ in range(m)
    ]
    orders = draw(
        st.lists(
            st.builds(
                OpenOrder,
                venue=st.integers(0, m - 1),
                asset=st.integers(0, a - 1),
                kind=st.sampled_from([KIND_SPOT, KIND_PERP, KIND_FUTURE]),
                qty=st.floats(-20.0, 20.0),
                price=MARKS,
                multiplier=st.sampled_from([1.0, 0.1, 5.0]),
                imr=st.floats(0.0, 0.2),
            ),
            max_size=4,
        )
    )
    return build_book(pos, venues, orders, n_assets=a)


SHOCK_SETS = st.sampled_from([(), (-0.2, -0.1, 0.1, 0.2), (-0.5, 0.3), (0.1,)])


@st.composite
def limit_arrays(draw: st.DrawFn, book: Book) -> LimitArrays:
    m, a = book.n_venues, book.n_assets
    return build_limits(
        m,
        a,
        exposure_usd=[draw(st.floats(1_000.0, 5_000_000.0)) for _ in range(m)],
        exposure_share=[draw(st.floats(0.05, 1.0)) for _ in range(m)],
        headroom_floor=[draw(st.floats(0.0, 0.99)) for _ in range(m)],
        min_liquidation_distance_pct=[draw(st.floats(0.0, 60.0)) for _ in range(m)],
        max_abs_net_delta=[draw(st.floats(0.0, 100.0)) for _ in range(a)],
        max_funding_drag_usd=draw(st.floats(0.0, 5_000.0)),
        horizon_hours=draw(st.sampled_from([8.0, 24.0, 72.0])),
        shocks=draw(SHOCK_SETS),
        shock_headroom_floor=draw(st.floats(0.0, 0.9)),
    )


@st.composite
def legs(draw: st.DrawFn, book: Book) -> tuple[int, float, float, int, float, float]:
    n = book.n_positions

    def leg() -> tuple[int, float, float]:
        # About one leg in twenty is malformed (bad slot, zero quantity or zero price).
        bad = draw(st.integers(0, 59))
        slot = draw(st.integers(-3, n + 2)) if bad == 0 else draw(st.integers(0, n - 1))
        mark = float(book.mark[slot]) if 0 <= slot < n else 100.0
        qty = 0.0 if bad == 1 else draw(st.floats(-30.0, 30.0).filter(lambda q: q != 0.0))
        price = 0.0 if bad == 2 else mark * draw(st.one_of(st.just(1.0), st.floats(0.7, 1.3)))
        return slot, qty, price

    slot_a, qty_a, price_a = leg()
    if draw(st.booleans()):
        return slot_a, qty_a, price_a, -1, 0.0, 0.0
    slot_b, qty_b, price_b = leg()
    if draw(st.booleans()) and 0 <= slot_a < n:
        qty_b = -qty_a  # the hedge leg of a carry pair
    return slot_a, qty_a, price_a, slot_b, qty_b, price_b


# ---------------------------------------------------------------------------------------------------
# Book-wide kernels.


@SETTINGS
@given(book=books())
def test_net_delta_when_random_book_then_kernel_matches_reference(book: Book) -> None:
    got = np.full((2, book.n_assets), np.nan)
    want = np.full((2, book.n_assets), np.nan)
    kernels.net_delta(book.ints, book.floats, got)
    reference.net_delta(book.ints, book.floats, want)
    scale = float(np.sum(np.abs(book.qty) * book.multiplier) + np.sum(np.abs(book.order_qty)))
    _assert_close(got, want, REL * max(scale, 1.0), "net_delta")


@SETTINGS
@given(book=books())
def test_margin_when_random_book_then_kernel_matches_reference(book: Book) -> None:
    n, m = book.n_positions, book.n_venues
    got_p, want_p = np.full(n, np.nan), np.full(n, np.nan)
    got_v, want_v = np.full((VM_ROWS, m), np.nan), np.full((VM_ROWS, m), np.nan)
    kernels.margin(book.ints, book.floats, got_p, got_v)
    reference.margin(book.ints, book.floats, want_p, want_v)
    scale = _scale(book)
    _assert_close(got_p, want_p, REL * scale, "maintenance")
    # Headroom is a ratio over equity: its absolute error grows as equity shrinks.
    tol = np.full((VM_ROWS, m), REL * scale)
    tol[6] = REL * scale / np.maximum(np.abs(want_v[2]), 1e-300)
    _assert_close(got_v, want_v, tol, "venue_margin")


@SETTINGS
@given(book=books())
def test_liquidation_when_random_book_then_kernel_matches_reference(book: Book) -> None:
    n = book.n_positions
    got, want = np.full((LQ_ROWS, n), -1.0), np.full((LQ_ROWS, n), -1.0)
    kernels.liquidation(book.ints, book.floats, got)
    reference.liquidation(book.ints, book.floats, want)
    scale = _scale(book)
    # Price = mark * (1 + gap/slope), distance = 100 * gap / |slope|: errors scale with 1 / |slope|.
    slope = np.maximum(np.abs(book.qty) * book.multiplier * book.mark * 0.5, 1e-300)
    tol = np.vstack([REL * scale * book.mark / slope, 100 * REL * scale / slope])
    _assert_close(got, want, tol, "liquidation")


@SETTINGS
@given(book=books(), shocks=SHOCK_SETS)
def test_shock_headroom_when_random_book_then_kernel_matches_reference(book: Book, shocks: tuple) -> None:
    s = np.array(shocks, dtype=np.float64)
    got, want = np.full((len(s), book.n_venues), np.nan), np.full((len(s), book.n_venues), np.nan)
    kernels.shock_headroom(book.ints, book.floats, s, got)
    reference.shock_headroom(book.ints, book.floats, s, want)
    plain = reference._read(book.ints, book.floats)
    eq = np.array([[e for e, _ in row] for row in reference._shocked(plain, list(shocks))]).reshape(got.shape)
    _assert_close(got, want, REL * _scale(book) * 2 / np.maximum(np.abs(eq), 1e-300), "shock_headroom")


@SETTINGS
@given(book=books(), horizon=st.floats(1.0, 1_000.0))
def test_funding_drag_when_random_book_then_kernel_matches_reference(book: Book, horizon: float) -> None:
    n = book.n_positions
    got_p, want_p = np.full((FP_ROWS, n), np.nan), np.full((FP_ROWS, n), np.nan)
    got_t, want_t = np.full(FT_ROWS, np.nan), np.full(FT_ROWS, np.nan)
    kernels.funding_drag(book.ints, book.floats, horizon, got_p, got_t)
    reference.funding_drag(book.ints, book.floats, horizon, want_p, want_t)
    scale = _scale(book) * 0.003 * horizon + float(np.sum(np.abs(book.funding_accrued)))
    _assert_close(got_p, want_p, REL * scale, "funding_pos")
    _assert_close(got_t, want_t, REL * scale, "funding_total")


@SETTINGS
@given(book=books())
def test_venue_exposure_when_random_book_then_kernel_matches_reference(book: Book) -> None:
    m = book.n_venues
    got, want = np.full((VE_ROWS, m), np.nan), np.full((VE_ROWS, m), np.nan)
    kernels.venue_exposure(book.ints, book.floats, got)
    reference.venue_exposure(book.ints, book.floats, want)
    scale = _scale(book)
    total = float(sum(want[0]))
    tol = np.full((VE_ROWS, m), REL * scale)
    tol[3] = REL * scale * 4 / max(abs(total), 1e-300)
    _assert_close(got, want, tol, "venue_exposure")


# ---------------------------------------------------------------------------------------------------
# Pre-trade check.


def _result_tolerance(book: Book, code: int, want: np.ndarray) -> float:
    """Absolute tolerance of the figures of a decision: ratios (headroom, share) and distances are
    divided by small denominators, so bound their error from the book's scale instead."""
    scale = _scale(book) * 2
    if code in (4, 5, 6, 8):  # headroom, shock headroom, liquidation distance, share
        return math.inf if not all(map(math.isfinite, want[[R_VALUE, R_BEFORE]])) else 1e-6
    return REL * scale


def _run_both(
    book: Book, lim: LimitArrays, order: tuple[int, float, float, int, float, float]
) -> tuple[int, np.ndarray, int, np.ndarray]:
    work_k = make_work(book, lim)
    work_r = make_work(book, lim)
    # Stale scratch must not leak into a decision: fill it with NaN (the limits copy stays).
    work_k[len(lim.values) + RESULT_SIZE :] = np.nan
    code_k = kernels.pretrade_check(book.ints, book.floats, work_k, *order)
    code_r = reference.pretrade_check(book.ints, book.floats, work_r, *order)
    return code_k, work_k[:RESULT_SIZE], code_r, work_r[:RESULT_SIZE]


@SETTINGS
@given(data=st.data())
def test_pretrade_check_when_random_book_and_order_then_kernel_decides_like_reference(
    data: st.DataObject,
) -> None:
    book = data.draw(books(min_positions=1))
    lim = data.draw(limit_arrays(book))
    order = data.draw(legs(book))
    code_k, res_k, code_r, res_r = _run_both(book, lim, order)
    assert code_k == code_r, f"kernel decided {code_k}, reference {code_r}: {res_k} vs {res_r}"
    assert res_k[R_CODE] == code_k
    assert res_k[R_INDEX] == res_r[R_INDEX] and res_k[R_SHOCK] == res_r[R_SHOCK]
    assert res_k[R_LIMIT] == res_r[R_LIMIT]
    tol = _result_tolerance(book, code_r, res_r)
    for field in (R_VALUE, R_BEFORE):
        assert _close(float(res_k[field]), float(res_r[field]), tol), f"field {field}: {res_k} vs {res_r}"


OPEN = 1e300  # a limit that never fires
STRICT_LIMITS: dict[str, dict[str, float]] = {
    # One limit so tight that it fires whenever the order worsens its figure, every other one open:
    # the figures of every check, not only of the first that fires on random limits, meet the reference.
    "net_delta": {"max_abs_net_delta": 0.0},
    "margin_headroom": {"headroom_floor": 1.0},
    "shock_headroom": {"shock_headroom_floor": 1.0},
    "liquidation_distance": {"min_liquidation_distance_pct": OPEN},
    "venue_exposure_usd": {"exposure_usd": 1e-9},
    "venue_exposure_share": {"exposure_share": 1e-12},
    "funding_drag": {"max_funding_drag_usd": 0.0},
}


@pytest.mark.parametrize("strict", sorted(STRICT_LIMITS))
@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_pretrade_check_when_one_limit_strict_then_kernel_figures_match_reference(
    strict: str, data: st.DataObject
) -> None:
    book = data.draw(books(min_positions=1))
    order = data.draw(legs(book))
    params: dict[str, float] = {
        "exposure_usd": OPEN,
        "exposure_share": OPEN,
        "headroom_floor": -OPEN,
        "min_liquidation_distance_pct": -OPEN,
        "max_abs_net_delta": OPEN,
        "max_funding_drag_usd": OPEN,
        "shock_headroom_floor": -OPEN,
    }
    params.update(STRICT_LIMITS[strict])
    shock_floor = params.pop("shock_headroom_floor")
    lim = build_limits(
        book.n_venues,
        book.n_assets,
        horizon_hours=24.0,
        shocks=data.draw(SHOCK_SETS),
        shock_headroom_floor=shock_floor,
        exposure_usd=params["exposure_usd"],
        exposure_share=params["exposure_share"],
        headroom_floor=params["headroom_floor"],
        min_liquidation_distance_pct=params["min_liquidation_distance_pct"],
        max_abs_net_delta=params["max_abs_net_delta"],
        max_funding_drag_usd=params["max_funding_drag_usd"],
    )
    code_k, res_k, code_r, res_r = _run_both(book, lim, order)
    assert code_k == code_r, f"kernel decided {code_k}, reference {code_r}: {res_k} vs {res_r}"
    assert res_k[R_INDEX] == res_r[R_INDEX] and res_k[R_SHOCK] == res_r[R_SHOCK]
    tol = _result_tolerance(book, code_r, res_r)
    for field in (R_VALUE, R_BEFORE):
        assert _close(float(res_k[field]), float(res_r[field]), tol), f"field {field}: {res_k} vs {res_r}"


@SETTINGS
@given(data=st.data())
def test_pretrade_check_when_scratch_reused_across_orders_then_results_match_fresh_scratch(
    data: st.DataObject,
) -> None:
    book = data.draw(books(min_positions=1))
    lim = data.draw(limit_arrays(book))
    first, second = data.draw(legs(book)), data.draw(legs(book))
    shared = make_work(book, lim)
    kernels.pretrade_check(book.ints, book.floats, shared, *first)
    code_reused = kernels.pretrade_check(book.ints, book.floats, shared, *second)
    fresh = make_work(book, lim)
    code_fresh = kernels.pretrade_check(book.ints, book.floats, fresh, *second)
    assert code_reused == code_fresh
    np.testing.assert_array_equal(shared[:RESULT_SIZE], fresh[:RESULT_SIZE])


@pytest.mark.parametrize(
    "order",
    [
        (-1, 1.0, 100.0, -1, 0.0, 0.0),
        (0, 0.0, 100.0, -1, 0.0, 0.0),
        (0, 1.0, 0.0, -1, 0.0, 0.0),
        (0, float("nan"), 100.0, -1, 0.0, 0.0),
        (0, 1.0, 100.0, 5, 1.0, 100.0),
        (0, 1.0, 100.0, -2, 1.0, 100.0),
    ],
)
def test_pretrade_check_when_order_malformed_then_both_deny_invalid(
    order: tuple[int, float, float, int, float, float],
) -> None:
    book = build_book([Position(0, 0, KIND_PERP, 0.0, 100.0)], [Venue(1_000.0)])
    lim = build_limits(
        1,
        1,
        exposure_usd=1e9,
        exposure_share=1.0,
        headroom_floor=0.0,
        min_liquidation_distance_pct=0.0,
        max_abs_net_delta=1e9,
        max_funding_drag_usd=1e9,
        horizon_hours=8.0,
    )
    code_k, _, code_r, _ = _run_both(book, lim, order)
    assert code_k == code_r == DENY_INVALID_ORDER
