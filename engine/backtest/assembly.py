"""Assemble a nautilus BacktestEngine for a carry run: venues, instruments, funding module, data streams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, RiskEngineConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import TraderId, Venue
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair
from nautilus_trader.model.objects import Money

from engine.backtest.funding import FundingSettlementModule
from engine.backtest.liquidation import LiquidationModule
from engine.config.backtest import BacktestConfig
from engine.config.data import HourlyDataConfig, TickDataConfig
from engine.config.venues import PerpVenueConfig, SpotVenueConfig
from engine.data.basis_1h import load_hourly_basis
from engine.data.binance_ws import BinanceWsLoader
from engine.data.funding_csv import load_funding_history
from engine.data.hourly_replay import hourly_events
from engine.data.stats import LoadStats
from engine.instruments import currency, linear_perpetual, spot_pair
from engine.paths import require_file

StreamWrap = Callable[[Iterator[list[Data]]], Iterator[list[Data]]]


def build_spot(cfg: SpotVenueConfig) -> CurrencyPair:
    """The spot instrument of a venue config."""
    return spot_pair(
        cfg.venue,
        cfg.symbol,
        cfg.base,
        cfg.quote,
        cfg.tick_size,
        cfg.lot_step,
        cfg.maker_fee,
        cfg.taker_fee,
        cfg.min_notional,
    )


def build_perp(cfg: PerpVenueConfig) -> CryptoPerpetual:
    """The perpetual instrument of a venue config."""
    return linear_perpetual(
        cfg.venue,
        cfg.symbol,
        cfg.base,
        cfg.quote,
        cfg.tick_size,
        cfg.lot_step,
        cfg.maker_fee,
        cfg.taker_fee,
        cfg.margin_init,
        cfg.margin_maint,
        cfg.min_notional,
    )


def _balances(balances: dict[str, Decimal]) -> list[Money]:
    return [Money(amount, currency(code)) for code, amount in balances.items()]


@dataclass
class Assembled:
    """A ready-to-run engine and what the runner needs to read back."""

    engine: BacktestEngine
    spot: CurrencyPair
    perp: CryptoPerpetual
    funding: FundingSettlementModule
    liquidation: LiquidationModule
    stats: list[LoadStats] = field(default_factory=list)


def build_engine(
    cfg: BacktestConfig, data_root: Path, log_level: str = "ERROR", wrap: StreamWrap | None = None
) -> Assembled:
    """Build the engine with the spot CASH venue, the perp MARGIN venue (with funding) and the data streams.

    Data are streamed (``add_data_iterator``): memory stays flat however long the recording. ``wrap``, if
    given, wraps each stream of chunks (the CLI's progress bar).
    """
    spot = build_spot(cfg.spot)
    perp = build_perp(cfg.perp)
    # nautilus's RiskEngine enforces per-order notional caps on cash accounts only (it returns early for
    # margin accounts); caps on margin venues belong to carry's own pre-trade gate.
    # nautilus reads each cap with Decimal(value); its annotation says int.
    cap = cfg.spot.max_order_notional
    caps: dict[str, Any] = {str(spot.id): str(cap)} if cap is not None else {}
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("CARRY-001"),
            logging=LoggingConfig(log_level=log_level, bypass_logging=log_level == "OFF"),
            risk_engine=RiskEngineConfig(bypass=False, max_notional_per_order=caps),
            run_analysis=False,
        )
    )
    funding = FundingSettlementModule([perp.id])
    liquidation = LiquidationModule([perp.id], cfg.risk.liquidation_fee_rate)
    engine.add_venue(
        Venue(cfg.spot.venue),
        OmsType.NETTING,
        AccountType.CASH,
        _balances(cfg.spot.starting_balances),
        base_currency=None,
    )
    engine.add_venue(
        Venue(cfg.perp.venue),
        OmsType.NETTING,
        AccountType.MARGIN,
        _balances(cfg.perp.starting_balances),
        base_currency=None,
        default_leverage=Decimal(1) / cfg.perp.margin_init,
        modules=[funding, liquidation],
    )
    engine.add_instrument(spot)
    engine.add_instrument(perp)
    assembled = Assembled(engine, spot, perp, funding, liquidation)
    _add_data(assembled, cfg, data_root, wrap or (lambda chunks: chunks))
    return assembled


def _add_data(a: Assembled, cfg: BacktestConfig, data_root: Path, wrap: StreamWrap) -> None:
    data = cfg.data
    if isinstance(data, TickDataConfig):
        interval_min = cfg.perp.funding_interval_hours * 60
        spot_paths = [require_file(f, data_root) for f in data.spot_files]
        perp_paths = [require_file(f, data_root) for f in data.perp_files]
        spot_loaders = [BinanceWsLoader(p, a.spot) for _ in range(data.tile) for p in spot_paths]
        perp_loaders = [
            BinanceWsLoader(p, a.perp, interval_min) for _ in range(data.tile) for p in perp_paths
        ]
        a.stats.extend(ld.stats for ld in spot_loaders + perp_loaders)
        shift_ns = data.tile_shift_secs * 1_000_000_000
        spot_shifts = [k * shift_ns for k in range(data.tile) for _ in spot_paths]
        perp_shifts = [k * shift_ns for k in range(data.tile) for _ in perp_paths]
        a.engine.add_data_iterator("spot", wrap(_chain_chunks(spot_loaders, spot_shifts, data.chunk_size)))
        a.engine.add_data_iterator("perp", wrap(_chain_chunks(perp_loaders, perp_shifts, data.chunk_size)))
    elif isinstance(data, HourlyDataConfig):
        rows, basis_stats = load_hourly_basis(require_file(data.hourly_basis_file, data_root))
        settlements, funding_stats = load_funding_history(require_file(data.funding_file, data_root))
        a.stats.extend([basis_stats, funding_stats])
        events = hourly_events(
            rows,
            settlements,
            a.spot,
            a.perp,
            data.half_spread_bps,
            data.quote_size,
            cfg.run.start_ns,
            cfg.run.end_ns,
        )
        a.engine.add_data_iterator("hourly", wrap(events))


def _chain_chunks(loaders: list[BinanceWsLoader], shifts: list[int], size: int) -> Iterator[list[Data]]:
    return chain.from_iterable(ld.chunks(size, shift) for ld, shift in zip(loaders, shifts, strict=True))
