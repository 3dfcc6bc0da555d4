"""run_signals on the real files: CSVs with the agreed columns, charts and the HTML page."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.errors import DataFileMissingError
from engine.paths import data_root
from engine.signals.attribution import STATE_NAMES
from engine.signals.premium import REGIME_NAMES
from engine.signals.run import SignalsConfig, run_signals


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("signals")
    return out, run_signals(data_root(), out)


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_run_signals_when_real_files_then_csvs_with_agreed_columns(
    run: tuple[Path, dict[str, object]],
) -> None:
    out, result = run
    header, rows = _read(out / "cme_basis.csv")
    assert header == ["date", "contract", "days_to_expiry", "future_close", "spot_close", "annualized_basis"]
    assert len(rows) == 2026 and rows[0]["date"] == "2021-05-02" and rows[0]["contract"] == "MBTK1"
    header, rows = _read(out / "attribution.csv")
    assert header == ["date", "cme_basis_annualized", "funding_annualized", "state"]
    assert len(rows) == 1018 and {r["state"] for r in rows} == set(STATE_NAMES)
    header, rows = _read(out / "premium.csv")
    assert header == ["ts", "venue", "asset", "premium_bps", "regime", "zscore"]
    assert len(rows) == 2 * 4 * 1642  # BTC, ETH x (3 venues + global) x bars
    assert {r["venue"] for r in rows} == {"binance", "bybit", "okx", "global"}
    assert {r["regime"] for r in rows} <= set(REGIME_NAMES)
    assert rows[0]["ts"] == "2023-01-01T00:00:00Z" and rows[0]["zscore"] == ""
    assert result["bad_lines"] == 0
    assert result["rows"] == {
        "cme_basis.csv": 2026,
        "attribution.csv": 1018,
        "premium.csv": 13136,
        "divergence.csv": 3284,
        "funding_daily.csv": 6576,
    }


def test_run_signals_when_charts_on_then_pngs_and_html_embedding_them(
    run: tuple[Path, dict[str, object]],
) -> None:
    out, _ = run
    page = (out / "signals.html").read_text()
    for name in ("premium_regimes.png", "cme_basis_vs_funding.png", "venue_premiums.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{name}"' in page


def test_run_signals_when_attribution_rows_then_consistent_with_thresholds(
    run: tuple[Path, dict[str, object]],
) -> None:
    out, _ = run
    cfg = SignalsConfig().attribution
    _, rows = _read(out / "attribution.csv")
    for r in rows:
        cme, fund = float(r["cme_basis_annualized"]), float(r["funding_annualized"])
        if r["state"] == "synchronized_risk_on":
            assert cme >= cfg.cme_rich and fund >= cfg.funding_rich
        elif r["state"] == "institution_led":
            assert cme >= cfg.cme_rich and fund < cfg.funding_rich and cme - fund >= cfg.min_lead
        elif r["state"] == "leverage_led":
            assert fund >= cfg.funding_rich and cme < cfg.cme_rich and fund - cme >= cfg.min_lead
        else:
            assert not (cme >= cfg.cme_rich and fund >= cfg.funding_rich)


def test_signals_config_when_unknown_field_then_error_names_it() -> None:
    with pytest.raises(ValidationError, match="premium_bands"):
        SignalsConfig(premium_bands={})  # type: ignore[call-arg]


def test_run_signals_when_file_missing_then_error_names_path(tmp_path: Path) -> None:
    with pytest.raises(DataFileMissingError, match="nope"):
        run_signals(data_root(), tmp_path, SignalsConfig(cme_file="cme/nope.csv", charts=False))
