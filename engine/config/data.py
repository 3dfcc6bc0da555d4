"""Deployment config of the recorded data a backtest replays. Paths are relative to the data root."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from engine.config.base import StrictModel


class TickDataConfig(StrictModel):
    """Binance websocket recordings (``*.ndjson.gz``): one list of files per leg, in time order.

    ``tile`` replays the recordings that many times back to back, copy ``k`` shifted by
    ``k * tile_shift_secs`` (soak and throughput runs on real data; the shift must exceed the recordings'
    span).
    """

    kind: Literal["ticks"] = "ticks"
    spot_files: list[str] = Field(min_length=1)
    perp_files: list[str] = Field(min_length=1)
    chunk_size: int = Field(default=20_000, gt=0)
    tile: int = Field(default=1, ge=1)
    tile_shift_secs: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _shift_with_tiles(self) -> TickDataConfig:
        if self.tile > 1 and self.tile_shift_secs <= 0:
            raise ValueError("tile_shift_secs must be > 0 when tile > 1")
        return self


class HourlyDataConfig(StrictModel):
    """Hourly closes (spot and perp) plus the funding settlement history.

    The hourly file gives closes only. Each close becomes a two-sided quote at ``close * (1 -/+ half_spread)``
    (rounded outward to the tick) with ``quote_size`` on each side, stamped at the bar's close time (the file
    labels a bar by its open hour, so a close is known one hour after its label). The perp close also stands
    in for the mark price and the spot close for the index price.
    """

    kind: Literal["hourly"] = "hourly"
    hourly_basis_file: str = "binance/binance_btc_basis_1h_2021_2024.csv"
    funding_file: str = "binance/binance_btcusdt_funding_2019_2024.csv"
    half_spread_bps: Decimal = Field(default=Decimal("0.5"), ge=0, le=100)
    quote_size: Decimal = Field(default=Decimal("50"), gt=0)


DataConfig = Annotated[TickDataConfig | HourlyDataConfig, Field(discriminator="kind")]
