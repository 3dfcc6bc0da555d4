"""Pick the backtest a config describes, from its ``strategy.kind``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Protocol

from engine.errors import ConfigError

KINDS = ("spot_perp_carry", "cme_perp_convergence")


class RunResult(Protocol):
    """What every backtest runner returns (read-only: the runners return frozen dataclasses)."""

    @property
    def run_id(self) -> str: ...

    @property
    def out_dir(self) -> Path: ...

    @property
    def summary(self) -> dict[str, object]: ...


def strategy_kind(path: Path) -> str:
    """Read ``strategy.kind`` from a backtest TOML (the model validation that follows names other fields)."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    strategy = raw.get("strategy")
    kind = strategy.get("kind", "spot_perp_carry") if isinstance(strategy, dict) else "spot_perp_carry"
    if kind not in KINDS:
        raise ConfigError(f"{path}: strategy.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    return str(kind)


def run_backtest_file(
    path: Path, out_dir: Path, data_root: Path, progress: bool = False, log_level: str = "ERROR"
) -> RunResult:
    """Load ``path``, validate it with the model of its strategy kind, and run it."""
    if strategy_kind(path) == "cme_perp_convergence":
        from engine.backtest.cme_runner import load_cme_backtest_config, run_cme_backtest

        return run_cme_backtest(load_cme_backtest_config(path), out_dir, data_root, progress, log_level)
    from engine.backtest.runner import run_backtest
    from engine.config.backtest import load_backtest_config

    return run_backtest(load_backtest_config(path), out_dir, data_root, progress, log_level)
