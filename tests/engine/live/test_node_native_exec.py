"""nautilus's native Binance execution clients (HMAC keys) trading against the loopback emulator.

USD-M: the client creates a listen key over REST (``POST /fapi/v1/listenKey``), opens the user-data stream
at ``<base_url_ws_stream>?listenKey=...`` and learns of acceptances and fills from ``ORDER_TRADE_UPDATE``
events (`engine.venues.emulator.user_stream`).

Spot: the client logs on to Binance's WebSocket API (``/ws-api/v3``, ``session.logon``), subscribes to the
user data stream on the same connection and learns of acceptances, fills and balances from
``executionReport`` / ``outboundAccountPosition`` events (`engine.venues.emulator.ws_api`); orders go over
REST.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from nautilus_trader.adapters.binance.spot.execution import BinanceSpotExecutionClient
from nautilus_trader.model.identifiers import InstrumentId, Venue

from engine.config.live import LiveConfig
from engine.journal.journal import Fill, Journal
from engine.live.node import build_node
from engine.venues.emulator import EmulatorOptions, EmulatorThread, Recording, VenueConfig
from engine.venues.emulator.user_stream import user_hub_of
from engine.venues.emulator.ws_api import ws_api_hub_of
from tests.engine.live.conftest import (
    KEY_ENV,
    SECRET_ENV,
    TEST_KEY,
    TEST_SECRET,
    approve_all,
    held_change,
    live_config,
)

ENV = {KEY_ENV: TEST_KEY, SECRET_ENV: TEST_SECRET}
PERP = "BTCUSDT-PERP.BINANCE_USDM"
PERP_STEP = Decimal("0.001")  # the emulated BTCUSDT perp's lot step
# A venue no Sandbox or backtest in the test process uses: nautilus registers the venue of every simulated
# exchange, process-wide and for good, as one whose accounts it calculates from fills; a native account on
# that venue would then add each fill to the balances the venue reports (the last one twice).
SPOT_VENUE = "BINANCE_SPOT"
SPOT = f"BTCUSDT.{SPOT_VENUE}"
SPOT_STEP = Decimal("0.00001")  # the emulated BTCUSDT spot lot step


@pytest.fixture
def wall_emu(recording: Recording) -> Iterator[EmulatorThread]:
    """A real-time replay with the test credentials, its streams stamped as if today."""
    options = EmulatorOptions(
        clock="replay", stream_time="wall", venue=VenueConfig(api_keys={TEST_KEY: TEST_SECRET})
    )
    with EmulatorThread(recording=recording, options=options) as emu:
        yield emu


def _config(
    emu: EmulatorThread, run_dir: Path, *, close_on_stop: bool, native_spot: bool = False
) -> LiveConfig:
    raw = live_config(emu.base_url, run_dir, environment="testnet").model_dump()
    raw["perp"] |= {"client": "native", "ws_base_url": emu.base_url.replace("http://", "ws://") + "/fstream"}
    if native_spot:  # market streams at the root (/stream), user data at /ws-api/v3: both from base_url
        raw["spot"] |= {"client": "native", "venue": SPOT_VENUE}
    raw["strategy"]["close_on_stop"] = close_on_stop
    return LiveConfig.model_validate(raw)


def _perp_net(fills: list[Fill]) -> Decimal:
    return sum((f.qty if f.side == "BUY" else -f.qty for f in fills if f.instrument_id == PERP), Decimal(0))


@pytest.mark.parametrize("close_on_stop", [True, False], ids=["exit_at_stop", "hold_at_stop"])
def test_testnet_node_when_perp_leg_native_then_fills_arrive_on_user_stream_and_books_agree(
    wall_emu: EmulatorThread, tmp_path: Path, close_on_stop: bool
) -> None:
    cfg = _config(wall_emu, tmp_path / "run", close_on_stop=close_on_stop)
    run = build_node(cfg, install_gate=approve_all, environ=ENV)
    perp_id = InstrumentId.from_str(PERP)
    cache = run.kernel.cache

    def entered_and_hedged() -> bool:
        # A perp fill is in (through the user stream) and the strategy is hedged with nothing working:
        # stopping then does not catch a clip in flight.
        s = run.strategy
        return bool(s.perp_qty) and s.is_hedged

    async def scenario() -> tuple[bool, str]:
        await run.start()
        filled = await run._until(entered_and_hedged, 10.0)
        return filled, await run.stop()

    try:
        filled, status = run.loop.run_until_complete(scenario())
        # The node's own book at stop, read before the kernel is disposed.
        cache_net = sum((p.signed_decimal_qty() for p in cache.positions(instrument_id=perp_id)), Decimal(0))
        orders = cache.orders(instrument_id=perp_id)
    finally:
        run.dispose()
    assert filled and status == "COMPLETED"
    assert all(o.is_closed for o in orders)
    j = Journal(run.journal.url, durable=False)
    try:
        assert "ENTER" in [d.action for d in j.decisions(run.run_id)]
        fills, intents = j.fills(run.run_id), j.intents(run.run_id)
        perp_fills = [f for f in fills if f.instrument_id == PERP]
        assert perp_fills and len({f.trade_id for f in fills}) == len(fills)
        # Every order that passed nautilus's risk engine reached the venue exactly once (an order the
        # stop catches in flight is DENIED by the stop's REDUCING state and never sent).
        denied = {e.client_order_id for e in j.order_events(run.run_id) if e.status == "DENIED"}
        creates = wall_emu.state()["create_requests"]
        assert sorted(creates) == sorted({i.client_order_id for i in intents} - denied)
        assert set(creates.values()) == {1}
        venue_net = Decimal(wall_emu.state()["positions"].get("BTCUSDT", {"qty": "0"})["qty"])
        assert venue_net == _perp_net(fills) == cache_net
        assert (venue_net == 0) is close_on_stop
        # Every perp fill was pushed on the user-data stream (NEW, then TRADE with its trade id).
        sent = wall_emu.call(lambda: list(user_hub_of(wall_emu.emulator).sent))
        pushed = {(c, t) for e, c, x, t in sent if e == "ORDER_TRADE_UPDATE" and x == "TRADE"}
        assert {(f.client_order_id, int(f.trade_id)) for f in perp_fills} <= pushed
        news = [c for e, c, x, _ in sent if x == "NEW"]
        assert sorted(news) == sorted({f.client_order_id for f in perp_fills})
    finally:
        j.close()


def test_testnet_node_when_stopped_mid_entry_and_hedge_denied_then_exit_still_ends_flat(
    wall_emu: EmulatorThread, tmp_path: Path
) -> None:
    """Stop lands between an entry's clips: the clip in flight fills, its hedge is refused (here by
    nautilus's per-instrument REDUCING behind the stand-in gate), the spot excess is unwound, and the exit
    then goes on to flat, perp included. Before the fix the unwind reset the exit's target to 'what is
    hedged', the exit ended HOLDING, and the strategy's on_stop sold the spot with nobody left to buy the
    perp back: 0.01 BTC short, unhedged."""
    cfg = _config(wall_emu, tmp_path / "run", close_on_stop=True)
    run = build_node(cfg, install_gate=approve_all, environ=ENV)

    async def scenario() -> str:
        await run.start()
        await run._until(lambda: bool(run.strategy.perp_qty), 10.0)  # the first hedge is in: stop now
        return await run.stop()

    try:
        status = run.loop.run_until_complete(scenario())
    finally:
        run.dispose()
    assert status == "COMPLETED"
    j = Journal(run.journal.url, durable=False)
    try:
        fills = j.fills(run.run_id)
        spot_fills = [f for f in fills if f.instrument_id != PERP]
        # Everything sellable of what the account held was sold (Binance took the buys' fees in BTC, so less
        # was sold than bought, and under a lot of dust stays), and the perp was bought back.
        held = sum((held_change(f) for f in spot_fills), Decimal(0))
        assert 0 <= held < SPOT_STEP and _perp_net(fills) == 0
        sold = sum(f.qty for f in spot_fills if f.side == "SELL")
        assert sold < sum(f.qty for f in spot_fills if f.side == "BUY")
        venue_net = Decimal(wall_emu.state()["positions"].get("BTCUSDT", {"qty": "0"})["qty"])
        assert venue_net == 0
    finally:
        j.close()


@pytest.mark.parametrize("close_on_stop", [True, False], ids=["exit_at_stop", "hold_at_stop"])
def test_testnet_node_when_spot_leg_native_then_fills_arrive_on_ws_api_and_balances_agree(
    wall_emu: EmulatorThread, tmp_path: Path, close_on_stop: bool
) -> None:
    """Both legs on nautilus's own clients; the spot leg's acceptances, fills and balances come over the
    WebSocket API user data stream. The journal, the node's cache (positions and the spot account) and the
    emulator's spot account agree to the last satoshi; the client unsubscribes and leaves at stop."""
    cfg = _config(wall_emu, tmp_path / "run", close_on_stop=close_on_stop, native_spot=True)
    run = build_node(cfg, install_gate=approve_all, environ=ENV)
    spot_id = InstrumentId.from_str(SPOT)
    cache = run.kernel.cache
    assert type(run.exec_clients[0]) is BinanceSpotExecutionClient
    hub = ws_api_hub_of(wall_emu.emulator)

    def entered_and_hedged() -> bool:
        s = run.strategy
        return bool(s.spot_qty) and s.is_hedged

    async def scenario() -> tuple[bool, int, str]:
        await run.start()
        filled = await run._until(entered_and_hedged, 10.0)
        subscribed = wall_emu.call(lambda: sum(s.subscription is not None for s in hub.sessions))
        return filled, subscribed, await run.stop()

    try:
        filled, subscribed, status = run.loop.run_until_complete(scenario())
        cache_net = sum((p.signed_decimal_qty() for p in cache.positions(instrument_id=spot_id)), Decimal(0))
        orders = cache.orders(instrument_id=spot_id)
        account = cache.account_for_venue(Venue(SPOT_VENUE))
        assert account is not None and not account.calculate_account_state  # balances as the venue reports
        cache_balances = {c.code: account.balance_total(c).as_decimal() for c in account.currencies()}
    finally:
        run.dispose()
    assert filled and status == "COMPLETED"
    assert subscribed == 1  # one WebSocket API session with one user data subscription while trading
    assert orders and all(o.is_closed for o in orders)
    j = Journal(run.journal.url, durable=False)
    try:
        assert "ENTER" in [d.action for d in j.decisions(run.run_id)]
        fills, intents = j.fills(run.run_id), j.intents(run.run_id)
        spot_fills = [f for f in fills if f.instrument_id == SPOT]
        assert spot_fills and len({(f.venue, f.trade_id) for f in fills}) == len(fills)
        denied = {e.client_order_id for e in j.order_events(run.run_id) if e.status == "DENIED"}
        creates = wall_emu.state()["create_requests"]
        assert sorted(creates) == sorted({i.client_order_id for i in intents} - denied)
        assert set(creates.values()) == {1}
        # Binance charges spot commission in the asset received (BTC on a buy): the account holds the fills
        # less those fees, nautilus nets them out of its position the same way, and that is what the perp
        # hedges (to within half a perp lot) and what an exit sells.
        assert any(f.fee_currency == "BTC" and f.fee > 0 for f in spot_fills)
        held = sum((held_change(f) for f in spot_fills), Decimal(0))
        # Exited, what stays is dust no order can sell (under a lot: fees of 0.1% in BTC are not lot sized).
        assert held >= 0 and (held < SPOT_STEP) is close_on_stop
        assert abs(held + _perp_net(fills)) <= PERP_STEP / 2  # hedged at stop, exited or held
        assert cache_net == held
        # The spot account, from the journal's fills: the emulator's test account starts with 100000 USDT
        # and 1 BTC.
        btc = Decimal(1) + held
        usdt = Decimal(100000) - sum(
            (f.qty * f.price * (1 if f.side == "BUY" else -1) for f in spot_fills), Decimal(0)
        )
        usdt -= sum((f.fee for f in spot_fills if f.fee_currency == "USDT"), Decimal(0))
        spot = wall_emu.state()["spot"]
        venue = {a: Decimal(spot[a]["free"]) + Decimal(spot[a]["locked"]) for a in ("BTC", "USDT")}
        assert venue == {"BTC": btc, "USDT": usdt}
        assert {a: cache_balances[a] for a in ("BTC", "USDT")} == venue
        # Every spot fill was pushed over the WebSocket API (NEW, then TRADE with its trade id), with the
        # account position after it.
        sent = wall_emu.call(lambda: list(hub.sent))
        pushed = {(c, t) for e, c, x, t in sent if e == "executionReport" and x == "TRADE"}
        assert {(f.client_order_id, int(f.trade_id)) for f in spot_fills} == pushed
        news = [c for e, c, x, _ in sent if e == "executionReport" and x == "NEW"]
        assert sorted(news) == sorted({f.client_order_id for f in spot_fills})
        positions = {(c, t) for e, c, x, t in sent if e == "outboundAccountPosition" and x == "TRADE"}
        assert positions == pushed
        # The client unsubscribed (Binance answers with eventStreamTerminated) and closed its connection.
        assert wall_emu.call(lambda: len(hub.sessions)) == 0
    finally:
        j.close()
