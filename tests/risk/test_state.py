"""The trading-state rule."""

from __future__ import annotations

from dataclasses import replace

from nautilus_trader.model.enums import TradingState

from risk.state import StateInputs, next_state

OK = StateInputs(
    killed=False,
    data_age_ns=1,
    max_data_age_ns=10,
    headroom=(0.9, 0.8),
    reducing_floor=(0.5, 0.5),
    delta_breach_ns=0,
    delta_breach_limit_ns=5,
    exposure=(10.0, 20.0),
    exposure_reducing_at=(95.0, 95.0),
)


def _with(**changes: object) -> StateInputs:
    return replace(OK, **changes)  # type: ignore[arg-type]


def test_state_when_all_clear_then_active():
    assert next_state(OK) == (TradingState.ACTIVE, "ok")


def test_state_when_killed_then_halted_even_if_all_else_clear():
    assert next_state(_with(killed=True)) == (TradingState.HALTED, "kill_switch")


def test_state_when_node_stopping_then_reducing_with_the_stop_reason():
    assert next_state(_with(stopping="signal")) == (TradingState.REDUCING, "stopping_signal")


def test_state_when_stopping_and_killed_then_halted():
    assert next_state(_with(stopping="signal", killed=True)) == (TradingState.HALTED, "kill_switch")


def test_state_when_data_stale_then_halted():
    assert next_state(_with(data_age_ns=11)) == (TradingState.HALTED, "stale_data")


def test_state_when_headroom_under_floor_then_reducing_not_halted():
    assert next_state(_with(headroom=(0.9, 0.49))) == (TradingState.REDUCING, "margin_headroom")


def test_state_when_exposure_reaches_band_then_reducing():
    assert next_state(_with(exposure=(10.0, 95.0))) == (TradingState.REDUCING, "venue_exposure")


def test_state_when_delta_breach_lasts_then_reducing_and_brief_breach_tolerated():
    assert next_state(_with(delta_breach_ns=4))[0] == TradingState.ACTIVE
    assert next_state(_with(delta_breach_ns=5)) == (TradingState.REDUCING, "net_delta")


def test_state_when_venue_rate_limited_then_reducing_and_active_once_it_recovers():
    assert next_state(_with(rate_limited_venues=("BINANCE_USDM",))) == (
        TradingState.REDUCING,
        "rate_limited_BINANCE_USDM",
    )
    assert next_state(_with(rate_limited_venues=())) == (TradingState.ACTIVE, "ok")
