"""Legs on nautilus's native Binance adapter (``client = "native"``) against the loopback emulator.

nautilus's own Binance HTTP client loads the instruments from the emulator's ``exchangeInfo``; the node
registers nautilus's Binance data and execution clients under the legs' venues, and the strategy and the
gate see the same instrument ids as on the ccxt path.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from nautilus_trader.adapters.binance.futures.execution import BinanceFuturesExecutionClient
from nautilus_trader.adapters.binance.spot.data import BinanceSpotDataClient
from nautilus_trader.adapters.binance.spot.execution import BinanceSpotExecutionClient
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair

from engine.config.live import LiveConfig
from engine.journal.journal import Journal
from engine.live.node import StartupError, build_node, risk_slot, run_live
from engine.venues.emulator import EmulatorOptions, EmulatorThread, Recording
from engine.venues.instruments import DEFAULT_MARGIN_MAINT
from engine.venues.native import CarryBinanceFuturesDataClient
from tests.engine.live.conftest import KEY_ENV, SECRET_ENV, TEST_KEY, TEST_SECRET, approve_all, live_config

ENV = {KEY_ENV: TEST_KEY, SECRET_ENV: TEST_SECRET}


def _native(cfg: LiveConfig, *legs: str) -> LiveConfig:
    update = {leg: getattr(cfg, leg).model_copy(update={"client": "native"}) for leg in legs}
    return LiveConfig.model_validate(cfg.model_dump() | {k: v.model_dump() for k, v in update.items()})


def test_testnet_node_when_both_legs_native_then_nautilus_binance_clients_on_the_legs_venues(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = _native(live_config(replay_emu.base_url, tmp_path, environment="testnet"), "spot", "perp")
    run = build_node(cfg, install_gate=approve_all, environ=ENV)
    try:
        spot, perp = run.strategy.spot_id, run.strategy.perp_id
        assert (str(spot), str(perp)) == ("BTCUSDT.BINANCE", "BTCUSDT-PERP.BINANCE_USDM")
        spot_inst, perp_inst = run.kernel.cache.instrument(spot), run.kernel.cache.instrument(perp)
        # As the emulator's exchangeInfo states them (Binance's filters), parsed by nautilus's provider.
        assert isinstance(spot_inst, CurrencyPair) and str(spot_inst.price_increment) == "0.01000000"
        assert isinstance(perp_inst, CryptoPerpetual) and str(perp_inst.size_increment) == "0.001"
        assert [type(c) for c in run.data_clients] == [BinanceSpotDataClient, CarryBinanceFuturesDataClient]
        executions = [BinanceSpotExecutionClient, BinanceFuturesExecutionClient]
        assert [type(c) for c in run.exec_clients] == executions
        assert [c.id.value for c in run.exec_clients] == ["BINANCE", "BINANCE_USDM"]
        assert run.exchanges == []  # no ccxt session opened
        # nautilus's Binance perps carry margin rates of 1; the gate uses the venue's first bracket.
        assert risk_slot(perp_inst).mmr == float(DEFAULT_MARGIN_MAINT)
    finally:
        run.dispose()


def test_paper_node_when_perp_leg_native_then_sandbox_fills_and_spot_stays_on_ccxt(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = _native(live_config(replay_emu.base_url, tmp_path), "perp")
    run = build_node(cfg, install_gate=approve_all)
    try:
        assert [type(c) for c in run.exec_clients] == [SandboxExecutionClient, SandboxExecutionClient]
        assert type(run.data_clients[1]) is CarryBinanceFuturesDataClient
        assert str(run.strategy.perp_id) == "BTCUSDT-PERP.BINANCE_USDM"
        assert len(run.exchanges) == 1  # the spot leg's ccxt session
    finally:
        run.dispose()


def test_paper_node_when_perp_leg_native_bybit_then_instrument_loaded_by_nautilus_bybit_client(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    """nautilus's Bybit HTTP client (pyo3) reads the emulator's Bybit v5 ``instruments-info``."""
    cfg = live_config(replay_emu.base_url, tmp_path)
    raw = cfg.model_dump()
    raw["perp"] |= {"venue": "BYBIT", "exchange": "bybit", "client": "native"}
    run = build_node(LiveConfig.model_validate(raw), install_gate=approve_all)
    try:
        perp = run.kernel.cache.instrument(run.strategy.perp_id)
        assert str(perp.id) == "BTCUSDT-LINEAR.BYBIT"
        assert isinstance(perp, CryptoPerpetual) and str(perp.size_increment) == "0.001"
        assert [c.id.value for c in run.data_clients] == ["BINANCE", "BYBIT"]
    finally:
        run.dispose()


def test_native_node_when_symbol_not_listed_then_startup_error_names_the_venue(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    cfg = live_config(replay_emu.base_url, tmp_path, environment="testnet")
    raw = cfg.model_dump()
    raw["perp"] |= {"client": "native", "symbol": "ETH/USDT:USDT"}
    with pytest.raises(StartupError, match=r"BINANCE_USDM \(binanceusdm, native\).*ETHUSDT-PERP"):
        build_node(LiveConfig.model_validate(raw), install_gate=approve_all, environ=ENV)


def test_paper_node_when_both_legs_native_then_nautilus_binance_streams_feed_quotes_marks_index_funding(
    replay_emu: EmulatorThread, tmp_path: Path
) -> None:
    """nautilus's own Binance websocket clients against the emulator's streams: combined ``/stream`` for
    spot, ``/fstream/stream`` for USD-M (bookTicker, markPrice). The USD-M client publishes index and
    funding from the mark-price stream, as the strategy subscribes to them."""
    cfg = _native(live_config(replay_emu.base_url, tmp_path), "spot", "perp")
    ws = replay_emu.base_url.replace("http://", "ws://")
    raw = cfg.model_dump()
    raw["perp"]["ws_base_url"] = f"{ws}/fstream"
    cfg = LiveConfig.model_validate(raw)
    run = build_node(cfg, install_gate=approve_all)
    seen: dict[str, list[Any]] = {"index": [], "funding": []}
    run.kernel.msgbus.subscribe("data.index_prices.*", seen["index"].append)
    run.kernel.msgbus.subscribe("data.funding_rates.*", seen["funding"].append)
    spot, perp = run.strategy.spot_id, run.strategy.perp_id
    cache = run.kernel.cache

    def fed() -> bool:
        quoted = cache.quote_tick(spot) is not None and cache.quote_tick(perp) is not None
        return quoted and cache.mark_price(perp) is not None and bool(seen["index"] and seen["funding"])

    async def scenario() -> bool:
        await run.start()
        ok = await run._until(fed, 10.0)
        await run.stop()
        return ok

    try:
        assert run.loop.run_until_complete(scenario()), (
            cache.quote_tick(spot),
            cache.quote_tick(perp),
            cache.mark_price(perp),
            len(seen["index"]),
            len(seen["funding"]),
        )
        funding = seen["funding"][-1]
        assert funding.instrument_id == perp and funding.next_funding_ns % (3_600 * 10**9) == 0
        assert seen["index"][-1].value.precision == 8  # Binance's index string, exactly
    finally:
        run.dispose()


@pytest.fixture
def wall_emu(recording: Recording) -> Iterator[EmulatorThread]:
    """A real-time replay whose streams are stamped as if today (``stream_time = "wall"``)."""
    with EmulatorThread(
        recording=recording, options=EmulatorOptions(clock="replay", stream_time="wall")
    ) as emu:
        yield emu


def test_paper_node_when_both_legs_native_on_wall_stream_time_then_enters_and_sandbox_fills_both_legs(
    wall_emu: EmulatorThread, tmp_path: Path
) -> None:
    """nautilus stamps USD-M quotes and marks with the venue's event time: on recorded (2023) stream times
    the strategy finds the perp quote stale and never enters; on ``wall`` stream times it does, and the
    Sandbox fills both legs, hedged clip by clip."""
    cfg = _native(live_config(wall_emu.base_url, tmp_path), "spot", "perp")
    raw = cfg.model_dump()
    raw["perp"]["ws_base_url"] = wall_emu.base_url.replace("http://", "ws://") + "/fstream"
    raw["strategy"]["close_on_stop"] = False  # keep the book at stop: the position shows the entry
    cfg = LiveConfig.model_validate(raw)
    outcome = run_live(cfg, 4.0, install_gate=approve_all, handle_signals=False)
    assert (outcome.status, outcome.reason) == ("COMPLETED", "duration")
    j = Journal(outcome.journal_url, durable=False)
    try:
        assert "ENTER" in [d.action for d in j.decisions(outcome.run_id)]
        fills = j.fills(outcome.run_id)
        assert {f.instrument_id for f in fills} == {"BTCUSDT.BINANCE", "BTCUSDT-PERP.BINANCE_USDM"}
        net = {"spot": Decimal(0), "perp": Decimal(0)}
        worst = Decimal(0)
        # The imbalance after each fill, in the order they happened (journal order: the Sandbox stamps
        # fills with the time of the data its matching last saw, so fill times can tie across legs).
        for f in sorted(fills, key=lambda f: f.seq):
            net["perp" if "PERP" in f.instrument_id else "spot"] += f.qty if f.side == "BUY" else -f.qty
            worst = max(worst, abs(net["spot"] + net["perp"]))
        assert net["perp"] < 0 < net["spot"]
        assert worst <= cfg.strategy.max_unhedged
    finally:
        j.close()
    assert wall_emu.state()["create_requests"] == {}  # paper: the Sandbox filled, nothing was sent
