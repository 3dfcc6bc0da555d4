"""CME calendar and instruments: expiry rules, holidays, front/next month, rolls, FuturesContract."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from engine.cme import (
    CmeContract,
    active_contract,
    cme_holidays,
    easter_sunday,
    expiry_ns,
    front_contract,
    futures_contract,
    last_trading_day,
    month_code,
    month_from_code,
    next_contract,
    roll_date,
)
from engine.data.cme_daily import load_cme_daily
from engine.paths import data_root

CME_FILE = "cme/cme_mbt_ohlcv1d_2021_2026.csv"


def test_month_codes_when_round_trip_then_f_is_january_z_is_december() -> None:
    assert [month_code(m) for m in (1, 3, 5, 12)] == ["F", "H", "K", "Z"]
    assert all(month_from_code(month_code(m)) == m for m in range(1, 13))
    with pytest.raises(ValueError, match="month code"):
        month_from_code("A")


def test_easter_when_known_years_then_matches_calendar() -> None:
    known = {
        2019: date(2019, 4, 21),
        2021: date(2021, 4, 4),
        2024: date(2024, 3, 31),
        2025: date(2025, 4, 20),
    }
    assert {y: easter_sunday(y) for y in known} == known


def test_expiry_when_last_friday_is_good_friday_2024_then_thursday_before() -> None:
    assert last_trading_day(2024, 3) == date(2024, 3, 28)
    # 16:00 London on 2024-03-28 is 16:00 UTC (British Summer Time starts on 31 March).
    assert expiry_ns(2024, 3) == int(datetime(2024, 3, 28, 16, tzinfo=UTC).timestamp()) * 10**9


def test_expiry_when_mbth4_in_data_then_last_bar_is_computed_expiry() -> None:
    daily, _ = load_cme_daily(data_root() / CME_FILE)
    days = [b.day for b in daily.outrights if b.symbol == "MBTH4"]
    assert max(days) == date(2024, 3, 28) == CmeContract(2024, 3).expiry
    assert date(2024, 3, 29) not in {b.day for b in daily.outrights}  # Good Friday: no bar at all


def test_expiry_when_every_expired_outright_in_data_then_last_bar_on_expiry() -> None:
    daily, _ = load_cme_daily(data_root() / CME_FILE)
    file_end = max(b.day for b in daily.outrights)
    last: dict[tuple[int, int], date] = {}
    for b in daily.outrights:
        last[(b.year, b.month)] = max(last.get((b.year, b.month), b.day), b.day)
    expired = {k: v for k, v in last.items() if last_trading_day(*k) <= file_end}
    assert len(expired) == 57  # MBTK1 .. MBTF6
    mismatches = {k: (v, last_trading_day(*k)) for k, v in expired.items() if v != last_trading_day(*k)}
    assert mismatches == {}
    # Contracts still listed at the end of the file never trade after their computed expiry.
    assert all(v <= last_trading_day(*k) for k, v in last.items())


def test_expiry_when_uk_boxing_day_friday_then_not_moved() -> None:
    # Friday 2025-12-26 is a UK bank holiday but a CME business day: MBTZ5 traded to it (see the data).
    assert last_trading_day(2025, 12) == date(2025, 12, 26)


def test_expiry_when_christmas_on_last_friday_then_thursday_before() -> None:
    assert last_trading_day(2020, 12) == date(2020, 12, 24)
    assert last_trading_day(2026, 12) == date(2026, 12, 24)


def test_expiry_when_new_year_on_saturday_then_friday_dec_31_is_trading() -> None:
    assert date(2021, 12, 31) not in cme_holidays(2021)
    assert last_trading_day(2021, 12) == date(2021, 12, 31)


def test_holidays_when_2024_then_cme_closures() -> None:
    assert cme_holidays(2024) == {
        date(2024, 1, 1),
        date(2024, 1, 15),
        date(2024, 2, 19),
        date(2024, 3, 29),
        date(2024, 5, 27),
        date(2024, 6, 19),
        date(2024, 7, 4),
        date(2024, 9, 2),
        date(2024, 11, 28),
        date(2024, 12, 25),
    }


def test_front_month_when_on_expiry_day_then_still_front_and_next_after() -> None:
    assert front_contract(date(2024, 3, 28)) == CmeContract(2024, 3)
    assert front_contract(date(2024, 3, 29)) == CmeContract(2024, 4)
    assert next_contract(date(2024, 3, 28)) == CmeContract(2024, 4)
    assert front_contract(date(2024, 12, 28)) == CmeContract(2025, 1)
    assert next_contract(date(2024, 12, 1)).symbol == "MBTF5"


def test_roll_date_when_business_days_then_skips_weekend_and_good_friday() -> None:
    assert roll_date(date(2024, 3, 28), 0) == date(2024, 3, 28)
    assert roll_date(date(2024, 3, 28), 3) == date(2024, 3, 25)
    assert roll_date(date(2024, 3, 28), 5) == date(2024, 3, 21)
    # 19 business days back is 2024-04-01; the 20th skips Good Friday 2024-03-29.
    assert roll_date(date(2024, 4, 26), 19) == date(2024, 4, 1)
    assert roll_date(date(2024, 4, 26), 20) == date(2024, 3, 28)


def test_roll_date_when_calendar_days_lands_on_sunday_then_friday_before() -> None:
    assert roll_date(date(2024, 4, 26), 5, business_days=False) == date(2024, 4, 19)


def test_active_contract_when_on_or_after_roll_date_then_next_month() -> None:
    assert active_contract(date(2024, 3, 20), 5) == CmeContract(2024, 3)
    assert active_contract(date(2024, 3, 21), 5) == CmeContract(2024, 4)


def test_futures_contract_when_mbt_and_btc_then_multiplier_and_expiry() -> None:
    mbt = futures_contract(CmeContract(2024, 3), margin_init=Decimal("0.3"))
    assert str(mbt.id) == "MBTH4.CME" and mbt.multiplier.as_decimal() == Decimal("0.1")
    assert mbt.quote_currency.code == "USD" and mbt.price_increment.as_decimal() == Decimal(5)
    assert mbt.expiration_ns == expiry_ns(2024, 3)
    assert mbt.activation_ns == int(datetime(2023, 9, 1, tzinfo=UTC).timestamp()) * 10**9
    assert mbt.margin_init == Decimal("0.3")
    btc = futures_contract(CmeContract(2021, 12, "BTC"))
    assert str(btc.id) == "BTCZ1.CME" and btc.multiplier.as_decimal() == Decimal(5)
    with pytest.raises(ValueError, match="root"):
        CmeContract(2024, 3, "ETH")
