"""The emulator's exchange: accounts, orders and matching, with Binance's rules and error codes.

Pure state, no HTTP: `engine.venues.emulator.app` parses requests, calls these methods and renders the
answers. Every method either completes or raises `BinanceError` before changing anything, so a rejected
request leaves no trace but its count in `create_requests`.

Matching is against the recorded top of book only (the loader does not rebuild depth):

- MARKET fills its whole quantity at the recorded best opposite price (taker).
- LIMIT IOC / FOK and the marketable part of a LIMIT GTC fill at most the recorded size at the best
  opposite price (taker); an IOC remainder expires, a GTC remainder rests.
- A resting LIMIT fills (maker, at its own price) when a later recorded quote crosses it, at most the
  quoted size each time.
- A fault can force a partial fill: ``fill_ratio`` of the quantity fills, the rest expires (IOC/MARKET)
  or is canceled (GTC).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any

from engine.venues.emulator.market import FundingSettlement, MarketKind, MarketReplay, MarketSpec

_ZERO = Decimal(0)
_SPOT_BOOKED = Decimal("1e-8")  # spot balances and commissions: 8 decimals (default rounding: half even)
_NS_PER_MS = 1_000_000


class BinanceError(Exception):
    """An error answer exactly as Binance gives it: HTTP status and ``{"code": ..., "msg": ...}``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def invalid_symbol() -> BinanceError:
    """Binance's answer to a symbol it does not list."""
    return BinanceError(-1121, "Invalid symbol.")


def missing(param: str) -> BinanceError:
    """Binance's answer to a missing mandatory parameter."""
    return BinanceError(-1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.")


@dataclass
class VenueConfig:
    """Accounts and fee schedule of the emulated venue.

    Attributes
    ----------
    api_keys : dict[str, str]
        API key -> secret. Unknown keys get -2015.
    spot_balances : dict[str, Decimal]
        Starting free balance per asset of the spot account.
    usdm_wallet : Decimal
        Starting USDT wallet balance of the USD-M account.
    spot_maker_fee, spot_taker_fee : Decimal
        VIP0: 0.1% / 0.1%.
    usdm_maker_fee, usdm_taker_fee : Decimal
        VIP0: 0.02% / 0.05%.
    leverage : int
        Initial leverage of every USD-M symbol (Binance's default is 20).
    maint_margin_rate : Decimal
        First leverage bracket of BTCUSDT (0.4%), used for maintenance margin and liquidation price.
    passphrases : dict[str, str]
        API key -> passphrase, for fronts whose keys carry one (OKX ``OK-ACCESS-PASSPHRASE``).
    live_keys : frozenset[str]
        Keys of a production account; every other key is a demo-trading key (OKX refuses a demo key
        without its ``x-simulated-trading: 1`` header, and a live key with it).
    """

    api_keys: dict[str, str] = field(default_factory=lambda: {"emulator-key": "emulator-secret"})
    spot_balances: dict[str, Decimal] = field(
        default_factory=lambda: {"USDT": Decimal("100000"), "BTC": Decimal("1")}
    )
    usdm_wallet: Decimal = Decimal("100000")
    spot_maker_fee: Decimal = Decimal("0.001")
    spot_taker_fee: Decimal = Decimal("0.001")
    usdm_maker_fee: Decimal = Decimal("0.0002")
    usdm_taker_fee: Decimal = Decimal("0.0005")
    leverage: int = 20
    maint_margin_rate: Decimal = Decimal("0.004")
    passphrases: dict[str, str] = field(default_factory=lambda: {"emulator-key": "emulator-passphrase"})
    live_keys: frozenset[str] = frozenset()


@dataclass
class Fill:
    """One execution of an order (a Binance trade)."""

    trade_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    maker: bool
    realized_pnl: Decimal = _ZERO


@dataclass
class Order:
    """A Binance order as the venue keeps it."""

    market: int
    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    qty: Decimal
    reduce_only: bool
    time_ms: int
    update_ms: int
    status: str = "NEW"
    executed: Decimal = _ZERO
    cum_quote: Decimal = _ZERO
    locked: Decimal = _ZERO  # spot: funds held for the resting remainder (quote for buys, base for sells)
    fills: list[Fill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """NEW or PARTIALLY_FILLED: still on the book."""
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def remaining(self) -> Decimal:
        """Quantity not yet executed."""
        return self.qty - self.executed

    @property
    def avg_price(self) -> Decimal:
        """Volume-weighted fill price (0 before any fill)."""
        return self.cum_quote / self.executed if self.executed else _ZERO


@dataclass
class Position:
    """A one-way-mode USD-M position."""

    qty: Decimal = _ZERO  # signed: short < 0
    entry: Decimal = _ZERO
    update_ms: int = 0


@dataclass
class SpotAsset:
    """Spot balance of one asset."""

    free: Decimal = _ZERO
    locked: Decimal = _ZERO
    update_ms: int = 0


@dataclass
class Income:
    """A USD-M income record (``/fapi/v1/income``): funding fee, commission, realized P&L."""

    symbol: str
    income_type: str
    income: Decimal
    asset: str
    time_ms: int
    tran_id: int
    trade_id: str = ""


def on_grid(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    """``price`` moved onto the ``tick`` grid: up (an ask) or down (a bid)."""
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return steps * tick


def _param(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise missing(name)
    return value


def _decimal(params: dict[str, str], name: str) -> Decimal:
    text = _param(params, name)
    try:
        value = Decimal(text)
    except ArithmeticError as exc:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.") from exc
    if not value.is_finite():
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


class Venue:
    """Spot and USD-M accounts and order books of the emulated Binance.

    Parameters
    ----------
    market : MarketReplay
        The replayed market; the venue registers itself for quotes (to match resting orders) and
        funding settlements.
    config : VenueConfig
        Accounts and fees.
    """

    def __init__(self, market: MarketReplay, config: VenueConfig | None = None) -> None:
        self.market = market
        self.config = config or VenueConfig()
        market.on_quote = self._on_quote
        market.on_funding = self._on_funding
        market.on_funding_time = self._on_funding_time
        # Position sizes as they stood when the clock reached each funding time: only those are paid,
        # even though the recorded rate becomes final (and the payment is booked) a moment later.
        self._funding_positions: dict[tuple[int, int], Decimal] = {}
        self.spot: dict[str, SpotAsset] = {
            asset: SpotAsset(free=amount) for asset, amount in self.config.spot_balances.items()
        }
        self.usdm_wallet: Decimal = self.config.usdm_wallet
        self.usdm_wallet_update_ms = 0
        self.positions: dict[int, Position] = {}
        self.leverage: dict[int, int] = {}
        self.orders: list[Order] = []
        self.by_id: dict[int, Order] = {}
        # The newest order per (market, client order id), and the open ones: lookups stay O(1) on
        # long replays with many orders.
        self.by_client: dict[tuple[int, str], Order] = {}
        self.resting: dict[int, Order] = {}
        self.income: list[Income] = []
        # Every create that reached the venue, per client order id, accepted or not: a test proves with
        # it that a client never resent an order blindly.
        self.create_requests: Counter[str] = Counter()
        self._order_ids = itertools.count(8_000_000_001)
        self._trade_ids = itertools.count(400_000_001)
        self._tran_ids = itertools.count(9_000_000_001)
        self._client_ids = itertools.count(1)
        # Called on every order event, as Binance's user-data stream reports them: (execution type NEW /
        # TRADE / CANCELED / EXPIRED, the order as it stands, the fill of a TRADE). A TRADE is reported
        # before the order's final status is set: its status follows from ``remaining``.
        self.order_listeners: list[Callable[[str, Order, Fill | None], None]] = []

    # ---- lookups ---------------------------------------------------------------------------------

    def spec(self, index: int) -> MarketSpec:
        """The static facts of market ``index``."""
        return self.market.markets[index].spec

    def resolve(self, kind: MarketKind, symbol: str | None) -> int:
        """Market index for ``symbol`` on the API family ``kind``; -1102 / -1121 as Binance answers."""
        if not symbol:
            raise missing("symbol")
        index = self.market.market_index(kind, symbol)
        if index is None:
            raise invalid_symbol()
        return index

    def find_order(self, kind: MarketKind, params: dict[str, str], not_found: BinanceError) -> Order:
        """The order named by ``orderId`` or ``origClientOrderId`` (the newest with that id)."""
        index = self.resolve(kind, params.get("symbol"))
        order_id = params.get("orderId")
        client_id = params.get("origClientOrderId")
        if not order_id and not client_id:
            raise BinanceError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        if order_id:
            try:
                order = self.by_id.get(int(order_id))
            except ValueError as exc:
                raise BinanceError(-1100, "Illegal characters found in parameter 'orderId'.") from exc
            if order is None or order.market != index or (client_id and order.client_id != client_id):
                raise not_found
            return order
        assert client_id is not None
        found = self.by_client.get((index, client_id))
        if found is None:
            raise not_found
        return found

    def open_orders(self, kind: MarketKind, symbol: str | None) -> list[Order]:
        """Open orders of one symbol, or of every symbol of the family."""
        if symbol:
            index = self.resolve(kind, symbol)
            return [o for o in self.resting.values() if o.market == index]
        return [o for o in self.resting.values() if self.spec(o.market).kind is kind]

    def all_orders(self, kind: MarketKind, symbol: str | None) -> list[Order]:
        """Every order of one symbol, oldest first."""
        index = self.resolve(kind, symbol)
        return [o for o in self.orders if o.market == index]

    def fills(self, kind: MarketKind, symbol: str | None) -> list[tuple[Order, Fill]]:
        """Every fill of one symbol, in trade id order."""
        index = self.resolve(kind, symbol)
        out = [(o, f) for o in self.orders if o.market == index for f in o.fills]
        out.sort(key=lambda pair: pair[1].trade_id)
        return out

    # ---- order entry -----------------------------------------------------------------------------

    def create_order(
        self,
        kind: MarketKind,
        params: dict[str, str],
        fill_ratio: float | None = None,
        filters: MarketSpec | None = None,
    ) -> Order:
        """Validate, book and match a new order as Binance does.

        Parameters
        ----------
        kind : MarketKind
            The API family the request came in on.
        params : dict[str, str]
            The request parameters (``symbol, side, type, quantity, price, timeInForce,
            newClientOrderId, reduceOnly``).
        fill_ratio : float, optional
            Fault injection: fill only this fraction now and expire or cancel the rest.
        filters : MarketSpec, optional
            Another front's grid for this market (tick, lot, min size, min notional; same kind and
            symbol): checked instead of Binance's, and taker prices are the recorded top of book moved
            onto its tick (ask up, bid down), since that front's book lies on its own grid.
        """
        client_id = params.get("newClientOrderId") or f"emu{next(self._client_ids):012d}"
        self.create_requests[client_id] += 1
        index = self.resolve(kind, params.get("symbol"))
        spec = filters or self.spec(index)
        state = self.market.markets[index]
        side = _param(params, "side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        otype = _param(params, "type")
        if otype not in ("MARKET", "LIMIT") and not (otype == "LIMIT_MAKER" and kind is MarketKind.SPOT):
            raise BinanceError(-1116, "Invalid orderType.")
        if (
            otype == "MARKET"
            and kind is MarketKind.SPOT
            and not params.get("quantity")
            and params.get("quoteOrderQty")
        ):
            # Spot market order by quote amount (ccxt's create_market_buy_order_with_cost): the base
            # quantity is what that amount buys at the recorded top of book, on the lot grid.
            top = state.ask if params.get("side") == "BUY" else state.bid
            if top is None:
                raise BinanceError(-1013, "Market is closed.")
            qty = self._round_qty(spec, _decimal(params, "quoteOrderQty") / top)
        else:
            qty = _decimal(params, "quantity")
        reduce_only = params.get("reduceOnly", "false").lower() == "true"
        if otype == "MARKET":
            price, tif = _ZERO, "GTC"
        else:
            price = _decimal(params, "price")
            tif = "GTC" if otype == "LIMIT_MAKER" else _param(params, "timeInForce")
            if tif not in ("GTC", "IOC", "FOK") and not (tif == "GTX" and kind is MarketKind.USDM):
                raise BinanceError(-1115, "Invalid timeInForce.")
        self._check_filters(spec, kind, qty, price, otype)
        previous = self.by_client.get((index, client_id))
        if previous is not None and previous.is_open:
            # Unique among OPEN orders only: a filled or canceled order's id can be reused.
            if kind is MarketKind.SPOT:
                raise BinanceError(-2010, "Duplicate order sent.")
            raise BinanceError(-4116, "ClientOrderId is duplicated.")
        if state.bid is None or state.ask is None:
            raise BinanceError(-1013, "Market is closed.")
        opposite = state.ask if side == "BUY" else state.bid
        if filters is not None:
            opposite = on_grid(opposite, filters.tick_size, up=side == "BUY")
        opposite_qty = state.ask_qty if side == "BUY" else state.bid_qty
        crosses = otype == "MARKET" or (price >= opposite if side == "BUY" else price <= opposite)
        if crosses and (otype == "LIMIT_MAKER"):
            raise BinanceError(-2010, "Order would immediately match and take.")
        if crosses and tif == "GTX":
            raise BinanceError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be rejected.",
            )
        ref_price = opposite if otype == "MARKET" else price
        if kind is MarketKind.USDM:
            notional = qty * (ref_price if otype == "LIMIT" else (state.mark or ref_price))
            if notional < spec.min_notional and not reduce_only:
                raise BinanceError(
                    -4164,
                    f"Order's notional must be no smaller than {spec.min_notional.normalize():f} "
                    "(unless you choose reduce only).",
                )
            self._check_margin(index, side, qty, ref_price, reduce_only)
        elif qty * ref_price < spec.min_notional:
            raise BinanceError(-1013, "Filter failure: NOTIONAL")
        else:
            self._check_spot_funds(spec, side, qty, ref_price)

        now = self.market.now_ms
        order = Order(
            index,
            next(self._order_ids),
            client_id,
            spec.symbol,
            side,
            otype,
            tif,
            price,
            qty,
            reduce_only,
            now,
            now,
        )
        self.orders.append(order)
        self.by_id[order.order_id] = order
        self.by_client[(index, client_id)] = order
        self._notify("NEW", order)

        if crosses:
            if otype == "MARKET":
                take = qty
            elif tif == "FOK":
                take = qty if qty <= opposite_qty else _ZERO
            else:
                take = min(qty, opposite_qty)
            if fill_ratio is not None:
                take = min(take, self._round_qty(spec, qty * Decimal(str(fill_ratio))))
            if reduce_only:
                take = min(take, self._reducible(index))
            if take > 0:
                self._fill(order, opposite, take, maker=False)
        forced_partial = fill_ratio is not None
        if order.remaining <= 0:
            order.status = "FILLED"
        elif otype == "MARKET" or tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
            self._notify("EXPIRED", order)
        elif forced_partial:
            order.status = "CANCELED"
            self._notify("CANCELED", order)
        else:
            order.status = "PARTIALLY_FILLED" if order.executed > 0 else "NEW"
            self._lock(order)
            self.resting[order.order_id] = order
        return order

    def cancel_order(self, kind: MarketKind, params: dict[str, str]) -> Order:
        """Cancel an open order; -2011 when it is unknown or no longer open (filled, canceled)."""
        order = self.find_order(kind, params, BinanceError(-2011, "Unknown order sent."))
        if not order.is_open:
            raise BinanceError(-2011, "Unknown order sent.")
        self._unlock(order)
        self.resting.pop(order.order_id, None)
        order.status = "CANCELED"
        order.update_ms = self.market.now_ms
        self._notify("CANCELED", order)
        return order

    def get_order(self, kind: MarketKind, params: dict[str, str]) -> Order:
        """Query an order; -2013 when it does not exist."""
        return self.find_order(kind, params, BinanceError(-2013, "Order does not exist."))

    def set_leverage(self, index: int, leverage: int) -> None:
        """Change the initial leverage of one USD-M symbol (1..125)."""
        if not 1 <= leverage <= 125:
            raise BinanceError(-4028, f"Leverage {leverage} is not valid")
        self.leverage[index] = leverage

    # ---- checks ----------------------------------------------------------------------------------

    def _check_filters(
        self, spec: MarketSpec, kind: MarketKind, qty: Decimal, price: Decimal, otype: str
    ) -> None:
        spot = kind is MarketKind.SPOT
        if qty <= 0:
            raise BinanceError(
                -1013 if spot else -4003,
                "Invalid quantity." if spot else "Quantity less than or equal to zero.",
            )
        if qty % spec.step_size:
            if spot:
                raise BinanceError(-1013, "Filter failure: LOT_SIZE")
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if qty < spec.min_qty or qty > spec.max_qty:
            raise BinanceError(-1013, "Filter failure: LOT_SIZE" if spot else "Invalid quantity.")
        if otype != "MARKET":
            if price <= 0:
                raise BinanceError(
                    -1013 if spot else -4001, "Invalid price." if spot else "Price less than 0."
                )
            if price % spec.tick_size:
                if spot:
                    raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
                raise BinanceError(-4014, "Price not increased by tick size.")

    def _check_spot_funds(self, spec: MarketSpec, side: str, qty: Decimal, price: Decimal) -> None:
        if side == "BUY":
            need, asset = qty * price, spec.quote
        else:
            need, asset = qty, spec.base
        if self.spot.setdefault(asset, SpotAsset()).free < need:
            raise BinanceError(-2010, "Account has insufficient balance for requested action.")

    def _check_margin(self, index: int, side: str, qty: Decimal, price: Decimal, reduce_only: bool) -> None:
        pos = self.positions.get(index, Position())
        signed = qty if side == "BUY" else -qty
        after = pos.qty + signed
        if reduce_only and (pos.qty == 0 or (pos.qty > 0) == (signed > 0)):
            raise BinanceError(-2022, "ReduceOnly Order is rejected.")
        increase = max(_ZERO, abs(after) - abs(pos.qty))
        required = increase * price / self._leverage(index)
        if required > self.available_balance():
            raise BinanceError(-2019, "Margin is insufficient.")

    def _reducible(self, index: int) -> Decimal:
        """How much a reduce-only order may still fill: the open position's size."""
        pos = self.positions.get(index)
        return abs(pos.qty) if pos is not None else _ZERO

    def _leverage(self, index: int) -> int:
        return self.leverage.get(index, self.config.leverage)

    @staticmethod
    def _round_qty(spec: MarketSpec, qty: Decimal) -> Decimal:
        return (qty / spec.step_size).to_integral_value(rounding=ROUND_DOWN) * spec.step_size

    # ---- executions ------------------------------------------------------------------------------

    def _fill(self, order: Order, price: Decimal, qty: Decimal, *, maker: bool) -> None:
        spec = self.spec(order.market)
        now = self.market.now_ms
        trade_id = next(self._trade_ids)
        if spec.kind is MarketKind.SPOT:
            fill = self._fill_spot(order, spec, price, qty, maker, trade_id, now)
        else:
            fill = self._fill_usdm(order, spec, price, qty, maker, trade_id, now)
        order.fills.append(fill)
        order.executed += qty
        order.cum_quote += price * qty
        order.update_ms = now
        self._notify("TRADE", order, fill)

    def _notify(self, exec_type: str, order: Order, fill: Fill | None = None) -> None:
        for listener in self.order_listeners:
            listener(exec_type, order, fill)

    def _fill_spot(
        self,
        order: Order,
        spec: MarketSpec,
        price: Decimal,
        qty: Decimal,
        maker: bool,
        trade_id: int,
        now: int,
    ) -> Fill:
        rate = self.config.spot_maker_fee if maker else self.config.spot_taker_fee
        base = self.spot.setdefault(spec.base, SpotAsset())
        quote = self.spot.setdefault(spec.quote, SpotAsset())
        notional = price * qty
        # Binance charges spot commission in the asset received (no BNB discount here), booked to the 8
        # decimals its spot balances and commissions carry.
        if order.side == "BUY":
            commission, asset = (qty * rate).quantize(_SPOT_BOOKED), spec.base
            if order.locked:
                release = min(order.locked, order.price * qty)
                order.locked -= release
                quote.locked -= release
                quote.free += release
            quote.free -= notional
            base.free += qty - commission
        else:
            commission, asset = (notional * rate).quantize(_SPOT_BOOKED), spec.quote
            if order.locked:
                release = min(order.locked, qty)
                order.locked -= release
                base.locked -= release
                base.free += release
            base.free -= qty
            quote.free += notional - commission
        base.update_ms = quote.update_ms = now
        return Fill(trade_id, price, qty, commission, asset, now, maker)

    def _fill_usdm(
        self,
        order: Order,
        spec: MarketSpec,
        price: Decimal,
        qty: Decimal,
        maker: bool,
        trade_id: int,
        now: int,
    ) -> Fill:
        rate = self.config.usdm_maker_fee if maker else self.config.usdm_taker_fee
        pos = self.positions.setdefault(order.market, Position())
        signed = qty if order.side == "BUY" else -qty
        realized = _ZERO
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            new_qty = pos.qty + signed
            pos.entry = (abs(pos.qty) * pos.entry + qty * price) / abs(new_qty)
            pos.qty = new_qty
        else:
            closing = min(qty, abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            realized = closing * (price - pos.entry) * direction
            pos.qty += signed
            if pos.qty == 0:
                pos.entry = _ZERO
            elif (pos.qty > 0) != (direction > 0):
                pos.entry = price  # flipped: the rest opens at the fill price
        pos.update_ms = now
        commission = qty * price * rate
        self.usdm_wallet += realized - commission
        self.usdm_wallet_update_ms = now
        if realized:
            self._income(spec, "REALIZED_PNL", realized, now, str(trade_id))
        self._income(spec, "COMMISSION", -commission, now, str(trade_id))
        return Fill(trade_id, price, qty, commission, spec.quote, now, maker, realized)

    def _income(self, spec: MarketSpec, kind: str, amount: Decimal, now: int, trade_id: str = "") -> None:
        self.income.append(Income(spec.symbol, kind, amount, spec.quote, now, next(self._tran_ids), trade_id))

    def _lock(self, order: Order) -> None:
        spec = self.spec(order.market)
        if spec.kind is not MarketKind.SPOT:
            return
        if order.side == "BUY":
            amount, asset = order.remaining * order.price, self.spot.setdefault(spec.quote, SpotAsset())
        else:
            amount, asset = order.remaining, self.spot.setdefault(spec.base, SpotAsset())
        asset.free -= amount
        asset.locked += amount
        order.locked = amount

    def _unlock(self, order: Order) -> None:
        spec = self.spec(order.market)
        if spec.kind is not MarketKind.SPOT or not order.locked:
            return
        asset = self.spot[spec.quote if order.side == "BUY" else spec.base]
        asset.locked -= order.locked
        asset.free += order.locked
        order.locked = _ZERO

    def _on_quote(self, index: int) -> None:
        state = self.market.markets[index]
        if state.bid is None or state.ask is None:
            return
        for order in list(self.resting.values()):
            if order.market != index:
                continue
            if order.side == "BUY" and state.ask <= order.price:
                size = min(order.remaining, state.ask_qty)
            elif order.side == "SELL" and state.bid >= order.price:
                size = min(order.remaining, state.bid_qty)
            else:
                continue
            if order.reduce_only:
                size = min(size, self._reducible(order.market))
                if size <= 0:  # the position it was reducing is gone: Binance expires it
                    order.status = "EXPIRED"
                    del self.resting[order.order_id]
                    self._notify("EXPIRED", order)
                    continue
            self._fill(order, order.price, size, maker=True)
            if order.remaining <= 0:
                order.status = "FILLED"
                del self.resting[order.order_id]
            else:
                order.status = "PARTIALLY_FILLED"

    def _on_funding_time(self, index: int, funding_time_ns: int) -> None:
        pos = self.positions.get(index)
        self._funding_positions[(index, funding_time_ns)] = pos.qty if pos is not None else _ZERO

    def _on_funding(self, settlement: FundingSettlement) -> None:
        key = (settlement.market, settlement.funding_time_ns)
        qty = self._funding_positions.pop(key, None)
        if qty is None:  # the clock never stood before this funding time (e.g. it started after it)
            return
        if qty == 0:
            return
        # Payment of a position = -signed_qty * mark * rate (a short receives when the rate is positive).
        payment = -qty * settlement.mark * settlement.rate
        time_ms = settlement.funding_time_ns // _NS_PER_MS
        self.usdm_wallet += payment
        self.usdm_wallet_update_ms = time_ms
        self._income(self.spec(settlement.market), "FUNDING_FEE", payment, time_ms)

    # ---- USD-M account figures -------------------------------------------------------------------

    def mark_price(self, index: int) -> Decimal:
        """Recorded mark price, else the book mid (before the first markPrice message)."""
        state = self.market.markets[index]
        if state.mark is not None:
            return state.mark
        if state.bid is not None and state.ask is not None:
            return (state.bid + state.ask) / 2
        return _ZERO

    def unrealized(self, index: int) -> Decimal:
        """Unrealized P&L of one position at the mark."""
        pos = self.positions.get(index)
        if pos is None or pos.qty == 0:
            return _ZERO
        return pos.qty * (self.mark_price(index) - pos.entry)

    def position_margin(self, index: int) -> tuple[Decimal, Decimal]:
        """(initial, maintenance) margin of one position at the mark."""
        pos = self.positions.get(index)
        if pos is None or pos.qty == 0:
            return _ZERO, _ZERO
        notional = abs(pos.qty) * self.mark_price(index)
        return notional / self._leverage(index), notional * self.config.maint_margin_rate

    def open_order_margin(self, index: int | None = None) -> Decimal:
        """Initial margin held for open USD-M orders."""
        total = _ZERO
        for o in self.resting.values():
            if self.spec(o.market).kind is MarketKind.USDM and (index is None or o.market == index):
                total += o.remaining * o.price / self._leverage(o.market)
        return total

    def usdm_indices(self) -> list[int]:
        """Indices of the USD-M markets."""
        return [i for i, m in enumerate(self.market.markets) if m.spec.kind is MarketKind.USDM]

    def total_unrealized(self) -> Decimal:
        """Sum of unrealized P&L over USD-M positions."""
        return sum((self.unrealized(i) for i in self.usdm_indices()), _ZERO)

    def available_balance(self) -> Decimal:
        """Cross margin: wallet + unrealized - position initial margin - open order margin."""
        im = sum((self.position_margin(i)[0] for i in self.usdm_indices()), _ZERO)
        return self.usdm_wallet + self.total_unrealized() - im - self.open_order_margin()

    def liquidation_price(self, index: int) -> Decimal:
        """Cross, one position, no maintenance amount: where margin balance meets maintenance margin."""
        pos = self.positions.get(index)
        if pos is None or pos.qty == 0:
            return _ZERO
        q = abs(pos.qty)
        mmr = self.config.maint_margin_rate
        if pos.qty > 0:
            liq = (q * pos.entry - self.usdm_wallet) / (q * (1 - mmr))
        else:
            liq = (self.usdm_wallet + q * pos.entry) / (q * (1 + mmr))
        return max(liq, _ZERO)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able summary for the control endpoint and for tests."""
        return {
            "now_ms": self.market.now_ms,
            "spot": {k: {"free": str(v.free), "locked": str(v.locked)} for k, v in self.spot.items()},
            "usdm_wallet": str(self.usdm_wallet),
            "positions": {
                self.spec(i).symbol: {"qty": str(p.qty), "entry": str(p.entry)}
                for i, p in self.positions.items()
            },
            "open_orders": len(self.resting),
            "create_requests": dict(self.create_requests),
        }
