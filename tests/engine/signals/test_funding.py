"""Funding annualized and per day."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from engine.data.funding_csv import load_funding_history
from engine.paths import data_root
from engine.signals.funding import annualize_funding, daily_funding, settlements_to_arrays, trailing_mean

H = 3_600_000_000_000


def _ns(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * 1_000_000_000


def test_annualize_when_one_bp_per_8h_then_10_95_percent() -> None:
    assert annualize_funding(0.0001, 8) == pytest.approx(0.1095)
    assert annualize_funding(np.array([0.0001]), np.array([4]))[0] == pytest.approx(0.219)


def test_daily_funding_when_settlements_then_grouped_by_accrual_day() -> None:
    d = _ns(2023, 4, 5)
    ts = np.array([d, d + 8 * H, d + 16 * H, d + 24 * H], dtype=np.int64)
    rate = np.array([0.0004, 0.0001, 0.0002, 0.0003])
    days, ann, count = daily_funding(ts, rate, 8)
    # The 00:00 settlement pays for the 8 hours before it: it belongs to the previous day.
    assert days.tolist() == [np.datetime64("2023-04-04"), np.datetime64("2023-04-05")]
    assert count.tolist() == [1, 3]
    assert ann[1] == pytest.approx(0.0002 * 1095)


def test_daily_funding_when_nan_rate_then_ignored() -> None:
    d = _ns(2023, 4, 5, 8)
    _, ann, count = daily_funding(np.array([d, d + 8 * H]), np.array([np.nan, 0.0001]), 8)
    assert count.tolist() == [1] and ann[0] == pytest.approx(0.1095)


@pytest.mark.parametrize(("year", "apr"), [(2020, 0.172), (2021, 0.306), (2022, 0.042), (2023, 0.079)])
def test_funding_when_real_history_then_yearly_means_match_readme(year: int, apr: float) -> None:
    rows, _ = load_funding_history(data_root() / "binance/binance_btcusdt_funding_2019_2024.csv")
    ts, rate, hours = settlements_to_arrays(rows)
    m = (ts >= _ns(year, 1, 1)) & (ts < _ns(year + 1, 1, 1))
    assert round(float(annualize_funding(rate[m], hours[m]).mean()), 3) == apr


def test_trailing_mean_when_window_then_mean_of_last_values_skipping_nan() -> None:
    got = trailing_mean(np.array([1.0, 2.0, np.nan, 4.0, 5.0]), 3)
    np.testing.assert_allclose(got, [1.0, 1.5, 1.5, 3.0, 4.5])
    assert np.isnan(trailing_mean(np.array([np.nan]), 3)[0])
