"""Flow attribution: who is paying for carry, from the CME basis and offshore perpetual funding.

DESIGN.md: CME basis rich while offshore funding stays muted = institution-led bid (more durable);
offshore funding stretched while CME lags = leverage-led (fragile, squeeze-prone); both rich =
synchronized risk-on; neither = neutral.

Rules, on annualized fractions (both inputs already smoothed by the caller if wanted):

- both ``cme >= cme_rich`` and ``funding >= funding_rich``: synchronized risk-on;
- ``cme >= cme_rich``, funding below ``funding_rich``, and CME leads funding by ``min_lead``: institution-led;
- ``funding >= funding_rich``, CME below ``cme_rich``, and funding leads CME by ``min_lead``: leverage-led;
- anything else (including a NaN input): neutral.

``min_lead`` keeps a day where both sit just either side of their thresholds from being called one-sided.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

NEUTRAL: Final = 0
INSTITUTION_LED: Final = 1
LEVERAGE_LED: Final = 2
SYNCHRONIZED_RISK_ON: Final = 3
STATE_NAMES: Final[tuple[str, ...]] = ("neutral", "institution_led", "leverage_led", "synchronized_risk_on")

FloatArray = npt.NDArray[np.float64]


class AttributionConfig(BaseModel):
    """Thresholds of the flow attribution, annualized fractions (0.10 = 10% a year).

    Attributes
    ----------
    cme_rich : float
        CME annualized basis at or above which CME is rich.
    funding_rich : float
        Offshore funding APR at or above which funding is stretched (0.01% per 8h = 0.1095).
    min_lead : float
        How far the rich side must lead the other for a one-sided state.
    cme_window_days : int
        Trailing days the CME basis is averaged over before classifying (1 = none; the daily basis is
        noisy: Friday closes come hours before the spot close, Sunday bars hold an hour or two of trading).
    funding_window_days : int
        Trailing days the daily funding is averaged over before classifying.
    min_days_to_expiry : int
        The CME basis is read from the front month until it has fewer days left than this, then from
        the next month (a front month a few days from expiry annualizes noise).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cme_rich: float = 0.10
    funding_rich: float = 0.15
    min_lead: float = Field(default=0.03, ge=0.0)
    cme_window_days: int = Field(default=7, ge=1)
    funding_window_days: int = Field(default=7, ge=1)
    min_days_to_expiry: int = Field(default=7, ge=1)

    @model_validator(mode="after")
    def _finite(self) -> AttributionConfig:
        for name in ("cme_rich", "funding_rich", "min_lead"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite")
        return self


def attribute(
    cme_basis: FloatArray, funding: FloatArray, config: AttributionConfig | None = None
) -> npt.NDArray[np.int8]:
    """Return the attribution state code of each day (index into ``STATE_NAMES``).

    Parameters
    ----------
    cme_basis : ndarray of float64
        Annualized CME basis per day.
    funding : ndarray of float64
        Annualized offshore funding per day, aligned with ``cme_basis``.
    config : AttributionConfig, optional
        Thresholds; defaults if omitted.
    """
    cfg = config or AttributionConfig()
    cme = np.asarray(cme_basis, dtype=np.float64)
    fund = np.asarray(funding, dtype=np.float64)
    if cme.shape != fund.shape:
        raise ValueError(f"cme_basis {cme.shape} and funding {fund.shape} are not aligned")
    with np.errstate(invalid="ignore"):
        cme_rich = cme >= cfg.cme_rich
        fund_rich = fund >= cfg.funding_rich
        lead = cme - fund
        state = np.full(cme.shape, NEUTRAL, dtype=np.int8)
        state[cme_rich & ~fund_rich & (lead >= cfg.min_lead)] = INSTITUTION_LED
        state[fund_rich & ~cme_rich & (-lead >= cfg.min_lead)] = LEVERAGE_LED
        state[cme_rich & fund_rich] = SYNCHRONIZED_RISK_ON
    return state


def state_names(codes: npt.NDArray[np.int8]) -> npt.NDArray[np.str_]:
    """Return the state names of state codes."""
    return np.asarray(STATE_NAMES, dtype=np.str_)[np.asarray(codes, dtype=np.intp)]
