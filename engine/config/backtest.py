"""The root deployment config of a backtest run (``configs/backtest/*.toml``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from engine.config.base import StrictModel, load_toml
from engine.config.data import DataConfig
from engine.config.risk import RiskSettings
from engine.config.strategy import SpotPerpCarrySettings
from engine.config.venues import PerpVenueConfig, SpotVenueConfig


class RunSection(StrictModel):
    """Name and time window of the run (ISO 8601 with an explicit UTC offset)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must carry a UTC offset, e.g. 2021-07-01T00:00:00Z")
        return v.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> RunSection:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        return self

    @property
    def start_ns(self) -> int:
        """Start as ns since the epoch."""
        return int(self.start.timestamp()) * 1_000_000_000 + self.start.microsecond * 1_000

    @property
    def end_ns(self) -> int:
        """End as ns since the epoch."""
        return int(self.end.timestamp()) * 1_000_000_000 + self.end.microsecond * 1_000


class JournalSection(StrictModel):
    """Where the journal goes: an SQLAlchemy URL, or empty for ``journal.sqlite`` in the run's folder."""

    url: str | None = None


class BacktestConfig(StrictModel):
    """A backtest: the explicit environment, the window, the data, the two venues and the strategy."""

    environment: Literal["backtest"]
    run: RunSection
    data: DataConfig
    spot: SpotVenueConfig
    perp: PerpVenueConfig
    strategy: SpotPerpCarrySettings
    journal: JournalSection = JournalSection()
    risk: RiskSettings = RiskSettings()

    @model_validator(mode="after")
    def _legs_consistent(self) -> BacktestConfig:
        if self.spot.venue == self.perp.venue:
            raise ValueError(f"spot.venue and perp.venue must differ (both {self.spot.venue!r})")
        if self.spot.base != self.perp.base:
            raise ValueError(f"spot.base ({self.spot.base}) and perp.base ({self.perp.base}) must match")
        held = self.spot.starting_balances.get(self.spot.base, 0)
        if self.strategy.initial_spot_inventory > held:
            raise ValueError(
                f"strategy.initial_spot_inventory ({self.strategy.initial_spot_inventory}) exceeds "
                f"spot.starting_balances.{self.spot.base} ({held})"
            )
        for name in ("clip_size", "trade_size"):
            size = getattr(self.strategy, name)
            if size % self.perp.lot_step or size % self.spot.lot_step:
                raise ValueError(
                    f"strategy.{name} ({size}) must be a multiple of both lot steps "
                    f"(spot {self.spot.lot_step}, perp {self.perp.lot_step})"
                )
        return self


def load_backtest_config(path: str | Path) -> BacktestConfig:
    """Load and validate a backtest TOML; errors name the file and the field."""
    return load_toml(path, BacktestConfig)
