"""The root config of a CME-vs-perp convergence backtest (``strategy.kind = "cme_perp_convergence"``).

Sections: ``environment`` (always ``"backtest"``), ``run``, ``data`` (daily files), ``cme`` (the futures
venue: contract root, performance bond, fees per contract), ``perp`` (the offshore perpetual venue, as in the
spot-perp backtest), ``strategy`` and ``journal``. The margin rates of both venues are carried for the risk
module; the two venues are separate counterparties with their own balances.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from nautilus_trader.model.identifiers import InstrumentId
from pydantic import Field, model_validator

from engine.cme import CME_VENUE, CONTRACT_SIZE_BTC
from engine.config.backtest import JournalSection, RunSection
from engine.config.base import StrictModel, load_toml
from engine.config.risk import RiskSettings
from engine.config.venues import PerpVenueConfig
from strategies.cme_perp_convergence import CmePerpConvergenceConfig

PositiveDecimal = Annotated[Decimal, Field(gt=0)]
Rate = Annotated[Decimal, Field(gt=0, le=1)]
HalfSpread = Annotated[Decimal, Field(ge=0, le=100)]


class CmeDailyDataConfig(StrictModel):
    """The daily files the run replays (paths relative to the data root) and how closes become quotes.

    Every close of UTC day ``D`` becomes a quote at ``close -/+ half_spread`` stamped ``D + 1 00:00 UTC``
    (see ``engine.data.cme_replay``). ``perp_price`` chooses what prices the perp: ``spot_close`` (the Binance
    spot daily close, a proxy a few bps from the perp) or ``usdm_close`` (the USD-M perpetual's own 24:00 UTC
    close from the hourly basis file, 2021-07-01 to 2024-07-01, falling back to the spot close elsewhere).
    ``perp_at_fixing`` adds a perp quote at each futures expiry (16:00 London) from the hourly file's close of
    that hour (same column as ``perp_price``), where the file has it: a future held to expiry is settled then,
    and its perp hedge is closed at that moment's price instead of at the next daily close.
    """

    kind: Literal["daily"] = "daily"
    cme_file: str = "cme/cme_mbt_ohlcv1d_2021_2026.csv"
    spot_file: str = "cme/binance_btcusdt_spot_1d_2017_2024.csv"
    funding_file: str = "binance/binance_btcusdt_funding_2019_2024.csv"
    hourly_basis_file: str = "binance/binance_btc_basis_1h_2021_2024.csv"
    perp_price: Literal["spot_close", "usdm_close"] = "spot_close"
    perp_at_fixing: bool = True
    cme_half_spread_bps: HalfSpread = Decimal("2.0")
    perp_half_spread_bps: HalfSpread = Decimal("0.5")
    cme_quote_size: PositiveDecimal = Decimal("500")  # contracts each side
    perp_quote_size: PositiveDecimal = Decimal("50")  # base units each side


class CmeVenueConfig(StrictModel):
    """The CME futures venue: which contract, its performance bond and per-contract fees, the USD balance.

    ``margin_init``/``margin_maint`` are the performance bond (initial and maintenance) as fractions of
    notional; CME quotes them in USD per contract and moves them with volatility, so they are config, read by
    the risk module. ``fee_per_contract`` is the all-in fee (exchange, clearing, NFA, broker) per contract
    per side, charged on every fill including final settlement.
    """

    venue: str = Field(default=CME_VENUE, min_length=1, pattern=r"^[A-Z0-9_]+$")
    root: Literal["MBT", "BTC"] = "MBT"
    margin_init: Rate = Decimal("0.40")
    margin_maint: Rate = Decimal("0.36")
    fee_per_contract: Decimal = Field(default=Decimal("2.50"), ge=0, le=100)
    starting_balances: dict[str, Decimal] = Field(default_factory=lambda: {"USD": Decimal("100000")})

    @model_validator(mode="after")
    def _consistent(self) -> CmeVenueConfig:
        if self.margin_maint > self.margin_init:
            raise ValueError(
                f"margin_maint ({self.margin_maint}) must not exceed margin_init ({self.margin_init})"
            )
        if set(self.starting_balances) != {"USD"}:
            raise ValueError(f"starting_balances must hold USD only, got {sorted(self.starting_balances)}")
        if self.starting_balances["USD"] <= 0:
            raise ValueError("starting_balances.USD must be > 0")
        return self

    @property
    def contract_size(self) -> Decimal:
        """Base units (BTC) per contract."""
        return CONTRACT_SIZE_BTC[self.root]


class CmePerpConvergenceSettings(StrictModel):
    """Thresholds, sizing, expiry handling and leg handling of ``CmePerpConvergence``.

    Spreads are annualized percent (``cme_basis_apr - funding_apr``), gaps bps (``(F / P - 1) * 10_000``).
    ``expiry_action``: ``roll`` moves the futures leg to the next month ``roll_business_days`` CME business
    days before expiry, keeping the perp; ``close`` exits both legs then; ``settle`` holds to expiry, where
    the backtest settles the future at the expiry-day close.
    """

    kind: Literal["cme_perp_convergence"] = "cme_perp_convergence"
    contracts: int = Field(default=10, ge=1, le=10_000)
    clip_contracts: int = Field(default=1, ge=1)
    entry_spread_apr_pct: float = Field(default=5.0, gt=0)
    exit_spread_apr_pct: float = 1.0
    entry_gap_bps: float | None = Field(default=None, gt=0)
    exit_gap_bps: float | None = None
    allow_cheap: bool = True
    funding_window_settlements: int = Field(default=21, ge=1, le=1_000)
    expiry_action: Literal["roll", "close", "settle"] = "roll"
    roll_business_days: int = Field(default=3, ge=0, le=15)
    min_days_to_expiry: int = Field(default=7, ge=1, le=120)
    max_quote_age_secs: float = Field(default=3_600.0, gt=0)
    leg_timeout_secs: float = Field(default=60.0, gt=0)
    hedge_attempts: int = Field(default=2, ge=1)
    entry_cooldown_secs: float = Field(default=86_400.0, ge=0)
    require_globex_open: bool = True
    close_on_stop: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> CmePerpConvergenceSettings:
        if self.exit_spread_apr_pct >= self.entry_spread_apr_pct:
            raise ValueError(
                f"exit_spread_apr_pct ({self.exit_spread_apr_pct}) must be below "
                f"entry_spread_apr_pct ({self.entry_spread_apr_pct})"
            )
        if self.exit_gap_bps is not None and self.entry_gap_bps is None:
            raise ValueError("exit_gap_bps needs entry_gap_bps")
        gaps = (self.entry_gap_bps, self.exit_gap_bps)
        if gaps[0] is not None and gaps[1] is not None and gaps[1] >= gaps[0]:
            raise ValueError(f"exit_gap_bps ({gaps[1]}) must be below entry_gap_bps ({gaps[0]})")
        if self.clip_contracts > self.contracts:
            raise ValueError(
                f"clip_contracts ({self.clip_contracts}) must not exceed contracts ({self.contracts})"
            )
        return self


class CmeBacktestConfig(StrictModel):
    """A CME-vs-perp convergence backtest: environment, window, daily data, the two venues, the strategy."""

    environment: Literal["backtest"]
    run: RunSection
    data: CmeDailyDataConfig = CmeDailyDataConfig()
    cme: CmeVenueConfig = CmeVenueConfig()
    perp: PerpVenueConfig
    strategy: CmePerpConvergenceSettings
    journal: JournalSection = JournalSection()
    risk: RiskSettings = RiskSettings()

    @model_validator(mode="after")
    def _legs_consistent(self) -> CmeBacktestConfig:
        if self.cme.venue == self.perp.venue:
            raise ValueError(f"cme.venue and perp.venue must differ (both {self.cme.venue!r})")
        if self.perp.base != "BTC":
            raise ValueError(f"perp.base must be BTC (the CME contracts' underlying), got {self.perp.base!r}")
        size = self.cme.contract_size
        if self.perp.lot_step > size or size % self.perp.lot_step:
            raise ValueError(
                f"perp.lot_step ({self.perp.lot_step}) must divide the {self.cme.root} contract size "
                f"({size}) so that the perp can match the futures leg to within one contract"
            )
        return self


def convergence_strategy_config(
    cfg: CmeBacktestConfig, perp_id: InstrumentId, strategy_id: str | None = None
) -> CmePerpConvergenceConfig:
    """Return the msgspec ``CmePerpConvergenceConfig`` of a validated deployment config."""
    s = cfg.strategy
    return CmePerpConvergenceConfig(
        strategy_id=strategy_id,
        perp_instrument_id=perp_id,
        cme_venue=cfg.cme.venue,
        cme_root=cfg.cme.root,
        contracts=s.contracts,
        clip_contracts=s.clip_contracts,
        entry_spread_apr=s.entry_spread_apr_pct / 100.0,
        exit_spread_apr=s.exit_spread_apr_pct / 100.0,
        entry_gap_bps=s.entry_gap_bps,
        exit_gap_bps=s.exit_gap_bps,
        allow_cheap=s.allow_cheap,
        funding_window_settlements=s.funding_window_settlements,
        expiry_action=s.expiry_action,
        roll_business_days=s.roll_business_days,
        min_days_to_expiry=s.min_days_to_expiry,
        max_quote_age_secs=s.max_quote_age_secs,
        leg_timeout_secs=s.leg_timeout_secs,
        hedge_attempts=s.hedge_attempts,
        entry_cooldown_secs=s.entry_cooldown_secs,
        require_globex_open=s.require_globex_open,
        close_on_stop=s.close_on_stop,
    )


def load_cme_backtest_config(path: str | Path) -> CmeBacktestConfig:
    """Load and validate a convergence backtest TOML; errors name the file and the field."""
    return load_toml(path, CmeBacktestConfig)
