"""Run report: summary figures and P&L attribution against a hand-computed run, CSVs, charts, html."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from engine.journal import Fill, Journal, JournalError
from engine.report import RunFacts, build_summary, iso_utc, max_abs_net_delta, print_summary, write_report
from engine.report.charts import envelope
from engine.report.summary import fee_usd
from tests.engine.journal.builders import (
    END_NS,
    EXPECTED_BASIS,
    EXPECTED_FEES,
    EXPECTED_FUNDING,
    EXPECTED_MAX_DELTA,
    FINAL_EQUITY,
    INITIAL_EQUITY,
    PERP,
    RUN_ID,
    SPOT,
    START_NS,
    STRATEGY,
    write_hand_run,
)

FACTS = RunFacts(
    strategy=STRATEGY,
    start_ns=START_NS,
    end_ns=END_NS,
    events=1234,
    wall_seconds=1.25,
    bad_lines=3,
    initial_equity_usd=INITIAL_EQUITY,
    extra={"risk": {"checks": 7, "denials": 1, "min_margin_headroom": Decimal("0.4123456789")}},
)


def _report(tmp: Path, name: str = "run", facts: RunFacts = FACTS) -> tuple[dict[str, Any], Path]:
    out = tmp / name
    out.mkdir()
    with Journal(f"sqlite:///{out / 'journal.sqlite'}") as j:
        write_hand_run(j)
        summary = write_report(j, RUN_ID, out, facts)
    return summary, out


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    return _report(tmp_path_factory.mktemp("report"))


def _fill(
    ts: int, inst: str, side: str, qty: str, price: str = "100", fee: str = "0", cur: str = "USDT"
) -> Fill:
    return Fill(
        run_id="r",
        seq=ts,
        ts_ns=ts,
        client_order_id="O",
        venue="V",
        trade_id=f"T{ts}{inst}",
        instrument_id=inst,
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency=cur,
    )


def test_summary_when_hand_run_then_counts_times_and_facts(hand: tuple[dict[str, Any], Path]) -> None:
    s, _ = hand
    assert s["strategy"] == STRATEGY and s["mode"] == "backtest" and s["status"] == "COMPLETED"
    assert (s["start"], s["end"]) == ("2023-04-04T12:00:00Z", "2023-04-05T12:00:00Z")
    assert (s["events"], s["wall_seconds"], s["bad_lines"]) == (1234, 1.25, 3)
    assert (s["orders"], s["fills"], s["funding_payments"]) == (5, 5, 2)
    assert (s["entries"], s["exits"]) == (1, 1)
    assert s["order_events"] == {"DENIED": 1}
    assert s["risk_events"] == {"DENIAL": 1}


def test_summary_when_hand_run_then_pnl_attribution_matches_hand_figures(
    hand: tuple[dict[str, Any], Path],
) -> None:
    pnl = hand[0]["pnl_usd"]
    assert pnl["funding"] == float(EXPECTED_FUNDING) == 0.24754038
    assert pnl["fees"] == float(EXPECTED_FEES) == -36.464
    assert pnl["basis"] == float(EXPECTED_BASIS) == 8.0  # the legs' price P&L worked by hand
    assert pnl["total"] == float(FINAL_EQUITY - INITIAL_EQUITY) == -28.21645962
    assert hand[0]["final_equity_usd"] == 99971.78354038


def test_summary_when_hand_run_then_max_abs_net_delta_is_the_exit_leg_gap(
    hand: tuple[dict[str, Any], Path],
) -> None:
    assert hand[0]["max_abs_net_delta_base"] == float(EXPECTED_MAX_DELTA) == 0.5


def test_summary_when_extra_given_then_merged_with_decimals_rounded_to_8dp(
    hand: tuple[dict[str, Any], Path],
) -> None:
    assert hand[0]["risk"] == {"checks": 7, "denials": 1, "min_margin_headroom": 0.41234568}


def test_summary_json_when_written_then_sorted_keys_and_equal_to_returned(
    hand: tuple[dict[str, Any], Path],
) -> None:
    summary, out = hand
    text = (out / "summary.json").read_text()
    assert json.loads(text) == summary
    keys = re.findall(r'^  "([a-z_]+)":', text, flags=re.M)
    assert keys == sorted(keys) and "pnl_usd" in keys


def test_max_abs_net_delta_when_legs_fill_at_the_same_time_then_first_leg_counts_until_hedged() -> None:
    fills = [_fill(1, SPOT, "BUY", "1"), _fill(1, PERP, "SELL", "1"), _fill(2, SPOT, "BUY", "0.25")]
    assert max_abs_net_delta(fills) == Decimal("1")


def test_max_abs_net_delta_when_perp_leg_lags_then_spot_leg_counts() -> None:
    fills = [_fill(1, SPOT, "BUY", "0.4"), _fill(2, SPOT, "BUY", "0.6"), _fill(3, PERP, "SELL", "1")]
    assert max_abs_net_delta(fills) == Decimal("1.0")


def test_max_abs_net_delta_when_short_residual_then_absolute_value() -> None:
    fills = [_fill(1, PERP, "SELL", "0.7"), _fill(2, SPOT, "BUY", "0.5")]
    assert max_abs_net_delta(fills) == Decimal("0.7")


def test_max_abs_net_delta_when_futures_multiplier_and_two_underlyings_then_per_asset_in_base() -> None:
    mbt = "MBTM4.CME"
    fills = [_fill(1, mbt, "SELL", "9"), _fill(1, SPOT, "BUY", "1"), _fill(1, "ETHUSDT.BINANCE", "BUY", "3")]
    mult = {mbt: Decimal("0.1")}
    under = {SPOT: "BTC", mbt: "BTC", "ETHUSDT.BINANCE": "ETH"}
    # BTC: -9 * 0.1 = -0.9 until the spot leg fills, then 0.1; ETH: 3 (not netted against BTC).
    assert max_abs_net_delta(fills, mult, under) == Decimal("3")
    assert max_abs_net_delta(fills[:2], mult, under) == Decimal("0.9")


def test_fee_usd_when_fee_in_base_currency_then_converted_at_fill_price() -> None:
    assert fee_usd(_fill(1, SPOT, "BUY", "1", "28000", "0.001", "BTC"), "USDT") == Decimal("28.000")
    assert fee_usd(_fill(1, SPOT, "BUY", "1", "28000", "2.5", "USDT"), "USDT") == Decimal("2.5")
    assert fee_usd(_fill(1, SPOT, "BUY", "1", "28000", "2.5", "USD"), "USDT") == Decimal("2.5")


def test_funding_csv_when_received_and_paid_then_signed_exact_and_at_settlement_time(
    hand: tuple[dict[str, Any], Path],
) -> None:
    rows = list(csv.reader(io.StringIO((hand[1] / "funding.csv").read_text())))
    assert rows == [
        ["ts", "instrument_id", "position_qty", "mark_price", "rate", "amount"],
        ["2023-04-05T00:00:00.000000Z", PERP, "-0.5", "28155.10000000", "0.00002760", "0.38854038"],
        ["2023-04-05T08:00:00.000000Z", PERP, "-0.5", "28200", "-0.00001", "-0.141"],
    ]
    # A short perp receives when the rate is positive and pays when it is negative.
    for _, _, qty, mark, rate, amount in rows[1:]:
        assert Decimal(amount) == -Decimal(qty) * Decimal(mark) * Decimal(rate)


def test_fills_csv_when_written_then_header_exact_decimals_and_time_order(
    hand: tuple[dict[str, Any], Path],
) -> None:
    lines = (hand[1] / "fills.csv").read_text().splitlines()
    assert lines[0] == "ts,instrument_id,side,qty,price,fee,fee_currency,client_order_id"
    assert lines[1] == f"2023-04-04T12:00:01.000000Z,{SPOT},BUY,0.3,28000.00,0.0003,BTC,O-1"
    assert lines[3] == f"2023-04-04T12:00:02.000000Z,{PERP},SELL,0.5,28030.00,5.6060,USDT,O-2"
    assert [line.split(",")[0] for line in lines[1:]] == sorted(line.split(",")[0] for line in lines[1:])
    assert len(lines) == 6


def test_rerun_when_same_records_then_byte_identical_csvs_and_summary_minus_wall_seconds(
    tmp_path: Path,
) -> None:
    first, out_a = _report(tmp_path, "a")
    second, out_b = _report(tmp_path, "b", replace(FACTS, wall_seconds=9.75))
    for name in ("fills.csv", "funding.csv", "equity.png", "basis_funding.png", "pnl_attribution.png"):
        assert (out_a / name).read_bytes() == (out_b / name).read_bytes(), name
    assert first["wall_seconds"] != second["wall_seconds"]
    first.pop("wall_seconds")
    second.pop("wall_seconds")
    assert first == second
    text_a = (out_a / "summary.json").read_text().replace("1.25", "X")
    text_b = (out_b / "summary.json").read_text().replace("9.75", "X")
    assert text_a == text_b


def test_report_files_when_written_then_all_exist_and_html_embeds_every_chart(
    hand: tuple[dict[str, Any], Path],
) -> None:
    out = hand[1]
    for name in (
        "summary.json",
        "fills.csv",
        "funding.csv",
        "report.html",
        "equity.png",
        "basis_funding.png",
        "pnl_attribution.png",
        "risk_events.png",
    ):
        assert (out / name).stat().st_size > 0, name
    page = (out / "report.html").read_text()
    charts = sorted(p.name for p in out.glob("*.png"))
    assert len(charts) == 4
    for name in charts:
        assert f'href="{name}"' in page
        assert base64.b64encode((out / name).read_bytes()).decode() in page
    assert (out / "equity.png").read_bytes().startswith(b"\x89PNG")
    # The first fills are tabulated with their exact prices.
    assert "28155.10000000" in page and "28030.00" in page and "T-4" in page


def test_write_report_when_no_equity_journaled_then_total_and_basis_null(tmp_path: Path) -> None:
    with Journal(f"sqlite:///{tmp_path / 'j.sqlite'}") as j:
        j.start_run("r", "s", "backtest", "{}")
        j.record_fill(
            "r", 1, "O-1", "V", "T-1", SPOT, "BUY", Decimal("1"), Decimal("100"), Decimal("1"), "USDT"
        )
        summary = write_report(j, "r", tmp_path / "out", replace(FACTS, extra={}))
    assert summary["pnl_usd"] == {"total": None, "funding": 0.0, "basis": None, "fees": -1.0}
    assert summary["max_abs_net_delta_base"] == 1.0
    assert (tmp_path / "out" / "equity.png").exists() and not (tmp_path / "out" / "risk_events.png").exists()


def test_write_report_when_extra_overrides_a_computed_key_then_error(tmp_path: Path) -> None:
    with Journal(f"sqlite:///{tmp_path / 'j.sqlite'}") as j:
        j.start_run("r", "s", "backtest", "{}")
        with pytest.raises(ValueError, match="fills"):
            write_report(j, "r", tmp_path / "out", replace(FACTS, extra={"fills": 0}))


def test_write_report_when_run_not_in_journal_then_error(tmp_path: Path) -> None:
    with Journal(f"sqlite:///{tmp_path / 'j.sqlite'}") as j, pytest.raises(JournalError, match="nope"):
        write_report(j, "nope", tmp_path / "out", FACTS)


def test_write_report_when_long_run_then_charts_downsampled_and_written(tmp_path: Path) -> None:
    hour = 3_600_000_000_000
    with Journal(f"sqlite:///{tmp_path / 'j.sqlite'}") as j:
        j.start_run("long", "s", "backtest", "{}")
        for i in range(30_000):
            basis = math.nan if i % 997 == 0 else 20 * math.sin(i / 500)
            j.record_market("long", i * hour, basis, basis * 0.5, Decimal("30000"), Decimal("30001"))
            if i % 3 == 0:
                j.record_equity("long", i * hour, Decimal(100_000 + i), {"A": Decimal(i)})
        summary = write_report(j, "long", tmp_path / "out", replace(FACTS, extra={}))
    assert summary["pnl_usd"]["total"] == 29_997.0
    assert (tmp_path / "out" / "basis_funding.png").stat().st_size > 0


def test_envelope_when_series_long_then_bounded_and_extremes_kept() -> None:
    x = np.arange(100_000, dtype=np.float64)
    y = np.sin(x / 1000.0)
    y[12_345] = 50.0
    y[77_777] = -50.0
    y[500:900] = np.nan
    xs, ys = envelope(x, y, max_points=1_000)
    assert len(xs) == len(ys) <= 1_000
    assert np.nanmax(ys) == 50.0 and np.nanmin(ys) == -50.0
    assert np.all(np.diff(xs) >= 0)
    short_x, short_y = envelope(x[:10], y[:10], max_points=1_000)
    assert np.array_equal(short_x, x[:10]) and np.array_equal(short_y, y[:10])


def test_iso_utc_when_whole_or_sub_second_then_formats_with_z() -> None:
    assert iso_utc(1_680_652_800_000_000_000) == "2023-04-05T00:00:00.000000Z"
    assert iso_utc(1_680_652_800_000_000_000, micros=False) == "2023-04-05T00:00:00Z"
    assert iso_utc(1_680_652_800_123_456_789, micros=False) == "2023-04-05T00:00:00.123456Z"


def test_print_summary_when_called_then_prints_key_figures(hand: tuple[dict[str, Any], Path]) -> None:
    console = Console(file=io.StringIO(), width=100, record=True)
    print_summary(hand[0], console=console)
    text = console.export_text()
    assert STRATEGY in text and "-28.22" in text and "8.00" in text and "0.50000000" in text
    assert "orders denied" in text


def test_max_abs_net_delta_when_inventory_adopted_then_seeded_from_initial_positions() -> None:
    fills = [_fill(1, PERP, "SELL", "0.5"), _fill(2, SPOT, "BUY", "0.05")]
    assert max_abs_net_delta(fills, initial_positions={SPOT: Decimal("0.5")}) == Decimal("0.05")
    assert max_abs_net_delta(fills) == Decimal("0.5")


def test_build_summary_when_initial_positions_given_then_net_delta_seeded(tmp_path: Path) -> None:
    with Journal(f"sqlite:///{tmp_path / 'j.sqlite'}") as j:
        write_hand_run(j)
        summary = build_summary(j, RUN_ID, replace(FACTS, initial_positions={SPOT: Decimal("-0.3")}))
    # Hand run from -0.3: 0 after the first spot fill, -0.3 after the legs, +0.2 and -0.3 on exit.
    assert summary["max_abs_net_delta_base"] == 0.3


def test_robust_limits_when_one_outlier_then_axis_fits_the_bulk_and_notes_it() -> None:
    import matplotlib.pyplot as plt

    from engine.report.charts import robust_limits

    y = np.concatenate([np.linspace(-5.0, 10.0, 5_000), [-185.0], [np.nan]])
    fig, ax = plt.subplots()
    lo, hi = robust_limits(ax, y, "bps")
    notes = [t.get_text() for t in ax.texts]
    plt.close(fig)
    assert -10.0 < lo < -5.0 and 10.0 < hi < 15.0
    assert notes == ["1 samples off-scale (min -185.0, max 10.0 bps)"]
