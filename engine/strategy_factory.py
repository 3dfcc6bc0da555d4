"""Build nautilus strategy configs from the deployment settings (the same in every mode)."""

from __future__ import annotations

from nautilus_trader.model.instruments import Instrument

from engine.config.strategy import SpotPerpCarrySettings
from engine.signals.carry import round_trip_cost_bps
from strategies.spot_perp_carry import SpotPerpCarryConfig


def spot_perp_carry_config(
    settings: SpotPerpCarrySettings, spot: Instrument, perp: Instrument, strategy_id: str | None = None
) -> SpotPerpCarryConfig:
    """Return the msgspec ``SpotPerpCarryConfig`` for ``settings`` trading ``spot`` against ``perp``.

    The round-trip cost is taken from the instruments' taker fees (market orders) plus the configured
    slippage allowance.
    """
    return SpotPerpCarryConfig(
        strategy_id=strategy_id,
        spot_instrument_id=spot.id,
        perp_instrument_id=perp.id,
        trade_size=settings.trade_size,
        clip_size=settings.clip_size,
        max_unhedged=settings.max_unhedged,
        entry_basis_bps=settings.entry_basis_bps,
        exit_basis_bps=settings.exit_basis_bps,
        entry_funding_apr_pct=settings.entry_funding_apr_pct,
        horizon_hours=settings.horizon_hours,
        round_trip_cost_bps=round_trip_cost_bps(
            float(spot.taker_fee), float(perp.taker_fee), settings.slippage_bps
        ),
        min_edge_ratio=settings.min_edge_ratio,
        negative_funding_exit_count=settings.negative_funding_exit_count,
        max_holding_hours=settings.max_holding_hours,
        leg_timeout_secs=settings.leg_timeout_secs,
        hedge_attempts=settings.hedge_attempts,
        max_quote_age_secs=settings.max_quote_age_secs,
        sample_interval_secs=settings.sample_interval_secs,
        entry_cooldown_secs=settings.entry_cooldown_secs,
        close_on_stop=settings.close_on_stop,
        initial_spot_inventory=settings.initial_spot_inventory,
    )
