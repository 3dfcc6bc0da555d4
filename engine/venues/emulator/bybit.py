"""Bybit v5 REST (``/v5/...``) on the emulator's exchange core, for ccxt's ``bybit`` class.

The same `Venue` (accounts, orders, matching against the replayed recordings, funding) answers in Bybit's
shapes: ``category=spot`` is the emulator's spot market, ``category=linear`` its USD-M perpetual (Bybit
names both ``BTCUSDT``). What ccxt 4.5.90 calls, and what is served:

==========================================  ==========================================================
load_markets                                ``GET /v5/market/instruments-info`` (spot, linear; inverse and
                                            option list nothing), ``GET /v5/asset/coin/query-info``
                                            (signed: ccxt fetches currencies whenever keys are set)
account mode (before balance/orders)        ``GET /v5/user/query-api``, ``GET /v5/account/info``: a
                                            UTA 2.0 account (``uta=1``, ``unifiedMarginStatus=5``)
fetch_time / ticker / order book            ``/v5/market/time``, ``/v5/market/tickers`` (linear: mark,
                                            index, funding rate, next funding time), ``/v5/market/orderbook``
fetch_funding_rate_history                  ``/v5/market/funding/history`` (recorded settlements, plus the
                                            funding CSV of `EmulatorOptions.funding_history`)
fetch_balance                               ``GET /v5/account/wallet-balance?accountType=UNIFIED``
fetch_positions / set_leverage              ``GET /v5/position/list``, ``POST /v5/position/set-leverage``
create / cancel / cancel all                ``POST /v5/order/create`` / ``cancel`` / ``cancel-all``
fetch_order / open orders                   ``GET /v5/order/realtime``
closed orders                               ``GET /v5/order/history``
my trades / order trades                    ``GET /v5/execution/list``
==========================================  ==========================================================

Bybit's rules kept here (not the core's Binance ones):

- Signing: ``X-BAPI-SIGN`` = HMAC-SHA256 hex of ``timestamp + apiKey + recvWindow + (query | JSON body)``;
  a wrong one is ``retCode 10004`` (HTTP 200, as Bybit answers API-level errors), an unknown key 10003,
  missing headers HTTP 401, a stale timestamp 10002.
- ``orderLinkId`` is unique among ALL orders of a category (Binance: among open ones): a second create
  with it is rejected (110072 linear, 170141 spot) and still counts as a create that reached the venue.
- ``/v5/order/realtime`` by ``orderId``/``orderLinkId`` returns the order in any status among the category's
  500 newest; otherwise open orders only (``openOnly=0``) or open plus the 500 newest closed (``openOnly=1``).
- Order statuses: an IOC/market remainder or a cancel is ``Cancelled`` (derivatives: even after a partial
  fill); on spot a partial fill then cancel is ``PartiallyFilledCanceled`` (ccxt maps it to "closed").
- Errors of the core (`BinanceError`) are translated to Bybit ``retCode``s (see `_translate`).

Simplifications, stated: the front states the emulated market's own filters (the core enforces them) in
Bybit's fields, not Bybit's listing; the UNIFIED wallet shows the core's spot and USD-M ledgers summed per
coin, while the core still checks spot buys against spot funds and perp margin against the USD-M wallet.
Open interest is not recorded (``openInterest`` 0).

Faults (`engine.venues.emulator.faults`, globs on the path) work on ``/v5/...`` paths; the fault middleware
answers in Binance's shape, so an outer middleware rewrites those answers on ``/v5/`` paths: ``rate_limit``
becomes ``retCode 10006 "Too many visits!"`` (HTTP 200, with ``X-Bapi-Limit-*`` headers), ``reject`` with a
Binance (negative) code becomes the matching Bybit code (``-2019`` -> 110007 ...), a positive code is taken
as a Bybit ``retCode`` as is. ``drop_after_commit``, ``partial_fill``, ``latency`` and ``reset`` need no
translation.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from engine.venues.emulator.faults import FILL_RATIO_KEY
from engine.venues.emulator.market import MarketKind, MarketSpec, MarketState
from engine.venues.emulator.venue import BinanceError, Fill, Order

if TYPE_CHECKING:
    from engine.venues.emulator.app import Emulator

SPOT = MarketKind.SPOT
USDM = MarketKind.USDM
_ZERO = Decimal(0)
_CATEGORIES = {"spot": SPOT, "linear": USDM}
_EMPTY_CATEGORIES = frozenset({"inverse", "option"})
_MAX_RECV_WINDOW_MS = 60_000
_FUTURE_TOLERANCE_MS = 1_000
_RECENT_CLOSED = 500
_FUNDING_INTERVAL_MIN = 480  # BTCUSDT settles every 8 h on the recorded venue
_RATE_LIMIT_PER_S = 10

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BybitError(Exception):
    """A Bybit answer ``{"retCode": code, "retMsg": msg}`` with its HTTP status (200 for API errors)."""

    def __init__(self, code: int, msg: str, status: int = 200) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def params_error(msg: str) -> BybitError:
    """Bybit's generic parameter error (ccxt: ``BadRequest``)."""
    return BybitError(10001, msg)


# ---- formatting ------------------------------------------------------------------------------------


def _plain(x: Decimal) -> str:
    return f"{x.normalize():f}" if x else "0"


def _fixed(x: Decimal, decimals: int) -> str:
    return f"{x:.{decimals}f}"


def _price(spec: MarketSpec, x: Decimal) -> str:
    return _fixed(x, spec.price_decimals)


def _qty(spec: MarketSpec, x: Decimal) -> str:
    return _fixed(x, spec.qty_decimals)


def _envelope(result: Any, now_ms: int) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _error(exc: BybitError, now_ms: int) -> web.Response:
    body = {"retCode": exc.code, "retMsg": exc.msg, "result": {}, "retExtInfo": {}, "time": now_ms}
    return _json(body, status=exc.status)


# ---- ids -------------------------------------------------------------------------------------------


def order_id(order: Order, kind: MarketKind) -> str:
    """Bybit's form of a core order id: a UUID on derivatives, a decimal string on spot."""
    return str(uuid.UUID(int=order.order_id)) if kind is USDM else str(order.order_id)


def parse_order_id(text: str) -> int | None:
    """The core order id behind a Bybit order id (either form), or None if it names no order."""
    if text.isdigit():
        return int(text)
    try:
        return uuid.UUID(text).int
    except ValueError:
        return None


def _exec_id(fill: Fill, kind: MarketKind) -> str:
    return str(uuid.UUID(int=fill.trade_id)) if kind is USDM else str(fill.trade_id)


# ---- error translation -------------------------------------------------------------------------------

# Binance code of the core -> Bybit retCode per category (spot, linear), with Bybit's message.
_BY_CODE: dict[int, tuple[tuple[int, str], tuple[int, str]]] = {
    -2019: ((170131, "Insufficient balance."), (110007, "ab not enough for new order")),
    -2018: ((170131, "Insufficient balance."), (110007, "ab not enough for new order")),
    -2011: ((170213, "Order does not exist."), (110001, "order not exists or too late to cancel")),
    -2013: ((170213, "Order does not exist."), (110001, "order not exists or too late to cancel")),
    -2022: ((10001, "reduceOnly is not supported for spot"), (110017, "Reduce-only rule not satisfied")),
    -4164: (
        (170140, "Order value exceeded lower limit."),
        (110094, "Order does not meet minimum order value"),
    ),
    -4116: ((170141, "Duplicate clientOrderId."), (110072, "OrderLinkedID is duplicate")),
    -1121: ((10001, "Not supported symbols"), (10001, "Not supported symbols")),
    -1111: ((170137, "Order volume decimal too long"), (10001, "Qty invalid")),
    -4014: ((170134, "Order price decimal too long."), (10001, "Price invalid")),
    -4003: ((170136, "Order quantity lower than the minimum."), (10001, "Qty invalid")),
    -1022: ((10004, "error sign!"), (10004, "error sign!")),
    -2014: ((10003, "API key is invalid."), (10003, "API key is invalid.")),
    -2015: ((10003, "API key is invalid."), (10003, "API key is invalid.")),
    -1021: ((10002, "invalid request, please check your server timestamp or recv_window param"),) * 2,
    -1003: ((10006, "Too many visits!"), (10006, "Too many visits!")),
}


def _translate(exc: BinanceError, kind: MarketKind) -> BybitError:
    """The Bybit answer to what the core refused (the core speaks Binance)."""
    spot = kind is SPOT
    if exc.code == -2010:  # spot: insufficient balance / duplicate / would take
        low = exc.msg.lower()
        if "insufficient" in low:
            return BybitError(170131, "Insufficient balance.")
        if "duplicate" in low:
            return BybitError(170141, "Duplicate clientOrderId.")
        return BybitError(170218, "The LIMIT-MAKER order is rejected due to invalid price.")
    if exc.code == -1013:  # spot filters and "market is closed"
        msg = exc.msg.upper()
        if "LOT_SIZE" in msg or "QUANTITY" in msg:
            return (
                BybitError(170137, "Order volume decimal too long") if spot else params_error("Qty invalid")
            )
        if "PRICE" in msg:
            return (
                BybitError(170134, "Order price decimal too long.") if spot else params_error("Price invalid")
            )
        if "NOTIONAL" in msg:
            return BybitError(170140, "Order value exceeded lower limit.")
        return params_error(exc.msg)
    pair = _BY_CODE.get(exc.code)
    if pair is not None:
        code, msg = pair[0] if spot else pair[1]
        return BybitError(code, msg)
    if exc.code < 0:
        return params_error(f"params error: {exc.msg}")
    return BybitError(exc.code, exc.msg)  # a positive code is already Bybit's (fault rules)


def _fault_answer(response: web.StreamResponse, kind: MarketKind, now_ms: int) -> web.StreamResponse:
    """Rewrite a Binance-shaped answer of the fault middleware (429 storm, reject) into Bybit's shape."""
    if not isinstance(response, web.Response) or response.body is None:
        return response
    if response.status == 429:
        retry = response.headers.get("Retry-After", "1")
        reset = int(time.time() * 1000) + int(float(retry) * 1000)
        headers = {
            "X-Bapi-Limit": str(_RATE_LIMIT_PER_S),
            "X-Bapi-Limit-Status": "0",
            "X-Bapi-Limit-Reset-Timestamp": str(reset),
        }
        body = _envelope({}, now_ms) | {"retCode": 10006, "retMsg": "Too many visits!"}
        return _json(body, headers=headers)
    if response.status == 400:
        try:
            data = orjson.loads(bytes(response.body))  # type: ignore[arg-type]
        except (orjson.JSONDecodeError, TypeError):
            return response
        if isinstance(data, dict) and "code" in data and "retCode" not in data:
            return _error(_translate(BinanceError(int(data["code"]), str(data.get("msg", ""))), kind), now_ms)
    return response


# ---- the front -------------------------------------------------------------------------------------


class BybitFront:
    """Bybit v5 handlers over one emulator's `Venue`.

    Parameters
    ----------
    emu : Emulator
        The emulator whose market, venue and fault plan are served.
    """

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.venue = emu.venue
        self.market = emu.market
        # Orders created without an orderLinkId (the core names them itself; Bybit shows "").
        self._link_less: set[int] = set()

    # -- plumbing ------------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """The market clock."""
        return self.market.now_ms

    def ok(self, result: Any) -> web.Response:
        """A successful Bybit answer."""
        return _json(_envelope(result, self.now_ms))

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Outermost on ``/v5/``: Bybit's answers for Bybit errors, the core's and the fault plan's."""
        if not request.path.startswith("/v5/"):
            return await handler(request)
        kind = await _request_kind(request)
        try:
            response = await handler(request)
        except BybitError as exc:
            return _error(exc, self.now_ms)
        except BinanceError as exc:  # the core refused; the handler did not translate it itself
            return _error(_translate(exc, kind), self.now_ms)
        return _fault_answer(response, kind, self.now_ms)

    async def signed(self, request: web.Request) -> dict[str, Any]:
        """Check Bybit's v5 signature headers; return the query or JSON body parameters."""
        key = request.headers.get("X-BAPI-API-KEY")
        stamp = request.headers.get("X-BAPI-TIMESTAMP")
        sign = request.headers.get("X-BAPI-SIGN")
        if not key or not stamp or not sign:
            raise BybitError(10003, "API key is invalid.", 401)
        secret = self.venue.config.api_keys.get(key)
        if secret is None:
            raise BybitError(10003, "API key is invalid.")
        recv_text = request.headers.get("X-BAPI-RECV-WINDOW", "5000")
        if not stamp.isdigit() or not recv_text.isdigit():
            raise params_error("params error: X-BAPI-TIMESTAMP or X-BAPI-RECV-WINDOW is not a number")
        # The signature is over the bytes the client sent: the raw query (GET) or the raw body (POST).
        if request.method == "POST":
            payload = await request.text()
        else:
            payload = request.raw_path.partition("?")[2]
        expected = hmac.new(
            secret.encode(), (stamp + key + recv_text + payload).encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, sign.lower()):
            raise BybitError(10004, "error sign! origin_string[" + stamp + key + recv_text + payload + "]")
        recv_window = min(int(recv_text), _MAX_RECV_WINDOW_MS)
        now = int(time.time() * 1000)  # ccxt stamps requests with the machine's clock
        if int(stamp) < now - recv_window or int(stamp) > now + _FUTURE_TOLERANCE_MS:
            raise BybitError(
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{stamp}],server_timestamp[{now}],recv_window[{recv_window}]",
            )
        if request.method == "POST":
            try:
                body = orjson.loads(payload) if payload else {}
            except orjson.JSONDecodeError as exc:
                raise params_error("params error: invalid JSON body") from exc
            if not isinstance(body, dict):
                raise params_error("params error: body must be a JSON object")
            return body
        return dict(parse_qsl(payload, keep_blank_values=True))

    def category(self, params: dict[str, Any], allowed: tuple[str, ...] = ("spot", "linear")) -> MarketKind:
        """The market family named by ``category``."""
        name = str(params.get("category") or "")
        if not name:
            raise params_error("params error: category is empty")
        if name not in allowed or name not in _CATEGORIES:
            raise params_error(f"params error: category only support {', '.join(allowed)}")
        return _CATEGORIES[name]

    def index_of(self, kind: MarketKind, symbol: Any) -> int:
        """Market index of ``symbol`` in ``kind``; Bybit's answer for an unknown one."""
        if not symbol:
            raise params_error("params error: symbol is empty")
        index = self.market.market_index(kind, str(symbol))
        if index is None:
            raise params_error("Not supported symbols")
        return index

    def indices(self, kind: MarketKind, symbol: Any) -> list[int]:
        """One market (symbol given) or every market of the family."""
        if symbol:
            return [self.index_of(kind, symbol)]
        return [i for i, m in enumerate(self.market.markets) if m.spec.kind is kind]

    # -- public market data --------------------------------------------------------------------------

    async def server_time(self, request: web.Request) -> web.Response:
        """``GET /v5/market/time``: wall time, as signatures are checked against it."""
        now_ns = time.time_ns()
        body = _envelope({"timeSecond": str(now_ns // 10**9), "timeNano": str(now_ns)}, now_ns // 10**6)
        return _json(body)

    async def instruments(self, request: web.Request) -> web.Response:
        """``GET /v5/market/instruments-info``."""
        q = dict(request.query)
        name = q.get("category", "")
        if name in _EMPTY_CATEGORIES or q.get("status") == "PreLaunch":
            return self.ok({"category": name, "list": [], "nextPageCursor": ""})
        kind = self.category(q)
        rows = [self._instrument(self.market.markets[i].spec) for i in self.indices(kind, q.get("symbol"))]
        return self.ok({"category": name, "list": rows, "nextPageCursor": ""})

    @staticmethod
    def _instrument(spec: MarketSpec) -> dict[str, Any]:
        if spec.kind is SPOT:
            return {
                "symbol": spec.symbol,
                "baseCoin": spec.base,
                "quoteCoin": spec.quote,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": _plain(spec.step_size),
                    "quotePrecision": "0.00000001",
                    "minOrderQty": _plain(spec.min_qty),
                    "maxOrderQty": _plain(spec.max_qty),
                    "minOrderAmt": _plain(spec.min_notional),
                    "maxOrderAmt": "8000000",
                },
                "priceFilter": {"tickSize": _plain(spec.tick_size)},
                "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            }
        return {
            "symbol": spec.symbol,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": spec.base,
            "quoteCoin": spec.quote,
            "launchTime": "1584230400000",
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(spec.price_decimals),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {
                "minPrice": str(spec.tick_size),  # as the venue lists it: "0.10"
                "maxPrice": "1999999.80",
                "tickSize": str(spec.tick_size),
            },
            "lotSizeFilter": {
                "maxOrderQty": _qty(spec, spec.max_qty),
                "minOrderQty": _qty(spec, spec.min_qty),
                "qtyStep": _qty(spec, spec.step_size),
                "postOnlyMaxOrderQty": _qty(spec, spec.max_qty),
                "maxMktOrderQty": _qty(spec, spec.max_qty),
                "minNotionalValue": _plain(spec.min_notional),
            },
            "unifiedMarginTrade": True,
            "fundingInterval": _FUNDING_INTERVAL_MIN,
            "settleCoin": spec.quote,
            "copyTrading": "both",
            "upperFundingRate": "0.005",
            "lowerFundingRate": "-0.005",
            "isPreListing": False,
            "preListingInfo": None,
        }

    async def tickers(self, request: web.Request) -> web.Response:
        """``GET /v5/market/tickers``."""
        q = dict(request.query)
        name = q.get("category", "")
        if name in _EMPTY_CATEGORIES:
            return self.ok({"category": name, "list": []})
        kind = self.category(q)
        rows = [self._ticker(i) for i in self.indices(kind, q.get("symbol"))]
        return self.ok({"category": name, "list": rows})

    def _ticker(self, index: int) -> dict[str, Any]:
        state = self.market.markets[index]
        spec = state.spec
        t = state.ticker
        last = t.last if t.last is not None else (state.bid or _ZERO)
        opened = t.open if t.open is not None else last
        pct = (last - opened) / opened if opened else _ZERO
        row: dict[str, Any] = {
            "symbol": spec.symbol,
            "bid1Price": _price(spec, state.bid) if state.bid is not None else "",
            "bid1Size": _plain(state.bid_qty),
            "ask1Price": _price(spec, state.ask) if state.ask is not None else "",
            "ask1Size": _plain(state.ask_qty),
            "lastPrice": _price(spec, last),
            "prevPrice24h": _price(spec, opened),
            "price24hPcnt": f"{pct:.4f}",
            "highPrice24h": _price(spec, t.high if t.high is not None else last),
            "lowPrice24h": _price(spec, t.low if t.low is not None else last),
            "turnover24h": _plain(t.quote_volume),
            "volume24h": _plain(t.volume),
        }
        if spec.kind is SPOT:
            row["usdIndexPrice"] = _plain(last)
            return row
        mark = self.venue.mark_price(index)
        idx = state.index if state.index is not None else mark
        row |= {
            "indexPrice": _price(spec, idx),
            "markPrice": _price(spec, mark),
            "prevPrice1h": _price(spec, opened),
            "openInterest": "0",
            "openInterestValue": "0.00",
            "fundingRate": _plain(state.funding_rate) if state.funding_rate is not None else "",
            "nextFundingTime": str(state.next_funding_ns // 1_000_000),
            "predictedDeliveryPrice": "",
            "basisRate": "",
            "deliveryFeeRate": "",
            "deliveryTime": "0",
            "basis": "",
        }
        return row

    async def orderbook(self, request: web.Request) -> web.Response:
        """``GET /v5/market/orderbook``: the recorded top of book (depth is not rebuilt)."""
        q = dict(request.query)
        kind = self.category(q)
        state: MarketState = self.market.markets[self.index_of(kind, q.get("symbol"))]
        spec = state.spec
        bids = [[_price(spec, state.bid), _plain(state.bid_qty)]] if state.bid is not None else []
        asks = [[_price(spec, state.ask), _plain(state.ask_qty)]] if state.ask is not None else []
        quote_ms = state.quote_ts_ns // 1_000_000
        return self.ok(
            {
                "s": spec.symbol,
                "b": bids,
                "a": asks,
                "ts": self.now_ms,
                "u": self.market.cursor,
                "seq": self.market.cursor,
                "cts": quote_ms,
            }
        )

    async def funding_history(self, request: web.Request) -> web.Response:
        """``GET /v5/market/funding/history``: newest first, never past the clock."""
        q = dict(request.query)
        kind = self.category(q, ("linear",))
        index = self.index_of(kind, q.get("symbol"))
        symbol = self.venue.spec(index).symbol
        start, end = _int(q, "startTime", 0), _int(q, "endTime", 2**62)
        if "startTime" in q and "endTime" not in q:
            raise params_error("params error: endTime is required when startTime is set")
        limit = max(1, min(_int(q, "limit", 200), 200))
        now = self.now_ms
        by_time: dict[int, Decimal] = {
            t: rate
            # The emulator's funding CSV rows (EmulatorOptions.funding_history), as its Binance front.
            for t, rate in self.emu._funding_csv.get(symbol, [])
            if t <= now  # never leak settlements from the recording's future
        }
        for s in self.market.settlements:  # recorded settlements win over the CSV
            if s.market == index:
                by_time[s.funding_time_ns // 1_000_000] = s.rate
        times = sorted((t for t in by_time if start <= t <= end), reverse=True)[:limit]
        rows = [
            {"symbol": symbol, "fundingRate": _plain(by_time[t]), "fundingRateTimestamp": str(t)}
            for t in times
        ]
        return self.ok({"category": "linear", "list": rows})

    # -- account -------------------------------------------------------------------------------------

    async def query_api(self, request: web.Request) -> web.Response:
        """``GET /v5/user/query-api``: the key's own record; a UTA account."""
        await self.signed(request)
        key = request.headers.get("X-BAPI-API-KEY", "")
        return self.ok(
            {
                "id": "1000001",
                "note": "carry emulator",
                "apiKey": key,
                "readOnly": 0,
                "secret": "",
                "permissions": {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": []},
                "ips": ["*"],
                "type": 1,
                "deadlineDay": -1,
                "expiredAt": "",
                "createdAt": "2023-01-01T00:00:00Z",
                "unified": 0,
                "uta": 1,
                "userID": 1000001,
                "inviterID": 0,
                "vipLevel": "No VIP",
                "mktMakerLevel": "0",
                "affiliateID": 0,
                "rsaPublicKey": "",
                "isMaster": True,
            }
        )

    async def account_info(self, request: web.Request) -> web.Response:
        """``GET /v5/account/info``: UTA 2.0, regular (cross) margin."""
        await self.signed(request)
        return self.ok(
            {
                "marginMode": "REGULAR_MARGIN",
                "updatedTime": str(self.now_ms),
                "unifiedMarginStatus": 5,
                "dcpStatus": "OFF",
                "timeWindow": 10,
                "smpGroup": 0,
                "isMasterTrader": False,
                "spotHedgingStatus": "OFF",
            }
        )

    async def coin_info(self, request: web.Request) -> web.Response:
        """``GET /v5/asset/coin/query-info``: the coins of the emulated markets (ccxt's currencies)."""
        await self.signed(request)
        coins = sorted({c for m in self.market.markets for c in (m.spec.base, m.spec.quote)})
        rows = [
            {
                "name": coin,
                "coin": coin,
                "remainAmount": "1000000",
                "chains": [
                    {
                        "chainType": coin,
                        "confirmation": "6",
                        "withdrawFee": "0",
                        "depositMin": "0",
                        "withdrawMin": "0",
                        "chain": coin,
                        "chainDeposit": "1",
                        "chainWithdraw": "1",
                        "minAccuracy": "8",
                        "withdrawPercentageFee": "0",
                    }
                ],
            }
            for coin in coins
        ]
        return self.ok({"rows": rows})

    async def wallet_balance(self, request: web.Request) -> web.Response:
        """``GET /v5/account/wallet-balance?accountType=UNIFIED``."""
        params = await self.signed(request)
        if params.get("accountType") != "UNIFIED":
            raise params_error("accountType only support UNIFIED.")
        v = self.venue
        usdm = v.usdm_indices()
        upnl = v.total_unrealized()
        pos_im = sum((v.position_margin(i)[0] for i in usdm), _ZERO)
        pos_mm = sum((v.position_margin(i)[1] for i in usdm), _ZERO)
        order_im = v.open_order_margin()
        settle = {self.venue.spec(i).quote for i in usdm}
        coins = []
        for code in sorted(set(v.spot) | settle):
            asset = v.spot.get(code)
            wallet = (asset.free + asset.locked) if asset else _ZERO
            locked = asset.locked if asset else _ZERO
            is_settle = code in settle
            if is_settle:
                wallet += v.usdm_wallet
            coins.append(
                {
                    "coin": code,
                    "equity": _plain(wallet + (upnl if is_settle else _ZERO)),
                    "usdValue": "",
                    "walletBalance": _plain(wallet),
                    "locked": _plain(locked),
                    "spotHedgingQty": "0",
                    "borrowAmount": "0",
                    "accruedInterest": "0",
                    "totalOrderIM": _plain(order_im if is_settle else _ZERO),
                    "totalPositionIM": _plain(pos_im if is_settle else _ZERO),
                    "totalPositionMM": _plain(pos_mm if is_settle else _ZERO),
                    "unrealisedPnl": _plain(upnl if is_settle else _ZERO),
                    "cumRealisedPnl": _plain(self._realised(None) if is_settle else _ZERO),
                    "bonus": "0",
                    "marginCollateral": True,
                    "collateralSwitch": True,
                }
            )
        margin = v.usdm_wallet + upnl
        account = {
            "accountType": "UNIFIED",
            "accountIMRate": _plain(pos_im / margin) if margin > 0 else "0",
            "accountMMRate": _plain(pos_mm / margin) if margin > 0 else "0",
            "totalEquity": "",
            "totalWalletBalance": "",
            "totalMarginBalance": "",
            "totalAvailableBalance": _plain(v.available_balance()),
            "totalPerpUPL": _plain(upnl),
            "totalInitialMargin": _plain(pos_im + order_im),
            "totalMaintenanceMargin": _plain(pos_mm),
            "accountLTV": "0",
            "coin": coins,
        }
        return self.ok({"list": [account]})

    def _realised(self, symbol: str | None) -> Decimal:
        """Realized P&L net of fees and funding (USD-M income), of one symbol or all."""
        return sum(
            (r.income for r in self.venue.income if symbol is None or r.symbol == symbol),
            _ZERO,
        )

    async def positions(self, request: web.Request) -> web.Response:
        """``GET /v5/position/list`` (linear, one-way mode)."""
        params = await self.signed(request)
        kind = self.category(params, ("linear",))
        if params.get("symbol"):
            rows = [self._position(self.index_of(kind, params["symbol"]))]
        elif params.get("settleCoin") or params.get("baseCoin"):
            coin = params.get("settleCoin") or params.get("baseCoin")
            rows = [
                self._position(i)
                for i in self.venue.usdm_indices()
                if coin in (self.venue.spec(i).quote, self.venue.spec(i).base)
                and (p := self.venue.positions.get(i)) is not None
                and p.qty != 0
            ]
        else:
            raise params_error("params error: symbol or settleCoin is required")
        return self.ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    def _position(self, index: int) -> dict[str, Any]:
        v = self.venue
        spec = v.spec(index)
        pos = v.positions.get(index)
        qty = pos.qty if pos else _ZERO
        entry = pos.entry if pos else _ZERO
        mark = v.mark_price(index)
        im, mm = v.position_margin(index)
        lev = v.leverage.get(index, v.config.leverage)
        side = "Buy" if qty > 0 else "Sell" if qty < 0 else ""
        updated = str(pos.update_ms) if pos else str(self.now_ms)
        return {
            "positionIdx": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": spec.symbol,
            "side": side,
            "size": _qty(spec, abs(qty)),
            "avgPrice": _plain(entry),
            "positionValue": _plain(abs(qty) * entry),
            "tradeMode": 0,
            "positionStatus": "Normal",
            "autoAddMargin": 0,
            "adlRankIndicator": 2 if qty else 0,
            "leverage": str(lev),
            "positionBalance": _plain(im),
            "markPrice": _price(spec, mark),
            "liqPrice": _plain(v.liquidation_price(index)) if qty else "",
            "bustPrice": "",
            "positionMM": _plain(mm),
            "positionIM": _plain(im),
            "tpslMode": "Full",
            "takeProfit": "0.00",
            "stopLoss": "0.00",
            "trailingStop": "0.00",
            "unrealisedPnl": _plain(v.unrealized(index)),
            "curRealisedPnl": _plain(self._realised(spec.symbol)),
            "cumRealisedPnl": _plain(self._realised(spec.symbol)),
            "seq": self.market.cursor,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "createdTime": updated,
            "updatedTime": updated,
        }

    async def set_leverage(self, request: web.Request) -> web.Response:
        """``POST /v5/position/set-leverage`` (one-way mode: buy and sell leverage equal)."""
        params = await self.signed(request)
        kind = self.category(params, ("linear",))
        index = self.index_of(kind, params.get("symbol"))
        buy, sell = str(params.get("buyLeverage", "")), str(params.get("sellLeverage", ""))
        if not buy or buy != sell:
            raise params_error("params error: buyLeverage must equal sellLeverage in one-way mode")
        try:
            lev = int(Decimal(buy))
        except ArithmeticError as exc:
            raise params_error("params error: buyLeverage invalid") from exc
        if lev == self.venue.leverage.get(index, self.venue.config.leverage):
            raise BybitError(110043, "leverage not modified")
        if not 1 <= lev <= 100:
            raise params_error("params error: leverage out of range")
        self.venue.set_leverage(index, lev)
        return self.ok({})

    # -- orders --------------------------------------------------------------------------------------

    async def create_order(self, request: web.Request) -> web.Response:
        """``POST /v5/order/create``."""
        params = await self.signed(request)
        kind = self.category(params)
        link = str(params.get("orderLinkId") or "")
        core = self._core_params(kind, params, link)
        index = self.index_of(kind, params.get("symbol"))
        if link and (index, link) in self.venue.by_client:
            # Bybit: an orderLinkId is unique among all orders, whatever their status.
            self.venue.create_requests[link] += 1
            if kind is SPOT:
                raise BybitError(170141, "Duplicate clientOrderId.")
            raise BybitError(110072, "OrderLinkedID is duplicate")
        try:
            order = self.venue.create_order(kind, core, fill_ratio=request.get(FILL_RATIO_KEY))
        except BinanceError as exc:
            raise _translate(exc, kind) from exc
        if not link:
            self._link_less.add(order.order_id)
        return self.ok({"orderId": order_id(order, kind), "orderLinkId": link})

    def _core_params(self, kind: MarketKind, params: dict[str, Any], link: str) -> dict[str, str]:
        """Bybit's create parameters in the core's (Binance's) terms."""
        side = str(params.get("side") or "")
        if side not in ("Buy", "Sell"):
            raise params_error("params error: side invalid")
        otype = str(params.get("orderType") or "")
        if otype not in ("Market", "Limit"):
            raise params_error("params error: orderType invalid")
        if len(link) > 36:
            raise params_error("params error: orderLinkId is too long (max 36)")
        if str(params.get("positionIdx", "0")) != "0":
            raise BybitError(10001, "position idx not match position mode")
        qty = str(params.get("qty") or "")
        if not qty:
            raise params_error("params error: qty is empty")
        core: dict[str, str] = {
            "symbol": str(params.get("symbol") or ""),
            "side": side.upper(),
            "type": otype.upper(),
            "quantity": qty,
        }
        if link:
            core["newClientOrderId"] = link
        reduce_only = params.get("reduceOnly")
        if reduce_only in (True, "true", "True"):
            if kind is SPOT:
                raise params_error("params error: reduceOnly is not supported for spot")
            core["reduceOnly"] = "true"
        tif = str(params.get("timeInForce") or ("IOC" if otype == "Market" else "GTC"))
        if otype == "Limit":
            core["price"] = str(params.get("price") or "")
            if tif == "PostOnly":
                if kind is SPOT:
                    core["type"] = "LIMIT_MAKER"
                else:
                    core["timeInForce"] = "GTX"
            elif tif in ("GTC", "IOC", "FOK"):
                core["timeInForce"] = tif
            else:
                raise params_error("params error: timeInForce invalid")
        elif kind is SPOT:
            # UTA spot market orders: by default a Buy's qty is in the quote coin, a Sell's in the base.
            unit = params.get("marketUnit") or ("quoteCoin" if side == "Buy" else "baseCoin")
            if unit == "quoteCoin":
                core["quoteOrderQty"] = core.pop("quantity")
        return core

    def _find(self, kind: MarketKind, params: dict[str, Any]) -> Order | None:
        """The order named by ``orderId`` (first, as Bybit) or ``orderLinkId`` in this category."""
        index = self.index_of(kind, params.get("symbol")) if params.get("symbol") else None
        oid, link = str(params.get("orderId") or ""), str(params.get("orderLinkId") or "")
        order: Order | None = None
        if oid:
            core_id = parse_order_id(oid)
            order = self.venue.by_id.get(core_id) if core_id is not None else None
        elif link:
            if index is not None:
                order = self.venue.by_client.get((index, link))
            else:
                order = next(
                    (o for (i, c), o in self.venue.by_client.items() if c == link and self._kind(o) is kind),
                    None,
                )
        if order is None or self._kind(order) is not kind or (index is not None and order.market != index):
            return None
        if link and self._link(order) != link:
            return None
        return order

    def _kind(self, order: Order) -> MarketKind:
        return self.venue.spec(order.market).kind

    def _link(self, order: Order) -> str:
        return "" if order.order_id in self._link_less else order.client_id

    async def cancel_order(self, request: web.Request) -> web.Response:
        """``POST /v5/order/cancel``."""
        params = await self.signed(request)
        kind = self.category(params)
        self.index_of(kind, params.get("symbol"))
        if not params.get("orderId") and not params.get("orderLinkId"):
            raise params_error("params error: orderId or orderLinkId is required")
        order = self._find(kind, params)
        if order is None or not order.is_open:
            raise _translate(BinanceError(-2011, "Unknown order sent."), kind)
        self.venue.cancel_order(kind, {"symbol": order.symbol, "orderId": str(order.order_id)})
        return self.ok({"orderId": order_id(order, kind), "orderLinkId": self._link(order)})

    async def cancel_all(self, request: web.Request) -> web.Response:
        """``POST /v5/order/cancel-all``."""
        params = await self.signed(request)
        kind = self.category(params)
        symbol = params.get("symbol") or None
        if kind is USDM and not symbol and not params.get("settleCoin") and not params.get("baseCoin"):
            raise params_error("params error: symbol, baseCoin or settleCoin is required")
        orders = self.venue.open_orders(kind, str(symbol) if symbol else None)
        for o in orders:
            self.venue.cancel_order(kind, {"symbol": o.symbol, "orderId": str(o.order_id)})
        rows = [{"orderId": order_id(o, kind), "orderLinkId": self._link(o)} for o in orders]
        return self.ok({"list": rows, "success": "1"})

    async def realtime(self, request: web.Request) -> web.Response:
        """``GET /v5/order/realtime``: open orders, or one order by id among the 500 newest."""
        params = await self.signed(request)
        kind = self.category(params)
        if params.get("orderId") or params.get("orderLinkId"):
            found = self._find(kind, params)
            recent = {o.order_id for o in self._recent(kind)}
            orders = [found] if found is not None and (found.is_open or found.order_id in recent) else []
        else:
            if kind is USDM and not (
                params.get("symbol") or params.get("settleCoin") or params.get("baseCoin")
            ):
                raise params_error("params error: symbol, baseCoin or settleCoin is required")
            symbol = params.get("symbol") or None
            orders = self.venue.open_orders(kind, str(symbol) if symbol else None)
            if str(params.get("openOnly", "0")) == "1":
                orders = orders + [o for o in self._recent(kind) if symbol in (None, o.symbol)]
        orders.sort(key=lambda o: (o.time_ms, o.order_id), reverse=True)
        limit = max(1, min(_int(params, "limit", 20), 50))
        rows = [self._order(o) for o in orders[:limit]]
        return self.ok({"category": params["category"], "list": rows, "nextPageCursor": ""})

    def _recent(self, kind: MarketKind) -> list[Order]:
        """The newest closed orders of a category that the realtime endpoint still knows."""
        closed = [o for o in self.venue.orders if not o.is_open and self._kind(o) is kind]
        return closed[-_RECENT_CLOSED:]

    async def history(self, request: web.Request) -> web.Response:
        """``GET /v5/order/history``: final orders, newest first."""
        params = await self.signed(request)
        kind = self.category(params)
        if params.get("orderId") or params.get("orderLinkId"):
            found = self._find(kind, params)
            orders = [found] if found is not None else []
        else:
            symbol = params.get("symbol")
            index = self.index_of(kind, symbol) if symbol else None
            orders = [
                o
                for o in self.venue.orders
                if not o.is_open and self._kind(o) is kind and (index is None or o.market == index)
            ]
        status = params.get("orderStatus")
        if status:
            wanted = set(str(status).split(","))
            orders = [o for o in orders if self._status(o) in wanted]
        start, end = _int(params, "startTime", 0), _int(params, "endTime", 2**62)
        orders = [o for o in orders if start <= o.time_ms <= end]
        orders.sort(key=lambda o: (o.time_ms, o.order_id), reverse=True)
        limit = max(1, min(_int(params, "limit", 20), 50))
        rows = [self._order(o) for o in orders[:limit]]
        return self.ok({"category": params["category"], "list": rows, "nextPageCursor": ""})

    def _status(self, o: Order) -> str:
        if o.status == "NEW":
            return "New"
        if o.status == "PARTIALLY_FILLED":
            return "PartiallyFilled"
        if o.status == "FILLED":
            return "Filled"
        if o.executed > 0 and self._kind(o) is SPOT:
            return "PartiallyFilledCanceled"
        return "Cancelled"  # canceled by the user, or an IOC/market remainder (derivatives: even if filled)

    def _order(self, o: Order) -> dict[str, Any]:
        """Bybit's order object."""
        kind = self._kind(o)
        spec = self.venue.spec(o.market)
        fee = sum((f.commission for f in o.fills), _ZERO)
        fee_coin = o.fills[0].commission_asset if o.fills else ""
        market = o.type == "MARKET"
        tif = {"GTX": "PostOnly"}.get(o.time_in_force, o.time_in_force)
        if market:
            tif = "IOC"
        elif o.type == "LIMIT_MAKER":
            tif = "PostOnly"
        status = self._status(o)
        leaves = o.remaining if o.is_open else _ZERO
        row: dict[str, Any] = {
            "orderId": order_id(o, kind),
            "orderLinkId": self._link(o),
            "blockTradeId": "",
            "symbol": o.symbol,
            "price": "0" if market else _price(spec, o.price),
            "qty": _qty(spec, o.qty),
            "side": "Buy" if o.side == "BUY" else "Sell",
            "isLeverage": "0" if kind is SPOT else "",
            "positionIdx": 0,
            "orderStatus": status,
            "cancelType": _cancel_type(o, status),
            "rejectReason": "EC_NoError",
            "avgPrice": _plain(o.avg_price) if o.executed else ("" if kind is SPOT else "0"),
            "leavesQty": _qty(spec, leaves),
            "leavesValue": _plain(leaves * o.price),
            "cumExecQty": _qty(spec, o.executed),
            "cumExecValue": _plain(o.cum_quote),
            "cumExecFee": _plain(fee),
            "timeInForce": tif,
            "orderType": "Market" if market else "Limit",
            "stopOrderType": "",
            "orderIv": "",
            "marketUnit": "baseCoin" if kind is SPOT and market else "",
            "triggerPrice": "0.00",
            "takeProfit": "0.00",
            "stopLoss": "0.00",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": 0,
            "triggerBy": "",
            "lastPriceOnCreated": "",
            "reduceOnly": o.reduce_only,
            "closeOnTrigger": False,
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "placeType": "",
            "createdTime": str(o.time_ms),
            "updatedTime": str(o.update_ms),
        }
        if kind is USDM:
            row |= {"tpslMode": "", "tpLimitPrice": "0.00", "slLimitPrice": "0.00"}
        if fee_coin:
            row["cumFeeDetail"] = {fee_coin: _plain(fee)}
        return row

    async def executions(self, request: web.Request) -> web.Response:
        """``GET /v5/execution/list``: the account's fills, newest first."""
        params = await self.signed(request)
        kind = self.category(params)
        symbol = params.get("symbol")
        index = self.index_of(kind, symbol) if symbol else None
        if params.get("orderId") or params.get("orderLinkId"):
            found = self._find(kind, params)
            orders = [found] if found is not None else []
        else:
            orders = [o for o in self.venue.orders if self._kind(o) is kind]
        pairs = [(o, f) for o in orders if index is None or o.market == index for f in o.fills]
        start, end = _int(params, "startTime", 0), _int(params, "endTime", 2**62)
        pairs = [(o, f) for o, f in pairs if start <= f.time_ms <= end]
        pairs.sort(key=lambda p: p[1].trade_id, reverse=True)
        limit = max(1, min(_int(params, "limit", 50), 100))
        rows = [self._execution(o, f) for o, f in pairs[:limit]]
        return self.ok({"category": params["category"], "list": rows, "nextPageCursor": ""})

    def _execution(self, o: Order, f: Fill) -> dict[str, Any]:
        kind = self._kind(o)
        spec = self.venue.spec(o.market)
        state = self.market.markets[o.market]
        executed_before = sum((x.qty for x in o.fills if x.trade_id <= f.trade_id), _ZERO)
        rate = (
            (self.venue.config.spot_maker_fee if f.maker else self.venue.config.spot_taker_fee)
            if kind is SPOT
            else (self.venue.config.usdm_maker_fee if f.maker else self.venue.config.usdm_taker_fee)
        )
        row: dict[str, Any] = {
            "symbol": o.symbol,
            "orderId": order_id(o, kind),
            "orderLinkId": self._link(o),
            "side": "Buy" if o.side == "BUY" else "Sell",
            "orderPrice": "0" if o.type == "MARKET" else _price(spec, o.price),
            "orderQty": _qty(spec, o.qty),
            "leavesQty": _qty(spec, o.qty - executed_before),
            "orderType": "Market" if o.type == "MARKET" else "Limit",
            "stopOrderType": "",
            "execFee": _plain(f.commission),
            "execId": _exec_id(f, kind),
            "execPrice": _price(spec, f.price),
            "execQty": _qty(spec, f.qty),
            "execType": "Trade",
            "execValue": _plain(f.price * f.qty),
            "execTime": str(f.time_ms),
            "isMaker": f.maker,
            "feeRate": _plain(rate),
            "tradeIv": "",
            "markIv": "",
            "markPrice": _price(spec, self.venue.mark_price(o.market) if kind is USDM else f.price),
            "indexPrice": ""
            if kind is SPOT
            else _price(spec, state.index or self.venue.mark_price(o.market)),
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": "0",
            "seq": f.trade_id,
        }
        if kind is SPOT:
            row["feeCurrency"] = f.commission_asset
        else:
            row["createType"] = "CreateByUser"
        return row


async def _request_kind(request: web.Request) -> MarketKind:
    """The category a /v5 request names (query, or JSON body of a POST); linear when it names none."""
    name = request.query.get("category", "")
    if not name and request.method == "POST" and request.body_exists:
        try:
            body = orjson.loads(await request.read())  # aiohttp keeps the body for the handler
        except orjson.JSONDecodeError:
            body = {}
        name = str(body.get("category", "")) if isinstance(body, dict) else ""
    return _CATEGORIES.get(name, USDM)


def _cancel_type(o: Order, status: str) -> str:
    # A resting GTC order ends Cancelled only by a cancel; IOC/market remainders are the engine's.
    if status == "Cancelled" and o.type != "MARKET" and o.time_in_force == "GTC":
        return "CancelByUser"
    return "UNKNOWN"


def _int(params: dict[str, Any], name: str, default: int) -> int:
    """An integer parameter, or Bybit's 10001 when it is not one."""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise params_error(f"params error: {name} invalid") from exc


def add_routes(emu: Emulator) -> None:
    """Register Bybit's ``/v5`` routes on ``emu.app`` and the middleware giving Bybit's error shapes."""
    front = BybitFront(emu)
    # Outermost, so it also sees (and reshapes) what the fault middleware answers on /v5/ paths.
    emu.app.middlewares.insert(0, front.middleware)
    r = emu.app.router
    r.add_get("/v5/market/time", front.server_time)
    r.add_get("/v5/market/instruments-info", front.instruments)
    r.add_get("/v5/market/tickers", front.tickers)
    r.add_get("/v5/market/orderbook", front.orderbook)
    r.add_get("/v5/market/funding/history", front.funding_history)
    r.add_get("/v5/user/query-api", front.query_api)
    r.add_get("/v5/account/info", front.account_info)
    r.add_get("/v5/asset/coin/query-info", front.coin_info)
    r.add_get("/v5/account/wallet-balance", front.wallet_balance)
    r.add_get("/v5/position/list", front.positions)
    r.add_post("/v5/position/set-leverage", front.set_leverage)
    r.add_post("/v5/order/create", front.create_order)
    r.add_post("/v5/order/cancel", front.cancel_order)
    r.add_post("/v5/order/cancel-all", front.cancel_all)
    r.add_get("/v5/order/realtime", front.realtime)
    r.add_get("/v5/order/history", front.history)
    r.add_get("/v5/execution/list", front.executions)
