"""The book as flat numpy arrays, the form the numba risk kernels read.

A :class:`Book` keeps the whole book in two contiguous arenas, one ``int64`` (``ints``) and one
``float64`` (``floats``). Every field (``qty``, ``mark``, ``venue_cash``, ...) is a contiguous
1-D view into an arena, so updating ``book.mark[i] = x`` is seen by the kernels at once, and a kernel
call passes two arrays instead of thirty: numba's dispatch costs about 65 ns per array argument, which
alone would break the 2 microsecond budget of the pre-trade check.

Layout (``n`` positions, ``m`` venues, ``k`` open orders, ``t`` margin tiers, ``a`` assets)::

    ints   = [header (8)] [position ints: 6 x n] [venue mode: m] [order ints: 3 x k]
             [venue index: m + 1 starts, n slots grouped by venue]
    floats = [position floats: 10 x n] [tiers: 3 x t] [venue cash: m] [order floats: 4 x k]

The venue index lets the pre-trade check visit only the positions at the venues an order trades. A
slot's venue, asset and kind are structure: never change them in place, build a new book.

A position row is a *slot*: one per instrument the desk may trade, with ``qty == 0`` when flat. The
pre-trade check addresses an order by its slot, which carries the venue, asset, kind, multiplier,
margin rates and funding of the instrument.

Limits live in a separate float64 arena (:class:`LimitArrays`), since they change with the config
and not with the market::

    limits = [venue limits: LIM_V_FIELDS x m] [max |net delta|: a] [globals: LIM_G_FIELDS] [shocks: s]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Instrument kinds.
KIND_SPOT = 0
KIND_PERP = 1
KIND_FUTURE = 2

# Margin modes.
MODE_CROSS = 0
MODE_ISOLATED = 1

# Header of the int arena.
HDR_N, HDR_M, HDR_K, HDR_T, HDR_A = 0, 1, 2, 3, 4
HEADER = 8

# Position int fields (rows of the position int block).
PI_VENUE, PI_ASSET, PI_KIND, PI_ISOLATED, PI_TIER_START, PI_TIER_COUNT = range(6)
POS_I_FIELDS = 6
# Position float fields.
(
    PF_QTY,
    PF_MULT,
    PF_MARK,
    PF_ENTRY,
    PF_MMR,
    PF_IMR,
    PF_ISO_MARGIN,
    PF_FUNDING_ACCRUED,
    PF_FUNDING_RATE,
    PF_FUNDING_INTERVAL_H,
) = range(10)
POS_F_FIELDS = 10
# Margin tier fields (Binance style bracket: notional cap, maintenance rate, maintenance amount).
TF_CAP, TF_RATE, TF_AMOUNT = range(3)
TIER_FIELDS = 3
# Open order fields.
OI_VENUE, OI_ASSET, OI_KIND = range(3)
ORD_I_FIELDS = 3
OF_QTY, OF_PRICE, OF_MULT, OF_IMR = range(4)
ORD_F_FIELDS = 4

# Venue limit fields (rows of the venue block of the limit arena).
(
    LV_EXPOSURE_USD,
    LV_EXPOSURE_SHARE,
    LV_HEADROOM_FLOOR,
    LV_REDUCING_FLOOR,
    LV_HALT_FLOOR,
    LV_MIN_LIQ_DIST,
) = range(6)
LIM_V_FIELDS = 6
# Global limit fields.
LG_MAX_FUNDING_DRAG, LG_HORIZON_H, LG_SHOCK_FLOOR, LG_N_SHOCKS = range(4)
LIM_G_FIELDS = 4

# Rows of the per-venue margin output of ``kernels.margin``.
VM_CASH, VM_UPNL, VM_EQUITY, VM_MAINT, VM_IM_POS, VM_IM_ORDERS, VM_HEADROOM, VM_FREE = range(8)
VM_ROWS = 8
# Rows of the per-venue exposure output of ``kernels.venue_exposure``.
VE_ASSETS, VE_NOTIONAL, VE_EXPOSURE, VE_SHARE = range(4)
VE_ROWS = 4
# Rows of the per-position funding output and the book-level funding totals.
FP_NEXT, FP_HORIZON, FP_AGAINST = range(3)
FP_ROWS = 3
FT_ACCRUED, FT_NEXT, FT_HORIZON, FT_DRAG = range(4)
FT_ROWS = 4
# Rows of the liquidation output.
LQ_PRICE, LQ_DIST_PCT = range(2)
LQ_ROWS = 2

# Decision codes of the pre-trade check, in the order the checks run.
APPROVE = 0
DENY_INVALID_ORDER = 1
DENY_NET_DELTA = 2
DENY_INITIAL_MARGIN = 3
DENY_MARGIN_HEADROOM = 4
DENY_SHOCK_HEADROOM = 5
DENY_LIQUIDATION_DISTANCE = 6
DENY_VENUE_EXPOSURE_USD = 7
DENY_VENUE_EXPOSURE_SHARE = 8
DENY_FUNDING_DRAG = 9
DECISION_NAMES: dict[int, str] = {
    APPROVE: "approve",
    DENY_INVALID_ORDER: "invalid_order",
    DENY_NET_DELTA: "net_delta",
    DENY_INITIAL_MARGIN: "initial_margin",
    DENY_MARGIN_HEADROOM: "margin_headroom",
    DENY_SHOCK_HEADROOM: "shock_headroom",
    DENY_LIQUIDATION_DISTANCE: "liquidation_distance",
    DENY_VENUE_EXPOSURE_USD: "venue_exposure_usd",
    DENY_VENUE_EXPOSURE_SHARE: "venue_exposure_share",
    DENY_FUNDING_DRAG: "funding_drag",
}
# The result block at the head of the pre-trade work buffer.
R_CODE, R_VALUE, R_LIMIT, R_INDEX, R_BEFORE, R_SHOCK = range(6)
RESULT_SIZE = 8


@dataclass(frozen=True, slots=True)
class MarginTier:
    """One maintenance-margin bracket, Binance style.

    A position whose notional ``N`` falls in this bracket (``N <= notional_cap`` and above the previous
    bracket's cap) has maintenance margin ``N * rate - amount``.
    """

    notional_cap: float
    rate: float
    amount: float = 0.0


@dataclass(frozen=True, slots=True)
class Position:
    """One position slot, as the builder takes it. ``qty`` is signed, in contracts (base units when
    ``multiplier == 1``); ``funding_accrued`` is USD received (+) or paid (-) so far."""

    venue: int
    asset: int
    kind: int
    qty: float
    mark: float
    entry: float = 0.0
    multiplier: float = 1.0
    mmr: float = 0.0
    imr: float = 0.0
    isolated: bool = False
    isolated_margin: float = 0.0
    funding_accrued: float = 0.0
    funding_rate: float = 0.0
    funding_interval_hours: float = 8.0
    tiers: tuple[MarginTier, ...] = ()


@dataclass(frozen=True, slots=True)
class Venue:
    """One venue account: ``cash`` is the USD wallet balance there (isolated margins included, spot
    holdings and unrealized P&L excluded)."""

    cash: float
    margin_mode: int = MODE_CROSS


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """A resting order that could still fill; ``qty`` is signed remaining quantity in contracts."""

    venue: int
    asset: int
    kind: int
    qty: float
    price: float
    multiplier: float = 1.0
    imr: float = 0.0


def _int_offsets(n: int, m: int, k: int) -> tuple[int, int, int]:
    """Offsets of the position, venue and order blocks in the int arena."""
    pos = HEADER
    ven = pos + POS_I_FIELDS * n
    orders = ven + m
    return pos, ven, orders


def _float_offsets(n: int, m: int, t: int) -> tuple[int, int, int, int]:
    """Offsets of the position, tier, venue and order blocks in the float arena."""
    pos = 0
    tiers = POS_F_FIELDS * n
    ven = tiers + TIER_FIELDS * t
    orders = ven + m
    return pos, tiers, ven, orders


@dataclass(frozen=True)
class Book:
    """The book in two arenas, with named contiguous views.

    Build it with :func:`build_book`. The views share memory with ``ints``/``floats``: write marks,
    quantities, cash and funding rates in place and the kernels see them. Changing the number of
    positions, venues, tiers or orders means building a new book.

    Attributes
    ----------
    ints : numpy.ndarray
        int64 arena (header, position ints, venue modes, order ints).
    floats : numpy.ndarray
        float64 arena (position floats, tiers, venue cash, order floats).
    """

    ints: I64
    floats: F64
    venue: I64 = field(init=False, repr=False)
    asset: I64 = field(init=False, repr=False)
    kind: I64 = field(init=False, repr=False)
    isolated: I64 = field(init=False, repr=False)
    tier_start: I64 = field(init=False, repr=False)
    tier_count: I64 = field(init=False, repr=False)
    qty: F64 = field(init=False, repr=False)
    multiplier: F64 = field(init=False, repr=False)
    mark: F64 = field(init=False, repr=False)
    entry: F64 = field(init=False, repr=False)
    mmr: F64 = field(init=False, repr=False)
    imr: F64 = field(init=False, repr=False)
    isolated_margin: F64 = field(init=False, repr=False)
    funding_accrued: F64 = field(init=False, repr=False)
    funding_rate: F64 = field(init=False, repr=False)
    funding_interval_hours: F64 = field(init=False, repr=False)
    tier_cap: F64 = field(init=False, repr=False)
    tier_rate: F64 = field(init=False, repr=False)
    tier_amount: F64 = field(init=False, repr=False)
    venue_mode: I64 = field(init=False, repr=False)
    venue_cash: F64 = field(init=False, repr=False)
    order_venue: I64 = field(init=False, repr=False)
    order_asset: I64 = field(init=False, repr=False)
    order_kind: I64 = field(init=False, repr=False)
    order_qty: F64 = field(init=False, repr=False)
    order_price: F64 = field(init=False, repr=False)
    order_multiplier: F64 = field(init=False, repr=False)
    order_imr: F64 = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ints, floats = self.ints, self.floats
        if ints.dtype != np.int64 or floats.dtype != np.float64:
            raise TypeError("Book arenas must be int64 and float64")
        if not (ints.flags.c_contiguous and floats.flags.c_contiguous):
            raise ValueError("Book arenas must be contiguous")
        n, m, k, t = (int(ints[h]) for h in (HDR_N, HDR_M, HDR_K, HDR_T))
        ip, iv, io = _int_offsets(n, m, k)
        fp, ft, fv, fo = _float_offsets(n, m, t)
        if ints.shape[0] != io + ORD_I_FIELDS * k + m + 1 + n or floats.shape[0] != fo + ORD_F_FIELDS * k:
            raise ValueError("Book arena sizes do not match the header")
        s = object.__setattr__
        for j, name in enumerate(("venue", "asset", "kind", "isolated", "tier_start", "tier_count")):
            s(self, name, ints[ip + j * n : ip + (j + 1) * n])
        pf_names = (
            "qty",
            "multiplier",
            "mark",
            "entry",
            "mmr",
            "imr",
            "isolated_margin",
            "funding_accrued",
            "funding_rate",
            "funding_interval_hours",
        )
        for j, name in enumerate(pf_names):
            s(self, name, floats[fp + j * n : fp + (j + 1) * n])
        for j, name in enumerate(("tier_cap", "tier_rate", "tier_amount")):
            s(self, name, floats[ft + j * t : ft + (j + 1) * t])
        s(self, "venue_mode", ints[iv : iv + m])
        s(self, "venue_cash", floats[fv : fv + m])
        for j, name in enumerate(("order_venue", "order_asset", "order_kind")):
            s(self, name, ints[io + j * k : io + (j + 1) * k])
        for j, name in enumerate(("order_qty", "order_price", "order_multiplier", "order_imr")):
            s(self, name, floats[fo + j * k : fo + (j + 1) * k])

    @property
    def n_positions(self) -> int:
        """Number of position slots."""
        return int(self.ints[HDR_N])

    @property
    def n_venues(self) -> int:
        """Number of venues."""
        return int(self.ints[HDR_M])

    @property
    def n_orders(self) -> int:
        """Number of open orders."""
        return int(self.ints[HDR_K])

    @property
    def n_tiers(self) -> int:
        """Number of margin tiers over all positions."""
        return int(self.ints[HDR_T])

    @property
    def n_assets(self) -> int:
        """Number of assets (asset indices run from 0 to ``n_assets - 1``)."""
        return int(self.ints[HDR_A])

    def slot(self, venue: int, asset: int, kind: int) -> int:
        """Return the slot (position row) of an instrument, or -1 if the book has none.

        Parameters
        ----------
        venue, asset, kind : int
            Venue index, asset index and instrument kind (``KIND_SPOT``, ``KIND_PERP``, ``KIND_FUTURE``).
        """
        for i in range(self.n_positions):
            if self.venue[i] == venue and self.asset[i] == asset and self.kind[i] == kind:
                return i
        return -1

    def copy(self) -> Book:
        """Return a deep copy (new arenas)."""
        return Book(self.ints.copy(), self.floats.copy())


def _check_finite(value: float, what: str) -> None:
    if not np.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")


def build_book(
    positions: Sequence[Position],
    venues: Sequence[Venue],
    orders: Sequence[OpenOrder] = (),
    n_assets: int | None = None,
) -> Book:
    """Build a :class:`Book` from Python records.

    Parameters
    ----------
    positions : sequence of Position
        One slot per instrument (``qty`` may be 0). A position at a venue whose ``margin_mode`` is
        ``MODE_ISOLATED`` is isolated whatever its own flag says.
    venues : sequence of Venue
        Venue ``j`` is the account referred to by venue index ``j``.
    orders : sequence of OpenOrder, optional
        Resting orders that could still fill.
    n_assets : int, optional
        Number of assets; defaults to one more than the largest asset index used.

    Returns
    -------
    Book

    Raises
    ------
    ValueError
        On an index out of range, an unknown kind or mode, a non-finite number, a non-positive mark,
        multiplier or funding interval, a margin rate outside [0, 1), or tiers whose caps do not rise.
    """
    n, m, k = len(positions), len(venues), len(orders)
    used = [p.asset for p in positions] + [o.asset for o in orders]
    a = (max(used) + 1 if used else 0) if n_assets is None else n_assets
    t = sum(len(p.tiers) for p in positions)
    ints = np.zeros(HEADER + POS_I_FIELDS * n + m + ORD_I_FIELDS * k + m + 1 + n, dtype=np.int64)
    floats = np.zeros(POS_F_FIELDS * n + TIER_FIELDS * t + m + ORD_F_FIELDS * k, dtype=np.float64)
    ints[HDR_N], ints[HDR_M], ints[HDR_K], ints[HDR_T], ints[HDR_A] = n, m, k, t, a
    book = Book(ints, floats)
    for j, v in enumerate(venues):
        if v.margin_mode not in (MODE_CROSS, MODE_ISOLATED):
            raise ValueError(f"venues[{j}].margin_mode must be MODE_CROSS or MODE_ISOLATED")
        _check_finite(v.cash, f"venues[{j}].cash")
        book.venue_mode[j] = v.margin_mode
        book.venue_cash[j] = v.cash
    tier = 0
    for i, p in enumerate(positions):
        where = f"positions[{i}]"
        if not 0 <= p.venue < m:
            raise ValueError(f"{where}.venue {p.venue} out of range 0..{m - 1}")
        if not 0 <= p.asset < a:
            raise ValueError(f"{where}.asset {p.asset} out of range 0..{a - 1}")
        if p.kind not in (KIND_SPOT, KIND_PERP, KIND_FUTURE):
            raise ValueError(f"{where}.kind must be KIND_SPOT, KIND_PERP or KIND_FUTURE")
        for name in ("qty", "entry", "isolated_margin", "funding_accrued", "funding_rate"):
            _check_finite(getattr(p, name), f"{where}.{name}")
        for name in ("mark", "multiplier", "funding_interval_hours"):
            value = getattr(p, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{where}.{name} must be finite and > 0, got {value!r}")
        for name in ("mmr", "imr"):
            value = getattr(p, name)
            if not 0 <= value < 1:
                raise ValueError(f"{where}.{name} must be in [0, 1), got {value!r}")
        isolated = p.isolated or venues[p.venue].margin_mode == MODE_ISOLATED
        book.venue[i], book.asset[i], book.kind[i] = p.venue, p.asset, p.kind
        book.isolated[i] = 1 if isolated else 0
        book.qty[i], book.multiplier[i], book.mark[i], book.entry[i] = p.qty, p.multiplier, p.mark, p.entry
        book.mmr[i], book.imr[i], book.isolated_margin[i] = p.mmr, p.imr, p.isolated_margin
        book.funding_accrued[i], book.funding_rate[i] = p.funding_accrued, p.funding_rate
        book.funding_interval_hours[i] = p.funding_interval_hours
        book.tier_start[i], book.tier_count[i] = tier, len(p.tiers)
        previous_cap = 0.0
        for j, tr in enumerate(p.tiers):
            if not (np.isfinite(tr.notional_cap) and tr.notional_cap > previous_cap):
                raise ValueError(f"{where}.tiers[{j}].notional_cap must rise above {previous_cap}")
            if not 0 <= tr.rate < 1:
                raise ValueError(f"{where}.tiers[{j}].rate must be in [0, 1)")
            if not (np.isfinite(tr.amount) and tr.amount >= 0):
                raise ValueError(f"{where}.tiers[{j}].amount must be finite and >= 0")
            previous_cap = tr.notional_cap
            book.tier_cap[tier], book.tier_rate[tier], book.tier_amount[tier] = (
                tr.notional_cap,
                tr.rate,
                tr.amount,
            )
            tier += 1
    for j, o in enumerate(orders):
        where = f"orders[{j}]"
        if not 0 <= o.venue < m:
            raise ValueError(f"{where}.venue {o.venue} out of range 0..{m - 1}")
        if not 0 <= o.asset < a:
            raise ValueError(f"{where}.asset {o.asset} out of range 0..{a - 1}")
        if o.kind not in (KIND_SPOT, KIND_PERP, KIND_FUTURE):
            raise ValueError(f"{where}.kind must be KIND_SPOT, KIND_PERP or KIND_FUTURE")
        _check_finite(o.qty, f"{where}.qty")
        for name in ("price", "multiplier"):
            value = getattr(o, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{where}.{name} must be finite and > 0, got {value!r}")
        if not 0 <= o.imr < 1:
            raise ValueError(f"{where}.imr must be in [0, 1)")
        book.order_venue[j], book.order_asset[j], book.order_kind[j] = o.venue, o.asset, o.kind
        book.order_qty[j], book.order_price[j] = o.qty, o.price
        book.order_multiplier[j], book.order_imr[j] = o.multiplier, o.imr
    # Venue index: slots grouped by venue (in slot order), with each venue's start.
    index = HEADER + POS_I_FIELDS * n + m + ORD_I_FIELDS * k
    by_venue = sorted(range(n), key=lambda i: (positions[i].venue, i))
    counts = [0] * (m + 1)
    for p in positions:
        counts[p.venue + 1] += 1
    for j in range(m):
        counts[j + 1] += counts[j]
    ints[index : index + m + 1] = counts
    ints[index + m + 1 : index + m + 1 + n] = by_venue
    return book


def positions_of(book: Book) -> list[Position]:
    """Return the position slots of a book as :class:`Position` records (inverse of :func:`build_book`)."""
    out = []
    for i in range(book.n_positions):
        s, c = int(book.tier_start[i]), int(book.tier_count[i])
        tiers = tuple(
            MarginTier(float(book.tier_cap[j]), float(book.tier_rate[j]), float(book.tier_amount[j]))
            for j in range(s, s + c)
        )
        out.append(
            Position(
                venue=int(book.venue[i]),
                asset=int(book.asset[i]),
                kind=int(book.kind[i]),
                qty=float(book.qty[i]),
                mark=float(book.mark[i]),
                entry=float(book.entry[i]),
                multiplier=float(book.multiplier[i]),
                mmr=float(book.mmr[i]),
                imr=float(book.imr[i]),
                isolated=bool(book.isolated[i]),
                isolated_margin=float(book.isolated_margin[i]),
                funding_accrued=float(book.funding_accrued[i]),
                funding_rate=float(book.funding_rate[i]),
                funding_interval_hours=float(book.funding_interval_hours[i]),
                tiers=tiers,
            )
        )
    return out


def venues_of(book: Book) -> list[Venue]:
    """Return the venues of a book as :class:`Venue` records."""
    return [Venue(float(book.venue_cash[j]), int(book.venue_mode[j])) for j in range(book.n_venues)]


def orders_of(book: Book) -> list[OpenOrder]:
    """Return the open orders of a book as :class:`OpenOrder` records."""
    return [
        OpenOrder(
            venue=int(book.order_venue[j]),
            asset=int(book.order_asset[j]),
            kind=int(book.order_kind[j]),
            qty=float(book.order_qty[j]),
            price=float(book.order_price[j]),
            multiplier=float(book.order_multiplier[j]),
            imr=float(book.order_imr[j]),
        )
        for j in range(book.n_orders)
    ]


def order_for_slot(book: Book, slot: int, qty: float, price: float) -> OpenOrder:
    """Return the :class:`OpenOrder` that trades ``qty`` of slot ``slot`` at ``price``."""
    return OpenOrder(
        venue=int(book.venue[slot]),
        asset=int(book.asset[slot]),
        kind=int(book.kind[slot]),
        qty=qty,
        price=price,
        multiplier=float(book.multiplier[slot]),
        imr=float(book.imr[slot]),
    )


def with_order(book: Book, order: OpenOrder) -> Book:
    """Return a new book with one more open order (a hypothetical order that could still fill).

    Allocates: use it to inspect a book, not in the hot path (see ``kernels.pretrade_check``).
    """
    return build_book(positions_of(book), venues_of(book), [*orders_of(book), order], book.n_assets)


def with_orders(book: Book, order_a: OpenOrder, order_b: OpenOrder) -> Book:
    """Return a new book with both legs of a pair added as open orders."""
    orders = [*orders_of(book), order_a, order_b]
    return build_book(positions_of(book), venues_of(book), orders, book.n_assets)


@dataclass(frozen=True)
class LimitArrays:
    """Risk limits as one float64 arena the kernels read, with named views, plus the margin modes.

    Build it with :func:`build_limits` or ``risk.limits.to_kernel_arrays``.

    Attributes
    ----------
    values : numpy.ndarray
        float64 arena: venue limits, per-asset max |net delta|, globals, shock moves.
    margin_mode : numpy.ndarray
        int64 configured margin mode per venue (seed for ``Venue.margin_mode``; kernels read the
        book's ``venue_mode``).
    n_venues, n_assets : int
        Shape of the book these limits are for.
    """

    values: F64
    margin_mode: I64
    n_venues: int
    n_assets: int
    exposure_usd: F64 = field(init=False, repr=False)
    exposure_share: F64 = field(init=False, repr=False)
    headroom_floor: F64 = field(init=False, repr=False)
    reducing_floor: F64 = field(init=False, repr=False)
    halt_floor: F64 = field(init=False, repr=False)
    min_liquidation_distance_pct: F64 = field(init=False, repr=False)
    max_abs_net_delta: F64 = field(init=False, repr=False)
    globals: F64 = field(init=False, repr=False)
    shocks: F64 = field(init=False, repr=False)

    def __post_init__(self) -> None:
        m, a, v = self.n_venues, self.n_assets, self.values
        s = object.__setattr__
        names = (
            "exposure_usd",
            "exposure_share",
            "headroom_floor",
            "reducing_floor",
            "halt_floor",
            "min_liquidation_distance_pct",
        )
        for j, name in enumerate(names):
            s(self, name, v[j * m : (j + 1) * m])
        base = LIM_V_FIELDS * m
        s(self, "max_abs_net_delta", v[base : base + a])
        g = v[base + a : base + a + LIM_G_FIELDS]
        s(self, "globals", g)
        s(self, "shocks", v[base + a + LIM_G_FIELDS :])
        if len(self.shocks) != int(g[LG_N_SHOCKS]):
            raise ValueError("LimitArrays: shock count does not match the arena")

    @property
    def max_funding_drag_usd(self) -> float:
        """Max projected net funding cost over the horizon, USD."""
        return float(self.globals[LG_MAX_FUNDING_DRAG])

    @property
    def horizon_hours(self) -> float:
        """Holding horizon for the funding carry, hours."""
        return float(self.globals[LG_HORIZON_H])

    @property
    def shock_headroom_floor(self) -> float:
        """Floor of the margin headroom under every shock scenario."""
        return float(self.globals[LG_SHOCK_FLOOR])


def build_limits(
    n_venues: int,
    n_assets: int,
    *,
    exposure_usd: Sequence[float] | float,
    exposure_share: Sequence[float] | float,
    headroom_floor: Sequence[float] | float,
    min_liquidation_distance_pct: Sequence[float] | float,
    max_abs_net_delta: Sequence[float] | float,
    max_funding_drag_usd: float,
    horizon_hours: float,
    shocks: Sequence[float] = (),
    shock_headroom_floor: float = 0.0,
    reducing_floor: Sequence[float] | float | None = None,
    halt_floor: Sequence[float] | float | None = None,
    margin_mode: Sequence[int] | int = MODE_CROSS,
) -> LimitArrays:
    """Build :class:`LimitArrays` from numbers (scalars broadcast to every venue/asset).

    No validation beyond shapes: validated limits come from ``risk.limits``.
    ``reducing_floor``/``halt_floor`` default to ``headroom_floor`` (they are for the trading-state
    controller, not the pre-trade check).
    """

    def per(x: Sequence[float] | float, size: int, name: str) -> list[float]:
        if isinstance(x, int | float):
            return [float(x)] * size
        xs = [float(v) for v in x]
        if len(xs) != size:
            raise ValueError(f"{name} has {len(xs)} values, expected {size}")
        return xs

    m, a = n_venues, n_assets
    rows = [
        per(exposure_usd, m, "exposure_usd"),
        per(exposure_share, m, "exposure_share"),
        per(headroom_floor, m, "headroom_floor"),
        per(headroom_floor if reducing_floor is None else reducing_floor, m, "reducing_floor"),
        per(headroom_floor if halt_floor is None else halt_floor, m, "halt_floor"),
        per(min_liquidation_distance_pct, m, "min_liquidation_distance_pct"),
    ]
    flat = [x for row in rows for x in row]
    flat += per(max_abs_net_delta, a, "max_abs_net_delta")
    flat += [float(max_funding_drag_usd), float(horizon_hours), float(shock_headroom_floor)]
    flat += [float(len(shocks))]
    flat += [float(s) for s in shocks]
    modes = [int(margin_mode)] * m if isinstance(margin_mode, int) else [int(x) for x in margin_mode]
    return LimitArrays(np.array(flat, dtype=np.float64), np.array(modes, dtype=np.int64), m, a)


def result_size() -> int:
    """Size of the result block at the head of a pre-trade work buffer."""
    return RESULT_SIZE


def work_size(book: Book, limits: LimitArrays) -> int:
    """Size (float64 elements) of the buffer ``kernels.pretrade_check`` needs for this book.

    Layout: result block; a copy of ``limits.values``; scratch: per-venue assets and notional (2 x m),
    per-asset net delta (a), two touched-venue blocks (scalars, tiered shock maintenance per scenario,
    per-asset cross sums), four leg blocks (two legs, before and after; per-asset sums for the leg's
    own asset only), four state blocks (touched venue, before and after). Must match
    ``kernels.pretrade_check``.
    """
    m, a, s = book.n_venues, book.n_assets, len(limits.shocks)
    scalars = SC_SCALARS + s
    scratch = 2 * m + a + 2 * (scalars + 3 * a) + 4 * (scalars + 3) + 4 * scalars
    return RESULT_SIZE + len(limits.values) + scratch


def set_work_limits(work: F64, limits: LimitArrays) -> None:
    """Copy ``limits`` into a pre-trade work buffer (after a config reload; same shape only)."""
    end = RESULT_SIZE + len(limits.values)
    if work.shape[0] < end:
        raise ValueError("work buffer too small for these limits: build a new one with make_work")
    work[RESULT_SIZE:end] = limits.values


def make_work(book: Book, limits: LimitArrays) -> F64:
    """Allocate the buffer ``kernels.pretrade_check`` reuses across calls, with ``limits`` copied in.

    Parameters
    ----------
    book : Book
    limits : LimitArrays
        Must be for the book's venues and assets.

    Returns
    -------
    numpy.ndarray
        float64, ``work_size(book, limits)`` elements.
    """
    if limits.n_venues != book.n_venues or limits.n_assets != book.n_assets:
        raise ValueError(
            f"limits are for {limits.n_venues} venues and {limits.n_assets} assets, "
            f"the book has {book.n_venues} and {book.n_assets}"
        )
    work = np.zeros(work_size(book, limits), dtype=np.float64)
    set_work_limits(work, limits)
    return work


# Scalar fields of a pre-trade scratch block (a touched venue's positions other than the legs, or one
# leg in one state). SC_SQM is sum(qty * mult * mark) over derivatives (the P&L of a unit move) and
# SC_MMU the maintenance of untiered derivatives (linear in a move); tiered maintenance per scenario
# follows the scalars.
(
    SC_UPNL,
    SC_MAINT,
    SC_IM_POS,
    SC_NOTIONAL,
    SC_SPOT_VALUE,
    SC_ISO_MARGIN,
    SC_CROSS_UPNL,
    SC_CROSS_MAINT,
    SC_ISO_MIN_DIST,
    SC_SQM,
    SC_MMU,
    SC_DELTA,
    SC_FUND,
) = range(13)
SC_SCALARS = 13
