"""Convergence signals: the gap, entry direction, convergence, contract-matched hedges, Globex hours."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from engine.signals.convergence import (
    LONG_CME,
    NO_TRADE,
    SHORT_CME,
    ConvergenceThresholds,
    converged,
    entry_side,
    gap_bps,
    globex_open,
    hedge_for_contracts,
    spread_apr,
)

D = Decimal
TH = ConvergenceThresholds(entry_spread_apr=0.05, exit_spread_apr=0.01)
TH_GAP = ConvergenceThresholds(0.05, 0.01, entry_gap_bps=100.0, exit_gap_bps=10.0)


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


def test_gap_bps_when_future_over_perp_then_bps_by_hand():
    assert float(gap_bps(50_500.0, 50_000.0)) == pytest.approx(100.0, abs=1e-9)
    assert float(gap_bps(49_750.0, 50_000.0)) == pytest.approx(-50.0, abs=1e-9)


def test_gap_bps_when_price_not_positive_then_nan():
    assert math.isnan(float(gap_bps(50_000.0, 0.0)))


def test_spread_when_basis_and_funding_then_difference():
    assert float(spread_apr(0.12, 0.10)) == pytest.approx(0.02, abs=1e-15)


def test_entry_when_spread_above_threshold_then_short_cme():
    assert int(entry_side(0.06, 0.0, TH)) == SHORT_CME


def test_entry_when_spread_below_minus_threshold_then_long_cme():
    assert int(entry_side(-0.06, 0.0, TH)) == LONG_CME


def test_entry_when_spread_inside_band_then_no_trade():
    assert int(entry_side(0.049, 0.0, TH)) == NO_TRADE


def test_entry_when_cheap_and_cheap_side_disabled_then_no_trade():
    th = ConvergenceThresholds(0.05, 0.01, allow_cheap=False)
    assert int(entry_side(-0.2, 0.0, th)) == NO_TRADE
    assert int(entry_side(0.2, 0.0, th)) == SHORT_CME


def test_entry_when_gap_beyond_band_and_spread_quiet_then_gap_triggers():
    assert int(entry_side(0.0, 120.0, TH_GAP)) == SHORT_CME
    assert int(entry_side(0.0, -120.0, TH_GAP)) == LONG_CME
    assert int(entry_side(0.0, 120.0, TH)) == NO_TRADE  # no gap band configured


def test_entry_when_triggers_disagree_then_no_trade():
    assert int(entry_side(0.06, -120.0, TH_GAP)) == NO_TRADE


def test_entry_when_nan_then_no_trade():
    assert int(entry_side(float("nan"), float("nan"), TH_GAP)) == NO_TRADE


def test_entry_when_arrays_then_elementwise():
    sides = entry_side(np.array([0.06, -0.06, 0.0]), np.array([0.0, 0.0, 0.0]), TH)
    assert sides.tolist() == [SHORT_CME, LONG_CME, NO_TRADE]


def test_converged_when_short_and_spread_falls_to_exit_then_true():
    assert bool(converged(SHORT_CME, 0.01, 0.0, TH))
    assert not bool(converged(SHORT_CME, 0.02, 0.0, TH))


def test_converged_when_long_and_spread_rises_to_minus_exit_then_true():
    assert bool(converged(LONG_CME, -0.01, 0.0, TH))
    assert not bool(converged(LONG_CME, -0.03, 0.0, TH))


def test_converged_when_gap_band_and_gap_closed_then_true_though_spread_wide():
    assert bool(converged(SHORT_CME, 0.2, 5.0, TH_GAP))
    assert not bool(converged(SHORT_CME, 0.2, 50.0, TH_GAP))


def test_converged_when_nan_or_flat_then_false():
    assert not bool(converged(SHORT_CME, float("nan"), float("nan"), TH_GAP))
    assert not bool(converged(NO_TRADE, 0.0, 0.0, TH))


def test_hedge_when_mbt_short_then_perp_long_same_btc_and_no_residual():
    assert hedge_for_contracts(-10, D("0.1"), D("0.001")) == (D("1.000"), D("0.000"))


def test_hedge_when_btc_contracts_then_five_btc_each():
    assert hedge_for_contracts(3, D(5), D("0.001")) == (D("-15.000"), D("0.000"))


def test_hedge_when_lot_does_not_divide_contract_then_residual_below_one_lot():
    perp, residual = hedge_for_contracts(7, D("0.1"), D("0.03"))
    assert perp == D("-0.69") and residual == D("0.01")
    assert abs(residual) < D("0.03") < D("0.1")


def test_globex_when_saturday_midnight_utc_then_closed():
    assert not globex_open(_ns("2024-03-16T00:00:01"))  # Friday 19:00 Chicago, after the weekly close


def test_globex_when_weekday_midnight_utc_then_open():
    assert globex_open(_ns("2024-03-19T00:00:01"))  # Monday 19:00 CDT
    assert globex_open(_ns("2024-01-16T00:00:01"))  # Monday 18:00 CST


def test_globex_when_sunday_evening_chicago_then_open_and_before_then_closed():
    assert globex_open(_ns("2024-03-17T23:00:00"))  # Sunday 18:00 CDT
    assert not globex_open(_ns("2024-03-17T21:00:00"))  # Sunday 16:00 CDT, before the open


def test_globex_when_daily_break_then_closed():
    assert not globex_open(_ns("2024-03-20T21:30:00"))  # Wednesday 16:30 CDT
    assert not globex_open(_ns("2024-03-22T21:30:00"))  # Friday after 16:00 CDT
