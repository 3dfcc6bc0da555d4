"""What the report needs beyond the journal: the runner's facts and the chart settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class RunFacts:
    """What only the runner knows about a run.

    Attributes
    ----------
    strategy : str
        Strategy name for the summary.
    start_ns, end_ns : int
        Replay (or session) start and end, engine clock, nanoseconds since the epoch.
    events : int
        Data events processed.
    wall_seconds : float
        Wall-clock duration of the run (the only non-deterministic figure of the summary).
    bad_lines : int
        Input lines skipped by the loaders.
    initial_equity_usd : Decimal
        Equity at the start; ``pnl_usd.total`` is the last equity snapshot minus this.
    quote_currency : str
        Currency of funding amounts and of fees that need no conversion.
    extra : dict
        Merged into ``summary.json`` at the top level (e.g. ``{"risk": {...}, "data": [...]}``); a key that
        the report computes itself is refused.
    base_multipliers : Mapping[str, Decimal]
        Base units per unit of quantity, by instrument id, for the net delta: 0.1 for a CME MBT contract,
        5 for BTC. Instruments not listed count 1 (spot and linear perps are quoted in base units).
    underlyings : Mapping[str, str]
        Underlying asset by instrument id, so that BTC and ETH legs are not netted against each other.
        Instruments not listed share one underlying.
    initial_positions : Mapping[str, Decimal]
        Signed quantity per instrument held before the first fill (e.g. adopted spot inventory), the
        starting point of ``max_abs_net_delta_base``. Empty = flat.
    """

    strategy: str
    start_ns: int
    end_ns: int
    events: int
    wall_seconds: float
    bad_lines: int
    initial_equity_usd: Decimal
    quote_currency: str = "USDT"
    extra: dict[str, Any] = field(default_factory=dict)
    base_multipliers: Mapping[str, Decimal] = field(default_factory=dict)
    underlyings: Mapping[str, str] = field(default_factory=dict)
    initial_positions: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class RegimeBand:
    """A band of the perp premium shaded on the basis chart, in percent (``None`` = open-ended)."""

    name: str
    low_pct: float | None
    high_pct: float | None
    color: str


#: The perp premium regimes of DESIGN.md: backwardation below -0.2%; normal contango +0.05% to +0.2%;
#: high +0.3% to +0.5%; extreme above +0.5%.
DEFAULT_REGIMES: tuple[RegimeBand, ...] = (
    RegimeBand("backwardation", None, -0.2, "#d62728"),
    RegimeBand("normal", 0.05, 0.2, "#2ca02c"),
    RegimeBand("high", 0.3, 0.5, "#ff7f0e"),
    RegimeBand("extreme", 0.5, None, "#9467bd"),
)
