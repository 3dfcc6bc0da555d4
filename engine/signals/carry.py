"""Pure signal functions of the spot-perp carry trade: basis, funding, carry economics, quote health.

All take and return plain floats so they are cheap to call per decision and trivial to test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOURS_PER_YEAR = 365.0 * 24.0


def basis_bps(perp_price: float, spot_price: float) -> float:
    """Perp premium over spot in basis points: ``(perp - spot) / spot * 10_000`` (positive = contango)."""
    return (perp_price - spot_price) / spot_price * 10_000.0


def funding_apr_pct(rate: float, interval_hours: float) -> float:
    """Annualize a per-settlement funding rate, in percent: ``rate * 365 * 24 / interval_hours * 100``."""
    return rate * (HOURS_PER_YEAR / interval_hours) * 100.0


def expected_carry_bps(rate: float, interval_hours: float, horizon_hours: float) -> float:
    """Funding a short perp collects over ``horizon_hours`` at the current rate, in bps of notional."""
    return rate * 10_000.0 * (horizon_hours / interval_hours)


def round_trip_cost_bps(spot_fee: float, perp_fee: float, slippage_bps: float) -> float:
    """Cost of four fills (enter and exit both legs) in bps of notional: fees twice per leg plus slippage."""
    return 2.0 * (spot_fee + perp_fee) * 10_000.0 + slippage_bps


def quote_is_valid(bid: float, ask: float) -> bool:
    """True when both sides are finite, positive and not crossed (``bid <= ask``)."""
    return math.isfinite(bid) and math.isfinite(ask) and 0.0 < bid <= ask


def quote_is_fresh(ts_now_ns: int, ts_quote_ns: int, max_age_ns: int) -> bool:
    """True when the quote is no older than ``max_age_ns`` at ``ts_now_ns``."""
    return ts_now_ns - ts_quote_ns <= max_age_ns


@dataclass(frozen=True, slots=True)
class EntryThresholds:
    """The three entry conditions of the carry trade."""

    entry_basis_bps: float
    entry_funding_apr_pct: float
    round_trip_cost_bps: float
    min_edge_ratio: float = 1.0


def entry_blocker(
    basis: float,
    funding_apr: float,
    carry_bps: float,
    thresholds: EntryThresholds,
) -> str | None:
    """Return why an entry is not allowed, or ``None`` when basis, funding and carry all clear their bars."""
    if not (math.isfinite(basis) and math.isfinite(funding_apr) and math.isfinite(carry_bps)):
        return "signal_not_finite"
    if basis < thresholds.entry_basis_bps:
        return "basis_below_entry"
    if funding_apr < thresholds.entry_funding_apr_pct:
        return "funding_below_entry"
    if carry_bps < thresholds.min_edge_ratio * thresholds.round_trip_cost_bps:
        return "carry_below_cost"
    return None


def exit_reason(
    basis: float,
    exit_basis_bps: float,
    negative_settlements: int,
    negative_funding_exit_count: int,
    held_ns: int,
    max_holding_ns: int,
) -> str | None:
    """Return why a held carry position should be closed, or ``None`` to keep holding."""
    if basis <= exit_basis_bps:
        return "basis_at_exit"
    if negative_settlements >= negative_funding_exit_count:
        return "funding_negative"
    if held_ns >= max_holding_ns:
        return "max_holding_time"
    return None
