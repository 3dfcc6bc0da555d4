"""The journal: what a run intended, what happened, and what it saw, in a SQL database.

One writer serves backtest, paper and live. Two kinds of records:

- **Committed** (run, order intents, order events, fills, funding payments, risk events): written and
  committed before the call returns. An intent must be persisted before its order is sent (reliability
  rule 2): with ``durable=True`` its commit also waits for the disk. A fill is committed so a restart can
  deduplicate by trade id (rule 6).
- **Buffered** (market samples, equity, position snapshots, decisions): high volume on the replay's hot path,
  appended to an in-memory buffer and written with ``executemany`` in one transaction per batch, on
  :meth:`Journal.flush`, when a buffer reaches ``batch_size`` rows, before any read and on close.

Determinism (reliability rule 9): no wall-clock time is written; every row's key is ``(run_id, seq)`` with a
per-run, per-table counter, so a rerun of the same backtest writes identical rows whatever else the
database holds. :meth:`Journal.run_digest` hashes a run's rows to check it.

SQLite (the default) runs in WAL mode so readers never block the writer; any SQLAlchemy URL works
(PostgreSQL on a desk: ``postgresql+psycopg://user@host/db``).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import numpy as np
from sqlalchemy import Connection, Table, Text, delete, event, func, insert, select, type_coerce, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine
from sqlmodel import select as orm_select

from engine.errors import CarryError
from engine.journal.models import (
    SEQ_TABLES,
    Decision,
    EquitySnapshot,
    Fill,
    FundingPayment,
    JournalModel,
    JournalValueError,
    MarketSample,
    OrderEvent,
    OrderIntent,
    PositionSnapshot,
    RiskEvent,
    Run,
    decimal_to_text,
)
from engine.journal.secrets_guard import check_keys, check_no_secrets

M = TypeVar("M", bound=JournalModel)

DEFAULT_BATCH_SIZE = 5_000


class JournalError(CarryError):
    """The journal cannot do what was asked (unknown run, run already exists, duplicate intent)."""


def _table(model: type[JournalModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


_RUN = _table(Run)
_INTENT = _table(OrderIntent)
_EVENT = _table(OrderEvent)
_FILL = _table(Fill)
_FUNDING = _table(FundingPayment)
_POSITION = _table(PositionSnapshot)
_DECISION = _table(Decision)
_MARKET = _table(MarketSample)
_EQUITY = _table(EquitySnapshot)
_RISK = _table(RiskEvent)
_BUFFERED = (_MARKET, _EQUITY, _POSITION, _DECISION, _RISK)  # risk: only SAMPLE rows are buffered


def _dec(value: Any, name: str) -> Decimal:
    """Validate an exact decimal at the call site, so a bad value fails there and not at a later flush."""
    if type(value) is Decimal and value.is_finite():
        return value
    try:
        return Decimal(decimal_to_text(value))
    except JournalValueError as exc:
        raise JournalValueError(f"{name}: {exc}") from None


def _opt_dec(value: Any, name: str) -> Decimal | None:
    return None if value is None else _dec(value, name)


def _ts(value: Any) -> int:
    if type(value) is not int:
        if isinstance(value, int) and not isinstance(value, bool):  # numpy ints, IntEnum...
            return int(value)
        raise JournalValueError(f"ts_ns must be an int of nanoseconds, got {type(value).__name__} {value!r}")
    return value


def _opt_float(value: float) -> float | None:
    """SQLite stores NaN as NULL anyway; make that explicit so both back-ends agree."""
    f = float(value)
    return None if math.isnan(f) else f


def _json_scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return decimal_to_text(value)
    if isinstance(value, int | float | np.integer | np.floating):
        f = float(value) if not isinstance(value, int | np.integer) else int(value)
        if isinstance(f, float) and not math.isfinite(f):
            return None  # strict JSON has no NaN/inf; null means "no value"
        return f
    raise JournalValueError(f"cannot journal {type(value).__name__} {value!r} in a JSON record")


def canonical_json(obj: Mapping[str, Any]) -> str:
    """Serialize a flat record deterministically: sorted keys, no spaces, NaN/inf as null, Decimal as text."""
    return json.dumps(
        {str(k): _json_scalar(v) for k, v in obj.items()},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    )


@dataclass(frozen=True)
class MarketArrays:
    """A run's market samples as arrays, for charts over ~100k points (no per-row objects).

    ``spot_mid`` and ``perp_mid`` are floats here: fine for plotting, not for booking.
    """

    ts_ns: np.ndarray
    basis_bps: np.ndarray
    funding_apr_pct: np.ndarray
    spot_mid: np.ndarray
    perp_mid: np.ndarray


@dataclass(frozen=True)
class EquityArrays:
    """A run's equity snapshots as float arrays for charts: total, and per venue (NaN where absent)."""

    ts_ns: np.ndarray
    equity_usd: np.ndarray
    by_venue: dict[str, np.ndarray]


class _RunState:
    """What the writer keeps per run: the next seq of each table and the trade ids already journaled."""

    __slots__ = ("fill_keys", "seq")

    def __init__(self) -> None:
        self.seq: dict[str, int] = {t.name: 0 for t in (_table(m) for m in SEQ_TABLES)}
        self.fill_keys: set[tuple[str, str]] = set()


def _create_tables(engine: Engine, attempts: int = 5) -> None:
    """Create the journal's tables, tolerating another process creating them at the same moment.

    ``create_all`` checks for each table, then creates it: a second process opening the same new journal
    (a desk's report reader, a restarted node) can create a table in between and this one then fails with
    "already exists". Checking again sees the table and carries on.
    """
    for attempt in range(attempts):
        try:
            JournalModel.metadata.create_all(engine)
            return
        except OperationalError as exc:
            if "already exists" not in str(exc) or attempt == attempts - 1:
                raise


class Journal:
    """Writer and reader of the run journal.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``"sqlite:///path/journal.sqlite"`` (default back-end), ``"sqlite://"`` (memory),
        ``"postgresql+psycopg://user@127.0.0.1:5432/db"``... Tables are created if missing.
    batch_size : int
        Buffered rows (all buffered tables together) that trigger a write.
    durable : bool
        SQLite only (PostgreSQL commits are durable by its own settings). Every commit survives a process
        crash (WAL, ``synchronous=NORMAL``). When True, an intent's commit also waits for the disk
        (``synchronous=FULL``, an fsync of the WAL: about 2 ms here), which makes it and every earlier
        commit survive a power loss too; fills, events and funding lost to a power cut are recovered by
        reconciliation with the venue (rule 1) and deduplicated by trade id. When False, no commit waits
        for the disk: for a backtest, which a rerun reproduces, this saves ~2 ms per order.

    Notes
    -----
    Not for several writers on the same run at once: the per-run ``seq`` counters live in this object.
    A ``Journal`` opened on an existing database continues a run where it stopped (counters and trade ids
    are read back on first use), which is how a live node restarts after a crash. Methods are thread-safe.
    """

    def __init__(self, url: str, *, batch_size: int = DEFAULT_BATCH_SIZE, durable: bool = True) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.url = url
        self._batch_size = batch_size
        self._is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self._is_sqlite:
            # The journal keeps one connection and serializes its use with a lock, so it may be called from
            # any thread (a live node's callbacks); sqlite3's own same-thread check would refuse that.
            kwargs = {"connect_args": {"check_same_thread": False}}
            if url in ("sqlite://", "sqlite:///:memory:"):
                # One shared connection, else every checkout would see its own empty memory database.
                kwargs["poolclass"] = StaticPool
        database = make_url(url).database
        if self._is_sqlite and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self._engine: Engine = create_engine(url, **kwargs)
        if self._is_sqlite:
            self._install_sqlite_pragmas(self._engine)
        _create_tables(self._engine)
        self._fsync_intents = durable and self._is_sqlite
        self._lock = threading.RLock()
        self._conn: Connection | None = self._engine.connect()
        self._runs: dict[str, _RunState] = {}
        self._buffers: dict[Table, list[dict[str, Any]]] = {t: [] for t in _BUFFERED}
        self._buffered = 0
        self._safe_keys: set[str] = set()

    @staticmethod
    def _install_sqlite_pragmas(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL: readers (a report, a second process) never block the writer, and a commit is an append.
            # NORMAL: a commit survives a process crash without an fsync; intents raise it to FULL (below).
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

    # ------------------------------------------------------------------ plumbing

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for ad-hoc queries and tests)."""
        return self._engine

    def _c(self) -> Connection:
        if self._conn is None:
            raise JournalError("the journal is closed")
        return self._conn

    def _state(self, run_id: str) -> _RunState:
        """The writer's state of a run, read back from the database the first time it is used."""
        state = self._runs.get(run_id)
        if state is not None:
            return state
        conn = self._c()
        with conn.begin():
            if conn.execute(select(_RUN.c.run_id).where(_RUN.c.run_id == run_id)).first() is None:
                raise JournalError(f"run {run_id!r} is not in the journal: call start_run first")
            state = _RunState()
            for model in SEQ_TABLES:
                t = _table(model)
                last = conn.execute(select(func.max(t.c.seq)).where(t.c.run_id == run_id)).scalar()
                state.seq[t.name] = int(last or 0)
            rows = conn.execute(select(_FILL.c.venue, _FILL.c.trade_id).where(_FILL.c.run_id == run_id))
            state.fill_keys = {(r[0], r[1]) for r in rows}
        self._runs[run_id] = state
        return state

    def _next(self, state: _RunState, table: Table) -> int:
        state.seq[table.name] += 1
        return state.seq[table.name]

    def _commit_one(self, table: Table, row: dict[str, Any], *, fsync: bool = False) -> None:
        conn = self._c()
        if not (fsync and self._fsync_intents):
            with conn.begin():
                conn.execute(insert(table), row)
            return
        # Only this commit waits for the disk: synchronous=FULL syncs the WAL file, which also makes every
        # earlier NORMAL commit (fills, events, funding) power-safe. PRAGMA goes straight to the driver:
        # through SQLAlchemy it would open a transaction first.
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA synchronous=FULL")
        try:
            with conn.begin():
                conn.execute(insert(table), row)
        finally:
            raw.execute("PRAGMA synchronous=NORMAL")

    def _buffer(self, table: Table, row: dict[str, Any]) -> None:
        self._buffers[table].append(row)
        self._buffered += 1
        if self._buffered >= self._batch_size:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._buffered == 0:
            return
        conn = self._c()
        with conn.begin():
            for table, rows in self._buffers.items():
                if rows:
                    conn.execute(insert(table), rows)
        for rows in self._buffers.values():
            rows.clear()
        self._buffered = 0

    def _check_keys(self, keys: Sequence[str] | Any, what: str) -> None:
        new = [k for k in keys if k not in self._safe_keys]
        if new:
            check_keys(new, what)
            self._safe_keys.update(new)

    # ------------------------------------------------------------------ runs

    def start_run(
        self,
        run_id: str,
        strategy: str,
        mode: str,
        config_json: str,
        *,
        start_ns: int | None = None,
        replace: bool = False,
    ) -> None:
        """Create a run.

        Parameters
        ----------
        run_id : str
            Deterministic id of the run (a backtest's rerun should use the same one).
        strategy, mode : str
            Strategy name and ``backtest``/``paper``/``live``.
        config_json : str
            The run's config as JSON, already redacted; refused if a secret-looking key holds a value.
        start_ns : int, optional
            Engine-clock start of the run (not wall clock).
        replace : bool
            If the run exists: delete its rows and start over when True, else raise.

        Raises
        ------
        JournalError
            The run exists and ``replace`` is False, or ``config_json`` is not JSON.
        SecretInJournalError
            ``config_json`` holds what looks like a secret.
        """
        try:
            parsed = json.loads(config_json)
        except json.JSONDecodeError as exc:
            raise JournalError(f"config_json of run {run_id!r} is not valid JSON: {exc}") from None
        check_no_secrets(parsed, "config")
        with self._lock:
            conn = self._c()
            self._flush_locked()
            with conn.begin():
                exists = conn.execute(select(_RUN.c.run_id).where(_RUN.c.run_id == run_id)).first()
                if exists is not None:
                    if not replace:
                        raise JournalError(
                            f"run {run_id!r} is already in the journal {self.url}: "
                            "use a new run id or a new output folder, or replace=True"
                        )
                    for model in SEQ_TABLES:
                        t = _table(model)
                        conn.execute(delete(t).where(t.c.run_id == run_id))
                    conn.execute(delete(_RUN).where(_RUN.c.run_id == run_id))
                conn.execute(
                    insert(_RUN),
                    {
                        "run_id": run_id,
                        "strategy": strategy,
                        "mode": mode,
                        "config_json": config_json,
                        "status": "RUNNING",
                        "start_ns": None if start_ns is None else _ts(start_ns),
                        "end_ns": None,
                    },
                )
            self._runs[run_id] = _RunState()

    def finish_run(self, run_id: str, status: str, *, end_ns: int | None = None) -> None:
        """Flush everything and set the run's final status (``COMPLETED``, ``FAILED``, ``HALTED``...)."""
        with self._lock:
            self._state(run_id)
            self._flush_locked()
            values: dict[str, Any] = {"status": status}
            if end_ns is not None:
                values["end_ns"] = _ts(end_ns)
            conn = self._c()
            with conn.begin():
                conn.execute(update(_RUN).where(_RUN.c.run_id == run_id).values(**values))

    # ------------------------------------------------------------------ durable records

    def record_intent(
        self,
        run_id: str,
        ts_ns: int,
        client_order_id: str,
        instrument_id: str,
        side: str,
        quantity: Decimal,
        order_type: str,
        pair_id: str | None,
        leg: str | None,
        reason: str,
        *,
        price: Decimal | None = None,
    ) -> None:
        """Journal an order about to be sent; committed before this returns (reliability rule 2).

        Raises
        ------
        JournalError
            ``client_order_id`` already has an intent in this run (client order ids are unique; a resubmit
            must look the order up first, rule 3).
        """
        with self._lock:
            state = self._state(run_id)
            row = {
                "run_id": run_id,
                "ts_ns": _ts(ts_ns),
                "client_order_id": client_order_id,
                "instrument_id": instrument_id,
                "side": side,
                "quantity": _dec(quantity, "quantity"),
                "order_type": order_type,
                "pair_id": pair_id,
                "leg": leg,
                "reason": reason,
                "price": _opt_dec(price, "price"),
            }
            row["seq"] = self._next(state, _INTENT)
            try:
                self._commit_one(_INTENT, row, fsync=True)
            except IntegrityError:
                state.seq[_INTENT.name] -= 1
                raise JournalError(
                    f"order intent {client_order_id!r} is already journaled in run {run_id!r}"
                ) from None

    def record_order_event(
        self, run_id: str, ts_ns: int, client_order_id: str, status: str, reason: str | None
    ) -> None:
        """Journal an order state change (DENIED, REJECTED, CANCELED, EXPIRED...); committed."""
        with self._lock:
            state = self._state(run_id)
            row = {
                "run_id": run_id,
                "seq": self._next(state, _EVENT),
                "ts_ns": _ts(ts_ns),
                "client_order_id": client_order_id,
                "status": status,
                "reason": reason,
            }
            self._commit_one(_EVENT, row)

    def record_fill(
        self,
        run_id: str,
        ts_ns: int,
        client_order_id: str,
        venue: str,
        trade_id: str,
        instrument_id: str,
        side: str,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_currency: str,
    ) -> bool:
        """Journal a fill unless its ``(venue, trade_id)`` is already journaled (rule 6); committed.

        Returns
        -------
        bool
            True if written; False (and nothing written) for a duplicate trade id.
        """
        with self._lock:
            state = self._state(run_id)
            key = (venue, trade_id)
            if key in state.fill_keys:
                return False
            row = {
                "run_id": run_id,
                "ts_ns": _ts(ts_ns),
                "client_order_id": client_order_id,
                "venue": venue,
                "trade_id": trade_id,
                "instrument_id": instrument_id,
                "side": side,
                "qty": _dec(qty, "qty"),
                "price": _dec(price, "price"),
                "fee": _dec(fee, "fee"),
                "fee_currency": fee_currency,
            }
            row["seq"] = self._next(state, _FILL)
            try:
                self._commit_one(_FILL, row)
            except IntegrityError:
                state.seq[_FILL.name] -= 1
                if not self._fill_exists(run_id, venue, trade_id):
                    raise  # not a duplicate trade id: a real conflict, never swallowed
                # Another writer journaled the same trade id since our state was read.
                state.fill_keys.add(key)
                return False
            state.fill_keys.add(key)
            return True

    def _fill_exists(self, run_id: str, venue: str, trade_id: str) -> bool:
        conn = self._c()
        stmt = select(_FILL.c.seq).where(
            _FILL.c.run_id == run_id, _FILL.c.venue == venue, _FILL.c.trade_id == trade_id
        )
        with conn.begin():
            return conn.execute(stmt).first() is not None

    def record_funding(
        self,
        run_id: str,
        ts_ns: int,
        instrument_id: str,
        position_qty: Decimal,
        mark_price: Decimal,
        rate: Decimal,
        amount: Decimal,
        currency: str,
    ) -> None:
        """Journal a funding payment at settlement time ``ts_ns``; ``amount`` > 0 = received; committed."""
        with self._lock:
            state = self._state(run_id)
            row = {
                "run_id": run_id,
                "ts_ns": _ts(ts_ns),
                "instrument_id": instrument_id,
                "position_qty": _dec(position_qty, "position_qty"),
                "mark_price": _dec(mark_price, "mark_price"),
                "rate": _dec(rate, "rate"),
                "amount": _dec(amount, "amount"),
                "currency": currency,
            }
            row["seq"] = self._next(state, _FUNDING)
            self._commit_one(_FUNDING, row)

    def record_risk_event(
        self,
        run_id: str,
        ts_ns: int,
        kind: str,
        reason: str,
        figures: Mapping[str, float],
        *,
        buffered: bool = False,
    ) -> None:
        """Journal a risk event (denial, state change, liquidation) with its figures; committed.

        ``buffered`` is for periodic samples (headroom/exposure series): batched like market samples.
        """
        with self._lock:
            state = self._state(run_id)
            self._check_keys(figures.keys(), "risk figure")
            row = {
                "run_id": run_id,
                "ts_ns": _ts(ts_ns),
                "kind": kind,
                "reason": reason,
                "figures_json": canonical_json(figures),
            }
            row["seq"] = self._next(state, _RISK)
            if buffered:
                self._buffer(_RISK, row)
            else:
                self._commit_one(_RISK, row)

    # ------------------------------------------------------------------ buffered records

    def record_position(
        self, run_id: str, ts_ns: int, instrument_id: str, signed_qty: Decimal, avg_px: Decimal | None
    ) -> None:
        """Buffer a position snapshot (signed quantity, average price or None when flat)."""
        with self._lock:
            state = self._state(run_id)
            row = {
                "run_id": run_id,
                "seq": self._next(state, _POSITION),
                "ts_ns": _ts(ts_ns),
                "instrument_id": instrument_id,
                "signed_qty": _dec(signed_qty, "signed_qty"),
                "avg_px": _opt_dec(avg_px, "avg_px"),
            }
            self._buffer(_POSITION, row)

    def record_decision(
        self,
        run_id: str,
        ts_ns: int,
        strategy_id: str,
        action: str,
        reason: str,
        signals: Mapping[str, float],
    ) -> None:
        """Buffer a strategy decision (ENTER, EXIT, HOLD, SKIP...) with the signal values behind it."""
        with self._lock:
            state = self._state(run_id)
            self._check_keys(signals.keys(), "signal")
            row = {
                "run_id": run_id,
                "seq": self._next(state, _DECISION),
                "ts_ns": _ts(ts_ns),
                "strategy_id": strategy_id,
                "action": action,
                "reason": reason,
                "signals_json": canonical_json(signals),
            }
            self._buffer(_DECISION, row)

    def record_market(
        self,
        run_id: str,
        ts_ns: int,
        basis_bps: float,
        funding_apr_pct: float,
        spot_mid: Decimal,
        perp_mid: Decimal,
    ) -> None:
        """Buffer a market sample for the charts (NaN signals are stored as NULL)."""
        with self._lock:
            state = self._state(run_id)
            row = {
                "run_id": run_id,
                "seq": self._next(state, _MARKET),
                "ts_ns": _ts(ts_ns),
                "basis_bps": _opt_float(basis_bps),
                "funding_apr_pct": _opt_float(funding_apr_pct),
                "spot_mid": _dec(spot_mid, "spot_mid"),
                "perp_mid": _dec(perp_mid, "perp_mid"),
            }
            self._buffer(_MARKET, row)

    def record_equity(
        self, run_id: str, ts_ns: int, equity_usd: Decimal, by_venue: Mapping[str, Decimal]
    ) -> None:
        """Buffer an equity snapshot: total in USD and per venue."""
        with self._lock:
            state = self._state(run_id)
            venues = {str(k): decimal_to_text(_dec(v, f"by_venue[{k}]")) for k, v in by_venue.items()}
            row = {
                "run_id": run_id,
                "seq": self._next(state, _EQUITY),
                "ts_ns": _ts(ts_ns),
                "equity_usd": _dec(equity_usd, "equity_usd"),
                "by_venue_json": json.dumps(venues, sort_keys=True, separators=(",", ":")),
            }
            self._buffer(_EQUITY, row)

    def flush(self) -> None:
        """Write every buffered record in one transaction."""
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        """Flush and release the database. Idempotent."""
        with self._lock:
            if self._conn is None:
                return
            self._flush_locked()
            self._conn.close()
            self._conn = None
            self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ readers

    def _select(self, model: type[M], run_id: str, *where: Any) -> list[M]:
        with self._lock:
            self._flush_locked()
            table = _table(model)
            stmt = (
                orm_select(model).where(table.c.run_id == run_id, *where).order_by(table.c.ts_ns, table.c.seq)
            )
            with Session(self._c()) as session:
                rows = list(session.exec(stmt).all())
                session.expunge_all()
            return rows

    def run(self, run_id: str) -> Run | None:
        """The run's row, or None."""
        with self._lock:
            with Session(self._c()) as session:
                row = session.get(Run, run_id)
                session.expunge_all()
            return row

    def runs(self) -> list[Run]:
        """Every run in the journal, by id."""
        with self._lock:
            with Session(self._c()) as session:
                rows = list(session.exec(orm_select(Run).order_by(_RUN.c.run_id)).all())
                session.expunge_all()
            return rows

    def intents(self, run_id: str) -> list[OrderIntent]:
        """The run's order intents in time order."""
        return self._select(OrderIntent, run_id)

    def intent(self, run_id: str, client_order_id: str) -> OrderIntent | None:
        """The intent of one client order id (a resubmit looks here first, rule 3), or None."""
        with self._lock:
            stmt = orm_select(OrderIntent).where(
                _INTENT.c.run_id == run_id, _INTENT.c.client_order_id == client_order_id
            )
            with Session(self._c()) as session:
                row = session.exec(stmt).first()
                session.expunge_all()
            return row

    def order_events(self, run_id: str) -> list[OrderEvent]:
        """The run's order events in time order."""
        return self._select(OrderEvent, run_id)

    def fills(self, run_id: str) -> list[Fill]:
        """The run's fills in time order (ties in journal order)."""
        return self._select(Fill, run_id)

    def has_fill(self, run_id: str, venue: str, trade_id: str) -> bool:
        """Whether a trade id is already journaled for the run."""
        with self._lock:
            return (venue, trade_id) in self._state(run_id).fill_keys

    def funding(self, run_id: str) -> list[FundingPayment]:
        """The run's funding payments in settlement-time order."""
        return self._select(FundingPayment, run_id)

    def positions(self, run_id: str) -> list[PositionSnapshot]:
        """The run's position snapshots in time order."""
        return self._select(PositionSnapshot, run_id)

    def decisions(self, run_id: str, actions: Collection[str] | None = None) -> list[Decision]:
        """The run's decisions in time order, optionally only some actions (e.g. ``("ENTER", "EXIT")``).

        ``json.loads(d.signals_json)`` gives a decision's signals.
        """
        if actions is None:
            return self._select(Decision, run_id)
        return self._select(Decision, run_id, _DECISION.c.action.in_(list(actions)))

    def decision_counts(self, run_id: str) -> dict[str, int]:
        """Number of decisions per action."""
        return self._group_count(_DECISION, _DECISION.c.action, run_id)

    def order_event_counts(self, run_id: str) -> dict[str, int]:
        """Number of order events per status (DENIED, REJECTED...)."""
        return self._group_count(_EVENT, _EVENT.c.status, run_id)

    def risk_event_counts(self, run_id: str) -> dict[str, int]:
        """Number of risk events per kind."""
        return self._group_count(_RISK, _RISK.c.kind, run_id)

    def _group_count(self, table: Table, column: Any, run_id: str) -> dict[str, int]:
        with self._lock:
            self._flush_locked()
            conn = self._c()
            stmt = (
                select(column, func.count())
                .select_from(table)
                .where(table.c.run_id == run_id)
                .group_by(column)
                .order_by(column)
            )
            with conn.begin():
                return {str(k): int(n) for k, n in conn.execute(stmt)}

    def first_equity(self, run_id: str) -> EquitySnapshot | None:
        """The run's earliest equity snapshot (least ``ts_ns``, then ``seq``), or None."""
        return self._equity_end(run_id, last=False)

    def last_equity(self, run_id: str) -> EquitySnapshot | None:
        """The run's latest equity snapshot (greatest ``ts_ns``, then ``seq``), or None."""
        return self._equity_end(run_id, last=True)

    def _equity_end(self, run_id: str, last: bool) -> EquitySnapshot | None:
        with self._lock:
            self._flush_locked()
            order = (
                (_EQUITY.c.ts_ns.desc(), _EQUITY.c.seq.desc()) if last else (_EQUITY.c.ts_ns, _EQUITY.c.seq)
            )
            stmt = orm_select(EquitySnapshot).where(_EQUITY.c.run_id == run_id).order_by(*order).limit(1)
            with Session(self._c()) as session:
                row = session.exec(stmt).first()
                session.expunge_all()
            return row

    def equity_arrays(self, run_id: str) -> EquityArrays:
        """The run's equity snapshots as float arrays in time order, for charts."""
        with self._lock:
            self._flush_locked()
            conn = self._c()
            t = _EQUITY
            stmt = (
                select(t.c.ts_ns, type_coerce(t.c.equity_usd, Text), t.c.by_venue_json)
                .where(t.c.run_id == run_id)
                .order_by(t.c.ts_ns, t.c.seq)
            )
            with conn.begin():
                rows = conn.execute(stmt).all()
        n = len(rows)
        ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        total = np.fromiter((float(r[1]) for r in rows), dtype=np.float64, count=n)
        by_venue: dict[str, np.ndarray] = {}
        for i, r in enumerate(rows):
            for venue, text in json.loads(r[2]).items():
                arr = by_venue.get(venue)
                if arr is None:
                    arr = by_venue[venue] = np.full(n, np.nan)
                arr[i] = float(text)
        return EquityArrays(ts, total, dict(sorted(by_venue.items())))

    def market(self, run_id: str) -> list[MarketSample]:
        """The run's market samples in time order (see :meth:`market_arrays` for long runs)."""
        return self._select(MarketSample, run_id)

    def equity(self, run_id: str) -> list[EquitySnapshot]:
        """The run's equity snapshots in time order."""
        return self._select(EquitySnapshot, run_id)

    def risk_events(self, run_id: str) -> list[RiskEvent]:
        """The run's risk events in time order."""
        return self._select(RiskEvent, run_id)

    def counts(self, run_id: str) -> dict[str, int]:
        """Row counts of every table for the run, by table name."""
        with self._lock:
            self._flush_locked()
            conn = self._c()
            out: dict[str, int] = {}
            with conn.begin():
                for model in SEQ_TABLES:
                    t = _table(model)
                    n = conn.execute(select(func.count()).select_from(t).where(t.c.run_id == run_id)).scalar()
                    out[t.name] = int(n or 0)
            return out

    def market_arrays(self, run_id: str) -> MarketArrays:
        """The run's market samples as numpy arrays in time order (NULL signals as NaN)."""
        with self._lock:
            self._flush_locked()
            conn = self._c()
            t = _MARKET
            # Read the raw text of the mids: plotting needs floats, and skipping Decimal saves the time.
            stmt = (
                select(
                    t.c.ts_ns,
                    t.c.basis_bps,
                    t.c.funding_apr_pct,
                    type_coerce(t.c.spot_mid, Text),
                    type_coerce(t.c.perp_mid, Text),
                )
                .where(t.c.run_id == run_id)
                .order_by(t.c.ts_ns, t.c.seq)
            )
            with conn.begin():
                rows = conn.execute(stmt).all()
        n = len(rows)
        ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        basis = np.fromiter((np.nan if r[1] is None else r[1] for r in rows), dtype=np.float64, count=n)
        fund = np.fromiter((np.nan if r[2] is None else r[2] for r in rows), dtype=np.float64, count=n)
        spot = np.fromiter((float(r[3]) for r in rows), dtype=np.float64, count=n)
        perp = np.fromiter((float(r[4]) for r in rows), dtype=np.float64, count=n)
        return MarketArrays(ts, basis, fund, spot, perp)

    def run_digest(self, run_id: str) -> str:
        """SHA-256 over every row of a run (run row first, then each table in ``seq`` order).

        Two runs of the same backtest must have the same digest (reliability rule 9).
        """
        with self._lock:
            self._flush_locked()
            conn = self._c()
            h = hashlib.sha256()
            with conn.begin():
                for table in (_RUN, *(_table(m) for m in SEQ_TABLES)):
                    order = (table.c.seq,) if "seq" in table.c else (table.c.run_id,)
                    h.update(f"#{table.name}\n".encode())
                    for row in conn.execute(select(table).where(table.c.run_id == run_id).order_by(*order)):
                        h.update(_row_text(dict(row._mapping)).encode())
            return h.hexdigest()


def remove_sqlite_journal(path: Path) -> None:
    """Delete a SQLite journal file and its ``-wal``, ``-shm`` and ``-journal`` companions, if present.

    Deleting only the main file is not enough: SQLite would replay a stale ``-wal`` left by a crashed
    process into the new database of the same name.
    """
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _row_text(mapping: Mapping[str, Any]) -> str:
    parts = []
    for key in sorted(mapping):
        v = mapping[key]
        text = decimal_to_text(v) if isinstance(v, Decimal) else repr(v)
        parts.append(f"{key}={text}")
    return "\x1f".join(parts) + "\n"
