"""The aiohttp application: Binance's REST paths, request signing, the clock, start and stop.

Two ways to run it:

- ``await start_emulator(...)`` inside a running event loop returns an `Emulator` (base URL, control
  methods, ``await stop()``);
- ``EmulatorThread(...)`` (a context manager) runs it on its own loop in a background thread, for
  synchronous code and tests; its control methods hop onto that loop, so the state is only ever touched
  from one thread.

``serve(port, data_files, faults)`` is the blocking entry point behind ``carry emulator``.

Times: REST answers (order and trade times, ``premiumIndex`` ``time`` / ``nextFundingTime``, funding and
income history, their ``startTime`` / ``endTime`` filters) are on the replay clock, the recording's own
time; ``serverTime`` and the signed requests' ``timestamp`` check are on the wall clock, as ccxt stamps
requests with the machine's clock. The websocket streams follow ``EmulatorOptions.stream_time``:
``recorded`` (the replay clock, as REST) or ``wall`` (shifted by one constant to look like today: see
`engine.venues.emulator.streams`). REST is not shifted in ``wall`` mode on purpose: the venue's ledger
(orders, fills, settlements, income, the funding CSV) is keyed on recorded time and every history list
filters on it, so shifting some answers would let a client see a settlement in one answer that another
does not list. A client that compares stream times with REST times would see the constant offset;
carry's clients do not (ccxt legs stamp market data with the node clock; native paper legs take their
market data from the streams and only instruments from REST).

Control endpoints (not Binance's) live under ``/_emulator``: ``GET state``, ``POST advance``
(``{"to_ms": ...}`` or ``{"events": N}``), ``GET/POST/DELETE faults``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from engine.data.funding_csv import load_funding_history
from engine.venues.emulator import bybit, bybit_ws, okx, okx_ws, render, streams, user_stream, ws_api
from engine.venues.emulator.faults import (
    FILL_RATIO_KEY,
    FaultPlan,
    FaultRule,
    fault_middleware,
    load_faults,
    rule_from_dict,
)
from engine.venues.emulator.market import MarketKind, MarketReplay, Recording, load_recording
from engine.venues.emulator.venue import BinanceError, Venue, VenueConfig, missing

ClockMode = Literal["step", "replay"]
StreamTime = Literal["recorded", "wall"]
T = TypeVar("T")

SPOT = MarketKind.SPOT
USDM = MarketKind.USDM
_MAX_RECV_WINDOW_MS = 60_000
_FUTURE_TOLERANCE_MS = 1_000
_REPLAY_TICK_S = 0.005
_MAX_PAGE, _MAX_LIMIT = 500, 1000  # Binance's default and largest page of allOrders / myTrades


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _error(exc: BinanceError) -> web.Response:
    return _json({"code": exc.code, "msg": exc.msg}, status=exc.status)


@web.middleware
async def _binance_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except BinanceError as exc:
        return _error(exc)


@dataclass
class EmulatorOptions:
    """How the emulator runs.

    Attributes
    ----------
    clock : {"step", "replay"}
        ``step``: the clock moves only when told (tests); ``replay``: it follows wall time x ``speed``.
    speed : float
        Replay speed factor (1.0 = real time).
    venue : VenueConfig
        Accounts, keys and fees.
    start_when_all_quoted : bool
        Start the clock at the first moment every market has a book (else at the first event).
    funding_history : dict[str, Path]
        USD-M symbol -> Binance funding history CSV (``binance_btcusdt_funding_2019_2024.csv``):
        ``/fapi/v1/fundingRate`` then also lists the settlements before the recording, up to the clock.
    page_limit : int
        Default page of ``allOrders`` / ``myTrades`` / ``userTrades`` (Binance: 500); tests lower it.
    stream_time : {"recorded", "wall"}
        Times in the websocket streams: ``recorded`` as in the recording; ``wall`` shifted by one constant,
        (wall clock at `Emulator.start`) - (replay clock then), so stream clients that stamp data with the
        venue's event time (nautilus's Binance adapter) see fresh data; intervals stay as recorded. REST
        answers stay on the replay clock either way (see the module docstring).
    """

    clock: ClockMode = "step"
    speed: float = 1.0
    venue: VenueConfig = field(default_factory=VenueConfig)
    start_when_all_quoted: bool = True
    funding_history: dict[str, Path] = field(default_factory=dict)
    page_limit: int = _MAX_PAGE
    stream_time: StreamTime = "recorded"

    def __post_init__(self) -> None:
        if self.stream_time not in ("recorded", "wall"):
            raise ValueError(f"stream_time must be 'recorded' or 'wall', not {self.stream_time!r}")


class Emulator:
    """One emulated Binance (spot + USD-M) on loopback; use from its own event loop.

    Parameters
    ----------
    recording : Recording
        The market to replay (see `load_recording`).
    faults : list of FaultRule, optional
        Initial fault rules.
    options : EmulatorOptions, optional
        Clock and accounts.
    """

    def __init__(
        self,
        recording: Recording,
        faults: list[FaultRule] | None = None,
        options: EmulatorOptions | None = None,
    ) -> None:
        self.options = options or EmulatorOptions()
        self.market = MarketReplay(recording)
        self.venue = Venue(self.market, self.options.venue)
        if self.options.start_when_all_quoted:
            self.market.advance_until_quoted()
        # symbol -> [(funding time ms, rate)], ascending, from the funding CSVs.
        self._funding_csv: dict[str, list[tuple[int, Decimal]]] = {}
        for symbol, path in self.options.funding_history.items():
            rows, _stats = load_funding_history(path)
            self._funding_csv[symbol] = [(r.ts_ns // 1_000_000, r.rate) for r in rows]
        self.faults = FaultPlan(faults)
        self.app = web.Application(middlewares=[fault_middleware(self.faults), _binance_errors])
        self._routes()
        self._runner: web.AppRunner | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self._cancel_ids = itertools.count(1)
        self.base_url = ""
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = a free port); return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.base_url = f"http://{host}:{self.port}"
        if self.options.stream_time == "wall":
            # One offset for the whole run, taken as the replay clock starts following wall time.
            streams.hub_of(self).shift_ms = int(time.time() * 1000) - self.market.now_ms
        if self.options.clock == "replay":
            self._replay_task = asyncio.get_running_loop().create_task(self._replay())
        return self.base_url

    async def stop(self) -> None:
        """Stop replaying and close the server."""
        if self._replay_task is not None:
            self._replay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replay_task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _replay(self) -> None:
        loop = asyncio.get_running_loop()
        wall0 = loop.time()
        market0 = self.market.now_ns
        while not self.market.exhausted:
            target = market0 + int((loop.time() - wall0) * self.options.speed * 1e9)
            self.market.advance_to(target)
            await asyncio.sleep(_REPLAY_TICK_S)

    # ---- control (call on the emulator's loop) ---------------------------------------------------

    def advance_to_ms(self, ts_ms: int) -> int:
        """Move the market clock to ``ts_ms``; returns the number of events applied."""
        return self.market.advance_to(ts_ms * 1_000_000)

    def advance_events(self, n: int) -> int:
        """Apply the next ``n`` recorded events."""
        return self.market.advance_events(n)

    def add_fault(self, rule: FaultRule) -> FaultRule:
        """Activate a fault rule."""
        return self.faults.add(rule)

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        self.faults.clear()

    def create_count(self, client_order_id: str) -> int:
        """How many order creates reached the venue with this client order id."""
        return self.venue.create_requests[client_order_id]

    def state(self) -> dict[str, Any]:
        """Clock, balances, positions, create counts."""
        return self.venue.snapshot()

    # ---- request plumbing ------------------------------------------------------------------------

    async def _signed(self, request: web.Request) -> dict[str, str]:
        """Check the API key and HMAC-SHA256 signature as Binance does; return the parameters."""
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", 401)
        secret = self.venue.config.api_keys.get(key)
        if secret is None:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        # Raw (still percent-encoded) query and body: the signature is over the bytes the client sent.
        query = request.raw_path.partition("?")[2]
        # body_exists, not can_read_body: a body read earlier (latency fault) stays readable from cache.
        body = await request.text() if request.body_exists else ""
        query_rest, sig_q = _split_signature(query)
        body_rest, sig_b = _split_signature(body)
        signature = sig_q or sig_b
        if not signature:
            raise missing("signature")
        # Binance: totalParams = query string concatenated with the request body.
        expected = hmac.new(secret.encode(), (query_rest + body_rest).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(query_rest, keep_blank_values=True))
        params.update(parse_qsl(body_rest, keep_blank_values=True))
        stamp = params.get("timestamp")
        if not stamp or not stamp.isdigit():
            raise missing("timestamp")
        recv_window = _int(params, "recvWindow", 5000)
        if recv_window > _MAX_RECV_WINDOW_MS:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        # recvWindow is checked against wall time: ccxt stamps requests with the machine's clock.
        now = int(time.time() * 1000)
        if int(stamp) < now - recv_window or int(stamp) > now + _FUTURE_TOLERANCE_MS:  # digits checked above
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    def _routes(self) -> None:
        r = self.app.router
        for prefix, kind in (("/api/v3", SPOT), ("/fapi/v1", USDM)):
            r.add_get(f"{prefix}/ping", self._ping)
            r.add_get(f"{prefix}/time", self._time)
            r.add_get(f"{prefix}/exchangeInfo", self._bind(self._exchange_info, kind))
            r.add_get(f"{prefix}/ticker/24hr", self._bind(self._ticker, kind))
            r.add_get(f"{prefix}/ticker/bookTicker", self._bind(self._book_ticker, kind))
            r.add_get(f"{prefix}/depth", self._bind(self._depth, kind))
            r.add_post(f"{prefix}/order", self._bind(self._create_order, kind))
            r.add_get(f"{prefix}/order", self._bind(self._get_order, kind))
            r.add_delete(f"{prefix}/order", self._bind(self._cancel_order, kind))
            r.add_get(f"{prefix}/openOrders", self._bind(self._open_orders, kind))
            r.add_delete(
                f"{prefix}/allOpenOrders" if kind is USDM else f"{prefix}/openOrders",
                self._bind(self._cancel_all, kind),
            )
            r.add_get(f"{prefix}/allOrders", self._bind(self._all_orders, kind))
        r.add_get("/api/v3/account", self._spot_account)
        r.add_get("/api/v3/myTrades", self._bind(self._my_trades, SPOT))
        r.add_get("/fapi/v1/userTrades", self._bind(self._my_trades, USDM))
        r.add_get("/fapi/v1/premiumIndex", self._premium_index)
        r.add_get("/fapi/v1/fundingRate", self._funding_rate)
        r.add_get("/fapi/v1/income", self._income)
        r.add_get("/fapi/v1/leverageBracket", self._leverage_bracket)
        r.add_post("/fapi/v1/leverage", self._set_leverage)
        r.add_get("/fapi/v1/positionSide/dual", self._position_mode)
        r.add_get("/fapi/v2/account", self._usdm_account_v2)
        r.add_get("/fapi/v3/account", self._usdm_account_v3)
        r.add_get("/fapi/v2/positionRisk", self._position_risk_v2)
        r.add_get("/fapi/v3/positionRisk", self._position_risk_v3)
        r.add_get("/_emulator/state", self._ctl_state)
        r.add_post("/_emulator/advance", self._ctl_advance)
        r.add_get("/_emulator/faults", self._ctl_faults)
        r.add_post("/_emulator/faults", self._ctl_add_fault)
        r.add_delete("/_emulator/faults", self._ctl_clear_faults)
        user_stream.add_routes(self)  # before streams: /fstream/ws/<listenKey> first
        ws_api.add_routes(self)  # spot user data: Binance's WebSocket API at /ws-api/v3
        # Other protocols on the same exchange core (their paths do not collide with Binance's).
        streams.add_routes(self)
        bybit.add_routes(self)
        bybit_ws.add_routes(self)  # after streams: it hooks onto the stream hub's replay listeners
        okx.add_routes(self)
        okx_ws.add_routes(self)  # after okx and streams: it reads their instruments and replay hook

    @staticmethod
    def _bind(
        fn: Callable[[web.Request, MarketKind], Awaitable[web.StreamResponse]], kind: MarketKind
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await fn(request, kind)

        return handler

    @property
    def _now_ms(self) -> int:
        return self.market.now_ms

    # ---- public market data ----------------------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.Response:
        return _json({})

    async def _time(self, request: web.Request) -> web.Response:
        return _json({"serverTime": int(time.time() * 1000)})

    async def _exchange_info(self, request: web.Request, kind: MarketKind) -> web.Response:
        specs = [m.spec for m in self.market.markets]
        return _json(render.exchange_info(kind, specs, int(time.time() * 1000)))

    def _states(self, request: web.Request, kind: MarketKind) -> list[int] | int:
        symbol = request.query.get("symbol")
        if symbol is None:
            return [i for i, m in enumerate(self.market.markets) if m.spec.kind is kind]
        return self.venue.resolve(kind, symbol)

    async def _ticker(self, request: web.Request, kind: MarketKind) -> web.Response:
        sel = self._states(request, kind)
        if isinstance(sel, int):
            return _json(render.ticker_24h(self.market.markets[sel], self._now_ms))
        return _json([render.ticker_24h(self.market.markets[i], self._now_ms) for i in sel])

    async def _book_ticker(self, request: web.Request, kind: MarketKind) -> web.Response:
        sel = self._states(request, kind)
        if isinstance(sel, int):
            return _json(render.book_ticker(self.market.markets[sel], self._now_ms))
        return _json([render.book_ticker(self.market.markets[i], self._now_ms) for i in sel])

    async def _depth(self, request: web.Request, kind: MarketKind) -> web.Response:
        index = self.venue.resolve(kind, request.query.get("symbol"))
        return _json(render.depth(self.market.markets[index], self.market.cursor, self._now_ms))

    async def _premium_index(self, request: web.Request) -> web.Response:
        sel = self._states(request, USDM)
        if isinstance(sel, int):
            return _json(render.premium_index(self.venue, sel, self._now_ms))
        return _json([render.premium_index(self.venue, i, self._now_ms) for i in sel])

    async def _funding_rate(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        sel = self._states(request, USDM)
        markets = {sel} if isinstance(sel, int) else set(sel)
        start = _int(q, "startTime", 0)
        end = _int(q, "endTime", 2**62)
        limit = min(_int(q, "limit", 100), 1000)
        now = self._now_ms
        by_time: dict[tuple[str, int], dict[str, Any]] = {}
        for index in markets:
            symbol = self.venue.spec(index).symbol
            for time_ms, rate in self._funding_csv.get(symbol, []):
                if time_ms <= now:  # never leak settlements from the recording's future
                    by_time[symbol, time_ms] = {
                        "symbol": symbol,
                        "fundingTime": time_ms,
                        "fundingRate": render.f8(rate),
                        "markPrice": "",
                    }
        for s in self.market.settlements:  # recorded settlements win: they carry the mark price
            if s.market in markets:
                symbol, time_ms = self.venue.spec(s.market).symbol, s.funding_time_ns // 1_000_000
                by_time[symbol, time_ms] = {
                    "symbol": symbol,
                    "fundingTime": time_ms,
                    "fundingRate": render.f8(s.rate),
                    "markPrice": render.f8(s.mark),
                }
        rows = sorted(
            (r for r in by_time.values() if start <= r["fundingTime"] <= end), key=lambda r: r["fundingTime"]
        )
        return _json(rows[-limit:] if "startTime" not in q else rows[:limit])

    # ---- orders ----------------------------------------------------------------------------------

    async def _create_order(self, request: web.Request, kind: MarketKind) -> web.Response:
        params = await self._signed(request)
        ratio = request.get(FILL_RATIO_KEY)
        order = self.venue.create_order(kind, params, fill_ratio=ratio)
        if kind is SPOT:
            resp = params.get("newOrderRespType") or ("FULL" if order.type in ("MARKET", "LIMIT") else "ACK")
            return _json(render.spot_order(order, resp=resp))
        return _json(render.usdm_order(order, self.venue.spec(order.market), with_time=False))

    async def _get_order(self, request: web.Request, kind: MarketKind) -> web.Response:
        params = await self._signed(request)
        order = self.venue.get_order(kind, params)
        if kind is SPOT:
            return _json(render.spot_order(order))
        return _json(render.usdm_order(order, self.venue.spec(order.market)))

    async def _cancel_order(self, request: web.Request, kind: MarketKind) -> web.Response:
        params = await self._signed(request)
        order = self.venue.cancel_order(kind, params)
        if kind is SPOT:
            cancel_id = params.get("newClientOrderId") or f"emucancel{next(self._cancel_ids):09d}"
            return _json(render.spot_order(order, resp="CANCEL", cancel_client_id=cancel_id))
        return _json(render.usdm_order(order, self.venue.spec(order.market), with_time=False))

    async def _cancel_all(self, request: web.Request, kind: MarketKind) -> web.Response:
        params = await self._signed(request)
        if not params.get("symbol"):
            raise missing("symbol")
        orders = self.venue.open_orders(kind, params["symbol"])
        for o in orders:
            self.venue.cancel_order(kind, {"symbol": o.symbol, "orderId": str(o.order_id)})
        if kind is SPOT:
            return _json([render.spot_order(o, resp="CANCEL") for o in orders])
        return _json({"code": 200, "msg": "The operation of cancel all open order is done."})

    async def _open_orders(self, request: web.Request, kind: MarketKind) -> web.Response:
        params = await self._signed(request)
        orders = self.venue.open_orders(kind, params.get("symbol") or None)
        if kind is SPOT:
            return _json([render.spot_order(o) for o in orders])
        return _json([render.usdm_order(o, self.venue.spec(o.market)) for o in orders])

    async def _all_orders(self, request: web.Request, kind: MarketKind) -> web.Response:
        params = await self._signed(request)
        orders = self.venue.all_orders(kind, params.get("symbol"))
        if "orderId" in params:
            orders = [o for o in orders if o.order_id >= _int(params, "orderId", 0)]
        orders = _time_window(orders, params, lambda o: o.time_ms, self.options.page_limit)
        if kind is SPOT:
            return _json([render.spot_order(o) for o in orders])
        return _json([render.usdm_order(o, self.venue.spec(o.market)) for o in orders])

    async def _my_trades(self, request: web.Request, kind: MarketKind) -> web.Response:
        params = await self._signed(request)
        pairs = self.venue.fills(kind, params.get("symbol"))
        if "orderId" in params:
            pairs = [(o, f) for o, f in pairs if o.order_id == _int(params, "orderId", 0)]
        if "fromId" in params:
            pairs = [(o, f) for o, f in pairs if f.trade_id >= _int(params, "fromId", 0)]
        pairs = _time_window(pairs, params, lambda p: p[1].time_ms, self.options.page_limit)
        if kind is SPOT:
            return _json([render.spot_trade(o, f) for o, f in pairs])
        return _json([render.usdm_trade(o, f, self.venue.spec(o.market)) for o, f in pairs])

    # ---- accounts --------------------------------------------------------------------------------

    async def _spot_account(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return _json(render.spot_account(self.venue, self._now_ms))

    async def _usdm_account_v2(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return _json(render.usdm_account(self.venue, self._now_ms, v3=False))

    async def _usdm_account_v3(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return _json(render.usdm_account(self.venue, self._now_ms, v3=True))

    def _position_indices(self, params: dict[str, str], *, all_symbols: bool) -> list[int]:
        if params.get("symbol"):
            return [self.venue.resolve(USDM, params["symbol"])]
        indices = self.venue.usdm_indices()
        if all_symbols:
            return indices
        # v3 lists only symbols with a position or open orders.
        return [
            i
            for i in indices
            if (i in self.venue.positions and self.venue.positions[i].qty != 0)
            or self.venue.open_order_margin(i)
        ]

    async def _position_risk_v2(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        indices = self._position_indices(params, all_symbols=True)
        return _json([render.position_risk_v2(self.venue, i, self._now_ms) for i in indices])

    async def _position_risk_v3(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        indices = self._position_indices(params, all_symbols=False)
        return _json([render.position_risk(self.venue, i, self._now_ms) for i in indices])

    async def _leverage_bracket(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        rows = render.leverage_brackets(self.venue)
        if params.get("symbol"):
            self.venue.resolve(USDM, params["symbol"])
            return _json([r for r in rows if r["symbol"] == params["symbol"]])
        return _json(rows)

    async def _set_leverage(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        index = self.venue.resolve(USDM, params.get("symbol"))
        lev = params.get("leverage")
        if not lev or not lev.isdigit():
            raise missing("leverage")
        self.venue.set_leverage(index, int(lev))
        return _json(
            {"leverage": int(lev), "maxNotionalValue": "50000", "symbol": self.venue.spec(index).symbol}
        )

    async def _position_mode(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return _json({"dualSidePosition": False})

    async def _income(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        rows = self.venue.income
        if params.get("symbol"):
            self.venue.resolve(USDM, params["symbol"])
            rows = [r for r in rows if r.symbol == params["symbol"]]
        if params.get("incomeType"):
            rows = [r for r in rows if r.income_type == params["incomeType"]]
        rows = _time_window(rows, params, lambda r: r.time_ms)
        limit = min(_int(params, "limit", 100), 1000)
        return _json([render.income(r) for r in rows[:limit]])

    # ---- control endpoints -----------------------------------------------------------------------

    async def _ctl_state(self, request: web.Request) -> web.Response:
        return _json(self.state())

    async def _ctl_advance(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        if "to_ms" in body:
            applied = self.advance_to_ms(int(body["to_ms"]))
        else:
            applied = self.advance_events(int(body.get("events", 1)))
        return _json({"applied": applied, "now_ms": self._now_ms})

    async def _ctl_faults(self, request: web.Request) -> web.Response:
        return _json([r.to_json() for r in self.faults.rules])

    async def _ctl_add_fault(self, request: web.Request) -> web.Response:
        rule = self.add_fault(rule_from_dict(await request.json()))
        return _json(rule.to_json())

    async def _ctl_clear_faults(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return _json({})


def _split_signature(text: str) -> tuple[str, str]:
    """Split ``a=1&b=2&signature=xx`` into the signed part and the signature."""
    if "signature=" not in text:
        return text, ""
    parts = text.split("&")
    kept = [p for p in parts if not p.startswith("signature=")]
    sig = next(p for p in parts if p.startswith("signature="))
    return "&".join(kept), sig.partition("=")[2]


def _time_window[R](
    rows: list[R], params: dict[str, str], ts: Callable[[R], int], page: int = _MAX_PAGE
) -> list[R]:
    """Binance's paging of history lists: ``limit`` (default ``page``, at most 1000) rows, the oldest
    from ``startTime`` when it is given, else the most recent."""
    start = _int(params, "startTime", 0)
    end = _int(params, "endTime", 2**62)
    out = [r for r in rows if start <= ts(r) <= end]
    limit = min(_int(params, "limit", page), _MAX_LIMIT)
    return out[:limit] if "startTime" in params else out[-limit:]


def _int(params: dict[str, str], name: str, default: int) -> int:
    """An integer parameter, or Binance's -1100 when it is not one."""
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.") from exc


async def start_emulator(
    data_files: Sequence[Path | str] | None = None,
    faults: Path | list[FaultRule] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    options: EmulatorOptions | None = None,
    recording: Recording | None = None,
) -> Emulator:
    """Start an emulator on the running loop and return it (``.base_url``, ``await .stop()``).

    Parameters
    ----------
    data_files : sequence of Path, optional
        Binance websocket recordings (spot and/or USD-M); ignored when ``recording`` is given.
    faults : Path or list of FaultRule, optional
        A JSON/TOML fault file or rules.
    host, port : str, int
        Where to listen; port 0 picks a free port.
    options : EmulatorOptions, optional
        Clock mode, speed, accounts.
    recording : Recording, optional
        An already loaded recording (tests share one load).
    """
    if recording is None:
        if not data_files:
            raise ValueError("start_emulator needs data_files or a loaded recording")
        recording = await asyncio.to_thread(load_recording, list(data_files))
    rules = load_faults(faults) if isinstance(faults, Path | str) else list(faults or [])
    emulator = Emulator(recording, rules, options)
    await emulator.start(host, port)
    return emulator


class EmulatorThread:
    """An `Emulator` on its own event loop in a daemon thread; its methods are safe to call from any thread.

    Use as a context manager::

        with EmulatorThread(recording=rec) as emu:
            exchange = create_sync_exchange("binanceusdm", emu.base_url, ...)
            emu.advance_to_ms(...)
    """

    def __init__(
        self,
        data_files: Sequence[Path | str] | None = None,
        faults: Path | list[FaultRule] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        options: EmulatorOptions | None = None,
        recording: Recording | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="carry-emulator", daemon=True)
        self._thread.start()
        try:
            self.emulator: Emulator = self._run(
                start_emulator(data_files, faults, host=host, port=port, options=options, recording=recording)
            )
        except BaseException:
            # Do not leave a loop thread behind when the server cannot start (port taken, bad file).
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            raise
        self.base_url = self.emulator.base_url

    def _run(self, coro: Awaitable[T]) -> T:
        async def wrap() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), self._loop).result(timeout=60)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the emulator's loop and return its result."""
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # handed back to the calling thread, which re-raises it
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(timeout=60)

    def advance_to_ms(self, ts_ms: int) -> int:
        """See `Emulator.advance_to_ms`."""
        return self.call(self.emulator.advance_to_ms, ts_ms)

    def advance_events(self, n: int) -> int:
        """See `Emulator.advance_events`."""
        return self.call(self.emulator.advance_events, n)

    def add_fault(self, rule: FaultRule) -> FaultRule:
        """See `Emulator.add_fault`."""
        return self.call(self.emulator.add_fault, rule)

    def clear_faults(self) -> None:
        """See `Emulator.clear_faults`."""
        self.call(self.emulator.clear_faults)

    def create_count(self, client_order_id: str) -> int:
        """See `Emulator.create_count`."""
        return self.call(self.emulator.create_count, client_order_id)

    def state(self) -> dict[str, Any]:
        """See `Emulator.state`."""
        return self.call(self.emulator.state)

    @property
    def now_ms(self) -> int:
        """The market clock."""
        return self.call(lambda: self.emulator.market.now_ms)

    def stop(self) -> None:
        """Stop the server and the loop thread."""
        if not self._loop.is_running():
            return
        self._run(self.emulator.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> EmulatorThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    port: int,
    data_files: list[Path],
    faults: Path | None,
    *,
    speed: float = 1.0,
    host: str = "127.0.0.1",
    venue: VenueConfig | None = None,
    funding_history: dict[str, Path] | None = None,
    stream_time: StreamTime = "recorded",
) -> None:
    """Run the emulator in replay mode until SIGINT/SIGTERM (blocking): the ``carry emulator`` command.

    Parameters
    ----------
    port : int
        TCP port on ``host`` (0 picks a free one; the URL is printed).
    data_files : list of Path
        Binance recordings to replay (spot and/or USD-M).
    faults : Path, optional
        JSON/TOML fault rules.
    speed : float
        Replay speed factor.
    host : str
        Listen address; loopback by default.
    venue : VenueConfig, optional
        Accounts and API keys (default key ``emulator-key``, secret ``emulator-secret``).
    funding_history : dict[str, Path], optional
        USD-M symbol -> funding history CSV served by ``/fapi/v1/fundingRate`` (see `EmulatorOptions`).
    stream_time : {"recorded", "wall"}
        Times in the websocket streams (see `EmulatorOptions`).
    """

    async def main() -> None:
        emulator = await start_emulator(
            data_files,
            faults,
            host=host,
            port=port,
            options=EmulatorOptions(
                clock="replay",
                speed=speed,
                venue=venue or VenueConfig(),
                funding_history=funding_history or {},
                stream_time=stream_time,
            ),
        )
        # Never print keys or secrets (DESIGN rule 8), only where to connect.
        print(f"carry emulator listening on {emulator.base_url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await emulator.stop()

    asyncio.run(main())
