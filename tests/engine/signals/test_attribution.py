"""Flow attribution on constructed cases of each kind."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from engine.signals.attribution import (
    INSTITUTION_LED,
    LEVERAGE_LED,
    NEUTRAL,
    SYNCHRONIZED_RISK_ON,
    AttributionConfig,
    attribute,
    state_names,
)


def _one(cme: float, funding: float, cfg: AttributionConfig | None = None) -> int:
    return int(attribute(np.array([cme]), np.array([funding]), cfg)[0])


def test_attribution_when_cme_rich_and_funding_muted_then_institution_led() -> None:
    assert _one(0.14, 0.05) == INSTITUTION_LED


def test_attribution_when_funding_stretched_and_cme_lags_then_leverage_led() -> None:
    assert _one(0.04, 0.30) == LEVERAGE_LED


def test_attribution_when_both_rich_then_synchronized_risk_on() -> None:
    assert _one(0.12, 0.20) == SYNCHRONIZED_RISK_ON


def test_attribution_when_neither_rich_then_neutral() -> None:
    assert _one(0.05, 0.08) == NEUTRAL


def test_attribution_when_rich_side_leads_by_less_than_min_lead_then_neutral() -> None:
    # CME rich (0.10), funding not stretched (0.08), but CME leads by only 0.02 < min_lead 0.03.
    assert _one(0.10, 0.08) == NEUTRAL
    # Funding stretched (0.15), CME not rich (0.08): funding leads by 0.07.
    assert _one(0.08, 0.15) == LEVERAGE_LED
    assert _one(0.08, 0.15, AttributionConfig(min_lead=0.08)) == NEUTRAL


def test_attribution_when_at_thresholds_then_counted_rich() -> None:
    assert _one(0.10, 0.15) == SYNCHRONIZED_RISK_ON


def test_attribution_when_nan_input_then_neutral() -> None:
    states = attribute(np.array([np.nan, 0.2]), np.array([0.3, np.nan]))
    assert states.tolist() == [NEUTRAL, NEUTRAL]


def test_attribution_when_custom_thresholds_then_states_move() -> None:
    cfg = AttributionConfig(cme_rich=0.05, funding_rich=0.30, min_lead=0.0)
    assert _one(0.06, 0.20, cfg) == NEUTRAL  # funding 0.20 leads, but CME is rich and funding is not
    assert _one(0.06, 0.02, cfg) == INSTITUTION_LED


def test_attribution_when_vector_then_names_per_day() -> None:
    states = attribute(np.array([0.14, 0.04, 0.12, 0.05]), np.array([0.05, 0.30, 0.20, 0.08]))
    assert state_names(states).tolist() == [
        "institution_led",
        "leverage_led",
        "synchronized_risk_on",
        "neutral",
    ]


def test_attribution_when_shapes_differ_then_value_error() -> None:
    with pytest.raises(ValueError, match="not aligned"):
        attribute(np.zeros(2), np.zeros(3))


def test_attribution_config_when_unknown_field_then_error_names_it() -> None:
    with pytest.raises(ValidationError, match="cme_rich_typo"):
        AttributionConfig(cme_rich_typo=0.1)  # type: ignore[call-arg]


def test_attribution_config_when_assigned_then_frozen() -> None:
    cfg = AttributionConfig()
    with pytest.raises(ValidationError):
        cfg.cme_rich = 0.2


def test_attribution_config_when_bad_values_then_error() -> None:
    with pytest.raises(ValidationError, match="funding_window_days"):
        AttributionConfig(funding_window_days=0)
    with pytest.raises(ValidationError, match="finite"):
        AttributionConfig(cme_rich=float("nan"))
