"""Risk scenario configs on the real hourly data (shared by the scenario tests and bench scripts)."""

from __future__ import annotations

from typing import Any

from engine.config.backtest import BacktestConfig, load_backtest_config
from tests.conftest import CONFIGS

HOURLY = CONFIGS / "backtest" / "binance_btc_carry_1h.toml"
RALLY_2021 = {"start": "2021-07-20T00:00:00Z", "end": "2021-09-10T00:00:00Z"}
H2_2021 = {"start": "2021-07-01T00:00:00Z", "end": "2022-01-01T00:00:00Z"}
PERP = "BINANCE_USDM"


def variant(
    run: dict[str, str],
    strategy: dict[str, Any] | None = None,
    perp: dict[str, Any] | None = None,
    perp_limits: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None,
    risk: dict[str, Any] | None = None,
) -> BacktestConfig:
    """The headline config with some fields replaced, validated again."""
    raw = load_backtest_config(HOURLY).model_dump(mode="json")
    raw["run"].update(run)
    raw["strategy"].update(strategy or {})
    raw["perp"].update(perp or {})
    raw["risk"].update(risk or {})
    raw["risk"]["limits"].update(limits or {})
    if perp_limits is not None:
        raw["risk"]["limits"]["venues"] = {PERP: perp_limits}
    return BacktestConfig.model_validate(raw)


def tight_exposure() -> BacktestConfig:
    """20k USDT at the perp venue and a 60k USD exposure limit there, through 2021 H2 (BTC 30k-69k)."""
    return variant(
        H2_2021,
        perp={"starting_balances": {"USDT": "20000"}},
        perp_limits={
            "exposure_usd": 60_000.0,
            "halt_headroom_floor": 0.1,
            "reducing_headroom_floor": 0.5,
            "headroom_floor": 0.6,
        },
    )


def high_leverage(with_floor: bool) -> BacktestConfig:
    """1 BTC short on 8k USDT (about 5x) held through the Aug 2021 rally, with or without margin floors."""
    holding = {"exit_basis_bps": -100.0, "max_holding_hours": 5000.0}
    if with_floor:
        floors = {
            "halt_headroom_floor": 0.5,
            "reducing_headroom_floor": 0.9,
            "headroom_floor": 0.95,
            "min_liquidation_distance_pct": 0.0,
        }
        return variant(RALLY_2021, holding, {"starting_balances": {"USDT": "8000"}}, floors)
    none = {
        "halt_headroom_floor": 0.0,
        "reducing_headroom_floor": 0.001,
        "headroom_floor": 0.001,
        "min_liquidation_distance_pct": 0.0,
    }
    return variant(
        RALLY_2021,
        holding,
        {"starting_balances": {"USDT": "8000"}},
        none,
        limits={"shocks": {"moves": [], "min_headroom": 0.0}},
    )
