"""Messages that strategies and simulation modules publish on the message bus for the journal.

Publishing is synchronous in nautilus, so a subscriber that writes to the journal has written the record
before ``publish`` returns: an order intent is persisted before the order is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

TOPIC_INTENT = "carry.journal.intent"
TOPIC_DECISION = "carry.journal.decision"
TOPIC_MARKET = "carry.journal.market"
TOPIC_FUNDING = "carry.journal.funding"
TOPIC_RISK = "carry.journal.risk"


@dataclass(frozen=True, slots=True)
class IntentRecord:
    """An order the strategy is about to send."""

    ts_ns: int
    client_order_id: str
    instrument_id: str
    side: str
    quantity: Decimal
    order_type: str
    pair_id: str | None
    leg: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A strategy decision (ENTER, EXIT, UNWIND, ...) with the signal values it was taken on."""

    ts_ns: int
    strategy_id: str
    action: str
    reason: str
    signals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MarketSampleRecord:
    """A periodic sample of the signals, for the report's time series."""

    ts_ns: int
    basis_bps: float
    funding_apr_pct: float
    spot_mid: Decimal
    perp_mid: Decimal


@dataclass(frozen=True, slots=True)
class FundingPaymentRecord:
    """A funding settlement booked on one perp position (amount > 0 = received)."""

    ts_ns: int
    instrument_id: str
    position_qty: Decimal
    mark_price: Decimal
    rate: Decimal
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class RiskRecord:
    """A risk event: a denial, a trading-state change, a liquidation."""

    ts_ns: int
    kind: str
    reason: str
    figures: dict[str, float] = field(default_factory=dict)


TOPIC_TRADING_STATE = "carry.risk.state"


STOPPING = "stopping_"  # reason prefix of the REDUCING a node's wind-down sets (then the stop reason)


@dataclass(frozen=True, slots=True)
class TradingStateRecord:
    """A change of the trading state (ACTIVE, REDUCING, HALTED), published to strategies."""

    ts_ns: int
    state: str
    reason: str

    @property
    def is_wind_down(self) -> bool:
        """REDUCING because the node is stopping, not because of a risk limit."""
        return self.reason.startswith(STOPPING)


@dataclass(slots=True)
class PairCheck:
    """A request to the pre-trade gate to check both legs of a pair before the first is sent.

    The gate fills ``approved`` and ``reason``; a request nobody answers stays unapproved.
    """

    legs: list[tuple[str, float]]  # (instrument id, signed quantity)
    approved: bool = False
    reason: str = "no_gate"
