"""Pure carry signals: basis, funding annualization, carry economics, quote health, entry and exit gates."""

from __future__ import annotations

import math

import pytest

from engine.signals.carry import (
    EntryThresholds,
    basis_bps,
    entry_blocker,
    exit_reason,
    expected_carry_bps,
    funding_apr_pct,
    quote_is_fresh,
    quote_is_valid,
    round_trip_cost_bps,
)

TH = EntryThresholds(entry_basis_bps=5.0, entry_funding_apr_pct=10.0, round_trip_cost_bps=32.0)


def test_funding_apr_when_one_bp_per_8h_then_10_95_pct():
    assert funding_apr_pct(0.0001, 8) == pytest.approx(10.95)


def test_funding_apr_when_hourly_interval_then_scaled_by_interval():
    assert funding_apr_pct(0.0001, 1) == pytest.approx(87.6)


def test_basis_when_perp_above_spot_then_positive_contango():
    assert basis_bps(100.05, 100.0) == pytest.approx(5.0)
    assert basis_bps(99.98, 100.0) == pytest.approx(-2.0)


def test_expected_carry_when_14_days_at_one_bp_then_42_bps():
    assert expected_carry_bps(0.0001, 8, 336) == pytest.approx(42.0)


def test_round_trip_cost_when_vip0_taker_then_four_fills_plus_slippage():
    assert round_trip_cost_bps(0.001, 0.0005, 2.0) == pytest.approx(32.0)


@pytest.mark.parametrize(
    ("bid", "ask", "ok"),
    [
        (100.0, 100.1, True),
        (100.0, 100.0, True),
        (100.2, 100.1, False),
        (0.0, 1.0, False),
        (-1.0, 1.0, False),
        (math.nan, 1.0, False),
        (1.0, math.inf, False),
    ],
)
def test_quote_validity_when_crossed_nan_or_non_positive_then_invalid(bid, ask, ok):
    assert quote_is_valid(bid, ask) is ok


def test_quote_freshness_when_older_than_limit_then_stale():
    assert quote_is_fresh(10_000, 5_000, 5_000)
    assert not quote_is_fresh(10_001, 5_000, 5_000)


def test_entry_when_all_three_clear_then_allowed():
    assert entry_blocker(6.0, 10.95, 42.0, TH) is None


@pytest.mark.parametrize(
    ("basis", "apr", "carry", "why"),
    [
        (4.9, 20.0, 100.0, "basis_below_entry"),
        (6.0, 9.0, 100.0, "funding_below_entry"),
        (6.0, 10.95, 31.0, "carry_below_cost"),
        (math.nan, 10.95, 42.0, "signal_not_finite"),
    ],
)
def test_entry_when_one_condition_fails_then_blocked_with_reason(basis, apr, carry, why):
    assert entry_blocker(basis, apr, carry, TH) == why


@pytest.mark.parametrize(
    ("basis", "neg", "held", "why"),
    [
        (-2.0, 0, 0, "basis_at_exit"),
        (1.0, 3, 0, "funding_negative"),
        (1.0, 0, 100, "max_holding_time"),
        (1.0, 2, 99, None),
    ],
)
def test_exit_when_condition_met_then_reason(basis, neg, held, why):
    assert exit_reason(basis, -2.0, neg, 3, held, 100) == why
