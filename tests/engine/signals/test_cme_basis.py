"""Annualized CME basis: the formula, recomputed by hand on real days, front/next month choice."""

from __future__ import annotations

import csv
from datetime import date

import numpy as np
import pytest

from engine.data.cme_daily import load_cme_daily
from engine.data.spot_daily import load_spot_daily
from engine.paths import data_root
from engine.signals.cme_basis import (
    FRONT,
    NEXT,
    CmeBasis,
    annualized_basis,
    cme_basis,
    front_series,
    spot_close_by_day,
)

CME_FILE = "cme/cme_mbt_ohlcv1d_2021_2026.csv"
SPOT_FILE = "cme/binance_btcusdt_spot_1d_2017_2024.csv"


@pytest.fixture(scope="module")
def basis() -> CmeBasis:
    cme, _ = load_cme_daily(data_root() / CME_FILE)
    spot, _ = load_spot_daily(data_root() / SPOT_FILE)
    return cme_basis(cme, *spot_close_by_day(spot))


def _raw_closes(day: str) -> tuple[dict[str, float], float]:
    """Read the two files with the csv module alone: the CME closes of ``day`` and its spot close."""
    with open(data_root() / CME_FILE, newline="") as fh:
        cme = {r["symbol"]: float(r["close"]) for r in csv.DictReader(fh) if r["ts_event"][:10] == day}
    with open(data_root() / SPOT_FILE, newline="") as fh:
        fh.readline()
        spot = next(float(r["Close"]) for r in csv.DictReader(fh) if r["Date"] == day)
    return cme, spot


def _row(basis: CmeBasis, day: str, rank: int) -> tuple[str, int, float, float, float]:
    i = np.flatnonzero((basis.day == np.datetime64(day)) & (basis.rank == rank))
    assert len(i) == 1
    k = int(i[0])
    return (
        str(basis.contract[k]),
        int(basis.days_to_expiry[k]),
        float(basis.future_close[k]),
        float(basis.spot_close[k]),
        float(basis.annualized_basis[k]),
    )


def test_annualized_basis_when_hand_example_then_formula() -> None:
    # 1% over 36.5 days is 10% a year.
    got = annualized_basis(np.array([101.0]), np.array([100.0]), np.array([36.5]))
    assert got[0] == pytest.approx(0.10)


def test_annualized_basis_when_no_days_left_or_bad_price_then_nan() -> None:
    got = annualized_basis(
        np.array([101.0, 101.0, 0.0]), np.array([100.0, 100.0, 100.0]), np.array([0, -3, 10])
    )
    assert np.isnan(got).all()


@pytest.mark.parametrize(
    ("day", "rank", "symbol", "expiry"),
    [
        ("2021-05-03", FRONT, "MBTK1", date(2021, 5, 28)),
        ("2021-05-03", NEXT, "MBTM1", date(2021, 6, 25)),
        ("2022-11-09", FRONT, "MBTX2", date(2022, 11, 25)),
        ("2024-03-27", FRONT, "MBTH4", date(2024, 3, 28)),
        ("2024-03-28", FRONT, "MBTJ4", date(2024, 4, 26)),  # MBTH4's last day: front is April
        ("2024-03-28", NEXT, "MBTK4", date(2024, 5, 31)),
    ],
)
def test_cme_basis_when_real_day_then_matches_hand_computation(
    basis: CmeBasis, day: str, rank: int, symbol: str, expiry: date
) -> None:
    closes, spot = _raw_closes(day)
    dte = (expiry - date.fromisoformat(day)).days
    want = (closes[symbol] / spot - 1.0) * 365.0 / dte
    assert _row(basis, day, rank) == (symbol, dte, closes[symbol], spot, pytest.approx(want, rel=1e-12))


def test_cme_basis_when_whole_file_then_one_front_row_per_day_with_days_left(basis: CmeBasis) -> None:
    front = basis.select(FRONT)
    assert len(front.day) == len(np.unique(front.day)) == 1018
    assert front.day[0] == np.datetime64("2021-05-02") and front.day[-1] == np.datetime64("2024-08-08")
    assert (basis.days_to_expiry >= 1).all()
    assert set(np.unique(basis.rank).tolist()) == {FRONT, NEXT}


def test_front_series_when_front_near_expiry_then_next_month(basis: CmeBasis) -> None:
    day, ann, contract = front_series(basis, min_days_to_expiry=7)
    i = int(np.flatnonzero(day == np.datetime64("2024-03-27"))[0])
    assert contract[i] == "MBTJ4"  # MBTH4 has 1 day left
    assert ann[i] == _row(basis, "2024-03-27", NEXT)[4]
    j = int(np.flatnonzero(day == np.datetime64("2024-03-15"))[0])
    assert contract[j] == "MBTH4"  # 13 days left: still the front
    assert len(day) == len(np.unique(day))
