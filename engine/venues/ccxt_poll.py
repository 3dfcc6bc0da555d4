"""One REST poll of a venue market through ccxt's unified API: top of book, mark, index, funding, trades;
and the same structures read from ccxt.pro's streams (`marks_from_ticker`, `trade_from_ccxt`).

Shared by the nautilus data client (`engine.venues.ccxt_data`) and the stream recorder
(`engine.live.record`). Prices and sizes are kept as the venue's decimal strings where ccxt exposes them
(``info``), so nothing passes through float on the way to nautilus's fixed-point values.

Sizes leave this module in BASE units, as carry counts every quantity: a venue that counts a perpetual in
contracts (OKX ``BTC-USDT-SWAP``: 0.01 BTC each) has its book and trade sizes multiplied by the contract
size here, where the market is known, so neither the data client nor the recorder can forget it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async

from engine.venues.errors import RetryPolicy, retry_read

# A poll runs every second or so: a short retry budget, the next poll is the real retry.
POLL_POLICY = RetryPolicy(attempts=2, initial_s=0.05, max_wait_s=0.5, max_retry_after_s=2.0)


def dec_str(value: Any) -> str | None:
    """A ccxt number (float/str/None) as a plain decimal string, without exponent."""
    if value is None or value == "":
        return None
    d = Decimal(str(value))
    return format(d, "f")


_ONE = Decimal(1)


def contract_size_of(exchange: ccxt_async.Exchange, symbol: str) -> Decimal:
    """Base units per venue amount of ``symbol`` (ccxt's ``contractSize``; 1 for spot and unset)."""
    size = dec_str(exchange.market(symbol).get("contractSize"))
    return Decimal(size) if size is not None and Decimal(size) > 0 else _ONE


def base_size(amount: str, contract_size: Decimal) -> str:
    """A venue amount string in base units; unchanged (the venue's own string) when no contracts."""
    if contract_size == _ONE:
        return amount
    return format((Decimal(amount) * contract_size).normalize(), "f")


@dataclass(frozen=True, slots=True)
class BookTop:
    """Best bid and ask with sizes in base units, as decimal strings; ``ts_ms`` is the venue's time when it
    gave one."""

    bid: str
    ask: str
    bid_size: str
    ask_size: str
    ts_ms: int | None


@dataclass(frozen=True, slots=True)
class PerpMarks:
    """Mark, index and current funding rate of a perpetual, and the next settlement time (ms)."""

    mark: str
    index: str
    rate: str
    next_funding_ms: int | None
    interval_min: int | None
    ts_ms: int | None


def book_from_ticker(t: dict[str, Any], contract_size: Decimal) -> BookTop | None:
    """A ccxt ticker (REST or stream) as a `BookTop`, the venue's own strings preferred; None if no book.

    Parameters
    ----------
    t : dict
        The ccxt ticker (``fetch_ticker``, ``fetch_bids_asks`` or ``watch_bids_asks`` entry).
    contract_size : Decimal
        Base units per venue amount (`contract_size_of`, ``VenueMarket.contract_size``): ccxt's
        ``bidVolume``/``askVolume`` are in contracts where the venue counts them (OKX swaps).
    """
    info = t.get("info")
    raw: dict[str, Any] = info if isinstance(info, dict) else {}
    # Binance REST bookTicker: bidPrice/bidQty/...; Binance bookTicker stream: b/B/a/A.
    bid = raw.get("bidPrice") or raw.get("b") or dec_str(t.get("bid"))
    ask = raw.get("askPrice") or raw.get("a") or dec_str(t.get("ask"))
    bid_size = raw.get("bidQty") or raw.get("B") or dec_str(t.get("bidVolume")) or "0"
    ask_size = raw.get("askQty") or raw.get("A") or dec_str(t.get("askVolume")) or "0"
    if bid is None or ask is None:
        return None
    ts = t.get("timestamp")
    return BookTop(
        str(bid),
        str(ask),
        base_size(str(bid_size), contract_size),
        base_size(str(ask_size), contract_size),
        int(ts) if ts else None,
    )


async def fetch_book_top(exchange: ccxt_async.Exchange, symbol: str) -> BookTop | None:
    """The best bid/ask of ``symbol`` (``fetch_bids_asks`` where the venue has it, else the ticker), sizes in
    base units."""
    contract_size = contract_size_of(exchange, symbol)
    has = exchange.has
    if has.get("fetchBidsAsks") is True:
        tickers = await retry_read(
            lambda: exchange.fetch_bids_asks([symbol]), exchange=exchange, policy=POLL_POLICY
        )
        t = tickers.get(symbol)
        if t is not None:
            book = book_from_ticker(t, contract_size)
            if book is not None:
                return book
    ticker = await retry_read(lambda: exchange.fetch_ticker(symbol), exchange=exchange, policy=POLL_POLICY)
    return book_from_ticker(ticker, contract_size)


def _first(*values: Any) -> str | None:
    for v in values:
        text = dec_str(v)
        if text is not None:
            return text
    return None


async def fetch_okx_index(exchange: ccxt_async.Exchange, symbol: str) -> str | None:
    """OKX's index price of a swap's underlying (``GET /api/v5/market/index-tickers?instId=BTC-USDT``).

    ccxt's unified API gives OKX no index (its funding-rate, ticker and mark-price structures lack it), so
    the implicit endpoint is called; None for other venues or when OKX lists none.
    """
    if getattr(exchange, "id", None) != "okx":
        return None
    info = exchange.market(symbol).get("info") or {}
    family = info.get("instFamily") or info.get("uly")
    if not family:
        return None
    answer = await retry_read(
        lambda: exchange.public_get_market_index_tickers({"instId": family}),
        exchange=exchange,
        policy=POLL_POLICY,
    )
    rows = answer.get("data") or []
    return _first(rows[0].get("idxPx")) if rows else None


async def fetch_perp_marks(exchange: ccxt_async.Exchange, symbol: str) -> PerpMarks | None:
    """Mark, index and funding of a perpetual; None when the venue does not give all three.

    The funding rate (and its settlement time and interval) comes from ``fetch_funding_rate`` (Binance:
    ``/fapi/v1/premiumIndex``, which also carries mark and index). Where that structure has no mark or
    index, the ticker's ``markPrice``/``indexPrice`` are used (Bybit), then ``fetch_mark_price`` (OKX's mark)
    and `fetch_okx_index` (OKX's index).
    """
    fr = await retry_read(lambda: exchange.fetch_funding_rate(symbol), exchange=exchange, policy=POLL_POLICY)
    info = fr.get("info")
    raw: dict[str, Any] = info if isinstance(info, dict) else {}
    # Binance's own strings first (exact), then ccxt's unified numbers.
    mark = _first(raw.get("markPrice"), fr.get("markPrice"))
    index = _first(raw.get("indexPrice"), fr.get("indexPrice"))
    rate = _first(raw.get("lastFundingRate"), fr.get("fundingRate"))
    if rate is None:
        return None
    if (mark is None or index is None) and exchange.has.get("fetchTicker"):
        t = await retry_read(lambda: exchange.fetch_ticker(symbol), exchange=exchange, policy=POLL_POLICY)
        mark = mark or _first(t.get("markPrice"))
        index = index or _first(t.get("indexPrice"))
    if (mark is None or index is None) and exchange.has.get("fetchMarkPrice"):
        m = await retry_read(lambda: exchange.fetch_mark_price(symbol), exchange=exchange, policy=POLL_POLICY)
        mark = mark or _first(m.get("markPrice"))
        index = index or _first(m.get("indexPrice"))
    if index is None and mark is not None:
        index = await fetch_okx_index(exchange, symbol)
    if mark is None or index is None:
        return None
    # The coming settlement: ccxt's fundingTimestamp on Binance, Bybit and OKX (OKX's nextFundingTimestamp
    # is the settlement after it).
    nxt = fr.get("fundingTimestamp") or fr.get("nextFundingTimestamp")
    interval_min = funding_interval_min(fr.get("interval"))
    ts = fr.get("timestamp")
    return PerpMarks(mark, index, rate, int(nxt) if nxt else None, interval_min, int(ts) if ts else None)


def funding_interval_min(interval: Any) -> int | None:
    """ccxt's funding ``interval`` (``"8h"``) in minutes; None when it is not stated in hours."""
    if isinstance(interval, str) and interval.endswith("h") and interval[:-1].isdigit():
        return int(interval[:-1]) * 60
    return None


def marks_from_ticker(t: dict[str, Any], interval_min: int | None = None) -> PerpMarks | None:
    """A streamed mark-price ticker (ccxt.pro ``watch_mark_price``, or ``watch_ticker`` where the ticker
    carries the marks) as `PerpMarks`; None when it lacks the mark, the index or the funding rate (OKX's
    mark-price channel carries the mark only).

    Binance's ``markPriceUpdate`` is read from ``info`` (``p`` mark, ``i`` index, ``r`` rate, ``T`` next
    funding, ``E`` event time), as is Bybit's linear ticker (``markPrice``, ``indexPrice``, ``fundingRate``,
    ``nextFundingTime``): the venues' own strings; other venues' unified fields are the fallback.
    """
    info = t.get("info")
    raw: dict[str, Any] = info if isinstance(info, dict) else {}
    mark = _first(raw.get("p"), raw.get("markPrice"), t.get("markPrice"))
    index = _first(raw.get("i"), raw.get("indexPrice"), t.get("indexPrice"))
    rate = _first(raw.get("r"), raw.get("fundingRate"))
    if mark is None or index is None or rate is None:
        return None
    nxt = raw.get("T") or raw.get("nextFundingTime")
    ts = raw.get("E") or t.get("timestamp")
    return PerpMarks(mark, index, rate, int(nxt) if nxt else None, interval_min, int(ts) if ts else None)


@dataclass(frozen=True, slots=True)
class FundingInfo:
    """A perpetual's current funding rate (decimal string), its settlement time (ms) and interval (min)."""

    rate: str
    next_funding_ms: int | None
    interval_min: int | None


def funding_from_ccxt(fr: dict[str, Any]) -> FundingInfo | None:
    """A ccxt funding-rate structure (ccxt.pro ``watch_funding_rate``: OKX's ``funding-rate`` channel) as
    `FundingInfo`, the venue's own rate string first; None without a rate.

    The settlement time is ccxt's ``fundingTimestamp``, the coming one (OKX's ``fundingTime``; its
    ``nextFundingTime`` is the settlement after it), as `fetch_perp_marks` reads it.
    """
    info = fr.get("info")
    raw: dict[str, Any] = info if isinstance(info, dict) else {}
    rate = _first(raw.get("lastFundingRate"), raw.get("fundingRate"), fr.get("fundingRate"))
    if rate is None:
        return None
    nxt = fr.get("fundingTimestamp") or fr.get("nextFundingTimestamp")
    return FundingInfo(rate, int(nxt) if nxt else None, funding_interval_min(fr.get("interval")))


_OKX_PRICE_FIELD = {"markPrice": "markPx", "indexPrice": "idxPx"}


def stream_price(t: dict[str, Any], unified: str) -> str | None:
    """A streamed ticker's ``markPrice`` or ``indexPrice`` (``unified``), OKX's own string first (its
    ``mark-price`` channel's ``markPx``, ``index-tickers``' ``idxPx``); None when absent."""
    info = t.get("info")
    raw: dict[str, Any] = info if isinstance(info, dict) else {}
    return _first(raw.get(_OKX_PRICE_FIELD.get(unified, "")), t.get(unified))


@dataclass(frozen=True, slots=True)
class VenueTrade:
    """One public trade: the venue's id, price and size (base units) strings, taker side, time (ms).

    ``seller_aggressor`` is Binance's ``m`` (buyer is maker: the taker sold), or ccxt's taker ``side``
    where the venue has no such flag; None when neither says.
    """

    trade_id: str
    price: str
    size: str
    seller_aggressor: bool | None
    ts_ms: int | None


def trade_from_ccxt(t: dict[str, Any], contract_size: Decimal) -> VenueTrade | None:
    """A ccxt trade (``fetch_trades`` or ``watch_trades``) as a `VenueTrade`, its size in base units (ccxt's
    ``amount`` is in contracts where the venue counts them); None without id/price/size."""
    info = t.get("info")
    raw: dict[str, Any] = info if isinstance(info, dict) else {}
    trade_id = t.get("id")
    # Binance: stream p/q (trade, aggTrade) and REST aggTrades p/q, REST trades price/qty.
    price = raw.get("p") or raw.get("price") or dec_str(t.get("price"))
    size = raw.get("q") or raw.get("qty") or dec_str(t.get("amount"))
    if trade_id is None or price is None or size is None:
        return None
    maker = raw.get("m", raw.get("isBuyerMaker"))
    side = t.get("side")
    seller = (
        bool(maker) if isinstance(maker, bool) else ({"sell": True, "buy": False}.get(side) if side else None)
    )
    ts = t.get("timestamp")
    size = base_size(str(size), contract_size)
    return VenueTrade(str(trade_id), str(price), size, seller, int(ts) if ts else None)


# Binance: the recent-trades list (``/api/v3/trades``, ``/fapi/v1/trades``) rather than ccxt's default
# aggTrades: its ids are the trade ids of the ``@trade`` stream and the recordings (aggregate ids are not),
# and on USD-M it weighs 5 instead of 20.
_RECENT_TRADES_METHOD = {"binance": "publicGetTrades", "binanceusdm": "fapiPublicGetTrades"}


async def fetch_recent_trades(
    exchange: ccxt_async.Exchange, symbol: str, limit: int = 100
) -> list[VenueTrade]:
    """The venue's latest public trades of ``symbol``, oldest first, sizes in base units."""
    contract_size = contract_size_of(exchange, symbol)
    method = _RECENT_TRADES_METHOD.get(str(exchange.id))
    params = {"fetchTradesMethod": method} if method else {}
    rows = await retry_read(
        lambda: exchange.fetch_trades(symbol, limit=limit, params=params),
        exchange=exchange,
        policy=POLL_POLICY,
    )
    return [v for v in (trade_from_ccxt(t, contract_size) for t in rows) if v is not None]


class SeenIds:
    """The last ``size`` trade ids seen, to drop repeats (overlapping polls, a resubscription).

    Parameters
    ----------
    size : int
        Ids remembered; the oldest are forgotten first.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, trade_id: str) -> bool:
        """Remember ``trade_id``; True if it was already seen."""
        ids = self._ids
        if trade_id in ids:
            return True
        ids[trade_id] = None
        if len(ids) > self.size:
            ids.popitem(last=False)
        return False
