"""The emulator's market: recorded Binance streams replayed on a controllable clock.

The recordings are read with the project's loader (`engine.data.binance_ws.BinanceWsLoader`) into light
tuples once, so several emulator instances (one per test) can share one load. The clock only moves
forward, either when a test steps it (``advance_to`` / ``advance_events``) or, in replay mode, from a
background task that follows wall time times a speed factor (see `engine.venues.emulator.app`).
"""

from __future__ import annotations

import gzip
import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from pathlib import Path

from nautilus_trader.model.data import (
    FundingRateUpdate,
    IndexPriceUpdate,
    MarkPriceUpdate,
    QuoteTick,
    TradeTick,
)
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.instruments import Instrument

from engine.data.binance_ws import BinanceWsLoader
from engine.instruments import linear_perpetual, spot_pair

_NS_PER_MS = 1_000_000
_NEVER = 2**63


class MarketKind(Enum):
    """Which Binance API family serves a market."""

    SPOT = "spot"
    USDM = "usdm"


@dataclass(frozen=True)
class MarketSpec:
    """Static facts of one emulated market (what exchangeInfo states).

    Attributes
    ----------
    kind : MarketKind
        Spot (``/api/v3``) or USD-M perpetual (``/fapi``).
    symbol : str
        Binance symbol, e.g. ``BTCUSDT``.
    base, quote : str
        Assets.
    tick_size, step_size : Decimal
        PRICE_FILTER tickSize and LOT_SIZE stepSize.
    min_qty, max_qty : Decimal
        LOT_SIZE bounds.
    min_notional : Decimal
        NOTIONAL (spot) / MIN_NOTIONAL (USD-M) filter.
    """

    kind: MarketKind
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal

    @property
    def price_decimals(self) -> int:
        """Decimals of the tick size (0.10 -> 1)."""
        return _decimals(self.tick_size)

    @property
    def qty_decimals(self) -> int:
        """Decimals of the step size (0.001 -> 3)."""
        return _decimals(self.step_size)


def _decimals(x: Decimal) -> int:
    exponent = x.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def default_spec(kind: MarketKind, symbol: str = "BTCUSDT") -> MarketSpec:
    """Return Binance's published filters for BTCUSDT spot or the USD-M perpetual.

    Spot: tick 0.01, step 0.00001, min notional 5 USDT. USD-M: tick 0.10, step 0.001, min notional
    100 USDT (Binance raised it from 5; ccxt's fixture still shows 5).
    """
    base, quote = symbol[:-4], symbol[-4:]
    if kind is MarketKind.SPOT:
        return MarketSpec(
            kind,
            symbol,
            base,
            quote,
            Decimal("0.01"),
            Decimal("0.00001"),
            Decimal("0.00001"),
            Decimal("9000"),
            Decimal("5"),
        )
    return MarketSpec(
        kind,
        symbol,
        base,
        quote,
        Decimal("0.10"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("1000"),
        Decimal("100"),
    )


def instrument_for(spec: MarketSpec) -> Instrument:
    """Build the nautilus instrument the loader books a recording to."""
    if spec.kind is MarketKind.SPOT:
        return spot_pair(
            "BINANCE",
            spec.symbol,
            spec.base,
            spec.quote,
            spec.tick_size,
            spec.step_size,
            Decimal("0.001"),
            Decimal("0.001"),
            spec.min_notional,
        )
    return linear_perpetual(
        "BINANCE",
        f"{spec.symbol}-PERP",
        spec.base,
        spec.quote,
        spec.tick_size,
        spec.step_size,
        Decimal("0.0002"),
        Decimal("0.0005"),
        Decimal("0.05"),
        Decimal("0.025"),
        spec.min_notional,
    )


# Event tuples, kept small: (ts_ns, market_index, kind, payload...). Decimals are exact copies of the
# recorded strings (nautilus fixed-point -> Decimal, no float on the way).
QUOTE, TRADE, MARK = 0, 1, 2
Event = tuple[int, int, int, tuple[object, ...]]


@dataclass(frozen=True)
class Recording:
    """Recorded events of one or more markets, merged in time order."""

    specs: tuple[MarketSpec, ...]
    events: tuple[Event, ...]
    files: tuple[Path, ...]


def detect_kind(path: Path) -> MarketKind:
    """Guess spot vs USD-M for a recording: by file name, else by a markPrice stream in the first lines."""
    name = path.name.lower()
    if "usdm" in name or "fapi" in name or "perp" in name:
        return MarketKind.USDM
    if "spot" in name:
        return MarketKind.SPOT
    opener: Callable[..., object] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:  # type: ignore[attr-defined]
        for i, line in enumerate(fh):
            if "@markPrice" in line:
                return MarketKind.USDM
            if i > 2000:
                break
    return MarketKind.SPOT


def detect_symbol(path: Path) -> str:
    """Read the symbol from the first stream name of a recording (``btcusdt@...`` -> ``BTCUSDT``)."""
    opener: Callable[..., object] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:  # type: ignore[attr-defined]
        for i, line in enumerate(fh):
            at = line.find('"stream":"')
            if at >= 0:
                return line[at + 10 : line.index("@", at)].upper()
            if i > 100:
                break
    return "BTCUSDT"


def _convert(events: Iterable[object], index: int) -> list[Event]:
    out: list[Event] = []
    append = out.append
    for ev in events:
        if isinstance(ev, QuoteTick):
            append(
                (
                    ev.ts_init,
                    index,
                    QUOTE,
                    (
                        ev.bid_price.as_decimal(),
                        ev.ask_price.as_decimal(),
                        ev.bid_size.as_decimal(),
                        ev.ask_size.as_decimal(),
                    ),
                )
            )
        elif isinstance(ev, TradeTick):
            append(
                (
                    ev.ts_init,
                    index,
                    TRADE,
                    (
                        ev.price.as_decimal(),
                        ev.size.as_decimal(),
                        ev.aggressor_side == AggressorSide.SELLER,
                        int(ev.trade_id.value),
                        ev.ts_event,
                    ),
                )
            )
        elif isinstance(ev, MarkPriceUpdate):
            mark = ev.value.as_decimal()
        elif isinstance(ev, IndexPriceUpdate):
            index_px = ev.value.as_decimal()
        elif isinstance(ev, FundingRateUpdate):
            # The loader emits mark, index, funding for one markPrice message, in that order.
            append((ev.ts_init, index, MARK, (mark, index_px, ev.rate, ev.next_funding_ns, ev.ts_event)))
    return out


def load_recording(files: Sequence[Path | str], specs: Sequence[MarketSpec] | None = None) -> Recording:
    """Load recordings into one time-ordered event tuple.

    Files of the same market (same kind and symbol, e.g. two consecutive USD-M days) are one market.

    Parameters
    ----------
    files : sequence of Path
        ``*.ndjson.gz`` Binance websocket recordings (see ../shared/data/README.md).
    specs : sequence of MarketSpec, optional
        One per file; default: detected kind and symbol with Binance's published BTCUSDT filters.
    """
    return _load_cached(tuple(Path(f).resolve() for f in files), tuple(specs) if specs else None)


@lru_cache(maxsize=8)
def _load_cached(files: tuple[Path, ...], specs: tuple[MarketSpec, ...] | None) -> Recording:
    market_specs: list[MarketSpec] = []
    per_market: list[list[Event]] = []
    for i, path in enumerate(files):
        spec = specs[i] if specs else default_spec(detect_kind(path), detect_symbol(path))
        if spec in market_specs:
            index = market_specs.index(spec)
        else:
            index = len(market_specs)
            market_specs.append(spec)
            per_market.append([])
        loader = BinanceWsLoader(path, instrument_for(spec))
        per_market[index].extend(_convert(loader.events(), index))
    streams = [sorted(evs, key=lambda e: e[0]) for evs in per_market]
    merged = tuple(heapq.merge(*streams, key=lambda e: e[0]))
    return Recording(tuple(market_specs), merged, files)


@dataclass
class Ticker24h:
    """Running 24h statistics, from the start of the recording (it is minutes long)."""

    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    last: Decimal | None = None
    last_qty: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    count: int = 0
    first_id: int = -1
    last_id: int = -1
    open_time_ms: int = 0


@dataclass
class MarketState:
    """What the market of one symbol looks like at the clock's time."""

    spec: MarketSpec
    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_qty: Decimal = Decimal(0)
    ask_qty: Decimal = Decimal(0)
    quote_ts_ns: int = 0
    mark: Decimal | None = None
    index: Decimal | None = None
    funding_rate: Decimal | None = None
    next_funding_ns: int = 0
    mark_ts_ns: int = 0
    ticker: Ticker24h = field(default_factory=Ticker24h)


@dataclass(frozen=True)
class FundingSettlement:
    """A recorded funding settlement: the rate that settled at ``funding_time_ns`` and the mark used."""

    market: int
    funding_time_ns: int
    rate: Decimal
    mark: Decimal


class MarketReplay:
    """Apply a `Recording` to per-market state as the clock moves.

    Parameters
    ----------
    recording : Recording
        The events to replay.
    on_quote : callable, optional
        ``on_quote(market_index)`` after each book update (the venue matches resting orders there).
    on_funding : callable, optional
        ``on_funding(FundingSettlement)`` when the recording shows a settlement has happened.
    on_funding_time : callable, optional
        ``on_funding_time(market_index, funding_time_ns)`` the moment the clock reaches a funding time,
        before anything else happens at that time: the venue records which positions are entitled
        (the rate itself is only final a moment later, see `_apply`).

    Attributes
    ----------
    on_advance : callable or None
        ``on_advance(first, stop)`` once per advance that applied events ``recording.events[first:stop]``
        (the websocket streams push them; one call per step keeps the per-event path unchanged).
    """

    def __init__(
        self,
        recording: Recording,
        on_quote: Callable[[int], None] | None = None,
        on_funding: Callable[[FundingSettlement], None] | None = None,
        on_funding_time: Callable[[int, int], None] | None = None,
    ) -> None:
        self.recording = recording
        self.markets = [MarketState(spec) for spec in recording.specs]
        self.on_quote = on_quote
        self.on_funding = on_funding
        self.on_funding_time = on_funding_time
        self.on_advance: Callable[[int, int], None] | None = None
        self._reached: set[tuple[int, int]] = set()
        self._next_reach_ns = _NEVER
        self.cursor = 0
        self.now_ns = recording.events[0][0] if recording.events else 0
        self.settlements: list[FundingSettlement] = []

    def market_index(self, kind: MarketKind, symbol: str) -> int | None:
        """Index of the market of ``kind`` trading ``symbol``, or None."""
        for i, m in enumerate(self.markets):
            if m.spec.kind is kind and m.spec.symbol == symbol:
                return i
        return None

    @property
    def now_ms(self) -> int:
        """The market clock in milliseconds since the epoch."""
        return self.now_ns // _NS_PER_MS

    @property
    def start_ns(self) -> int:
        """Time of the first recorded event."""
        return self.recording.events[0][0] if self.recording.events else 0

    @property
    def end_ns(self) -> int:
        """Time of the last recorded event."""
        return self.recording.events[-1][0] if self.recording.events else 0

    @property
    def exhausted(self) -> bool:
        """True once every recorded event has been applied."""
        return self.cursor >= len(self.recording.events)

    def advance_events(self, n: int) -> int:
        """Apply the next ``n`` events; return how many were applied."""
        events = self.recording.events
        stop = min(len(events), self.cursor + n)
        first = self.cursor
        while self.cursor < stop:
            self._apply(events[self.cursor])
            self.cursor += 1
        if self.on_advance is not None and stop > first:
            self.on_advance(first, stop)
        return stop - first

    def advance_to(self, ts_ns: int) -> int:
        """Apply every event at or before ``ts_ns`` and set the clock there (never backwards)."""
        events = self.recording.events
        first = self.cursor
        while self.cursor < len(events) and events[self.cursor][0] <= ts_ns:
            self._apply(events[self.cursor])
            self.cursor += 1
        self.now_ns = max(self.now_ns, ts_ns)
        if self.now_ns >= self._next_reach_ns:
            self._reach(self.now_ns)
        if self.on_advance is not None and self.cursor > first:
            self.on_advance(first, self.cursor)
        return self.cursor - first

    def advance_until_quoted(self) -> None:
        """Step until every market has a book (and every USD-M market a mark price), then apply the
        other events stamped with that same time: the venue cannot fill or value positions before."""

        def missing(m: MarketState) -> bool:
            return m.bid is None or (m.spec.kind is MarketKind.USDM and m.mark is None)

        while not self.exhausted and any(missing(m) for m in self.markets):
            self.advance_events(1)
        self.advance_to(self.now_ns)

    def _reach(self, now_ns: int) -> None:
        """Announce every funding time the clock has reached, once each."""
        upcoming = _NEVER
        for i, m in enumerate(self.markets):
            t = m.next_funding_ns
            if t <= 0 or (i, t) in self._reached:
                continue
            if now_ns >= t:
                self._reached.add((i, t))
                if self.on_funding_time is not None:
                    self.on_funding_time(i, t)
            else:
                upcoming = min(upcoming, t)
        self._next_reach_ns = upcoming

    def _apply(self, ev: Event) -> None:
        ts, i, kind, p = ev
        if ts > self.now_ns:
            self.now_ns = ts
        if ts >= self._next_reach_ns:  # cheap test on the hot path; the scan runs once per funding time
            self._reach(ts)
        m = self.markets[i]
        if kind == QUOTE:
            m.bid, m.ask, m.bid_qty, m.ask_qty = p  # type: ignore[assignment]
            m.quote_ts_ns = ts
            if self.on_quote is not None:
                self.on_quote(i)
        elif kind == TRADE:
            price, qty, _seller, trade_id, ts_event = p
            assert isinstance(price, Decimal) and isinstance(qty, Decimal)
            assert isinstance(trade_id, int) and isinstance(ts_event, int)
            t = m.ticker
            if t.open is None:
                t.open, t.high, t.low, t.first_id = price, price, price, trade_id
                t.open_time_ms = ts_event // _NS_PER_MS
            else:
                assert t.high is not None and t.low is not None
                t.high = max(t.high, price)
                t.low = min(t.low, price)
            t.last, t.last_qty, t.last_id = price, qty, trade_id
            t.volume += qty
            t.quote_volume += price * qty
            t.count += 1
        else:
            mark, index_px, rate, next_ns, ts_event = p
            assert isinstance(mark, Decimal) and isinstance(rate, Decimal) and isinstance(next_ns, int)
            # Binance announces the next funding time only after the current one has settled, and the
            # last rate it showed for a funding time is the rate that settled (2023-04-05 00:00:
            # 0.00002760, one message after 00:00). So a later `T` books the previous settlement.
            if m.funding_rate is not None and m.mark is not None and next_ns > m.next_funding_ns > 0:
                settlement = FundingSettlement(i, m.next_funding_ns, m.funding_rate, m.mark)
                self.settlements.append(settlement)
                if self.on_funding is not None:
                    self.on_funding(settlement)
            m.mark, m.index, m.funding_rate, m.next_funding_ns = mark, index_px, rate, next_ns  # type: ignore[assignment]
            m.mark_ts_ns = ts_event  # type: ignore[assignment]
            if (i, next_ns) not in self._reached:
                if ts >= next_ns:
                    self._reach(ts)
                else:
                    self._next_reach_ns = min(self._next_reach_ns, next_ns)
