"""The CME-vs-perp convergence backtest on the real daily files (CME MBT, Binance spot, funding history).

Two runs are shared by the module: the bundled config (roll 3 business days before expiry) and a variant
held to expiry (``expiry_action = "settle"``, never exiting on convergence).
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa

from engine.backtest.cme_runner import CmeBacktestResult, run_cme_backtest
from engine.backtest.dispatch import run_backtest_file
from engine.cme import CmeContract, roll_date
from engine.config.cme_backtest import CmeBacktestConfig, load_cme_backtest_config
from engine.data.cme_daily import parse_outright_symbol
from engine.errors import ConfigError
from engine.journal.journal import Journal
from engine.journal.models import Fill
from tests.conftest import CONFIGS

CONFIG = CONFIGS / "backtest" / "cme_mbt_vs_binance_perp_1d.toml"
PERP = "BTCUSDT-PERP.BINANCE_USDM"
MBT = Decimal("0.1")
NS_PER_DAY = 86_400 * 1_000_000_000


def with_overrides(overrides: dict[str, dict[str, Any]]) -> CmeBacktestConfig:
    raw = load_cme_backtest_config(CONFIG).model_dump(mode="json")
    for section, fields in overrides.items():
        raw[section] = {**raw[section], **fields}
    return CmeBacktestConfig.model_validate(raw)


@pytest.fixture(scope="module")
def roll_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> CmeBacktestResult:
    return run_cme_backtest(load_cme_backtest_config(CONFIG), tmp_path_factory.mktemp("cme_roll"), data_dir)


@pytest.fixture(scope="module")
def settle_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> CmeBacktestResult:
    cfg = with_overrides({"strategy": {"expiry_action": "settle", "exit_spread_apr_pct": -1000.0}})
    return run_cme_backtest(cfg, tmp_path_factory.mktemp("cme_settle"), data_dir)


def _journal(r: CmeBacktestResult) -> Journal:
    return Journal(f"sqlite:///{r.out_dir / 'journal.sqlite'}")


def _signed_base(f: Fill) -> Decimal:
    qty = f.qty if f.side == "BUY" else -f.qty
    return qty * MBT if f.instrument_id.endswith(".CME") else qty


def _contract(instrument_id: str, on: date) -> CmeContract:
    root, month, year = parse_outright_symbol(instrument_id.split(".")[0], on)
    return CmeContract(year, month, root)


def _day(ts_ns: int) -> date:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).date()


def _expiry_close(data_dir: Path, symbol: str, day: date) -> Decimal:
    """The contract's close of ``day`` read straight from the CME file with the csv module."""
    with open(data_dir / "cme" / "cme_mbt_ohlcv1d_2021_2026.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["symbol"] == symbol and row["ts_event"][:10] == day.isoformat():
                return Decimal(row["close"])
    raise AssertionError(f"no {symbol} bar on {day}")


def test_roll_run_when_every_fill_then_net_delta_within_one_contract(roll_run: CmeBacktestResult):
    fills = _journal(roll_run).fills(roll_run.run_id)
    assert len(fills) > 500
    net, worst = Decimal(0), Decimal(0)
    for f in fills:
        net += _signed_base(f)
        worst = max(worst, abs(net))
    assert worst <= MBT
    assert net == 0  # flat at the end of data
    assert Decimal(str(roll_run.summary["max_abs_net_delta_base"])) == worst


def test_roll_run_when_entering_then_perp_sized_from_the_cme_fill_before_it(roll_run: CmeBacktestResult):
    fills = _journal(roll_run).fills(roll_run.run_id)
    entries = [(a, b) for a, b in pairwise(fills) if b.instrument_id == PERP]
    assert entries
    for cme, hedge in entries:
        assert cme.instrument_id.endswith(".CME")
        assert _signed_base(hedge) == -_signed_base(cme)


def test_roll_run_when_roll_configured_then_every_month_left_by_its_roll_date_and_none_settled(
    roll_run: CmeBacktestResult,
):
    fills = [f for f in _journal(roll_run).fills(roll_run.run_id) if f.instrument_id.endswith(".CME")]
    rolls = _journal(roll_run).decisions(roll_run.run_id, actions=("ROLL",))
    assert len(rolls) >= 10
    assert roll_run.summary["convergence"]["rolls"] == len(rolls)  # type: ignore[index]
    assert roll_run.summary["convergence"]["settlements"] == 0  # type: ignore[index]
    by_contract: dict[str, list[Fill]] = {}
    for f in fills:
        by_contract.setdefault(f.instrument_id, []).append(f)
        assert not f.client_order_id.startswith("SETTLE-")
    for iid, rows in by_contract.items():
        c = _contract(iid, _day(rows[0].ts_ns))
        assert _day(rows[-1].ts_ns) <= roll_date(c.expiry, 3), iid  # never held into the last 3 days
        assert sum((_signed_base(f) for f in rows), Decimal(0)) == 0, iid
    for d in rolls:
        old = d.reason.split(" -> ")[0]
        c = _contract(old, _day(d.ts_ns))
        assert _day(d.ts_ns) >= roll_date(c.expiry, 3) and d.ts_ns < c.expiry_ns


def test_settle_run_when_held_to_expiry_then_future_closed_at_the_expiry_day_close(
    settle_run: CmeBacktestResult, data_dir: Path
):
    fills = _journal(settle_run).fills(settle_run.run_id)
    settles = [f for f in fills if f.client_order_id.startswith("SETTLE-")]
    assert len(settles) >= 30
    assert settle_run.summary["convergence"]["settlements"] == len(settles)  # type: ignore[index]
    assert not any(f.client_order_id.startswith("EXPIRATION-") for f in fills)  # nautilus's own expiry idle
    for s in settles:
        c = _contract(s.instrument_id, _day(s.ts_ns))
        assert s.ts_ns == c.expiry_ns - 1
        assert s.price == _expiry_close(data_dir, c.symbol, c.expiry)
        held = sum((_signed_base(f) for f in fills if f.instrument_id == s.instrument_id), Decimal(0))
        assert held == 0


def _hourly_spot_closes(data_dir: Path) -> dict[int, Decimal]:
    """Spot close by close time (label + 1 h), read with the csv module from the hourly file."""
    out = {}
    with open(data_dir / "binance" / "binance_btc_basis_1h_2021_2024.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            label = datetime.fromisoformat(row["Time"]).replace(tzinfo=UTC)
            out[(int(label.timestamp()) + 3_600) * 1_000_000_000] = Decimal(row["BTCUSDT Spot"])
    return out


def test_settle_run_when_future_settled_then_perp_closed_at_the_fixing_price_else_next_daily_stamp(
    settle_run: CmeBacktestResult, data_dir: Path
):
    fills = _journal(settle_run).fills(settle_run.run_id)
    hourly = _hourly_spot_closes(data_dir)
    half, tick = Decimal("0.5") / 10_000, Decimal("0.1")
    at_fixing = deferred = 0
    for i, f in enumerate(fills):
        if not f.client_order_id.startswith("SETTLE-"):
            continue
        nxt = fills[i + 1]
        assert nxt.instrument_id == PERP and _signed_base(nxt) == -_signed_base(f)
        spot = hourly.get(f.ts_ns + 1)  # the hour closing at the expiry instant, 16:00 London
        if spot is None:
            deferred += 1  # outside the hourly file: closed at the next daily close
            assert nxt.ts_ns % NS_PER_DAY == 1_000_000_000 and 0 < nxt.ts_ns - f.ts_ns < NS_PER_DAY
            continue
        at_fixing += 1
        assert nxt.ts_ns == f.ts_ns
        rounding, sign = ("ROUND_CEILING", 1) if nxt.side == "BUY" else ("ROUND_FLOOR", -1)
        assert nxt.price == (spot * (1 + sign * half) / tick).to_integral_value(rounding=rounding) * tick
    assert at_fixing >= 30 and deferred >= 1


def test_settle_run_when_delta_measured_per_timestamp_then_within_one_contract_except_deferred_hedges(
    settle_run: CmeBacktestResult,
):
    """Only where the hourly file has no perp price at the fixing is the perp left open to the next close."""
    fills = _journal(settle_run).fills(settle_run.run_id)
    net, unhedged = Decimal(0), []
    for i, f in enumerate(fills):
        net += _signed_base(f)
        if (i + 1 == len(fills) or fills[i + 1].ts_ns != f.ts_ns) and abs(net) > MBT:
            unhedged.append(f)
    assert unhedged and all(f.client_order_id.startswith("SETTLE-") for f in unhedged)
    assert all(not date(2021, 7, 1) <= _day(f.ts_ns) < date(2024, 7, 1) for f in unhedged)


def test_roll_run_when_funding_booked_then_on_the_perp_leg_held_at_settlement(roll_run: CmeBacktestResult):
    journal = _journal(roll_run)
    fills = [f for f in journal.fills(roll_run.run_id) if f.instrument_id == PERP]
    payments = journal.funding(roll_run.run_id)
    assert len(payments) > 500
    i, held = 0, Decimal(0)
    for p in payments:
        assert p.instrument_id == PERP
        while i < len(fills) and fills[i].ts_ns < p.ts_ns:
            held += _signed_base(fills[i])
            i += 1
        assert p.position_qty == held != 0
        expected = (-held * p.mark_price * p.rate).quantize(Decimal("1e-8"), ROUND_HALF_EVEN)
        assert p.amount == expected
    total = sum((p.amount for p in payments), Decimal(0))
    assert Decimal(str(roll_run.summary["pnl_usd"]["funding"])) == total  # type: ignore[index]


def test_roll_run_when_report_written_then_summary_csvs_and_html(roll_run: CmeBacktestResult):
    for name in ("summary.json", "fills.csv", "funding.csv", "report.html"):
        assert (roll_run.out_dir / name).stat().st_size > 0
    s = roll_run.summary
    assert s["strategy"] == "CmePerpConvergence" and s["bad_lines"] == 0
    assert s["entries"] == s["exits"] and int(s["entries"]) > 10  # type: ignore[call-overload]


def _dump(db: Path) -> dict[str, list[tuple]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        tables = [r[0] for r in conn.execute(sa.text("select name from sqlite_master where type='table'"))]
        return {t: sorted(map(tuple, conn.execute(sa.text(f"select * from {t}")))) for t in sorted(tables)}


def test_settle_run_when_rerun_then_identical_journal_summary_and_csvs(
    settle_run: CmeBacktestResult, tmp_path: Path, data_dir: Path
):
    cfg = with_overrides({"strategy": {"expiry_action": "settle", "exit_spread_apr_pct": -1000.0}})
    again = run_cme_backtest(cfg, tmp_path, data_dir)
    first, second = _dump(settle_run.out_dir / "journal.sqlite"), _dump(tmp_path / "journal.sqlite")
    assert sum(len(rows) for rows in first.values()) > 1000
    assert first == second
    strip = lambda s: {k: v for k, v in s.items() if k != "wall_seconds"}  # noqa: E731
    assert strip(settle_run.summary) == strip(again.summary)
    for name in ("fills.csv", "funding.csv"):
        assert (settle_run.out_dir / name).read_bytes() == (tmp_path / name).read_bytes()


def test_dispatch_when_kind_is_cme_perp_convergence_then_convergence_runner(tmp_path: Path, data_dir: Path):
    text = CONFIG.read_text()
    text = text.replace('start = "2021-05-03T00:00:00Z"', 'start = "2023-01-01T00:00:00Z"')
    text = text.replace('end = "2024-08-09T01:00:00Z"', 'end = "2023-03-01T00:00:00Z"')
    path = tmp_path / "short.toml"
    path.write_text(text)
    result = run_backtest_file(path, tmp_path / "out", data_dir)
    assert result.summary["strategy"] == "CmePerpConvergence"
    assert result.summary["start"] == "2023-01-01T00:00:00Z"
    assert (tmp_path / "out" / "report.html").is_file()


def test_usdm_perp_price_when_configured_then_perp_fills_at_the_usdm_daily_close(
    tmp_path: Path, data_dir: Path
):
    cfg = with_overrides(
        {
            "run": {"start": "2022-01-01T00:00:00Z", "end": "2022-03-01T00:00:00Z"},
            "data": {"perp_price": "usdm_close"},
        }
    )
    r = run_cme_backtest(cfg, tmp_path, data_dir)
    with open(data_dir / "binance" / "binance_btc_basis_1h_2021_2024.csv", newline="") as fh:
        usdm = {
            row["Time"][:10]: Decimal(row["BTCUSDT Future"])
            for row in csv.DictReader(fh)
            if row["Time"][11:] == "23:00:00"
        }
    perp = [f for f in _journal(r).fills(r.run_id) if f.instrument_id == PERP]
    assert len(perp) > 20
    half, tick = Decimal("0.5") / 10_000, Decimal("0.1")
    for f in perp:
        close = usdm[date.fromordinal(_day(f.ts_ns).toordinal() - 1).isoformat()]
        if f.side == "BUY":
            expected = (close * (1 + half) / tick).to_integral_value(rounding="ROUND_CEILING") * tick
        else:
            expected = (close * (1 - half) / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
        assert f.price == expected


def test_build_when_root_has_no_contracts_in_the_file_then_error_names_cme_root(
    tmp_path: Path, data_dir: Path
):
    cfg = with_overrides({"cme": {"root": "BTC"}})  # the file holds MBT only
    with pytest.raises(ConfigError, match=r"cme\.root: no BTC outright"):
        run_cme_backtest(cfg, tmp_path, data_dir)


def test_convergence_when_cme_margin_floor_tight_then_exits_on_reducing_and_failed_rolls_close_the_pair(
    tmp_path, data_dir
):
    """A CME headroom floor just above the run's lowest headroom: the controller goes REDUCING while a pair
    is held and the strategy exits; a roll whose opening leg the gate denies closes the pair rather than
    drifting into expiry. Net delta stays within one contract throughout."""
    from collections import Counter

    from engine.backtest.cme_runner import load_cme_backtest_config, run_cme_backtest
    from engine.config.cme_backtest import CmeBacktestConfig
    from engine.journal.journal import Journal
    from tests.conftest import CONFIGS

    raw = load_cme_backtest_config(CONFIGS / "backtest" / "cme_mbt_vs_binance_perp_1d.toml").model_dump(
        mode="json"
    )
    raw["risk"]["limits"]["venues"] = {
        "CME": {
            "halt_headroom_floor": 0.5,
            "reducing_headroom_floor": 0.866,
            "headroom_floor": 0.866,
            "min_liquidation_distance_pct": 5.0,
        }
    }
    result = run_cme_backtest(CmeBacktestConfig.model_validate(raw), tmp_path, data_dir)
    exits = Counter(
        d.reason
        for d in Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}").decisions(result.run_id)
        if d.action == "EXIT"
    )
    assert exits["risk_margin_headroom"] > 0
    assert exits["roll_failed"] > 0
    assert cast(dict[str, Any], result.summary["convergence"])["settlements"] == 0
    assert cast(float, result.summary["max_abs_net_delta_base"]) <= 0.1
