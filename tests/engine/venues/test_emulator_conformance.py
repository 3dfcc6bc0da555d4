"""The real ccxt Binance classes against the loopback emulator: markets, orders, accounts, funding.

Every request goes over real HTTP on 127.0.0.1; nothing in ccxt is mocked.
"""

from __future__ import annotations

import gzip
import json
import re
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from engine.paths import data_root
from engine.venues.emulator import EmulatorOptions, EmulatorThread, Recording, VenueConfig
from tests.engine.venues.conftest import USDM_FILE_0404, make_sync

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
SETTLEMENT_MS = 1680652800000  # 2023-04-05 00:00 UTC, inside the recordings
# ccxt's fixtures were recorded with another ccxt version; these parsed keys differ by version only.
_CCXT_VERSION_DRIFT = {"marginType", "positionMargin"}


def _recorded(fixtures: dict[str, Any], method: str, description: str) -> dict[str, Any]:
    entries = fixtures["response"]["methods"][method]
    entry: dict[str, Any] = next(e for e in entries if e["description"] == description)
    return entry


def _shape_diff(ours: Any, rec: Any, path: str = "", values: bool = True) -> list[str]:
    """Differences in keys (and, with ``values``, None-ness of values) between two parsed ccxt structures."""
    out: list[str] = []
    if isinstance(ours, dict) and isinstance(rec, dict):
        for key in sorted(set(ours) | set(rec)):
            if key == "info" or key in _CCXT_VERSION_DRIFT:
                continue
            if key not in ours:
                out.append(f"missing {path}.{key}")
            elif key not in rec:
                out.append(f"extra {path}.{key}")
            else:
                out += _shape_diff(ours[key], rec[key], f"{path}.{key}", values)
    elif isinstance(ours, list) and isinstance(rec, list):
        if ours and rec:
            out += _shape_diff(ours[0], rec[0], f"{path}[0]", values)
        elif values and bool(ours) != bool(rec):
            out.append(f"emptiness {path}")
    elif values and (ours is None) != (rec is None):
        out.append(f"None-ness {path}: ours={ours!r} recorded={rec!r}")
    return out


def _raw_keys_missing(ours: Any, recorded_raw: Any) -> set[str]:
    """Raw keys Binance sent in the recording that the emulator's answer lacks."""
    if isinstance(ours, list):
        ours, recorded_raw = ours[0], recorded_raw[0]
    return set(recorded_raw) - set(ours)


# ---- markets -----------------------------------------------------------------------------------------


def test_markets_when_loaded_then_precisions_and_limits_match_ccxt_fixtures(
    spot_client: ccxt.Exchange, usdm_client: ccxt.Exchange, ccxt_fixtures: dict[str, Any]
) -> None:
    recorded = ccxt_fixtures["markets"]
    for exchange, symbol in ((spot_client, SPOT), (usdm_client, PERP)):
        ours = exchange.market(symbol)
        rec = recorded[symbol]
        for key in (
            "id",
            "base",
            "quote",
            "type",
            "spot",
            "swap",
            "contract",
            "linear",
            "settle",
            "contractSize",
        ):
            assert ours.get(key) == rec.get(key), (symbol, key)
        # The fixture states precision in decimals (older ccxt); this ccxt states the tick itself.
        assert ours["precision"]["amount"] == pytest.approx(10 ** -rec["precision"]["amount"])
        assert ours["precision"]["price"] == pytest.approx(10 ** -rec["precision"]["price"])
        assert ours["limits"]["amount"] == pytest.approx(rec["limits"]["amount"])
        assert ours["limits"]["price"] == pytest.approx(rec["limits"]["price"])
        assert set(rec["info"]) - set(ours["info"]) == set(), symbol
    assert spot_client.market(SPOT)["limits"]["cost"] == pytest.approx(recorded[SPOT]["limits"]["cost"])
    # Binance raised the USD-M BTCUSDT min notional to 100 USDT; the fixture predates it.
    assert usdm_client.market(PERP)["limits"]["cost"]["min"] == 100


def test_markets_when_loaded_then_carry_instrument_grid_is_stated(
    spot_client: ccxt.Exchange, usdm_client: ccxt.Exchange
) -> None:
    assert spot_client.market(SPOT)["precision"] == pytest.approx(
        {"amount": 1e-5, "price": 0.01, "base": 1e-8, "quote": 1e-8}
    )
    assert usdm_client.market(PERP)["precision"]["amount"] == pytest.approx(0.001)
    assert usdm_client.market(PERP)["precision"]["price"] == pytest.approx(0.1)


def test_market_data_when_fetched_then_shapes_match_fixtures_and_prices_are_recorded(
    spot_client: ccxt.Exchange, usdm_client: ccxt.Exchange, ccxt_fixtures: dict[str, Any], emu: EmulatorThread
) -> None:
    ticker = spot_client.fetch_ticker(SPOT)
    rec = _recorded(ccxt_fixtures, "fetchTicker", "public spot ticker")
    assert _shape_diff(ticker, rec["parsedResponse"]) == []
    assert _raw_keys_missing(ticker["info"], rec["httpResponse"]) == set()
    # First spot book of the recording: bid 28165.47 / ask 28165.48 (line 2 of the spot file).
    assert (ticker["bid"], ticker["ask"]) == (28165.47, 28165.48)
    for exchange, symbol, desc in (
        (spot_client, SPOT, "spot orderbook"),
        (usdm_client, PERP, "swap orderbook"),
    ):
        book = exchange.fetch_order_book(symbol)
        rec = _recorded(ccxt_fixtures, "fetchOrderBook", desc)
        assert _shape_diff(book, rec["parsedResponse"]) == []
        assert book["bids"][0][0] < book["asks"][0][0]
    funding = usdm_client.fetch_funding_rate(PERP)
    assert funding["fundingRate"] is not None and funding["markPrice"] > 0 and funding["indexPrice"] > 0
    # Just after 00:00 the recording still announces the 00:00 settlement (Binance switches T a second later).
    assert funding["fundingTimestamp"] == SETTLEMENT_MS


def test_ticker_when_clock_advances_then_book_follows_recording(
    spot_client: ccxt.Exchange, emu: EmulatorThread
) -> None:
    before = spot_client.fetch_ticker(SPOT)
    emu.advance_to_ms(emu.now_ms + 120_000)
    after = spot_client.fetch_ticker(SPOT)
    assert after["timestamp"] == before["timestamp"] + 120_000
    assert after["baseVolume"] > before["baseVolume"]
    assert (after["bid"], after["ask"]) != (before["bid"], before["ask"])


# ---- orders ------------------------------------------------------------------------------------------


def test_market_order_when_submitted_then_fills_at_recorded_top_of_book(
    spot_client: ccxt.Exchange, usdm_client: ccxt.Exchange, ccxt_fixtures: dict[str, Any]
) -> None:
    ask = spot_client.fetch_order_book(SPOT)["asks"][0][0]
    order = spot_client.create_order(SPOT, "market", "buy", 0.01, params={"clientOrderId": "carry-m-1"})
    rec = _recorded(ccxt_fixtures, "createOrder", "spot +selfTradePrevention +iceberg")
    # The recorded create was a resting limit: same keys, but a fill sets average, fee, trades.
    assert _shape_diff(order, rec["parsedResponse"], values=False) == []
    assert _raw_keys_missing(order["info"], rec["httpResponse"]) <= {"icebergQty"}
    assert (order["status"], order["filled"], order["average"], order["clientOrderId"]) == (
        "closed",
        0.01,
        ask,
        "carry-m-1",
    )
    assert order["fee"] == {"currency": "BTC", "cost": pytest.approx(0.01 * 0.001)}

    bid = usdm_client.fetch_order_book(PERP)["bids"][0][0]
    short = usdm_client.create_order(PERP, "market", "sell", 0.01, params={"clientOrderId": "carry-m-2"})
    assert (short["status"], short["filled"], short["average"]) == ("closed", 0.01, bid)


def test_limit_order_when_not_marketable_then_rests_and_cancel_releases_funds(
    spot_client: ccxt.Exchange, ccxt_fixtures: dict[str, Any]
) -> None:
    order = spot_client.create_order(
        SPOT, "limit", "buy", 0.1, 27000.0, params={"clientOrderId": "carry-l-1"}
    )
    assert order["status"] == "open"
    rec = _recorded(ccxt_fixtures, "createOrder", "spot +selfTradePrevention +iceberg")
    assert _shape_diff(order, rec["parsedResponse"]) == []
    balance = spot_client.fetch_balance()
    assert balance["USDT"]["used"] == pytest.approx(2700.0)
    assert balance["USDT"]["free"] == pytest.approx(100000 - 2700.0)
    opens = spot_client.fetch_open_orders(SPOT)
    rec = _recorded(ccxt_fixtures, "fetchOpenOrders", "Fetch spot open orders")
    assert _shape_diff(opens, rec["parsedResponse"]) == []
    assert _raw_keys_missing(opens[0]["info"], rec["httpResponse"][0]) == set()
    assert [o["clientOrderId"] for o in opens] == ["carry-l-1"]
    canceled = spot_client.cancel_order(order["id"], SPOT)
    assert canceled["status"] == "canceled"
    assert spot_client.fetch_open_orders(SPOT) == []
    assert spot_client.fetch_balance()["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}


def test_resting_limit_when_recorded_market_crosses_it_then_fills_as_maker(
    usdm_client: ccxt.Exchange, emu: EmulatorThread
) -> None:
    bid = usdm_client.fetch_order_book(PERP)["bids"][0][0]
    order = usdm_client.create_order(PERP, "limit", "buy", 0.01, bid, params={"clientOrderId": "carry-rest"})
    assert order["status"] == "open"
    for _ in range(600):  # step through the recording, one second at a time, until the ask reaches it
        emu.advance_to_ms(emu.now_ms + 1000)
        if (
            usdm_client.fetch_order(None, PERP, params={"origClientOrderId": "carry-rest"})["status"]
            == "closed"
        ):
            break
    done = usdm_client.fetch_order(None, PERP, params={"origClientOrderId": "carry-rest"})
    assert (done["status"], done["average"]) == ("closed", bid)
    trades = usdm_client.fetch_my_trades(PERP)
    assert {t["takerOrMaker"] for t in trades} == {"maker"}
    assert sum(t["fee"]["cost"] for t in trades) == pytest.approx(0.01 * bid * 0.0002)


def test_ioc_limit_when_larger_than_recorded_top_size_then_partially_fills_and_expires(
    usdm_client: ccxt.Exchange,
) -> None:
    ask, ask_qty = usdm_client.fetch_order_book(PERP)["asks"][0]
    qty = round(ask_qty + 0.5, 3)
    order = usdm_client.create_order(
        PERP, "limit", "buy", qty, ask + 5.0, params={"timeInForce": "IOC", "clientOrderId": "carry-ioc"}
    )
    assert order["status"] == "expired"
    assert order["filled"] == pytest.approx(ask_qty)
    assert order["remaining"] == pytest.approx(0.5)
    assert order["average"] == ask
    position = usdm_client.fetch_positions([PERP])[0]
    assert position["contracts"] == pytest.approx(ask_qty) and position["side"] == "long"


def test_fetch_order_when_by_client_order_id_then_finds_it_and_unknown_raises_order_not_found(
    usdm_client: ccxt.Exchange,
) -> None:
    placed = usdm_client.create_order(PERP, "market", "sell", 0.005, params={"clientOrderId": "carry-q-1"})
    found = usdm_client.fetch_order(None, PERP, params={"origClientOrderId": "carry-q-1"})
    assert (found["id"], found["status"], found["clientOrderId"]) == (placed["id"], "closed", "carry-q-1")
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        usdm_client.fetch_order(None, PERP, params={"origClientOrderId": "never-sent"})
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        usdm_client.cancel_order(placed["id"], PERP)  # filled: no longer cancelable


def test_client_order_id_when_reused_after_fill_then_venue_books_a_second_order(
    usdm_client: ccxt.Exchange, emu: EmulatorThread
) -> None:
    # Binance keeps client order ids unique among OPEN orders only: a blind resend double-fills.
    usdm_client.create_order(PERP, "market", "sell", 0.01, params={"clientOrderId": "carry-dup"})
    usdm_client.create_order(PERP, "market", "sell", 0.01, params={"clientOrderId": "carry-dup"})
    assert emu.create_count("carry-dup") == 2
    assert usdm_client.fetch_positions([PERP])[0]["contracts"] == pytest.approx(0.02)
    usdm_client.create_order(PERP, "limit", "sell", 0.01, 40000.0, params={"clientOrderId": "carry-open"})
    with pytest.raises(ccxt.InvalidOrder, match="-4116"):
        usdm_client.create_order(PERP, "limit", "sell", 0.01, 40000.0, params={"clientOrderId": "carry-open"})


def test_my_trades_when_orders_filled_then_listed_with_fixture_shape(
    spot_client: ccxt.Exchange, usdm_client: ccxt.Exchange, ccxt_fixtures: dict[str, Any]
) -> None:
    spot_client.create_order(SPOT, "market", "buy", 0.002)
    usdm_client.create_order(PERP, "market", "sell", 0.004)
    for exchange, symbol, desc in (
        (spot_client, SPOT, "Spot private trade"),
        (usdm_client, PERP, "Swap private trade"),
    ):
        trades = exchange.fetch_my_trades(symbol)
        rec = _recorded(ccxt_fixtures, "fetchMyTrades", desc)
        assert len(trades) == 1
        assert _shape_diff(trades, rec["parsedResponse"]) == []
        assert _raw_keys_missing(trades[0]["info"], rec["httpResponse"][0]) == set()


def test_balances_when_orders_fill_then_spot_assets_and_usdm_wallet_move_by_fills_and_fees(
    spot_client: ccxt.Exchange, usdm_client: ccxt.Exchange, ccxt_fixtures: dict[str, Any]
) -> None:
    buy = spot_client.create_order(SPOT, "market", "buy", 0.1)
    spot_balance = spot_client.fetch_balance()
    assert spot_balance["BTC"]["total"] == pytest.approx(1 + 0.1 * (1 - 0.001))
    assert spot_balance["USDT"]["total"] == pytest.approx(100000 - buy["cost"])
    rec = _recorded(ccxt_fixtures, "fetchBalance", "Spot balance")
    assert set(spot_balance) - {"BTC", "USDT"} == set(rec["parsedResponse"]) - {"BTC", "LTC", "ETH"}

    short = usdm_client.create_order(PERP, "market", "sell", 0.1)
    usdm_balance = usdm_client.fetch_balance()
    rec = _recorded(ccxt_fixtures, "fetchBalance", "Linear swap balance")
    assert _shape_diff(usdm_balance, rec["parsedResponse"]) == []
    fee = 0.1 * short["average"] * 0.0005
    assert usdm_balance["info"]["totalWalletBalance"] == f"{Decimal('100000') - Decimal(str(fee)):.8f}"
    mark = usdm_client.fetch_funding_rate(PERP)["markPrice"]
    assert usdm_balance["USDT"]["used"] == pytest.approx(0.1 * mark / 20)  # default leverage 20x


def test_positions_when_short_perp_then_one_way_position_with_fixture_shape(
    spot_and_perp_recording: Recording, ccxt_fixtures: dict[str, Any]
) -> None:
    # A wallet as small as the recorded account's, so that a liquidation price exists.
    options = EmulatorOptions(venue=VenueConfig(usdm_wallet=Decimal("30")))
    with EmulatorThread(recording=spot_and_perp_recording, options=options) as small:
        exchange = make_sync("binanceusdm", small.base_url)
        assert exchange.fetch_positions() == []
        exchange.create_order(PERP, "market", "buy", 0.01)
        positions = exchange.fetch_positions()
        rec = _recorded(ccxt_fixtures, "fetchPositions", "Fetch linear positions without symbols")
        assert _shape_diff(positions, rec["parsedResponse"]) == []
        assert _raw_keys_missing(positions[0]["info"], rec["httpResponse"][0]) == set()
        (pos,) = positions
        assert (pos["symbol"], pos["side"], pos["contracts"], pos["marginMode"]) == (
            PERP,
            "long",
            0.01,
            "cross",
        )
        assert 0 < pos["liquidationPrice"] < pos["entryPrice"]


def test_funding_when_clock_crosses_recorded_settlement_then_short_receives_rate_times_mark(
    perp_over_funding_recording: Recording,
) -> None:
    # The recorded settlement: the last markPrice message announcing T=00:00 carries the final rate.
    mark, rate = _recorded_settlement(SETTLEMENT_MS)
    assert rate == Decimal("0.00002760")  # ../shared/data/README.md
    with EmulatorThread(recording=perp_over_funding_recording) as emu:
        exchange = make_sync("binanceusdm", emu.base_url)
        assert emu.now_ms < SETTLEMENT_MS - 60_000
        exchange.create_order(PERP, "market", "sell", 0.5)
        wallet_before = Decimal(exchange.fetch_balance()["info"]["totalWalletBalance"])
        emu.advance_to_ms(SETTLEMENT_MS - 1)
        assert exchange.fetch_funding_history(PERP) == []
        emu.advance_to_ms(SETTLEMENT_MS + 2_000)
        (payment,) = exchange.fetch_funding_history(PERP)
        expected = Decimal("0.5") * mark * rate  # short receives: -(-0.5) * mark * rate
        assert payment["timestamp"] == SETTLEMENT_MS
        assert Decimal(payment["info"]["income"]) == expected.quantize(Decimal("1e-8"))
        wallet_after = Decimal(exchange.fetch_balance()["info"]["totalWalletBalance"])
        assert wallet_after - wallet_before == expected.quantize(Decimal("1e-8"))
        (history,) = exchange.fetch_funding_rate_history(PERP)
        assert (history["timestamp"], history["fundingRate"]) == (SETTLEMENT_MS, float(rate))


def _recorded_settlement(funding_time_ms: int) -> tuple[Decimal, Decimal]:
    mark = rate = None
    with gzip.open(data_root() / USDM_FILE_0404, "rt") as fh:
        for line in fh:
            if "@markPrice" in line:
                data = json.loads(line.split(" ", 1)[1])["data"]
                if data["T"] == funding_time_ms:
                    mark, rate = Decimal(data["p"]), Decimal(data["r"])
    with gzip.open(data_root() / USDM_FILE_0404.replace("0404", "0405"), "rt") as fh:
        for line in fh:
            if "@markPrice" in line:
                data = json.loads(line.split(" ", 1)[1])["data"]
                if data["T"] != funding_time_ms:
                    break
                mark, rate = Decimal(data["p"]), Decimal(data["r"])
    assert mark is not None and rate is not None
    return mark, rate


# ---- venue rules and authentication ------------------------------------------------------------------


def test_signed_request_when_signature_wrong_then_rejected_with_1022(emu: EmulatorThread) -> None:
    exchange = make_sync("binanceusdm", emu.base_url, secret="not-the-secret")
    with pytest.raises(
        ccxt.AuthenticationError,
        match=re.escape('"code":-1022,"msg":"Signature for this request is not valid."'),
    ):
        exchange.fetch_balance()


def test_signed_request_when_api_key_unknown_then_rejected_with_2015(emu: EmulatorThread) -> None:
    exchange = make_sync("binance", emu.base_url)
    exchange.apiKey = "someone-else"
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        exchange.fetch_balance()


def test_signed_request_when_timestamp_outside_recv_window_then_rejected_with_1021(
    emu: EmulatorThread,
) -> None:
    exchange = make_sync("binance", emu.base_url)
    exchange.nonce = lambda: exchange.milliseconds() - 60_000  # a client clock one minute slow
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        exchange.fetch_balance()


@pytest.mark.parametrize(
    ("exchange_id", "symbol", "side", "amount", "price", "error", "code"),
    [
        ("binanceusdm", PERP, "sell", 1000.0, None, ccxt.InsufficientFunds, "-2019"),
        ("binanceusdm", PERP, "sell", 0.001, None, ccxt.InvalidOrder, "-4164"),
        ("binance", SPOT, "buy", 0.0001, None, ccxt.BadRequest, "-1013"),  # ccxt's class for -1013
        # ccxt matches this message before the code, and then omits the code from its message.
        ("binance", SPOT, "sell", 5.0, None, ccxt.InsufficientFunds, "insufficient balance"),
    ],
)
def test_order_when_venue_rule_broken_then_binance_code_maps_to_ccxt_class(
    emu: EmulatorThread,
    exchange_id: str,
    symbol: str,
    side: str,
    amount: float,
    price: float | None,
    error: type[Exception],
    code: str,
) -> None:
    exchange = make_sync(exchange_id, emu.base_url)
    with pytest.raises(error, match=code):
        exchange.create_order(symbol, "market", side, amount, price)
    assert emu.state()["open_orders"] == 0 and emu.state()["positions"] == {}


def test_public_request_when_symbol_unknown_then_1121(
    emu: EmulatorThread, usdm_client: ccxt.Exchange
) -> None:
    with pytest.raises(ccxt.BadSymbol, match="-1121"):
        usdm_client.fapiPublicGetTicker24hr({"symbol": "DOGEBTC"})


def test_reconcile_when_client_restarts_then_fresh_client_recovers_orders_fills_and_positions(
    emu: EmulatorThread,
) -> None:
    first = make_sync("binanceusdm", emu.base_url)
    first.create_order(PERP, "market", "sell", 0.02, params={"clientOrderId": "carry-leg-1"})
    first.create_order(PERP, "limit", "sell", 0.01, 40000.0, params={"clientOrderId": "carry-leg-2"})
    del first  # the process is gone; the venue keeps everything
    fresh = make_sync("binanceusdm", emu.base_url)
    assert [o["clientOrderId"] for o in fresh.fetch_open_orders(PERP)] == ["carry-leg-2"]
    assert [t["amount"] for t in fresh.fetch_my_trades(PERP)] == [0.02]
    (position,) = fresh.fetch_positions()
    assert (position["side"], position["contracts"]) == ("short", 0.02)
    assert fresh.fetch_order(None, PERP, params={"origClientOrderId": "carry-leg-1"})["status"] == "closed"


def test_reduce_only_when_larger_than_position_then_fills_only_the_position_and_expires_rest(
    usdm_client: ccxt.Exchange,
) -> None:
    usdm_client.create_order(PERP, "market", "sell", 0.01)
    close = usdm_client.create_order(PERP, "market", "buy", 0.05, params={"reduceOnly": True})
    assert (close["status"], close["filled"]) == ("expired", 0.01)
    assert usdm_client.fetch_positions() == []
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        usdm_client.create_order(PERP, "market", "buy", 0.01, params={"reduceOnly": True})


def test_funding_rate_history_when_csv_given_then_past_settlements_listed_up_to_the_clock_only(
    perp_over_funding_recording: Recording,
) -> None:
    csv_path = data_root() / "binance" / "binance_btcusdt_funding_2019_2024.csv"
    options = EmulatorOptions(funding_history={"BTCUSDT": csv_path})
    with EmulatorThread(recording=perp_over_funding_recording, options=options) as emu:
        exchange = make_sync("binanceusdm", emu.base_url)
        history = exchange.fetch_funding_rate_history(PERP)
        assert len(history) == 100  # Binance's default page: the latest 100
        # CSV line 1480: "2023-04-04 17:00:00" London summer time = 16:00 UTC, "-0.001276%".
        assert (history[-1]["timestamp"], history[-1]["fundingRate"]) == (
            SETTLEMENT_MS - 8 * 3_600_000,
            -0.00001276,
        )
        emu.advance_to_ms(SETTLEMENT_MS + 2_000)
        latest = exchange.fetch_funding_rate_history(PERP)[-1]
        # The recorded settlement (with its mark price), never the CSV's later rows.
        assert (latest["timestamp"], latest["fundingRate"]) == (SETTLEMENT_MS, 0.0000276)
        assert latest["info"]["markPrice"] != ""
        since = exchange.fetch_funding_rate_history(
            PERP, since=1568073600000, limit=3
        )  # 2019-09-10 00:00 UTC
        assert [h["timestamp"] for h in since] == [1568102400000, 1568131200000, 1568160000000]


def test_spot_market_buy_when_by_cost_then_quantity_is_cost_over_ask_on_lot_grid(
    spot_client: ccxt.Exchange,
) -> None:
    ask = Decimal(str(spot_client.fetch_order_book(SPOT)["asks"][0][0]))
    order = spot_client.create_market_buy_order_with_cost(SPOT, 1000)
    expected = (Decimal(1000) / ask).quantize(Decimal("0.00001"), rounding="ROUND_DOWN")
    assert (order["status"], Decimal(str(order["filled"]))) == ("closed", expected)
    assert order["cost"] <= 1000


def test_funding_when_position_opened_after_funding_time_but_before_rate_final_then_not_paid(
    perp_over_funding_recording: Recording,
) -> None:
    with EmulatorThread(recording=perp_over_funding_recording) as emu:
        exchange = make_sync("binanceusdm", emu.base_url)
        emu.advance_to_ms(SETTLEMENT_MS + 5)  # past 00:00, before the recording books the settlement
        exchange.create_order(PERP, "market", "sell", 0.5)
        emu.advance_to_ms(SETTLEMENT_MS + 2_000)
        assert [h["timestamp"] for h in exchange.fetch_funding_rate_history(PERP)] == [SETTLEMENT_MS]
        assert exchange.fetch_funding_history(PERP) == []
