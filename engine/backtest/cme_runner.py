"""Run a CME-vs-perp convergence backtest end to end: assemble, replay the daily data, journal, report.

The engine has two MARGIN venues, separate counterparties with their own balances: the CME venue (USD,
``FuturesContract`` per month, per-contract fees, the final-settlement module) and the perp venue (as in the
spot-perp backtest, with the funding settlement module). The daily events come from
``engine.data.cme_replay``; the strategy is ``CmePerpConvergence``. Journal, replay, exit and report are
``engine.backtest.session``'s, as for the spot-perp runner; this module adds the convergence facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.models import PerContractFeeModel
from nautilus_trader.config import LoggingConfig, RiskEngineConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import InstrumentId, TraderId, Venue
from nautilus_trader.model.instruments import CryptoPerpetual, FuturesContract
from nautilus_trader.model.objects import Money

from engine.accounting import venue_equity_usd
from engine.backtest.assembly import StreamWrap, build_perp
from engine.backtest.cme_settlement import ExpirySettlementModule
from engine.backtest.funding import FundingSettlementModule
from engine.backtest.session import BacktestSession
from engine.cme import CmeContract, front_contract, futures_contract
from engine.config.cme_backtest import (
    CmeBacktestConfig,
    convergence_strategy_config,
    load_cme_backtest_config,
)
from engine.data.basis_1h import HourlyBasisRow, load_hourly_basis
from engine.data.cme_daily import CmeOutrightBar, load_cme_daily
from engine.data.cme_replay import daily_events, usdm_daily_closes
from engine.data.funding_csv import load_funding_history
from engine.data.spot_daily import load_spot_daily
from engine.data.stats import LoadStats
from engine.errors import ConfigError
from engine.instruments import currency
from engine.paths import require_file
from engine.signals.convergence import hedge_for_contracts
from risk.controller import RiskController
from risk.mirror import slot_spec
from strategies.cme_perp_convergence import CmePerpConvergence

__all__ = [
    "CmeAssembled",
    "CmeBacktestResult",
    "build_cme_engine",
    "load_cme_backtest_config",
    "run_cme_backtest",
]

STRATEGY_NAME = "CmePerpConvergence"
NS_PER_HOUR = 3_600 * 1_000_000_000


@dataclass
class CmeAssembled:
    """A ready-to-run engine and what the runner reads back."""

    engine: BacktestEngine
    perp: CryptoPerpetual
    futures: dict[str, FuturesContract]
    funding: FundingSettlementModule
    settlement: ExpirySettlementModule
    settlement_prices: dict[str, Decimal]
    stats: list[LoadStats] = field(default_factory=list)


@dataclass(frozen=True)
class CmeBacktestResult:
    """What a run produced."""

    run_id: str
    out_dir: Path
    summary: dict[str, object]
    assembled: CmeAssembled
    strategy: CmePerpConvergence


def _contracts_in_window(bars: list[CmeOutrightBar], root: str, first: date, last: date) -> list[CmeContract]:
    """The months that can be front or next (or a roll's target) on some day of ``[first, last]``."""
    lo = front_contract(first, root)
    hi = front_contract(last, root).next().next()
    listed = {(b.year, b.month) for b in bars if b.root == root}
    out, c = [], lo
    while c <= hi:
        if (c.year, c.month) in listed:
            out.append(c)
        c = c.next()
    return out


def _settlement_price(bars: list[CmeOutrightBar], contract: CmeContract) -> Decimal | None:
    """The expiry-day close (the final settlement proxy), else the last close before expiry."""
    mine = [b for b in bars if b.symbol == contract.symbol and b.day <= contract.expiry]
    return mine[-1].close if mine else None


def build_cme_engine(
    cfg: CmeBacktestConfig, data_root: Path, log_level: str = "ERROR", wrap: StreamWrap | None = None
) -> CmeAssembled:
    """Build the engine: CME and perp MARGIN venues with their modules, the instruments, the daily stream."""
    d = cfg.data
    cme_daily, cme_stats = load_cme_daily(require_file(d.cme_file, data_root))
    spot_bars, spot_stats = load_spot_daily(require_file(d.spot_file, data_root))
    settlements, funding_stats = load_funding_history(require_file(d.funding_file, data_root))
    stats = [cme_stats, spot_stats, funding_stats]
    rows: list[HourlyBasisRow] = []
    if d.perp_price == "usdm_close" or d.perp_at_fixing:
        rows, basis_stats = load_hourly_basis(require_file(d.hourly_basis_file, data_root))
        stats.append(basis_stats)
    perp_closes = usdm_daily_closes(rows) if d.perp_price == "usdm_close" else None

    first_day = cfg.run.start.date() - timedelta(days=1)  # the first stamp carries the day before's closes
    last_day = cfg.run.end.date()
    bars = [b for b in cme_daily.outrights if b.root == cfg.cme.root]
    months = _contracts_in_window(bars, cfg.cme.root, first_day, last_day)
    if not months:
        raise ConfigError(
            f"cme.root: no {cfg.cme.root} outright in {d.cme_file} between {first_day} and {last_day}"
        )
    futures: dict[str, FuturesContract] = {}
    prices: dict[InstrumentId, Decimal] = {}
    for c in months:
        inst = futures_contract(c, margin_init=cfg.cme.margin_init, margin_maint=cfg.cme.margin_maint)
        inst = _on_venue(inst, cfg.cme.venue)
        futures[c.symbol] = inst
        px = _settlement_price(bars, c)
        if px is not None:
            prices[inst.id] = px

    fixing: dict[int, Decimal] = {}
    if d.perp_at_fixing:
        # The hourly row labeled one hour before expiry closes at the expiry instant (16:00 London).
        by_close = {r.ts_ns + NS_PER_HOUR: r for r in rows}
        for c in months:
            row = by_close.get(c.expiry_ns)
            if row is not None:
                fixing[c.expiry_ns - 1] = row.perp_close if d.perp_price == "usdm_close" else row.spot_close

    perp = build_perp(cfg.perp)
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("CARRY-001"),
            logging=LoggingConfig(log_level=log_level, bypass_logging=log_level == "OFF"),
            risk_engine=RiskEngineConfig(bypass=False),
            run_analysis=False,
        )
    )
    funding = FundingSettlementModule([perp.id])
    settlement = ExpirySettlementModule(prices)
    engine.add_venue(
        Venue(cfg.cme.venue),
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money(cfg.cme.starting_balances["USD"], USD)],
        base_currency=USD,
        default_leverage=Decimal(1) / cfg.cme.margin_init,
        fee_model=PerContractFeeModel(Money(cfg.cme.fee_per_contract, USD)),
        modules=[settlement],
    )
    engine.add_venue(
        Venue(cfg.perp.venue),
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money(amount, currency(code)) for code, amount in cfg.perp.starting_balances.items()],
        base_currency=None,
        default_leverage=Decimal(1) / cfg.perp.margin_init,
        modules=[funding],
    )
    for inst in futures.values():
        engine.add_instrument(inst)
    engine.add_instrument(perp)
    events = daily_events(
        bars,
        spot_bars,
        settlements,
        futures,
        perp,
        d.cme_half_spread_bps,
        d.perp_half_spread_bps,
        d.cme_quote_size,
        d.perp_quote_size,
        cfg.run.start_ns,
        cfg.run.end_ns,
        perp_closes,
        fixing,
    )
    engine.add_data_iterator("daily", (wrap or (lambda chunks: chunks))(events))
    return CmeAssembled(
        engine,
        perp,
        futures,
        funding,
        settlement,
        {iid.value: px for iid, px in prices.items()},
        stats,
    )


def _on_venue(inst: FuturesContract, venue: str) -> FuturesContract:
    """The contract on the configured venue name (``engine.cme`` builds it on ``CME``)."""
    if inst.id.venue.value == venue:
        return inst
    d = FuturesContract.to_dict(inst)
    d["id"] = f"{inst.id.symbol}.{venue}"
    return FuturesContract.from_dict(d)


def run_cme_backtest(
    cfg: CmeBacktestConfig,
    out_dir: Path,
    data_root: Path,
    progress: bool = False,
    log_level: str = "ERROR",
) -> CmeBacktestResult:
    """Replay ``cfg`` over the daily data and write the journal and report into ``out_dir``.

    Parameters
    ----------
    cfg : CmeBacktestConfig
        The validated deployment config.
    out_dir : Path
        Created if missing; ``journal.sqlite`` (unless the config names another journal URL),
        ``summary.json``, ``fills.csv``, ``funding.csv``, charts and ``report.html`` are written there.
    data_root : Path
        Where the config's data paths are resolved.
    progress : bool
        Show a progress bar over the run's time span.
    log_level : str
        Nautilus log level (``OFF`` bypasses logging).
    """
    session = BacktestSession(cfg, out_dir, STRATEGY_NAME)
    with session.progress(progress) as wrap:
        a = build_cme_engine(cfg, data_root, log_level, wrap)
        return _replay(a, cfg, session)


def _replay(a: CmeAssembled, cfg: CmeBacktestConfig, session: BacktestSession) -> CmeBacktestResult:
    session.open_journal()
    kernel = a.engine.kernel
    # The risk gate goes on the bus before any strategy can send; CME performance bonds and the perp venue's
    # margin rates are the two counterparties' maintenance/initial rates in its book.
    mmr, imr = float(cfg.cme.margin_maint), float(cfg.cme.margin_init)  # slot_spec takes floats
    specs = [slot_spec(f, mmr=mmr, imr=imr) for f in a.futures.values()]
    controller = RiskController(cfg.risk, [*specs, slot_spec(a.perp)])
    a.engine.add_actor(controller)
    controller.attach(kernel)
    strategy = CmePerpConvergence(convergence_strategy_config(cfg, a.perp.id))
    a.engine.add_strategy(strategy)
    cme_venue, perp_venue = Venue(cfg.cme.venue), Venue(cfg.perp.venue)
    cme_ids = [f.id for f in a.futures.values()]

    def equity() -> tuple[Decimal, dict[str, Decimal]]:
        by_venue = {
            cfg.cme.venue: venue_equity_usd(kernel.cache, kernel.portfolio, cme_venue, {}, cme_ids),
            cfg.perp.venue: venue_equity_usd(kernel.cache, kernel.portfolio, perp_venue, {}, [a.perp.id]),
        }
        return sum(by_venue.values(), Decimal(0)), by_venue

    session.replay(a.engine, strategy, a.funding, equity)
    multiplier = next(iter(a.futures.values())).multiplier.as_decimal() if a.futures else Decimal(1)
    convergence = {
        "contract_root": cfg.cme.root,
        "contract_size_base": multiplier,
        "contracts": cfg.strategy.contracts,
        "expiry_action": cfg.strategy.expiry_action,
        "rolls": strategy.rolls,
        "settlements": len(a.settlement.ledger.settlements),
        "settled": [s.instrument_id for s in a.settlement.ledger.settlements],
        # What the perp cannot match of a full position (below one perp lot, so below one contract).
        "residual_delta_base": hedge_for_contracts(
            cfg.strategy.contracts, multiplier, a.perp.size_increment.as_decimal()
        )[1],
        "final_net_delta_base": strategy.net_delta_base,
    }
    summary = session.report(
        a.engine,
        a.stats,
        cfg.perp.quote,
        {"risk": controller.summary(), "convergence": convergence},
        base_multipliers={iid.value: multiplier for iid in cme_ids},
    )
    return CmeBacktestResult(session.run_id, session.out_dir, summary, a, strategy)
