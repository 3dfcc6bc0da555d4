"""The journal on PostgreSQL: a throwaway server on loopback, started with initdb/pg_ctl.

Skipped, with the reason, when the PostgreSQL binaries or the psycopg driver are not on this machine.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.journal import Journal
from tests.engine.journal.builders import (
    FUNDING_RATE_1,
    MARK_1,
    PERP,
    RUN_ID,
    SETTLE_1_NS,
    SPOT,
    write_hand_run,
)


def _pg_bin() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not under /usr/lib/postgresql/*/bin nor on PATH")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("the psycopg driver is not installed (pip install 'psycopg[binary]')")
    # initdb refuses to run as root: run the server as the 'postgres' system user then.
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        if shutil.which("runuser") is None:
            pytest.skip("running as root and runuser is missing: cannot start PostgreSQL as another user")
        prefix = ["runuser", "-u", "postgres", "--"]
    root = tempfile.mkdtemp(prefix="carry-pg-")
    if prefix:
        shutil.chown(root, user="postgres")
    data = Path(root) / "data"
    port = _free_port()
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        initdb = [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "carry",
            "--auth=trust",
            "-E",
            "UTF8",
        ]
        subprocess.run([*initdb, "--no-sync"], check=True, capture_output=True)
        opts = f"-k {root} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*pg_ctl, "-o", opts, "-l", f"{root}/log", "-w", "start"], check=True, capture_output=True
        )
        yield f"postgresql+psycopg://carry@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_when_hand_run_written_then_digest_equals_sqlite(pg_url: str, tmp_path: Path) -> None:
    with Journal(pg_url) as pg:
        write_hand_run(pg)
        pg_digest = pg.run_digest(RUN_ID)
        fills = pg.fills(RUN_ID)
    with Journal(f"sqlite:///{tmp_path / 'j.sqlite'}") as lite:
        write_hand_run(lite)
        assert lite.run_digest(RUN_ID) == pg_digest
        assert [(f.trade_id, f.qty, f.price) for f in lite.fills(RUN_ID)] == [
            (f.trade_id, f.qty, f.price) for f in fills
        ]


def test_postgres_when_intent_recorded_then_seen_by_a_second_connection(pg_url: str) -> None:
    import psycopg

    with Journal(pg_url) as j:
        j.start_run("pg-intent", "s", "live", "{}")
        j.record_intent(
            "pg-intent",
            1,
            "O-1",
            SPOT,
            "BUY",
            Decimal("0.00100000"),
            "LIMIT",
            None,
            None,
            "x",
            price=Decimal("28155.10000000"),
        )
        with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
            rows = conn.execute(
                "SELECT quantity, price FROM order_intent WHERE run_id = 'pg-intent'"
            ).fetchall()
        assert rows == [("0.00100000", "28155.10000000")]


def test_postgres_when_duplicate_trade_id_then_rejected_and_decimals_exact(pg_url: str) -> None:
    with Journal(pg_url) as j:
        j.start_run("pg-dedupe", "s", "live", "{}")
        args = ("O-1", "BINANCE_PERP", "T-1", PERP, "SELL", Decimal("0.5"), MARK_1, Decimal("0"), "USDT")
        assert j.record_fill("pg-dedupe", 1, *args)
        assert not j.record_fill("pg-dedupe", 2, *args)
        j.record_funding(
            "pg-dedupe",
            SETTLE_1_NS,
            PERP,
            Decimal("-0.5"),
            MARK_1,
            FUNDING_RATE_1,
            Decimal("0.38854038"),
            "USDT",
        )
    # A fresh journal (a restarted node) still rejects the duplicate, from the database.
    with Journal(pg_url) as j:
        assert not j.record_fill("pg-dedupe", 3, *args)
        assert str(j.funding("pg-dedupe")[0].rate) == "0.00002760"
        assert len(j.fills("pg-dedupe")) == 1
