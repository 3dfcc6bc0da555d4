"""Binance's JSON shapes for the emulator's answers (spot ``/api/v3`` and USD-M ``/fapi``).

Key sets follow the raw responses recorded in ccxt's fixtures (../shared/data/ccxt_fixtures) and
Binance's API documentation; numbers that Binance sends as JSON numbers (ids, times, precisions) are
numbers here too, decimals are strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.venues.emulator.market import MarketKind, MarketSpec, MarketState
from engine.venues.emulator.venue import Fill, Income, Order, Venue

_ZERO = Decimal(0)

# USD-M BTCUSDT notional brackets (leverage tiers) as Binance published them; the emulator uses the
# first one for maintenance margin (positions here are far below its 50k cap in tests).
_BRACKETS: tuple[tuple[int, int, int, str, str], ...] = (
    (125, 0, 50_000, "0.004", "0.0"),
    (100, 50_000, 600_000, "0.005", "50.0"),
    (50, 600_000, 3_000_000, "0.01", "3050.0"),
    (20, 3_000_000, 12_000_000, "0.025", "48050.0"),
    (10, 12_000_000, 70_000_000, "0.05", "348050.0"),
    (5, 70_000_000, 100_000_000, "0.1", "3848050.0"),
    (4, 100_000_000, 230_000_000, "0.125", "6348050.0"),
    (3, 230_000_000, 480_000_000, "0.15", "12098050.0"),
    (2, 480_000_000, 600_000_000, "0.25", "60098050.0"),
    (1, 600_000_000, 800_000_000, "0.5", "210098050.0"),
)

_RATE_LIMITS: list[dict[str, Any]] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
]


def f8(x: Decimal) -> str:
    """Spot style: 8 decimals."""
    return f"{x:.8f}"


def fdec(x: Decimal, decimals: int) -> str:
    """Fixed decimals (futures style: price on the tick grid, qty on the step grid)."""
    return f"{x:.{decimals}f}"


def _plain(x: Decimal) -> str:
    return f"{x.normalize():f}"


# ---- market data -------------------------------------------------------------------------------------


def symbol_info(
    spec: MarketSpec, delivery_ms: int = 4133404800000, onboard_ms: int = 1569398400000
) -> dict[str, Any]:
    """The exchangeInfo ``symbols[]`` entry of one market."""
    if spec.kind is MarketKind.SPOT:
        return {
            "symbol": spec.symbol,
            "status": "TRADING",
            "baseAsset": spec.base,
            "baseAssetPrecision": 8,
            "quoteAsset": spec.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": True,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": f8(spec.tick_size),
                    "maxPrice": "1000000.00000000",
                    "tickSize": f8(spec.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": f8(spec.min_qty),
                    "maxQty": f8(spec.max_qty),
                    "stepSize": f8(spec.step_size),
                },
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.00000000",
                    "maxQty": "100.00000000",
                    "stepSize": "0.00000000",
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": f8(spec.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT", "MARGIN"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }
    return {
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": delivery_ms,
        "onboardDate": onboard_ms,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "marginAsset": spec.quote,
        # Binance states pricePrecision 2 for BTCUSDT although its tick is 0.10; ccxt reads the tick.
        "pricePrecision": max(2, spec.price_decimals),
        "quantityPrecision": spec.qty_decimals,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "556.80",
                "maxPrice": "4529764",
                "tickSize": fdec(spec.tick_size, 2),
            },
            {
                "filterType": "LOT_SIZE",
                "stepSize": _plain(spec.step_size),
                "minQty": _plain(spec.min_qty),
                "maxQty": _plain(spec.max_qty),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "stepSize": _plain(spec.step_size),
                "maxQty": "120",
                "minQty": _plain(spec.min_qty),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": _plain(spec.min_notional)},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }


def exchange_info(kind: MarketKind, specs: list[MarketSpec], server_ms: int) -> dict[str, Any]:
    """``GET /api/v3/exchangeInfo`` or ``GET /fapi/v1/exchangeInfo``."""
    symbols = [symbol_info(s) for s in specs if s.kind is kind]
    if kind is MarketKind.SPOT:
        return {
            "timezone": "UTC",
            "serverTime": server_ms,
            "rateLimits": _RATE_LIMITS,
            "exchangeFilters": [],
            "symbols": symbols,
        }
    assets = sorted({s.quote for s in specs if s.kind is kind})
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": _RATE_LIMITS,
        "exchangeFilters": [],
        "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in assets],
        "symbols": symbols,
    }


def ticker_24h(state: MarketState, now_ms: int) -> dict[str, Any]:
    """``GET ticker/24hr`` for one symbol, from the recording so far."""
    spec = state.spec
    t = state.ticker
    spot = spec.kind is MarketKind.SPOT
    fmt = f8 if spot else (lambda x: fdec(x, spec.price_decimals))
    qfmt = f8 if spot else (lambda x: fdec(x, spec.qty_decimals))
    last = t.last if t.last is not None else (state.bid or _ZERO)
    open_ = t.open if t.open is not None else last
    change = last - open_
    pct = (change / open_ * 100) if open_ else _ZERO
    vwap = t.quote_volume / t.volume if t.volume else last
    out: dict[str, Any] = {
        "symbol": spec.symbol,
        "priceChange": fmt(change),
        "priceChangePercent": f"{pct:.3f}",
        "weightedAvgPrice": f8(vwap) if spot else fdec(vwap, 2),
        "lastPrice": fmt(last),
        "lastQty": qfmt(t.last_qty),
        "openPrice": fmt(open_),
        "highPrice": fmt(t.high if t.high is not None else last),
        "lowPrice": fmt(t.low if t.low is not None else last),
        "volume": qfmt(t.volume),
        "quoteVolume": f8(t.quote_volume) if spot else fdec(t.quote_volume, 2),
        "openTime": t.open_time_ms or now_ms,
        "closeTime": now_ms,
        "firstId": t.first_id,
        "lastId": t.last_id,
        "count": t.count,
    }
    if spot:
        out["prevClosePrice"] = fmt(open_)
        out["bidPrice"] = fmt(state.bid or _ZERO)
        out["bidQty"] = qfmt(state.bid_qty)
        out["askPrice"] = fmt(state.ask or _ZERO)
        out["askQty"] = qfmt(state.ask_qty)
    return out


def book_ticker(state: MarketState, now_ms: int) -> dict[str, Any]:
    """``GET ticker/bookTicker`` for one symbol."""
    spec = state.spec
    spot = spec.kind is MarketKind.SPOT
    fmt = f8 if spot else (lambda x: fdec(x, spec.price_decimals))
    qfmt = f8 if spot else (lambda x: fdec(x, spec.qty_decimals))
    out: dict[str, Any] = {
        "symbol": spec.symbol,
        "bidPrice": fmt(state.bid or _ZERO),
        "bidQty": qfmt(state.bid_qty),
        "askPrice": fmt(state.ask or _ZERO),
        "askQty": qfmt(state.ask_qty),
    }
    if not spot:
        out["time"] = now_ms
    return out


def depth(state: MarketState, update_id: int, now_ms: int) -> dict[str, Any]:
    """``GET depth``: one level per side (the recorded top of book; depth is not rebuilt)."""
    spec = state.spec
    spot = spec.kind is MarketKind.SPOT
    fmt = f8 if spot else (lambda x: fdec(x, spec.price_decimals))
    qfmt = f8 if spot else (lambda x: fdec(x, spec.qty_decimals))
    bids = [[fmt(state.bid), qfmt(state.bid_qty)]] if state.bid is not None else []
    asks = [[fmt(state.ask), qfmt(state.ask_qty)]] if state.ask is not None else []
    if spot:
        return {"lastUpdateId": update_id, "bids": bids, "asks": asks}
    return {
        "lastUpdateId": update_id,
        "E": now_ms,
        "T": state.quote_ts_ns // 1_000_000,
        "bids": bids,
        "asks": asks,
    }


def premium_index(venue: Venue, index: int, now_ms: int) -> dict[str, Any]:
    """``GET /fapi/v1/premiumIndex`` for one symbol."""
    state = venue.market.markets[index]
    mark = venue.mark_price(index)
    idx = state.index if state.index is not None else mark
    return {
        "symbol": state.spec.symbol,
        "markPrice": f8(mark),
        "indexPrice": f8(idx),
        "estimatedSettlePrice": f8(idx),
        "lastFundingRate": f8(state.funding_rate if state.funding_rate is not None else _ZERO),
        "interestRate": "0.00010000",
        "nextFundingTime": state.next_funding_ns // 1_000_000,
        "time": now_ms,
    }


def leverage_brackets(venue: Venue) -> list[dict[str, Any]]:
    """``GET /fapi/v1/leverageBracket``."""
    out = []
    for i in venue.usdm_indices():
        out.append(
            {
                "symbol": venue.spec(i).symbol,
                "notionalCoef": 1.0,
                "brackets": [
                    {
                        "bracket": n + 1,
                        "initialLeverage": lev,
                        "notionalCap": cap,
                        "notionalFloor": floor,
                        "maintMarginRatio": float(mmr),
                        "cum": float(cum),
                    }
                    for n, (lev, floor, cap, mmr, cum) in enumerate(_BRACKETS)
                ],
            }
        )
    return out


# ---- orders and trades -------------------------------------------------------------------------------


def spot_order(o: Order, *, resp: str = "GET", cancel_client_id: str = "") -> dict[str, Any]:
    """A spot order for ``GET order`` / ``openOrders`` (``resp='GET'``), ``POST order`` (``ACK``,
    ``RESULT``, ``FULL``) or ``DELETE order`` (``resp='CANCEL'``)."""
    if resp == "ACK":
        return {
            "symbol": o.symbol,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": o.client_id,
            "transactTime": o.time_ms,
        }
    common = {
        "price": f8(o.price),
        "origQty": f8(o.qty),
        "executedQty": f8(o.executed),
        "cummulativeQuoteQty": f8(o.cum_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
    }
    if resp == "CANCEL":
        return {
            "symbol": o.symbol,
            "origClientOrderId": o.client_id,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": cancel_client_id,
            "transactTime": o.update_ms,
            **common,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
    if resp in ("RESULT", "FULL"):
        out = {
            "symbol": o.symbol,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": o.client_id,
            "transactTime": o.time_ms,
            **common,
            "origQuoteOrderQty": "0.00000000",
            "workingTime": o.time_ms,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if resp == "FULL":
            out["fills"] = [
                {
                    "price": f8(f.price),
                    "qty": f8(f.qty),
                    "commission": f8(f.commission),
                    "commissionAsset": f.commission_asset,
                    "tradeId": f.trade_id,
                }
                for f in o.fills
            ]
        return out
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_id,
        **common,
        "stopPrice": "0.00000000",
        "icebergQty": "0.00000000",
        "time": o.time_ms,
        "updateTime": o.update_ms,
        "isWorking": True,
        "workingTime": o.time_ms,
        "origQuoteOrderQty": "0.00000000",
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def usdm_order(o: Order, spec: MarketSpec, *, with_time: bool = True) -> dict[str, Any]:
    """A USD-M order (``POST/GET/DELETE /fapi/v1/order``, ``openOrders``, ``allOrders``)."""
    pd, qd = spec.price_decimals, spec.qty_decimals
    out: dict[str, Any] = {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_id,
        "price": fdec(o.price, pd) if o.price else "0",
        "avgPrice": fdec(o.avg_price, 5) if o.executed else "0",
        "origQty": fdec(o.qty, qd),
        "executedQty": fdec(o.executed, qd),
        "cumQty": fdec(o.executed, qd),
        "cumQuote": fdec(o.cum_quote, 5),
        "timeInForce": o.time_in_force,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "updateTime": o.update_ms,
    }
    if with_time:
        out["time"] = o.time_ms
    return out


def spot_trade(o: Order, f: Fill) -> dict[str, Any]:
    """``GET /api/v3/myTrades`` entry."""
    return {
        "symbol": o.symbol,
        "id": f.trade_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "price": f8(f.price),
        "qty": f8(f.qty),
        "quoteQty": f8(f.price * f.qty),
        "commission": f8(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time_ms,
        "isBuyer": o.side == "BUY",
        "isMaker": f.maker,
        "isBestMatch": True,
    }


def usdm_trade(o: Order, f: Fill, spec: MarketSpec) -> dict[str, Any]:
    """``GET /fapi/v1/userTrades`` entry."""
    return {
        "symbol": o.symbol,
        "id": f.trade_id,
        "orderId": o.order_id,
        "side": o.side,
        "price": fdec(f.price, spec.price_decimals),
        "qty": fdec(f.qty, spec.qty_decimals),
        "realizedPnl": f8(f.realized_pnl),
        "marginAsset": spec.quote,
        "quoteQty": fdec(f.price * f.qty, 5),
        "commission": f8(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time_ms,
        "positionSide": "BOTH",
        "maker": f.maker,
        "buyer": o.side == "BUY",
    }


def income(rec: Income) -> dict[str, Any]:
    """``GET /fapi/v1/income`` entry."""
    return {
        "symbol": rec.symbol,
        "incomeType": rec.income_type,
        "income": f8(rec.income),
        "asset": rec.asset,
        "info": rec.income_type,
        "time": rec.time_ms,
        "tranId": rec.tran_id,
        "tradeId": rec.trade_id,
    }


# ---- accounts ----------------------------------------------------------------------------------------


def spot_account(venue: Venue, now_ms: int) -> dict[str, Any]:
    """``GET /api/v3/account``."""
    maker = venue.config.spot_maker_fee
    taker = venue.config.spot_taker_fee
    return {
        "makerCommission": int(maker * 10_000),
        "takerCommission": int(taker * 10_000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": f8(maker), "taker": f8(taker), "buyer": f8(_ZERO), "seller": f8(_ZERO)},
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": max([a.update_ms for a in venue.spot.values()] + [0]),
        "accountType": "SPOT",
        "balances": [{"asset": k, "free": f8(v.free), "locked": f8(v.locked)} for k, v in venue.spot.items()],
        "permissions": ["SPOT"],
        "uid": 1000001,
    }


def position_risk(venue: Venue, index: int, now_ms: int) -> dict[str, Any]:
    """``GET /fapi/v3/positionRisk`` entry (one-way mode)."""
    spec = venue.spec(index)
    pos = venue.positions.get(index)
    qty = pos.qty if pos else _ZERO
    entry = pos.entry if pos else _ZERO
    mark = venue.mark_price(index)
    im, mm = venue.position_margin(index)
    fee = venue.config.usdm_taker_fee
    # Break-even covers the entry taker fee and the exit taker fee.
    break_even = entry * (1 + fee * 2) if qty > 0 else entry * (1 - fee * 2) if qty < 0 else _ZERO
    oim = venue.open_order_margin(index)
    return {
        "symbol": spec.symbol,
        "positionSide": "BOTH",
        "positionAmt": fdec(qty, spec.qty_decimals),
        "entryPrice": _plain(entry) if entry else "0.0",
        "breakEvenPrice": f8(break_even),
        "markPrice": f8(mark),
        "unRealizedProfit": f8(venue.unrealized(index)),
        "liquidationPrice": f8(venue.liquidation_price(index)),
        "isolatedMargin": "0",
        "notional": f8(qty * mark),
        "marginAsset": spec.quote,
        "isolatedWallet": "0",
        "initialMargin": f8(im + oim),
        "maintMargin": f8(mm),
        "positionInitialMargin": f8(im),
        "openOrderInitialMargin": f8(oim),
        "adl": 1 if qty else 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": pos.update_ms if pos else 0,
    }


def position_risk_v2(venue: Venue, index: int, now_ms: int) -> dict[str, Any]:
    """``GET /fapi/v2/positionRisk`` entry (one-way mode)."""
    v3 = position_risk(venue, index, now_ms)
    lev = venue.leverage.get(index, venue.config.leverage)
    return {
        "symbol": v3["symbol"],
        "positionAmt": v3["positionAmt"],
        "entryPrice": v3["entryPrice"],
        "breakEvenPrice": v3["breakEvenPrice"],
        "markPrice": v3["markPrice"],
        "unRealizedProfit": v3["unRealizedProfit"],
        "liquidationPrice": v3["liquidationPrice"],
        "leverage": str(lev),
        "maxNotionalValue": str(_BRACKETS[0][2]),
        "marginType": "cross",
        "isolatedMargin": "0.00000000",
        "isAutoAddMargin": "false",
        "positionSide": "BOTH",
        "notional": v3["notional"],
        "isolatedWallet": "0",
        "updateTime": v3["updateTime"],
        "isolated": False,
        "adlQuantile": v3["adl"],
    }


def usdm_account(venue: Venue, now_ms: int, *, v3: bool = True) -> dict[str, Any]:
    """``GET /fapi/v3/account`` (or v2, which adds fee tier and flags)."""
    upnl = venue.total_unrealized()
    im = sum((venue.position_margin(i)[0] for i in venue.usdm_indices()), _ZERO)
    mm = sum((venue.position_margin(i)[1] for i in venue.usdm_indices()), _ZERO)
    oim = venue.open_order_margin()
    wallet = venue.usdm_wallet
    available = venue.available_balance()
    margin_balance = wallet + upnl
    max_withdraw = max(_ZERO, min(wallet, available))
    update = venue.usdm_wallet_update_ms or now_ms
    asset = {
        "asset": "USDT",
        "walletBalance": f8(wallet),
        "unrealizedProfit": f8(upnl),
        "marginBalance": f8(margin_balance),
        "maintMargin": f8(mm),
        "initialMargin": f8(im + oim),
        "positionInitialMargin": f8(im),
        "openOrderInitialMargin": f8(oim),
        "crossWalletBalance": f8(wallet),
        "crossUnPnl": f8(upnl),
        "availableBalance": f8(available),
        "maxWithdrawAmount": f8(max_withdraw),
        "updateTime": update,
    }
    positions = []
    for i in venue.usdm_indices():
        pos = venue.positions.get(i)
        if pos is None or pos.qty == 0:
            continue
        risk = position_risk(venue, i, now_ms)
        positions.append(
            {
                "symbol": risk["symbol"],
                "positionSide": "BOTH",
                "positionAmt": risk["positionAmt"],
                "unrealizedProfit": risk["unRealizedProfit"],
                "isolatedMargin": "0",
                "notional": risk["notional"],
                "isolatedWallet": "0",
                "initialMargin": risk["initialMargin"],
                "maintMargin": risk["maintMargin"],
                "updateTime": risk["updateTime"],
            }
        )
    out: dict[str, Any] = {
        "totalInitialMargin": f8(im + oim),
        "totalMaintMargin": f8(mm),
        "totalWalletBalance": f8(wallet),
        "totalUnrealizedProfit": f8(upnl),
        "totalMarginBalance": f8(margin_balance),
        "totalPositionInitialMargin": f8(im),
        "totalOpenOrderInitialMargin": f8(oim),
        "totalCrossWalletBalance": f8(wallet),
        "totalCrossUnPnl": f8(upnl),
        "availableBalance": f8(available),
        "maxWithdrawAmount": f8(max_withdraw),
        "assets": [asset],
        "positions": positions,
    }
    if not v3:
        asset["marginAvailable"] = True
        out = {
            "feeTier": 0,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "tradeGroupId": -1,
            "updateTime": 0,
            "multiAssetsMargin": False,
            **out,
        }
    return out
