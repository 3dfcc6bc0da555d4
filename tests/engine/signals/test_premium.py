"""Perp premium, regime bands, global premium, divergence persistence and trailing z-score."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from engine.data.multi_venue import MultiVenueBars, VenueSeries, load_multi_venue
from engine.paths import data_root
from engine.signals.premium import (
    PremiumBands,
    PremiumConfig,
    premium_bps,
    premium_signals,
    regime,
    regime_names,
    run_length,
    trailing_zscore,
)

H8 = 8 * 3_600_000_000_000


def _series(exchange: str, pair: str, contract: str, close: np.ndarray, volume: float = 1.0) -> VenueSeries:
    n = len(close)
    ts = np.arange(n, dtype=np.int64) * H8 + 1_672_531_200_000_000_000
    funding = np.full(n, np.nan if contract == "spot" else 0.0001)
    c = close.astype(np.float64)
    return VenueSeries(exchange, "bitcoin", pair, contract, ts, c, c, c, c, np.full(n, volume), funding)


def _bars(perp_by_venue: dict[str, np.ndarray], volume: dict[str, float] | None = None) -> MultiVenueBars:
    series = {}
    for venue, perp in perp_by_venue.items():
        vol = (volume or {}).get(venue, 1.0)
        series[(venue, "bitcoin", "BTC/USDT")] = _series(
            venue, "BTC/USDT", "spot", np.full(len(perp), 100.0), vol
        )
        series[(venue, "bitcoin", "BTCUSDT")] = _series(venue, "BTCUSDT", "perpetual", perp, vol)
    return MultiVenueBars(series)


def test_premium_when_perp_above_spot_then_positive_bps() -> None:
    got = premium_bps(np.array([100.1, 99.8, 1.0]), np.array([100.0, 100.0, 0.0]))
    assert got[0] == pytest.approx(10.0) and got[1] == pytest.approx(-20.0) and np.isnan(got[2])


def test_regime_when_values_on_and_between_design_bands_then_named_band() -> None:
    x = np.array([-25, -20, 0, 5, 20, 25, 30, 50, 51, np.nan])
    assert regime_names(regime(x)).tolist() == [
        "backwardation",
        "flat",
        "flat",
        "normal",
        "normal",
        "elevated",
        "high",
        "high",
        "extreme",
        "",
    ]


def test_regime_when_custom_bands_then_edges_move() -> None:
    bands = PremiumBands(normal_from_bps=1, normal_to_bps=2, high_from_bps=3, extreme_above_bps=4)
    assert regime_names(regime(np.array([1.5, 3.5, 5.0]), bands)).tolist() == ["normal", "high", "extreme"]


def test_bands_when_not_ascending_or_unknown_field_then_validation_error() -> None:
    with pytest.raises(ValidationError, match="ascending"):
        PremiumBands(normal_from_bps=30)
    with pytest.raises(ValidationError, match="divergence_days"):
        PremiumConfig(divergence_days=3)  # type: ignore[call-arg]


def test_trailing_zscore_when_random_series_then_matches_naive_loop() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(5.0, 2.0, 200)
    x[50] = np.nan
    got = trailing_zscore(x, window=30, min_periods=10)
    for t in range(len(x)):
        past = x[max(0, t - 30) : t]
        past = past[np.isfinite(past)]
        if len(past) < 10 or not np.isfinite(x[t]):
            assert np.isnan(got[t])
        else:
            assert got[t] == pytest.approx((x[t] - past.mean()) / past.std(ddof=1))


def test_run_length_when_flags_then_consecutive_counts() -> None:
    got = run_length(np.array([True, True, False, True, True, True, False]))
    assert got.tolist() == [1, 2, 0, 1, 2, 3, 0]


def test_divergence_when_gap_above_threshold_for_8_days_then_persistent_from_day_7() -> None:
    n = 60
    a = np.full(n, 100.05)  # +5 bps
    b = np.full(n, 100.05)
    b[30:54] = 100.35  # +35 bps for 24 bars = 8 days: a 30 bps gap
    cfg = PremiumConfig(divergence_smoothing_bars=1, zscore_min_days=1)
    ps = premium_signals(_bars({"binance": a, "bybit": b}), "bitcoin", cfg)
    assert ps.divergence_bps[29] == pytest.approx(0.0, abs=1e-9)
    assert ps.divergence_bps[30] == pytest.approx(30.0)
    assert ps.divergence_days[30] == pytest.approx(1 / 3)
    assert ps.divergence_days[53] == pytest.approx(8.0)
    persistent = np.flatnonzero(ps.divergence_persistent)
    assert persistent.tolist() == list(range(50, 54))  # 21st bar of the streak = 7 days
    assert ps.divergence_days[54] == 0


def test_global_premium_when_volume_weighted_then_weighted_mean_of_venue_premiums() -> None:
    n = 10
    bars = _bars(
        {"binance": np.full(n, 100.10), "okx": np.full(n, 100.40)}, volume={"binance": 3.0, "okx": 1.0}
    )
    ps = premium_signals(bars, "bitcoin")
    # Weights are quote volumes of the perpetuals: close x base volume.
    w_bin, w_okx = 100.10 * 3.0, 100.40 * 1.0
    want = (w_bin * 10.0 + w_okx * 40.0) / (w_bin + w_okx)
    assert ps.global_premium_bps[-1] == pytest.approx(want, rel=1e-9)
    equal = premium_signals(bars, "bitcoin", PremiumConfig(weighting="equal"))
    assert equal.global_premium_bps[-1] == pytest.approx(25.0)


def test_premium_when_real_file_then_first_binance_bar_by_hand_and_three_venues() -> None:
    bars, _ = load_multi_venue(data_root() / "multi_venue/bin_byb_okx_8h_2023_2024.csv")
    ps = premium_signals(bars, "bitcoin")
    assert ps.asset == "BTC" and ps.venues == ("binance", "bybit", "okx") and ps.bar_hours == 8.0
    assert ps.premium_bps[0, 0] == pytest.approx((16519.6 / 16526.19 - 1) * 10_000)
    assert ps.premium_bps.shape == (3, 1642)
    # A year of 8-hour bars: z-scores start after the 30-day minimum history.
    assert np.isnan(ps.zscore[:, :90]).all() and np.isfinite(ps.zscore[:, 90:]).all()
    # The global premium stays inside the venues' range (a mean of their premiums).
    assert (ps.global_premium_bps <= ps.premium_bps.max(axis=0) + 1e-9).all()
    assert (ps.global_premium_bps >= ps.premium_bps.min(axis=0) - 1e-9).all()
