"""Data root resolution and missing-file errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import DataFileMissingError
from engine.paths import PROJECT_ROOT, data_root, require_file


def test_data_root_when_flag_given_then_flag_wins(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CARRY_DATA_DIR", "/elsewhere")
    assert data_root(tmp_path) == tmp_path.resolve()


def test_data_root_when_env_set_then_env(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CARRY_DATA_DIR", str(tmp_path))
    assert data_root() == tmp_path.resolve()


def test_data_root_when_nothing_set_then_shared_beside_project(monkeypatch):
    monkeypatch.delenv("CARRY_DATA_DIR", raising=False)
    assert data_root() == (PROJECT_ROOT.parent / "shared" / "data").resolve()


def test_require_file_when_missing_then_error_names_path_and_how_to_get_it(tmp_path: Path):
    with pytest.raises(DataFileMissingError) as info:
        require_file("binance/missing.csv", tmp_path)
    assert str(tmp_path / "binance/missing.csv") in str(info.value)
    assert "CARRY_DATA_DIR" in str(info.value)
