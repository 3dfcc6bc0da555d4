"""The run journal: sqlmodel tables and the :class:`Journal` writer/reader (SQLite by default)."""

from engine.journal.journal import (
    EquityArrays,
    Journal,
    JournalError,
    MarketArrays,
    canonical_json,
    remove_sqlite_journal,
)
from engine.journal.models import (
    Decision,
    EquitySnapshot,
    Fill,
    FundingPayment,
    JournalValueError,
    MarketSample,
    OrderEvent,
    OrderIntent,
    PositionSnapshot,
    RiskEvent,
    Run,
)
from engine.journal.secrets_guard import SecretInJournalError

__all__ = [
    "Decision",
    "EquityArrays",
    "EquitySnapshot",
    "Fill",
    "FundingPayment",
    "Journal",
    "JournalError",
    "JournalValueError",
    "MarketArrays",
    "MarketSample",
    "OrderEvent",
    "OrderIntent",
    "PositionSnapshot",
    "RiskEvent",
    "Run",
    "SecretInJournalError",
    "canonical_json",
    "remove_sqlite_journal",
]
