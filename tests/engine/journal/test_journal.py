"""Journal: durability of intents, trade-id dedupe, exact decimals, determinism, the secrets guard."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.journal import (
    Journal,
    JournalError,
    JournalValueError,
    SecretInJournalError,
    remove_sqlite_journal,
)
from tests.engine.journal.builders import (
    FUNDING_RATE_1,
    MARK_1,
    PERP,
    RUN_ID,
    SETTLE_1_NS,
    SPOT,
    write_hand_run,
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture
def journal(db: Path) -> Iterator[Journal]:
    j = Journal(f"sqlite:///{db}")
    j.start_run("r", "SpotPerpCarry", "backtest", "{}")
    yield j
    j.close()


def _other(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Query through an independent sqlite3 connection, as another process would."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("durable", [True, False])
def test_record_intent_when_it_returns_then_committed_and_seen_by_a_second_connection(
    db: Path, durable: bool
) -> None:
    journal = Journal(f"sqlite:///{db}", durable=durable)
    journal.start_run("r", "SpotPerpCarry", "backtest", "{}")
    journal.record_intent("r", 5, "O-1", SPOT, "BUY", Decimal("0.5"), "MARKET", "P-1", "spot", "enter")
    rows = _other(db, "SELECT client_order_id, quantity, pair_id, leg FROM order_intent")
    assert rows == [("O-1", "0.5", "P-1", "spot")]
    journal.close()


def test_buffered_records_when_not_flushed_then_unseen_and_when_flushed_then_seen(
    journal: Journal, db: Path
) -> None:
    journal.record_market("r", 1, 5.0, 10.0, Decimal("1"), Decimal("2"))
    journal.record_equity("r", 1, Decimal("100"), {"BINANCE": Decimal("100")})
    assert _other(db, "SELECT COUNT(*) FROM market_sample") == [(0,)]
    journal.flush()
    assert _other(db, "SELECT COUNT(*) FROM market_sample") == [(1,)]
    assert _other(db, "SELECT COUNT(*) FROM equity_snapshot") == [(1,)]


def test_buffer_when_batch_size_reached_then_written_without_flush(db: Path) -> None:
    j = Journal(f"sqlite:///{db}", batch_size=3)
    j.start_run("r", "s", "backtest", "{}")
    for i in range(4):
        j.record_market("r", i, 1.0, 1.0, Decimal("1"), Decimal("1"))
    assert _other(db, "SELECT COUNT(*) FROM market_sample") == [(3,)]
    j.close()
    assert _other(db, "SELECT COUNT(*) FROM market_sample") == [(4,)]


def test_record_fill_when_trade_id_already_journaled_then_false_and_no_second_row(journal: Journal) -> None:
    args = ("O-1", "BINANCE", "T-9", SPOT, "BUY", Decimal("0.1"), Decimal("28000"), Decimal("0"), "USDT")
    assert journal.record_fill("r", 1, *args) is True
    assert journal.record_fill("r", 2, *args) is False
    assert len(journal.fills("r")) == 1
    assert journal.fills("r")[0].ts_ns == 1


def test_record_fill_when_same_trade_id_on_another_venue_then_written(journal: Journal) -> None:
    common = (SPOT, "BUY", Decimal("0.1"), Decimal("28000"), Decimal("0"), "USDT")
    assert journal.record_fill("r", 1, "O-1", "BINANCE", "T-9", *common) is True
    assert journal.record_fill("r", 1, "O-2", "BINANCE_PERP", "T-9", *common) is True
    assert journal.has_fill("r", "BINANCE_PERP", "T-9")


def test_record_fill_when_journal_reopened_after_a_crash_then_duplicate_still_rejected(db: Path) -> None:
    args = ("O-1", "BINANCE", "T-9", SPOT, "BUY", Decimal("0.1"), Decimal("28000"), Decimal("0"), "USDT")
    first = Journal(f"sqlite:///{db}")
    first.start_run("r", "s", "live", "{}")
    assert first.record_fill("r", 1, *args)
    first.close()
    second = Journal(f"sqlite:///{db}")
    assert second.record_fill("r", 2, *args) is False
    # The per-run counters continue, so the next record does not collide with the first journal's keys.
    assert second.record_fill("r", 3, "O-2", "BINANCE", "T-10", *args[3:])
    assert [f.seq for f in second.fills("r")] == [1, 2]
    second.close()


def test_decimals_when_round_tripped_then_exact_with_trailing_zeros(journal: Journal, db: Path) -> None:
    journal.record_funding(
        "r", SETTLE_1_NS, PERP, Decimal("-0.5"), MARK_1, FUNDING_RATE_1, Decimal("0.38854038"), "USDT"
    )
    p = journal.funding("r")[0]
    assert (str(p.rate), str(p.mark_price), str(p.position_qty)) == ("0.00002760", "28155.10000000", "-0.5")
    assert p.rate.as_tuple() == Decimal("0.00002760").as_tuple()
    stored = _other(db, "SELECT rate, mark_price, typeof(rate) FROM funding_payment")
    assert stored == [("0.00002760", "28155.10000000", "text")]


def test_decimal_when_tiny_then_stored_without_exponent(journal: Journal, db: Path) -> None:
    journal.record_position("r", 1, SPOT, Decimal("1E-8"), None)
    journal.flush()
    assert _other(db, "SELECT signed_qty, avg_px FROM position_snapshot") == [("0.00000001", None)]
    assert journal.positions("r")[0].signed_qty == Decimal("0.00000001")


@pytest.mark.parametrize("bad", [0.1, float("nan"), Decimal("NaN"), Decimal("Infinity"), True, "0.1"])
def test_record_fill_when_money_not_an_exact_finite_decimal_then_refused_naming_the_field(
    journal: Journal, bad: object
) -> None:
    with pytest.raises(JournalValueError, match="price"):
        journal.record_fill(
            "r",
            1,
            "O-1",
            "BINANCE",
            "T-1",
            SPOT,
            "BUY",
            Decimal("1"),
            bad,  # type: ignore[arg-type]
            Decimal("0"),
            "USDT",
        )
    assert journal.fills("r") == []


def test_record_when_timestamp_is_a_float_then_refused(journal: Journal) -> None:
    with pytest.raises(JournalValueError, match="ts_ns"):
        journal.record_market("r", 1.5, 1.0, 1.0, Decimal("1"), Decimal("1"))  # type: ignore[arg-type]


def test_record_intent_when_client_order_id_reused_then_error_and_first_kept(journal: Journal) -> None:
    journal.record_intent("r", 1, "O-1", SPOT, "BUY", Decimal("0.5"), "MARKET", None, None, "x")
    with pytest.raises(JournalError, match="O-1"):
        journal.record_intent("r", 2, "O-1", SPOT, "SELL", Decimal("0.5"), "MARKET", None, None, "y")
    journal.record_intent("r", 3, "O-2", SPOT, "SELL", Decimal("0.5"), "MARKET", None, None, "z")
    assert [(i.seq, i.client_order_id) for i in journal.intents("r")] == [(1, "O-1"), (2, "O-2")]
    intent = journal.intent("r", "O-1")
    assert intent is not None and intent.side == "BUY"


def test_record_when_run_not_started_then_error(journal: Journal) -> None:
    with pytest.raises(JournalError, match="start_run"):
        journal.record_market("nope", 1, 1.0, 1.0, Decimal("1"), Decimal("1"))


def test_start_run_when_run_exists_then_error_unless_replace(journal: Journal) -> None:
    journal.record_intent("r", 1, "O-1", SPOT, "BUY", Decimal("0.5"), "MARKET", None, None, "x")
    with pytest.raises(JournalError, match="already"):
        journal.start_run("r", "s", "backtest", "{}")
    journal.start_run("r", "s2", "backtest", "{}", replace=True)
    assert journal.intents("r") == []
    run = journal.run("r")
    assert run is not None and run.strategy == "s2" and run.status == "RUNNING"


@pytest.mark.parametrize(
    "config",
    [
        {"api_key": "abc123"},
        {"venues": {"binance": {"apiKey": "abc123"}}},
        {"venues": [{"name": "okx", "passphrase": "hunter2"}]},
        {"API-SECRET": "s3cr3t"},
        {"secrets": {"binance": "abc"}},
        {"db_password": 1234},
    ],
)
def test_start_run_when_config_holds_a_secret_then_refused_and_nothing_stored(
    db: Path, config: dict[str, object]
) -> None:
    j = Journal(f"sqlite:///{db}")
    with pytest.raises(SecretInJournalError) as err:
        j.start_run("r", "s", "live", json.dumps(config))
    # The message names where the secret is, never the value.
    assert "abc" not in str(err.value) and "hunter2" not in str(err.value)
    assert j.runs() == []
    j.close()


@pytest.mark.parametrize(
    "config",
    [
        {"api_key": "***"},
        {"api_key": "<redacted>"},
        {"api_key": ""},
        {"api_secret": None},
        {"api_key_env": "BINANCE_API_KEY", "secret_file": "/run/secrets/binance"},
        {"entry_basis_bps": 10, "keys": ["a", "b"]},
    ],
)
def test_start_run_when_config_redacted_or_referencing_env_then_stored(
    db: Path, config: dict[str, object]
) -> None:
    j = Journal(f"sqlite:///{db}")
    j.start_run("r", "s", "live", json.dumps(config))
    run = j.run("r")
    assert run is not None and json.loads(run.config_json) == config
    j.close()


def test_start_run_when_config_not_json_then_error(db: Path) -> None:
    with Journal(f"sqlite:///{db}") as j, pytest.raises(JournalError, match="JSON"):
        j.start_run("r", "s", "live", "api_key = 'x'")


def test_record_decision_when_a_signal_key_looks_secret_then_refused(journal: Journal) -> None:
    with pytest.raises(SecretInJournalError):
        journal.record_decision("r", 1, "s", "HOLD", "x", {"basis_bps": 1.0, "api_secret": 3.0})


def test_record_decision_when_signals_have_nan_then_canonical_json_with_null(journal: Journal) -> None:
    journal.record_decision("r", 1, "s", "HOLD", "x", {"z": 1.5, "a": math.nan, "n": 2})
    d = journal.decisions("r")[0]
    assert d.signals_json == '{"a":null,"n":2,"z":1.5}'


def test_record_market_when_signal_nan_then_null_stored_and_nan_in_arrays(journal: Journal) -> None:
    journal.record_market("r", 2, math.nan, 10.95, Decimal("28000.5"), Decimal("28010.5"))
    journal.record_market("r", 1, 4.5, math.nan, Decimal("28000"), Decimal("28010"))
    samples = journal.market("r")
    assert [s.ts_ns for s in samples] == [1, 2]
    assert samples[1].basis_bps is None and samples[1].spot_mid == Decimal("28000.5")
    arr = journal.market_arrays("r")
    assert arr.ts_ns.tolist() == [1, 2]
    assert arr.basis_bps[0] == 4.5 and math.isnan(arr.basis_bps[1])
    assert math.isnan(arr.funding_apr_pct[0]) and arr.funding_apr_pct[1] == 10.95
    assert arr.spot_mid.tolist() == [28000.0, 28000.5]


def test_equity_when_read_back_then_by_venue_exact(journal: Journal) -> None:
    journal.record_equity("r", 1, Decimal("100.10"), {"B": Decimal("60.05"), "A": Decimal("40.05")})
    e = journal.equity("r")[0]
    assert e.equity_usd == Decimal("100.10")
    assert e.by_venue_json == '{"A":"40.05","B":"60.05"}'


def test_rerun_when_same_records_into_a_fresh_journal_then_identical_rows_and_digest(tmp_path: Path) -> None:
    digests = []
    dumps = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.sqlite"
        with Journal(f"sqlite:///{path}") as j:
            write_hand_run(j)
            digests.append(j.run_digest(RUN_ID))
        conn = sqlite3.connect(path)
        dumps.append("\n".join(conn.iterdump()))
        conn.close()
    assert digests[0] == digests[1]
    assert dumps[0] == dumps[1]


def test_rerun_when_database_already_holds_other_runs_then_same_keys_and_digest(tmp_path: Path) -> None:
    with Journal(f"sqlite:///{tmp_path / 'alone.sqlite'}") as j:
        write_hand_run(j)
        alone = j.run_digest(RUN_ID)
    with Journal(f"sqlite:///{tmp_path / 'shared.sqlite'}") as j:
        write_hand_run(j, "other-run")
        write_hand_run(j)
        shared = j.run_digest(RUN_ID)
        assert j.run_digest("other-run") != shared  # the run id is part of every row
        assert j.counts(RUN_ID) == j.counts("other-run")
    assert alone == shared


def test_run_digest_when_one_value_differs_then_digest_differs(tmp_path: Path) -> None:
    with Journal("sqlite://") as a, Journal("sqlite://") as b:
        for j, px in ((a, Decimal("28000.0")), (b, Decimal("28000.00"))):
            j.start_run("r", "s", "backtest", "{}")
            j.record_fill(
                "r", 1, "O-1", "BINANCE", "T-1", SPOT, "BUY", Decimal("1"), px, Decimal("0"), "USDT"
            )
        # Equal values, different stored text: an exact journal tells them apart.
        assert a.run_digest("r") != b.run_digest("r")


def test_finish_run_when_called_then_status_end_and_buffers_flushed(journal: Journal, db: Path) -> None:
    journal.record_market("r", 1, 1.0, 1.0, Decimal("1"), Decimal("1"))
    journal.finish_run("r", "COMPLETED", end_ns=99)
    assert _other(db, "SELECT status, end_ns FROM run") == [("COMPLETED", 99)]
    assert _other(db, "SELECT COUNT(*) FROM market_sample") == [(1,)]


def test_journal_when_closed_then_records_refused(db: Path) -> None:
    j = Journal(f"sqlite:///{db}")
    j.start_run("r", "s", "backtest", "{}")
    j.close()
    j.close()
    with pytest.raises(JournalError, match="closed"):
        j.record_order_event("r", 1, "O-1", "CANCELED", None)


def test_journal_when_sqlite_folder_missing_then_created(tmp_path: Path) -> None:
    with Journal(f"sqlite:///{tmp_path / 'a' / 'b' / 'journal.sqlite'}") as j:
        j.start_run("r", "s", "backtest", "{}")
    assert (tmp_path / "a" / "b" / "journal.sqlite").exists()


def test_remove_sqlite_journal_when_wal_left_behind_then_all_companions_removed(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").write_bytes(b"x")
    remove_sqlite_journal(db)
    assert list(tmp_path.iterdir()) == []
    remove_sqlite_journal(db)  # nothing there: no error


def test_first_and_last_equity_when_snapshots_then_ends_by_time(journal: Journal) -> None:
    assert journal.first_equity("r") is None and journal.last_equity("r") is None
    journal.record_equity("r", 5, Decimal("105"), {})
    journal.record_equity("r", 1, Decimal("101"), {})
    journal.record_equity("r", 9, Decimal("109"), {})
    first, last = journal.first_equity("r"), journal.last_equity("r")
    assert first is not None and first.equity_usd == Decimal("101")
    assert last is not None and last.equity_usd == Decimal("109")


def test_journal_when_called_from_several_threads_then_every_record_kept_with_unique_seq(
    journal: Journal,
) -> None:
    def write(k: int) -> None:
        for i in range(50):
            journal.record_order_event("r", i, f"O-{k}-{i}", "CANCELED", None)
            journal.record_market("r", i, 1.0, 1.0, Decimal("1"), Decimal("1"))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(e.seq for e in journal.order_events("r")) == list(range(1, 201))
    assert len(journal.market("r")) == 200


def test_record_fill_when_another_writer_journaled_the_trade_id_then_false(db: Path) -> None:
    args = ("O-1", "BINANCE", "T-9", SPOT, "BUY", Decimal("0.1"), Decimal("28000"), Decimal("0"), "USDT")
    first = Journal(f"sqlite:///{db}")
    first.start_run("r", "s", "live", "{}")
    second = Journal(f"sqlite:///{db}")
    assert not second.has_fill("r", "BINANCE", "T-9")  # second's view of the run is read now
    assert first.record_fill("r", 1, *args)
    # second does not know of it; the database's unique constraint catches it.
    assert second.record_fill("r", 2, *args) is False
    assert len(second.fills("r")) == 1
    first.close()
    second.close()
