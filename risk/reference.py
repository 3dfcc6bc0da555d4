"""Plain-Python reference of every kernel in :mod:`risk.kernels`: same signatures, same semantics.

No numpy arithmetic and no numba: the arenas are read into Python lists and every figure is computed
with scalar loops, as directly from the definitions in ``risk.kernels`` as possible. The pre-trade
check is written differently on purpose: it copies the book, applies the legs, recomputes every
figure of the whole book before and after, and runs every limit over every venue and asset (the
kernel touches only what the order can change). The property tests hold the two together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from risk.book import (
    APPROVE,
    DENY_FUNDING_DRAG,
    DENY_INITIAL_MARGIN,
    DENY_INVALID_ORDER,
    DENY_LIQUIDATION_DISTANCE,
    DENY_MARGIN_HEADROOM,
    DENY_NET_DELTA,
    DENY_SHOCK_HEADROOM,
    DENY_VENUE_EXPOSURE_SHARE,
    DENY_VENUE_EXPOSURE_USD,
    F64,
    FP_AGAINST,
    FP_HORIZON,
    FP_NEXT,
    FT_ACCRUED,
    FT_DRAG,
    FT_HORIZON,
    FT_NEXT,
    HDR_A,
    HDR_K,
    HDR_M,
    HDR_N,
    HDR_T,
    HEADER,
    I64,
    KIND_PERP,
    KIND_SPOT,
    LG_HORIZON_H,
    LG_MAX_FUNDING_DRAG,
    LG_N_SHOCKS,
    LG_SHOCK_FLOOR,
    LIM_G_FIELDS,
    LIM_V_FIELDS,
    LQ_DIST_PCT,
    LQ_PRICE,
    LV_EXPOSURE_SHARE,
    LV_EXPOSURE_USD,
    LV_HEADROOM_FLOOR,
    LV_MIN_LIQ_DIST,
    MODE_ISOLATED,
    ORD_F_FIELDS,
    ORD_I_FIELDS,
    POS_F_FIELDS,
    POS_I_FIELDS,
    R_BEFORE,
    R_CODE,
    R_INDEX,
    R_LIMIT,
    R_SHOCK,
    R_VALUE,
    RESULT_SIZE,
    SC_SCALARS,
    TIER_FIELDS,
    VE_ASSETS,
    VE_EXPOSURE,
    VE_NOTIONAL,
    VE_SHARE,
    VM_CASH,
    VM_EQUITY,
    VM_FREE,
    VM_HEADROOM,
    VM_IM_ORDERS,
    VM_IM_POS,
    VM_MAINT,
    VM_UPNL,
)

WORSE_TOL = 1e-9
INF = math.inf


@dataclass
class _Pos:
    venue: int
    asset: int
    kind: int
    isolated: bool
    tiers: list[tuple[float, float, float]]
    qty: float
    mult: float
    mark: float
    entry: float
    mmr: float
    imr: float
    iso_margin: float
    funding_accrued: float
    funding_rate: float
    interval_h: float

    @property
    def derivative(self) -> bool:
        return self.kind != KIND_SPOT


@dataclass
class _Order:
    venue: int
    asset: int
    kind: int
    qty: float
    price: float
    mult: float
    imr: float


@dataclass
class _Plain:
    """A book as Python lists."""

    positions: list[_Pos]
    cash: list[float]
    orders: list[_Order]
    n_assets: int

    @property
    def n_venues(self) -> int:
        return len(self.cash)


def _read(ints: I64, floats: F64) -> _Plain:
    iv = [int(x) for x in ints.tolist()]
    fv = [float(x) for x in floats.tolist()]
    n, m, k, t, a = iv[HDR_N], iv[HDR_M], iv[HDR_K], iv[HDR_T], iv[HDR_A]

    def pint(field: int, i: int) -> int:
        return iv[HEADER + field * n + i]

    def pflt(field: int, i: int) -> float:
        return fv[field * n + i]

    tier_base = POS_F_FIELDS * n
    venue_i = HEADER + POS_I_FIELDS * n
    venue_f = tier_base + TIER_FIELDS * t
    modes = iv[venue_i : venue_i + m]
    positions = []
    for i in range(n):
        start, count = pint(4, i), pint(5, i)
        tiers = [
            (fv[tier_base + c], fv[tier_base + t + c], fv[tier_base + 2 * t + c])
            for c in range(start, start + count)
        ]
        venue = pint(0, i)
        positions.append(
            _Pos(
                venue=venue,
                asset=pint(1, i),
                kind=pint(2, i),
                isolated=pint(3, i) != 0 or modes[venue] == MODE_ISOLATED,
                tiers=tiers,
                qty=pflt(0, i),
                mult=pflt(1, i),
                mark=pflt(2, i),
                entry=pflt(3, i),
                mmr=pflt(4, i),
                imr=pflt(5, i),
                iso_margin=pflt(6, i),
                funding_accrued=pflt(7, i),
                funding_rate=pflt(8, i),
                interval_h=pflt(9, i),
            )
        )
    cash = fv[venue_f : venue_f + m]
    oi = venue_i + m
    of = venue_f + m
    assert len(iv) == oi + ORD_I_FIELDS * k + m + 1 + n and len(fv) == of + ORD_F_FIELDS * k
    orders = [
        _Order(
            venue=iv[oi + j],
            asset=iv[oi + k + j],
            kind=iv[oi + 2 * k + j],
            qty=fv[of + j],
            price=fv[of + k + j],
            mult=fv[of + 2 * k + j],
            imr=fv[of + 3 * k + j],
        )
        for j in range(k)
    ]
    return _Plain(positions, cash, orders, a)


# ---------------------------------------------------------------------------------------------------
# Definitions.


def _notional(p: _Pos, move: float = 0.0) -> float:
    return abs(p.qty) * p.mult * p.mark * (1.0 + move) if move else abs(p.qty) * p.mult * p.mark


def _rate_amount(p: _Pos, notional: float) -> tuple[float, float]:
    if not p.tiers:
        return p.mmr, 0.0
    chosen = p.tiers[-1]
    for tier in p.tiers:
        if notional <= tier[0]:
            chosen = tier
            break
    if notional * chosen[1] - chosen[2] < 0.0:
        return 0.0, 0.0
    return chosen[1], chosen[2]


def _maint(p: _Pos, notional: float) -> float:
    rate, amount = _rate_amount(p, notional)
    return notional * rate - amount


def _upnl(p: _Pos, move: float = 0.0) -> float:
    mark = p.mark * (1.0 + move) if move else p.mark
    return p.qty * p.mult * (mark - p.entry)


def _headroom(equity: float, maint: float) -> float:
    if maint <= 0.0:
        return 1.0
    if equity <= 0.0:
        return -INF
    return (equity - maint) / equity


def _order_im(o: _Order) -> float:
    if o.kind == KIND_SPOT:
        return o.qty * o.mult * o.price if o.qty > 0.0 else 0.0
    return abs(o.qty) * o.mult * o.price * o.imr


def _share(exposure: float, total: float) -> float:
    if total > 0.0:
        return exposure / total
    return INF if exposure > 0.0 else 0.0


def _deltas(b: _Plain) -> tuple[list[float], list[float]]:
    pos = [0.0] * b.n_assets
    for p in b.positions:
        pos[p.asset] += p.qty * p.mult
    with_orders = list(pos)
    for o in b.orders:
        with_orders[o.asset] += o.qty * o.mult
    return pos, with_orders


@dataclass
class _VenueMargin:
    cash: float
    upnl: float = 0.0
    maint: float = 0.0
    im_pos: float = 0.0
    im_orders: float = 0.0

    @property
    def equity(self) -> float:
        return self.cash + self.upnl

    @property
    def headroom(self) -> float:
        return _headroom(self.equity, self.maint)

    @property
    def free(self) -> float:
        return self.equity - self.im_pos - self.im_orders


def _margins(b: _Plain) -> tuple[list[float], list[_VenueMargin]]:
    venues = [_VenueMargin(cash=c) for c in b.cash]
    per_pos = []
    for p in b.positions:
        if not p.derivative:
            per_pos.append(0.0)
            continue
        notional = _notional(p)
        mm = _maint(p, notional)
        per_pos.append(mm)
        vm = venues[p.venue]
        vm.upnl += _upnl(p)
        vm.maint += mm
        vm.im_pos += notional * p.imr
    for o in b.orders:
        venues[o.venue].im_orders += _order_im(o)
    return per_pos, venues


def _liquidations(b: _Plain) -> tuple[list[float], list[float]]:
    m, a = b.n_venues, b.n_assets
    cross_cash = list(b.cash)
    cross_upnl = [0.0] * m
    cross_mm = [0.0] * m
    d_equity = [[0.0] * a for _ in range(m)]
    d_maint = [[0.0] * a for _ in range(m)]
    for p in b.positions:
        if not p.derivative:
            continue
        if p.isolated:
            cross_cash[p.venue] -= p.iso_margin
            continue
        notional = _notional(p)
        rate, amount = _rate_amount(p, notional)
        cross_upnl[p.venue] += _upnl(p)
        cross_mm[p.venue] += notional * rate - amount
        d_equity[p.venue][p.asset] += p.qty * p.mult * p.mark
        d_maint[p.venue][p.asset] += notional * rate
    prices, dists = [], []
    for p in b.positions:
        if not p.derivative or p.qty == 0.0:
            prices.append(math.nan)
            dists.append(INF)
            continue
        notional = _notional(p)
        rate, amount = _rate_amount(p, notional)
        if p.isolated:
            gap = p.iso_margin + _upnl(p) - (notional * rate - amount)
            slope = p.qty * p.mult * p.mark - notional * rate
        else:
            gap = (cross_cash[p.venue] + cross_upnl[p.venue]) - cross_mm[p.venue]
            slope = d_equity[p.venue][p.asset] - d_maint[p.venue][p.asset]
        if slope == 0.0:
            prices.append(math.nan)
            dists.append(INF)
            continue
        move = -gap / slope
        prices.append(max(p.mark * (1.0 + move), 0.0))
        dists.append(100.0 * gap / abs(slope))
    return prices, dists


def _shocked(b: _Plain, shocks: list[float]) -> list[list[tuple[float, float]]]:
    """(equity, maintenance) per scenario and venue."""
    out = []
    for x in shocks:
        upnl = [0.0] * b.n_venues
        mm = [0.0] * b.n_venues
        for p in b.positions:
            if not p.derivative:
                continue
            notional = abs(p.qty) * p.mult * p.mark * (1.0 + x)
            upnl[p.venue] += p.qty * p.mult * (p.mark * (1.0 + x) - p.entry)
            mm[p.venue] += _maint(p, notional)
        out.append([(b.cash[v] + upnl[v], mm[v]) for v in range(b.n_venues)])
    return out


def _funding(b: _Plain, horizon_hours: float) -> tuple[list[tuple[float, float, float]], list[float]]:
    per_pos = []
    accrued = nxt_total = horizon_total = 0.0
    for p in b.positions:
        accrued += p.funding_accrued
        if p.kind != KIND_PERP:
            per_pos.append((0.0, 0.0, 0.0))
            continue
        nxt = -p.qty * p.mult * p.mark * p.funding_rate
        carry = nxt * (horizon_hours / p.interval_h)
        per_pos.append((nxt, carry, 1.0 if nxt < 0.0 else 0.0))
        nxt_total += nxt
        horizon_total += carry
    return per_pos, [accrued, nxt_total, horizon_total, max(0.0, -horizon_total)]


def _exposures(b: _Plain) -> tuple[list[float], list[float], list[float], list[float]]:
    assets = list(b.cash)
    notional = [0.0] * b.n_venues
    for p in b.positions:
        notional[p.venue] += _notional(p)
        assets[p.venue] += p.qty * p.mult * p.mark if p.kind == KIND_SPOT else _upnl(p)
    total = 0.0
    for x in assets:
        total += x
    exposure = [max(assets[v], notional[v]) for v in range(b.n_venues)]
    share = [_share(e, total) for e in exposure]
    return assets, notional, exposure, share


# ---------------------------------------------------------------------------------------------------
# The kernels' twins.


def net_delta(ints: I64, floats: F64, out: F64) -> None:
    """Reference of ``kernels.net_delta``."""
    pos, with_orders = _deltas(_read(ints, floats))
    for a in range(len(pos)):
        out[0, a] = pos[a]
        out[1, a] = with_orders[a]


def margin(ints: I64, floats: F64, out_pos: F64, out_venue: F64) -> None:
    """Reference of ``kernels.margin``."""
    per_pos, venues = _margins(_read(ints, floats))
    for i, mm in enumerate(per_pos):
        out_pos[i] = mm
    for v, vm in enumerate(venues):
        out_venue[VM_CASH, v] = vm.cash
        out_venue[VM_UPNL, v] = vm.upnl
        out_venue[VM_EQUITY, v] = vm.equity
        out_venue[VM_MAINT, v] = vm.maint
        out_venue[VM_IM_POS, v] = vm.im_pos
        out_venue[VM_IM_ORDERS, v] = vm.im_orders
        out_venue[VM_HEADROOM, v] = vm.headroom
        out_venue[VM_FREE, v] = vm.free


def liquidation(ints: I64, floats: F64, out: F64) -> None:
    """Reference of ``kernels.liquidation``."""
    prices, dists = _liquidations(_read(ints, floats))
    for i in range(len(prices)):
        out[LQ_PRICE, i] = prices[i]
        out[LQ_DIST_PCT, i] = dists[i]


def shock_headroom(ints: I64, floats: F64, shocks: F64, out: F64) -> None:
    """Reference of ``kernels.shock_headroom``."""
    table = _shocked(_read(ints, floats), [float(x) for x in shocks.tolist()])
    for s, row in enumerate(table):
        for v, (eq, mm) in enumerate(row):
            out[s, v] = _headroom(eq, mm)


def funding_drag(ints: I64, floats: F64, horizon_hours: float, out_pos: F64, out_total: F64) -> None:
    """Reference of ``kernels.funding_drag``."""
    per_pos, totals = _funding(_read(ints, floats), float(horizon_hours))
    for i, (nxt, carry, against) in enumerate(per_pos):
        out_pos[FP_NEXT, i] = nxt
        out_pos[FP_HORIZON, i] = carry
        out_pos[FP_AGAINST, i] = against
    for r, x in zip((FT_ACCRUED, FT_NEXT, FT_HORIZON, FT_DRAG), totals, strict=True):
        out_total[r] = x


def venue_exposure(ints: I64, floats: F64, out: F64) -> None:
    """Reference of ``kernels.venue_exposure``."""
    assets, notional, exposure, share = _exposures(_read(ints, floats))
    for v in range(len(assets)):
        out[VE_ASSETS, v] = assets[v]
        out[VE_NOTIONAL, v] = notional[v]
        out[VE_EXPOSURE, v] = exposure[v]
        out[VE_SHARE, v] = share[v]


# ---------------------------------------------------------------------------------------------------
# Pre-trade check.


def _fill(p: _Pos, dq: float, price: float) -> float:
    """Apply a fill to ``p`` in place; return the cash it moves at the venue."""
    q0 = p.qty
    q1 = q0 + dq
    if p.kind == KIND_SPOT:
        p.qty = q1
        return -dq * p.mult * price
    cash = 0.0
    if q0 == 0.0 or (q0 > 0.0) == (dq > 0.0):  # open or add: average the entry
        p.entry = (q0 * p.entry + dq * price) / q1
        if p.isolated:
            p.iso_margin += abs(dq) * p.mult * price * p.imr
    elif abs(dq) <= abs(q0):  # reduce or close: realize the closed part
        cash = -dq * p.mult * (price - p.entry)
        if p.isolated:
            p.iso_margin *= abs(q1) / abs(q0)
    else:  # flip: realize all, the rest opens at the fill price
        cash = q0 * p.mult * (price - p.entry)
        p.entry = price
        if p.isolated:
            p.iso_margin = abs(q1) * p.mult * price * p.imr
    p.qty = q1
    return cash


def _copy(b: _Plain) -> _Plain:
    positions = [_Pos(**{**p.__dict__, "tiers": list(p.tiers)}) for p in b.positions]
    return _Plain(positions, list(b.cash), list(b.orders), b.n_assets)


def _higher(after: float, before: float) -> bool:
    if before == INF:
        return False
    if before == -INF:
        return after > -INF
    return after > before + WORSE_TOL * max(1.0, abs(before))


def _lower(after: float, before: float) -> bool:
    if before == -INF:
        return False
    if before == INF:
        return after < INF
    return after < before - WORSE_TOL * max(1.0, abs(before))


def _worse_headroom(h_after: float, gap_after: float, h_before: float, gap_before: float) -> bool:
    if h_after == -INF and h_before == -INF:
        return _lower(gap_after, gap_before)
    return _lower(h_after, h_before)


@dataclass
class _Figures:
    delta: list[float]
    margins: list[_VenueMargin]
    shocked: list[list[tuple[float, float]]]
    min_dist: list[float]
    exposure: list[float]
    share: list[float]
    drag: float


def _figures(b: _Plain, shocks: list[float], horizon_hours: float) -> _Figures:
    pos, with_orders = _deltas(b)
    _, margins = _margins(b)
    _, dists = _liquidations(b)
    min_dist = [INF] * b.n_venues
    for p, d in zip(b.positions, dists, strict=True):
        if p.derivative and p.qty != 0.0:
            min_dist[p.venue] = min(min_dist[p.venue], d)
    _, _, exposure, share = _exposures(b)
    _, totals = _funding(b, horizon_hours)
    return _Figures(
        delta=[max(abs(pos[a]), abs(with_orders[a])) for a in range(b.n_assets)],
        margins=margins,
        shocked=_shocked(b, shocks),
        min_dist=min_dist,
        exposure=exposure,
        share=share,
        drag=totals[3],
    )


def pretrade_check(
    ints: I64,
    floats: F64,
    work: F64,
    slot_a: int,
    qty_a: float,
    price_a: float,
    slot_b: int,
    qty_b: float,
    price_b: float,
) -> int:
    """Reference of ``kernels.pretrade_check`` (writes the same result block at the head of ``work``)."""
    book = _read(ints, floats)
    n, m, a = len(book.positions), book.n_venues, book.n_assets
    values = [float(x) for x in work.tolist()][RESULT_SIZE:]
    g_at = LIM_V_FIELDS * m + a
    lim = values[: g_at + LIM_G_FIELDS + int(values[g_at + LG_N_SHOCKS])]  # the limits copied into work
    venue_lim = [lim[f * m : (f + 1) * m] for f in range(LIM_V_FIELDS)]
    max_delta = lim[LIM_V_FIELDS * m : LIM_V_FIELDS * m + a]
    g = lim[LIM_V_FIELDS * m + a : LIM_V_FIELDS * m + a + LIM_G_FIELDS]
    shocks = lim[LIM_V_FIELDS * m + a + LIM_G_FIELDS :][: int(g[LG_N_SHOCKS])]

    for r in range(RESULT_SIZE):
        work[r] = 0.0
    work[R_INDEX] = -1.0
    work[R_SHOCK] = -1.0

    def deny(code: int, value: float, limit: float, index: int, before: float, shock: int = -1) -> int:
        work[R_CODE] = code
        work[R_VALUE] = value
        work[R_LIMIT] = limit
        work[R_INDEX] = index
        work[R_BEFORE] = before
        work[R_SHOCK] = shock
        return code

    def valid(slot: int, qty: float, price: float) -> bool:
        return 0 <= slot < n and math.isfinite(qty) and qty != 0.0 and math.isfinite(price) and price > 0.0

    if (
        not valid(slot_a, qty_a, price_a)
        or slot_b < -1
        or (slot_b >= 0 and not valid(slot_b, qty_b, price_b))
    ):
        return deny(DENY_INVALID_ORDER, 0.0, 0.0, -1, 0.0)

    # The kernel's scratch layout (risk.book.work_size): a buffer too small for this book is refused.
    ns = len(shocks)
    scratch = 2 * m + a + 2 * (SC_SCALARS + ns + 3 * a) + 4 * (SC_SCALARS + ns + 3) + 4 * (SC_SCALARS + ns)
    if len(work) < RESULT_SIZE + len(lim) + scratch:
        return deny(DENY_INVALID_ORDER, 0.0, 0.0, -1, 0.0)

    after = _copy(book)
    legs = [(slot_a, qty_a, price_a)] + ([(slot_b, qty_b, price_b)] if slot_b >= 0 else [])
    for slot, qty, price in legs:
        p = after.positions[slot]
        after.cash[p.venue] += _fill(p, qty, price)

    fb = _figures(book, shocks, g[LG_HORIZON_H])
    fa = _figures(after, shocks, g[LG_HORIZON_H])
    for asset in range(a):
        if fa.delta[asset] > max_delta[asset] and _higher(fa.delta[asset], fb.delta[asset]):
            return deny(DENY_NET_DELTA, fa.delta[asset], max_delta[asset], asset, fb.delta[asset])
    for v in range(m):
        free_a, free_b = fa.margins[v].free, fb.margins[v].free
        if free_a < 0.0 and _lower(free_a, free_b):
            return deny(DENY_INITIAL_MARGIN, free_a, 0.0, v, free_b)
    for v in range(m):
        va, vb = fa.margins[v], fb.margins[v]
        floor = venue_lim[LV_HEADROOM_FLOOR][v]
        gap_a, gap_b = va.equity - va.maint, vb.equity - vb.maint
        if va.headroom < floor and _worse_headroom(va.headroom, gap_a, vb.headroom, gap_b):
            return deny(DENY_MARGIN_HEADROOM, va.headroom, floor, v, vb.headroom)
    shock_floor = g[LG_SHOCK_FLOOR]
    for v in range(m):
        for s in range(len(shocks)):
            eq_a, mm_a = fa.shocked[s][v]
            eq_b, mm_b = fb.shocked[s][v]
            h_a, h_b = _headroom(eq_a, mm_a), _headroom(eq_b, mm_b)
            if h_a < shock_floor and _worse_headroom(h_a, eq_a - mm_a, h_b, eq_b - mm_b):
                return deny(DENY_SHOCK_HEADROOM, h_a, shock_floor, v, h_b, s)
    for v in range(m):
        floor = venue_lim[LV_MIN_LIQ_DIST][v]
        if fa.min_dist[v] < floor and _lower(fa.min_dist[v], fb.min_dist[v]):
            return deny(DENY_LIQUIDATION_DISTANCE, fa.min_dist[v], floor, v, fb.min_dist[v])
    for v in range(m):
        cap = venue_lim[LV_EXPOSURE_USD][v]
        if fa.exposure[v] > cap and _higher(fa.exposure[v], fb.exposure[v]):
            return deny(DENY_VENUE_EXPOSURE_USD, fa.exposure[v], cap, v, fb.exposure[v])
    for v in range(m):
        cap = venue_lim[LV_EXPOSURE_SHARE][v]
        if fa.share[v] > cap and _higher(fa.share[v], fb.share[v]):
            return deny(DENY_VENUE_EXPOSURE_SHARE, fa.share[v], cap, v, fb.share[v])
    cap = g[LG_MAX_FUNDING_DRAG]
    if fa.drag > cap and _higher(fa.drag, fb.drag):
        return deny(DENY_FUNDING_DRAG, fa.drag, cap, -1, fb.drag)
    return APPROVE
