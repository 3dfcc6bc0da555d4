"""OKX v5 REST (``/api/v5/...``) on the emulator's exchange core, for ccxt's ``okx`` class.

The same `Venue` (accounts, orders, matching against the replayed recordings, funding) answers in OKX's
words: instruments ``BTC-USDT`` (SPOT) and ``BTC-USDT-SWAP`` (linear, ``ctVal`` 0.01 BTC) with OKX's own
grid (tick 0.1; spot lot 1e-8, min 1e-5 BTC; swap lot and min 0.01 contract), sizes of SWAP orders,
fills and positions in contracts (converted to the core's base units here), ``{"code", "msg", "data"}``
envelopes with per-order ``sCode``/``sMsg``, and OKX's request signing:
``OK-ACCESS-SIGN = base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath[?query] + body))`` with
``OK-ACCESS-KEY``, ``OK-ACCESS-TIMESTAMP`` (ISO, within 30 s) and ``OK-ACCESS-PASSPHRASE``. A placement
carrying the ``expTime`` header (ms since the epoch) that arrives after it is refused unprocessed with
50102, as OKX does.

Demo trading: every key is a demo key unless `VenueConfig.live_keys` lists it; a demo key without the
``x-simulated-trading: 1`` header, or a live key with it, gets OKX's 50101.

Known simplifications: one unified account view over the core's two pools (spot balances and the USD-M
wallet: the USDT line adds them, but a spot buy still draws on spot USDT only); net position mode and
cross margin only (``isolated`` is booked as cross); the order book has one level (the recorded top of
book, moved onto OKX's tick); index and mark are the recorded Binance ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from engine.venues.emulator.faults import FILL_RATIO_KEY, FaultRule
from engine.venues.emulator.market import MarketKind, MarketSpec
from engine.venues.emulator.venue import BinanceError, Fill, Order, on_grid

if TYPE_CHECKING:
    from engine.venues.emulator.app import Emulator

PREFIX = "/api/v5"
_ZERO = Decimal(0)
_FUNDING_INTERVAL_MS = 8 * 3600 * 1000
_MAX_SKEW_S = 30.0
_CL_ORD_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
# Paths whose errors OKX reports per order (``code`` "1" and the reason in ``data[].sCode``).
_ORDER_PATHS = ("/api/v5/trade/order", "/api/v5/trade/batch-orders", "/api/v5/trade/cancel-order")
_STATE = {
    "NEW": "live",
    "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled",
    "CANCELED": "canceled",
    "EXPIRED": "canceled",  # OKX cancels an IOC/market remainder
}


class OkxError(Exception):
    """An OKX error answer: ``code`` (top level, or ``sCode`` of an order), ``msg``, HTTP status."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def _empty(param: str) -> OkxError:
    return OkxError("50014", f"Parameter {param} can not be empty.")


def _bad(param: str) -> OkxError:
    return OkxError("51000", f"Parameter {param} error")


def _s(x: Decimal) -> str:
    """A decimal as OKX writes it: plain, no exponent, no trailing zeros."""
    return "0" if x == 0 else f"{x.normalize():f}"


okx_text = _s  # the same, for the websocket front (`engine.venues.emulator.okx_ws`)


def _dec(params: dict[str, Any], name: str) -> Decimal:
    text = params.get(name)
    if text is None or text == "":
        raise _empty(name)
    try:
        value = Decimal(str(text))
    except InvalidOperation as exc:
        raise _bad(name) from exc
    if not value.is_finite() or value <= 0:
        raise _bad(name)
    return value


@dataclass(frozen=True)
class OkxInstrument:
    """One OKX instrument over a core market.

    Attributes
    ----------
    inst_id : str
        ``BTC-USDT`` or ``BTC-USDT-SWAP``.
    inst_type : str
        ``SPOT`` or ``SWAP``.
    market : int
        The core market index.
    spec : MarketSpec
        The core market's spec (Binance symbol and kind).
    tick, lot, min_sz : Decimal
        OKX's ``tickSz``, ``lotSz``, ``minSz`` (in contracts for SWAP).
    ct_val : Decimal
        Base units per contract (1 for SPOT).
    """

    inst_id: str
    inst_type: str
    market: int
    spec: MarketSpec
    tick: Decimal
    lot: Decimal
    min_sz: Decimal
    ct_val: Decimal

    @property
    def swap(self) -> bool:
        """A perpetual swap (sizes in contracts)."""
        return self.inst_type == "SWAP"

    def to_sz(self, base_qty: Decimal) -> Decimal:
        """Core base units to OKX size (contracts for SWAP)."""
        return base_qty / self.ct_val

    def to_base(self, sz: Decimal) -> Decimal:
        """OKX size to core base units."""
        return sz * self.ct_val

    def filters(self) -> MarketSpec:
        """OKX's grid for the core's checks, in base units; OKX has no minimum notional."""
        s = self.spec
        return MarketSpec(
            s.kind,
            s.symbol,
            s.base,
            s.quote,
            self.tick,
            self.to_base(self.lot),
            self.to_base(self.min_sz),
            Decimal("1000000"),
            _ZERO,
        )


def _instrument(index: int, spec: MarketSpec) -> OkxInstrument:
    """OKX's BTC-USDT listing (the grid OKX states) for a core market."""
    if spec.kind is MarketKind.SPOT:
        return OkxInstrument(
            f"{spec.base}-{spec.quote}",
            "SPOT",
            index,
            spec,
            Decimal("0.1"),
            Decimal("0.00000001"),
            Decimal("0.00001"),
            Decimal(1),
        )
    return OkxInstrument(
        f"{spec.base}-{spec.quote}-SWAP",
        "SWAP",
        index,
        spec,
        Decimal("0.1"),
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal("0.01"),
    )


def lot_size(inst: OkxInstrument, base_qty: Decimal) -> Decimal:
    """A base quantity in OKX units, on the lot grid (down)."""
    sz = inst.to_sz(base_qty)
    return (sz / inst.lot).to_integral_value(rounding=ROUND_DOWN) * inst.lot


def book_top(
    inst: OkxInstrument, bid: Decimal, ask: Decimal, bid_qty: Decimal, ask_qty: Decimal
) -> tuple[str, str, str, str]:
    """A recorded top of book as OKX states it: bid (down) and ask (up) on its tick, sizes in OKX units.

    Returns
    -------
    tuple of str
        ``(bidPx, bidSz, askPx, askSz)``, shared by REST (``market/books``, tickers) and the websocket.
    """
    bid_px = on_grid(bid, inst.tick, up=False)
    ask_px = on_grid(ask, inst.tick, up=True)
    return _s(bid_px), _s(lot_size(inst, bid_qty)), _s(ask_px), _s(lot_size(inst, ask_qty))


def index_row(family: str, index: Decimal, ts_ms: int) -> dict[str, Any]:
    """One ``index-tickers`` row (REST and websocket): the recorded index; no 24 h history is kept."""
    px = _s(index)
    return {
        "instId": family,
        "idxPx": px,
        "high24h": px,
        "low24h": px,
        "open24h": px,
        "sodUtc0": px,
        "sodUtc8": px,
        "ts": str(ts_ms),
    }


def funding_row(
    inst: OkxInstrument, rate: Decimal | None, next_ms: int, settled: Decimal | None, ts_ms: int
) -> dict[str, Any]:
    """One ``funding-rate`` row (REST and websocket) of a swap.

    Parameters
    ----------
    inst : OkxInstrument
        The swap.
    rate : Decimal, optional
        The current (recorded) rate.
    next_ms : int
        The coming settlement (``fundingTime``); ``nextFundingTime`` is the one after.
    settled : Decimal, optional
        The last settled rate (``settFundingRate``; the current rate before any settlement).
    ts_ms : int
        The row's ``ts``.
    """
    text = _s(rate) if rate is not None else ""
    return {
        "instType": "SWAP",
        "instId": inst.inst_id,
        "method": "current_period",
        "formulaType": "noRate",
        "fundingRate": text,
        "nextFundingRate": "",
        "fundingTime": str(next_ms),
        "nextFundingTime": str(next_ms + _FUNDING_INTERVAL_MS),
        "minFundingRate": "-0.0075",
        "maxFundingRate": "0.0075",
        "interestRate": "0.0001",
        "impactValue": "",
        "premium": "",
        "sett": "",
        "settState": "settled",
        "settFundingRate": _s(settled) if settled is not None else text,
        "ts": str(ts_ms),
    }


def _ok(data: list[dict[str, Any]], status: int = 200) -> web.Response:
    return _json({"code": "0", "msg": "", "data": data}, status)


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error_body(code: str, msg: str, path: str) -> dict[str, Any]:
    """OKX's error envelope; order endpoints put the reason in the order's ``sCode``/``sMsg``."""
    if path in _ORDER_PATHS:
        row = {"clOrdId": "", "ordId": "", "tag": "", "ts": str(int(time.time() * 1000))}
        row |= {"sCode": code, "sMsg": msg}
        return {"code": "1", "msg": "All operations failed", "data": [row]}
    return {"code": code, "msg": msg, "data": []}


def _auth_status(code: str) -> int:
    return 401 if code.startswith("501") else 200


def fault_body(kind: str, rule: FaultRule, path: str) -> tuple[dict[str, Any], int]:
    """OKX's words for a fault: 50011 with HTTP 429, or the rule's code (a Binance default -> 51008)."""
    if kind == "rate_limit":
        return {"code": "50011", "msg": "Too Many Requests", "data": []}, 429
    code = str(rule.code) if rule.code > 0 else "51008"
    return _error_body(code, rule.msg, path), _auth_status(code)


def _from_core(exc: BinanceError) -> OkxError:
    """The OKX answer to a core (Binance-worded) rejection."""
    low = exc.msg.lower()
    if exc.code in (-2019, -2018) or (exc.code == -2010 and "insufficient" in low):
        return OkxError("51008", "Order failed. Insufficient USDT margin in account")
    if exc.code == -4116 or (exc.code == -2010 and "duplicate" in low):
        return OkxError("51016", "Duplicated clOrdId")
    if exc.code == -2013:
        return OkxError("51603", "Order does not exist")
    if exc.code == -2011:
        return OkxError(
            "51400", "Order cancellation failed as the order has been filled, canceled or does not exist"
        )
    if exc.code == -2022:
        return OkxError(
            "51169",
            "Order failed because you don't have any positions in this direction for this contract "
            "to reduce or close.",
        )
    if exc.code == -1121:
        return OkxError("51001", "Instrument ID does not exist.")
    return OkxError("51000", f"Parameter error: {exc.msg}")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answers_okx(fn: Handler) -> Handler:
    """Render `OkxError` and core `BinanceError` in OKX's envelope for this handler."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except BinanceError as exc:
            err = _from_core(exc)
            return _json(_error_body(err.code, err.msg, request.path), _auth_status(err.code))
        except OkxError as exc:
            return _json(_error_body(exc.code, exc.msg, request.path), exc.status)

    return handler


class OkxFront:
    """OKX v5 routes over one emulator's core.

    Parameters
    ----------
    emu : Emulator
        The emulator whose market and venue this front serves.
    """

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.venue = emu.venue
        self.market = emu.market
        self.instruments: dict[str, OkxInstrument] = {}
        for i, m in enumerate(self.market.markets):
            inst = _instrument(i, m.spec)
            self.instruments[inst.inst_id] = inst
        self.by_market = {inst.market: inst for inst in self.instruments.values()}
        # What the client asked for, which the core does not keep: OKX ordType, tdMode, tgtCcy.
        self._asked: dict[int, tuple[str, str, str]] = {}

    def add_routes(self, app: web.Application) -> None:
        """Register the public and private ``/api/v5`` routes on ``app``."""
        r = app.router
        get = {
            "public/time": self._time,
            "system/status": self._status,
            "public/instruments": self._instruments,
            "market/ticker": self._ticker,
            "market/tickers": self._tickers,
            "market/books": self._books,
            "public/mark-price": self._mark_price,
            "market/index-tickers": self._index_tickers,
            "public/funding-rate": self._funding_rate,
            "public/funding-rate-history": self._funding_history,
            "asset/currencies": self._currencies,
            "account/config": self._account_config,
            "account/balance": self._balance,
            "account/positions": self._positions,
            "trade/order": self._get_order,
            "trade/orders-pending": self._orders_pending,
            "trade/orders-history": self._orders_history,
            "trade/orders-history-archive": self._orders_history,
            "trade/fills": self._fills,
            "trade/fills-history": self._fills,
        }
        post = {
            "trade/order": self._create_order,
            "trade/batch-orders": self._create_batch,
            "trade/cancel-order": self._cancel_order,
        }
        for path, fn in get.items():
            r.add_get(f"{PREFIX}/{path}", _answers_okx(fn))
        for path, fn in post.items():
            r.add_post(f"{PREFIX}/{path}", _answers_okx(fn))

    # ---- plumbing ---------------------------------------------------------------------------------

    @property
    def _now_ms(self) -> int:
        return self.market.now_ms

    def _inst(self, inst_id: str | None) -> OkxInstrument:
        if not inst_id:
            raise _empty("instId")
        inst = self.instruments.get(inst_id)
        if inst is None:
            raise OkxError("51001", "Instrument ID does not exist.")
        return inst

    def _selected(self, q: dict[str, str], *, type_required: bool = False) -> list[OkxInstrument]:
        """Instruments named by ``instId`` or ``instType`` (all when neither is given)."""
        if q.get("instId"):
            return [self._inst(q["instId"])]
        inst_type = q.get("instType")
        if not inst_type:
            if type_required:
                raise _empty("instType")
            return list(self.instruments.values())
        if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            raise _bad("instType")
        return [i for i in self.instruments.values() if i.inst_type == inst_type]

    async def _signed(self, request: web.Request) -> dict[str, Any]:
        """Check key, passphrase, timestamp, signature and environment as OKX does; return the params."""
        h = request.headers
        key = h.get("OK-ACCESS-KEY")
        if not key:
            raise OkxError("50103", "Request header OK-ACCESS-KEY can not be empty.", 401)
        for name, code in (("OK-ACCESS-PASSPHRASE", "50104"), ("OK-ACCESS-SIGN", "50106")):
            if not h.get(name):
                raise OkxError(code, f"Request header {name} can not be empty.", 401)
        stamp = h.get("OK-ACCESS-TIMESTAMP")
        if not stamp:
            raise OkxError("50107", "Request header OK-ACCESS-TIMESTAMP can not be empty.", 401)
        config = self.venue.config
        secret = config.api_keys.get(key)
        if secret is None:
            raise OkxError("50111", "Invalid OK-ACCESS-KEY.", 401)
        if not hmac.compare_digest(config.passphrases.get(key, ""), h["OK-ACCESS-PASSPHRASE"]):
            raise OkxError("50105", "Request header OK-ACCESS-PASSPHRASE incorrect.", 401)
        try:
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError as exc:
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP.", 401) from exc
        # Checked against wall time: ccxt stamps requests with the machine's clock.
        if abs(time.time() - sent) > _MAX_SKEW_S:
            raise OkxError("50102", "Timestamp request expired.", 401)
        body = await request.text() if request.body_exists else ""
        # requestPath with its raw query, as the client sent it (GET), then the raw body.
        prehash = stamp + request.method + request.raw_path + body
        expected = base64.b64encode(hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected.decode(), h["OK-ACCESS-SIGN"]):
            raise OkxError("50113", "Invalid Sign", 401)
        demo = h.get("x-simulated-trading") == "1"
        if demo == (key in config.live_keys):
            raise OkxError("50101", "APIKey does not match current environment.", 401)
        if request.method == "GET":
            return dict(request.query)
        if not body:
            return {}
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise OkxError("50002", "Invalid JSON format.") from exc
        return parsed if isinstance(parsed, dict) else {"__batch__": parsed}

    # ---- public ------------------------------------------------------------------------------------

    async def _time(self, request: web.Request) -> web.Response:
        return _ok([{"ts": str(int(time.time() * 1000))}])

    async def _status(self, request: web.Request) -> web.Response:
        return _ok([])

    async def _instruments(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        selected = self._selected(q, type_required=True)
        return _ok([self.instrument_row(i) for i in selected])

    def instrument_row(self, inst: OkxInstrument) -> dict[str, Any]:
        """One ``public/instruments`` row (also the websocket ``instruments`` channel's)."""
        s = inst.spec
        row: dict[str, Any] = {
            "instType": inst.inst_type,
            "instId": inst.inst_id,
            "instIdCode": 10000 + inst.market,
            "uly": "",
            "instFamily": "",
            "category": "1",
            "baseCcy": s.base,
            "quoteCcy": s.quote,
            "settleCcy": "",
            "ctVal": "",
            "ctMult": "",
            "ctValCcy": "",
            "ctType": "",
            "optType": "",
            "stk": "",
            "listTime": "1548133413000",
            "contTdSwTime": "1548133413000",
            "expTime": "",
            "lever": "10",
            "tickSz": _s(inst.tick),
            "lotSz": _s(inst.lot),
            "minSz": _s(inst.min_sz),
            "maxLmtSz": "9999999999",
            "maxMktSz": "1000000",
            "maxLmtAmt": "20000000",
            "maxMktAmt": "1000000",
            "maxTwapSz": "9999999999",
            "maxIcebergSz": "9999999999",
            "maxTriggerSz": "9999999999",
            "maxStopSz": "1000000",
            "ruleType": "normal",
            "alias": "",
            "state": "live",
            "auctionEndTime": "",
            "openType": "",
            "tradeQuoteCcyList": [s.quote],
        }
        if inst.swap:
            family = f"{s.base}-{s.quote}"
            row |= {
                "uly": family,
                "instFamily": family,
                "baseCcy": "",
                "quoteCcy": "",
                "settleCcy": s.quote,
                "ctVal": _s(inst.ct_val),
                "ctMult": "1",
                "ctValCcy": s.base,
                "ctType": "linear",
                "lever": "100",
                "maxLmtSz": "100000000",
                "maxMktSz": "12000",
                "maxStopSz": "12000",
                "tradeQuoteCcyList": [],
            }
        return row

    def _book(self, inst: OkxInstrument) -> tuple[str, str, str, str]:
        """Best bid/ask on OKX's tick (bid down, ask up) and their sizes in OKX units."""
        st = self.market.markets[inst.market]
        if st.bid is None or st.ask is None:
            return "", "", "", ""
        return book_top(inst, st.bid, st.ask, st.bid_qty, st.ask_qty)

    def _ticker_row(self, inst: OkxInstrument) -> dict[str, Any]:
        st = self.market.markets[inst.market]
        t = st.ticker
        bid, bid_sz, ask, ask_sz = self._book(inst)
        last = t.last if t.last is not None else (st.bid or _ZERO)
        volume = t.volume
        return {
            "instType": inst.inst_type,
            "instId": inst.inst_id,
            "last": _s(last),
            "lastSz": _s(inst.to_sz(t.last_qty)),
            "askPx": ask,
            "askSz": ask_sz,
            "bidPx": bid,
            "bidSz": bid_sz,
            "open24h": _s(t.open if t.open is not None else last),
            "high24h": _s(t.high if t.high is not None else last),
            "low24h": _s(t.low if t.low is not None else last),
            # SPOT: vol24h base, volCcy24h quote; SWAP: vol24h contracts, volCcy24h base.
            "volCcy24h": _s(volume if inst.swap else t.quote_volume),
            "vol24h": _s(inst.to_sz(volume)),
            "ts": str(self._now_ms),
            "sodUtc0": _s(t.open if t.open is not None else last),
            "sodUtc8": _s(t.open if t.open is not None else last),
        }

    async def _ticker(self, request: web.Request) -> web.Response:
        return _ok([self._ticker_row(self._inst(request.query.get("instId")))])

    async def _tickers(self, request: web.Request) -> web.Response:
        selected = self._selected({"instType": request.query.get("instType", "")}, type_required=True)
        return _ok([self._ticker_row(i) for i in selected])

    async def _books(self, request: web.Request) -> web.Response:
        inst = self._inst(request.query.get("instId"))
        bid, bid_sz, ask, ask_sz = self._book(inst)
        # One level: the recorded top of book (the loader does not rebuild depth).
        row = {
            "asks": [[ask, ask_sz, "0", "1"]] if ask else [],
            "bids": [[bid, bid_sz, "0", "1"]] if bid else [],
            "ts": str(self._now_ms),
        }
        return _ok([row])

    def _swaps(self, q: dict[str, str]) -> list[OkxInstrument]:
        return [i for i in self._selected(q) if i.swap]

    async def _mark_price(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        rows = [
            {
                "instType": i.inst_type,
                "instId": i.inst_id,
                "markPx": _s(self.venue.mark_price(i.market)),
                "ts": str(self.market.markets[i.market].mark_ts_ns // 1_000_000 or self._now_ms),
            }
            for i in self._swaps(q)
        ]
        return _ok(rows)

    async def _index_tickers(self, request: web.Request) -> web.Response:
        """Index of ``BTC-USDT`` (the recorded index of the USDT perpetual on that pair)."""
        inst_id, quote = request.query.get("instId"), request.query.get("quoteCcy")
        if not inst_id and not quote:
            raise OkxError("50014", "Parameter quoteCcy or instId can not be empty.")
        rows = []
        for i in self.instruments.values():
            st = self.market.markets[i.market]
            family = f"{i.spec.base}-{i.spec.quote}"
            if not i.swap or st.index is None or (inst_id and inst_id != family):
                continue
            if quote and quote != i.spec.quote:
                continue
            rows.append(index_row(family, st.index, st.mark_ts_ns // 1_000_000 or self._now_ms))
        return _ok(rows)

    async def _funding_rate(self, request: web.Request) -> web.Response:
        inst = self._inst(request.query.get("instId"))
        if not inst.swap:
            raise OkxError("51001", "Instrument ID does not exist.")
        st = self.market.markets[inst.market]
        row = funding_row(
            inst,
            st.funding_rate,
            st.next_funding_ns // 1_000_000,
            self.settled_rate(inst),
            st.mark_ts_ns // 1_000_000 or self._now_ms,
        )
        return _ok([row])

    def settled_rate(self, inst: OkxInstrument) -> Decimal | None:
        """The rate of the swap's last settlement the clock has passed, if any."""
        settled = [s for s in self.market.settlements if s.market == inst.market]
        return settled[-1].rate if settled else None

    async def _funding_history(self, request: web.Request) -> web.Response:
        """Settled rates, newest first: the recording's settlements, then the funding CSV up to the clock."""
        q = dict(request.query)
        inst = self._inst(q.get("instId"))
        if not inst.swap:
            raise OkxError("51001", "Instrument ID does not exist.")
        by_time: dict[int, Decimal] = {}
        for t, rate in self.emu._funding_csv.get(inst.spec.symbol, []):
            if t <= self._now_ms:
                by_time[t] = rate
        for s in self.market.settlements:
            if s.market == inst.market:
                by_time[s.funding_time_ns // 1_000_000] = s.rate
        before, after = _int(q, "before", -1), _int(q, "after", 2**62)
        limit = min(max(_int(q, "limit", 100), 1), 400)
        times = [t for t in sorted(by_time, reverse=True) if before < t < after]
        # `before` pages towards newer records: the oldest `limit` above it; else the newest.
        times = times[-limit:] if "before" in q and "after" not in q else times[:limit]
        rows = [
            {
                "instType": "SWAP",
                "instId": inst.inst_id,
                "formulaType": "noRate",
                "fundingRate": _s(by_time[t]),
                "realizedRate": _s(by_time[t]),
                "fundingTime": str(t),
                "method": "current_period",
            }
            for t in times
        ]
        return _ok(rows)

    # ---- account -----------------------------------------------------------------------------------

    async def _currencies(self, request: web.Request) -> web.Response:
        await self._signed(request)
        assets = sorted({a for i in self.instruments.values() for a in (i.spec.base, i.spec.quote)})
        rows = [
            {
                "ccy": a,
                "name": a,
                "chain": f"{a}-ERC20",
                "canDep": True,
                "canWd": True,
                "canInternal": True,
                "minWd": "0.001",
                "maxWd": "1000000",
                "minFee": "0.0001",
                "maxFee": "0.001",
                "wdTickSz": "8",
                "mainNet": False,
            }
            for a in assets
        ]
        return _ok(rows)

    async def _account_config(self, request: web.Request) -> web.Response:
        await self._signed(request)
        row = {
            "uid": "44705892343619584",
            "mainUid": "44705892343619584",
            "acctLv": "2",  # single-currency margin: spot and swaps in one trading account
            "acctStpMode": "cancel_maker",
            "posMode": "net_mode",
            "autoLoan": False,
            "greeksType": "PA",
            "level": "Lv1",
            "levelTmp": "",
            "ctIsoMode": "automatic",
            "mgnIsoMode": "automatic",
            "roleType": "0",
            "spotRoleType": "0",
            "traderInsts": [],
            "spotTraderInsts": [],
            "opAuth": "0",
            "kycLv": "2",
            "label": "carry-emulator",
            "ip": "",
            "perm": "read_only,trade",
            "liquidationGear": "-1",
            "enableSpotBorrow": False,
            "spotBorrowAutoRepay": False,
            "type": "0",
            "settleCcy": "USDT",
            "settleCcyList": ["USDT"],
        }
        return _ok([row])

    async def _balance(self, request: web.Request) -> web.Response:
        q = await self._signed(request)
        v = self.venue
        wanted = {c for c in str(q.get("ccy", "")).split(",") if c}
        margin_asset = next((i.spec.quote for i in self.instruments.values() if i.swap), "USDT")
        upl = v.total_unrealized()
        frozen_margin = v.open_order_margin() + sum(
            (v.position_margin(i)[0] for i in v.usdm_indices()), _ZERO
        )
        details = []
        for asset in sorted(set(v.spot) | {margin_asset}):
            holding = v.spot.get(asset)
            free = holding.free if holding else _ZERO
            locked = holding.locked if holding else _ZERO
            cash, avail, frozen, asset_upl = free + locked, free, locked, _ZERO
            if asset == margin_asset:
                cash += v.usdm_wallet
                avail += v.available_balance()
                frozen += frozen_margin
                asset_upl = upl
            if wanted and asset not in wanted:
                continue
            eq = cash + asset_upl
            details.append(
                {
                    "ccy": asset,
                    "eq": _s(eq),
                    "cashBal": _s(cash),
                    "availBal": _s(avail),
                    "availEq": _s(avail),
                    "frozenBal": _s(frozen),
                    "ordFrozen": _s(locked + (v.open_order_margin() if asset == margin_asset else _ZERO)),
                    "upl": _s(asset_upl),
                    "isoEq": "0",
                    "disEq": _s(eq),
                    "eqUsd": _s(eq),
                    "uTime": str(self._now_ms),
                    "liab": "",
                    "crossLiab": "",
                    "interest": "",
                    "maxLoan": "",
                    "notionalLever": "",
                    "mgnRatio": "",
                    "imr": "",
                    "mmr": "",
                }
            )
        row = {
            "adjEq": "",
            "details": details,
            "imr": _s(frozen_margin),
            "isoEq": "0",
            "mgnRatio": "",
            "mmr": _s(sum((v.position_margin(i)[1] for i in v.usdm_indices()), _ZERO)),
            "notionalUsd": "",
            "ordFroz": _s(v.open_order_margin()),
            "totalEq": "",
            "uTime": str(self._now_ms),
            "upl": _s(upl),
        }
        return _ok([row])

    async def _positions(self, request: web.Request) -> web.Response:
        q = await self._signed(request)
        ids = {x for x in str(q.get("instId", "")).split(",") if x}
        if q.get("instType") not in (None, "", "SWAP", "FUTURES", "OPTION", "MARGIN"):
            raise _bad("instType")
        rows = []
        for inst in self.instruments.values():
            pos = self.venue.positions.get(inst.market)
            if not inst.swap or (ids and inst.inst_id not in ids) or pos is None or pos.qty == 0:
                continue
            rows.append(self._position_row(inst))
        return _ok(rows)

    def _position_row(self, inst: OkxInstrument) -> dict[str, Any]:
        v, i = self.venue, inst.market
        pos = v.positions[i]
        st = self.market.markets[i]
        mark = v.mark_price(i)
        imr, mmr = v.position_margin(i)
        fills = [(o, f) for o in v.orders if o.market == i for f in o.fills]
        realized = sum((f.realized_pnl for _, f in fills), _ZERO)
        fees = sum((f.commission for _, f in fills), _ZERO)
        upl = v.unrealized(i)
        lever = v.leverage.get(i, v.config.leverage)
        notional = abs(pos.qty) * mark
        return {
            "instType": "SWAP",
            "instId": inst.inst_id,
            "mgnMode": "cross",
            "posId": str(1_300_000_000 + i),
            "posSide": "net",
            "pos": _s(inst.to_sz(pos.qty)),
            "posCcy": "",
            "availPos": "",
            "avgPx": _s(pos.entry),
            "upl": _s(upl),
            "uplRatio": _s(upl / (notional / lever)) if notional else "0",
            "uplLastPx": _s(upl),
            "lever": str(lever),
            "liqPx": _s(v.liquidation_price(i)),
            "markPx": _s(mark),
            "idxPx": _s(st.index) if st.index is not None else "",
            "imr": _s(imr),
            "margin": "",
            "mgnRatio": _s((v.usdm_wallet + v.total_unrealized()) / mmr) if mmr else "",
            "mmr": _s(mmr),
            "liab": "",
            "liabCcy": "",
            "interest": "",
            "tradeId": str(fills[-1][1].trade_id) if fills else "",
            "notionalUsd": _s(notional),
            "adl": "1",
            "ccy": inst.spec.quote,
            "last": _s(st.ticker.last) if st.ticker.last is not None else _s(mark),
            "usdPx": "",
            "bePx": "",
            "realizedPnl": _s(realized - fees),
            "pnl": _s(realized),
            "fee": _s(-fees),
            "fundingFee": "0",
            "liqPenalty": "0",
            "closeOrderAlgo": [],
            "cTime": str(fills[0][1].time_ms if fills else pos.update_ms),
            "uTime": str(pos.update_ms),
            "bizRefId": "",
            "bizRefType": "",
        }

    # ---- orders ------------------------------------------------------------------------------------

    @staticmethod
    def _check_expiry(request: web.Request) -> None:
        """OKX's ``expTime`` header: a request arriving after it is not processed (wall time, as OKX)."""
        text = request.headers.get("expTime")
        if text is None:
            return
        if not text.strip().isdigit():
            raise _bad("expTime")
        if int(time.time() * 1000) > int(text):
            raise OkxError("50102", "Timestamp request expired", 401)

    async def _create_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        self._check_expiry(request)
        if "__batch__" in params:
            raise OkxError("50002", "Invalid JSON format.")
        row = self._place(params, request.get(FILL_RATIO_KEY))
        return self._placed([row])

    async def _create_batch(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        self._check_expiry(request)
        batch = params.get("__batch__", [params] if params else [])
        if not isinstance(batch, list) or not batch or len(batch) > 20:
            raise OkxError("50002", "Invalid JSON format.")
        ratio = request.get(FILL_RATIO_KEY)
        return self._placed([self._place(p if isinstance(p, dict) else {}, ratio) for p in batch])

    @staticmethod
    def _placed(rows: list[dict[str, Any]]) -> web.Response:
        failed = sum(1 for r in rows if r["sCode"] != "0")
        if not failed:
            return _json({"code": "0", "msg": "", "data": rows})
        if failed == len(rows):
            return _json({"code": "1", "msg": "All operations failed", "data": rows})
        return _json({"code": "2", "msg": "Batch operation partially succeeded", "data": rows})

    def _place(self, p: dict[str, Any], ratio: float | None) -> dict[str, Any]:
        """Book one order; its answer row (``sCode`` "0" or OKX's reason)."""
        cl = str(p.get("clOrdId") or "")
        row = {"clOrdId": cl, "ordId": "", "tag": str(p.get("tag") or ""), "ts": str(int(time.time() * 1000))}
        try:
            inst, params, asked = self._core_params(p)
        except OkxError as exc:
            if cl:  # it reached the venue, refused before the core saw it
                self.venue.create_requests[cl] += 1
            return row | {"sCode": exc.code, "sMsg": exc.msg}
        try:
            order = self.venue.create_order(inst.spec.kind, params, fill_ratio=ratio, filters=inst.filters())
        except BinanceError as exc:
            err = _from_core(exc)
            return row | {"sCode": err.code, "sMsg": err.msg}
        self._asked[order.order_id] = asked
        return row | {"ordId": str(order.order_id), "sCode": "0", "sMsg": "Order placed"}

    def _core_params(self, p: dict[str, Any]) -> tuple[OkxInstrument, dict[str, str], tuple[str, str, str]]:
        """Validate an OKX order against OKX's rules and grid; the core's (Binance-named) parameters."""
        inst = self._inst(p.get("instId"))
        td_mode = str(p.get("tdMode") or "")
        if not td_mode:
            raise _empty("tdMode")
        if td_mode not in (("cross", "isolated") if inst.swap else ("cash",)):
            raise _bad("tdMode")
        side = str(p.get("side") or "")
        if side not in ("buy", "sell"):
            raise _empty("side") if not side else _bad("side")
        otype = str(p.get("ordType") or "")
        if otype not in ("market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc"):
            raise _empty("ordType") if not otype else _bad("ordType")
        if p.get("posSide") not in (None, "", "net"):
            raise _bad("posSide")
        cl = str(p.get("clOrdId") or "")
        if cl and not _CL_ORD_ID.match(cl):
            raise _bad("clOrdId")
        sz = _dec(p, "sz")
        tgt = str(p.get("tgtCcy") or "base_ccy") if not inst.swap else ""
        params = {"symbol": inst.spec.symbol, "side": side.upper(), "newClientOrderId": cl}
        if str(p.get("reduceOnly", "false")).lower() == "true":
            params["reduceOnly"] = "true"
        by_quote = otype == "market" and tgt == "quote_ccy"
        if by_quote:
            if side != "buy" or inst.swap:
                raise _bad("tgtCcy")
            params["quoteOrderQty"] = str(sz)  # OKX: spend sz of the quote currency
        else:
            if sz % inst.lot:
                raise OkxError(
                    "51121", f"Order quantity must be a multiple of the lot size ({_s(inst.lot)})."
                )
            if sz < inst.min_sz:
                raise OkxError(
                    "51020",
                    f"Order quantity must be at least the minimum order quantity ({_s(inst.min_sz)}).",
                )
            params["quantity"] = str(inst.to_base(sz))
        if otype in ("market", "optimal_limit_ioc"):
            params["type"] = "MARKET"
        else:
            px = _dec(p, "px")
            if px % inst.tick:
                raise OkxError(
                    "51000", f"Parameter px error: not a multiple of the tick size ({_s(inst.tick)})"
                )
            params["price"] = str(px)
            if otype == "post_only":
                params["type"] = "LIMIT" if inst.swap else "LIMIT_MAKER"
                params["timeInForce"] = "GTX" if inst.swap else "GTC"
            else:
                params["type"] = "LIMIT"
                params["timeInForce"] = {"limit": "GTC", "ioc": "IOC", "fok": "FOK"}[otype]
        return inst, params, (otype, td_mode, tgt)

    def _find(self, inst: OkxInstrument, q: dict[str, Any], not_found: OkxError) -> Order:
        ord_id, cl = str(q.get("ordId") or ""), str(q.get("clOrdId") or "")
        if not ord_id and not cl:
            raise OkxError("50014", "Parameter ordId or clOrdId can not be empty.")
        if ord_id and not ord_id.isdigit():
            raise not_found
        params = {"symbol": inst.spec.symbol, "orderId": ord_id, "origClientOrderId": cl}
        try:
            return self.venue.find_order(inst.spec.kind, params, BinanceError(-2013, "not found"))
        except BinanceError as exc:
            raise not_found from exc

    async def _get_order(self, request: web.Request) -> web.Response:
        q = await self._signed(request)
        inst = self._inst(q.get("instId"))
        order = self._find(inst, q, OkxError("51603", "Order does not exist"))
        return _ok([self._order_row(order)])

    async def _cancel_order(self, request: web.Request) -> web.Response:
        q = await self._signed(request)
        inst = self._inst(q.get("instId"))
        gone = "Order cancellation failed as the order has been filled, canceled or does not exist"
        order = self._find(inst, q, OkxError("51400", gone))
        if order.status == "FILLED":
            raise OkxError("51402", "Order cancellation failed as the order has been completed.")
        if not order.is_open:
            raise OkxError("51401", "Order cancellation failed as the order has been canceled.")
        self.venue.cancel_order(inst.spec.kind, {"symbol": inst.spec.symbol, "orderId": str(order.order_id)})
        row = {"clOrdId": order.client_id, "ordId": str(order.order_id), "sCode": "0", "sMsg": ""}
        return _ok([row | {"ts": str(int(time.time() * 1000))}])

    def _orders(self, q: dict[str, Any], *, type_required: bool) -> list[Order]:
        markets = {i.market for i in self._selected(q, type_required=type_required)}
        return [o for o in reversed(self.venue.orders) if o.market in markets]

    async def _orders_pending(self, request: web.Request) -> web.Response:
        q = await self._signed(request)
        orders = [o for o in self._orders(q, type_required=False) if o.is_open]
        if q.get("ordType"):
            orders = [o for o in orders if self._asked_of(o)[0] == q["ordType"]]
        if q.get("state"):
            orders = [o for o in orders if _STATE[o.status] == q["state"]]
        return _ok([self._order_row(o) for o in orders[: _limit(q)]])

    async def _orders_history(self, request: web.Request) -> web.Response:
        q = await self._signed(request)
        orders = [o for o in self._orders(q, type_required=True) if not o.is_open]
        if q.get("state"):
            orders = [o for o in orders if _STATE[o.status] == q["state"]]
        begin, end = _int(q, "begin", 0), _int(q, "end", 2**62)
        orders = [o for o in orders if begin <= o.time_ms <= end]
        return _ok([self._order_row(o) for o in orders[: _limit(q)]])

    async def _fills(self, request: web.Request) -> web.Response:
        q = await self._signed(request)
        type_required = request.path.endswith("fills-history")
        orders = self._orders(q, type_required=type_required)
        if q.get("ordId"):
            orders = [o for o in orders if str(o.order_id) == q["ordId"]]
        begin, end = _int(q, "begin", 0), _int(q, "end", 2**62)
        pairs = [(o, f) for o in orders for f in o.fills if begin <= f.time_ms <= end]
        pairs.sort(key=lambda pair: pair[1].trade_id, reverse=True)
        return _ok([self._fill_row(o, f) for o, f in pairs[: _limit(q)]])

    # ---- rendering ---------------------------------------------------------------------------------

    def _asked_of(self, o: Order) -> tuple[str, str, str]:
        asked = self._asked.get(o.order_id)
        if asked is not None:
            return asked
        inst = self.by_market[o.market]
        otype = "market" if o.type == "MARKET" else {"IOC": "ioc", "FOK": "fok"}.get(o.time_in_force, "limit")
        return otype, "cross" if inst.swap else "cash", "" if inst.swap else "base_ccy"

    def _fee_ccy(self, o: Order) -> str:
        spec = self.by_market[o.market].spec
        if o.fills:
            return o.fills[0].commission_asset
        # The core charges a spot buy in the base asset received, everything else in the quote.
        return spec.base if spec.kind is MarketKind.SPOT and o.side == "BUY" else spec.quote

    def _order_row(self, o: Order) -> dict[str, Any]:
        inst = self.by_market[o.market]
        otype, td_mode, tgt = self._asked_of(o)
        last = o.fills[-1] if o.fills else None
        fee = sum((f.commission for f in o.fills), _ZERO)
        pnl = sum((f.realized_pnl for f in o.fills), _ZERO)
        return {
            "instType": inst.inst_type,
            "instId": inst.inst_id,
            "tgtCcy": tgt,
            "ccy": "",
            "ordId": str(o.order_id),
            "clOrdId": o.client_id,
            "tag": "",
            "px": "" if o.type == "MARKET" else _s(o.price),
            "pxUsd": "",
            "pxVol": "",
            "pxType": "",
            "sz": _s(inst.to_sz(o.qty)),
            "pnl": _s(pnl),
            "ordType": otype,
            "side": o.side.lower(),
            "posSide": "net" if inst.swap else "",
            "tdMode": td_mode,
            "accFillSz": _s(inst.to_sz(o.executed)),
            "fillPx": _s(last.price) if last else "",
            "tradeId": str(last.trade_id) if last else "",
            "fillSz": _s(inst.to_sz(last.qty)) if last else "0",
            "fillTime": str(last.time_ms) if last else "",
            "avgPx": _s(o.avg_price) if o.executed else "",
            "state": _STATE[o.status],
            "stpId": "",
            "stpMode": "cancel_maker",
            "lever": str(self.venue.leverage.get(o.market, self.venue.config.leverage)) if inst.swap else "",
            "attachAlgoClOrdId": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "",
            "tpOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "",
            "slOrdPx": "",
            "attachAlgoOrds": [],
            "linkedAlgoOrd": {"algoId": ""},
            "feeCcy": self._fee_ccy(o),
            "fee": _s(-fee),  # OKX: negative = charged
            "rebateCcy": inst.spec.quote,
            "rebate": "0",
            "source": "",
            "category": "normal",
            "reduceOnly": "true" if o.reduce_only else "false",
            "isTpLimit": "false",
            "cancelSource": "" if o.status != "CANCELED" else "1",
            "cancelSourceReason": "",
            "quickMgnType": "",
            "algoClOrdId": "",
            "algoId": "",
            "uTime": str(o.update_ms),
            "cTime": str(o.time_ms),
        }

    def _fill_row(self, o: Order, f: Fill) -> dict[str, Any]:
        inst = self.by_market[o.market]
        st = self.market.markets[o.market]
        return {
            "instType": inst.inst_type,
            "instId": inst.inst_id,
            "tradeId": str(f.trade_id),
            "ordId": str(o.order_id),
            "clOrdId": o.client_id,
            "billId": str(f.trade_id + 700_000_000),
            "subType": "1" if o.side == "BUY" else "2",
            "tag": "",
            "fillPx": _s(f.price),
            "fillSz": _s(inst.to_sz(f.qty)),
            "fillIdxPx": _s(st.index) if st.index is not None else "",
            "fillPnl": _s(f.realized_pnl),
            "fillPxVol": "",
            "fillPxUsd": "",
            "fillMarkVol": "",
            "fillFwdPx": "",
            "fillMarkPx": "",
            "side": o.side.lower(),
            "posSide": "net" if inst.swap else "",
            "execType": "M" if f.maker else "T",
            "feeCcy": f.commission_asset,
            "fee": _s(-f.commission),
            "feeRate": "",
            "ts": str(f.time_ms),
            "fillTime": str(f.time_ms),
        }


def _int(q: dict[str, Any], name: str, default: int) -> int:
    text = q.get(name)
    if text is None or text == "":
        return default
    try:
        return int(str(text))
    except ValueError as exc:
        raise _bad(name) from exc


def _limit(q: dict[str, Any]) -> int:
    return min(max(_int(q, "limit", 100), 1), 100)


OKX_FRONT: web.AppKey[OkxFront] = web.AppKey("carry_okx_front", OkxFront)


def front_of(emu: Emulator) -> OkxFront:
    """The `OkxFront` of an emulator (its instruments; the websocket front reads them)."""
    return emu.app[OKX_FRONT]


def add_routes(emu: Emulator) -> None:
    """Register the OKX v5 routes on ``emu.app`` and OKX's wording of injected faults."""
    front = OkxFront(emu)
    emu.app[OKX_FRONT] = front
    front.add_routes(emu.app)
    emu.faults.error_bodies[f"{PREFIX}/"] = fault_body
