"""The journal's tables (sqlmodel), with money, prices, quantities and rates stored exactly.

Every table but ``run`` has the primary key ``(run_id, seq)``: ``seq`` is a per-run, per-table counter kept by
:class:`engine.journal.journal.Journal`, so that a rerun of the same backtest writes the same keys whatever
else the database holds (no autoincrement, no uuids). No column holds wall-clock time: ``ts_ns`` is the
engine clock (simulated time in a backtest), given by the caller.

Decimal values are stored as TEXT through :class:`DecimalText`: a float column would round 0.00002760 to the
nearest binary fraction, and NUMERIC behaves differently on SQLite (float affinity) and PostgreSQL.

The tables live in their own SQLAlchemy registry, so that :meth:`Journal.__init__` creates only them, and
other sqlmodel tables of the project never end up in the journal's database.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Dialect, Float, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from engine.errors import CarryError


class JournalValueError(CarryError, ValueError):
    """A value cannot be journaled as given (float for money, NaN, a secret, a bad timestamp)."""


def decimal_to_text(value: Any) -> str:
    """Convert an exact decimal value to the text stored in the journal.

    Parameters
    ----------
    value : Decimal | int | object with ``as_decimal()``
        The value. Nautilus ``Price``/``Quantity``/``Money`` are accepted through their ``as_decimal()``.

    Returns
    -------
    str
        Fixed-point text (``format(d, "f")``): no exponent, trailing zeros kept, so that
        ``Decimal("28155.10000000")`` comes back with its 8 decimals.

    Raises
    ------
    JournalValueError
        For a float (its binary rounding would be journaled as if exact), a bool, NaN or infinity.
    """
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool | float):
        raise JournalValueError(
            f"refusing to journal {type(value).__name__} {value!r} as an exact decimal: pass a Decimal"
        )
    elif isinstance(value, int):
        d = Decimal(value)
    elif hasattr(value, "as_decimal"):
        d = value.as_decimal()
    else:
        raise JournalValueError(f"cannot journal {type(value).__name__} {value!r} as a decimal")
    if not d.is_finite():
        raise JournalValueError(f"refusing to journal non-finite decimal {d}")
    return format(d, "f")


class DecimalText(TypeDecorator[Decimal]):
    """A Decimal stored exactly as fixed-point TEXT (see :func:`decimal_to_text`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Convert a Python value to the stored text."""
        if value is None:
            return None
        return decimal_to_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Convert the stored text back to the exact Decimal."""
        if value is None:
            return None
        return Decimal(value)


class JournalModel(SQLModel, registry=registry()):
    """Base of the journal's tables: a registry (and so a MetaData) of their own."""


def _ts() -> Any:
    return Field(sa_type=BigInteger, nullable=False)


def _dec() -> Any:
    return Field(sa_type=DecimalText, nullable=False)


def _seq() -> Any:
    return Field(primary_key=True, sa_column_kwargs={"autoincrement": False})


def _run_fk() -> Any:
    return Field(primary_key=True, foreign_key="run.run_id")


class Run(JournalModel, table=True):
    """One backtest, paper or live session. ``config_json`` is the redacted config."""

    __tablename__ = "run"

    run_id: str = Field(primary_key=True)
    strategy: str
    mode: str
    config_json: str = Field(sa_type=Text)
    status: str
    # Engine-clock times given by the caller (never wall clock, so a rerun is identical).
    start_ns: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    end_ns: int | None = Field(default=None, sa_type=BigInteger, nullable=True)


class OrderIntent(JournalModel, table=True):
    """An order the engine is about to send, committed before it is sent (reliability rule 2)."""

    __tablename__ = "order_intent"
    __table_args__ = (UniqueConstraint("run_id", "client_order_id", name="uq_order_intent_client_order_id"),)

    run_id: str = _run_fk()
    seq: int = _seq()
    ts_ns: int = _ts()
    client_order_id: str
    instrument_id: str
    side: str
    quantity: Decimal = _dec()
    order_type: str
    pair_id: str | None = None
    leg: str | None = None
    reason: str
    price: Decimal | None = Field(default=None, sa_type=DecimalText, nullable=True)


class OrderEvent(JournalModel, table=True):
    """A state change of an order: DENIED, REJECTED, CANCELED, EXPIRED, ACCEPTED..."""

    __tablename__ = "order_event"

    run_id: str = _run_fk()
    seq: int = _seq()
    ts_ns: int = _ts()
    client_order_id: str = Field(index=True)
    status: str
    reason: str | None = None


class Fill(JournalModel, table=True):
    """One execution. ``(run_id, venue, trade_id)`` is unique: fills are deduplicated by trade id."""

    __tablename__ = "fill"
    __table_args__ = (UniqueConstraint("run_id", "venue", "trade_id", name="uq_fill_trade_id"),)

    run_id: str = _run_fk()
    seq: int = _seq()
    ts_ns: int = _ts()
    client_order_id: str
    venue: str
    trade_id: str
    instrument_id: str
    side: str
    qty: Decimal = _dec()
    price: Decimal = _dec()
    fee: Decimal = _dec()
    fee_currency: str


class FundingPayment(JournalModel, table=True):
    """A funding settlement on one perp position; ``amount`` > 0 means received."""

    __tablename__ = "funding_payment"

    run_id: str = _run_fk()
    seq: int = _seq()
    ts_ns: int = _ts()
    instrument_id: str
    position_qty: Decimal = _dec()
    mark_price: Decimal = _dec()
    rate: Decimal = _dec()
    amount: Decimal = _dec()
    currency: str


class PositionSnapshot(JournalModel, table=True):
    """The signed position of one instrument at one time (base units, or contracts for futures)."""

    __tablename__ = "position_snapshot"

    run_id: str = _run_fk()
    seq: int = _seq()
    ts_ns: int = _ts()
    instrument_id: str
    signed_qty: Decimal = _dec()
    avg_px: Decimal | None = Field(default=None, sa_type=DecimalText, nullable=True)


class Decision(JournalModel, table=True):
    """A strategy decision with the signal values it was taken on (``signals_json``, sorted keys)."""

    __tablename__ = "decision"

    run_id: str = _run_fk()
    seq: int = _seq()
    ts_ns: int = _ts()
    strategy_id: str
    action: str
    reason: str
    signals_json: str = Field(sa_type=Text)


class MarketSample(JournalModel, table=True):
    """Market state for the report's charts. NaN signals are stored as NULL (SQLite cannot store NaN)."""

    __tablename__ = "market_sample"

    run_id: str = _run_fk()
    seq: int = _seq()
    ts_ns: int = _ts()
    basis_bps: float | None = Field(default=None, sa_type=Float, nullable=True)
    funding_apr_pct: float | None = Field(default=None, sa_type=Float, nullable=True)
    spot_mid: Decimal = _dec()
    perp_mid: Decimal = _dec()


class EquitySnapshot(JournalModel, table=True):
    """Account equity in USD, total and per venue (``by_venue_json``: venue -> decimal string)."""

    __tablename__ = "equity_snapshot"

    run_id: str = _run_fk()
    seq: int = _seq()
    ts_ns: int = _ts()
    equity_usd: Decimal = _dec()
    by_venue_json: str = Field(sa_type=Text)


class RiskEvent(JournalModel, table=True):
    """A risk module event (denial, state change, liquidation...) with its figures as JSON text."""

    __tablename__ = "risk_event"

    run_id: str = _run_fk()
    seq: int = _seq()
    ts_ns: int = _ts()
    kind: str
    reason: str
    figures_json: str = Field(sa_type=Text)


#: Every table that carries a ``seq``, in the order :meth:`Journal.run_digest` hashes them.
SEQ_TABLES: tuple[type[JournalModel], ...] = (
    OrderIntent,
    OrderEvent,
    Fill,
    FundingPayment,
    PositionSnapshot,
    Decision,
    MarketSample,
    EquitySnapshot,
    RiskEvent,
)
