"""Binance websocket recordings (``<recv_us> <json>`` per line, gzip) to nautilus data.

Streams converted: ``bookTicker`` -> ``QuoteTick``; ``trade`` -> ``TradeTick``; ``markPrice@1s`` ->
``MarkPriceUpdate`` (``p``), ``IndexPriceUpdate`` (``i``) and ``FundingRateUpdate`` (``r``, settling at
``T``). Depth streams and REST snapshots are counted as skipped. A line that does not parse or fails
validation is counted as bad and skipped.

Timestamps are the exchange's: ``E`` (event time) where the message has it, ``T`` for trades. Spot
``bookTicker`` messages carry no exchange time, so their event time is the receive time less the feed
delay last measured on this recording (EMA of receive time minus ``E`` over messages that carry both).
``ts_init`` is the event time clamped to never go backwards, so the stream is ordered for the engine
without buffering; ``ts_event`` keeps the exchange time.

Prices and sizes are converted from their decimal strings to nautilus fixed-point integers exactly,
without passing through float.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import orjson
from isal import igzip_threaded
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import (
    FundingRateUpdate,
    IndexPriceUpdate,
    MarkPriceUpdate,
    QuoteTick,
    TradeTick,
)
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import FIXED_PRECISION, Price

from engine.data.stats import LoadStats

_SCALE = [10 ** (FIXED_PRECISION - d) for d in range(FIXED_PRECISION + 1)]
_MS = 1_000_000
_US = 1_000
_LATENCY_ALPHA = 0.05
_FUNDING_INTERVAL_MIN = 480  # Binance BTCUSDT; overridable per loader call.
# Mark and index prices are composites quoted to 8 decimals, off the instrument's tick grid.
REFERENCE_PRICE_PRECISION = 8

# Stream-name fragments found right after '{"stream":"<symbol>@' in each line.
_BOOK = b"bookTicker"
_TRADE = b"trade"
_MARK = b"markPrice"


class BadValue(ValueError):
    """A price or size string that is not a valid decimal on the instrument's grid."""


def to_raw(text: str, precision: int) -> int:
    """Convert a decimal string to a nautilus fixed-point raw value on a ``precision`` grid.

    Exact: the digits are read as an integer and scaled, never passed through float.

    Raises
    ------
    BadValue
        If the text is not a plain non-negative decimal or has non-zero digits beyond ``precision``.
    """
    dot = text.find(".")
    if dot < 0:
        digits, decimals = text, 0
    else:
        digits, decimals = text.replace(".", "", 1), len(text) - dot - 1
    if decimals > FIXED_PRECISION or not digits.isdigit():
        raise BadValue(f"not a non-negative decimal: {text!r}")
    raw = int(digits) * _SCALE[decimals]
    if raw % _SCALE[precision]:
        raise BadValue(f"{text!r} is finer than {precision} decimals")
    return raw


class RawCache(dict[str, int]):
    """Memo of ``to_raw`` for one precision: book prices and sizes repeat from tick to tick."""

    MAX = 200_000

    def __init__(self, precision: int) -> None:
        super().__init__()
        self.precision = precision

    def __missing__(self, text: str) -> int:
        if len(self) >= self.MAX:
            self.clear()
        raw = self[text] = to_raw(text, self.precision)
        return raw


class BinanceWsLoader:
    """Load one Binance websocket recording for one instrument.

    Parameters
    ----------
    path : Path
        The ``*.ndjson.gz`` (or plain ``*.ndjson``) recording.
    instrument : Instrument
        The instrument every message of the file is booked to (spot file -> spot pair, USD-M file ->
        perpetual); its precisions are the grid prices and sizes must sit on.
    funding_interval_min : int
        The funding interval stated on each ``FundingRateUpdate`` (Binance BTCUSDT: 480).
    """

    def __init__(
        self,
        path: Path,
        instrument: Instrument,
        funding_interval_min: int = _FUNDING_INTERVAL_MIN,
    ) -> None:
        self.path = Path(path)
        self.instrument = instrument
        self.funding_interval_min = funding_interval_min
        self.stats = LoadStats(source=self.path.name)

    def _open(self):
        if self.path.suffix == ".gz":
            # isal's threaded igzip: decompresses on a second thread, about 2.5x stdlib gzip here.
            return igzip_threaded.open(self.path, "rb", threads=1)
        return open(self.path, "rb")

    def events(self, time_shift_ns: int = 0) -> Iterator[Data]:
        """Yield nautilus data events one by one, in ``ts_init`` order."""
        for chunk in self.chunks(time_shift_ns=time_shift_ns):
            yield from chunk

    def chunks(self, size: int = 20_000, time_shift_ns: int = 0) -> Iterator[list[Data]]:
        """Yield the recording as lists of about ``size`` nautilus data events, in ``ts_init`` order.

        One flat loop on purpose: this is the replay's hot path (see scripts/bench_loaders.py).

        Parameters
        ----------
        size : int
            Events per chunk (the engine's streaming iterator takes lists).
        time_shift_ns : int
            Added to every timestamp (used to tile a recording for benchmarks).
        """
        inst = self.instrument
        iid = inst.id
        pp = inst.price_precision
        sp = inst.size_precision
        px_raw = RawCache(pp)
        sz_raw = RawCache(sp)
        ref_raw = RawCache(REFERENCE_PRICE_PRECISION)
        interval = self.funding_interval_min
        stats = self.stats
        bad = stats.bad
        loads = orjson.loads
        quote_from_raw = QuoteTick.from_raw
        trade_from_raw = TradeTick.from_raw
        price_from_raw = Price.from_raw
        buyer, seller = AggressorSide.BUYER, AggressorSide.SELLER
        latency_ns = 0.0
        have_latency = False
        last_init = 0
        line_no = 0
        out: list[Data] = []
        append = out.append
        with self._open() as fh:
            for line in fh:
                line_no += 1
                sp_at = line.find(b" ")
                head = line[sp_at + 12 : sp_at + 40]  # after ' {"stream":"' sits '<symbol>@<kind>'
                at = head.find(b"@")
                if sp_at <= 0 or at < 0:
                    if b'"lastUpdateId"' in line[:120]:
                        stats.skipped += 1  # REST depth snapshot
                    elif line.strip():
                        bad(line_no, "not '<recv_us> {\"stream\": ...}'")
                    continue
                kind = head[at + 1 : at + 5]
                if kind == b"book":
                    which = 0
                elif kind == b"trad":
                    which = 1
                elif kind == b"mark":
                    which = 2
                else:
                    stats.skipped += 1
                    continue
                try:
                    recv_ns = int(line[:sp_at]) * _US + time_shift_ns
                    d = loads(line[sp_at + 1 :])["data"]
                    e_ms = d.get("E")
                    if e_ms is not None:
                        ts = e_ms * _MS + time_shift_ns
                        if have_latency:
                            latency_ns += _LATENCY_ALPHA * (recv_ns - ts - latency_ns)
                        else:
                            latency_ns, have_latency = float(recv_ns - ts), True
                    if which == 0:
                        if e_ms is None:
                            ts = recv_ns - int(latency_ns)
                        bid = px_raw[d["b"]]
                        ask = px_raw[d["a"]]
                        if bid <= 0 or ask <= 0 or bid > ask:
                            bad(line_no, f"invalid book bid={d['b']} ask={d['a']}")
                            continue
                        init = ts if ts > last_init else last_init
                        append(
                            quote_from_raw(
                                iid,
                                bid,
                                ask,
                                pp,
                                pp,
                                sz_raw[d["B"]],
                                sz_raw[d["A"]],
                                sp,
                                sp,
                                ts,
                                init,
                            )
                        )
                    elif which == 1:
                        ts = d["T"] * _MS + time_shift_ns
                        px = px_raw[d["p"]]
                        qty = sz_raw[d["q"]]
                        if px <= 0 or qty <= 0:
                            bad(line_no, f"non-positive trade p={d['p']} q={d['q']}")
                            continue
                        init = ts if ts > last_init else last_init
                        side = seller if d["m"] else buyer
                        append(trade_from_raw(iid, px, pp, qty, sp, side, TradeId(str(d["t"])), ts, init))
                    else:
                        mark_raw = ref_raw[d["p"]]
                        index_raw = ref_raw[d["i"]]
                        rate = Decimal(d["r"])
                        settle_ns = d["T"] * _MS + time_shift_ns
                        if mark_raw <= 0 or index_raw <= 0 or not rate.is_finite():
                            bad(line_no, "non-positive mark/index or non-finite rate")
                            continue
                        init = ts if ts > last_init else last_init
                        append(
                            MarkPriceUpdate(
                                iid, price_from_raw(mark_raw, REFERENCE_PRICE_PRECISION), ts, init
                            )
                        )
                        append(
                            IndexPriceUpdate(
                                iid, price_from_raw(index_raw, REFERENCE_PRICE_PRECISION), ts, init
                            )
                        )
                        append(
                            FundingRateUpdate(
                                iid,
                                rate,
                                ts_event=ts,
                                ts_init=init,
                                interval=interval,
                                next_funding_ns=settle_ns,
                            )
                        )
                    last_init = init
                except (ValueError, KeyError, TypeError, IndexError, ArithmeticError) as exc:
                    # JSONDecodeError and BadValue are ValueErrors; decimal errors are ArithmeticErrors.
                    bad(line_no, f"{type(exc).__name__}: {exc}"[:160])
                    continue
                if len(out) >= size:
                    stats.events += len(out)
                    yield out
                    out = []
                    append = out.append
        stats.lines = line_no
        stats.events += len(out)
        if out:
            yield out
