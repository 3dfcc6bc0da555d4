"""The gate on a real nautilus BacktestEngine: denials, REDUCING, HALTED. Only the data are synthetic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.data import MarkPriceUpdate, QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, OrderStatus, TradingState
from nautilus_trader.model.events import OrderDenied, OrderFilled
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

from engine.config.risk import RiskSettings
from engine.instruments import currency
from engine.records import TOPIC_RISK, RiskRecord
from risk.controller import RiskController
from risk.gate import WIND_DOWN_ENDPOINT
from risk.limits import RiskLimits
from risk.mirror import slot_spec

SEC = 1_000_000_000
Step = Callable[["Script"], None]


class Script(Strategy):
    """Runs one step per quote timestamp; records what comes back."""

    def __init__(self, steps: dict[int, Step]) -> None:
        super().__init__(StrategyConfig(strategy_id="Script-001"))
        self.steps = steps
        self.controller: RiskController | None = None
        self.denied: list[OrderDenied] = []
        self.filled: list[OrderFilled] = []

    def on_start(self) -> None:
        for iid in self.cache.instrument_ids():
            self.subscribe_quote_ticks(iid)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        step = (
            self.steps.pop(tick.ts_init // SEC, None) if tick.instrument_id.venue.value == "PERPV" else None
        )
        if step is not None:
            step(self)

    def market(self, instrument: str, side: OrderSide, qty: str) -> None:
        iid = next(i for i in self.cache.instrument_ids() if i.venue.value == instrument)
        self.submit_order(self.order_factory.market(iid, side, Quantity.from_str(qty)))

    def on_order_denied(self, event: OrderDenied) -> None:
        self.denied.append(event)

    def on_order_filled(self, event: OrderFilled) -> None:
        self.filled.append(event)


def _run(
    spot,
    perp,
    steps: dict[int, Step],
    perp_cash: str,
    limits: RiskLimits,
    spot_btc: str = "0",
    delta_breach_secs: float = 60.0,
    halt_at: datetime | None = None,
) -> tuple:
    engine = BacktestEngine(
        BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR"), run_analysis=False)
    )
    engine.add_venue(
        Venue("SPOTV"),
        OmsType.NETTING,
        AccountType.CASH,
        [Money(100_000, currency("USDT")), Money(spot_btc, currency("BTC"))],
        base_currency=None,
    )
    engine.add_venue(
        Venue("PERPV"),
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money(perp_cash, currency("USDT"))],
        base_currency=None,
    )
    engine.add_instrument(spot)
    engine.add_instrument(perp)
    data = []
    for t in range(1, 8):
        ts = t * SEC
        data.append(
            QuoteTick(
                spot.id,
                Price.from_str("30000.00"),
                Price.from_str("30000.01"),
                Quantity.from_str("10.00000"),
                Quantity.from_str("10.00000"),
                ts,
                ts,
            )
        )
        data.append(
            QuoteTick(
                perp.id,
                Price.from_str("30001.0"),
                Price.from_str("30001.1"),
                Quantity.from_str("10.000"),
                Quantity.from_str("10.000"),
                ts,
                ts,
            )
        )
        data.append(MarkPriceUpdate(perp.id, Price.from_str("30001.0"), ts, ts))
    engine.add_data(data)
    settings = RiskSettings(
        limits=limits,
        max_data_age_secs=600,
        eval_interval_secs=0,
        delta_breach_secs=delta_breach_secs,
        halt_at=halt_at,
    )
    controller = RiskController(settings, [slot_spec(spot), slot_spec(perp)])
    engine.add_actor(controller)
    controller.attach(engine.kernel)
    risk_events: list[RiskRecord] = []
    engine.kernel.msgbus.subscribe(TOPIC_RISK, risk_events.append)
    script = Script(steps)
    script.controller = controller
    engine.add_strategy(script)
    engine.run()
    return script, controller, risk_events, engine


@pytest.fixture()
def venues(spot, perp):
    from engine.instruments import linear_perpetual, spot_pair

    s = spot_pair(
        "SPOTV",
        "BTCUSDT",
        "BTC",
        "USDT",
        Decimal("0.01"),
        Decimal("0.00001"),
        Decimal("0.001"),
        Decimal("0.001"),
    )
    p = linear_perpetual(
        "PERPV",
        "BTCUSDT-PERP",
        "BTC",
        "USDT",
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.0002"),
        Decimal("0.0005"),
        Decimal("0.1"),
        Decimal("0.004"),
    )
    return s, p


LOOSE = RiskLimits.model_validate(
    {"default_asset": {"max_abs_net_delta": 5.0}, "shocks": {"moves": [], "min_headroom": 0.0}}
)


def test_submit_when_margin_headroom_low_then_denied(venues):
    spot, perp = venues
    script, controller, events, _ = _run(
        spot, perp, {2: lambda s: s.market("PERPV", OrderSide.SELL, "2.000")}, perp_cash="1000", limits=LOOSE
    )
    assert len(script.denied) == 1 and not script.filled
    assert "carry gate" in script.denied[0].reason
    order = script.cache.order(script.denied[0].client_order_id)
    assert order.status == OrderStatus.DENIED  # a real nautilus denial: the book stays consistent
    assert [e.kind for e in events if e.kind == "DENIAL"] == ["DENIAL"]
    assert controller.summary()["denials"] == 1


def test_submit_when_net_delta_would_exceed_limit_then_denied_and_pair_allowed(venues):
    spot, perp = venues
    limits = RiskLimits.model_validate(
        {"default_asset": {"max_abs_net_delta": 0.5}, "shocks": {"moves": [], "min_headroom": 0.0}}
    )
    steps: dict[int, Step] = {2: lambda s: s.market("SPOTV", OrderSide.BUY, "1.00000")}
    script, _, _, _ = _run(spot, perp, steps, perp_cash="50000", limits=limits)
    assert len(script.denied) == 1 and "net_delta" in script.denied[0].reason


def test_submit_when_reducing_then_adding_denied_and_hedge_completion_passes(venues):
    """1 BTC spot held unhedged against a 0.5 BTC delta limit: REDUCING after the breach lasts 1 s. A spot buy
    adds risk and is denied; the perp sell that hedges the spot grows the perp position, which nautilus's
    per-instrument REDUCING would deny, but it shrinks the book's net delta, so it passes and fills."""
    spot, perp = venues
    limits = RiskLimits.model_validate(
        {"default_asset": {"max_abs_net_delta": 0.5}, "shocks": {"moves": [], "min_headroom": 0.0}}
    )
    steps: dict[int, Step] = {
        4: lambda s: s.market("SPOTV", OrderSide.BUY, "0.10000"),
        5: lambda s: s.market("PERPV", OrderSide.SELL, "1.000"),
    }
    script, controller, events, _ = _run(
        spot, perp, steps, perp_cash="50000", limits=limits, spot_btc="1", delta_breach_secs=1.0
    )
    assert [e.reason.split()[2] for e in script.denied] == ["reducing_adds_risk"]
    assert [(f.instrument_id.venue.value, str(f.last_qty)) for f in script.filled] == [("PERPV", "1.000")]
    states = [e.reason for e in events if e.kind == "STATE"]
    assert states == ["REDUCING:net_delta", "ACTIVE:ok"]  # hedged again, the book is back to ACTIVE
    assert controller.summary()["final_state"] == "ACTIVE"


def test_submit_when_halted_then_everything_denied(venues):
    spot, perp = venues
    steps: dict[int, Step] = {
        2: lambda s: s.controller.kill(),  # type: ignore[union-attr]
        3: lambda s: s.market("PERPV", OrderSide.SELL, "0.100"),
    }
    script, controller, events, _ = _run(spot, perp, steps, perp_cash="50000", limits=LOOSE)
    assert [e.reason.split()[2] for e in script.denied] == ["trading_halted"]
    assert controller.summary()["final_state"] == "HALTED"
    assert any(e.kind == "STATE" and e.reason == "HALTED:kill_switch" for e in events)


def test_wind_down_when_node_stops_then_reducing_through_the_controller_and_adding_denied(venues):
    """The node's stop reaches the controller on its endpoint; the controller is the one writer of the
    state: the gate and nautilus's RiskEngine both go REDUCING, a short that adds risk is denied, and the
    buy-back that reduces it passes."""
    spot, perp = venues
    steps: dict[int, Step] = {
        2: lambda s: s.market("PERPV", OrderSide.SELL, "0.100"),
        3: lambda s: s.msgbus.send(WIND_DOWN_ENDPOINT, "signal"),
        4: lambda s: s.market("PERPV", OrderSide.SELL, "0.100"),
        5: lambda s: s.market("PERPV", OrderSide.BUY, "0.100"),
    }
    script, controller, events, engine = _run(spot, perp, steps, perp_cash="50000", limits=LOOSE)
    assert [str(f.last_qty) for f in script.filled] == ["0.100", "0.100"]
    assert [e.reason.split()[2] for e in script.denied] == ["reducing_adds_risk"]
    assert any(e.kind == "STATE" and e.reason == "REDUCING:stopping_signal" for e in events)
    assert engine.kernel.risk_engine.trading_state == TradingState.REDUCING
    assert controller.summary()["final_state"] == "REDUCING"


def test_backtest_when_halt_at_time_reached_then_halted_from_then_on(venues):
    spot, perp = venues
    steps: dict[int, Step] = {
        2: lambda s: s.market("PERPV", OrderSide.SELL, "0.100"),  # before the kill time: fills
        5: lambda s: s.market("PERPV", OrderSide.BUY, "0.100"),  # after it: denied, even though it reduces
    }
    script, _, _, engine = _run(
        spot,
        perp,
        steps,
        perp_cash="50000",
        limits=LOOSE,
        halt_at=datetime.fromisoformat("1970-01-01T00:00:03.500Z"),
    )
    assert [str(f.last_qty) for f in script.filled] == ["0.100"]
    assert [e.reason.split()[2] for e in script.denied] == ["trading_halted"]
    assert engine.kernel.risk_engine.trading_state == TradingState.HALTED
