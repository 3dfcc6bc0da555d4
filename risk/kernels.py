"""numba risk kernels over the book arenas of :mod:`risk.book`.

Every kernel takes the book's ``ints``/``floats`` arenas and writes into caller-owned output arrays.
The hot path is :func:`pretrade_check` (or :class:`PreTradeGate` around it): no allocation, one
reusable work buffer. The book-wide kernels (for monitoring, the trading-state controller and the
report) allocate at most a few per-venue arrays. ``risk.reference`` holds a plain-Python twin of each
kernel with the same signature and semantics; the property tests hold the two together.

Definitions (USD figures; ``N = |qty| * multiplier * mark`` is a position's notional):

- *derivative*: a perp or dated-future position; spot is not collateral and has no margin.
- *maintenance*: ``max(N * rate - amount, 0)`` with the bracket ``rate``/``amount`` of the position's tiers
  (the first tier whose ``notional_cap >= N``, else the last), or ``N * mmr`` without tiers.
- *venue equity*: ``cash + sum(derivative unrealized P&L)``; *headroom*: ``(equity - maintenance) / equity``,
  1.0 when maintenance is 0, ``-inf`` when equity <= 0 < maintenance.
- *liquidation*: the move ``x`` of the asset's prices (all derivatives of that asset in the same cross
  account move together, other assets held) at which equity equals maintenance, brackets held at the
  current notional (the Binance formula). Cross: the account's cross equity (cash less isolated margins
  plus cross P&L) against cross maintenance; isolated: the position's own margin and P&L. Distance in
  percent ``100 * (E - M) / |dE/dx - dM/dx|``: negative means already below maintenance, ``inf`` means
  no liquidation (flat or fully offset). Liquidation price ``max(mark * (1 + x), 0)``, NaN when none.
- *shock headroom*: the venue headroom with every mark multiplied by ``1 + shock``, brackets re-chosen.
- *funding*: next settlement payment ``-qty * multiplier * mark * rate`` (perps only; + received);
  horizon carry ``next * horizon_hours / interval_hours``; drag ``max(0, -sum(horizon carry))``;
  a position is flagged *against* when its next payment is negative.
- *venue exposure*: assets held there ``cash + spot value + derivative P&L``; notional there; exposure
  ``max(assets, notional)`` (what is lost if the venue fails, or what must be replaced elsewhere);
  share ``exposure / total equity`` with total equity the sum of assets over venues.
- *pre-trade*: the book after the order's fills against every limit; a limit denies when its figure
  is beyond the limit after the order and worse than before it (beyond a 1e-9 relative rounding
  tolerance), so risk-reducing orders always pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from risk.book import (
    APPROVE,
    DECISION_NAMES,
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
    FP_ROWS,
    FT_ACCRUED,
    FT_DRAG,
    FT_HORIZON,
    FT_NEXT,
    FT_ROWS,
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
    LQ_ROWS,
    LV_EXPOSURE_SHARE,
    LV_EXPOSURE_USD,
    LV_HEADROOM_FLOOR,
    LV_MIN_LIQ_DIST,
    MODE_ISOLATED,
    OF_IMR,
    OF_MULT,
    OF_PRICE,
    OF_QTY,
    OI_ASSET,
    OI_KIND,
    OI_VENUE,
    ORD_F_FIELDS,
    ORD_I_FIELDS,
    PF_ENTRY,
    PF_FUNDING_ACCRUED,
    PF_FUNDING_INTERVAL_H,
    PF_FUNDING_RATE,
    PF_IMR,
    PF_ISO_MARGIN,
    PF_MARK,
    PF_MMR,
    PF_MULT,
    PF_QTY,
    PI_ASSET,
    PI_ISOLATED,
    PI_KIND,
    PI_TIER_COUNT,
    PI_TIER_START,
    PI_VENUE,
    POS_F_FIELDS,
    POS_I_FIELDS,
    R_BEFORE,
    R_CODE,
    R_INDEX,
    R_LIMIT,
    R_SHOCK,
    R_VALUE,
    RESULT_SIZE,
    SC_CROSS_MAINT,
    SC_CROSS_UPNL,
    SC_DELTA,
    SC_FUND,
    SC_IM_POS,
    SC_ISO_MARGIN,
    SC_ISO_MIN_DIST,
    SC_MAINT,
    SC_MMU,
    SC_NOTIONAL,
    SC_SCALARS,
    SC_SPOT_VALUE,
    SC_SQM,
    SC_UPNL,
    TIER_FIELDS,
    VE_ASSETS,
    VE_EXPOSURE,
    VE_NOTIONAL,
    VE_ROWS,
    VE_SHARE,
    VM_CASH,
    VM_EQUITY,
    VM_FREE,
    VM_HEADROOM,
    VM_IM_ORDERS,
    VM_IM_POS,
    VM_MAINT,
    VM_ROWS,
    VM_UPNL,
    Book,
    LimitArrays,
    make_work,
    set_work_limits,
)

# A figure is "worse" after the order only if it moved by more than this (relative, floor 1 absolute
# unit), so rounding in a sum never turns an order that leaves a figure unchanged into a denial.
WORSE_TOL = 1e-9
_INF = np.inf

# ---------------------------------------------------------------------------------------------------
# Arena access. Views only: slicing and reshaping a contiguous array allocates nothing in numba.


@njit(cache=True, error_model="numpy")
def _pos_views(ints: I64, floats: F64) -> tuple[I64, F64, F64]:
    n = ints[HDR_N]
    t = ints[HDR_T]
    pi = ints[HEADER : HEADER + POS_I_FIELDS * n].reshape((POS_I_FIELDS, n))
    pf = floats[0 : POS_F_FIELDS * n].reshape((POS_F_FIELDS, n))
    tiers = floats[POS_F_FIELDS * n : POS_F_FIELDS * n + TIER_FIELDS * t].reshape((TIER_FIELDS, t))
    return pi, pf, tiers


@njit(cache=True, error_model="numpy")
def _venue_views(ints: I64, floats: F64) -> tuple[I64, F64]:
    n = ints[HDR_N]
    m = ints[HDR_M]
    t = ints[HDR_T]
    iv = HEADER + POS_I_FIELDS * n
    fv = POS_F_FIELDS * n + TIER_FIELDS * t
    return ints[iv : iv + m], floats[fv : fv + m]


@njit(cache=True, error_model="numpy")
def _order_views(ints: I64, floats: F64) -> tuple[I64, F64]:
    n = ints[HDR_N]
    m = ints[HDR_M]
    k = ints[HDR_K]
    t = ints[HDR_T]
    io = HEADER + POS_I_FIELDS * n + m
    fo = POS_F_FIELDS * n + TIER_FIELDS * t + m
    oi = ints[io : io + ORD_I_FIELDS * k].reshape((ORD_I_FIELDS, k))
    of = floats[fo : fo + ORD_F_FIELDS * k].reshape((ORD_F_FIELDS, k))
    return oi, of


# ---------------------------------------------------------------------------------------------------
# Scalar helpers shared by the kernels.


@njit(cache=True, error_model="numpy")
def _bracket(notional: float, mmr: float, start: int, count: int, tiers: F64) -> tuple[float, float]:
    """Maintenance rate and amount for a notional: the first tier whose cap covers it, else the last."""
    if count == 0:
        return mmr, 0.0
    j = start + count - 1
    for c in range(start, start + count):
        if notional <= tiers[0, c]:
            j = c
            break
    rate = tiers[1, j]
    amount = tiers[2, j]
    if notional * rate - amount < 0.0:
        # Misconfigured first bracket: no negative maintenance.
        return 0.0, 0.0
    return rate, amount


@njit(cache=True, error_model="numpy")
def _headroom(equity: float, maint: float) -> float:
    if maint <= 0.0:
        return 1.0
    if equity <= 0.0:
        return -_INF
    return (equity - maint) / equity


@njit(cache=True, error_model="numpy")
def _order_im(kind: int, qty: float, price: float, mult: float, imr: float) -> float:
    """Margin (or, for a spot buy, cash) a resting order locks."""
    if kind == KIND_SPOT:
        return qty * mult * price if qty > 0.0 else 0.0
    return abs(qty) * mult * price * imr


@njit(cache=True, error_model="numpy")
def _higher(after: float, before: float) -> bool:
    """True when ``after`` exceeds ``before`` beyond rounding."""
    if before == _INF:
        return False
    if before == -_INF:
        return after > -_INF
    return after > before + WORSE_TOL * max(1.0, abs(before))


@njit(cache=True, error_model="numpy")
def _lower(after: float, before: float) -> bool:
    """True when ``after`` is below ``before`` beyond rounding."""
    if before == -_INF:
        return False
    if before == _INF:
        return after < _INF
    return after < before - WORSE_TOL * max(1.0, abs(before))


@njit(cache=True, error_model="numpy")
def _worse_headroom(h_after: float, gap_after: float, h_before: float, gap_before: float) -> bool:
    """Headroom got worse; two ``-inf`` headrooms (equity <= 0) compare by equity - maintenance."""
    if h_after == -_INF and h_before == -_INF:
        return _lower(gap_after, gap_before)
    return _lower(h_after, h_before)


@njit(cache=True, error_model="numpy")
def _apply_leg(
    kind: int,
    qty: float,
    entry: float,
    iso: float,
    mult: float,
    imr: float,
    isolated: bool,
    dq: float,
    price: float,
) -> tuple[float, float, float, float]:
    """A fill of ``dq`` at ``price`` on a position: new qty, entry, isolated margin, and cash change.

    Spot pays cash for the base; a derivative books realized P&L into cash when it reduces or flips,
    averages its entry when it opens or adds, and moves isolated margin (initial margin of what it adds,
    a pro-rata release of what it reduces; cash already counts isolated margins, so no cash change).
    """
    q1 = qty + dq
    if kind == KIND_SPOT:
        return q1, entry, iso, -dq * mult * price
    if qty == 0.0 or qty * dq > 0.0:
        e1 = (qty * entry + dq * price) / q1
        iso1 = iso + abs(dq) * mult * price * imr if isolated else iso
        return q1, e1, iso1, 0.0
    if abs(dq) <= abs(qty):
        iso1 = iso * (abs(q1) / abs(qty)) if isolated else iso
        return q1, entry, iso1, -dq * mult * (price - entry)
    iso1 = abs(q1) * mult * price * imr if isolated else iso
    return q1, price, iso1, qty * mult * (price - entry)


# ---------------------------------------------------------------------------------------------------
# Book-wide kernels.


@njit(cache=True, error_model="numpy")
def net_delta(ints: I64, floats: F64, out: F64) -> None:
    """Net delta per asset in base units.

    Parameters
    ----------
    ints, floats : numpy.ndarray
        ``Book.ints`` and ``Book.floats``.
    out : numpy.ndarray
        float64, shape ``(2, n_assets)``. Row 0: spot + perps + futures, each ``qty * multiplier``;
        row 1: row 0 plus every open order filled.
    """
    pi, pf, _ = _pos_views(ints, floats)
    oi, of = _order_views(ints, floats)
    na = ints[HDR_A]
    for a in range(na):
        out[0, a] = 0.0
        out[1, a] = 0.0
    for i in range(ints[HDR_N]):
        out[0, pi[PI_ASSET, i]] += pf[PF_QTY, i] * pf[PF_MULT, i]
    for a in range(na):
        out[1, a] = out[0, a]
    for j in range(ints[HDR_K]):
        out[1, oi[OI_ASSET, j]] += of[OF_QTY, j] * of[OF_MULT, j]


@njit(cache=True, error_model="numpy")
def margin(ints: I64, floats: F64, out_pos: F64, out_venue: F64) -> None:
    """Maintenance margin per position and the margin figures per venue.

    Parameters
    ----------
    ints, floats : numpy.ndarray
        ``Book.ints`` and ``Book.floats``.
    out_pos : numpy.ndarray
        float64, shape ``(n_positions,)``: maintenance margin (0 for spot).
    out_venue : numpy.ndarray
        float64, shape ``(VM_ROWS, n_venues)``, rows ``VM_CASH``, ``VM_UPNL``, ``VM_EQUITY``, ``VM_MAINT``,
        ``VM_IM_POS`` (initial margin of positions), ``VM_IM_ORDERS`` (initial margin of open orders; the
        cash a spot buy locks), ``VM_HEADROOM``, ``VM_FREE`` (equity - both initial margins).
    """
    pi, pf, tiers = _pos_views(ints, floats)
    _, cash = _venue_views(ints, floats)
    oi, of = _order_views(ints, floats)
    m = ints[HDR_M]
    for v in range(m):
        for r in range(VM_ROWS):
            out_venue[r, v] = 0.0
        out_venue[VM_CASH, v] = cash[v]
    for i in range(ints[HDR_N]):
        out_pos[i] = 0.0
        if pi[PI_KIND, i] == KIND_SPOT:
            continue
        v = pi[PI_VENUE, i]
        q = pf[PF_QTY, i]
        mu = pf[PF_MULT, i]
        mk = pf[PF_MARK, i]
        notional = abs(q) * mu * mk
        rate, amount = _bracket(notional, pf[PF_MMR, i], pi[PI_TIER_START, i], pi[PI_TIER_COUNT, i], tiers)
        mm = notional * rate - amount
        out_pos[i] = mm
        out_venue[VM_UPNL, v] += q * mu * (mk - pf[PF_ENTRY, i])
        out_venue[VM_MAINT, v] += mm
        out_venue[VM_IM_POS, v] += notional * pf[PF_IMR, i]
    for j in range(ints[HDR_K]):
        out_venue[VM_IM_ORDERS, oi[OI_VENUE, j]] += _order_im(
            oi[OI_KIND, j], of[OF_QTY, j], of[OF_PRICE, j], of[OF_MULT, j], of[OF_IMR, j]
        )
    for v in range(m):
        eq = cash[v] + out_venue[VM_UPNL, v]
        out_venue[VM_EQUITY, v] = eq
        out_venue[VM_HEADROOM, v] = _headroom(eq, out_venue[VM_MAINT, v])
        out_venue[VM_FREE, v] = eq - out_venue[VM_IM_POS, v] - out_venue[VM_IM_ORDERS, v]


@njit(cache=True, error_model="numpy")
def liquidation(ints: I64, floats: F64, out: F64) -> None:
    """Liquidation price and distance to liquidation of every derivative position.

    Parameters
    ----------
    ints, floats : numpy.ndarray
        ``Book.ints`` and ``Book.floats``.
    out : numpy.ndarray
        float64, shape ``(LQ_ROWS, n_positions)``. Row ``LQ_PRICE``: liquidation price (NaN for spot,
        flat or fully offset positions); row ``LQ_DIST_PCT``: distance in percent of the mark in the
        adverse direction (negative: already below maintenance; ``inf``: none).

    Notes
    -----
    Allocates two small per-venue work arrays; not for the hot path (the pre-trade check computes
    the distances it needs itself).
    """
    pi, pf, tiers = _pos_views(ints, floats)
    vmode, cash = _venue_views(ints, floats)
    n = ints[HDR_N]
    m = ints[HDR_M]
    na = ints[HDR_A]
    cross_eq = np.empty(m)  # cross cash + cross P&L
    cross_mm = np.zeros(m)
    sens = np.zeros((2, m, na))  # d(equity)/dx and d(maintenance)/dx per venue and asset
    for v in range(m):
        cross_eq[v] = cash[v]
    for i in range(n):
        if pi[PI_KIND, i] == KIND_SPOT:
            continue
        v = pi[PI_VENUE, i]
        q = pf[PF_QTY, i]
        mu = pf[PF_MULT, i]
        mk = pf[PF_MARK, i]
        if pi[PI_ISOLATED, i] != 0 or vmode[v] == MODE_ISOLATED:
            cross_eq[v] -= pf[PF_ISO_MARGIN, i]
            continue
        notional = abs(q) * mu * mk
        rate, amount = _bracket(notional, pf[PF_MMR, i], pi[PI_TIER_START, i], pi[PI_TIER_COUNT, i], tiers)
        cross_eq[v] += q * mu * (mk - pf[PF_ENTRY, i])
        cross_mm[v] += notional * rate - amount
        a = pi[PI_ASSET, i]
        sens[0, v, a] += q * mu * mk
        sens[1, v, a] += notional * rate
    for i in range(n):
        q = pf[PF_QTY, i]
        out[LQ_PRICE, i] = np.nan
        out[LQ_DIST_PCT, i] = _INF
        if pi[PI_KIND, i] == KIND_SPOT or q == 0.0:
            continue
        v = pi[PI_VENUE, i]
        mu = pf[PF_MULT, i]
        mk = pf[PF_MARK, i]
        if pi[PI_ISOLATED, i] != 0 or vmode[v] == MODE_ISOLATED:
            notional = abs(q) * mu * mk
            rate, amount = _bracket(
                notional, pf[PF_MMR, i], pi[PI_TIER_START, i], pi[PI_TIER_COUNT, i], tiers
            )
            gap = pf[PF_ISO_MARGIN, i] + q * mu * (mk - pf[PF_ENTRY, i]) - (notional * rate - amount)
            d = q * mu * mk - notional * rate
        else:
            a = pi[PI_ASSET, i]
            gap = cross_eq[v] - cross_mm[v]
            d = sens[0, v, a] - sens[1, v, a]
        if d == 0.0:
            continue
        x = -gap / d
        out[LQ_PRICE, i] = max(mk * (1.0 + x), 0.0)
        out[LQ_DIST_PCT, i] = 100.0 * gap / abs(d)


@njit(cache=True, error_model="numpy")
def shock_headroom(ints: I64, floats: F64, shocks: F64, out: F64) -> None:
    """Margin headroom per venue with every mark moved by each shock.

    Parameters
    ----------
    ints, floats : numpy.ndarray
        ``Book.ints`` and ``Book.floats``.
    shocks : numpy.ndarray
        float64 relative moves, e.g. ``[-0.2, -0.1, 0.1, 0.2]`` (``LimitArrays.shocks``).
    out : numpy.ndarray
        float64, shape ``(len(shocks), n_venues)``: headroom per scenario and venue.
    """
    pi, pf, tiers = _pos_views(ints, floats)
    _, cash = _venue_views(ints, floats)
    m = ints[HDR_M]
    mm = np.empty(m)  # maintenance per venue under the scenario (one small allocation per call)
    for s in range(shocks.shape[0]):
        x = shocks[s]
        for v in range(m):
            out[s, v] = 0.0
            mm[v] = 0.0
        for i in range(ints[HDR_N]):
            if pi[PI_KIND, i] == KIND_SPOT:
                continue
            v = pi[PI_VENUE, i]
            q = pf[PF_QTY, i]
            mu = pf[PF_MULT, i]
            mk = pf[PF_MARK, i]
            notional = abs(q) * mu * mk * (1.0 + x)
            rate, amount = _bracket(
                notional, pf[PF_MMR, i], pi[PI_TIER_START, i], pi[PI_TIER_COUNT, i], tiers
            )
            out[s, v] += q * mu * (mk * (1.0 + x) - pf[PF_ENTRY, i])  # upnl under the shock
            mm[v] += notional * rate - amount
        for v in range(m):
            out[s, v] = _headroom(cash[v] + out[s, v], mm[v])


@njit(cache=True, error_model="numpy")
def funding_drag(ints: I64, floats: F64, horizon_hours: float, out_pos: F64, out_total: F64) -> None:
    """Funding so far, next settlement, carry over a horizon, and the positions funding has turned against.

    Parameters
    ----------
    ints, floats : numpy.ndarray
        ``Book.ints`` and ``Book.floats``.
    horizon_hours : float
        Holding horizon over which carry is projected at the current rate.
    out_pos : numpy.ndarray
        float64, shape ``(FP_ROWS, n_positions)``: ``FP_NEXT`` next payment (USD, + received),
        ``FP_HORIZON`` carry over the horizon, ``FP_AGAINST`` 1.0 when the position pays at the current
        rate. Zero for spot and futures.
    out_total : numpy.ndarray
        float64, shape ``(FT_ROWS,)``: ``FT_ACCRUED`` funding booked so far (+ received), ``FT_NEXT``,
        ``FT_HORIZON``, ``FT_DRAG`` = ``max(0, -FT_HORIZON)``.
    """
    pi, pf, _ = _pos_views(ints, floats)
    for r in range(FT_ROWS):
        out_total[r] = 0.0
    for i in range(ints[HDR_N]):
        out_total[FT_ACCRUED] += pf[PF_FUNDING_ACCRUED, i]
        if pi[PI_KIND, i] != KIND_PERP:
            out_pos[FP_NEXT, i] = 0.0
            out_pos[FP_HORIZON, i] = 0.0
            out_pos[FP_AGAINST, i] = 0.0
            continue
        nxt = -pf[PF_QTY, i] * pf[PF_MULT, i] * pf[PF_MARK, i] * pf[PF_FUNDING_RATE, i]
        hor = nxt * (horizon_hours / pf[PF_FUNDING_INTERVAL_H, i])
        out_pos[FP_NEXT, i] = nxt
        out_pos[FP_HORIZON, i] = hor
        out_pos[FP_AGAINST, i] = 1.0 if nxt < 0.0 else 0.0
        out_total[FT_NEXT] += nxt
        out_total[FT_HORIZON] += hor
    out_total[FT_DRAG] = max(0.0, -out_total[FT_HORIZON])


@njit(cache=True, error_model="numpy")
def venue_exposure(ints: I64, floats: F64, out: F64) -> None:
    """Counterparty exposure per venue.

    Parameters
    ----------
    ints, floats : numpy.ndarray
        ``Book.ints`` and ``Book.floats``.
    out : numpy.ndarray
        float64, shape ``(VE_ROWS, n_venues)``: ``VE_ASSETS`` (cash + spot value + derivative P&L),
        ``VE_NOTIONAL`` (gross), ``VE_EXPOSURE`` (the larger of the two), ``VE_SHARE`` (exposure over
        total equity, the sum of assets; ``inf`` when total equity <= 0 and exposure > 0).
    """
    pi, pf, _ = _pos_views(ints, floats)
    _, cash = _venue_views(ints, floats)
    m = ints[HDR_M]
    for v in range(m):
        out[VE_ASSETS, v] = 0.0
        out[VE_NOTIONAL, v] = 0.0
    for i in range(ints[HDR_N]):
        v = pi[PI_VENUE, i]
        q = pf[PF_QTY, i]
        mu = pf[PF_MULT, i]
        mk = pf[PF_MARK, i]
        out[VE_NOTIONAL, v] += abs(q) * mu * mk
        if pi[PI_KIND, i] == KIND_SPOT:
            out[VE_ASSETS, v] += q * mu * mk
        else:
            out[VE_ASSETS, v] += q * mu * (mk - pf[PF_ENTRY, i])
    total = 0.0
    for v in range(m):
        out[VE_ASSETS, v] += cash[v]
        total += out[VE_ASSETS, v]
    for v in range(m):
        exposure = max(out[VE_ASSETS, v], out[VE_NOTIONAL, v])
        out[VE_EXPOSURE, v] = exposure
        out[VE_SHARE, v] = _share(exposure, total)


@njit(cache=True, error_model="numpy")
def _share(exposure: float, total: float) -> float:
    if total > 0.0:
        return exposure / total
    return _INF if exposure > 0.0 else 0.0


# ---------------------------------------------------------------------------------------------------
# Pre-trade check.


@njit(cache=True, error_model="numpy")
def _valid_leg(slot: int, qty: float, price: float, n: int) -> bool:
    return 0 <= slot < n and np.isfinite(qty) and qty != 0.0 and np.isfinite(price) and price > 0.0


@njit(cache=True, error_model="numpy")
def _deny(work: F64, code: int, value: float, limit: float, index: int, before: float) -> int:
    work[R_CODE] = code
    work[R_VALUE] = value
    work[R_LIMIT] = limit
    work[R_INDEX] = index
    work[R_BEFORE] = before
    return code


@njit(cache=True, error_model="numpy")
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
    """Check the book as it would be after an order (or both legs of a pair) against every limit.

    The legs are applied as fills: quantity, entry (averaged when adding), isolated margin, realized P&L
    into cash, and the cash a spot leg pays. A limit fires when its figure is beyond the limit after the
    order *and* worse than before it, so an order that reduces a breach is approved (and a breach the
    order does not touch does not block it). Checks run in code order, venues and assets ascending;
    the first that fires is returned. A pair is judged on the book after both legs, so a pair that would
    breach is denied before its first leg is sent; the net delta of a pair is the completed pair's.

    Parameters
    ----------
    ints, floats : numpy.ndarray
        ``Book.ints`` and ``Book.floats``.
    work : numpy.ndarray
        float64 buffer from ``risk.book.make_work(book, limits)``, reused across calls: the result
        block, a copy of the limits (``risk.book.set_work_limits`` refreshes it), then scratch. The
        limits ride in it because each array argument costs about 60 ns of numba dispatch. On return
        its head holds the result: ``work[R_CODE]``, ``work[R_VALUE]`` (the figure after the
        order), ``work[R_LIMIT]``, ``work[R_INDEX]`` (asset index for ``DENY_NET_DELTA``, venue index
        for venue limits, -1 otherwise), ``work[R_BEFORE]`` (the figure before), ``work[R_SHOCK]``
        (scenario index for ``DENY_SHOCK_HEADROOM``).
    slot_a, qty_a, price_a : int, float, float
        First leg: the position slot it trades, signed quantity (contracts), limit/expected price.
    slot_b, qty_b, price_b : int, float, float
        Second leg; ``slot_b = -1`` for a single order (``qty_b``/``price_b`` then ignored).

    Returns
    -------
    int
        ``APPROVE`` (0) or the ``DENY_*`` code of the limit that fired.

    Notes
    -----
    Written for speed: no allocation, no array views and no helper that takes an array (numba
    reference-counts each with atomic operations, which cost more than the arithmetic here); every field
    is read from the flat arenas at computed offsets. One branch-free pass over all positions gives the
    per-venue totals, the per-asset net delta and the funding sum; a second pass, through the book's
    venue index, visits only the positions at the traded venues for margin, liquidation and shocks. The
    untiered maintenance under a shock is linear in the move, so only tiered positions are re-bracketed
    per scenario. A work buffer too small for the book is refused with ``DENY_INVALID_ORDER``.
    """
    n = ints[HDR_N]
    m = ints[HDR_M]
    k = ints[HDR_K]
    nt = ints[HDR_T]
    na = ints[HDR_A]
    # Offsets into the arenas (see risk.book).
    o_ven = HEADER + PI_VENUE * n
    o_ast = HEADER + PI_ASSET * n
    o_knd = HEADER + PI_KIND * n
    o_iso = HEADER + PI_ISOLATED * n
    o_ts = HEADER + PI_TIER_START * n
    o_tc = HEADER + PI_TIER_COUNT * n
    o_mode = HEADER + POS_I_FIELDS * n
    o_oven = o_mode + m + OI_VENUE * k
    o_oast = o_mode + m + OI_ASSET * k
    o_oknd = o_mode + m + OI_KIND * k
    f_qty = PF_QTY * n
    f_mul = PF_MULT * n
    f_mrk = PF_MARK * n
    f_ent = PF_ENTRY * n
    f_mmr = PF_MMR * n
    f_imr = PF_IMR * n
    f_isom = PF_ISO_MARGIN * n
    f_rate = PF_FUNDING_RATE * n
    f_intv = PF_FUNDING_INTERVAL_H * n
    f_tcap = POS_F_FIELDS * n
    f_trate = f_tcap + nt
    f_tamt = f_tcap + 2 * nt
    f_cash = f_tcap + TIER_FIELDS * nt
    f_ord = f_cash + m
    lo = RESULT_SIZE  # the limits, then the scratch
    g0 = LIM_V_FIELDS * m + na
    ns = int(work[lo + g0 + LG_N_SHOCKS])
    f_shocks = g0 + LIM_G_FIELDS
    horizon = work[lo + g0 + LG_HORIZON_H]

    work[:RESULT_SIZE] = 0.0
    work[R_INDEX] = -1.0
    work[R_SHOCK] = -1.0
    has_b = slot_b >= 0
    if not _valid_leg(slot_a, qty_a, price_a, n) or slot_b < -1:
        return _deny(work, DENY_INVALID_ORDER, 0.0, 0.0, -1, 0.0)
    if has_b and not _valid_leg(slot_b, qty_b, price_b, n):
        return _deny(work, DENY_INVALID_ORDER, 0.0, 0.0, -1, 0.0)
    two_slots = has_b and slot_b != slot_a

    va = ints[o_ven + slot_a]
    vb = ints[o_ven + slot_b] if two_slots else va
    v0 = min(va, vb)
    v1 = max(va, vb)
    aa = ints[o_ast + slot_a]
    ab = ints[o_ast + slot_b] if two_slots else aa
    a0 = min(aa, ab)
    a1 = max(aa, ab)

    # The legs after their fills.
    iso_a = ints[o_iso + slot_a] != 0 or ints[o_mode + va] == MODE_ISOLATED
    qa1, ea1, ia1, cash_a = _apply_leg(
        ints[o_knd + slot_a],
        floats[f_qty + slot_a],
        floats[f_ent + slot_a],
        floats[f_isom + slot_a],
        floats[f_mul + slot_a],
        floats[f_imr + slot_a],
        iso_a,
        qty_a,
        price_a,
    )
    qb1 = 0.0
    eb1 = 0.0
    ib1 = 0.0
    cash_b = 0.0
    if has_b and not two_slots:  # both legs on one slot: apply them in turn
        qa1, ea1, ia1, cash_x = _apply_leg(
            ints[o_knd + slot_a],
            qa1,
            ea1,
            ia1,
            floats[f_mul + slot_a],
            floats[f_imr + slot_a],
            iso_a,
            qty_b,
            price_b,
        )
        cash_a += cash_x
    elif two_slots:
        qb1, eb1, ib1, cash_b = _apply_leg(
            ints[o_knd + slot_b],
            floats[f_qty + slot_b],
            floats[f_ent + slot_b],
            floats[f_isom + slot_b],
            floats[f_mul + slot_b],
            floats[f_imr + slot_b],
            ints[o_iso + slot_b] != 0 or ints[o_mode + vb] == MODE_ISOLATED,
            qty_b,
            price_b,
        )

    # Scratch: per-venue assets and notional; two venue blocks (the touched venues' positions other
    # than the legs: scalars, tiered shock maintenance, per-asset cross sums); four leg blocks (leg a
    # before/after, leg b before/after; per-asset sums for the leg's own asset); four state blocks
    # (touched venue x before/after: venue block + its legs, scalars and tiered shock maintenance).
    w_assets = lo + g0 + LIM_G_FIELDS + ns
    w_notional = w_assets + m
    w_delta = w_assets + 2 * m
    sblk = SC_SCALARS + ns
    cblk = sblk + 3 * na
    lblk = sblk + 3
    c0 = w_assets + 2 * m + na
    l0 = c0 + 2 * cblk
    s0 = l0 + 4 * lblk
    end = s0 + 4 * sblk
    if work.shape[0] < end:  # a work buffer built for another book: fail closed, never write past it
        return _deny(work, DENY_INVALID_ORDER, 0.0, 0.0, -1, 0.0)
    work[w_assets:end] = 0.0  # a slice assignment is a memset; an indexed loop is not vectorized
    for j in range(2):
        work[c0 + j * cblk + SC_ISO_MIN_DIST] = _INF
    for j in range(4):
        work[l0 + j * lblk + SC_ISO_MIN_DIST] = _INF

    # Pass 1 (every position, branch-free: kinds and venues are not predictable): per-venue assets
    # and notional, per-asset net delta and the funding carry, all before the order.
    # Unsigned indices throughout: numba then drops its negative-index wraparound checks.
    u = np.uint64
    ov, oa, ok = u(o_ven), u(o_ast), u(o_knd)
    fq, fm, fk, fe, fr, fi = u(f_qty), u(f_mul), u(f_mrk), u(f_ent), u(f_rate), u(f_intv)
    wn, wa, wd = u(w_notional), u(w_assets), u(w_delta)
    hc = 0.0
    for iu in range(u(n)):
        vu = u(ints[ov + iu])
        kind = ints[ok + iu]
        qm = floats[fq + iu] * floats[fm + iu]
        mk = floats[fk + iu]
        e = 0.0 if kind == KIND_SPOT else floats[fe + iu]  # spot counts at its value
        work[wn + vu] += abs(qm) * mk
        work[wa + vu] += qm * (mk - e)
        work[wd + u(ints[oa + iu])] += qm
        perp = 1.0 if kind == KIND_PERP else 0.0
        hc += perp * (-qm * mk * floats[fr + iu] * (horizon / floats[fi + iu]))

    # Pass 2 (positions at the traded venues, through the venue index): margin, liquidation and
    # shock sums. Items per venue: its positions other than the legs (summed in registers, then stored
    # into the venue block), then each leg traded there before and after its fill (each stored into
    # its own leg block).
    o_index = o_mode + m + ORD_I_FIELDS * k
    for tv in range(1 if v0 == v1 else 2):
        v = v0 if tv == 0 else v1
        first = ints[o_index + v]
        count = ints[o_index + v + 1] - first
        legs_here = (2 if va == v else 0) + (2 if two_slots and vb == v else 0)
        upnl_s = mm_s = im_s = not_s = spot_s = isom_s = cu_s = cm_s = sqm_s = mmu_s = 0.0
        dmin_s = _INF
        for it in range(count + legs_here):
            if it < count:
                i = ints[o_index + m + 1 + first + it]
                if i == slot_a or (two_slots and i == slot_b):
                    if it < count - 1:
                        continue
                    i = -1  # nothing to add; fall through to store the venue block
                base = c0 + tv * cblk
                stride = na
                if i >= 0:
                    qs = floats[f_qty + i]
                    es = floats[f_ent + i]
                    iss = floats[f_isom + i]
            else:
                li = it - count  # 0, 1: first leg here before/after; 2, 3: second leg
                leg_b = li >= 2 or va != v
                state = li % 2
                i = slot_b if leg_b else slot_a
                base = l0 + ((2 if leg_b else 0) + state) * lblk
                stride = 0
                if state == 0:
                    qs = floats[f_qty + i]
                    es = floats[f_ent + i]
                    iss = floats[f_isom + i]
                elif leg_b:
                    qs, es, iss = qb1, eb1, ib1
                else:
                    qs, es, iss = qa1, ea1, ia1
                upnl_s = mm_s = im_s = not_s = spot_s = isom_s = cu_s = cm_s = sqm_s = mmu_s = 0.0
                dmin_s = _INF
            if i >= 0:
                kind = ints[o_knd + i]
                mu = floats[f_mul + i]
                mk = floats[f_mrk + i]
                if stride == 0:
                    work[base + SC_DELTA] = qs * mu
                    if kind == KIND_PERP:
                        work[base + SC_FUND] = (
                            -(qs * mu) * mk * floats[f_rate + i] * (horizon / floats[f_intv + i])
                        )
                notional = abs(qs) * mu * mk
                not_s += notional
                if kind == KIND_SPOT:
                    spot_s += qs * mu * mk
                else:
                    rate = floats[f_mmr + i]
                    amount = 0.0
                    ts = ints[o_ts + i]
                    tc = ints[o_tc + i]
                    if tc == 0:
                        mmu_s += notional * rate
                    else:
                        for sc in range(ns + 1):  # the current bracket, then one per shock scenario
                            x = notional if sc == 0 else notional * (1.0 + work[lo + f_shocks + sc - 1])
                            j = ts + tc - 1
                            for c in range(ts, ts + tc):
                                if x <= floats[f_tcap + c]:
                                    j = c
                                    break
                            r_x = floats[f_trate + j]
                            a_x = floats[f_tamt + j]
                            if x * r_x - a_x < 0.0:
                                r_x = 0.0
                                a_x = 0.0
                            if sc == 0:
                                rate = r_x
                                amount = a_x
                            else:
                                work[base + SC_SCALARS + sc - 1] += x * r_x - a_x
                    mm = notional * rate - amount
                    upnl = qs * mu * (mk - es)
                    upnl_s += upnl
                    mm_s += mm
                    im_s += notional * floats[f_imr + i]
                    sqm_s += qs * mu * mk
                    if ints[o_iso + i] != 0 or ints[o_mode + v] == MODE_ISOLATED:
                        isom_s += iss
                        if qs != 0.0:
                            d = qs * mu * mk - notional * rate
                            if d != 0.0:
                                dmin_s = min(dmin_s, 100.0 * (iss + upnl - mm) / abs(d))
                    else:
                        cu_s += upnl
                        cm_s += mm
                        sa = base + sblk + (ints[o_ast + i] if stride else 0)
                        st = stride if stride else 1
                        work[sa] += qs * mu * mk
                        work[sa + st] += notional * rate
                        if qs != 0.0:
                            work[sa + 2 * st] += 1.0
            if it >= count - 1:  # the venue block is complete, or a leg item is done: store the sums
                work[base + SC_UPNL] = upnl_s
                work[base + SC_MAINT] = mm_s
                work[base + SC_IM_POS] = im_s
                work[base + SC_NOTIONAL] = not_s
                work[base + SC_SPOT_VALUE] = spot_s
                work[base + SC_ISO_MARGIN] = isom_s
                work[base + SC_CROSS_UPNL] = cu_s
                work[base + SC_CROSS_MAINT] = cm_s
                work[base + SC_ISO_MIN_DIST] = dmin_s
                work[base + SC_SQM] = sqm_s
                work[base + SC_MMU] = mmu_s

    # State blocks: each touched venue before and after = its venue block + the legs traded there.
    n_touched = 1 if v0 == v1 else 2
    for t in range(n_touched):
        v = v0 if t == 0 else v1
        cb = c0 + t * cblk
        at_a = va == v
        at_b = two_slots and vb == v
        for state in range(2):
            sb = s0 + (2 * t + state) * sblk
            la = l0 + state * lblk
            lb = l0 + (2 + state) * lblk
            # Unsigned indices: numba then drops its negative-index wraparound, and the loop vectorizes.
            cbu = np.uint64(cb)
            lau = np.uint64(la)
            lbu = np.uint64(lb)
            sbu = np.uint64(sb)
            for f in range(np.uint64(sblk)):
                x = work[cbu + f]
                if at_a:
                    x += work[lau + f]
                if at_b:
                    x += work[lbu + f]
                work[sbu + f] = x
            dist = work[cb + SC_ISO_MIN_DIST]
            if at_a:
                dist = min(dist, work[la + SC_ISO_MIN_DIST])
            if at_b:
                dist = min(dist, work[lb + SC_ISO_MIN_DIST])
            work[sb + SC_ISO_MIN_DIST] = dist

    ow0 = 0.0  # resting orders of asset a0 / a1
    ow1 = 0.0
    im_o0 = 0.0  # initial margin of resting orders at venue v0 / v1
    im_o1 = 0.0
    for j in range(k):
        oa = ints[o_oast + j]
        oq = floats[f_ord + OF_QTY * k + j]
        om = floats[f_ord + OF_MULT * k + j]
        if oa == a0:
            ow0 += oq * om
        elif oa == a1:
            ow1 += oq * om
        ov = ints[o_oven + j]
        if ov == v0 or ov == v1:  # noqa: SIM109
            im = _order_im(
                ints[o_oknd + j], oq, floats[f_ord + OF_PRICE * k + j], om, floats[f_ord + OF_IMR * k + j]
            )
            if ov == v0:
                im_o0 += im
            else:
                im_o1 += im

    # 2: net delta of the traded assets (positions + legs, and with resting orders too).
    for t in range(2 if a0 != a1 else 1):
        asset = a0 if t == 0 else a1
        d_b = work[w_delta + asset]
        d_a = d_b
        ow = ow0 if t == 0 else ow1
        if aa == asset:
            d_a += work[l0 + lblk + SC_DELTA] - work[l0 + SC_DELTA]
        if two_slots and ab == asset:
            d_a += work[l0 + 3 * lblk + SC_DELTA] - work[l0 + 2 * lblk + SC_DELTA]
        fig_b = max(abs(d_b), abs(d_b + ow))
        fig_a = max(abs(d_a), abs(d_a + ow))
        lim = work[lo + LIM_V_FIELDS * m + asset]
        if fig_a > lim and _higher(fig_a, fig_b):
            return _deny(work, DENY_NET_DELTA, fig_a, lim, asset, fig_b)

    # 3: initial margin (free margin may not go negative).
    for t in range(n_touched):
        v = v0 if t == 0 else v1
        sb = s0 + 2 * t * sblk
        sa_ = sb + sblk
        cash_v = floats[f_cash + v]
        cash_d = (cash_a if va == v else 0.0) + (cash_b if two_slots and vb == v else 0.0)
        im_o = im_o0 if t == 0 else im_o1
        free_b = cash_v + work[sb + SC_UPNL] - work[sb + SC_IM_POS] - im_o
        free_a = cash_v + cash_d + work[sa_ + SC_UPNL] - work[sa_ + SC_IM_POS] - im_o
        if free_a < 0.0 and _lower(free_a, free_b):
            return _deny(work, DENY_INITIAL_MARGIN, free_a, 0.0, v, free_b)
    # 4: margin headroom floor.
    for t in range(n_touched):
        v = v0 if t == 0 else v1
        sb = s0 + 2 * t * sblk
        sa_ = sb + sblk
        cash_v = floats[f_cash + v]
        cash_d = (cash_a if va == v else 0.0) + (cash_b if two_slots and vb == v else 0.0)
        eq_b = cash_v + work[sb + SC_UPNL]
        eq_a = cash_v + cash_d + work[sa_ + SC_UPNL]
        mm_b = work[sb + SC_MAINT]
        mm_a = work[sa_ + SC_MAINT]
        hb = _headroom(eq_b, mm_b)
        ha = _headroom(eq_a, mm_a)
        floor = work[lo + LV_HEADROOM_FLOOR * m + v]
        if ha < floor and _worse_headroom(ha, eq_a - mm_a, hb, eq_b - mm_b):
            return _deny(work, DENY_MARGIN_HEADROOM, ha, floor, v, hb)
    # 5: headroom under each shock (P&L and untiered maintenance are linear in the move).
    shock_floor = work[lo + g0 + LG_SHOCK_FLOOR]
    for t in range(n_touched):
        v = v0 if t == 0 else v1
        sb = s0 + 2 * t * sblk
        sa_ = sb + sblk
        cash_v = floats[f_cash + v]
        cash_d = (cash_a if va == v else 0.0) + (cash_b if two_slots and vb == v else 0.0)
        for s in range(ns):
            x = work[lo + f_shocks + s]
            eq_b = cash_v + work[sb + SC_UPNL] + x * work[sb + SC_SQM]
            eq_a = cash_v + cash_d + work[sa_ + SC_UPNL] + x * work[sa_ + SC_SQM]
            mm_b = (1.0 + x) * work[sb + SC_MMU] + work[sb + SC_SCALARS + s]
            mm_a = (1.0 + x) * work[sa_ + SC_MMU] + work[sa_ + SC_SCALARS + s]
            hb = _headroom(eq_b, mm_b)
            ha = _headroom(eq_a, mm_a)
            if ha < shock_floor and _worse_headroom(ha, eq_a - mm_a, hb, eq_b - mm_b):
                _deny(work, DENY_SHOCK_HEADROOM, ha, shock_floor, v, hb)
                work[R_SHOCK] = s
                return DENY_SHOCK_HEADROOM
    # 6: distance to liquidation (nearest derivative position at the venue). A cross group's distance
    # is 100 * gap / |slope|; the groups the legs do not trade keep their slope, so their nearest is
    # at the largest |slope| when the gap is positive and at the smallest when it is negative.
    for t in range(n_touched):
        v = v0 if t == 0 else v1
        cb = c0 + t * cblk
        ca = cb + sblk
        at_a = va == v
        at_b = two_slots and vb == v
        big = 0.0  # max and min |slope| of the groups the legs do not trade
        small = _INF
        for a in range(na):
            if work[ca + 2 * na + a] > 0.0 and not ((at_a and aa == a) or (at_b and ab == a)):
                d = abs(work[ca + a] - work[ca + na + a])
                if d != 0.0:
                    big = max(big, d)
                    small = min(small, d)
        cash_v = floats[f_cash + v]
        dist_b = _INF
        dist_a = _INF
        for state in range(2):
            sb = s0 + (2 * t + state) * sblk
            cash_d = 0.0
            if state == 1:
                cash_d = (cash_a if at_a else 0.0) + (cash_b if at_b else 0.0)
            gap = (
                cash_v
                + cash_d
                - work[sb + SC_ISO_MARGIN]
                + work[sb + SC_CROSS_UPNL]
                - work[sb + SC_CROSS_MAINT]
            )
            dist = work[sb + SC_ISO_MIN_DIST]
            if big > 0.0:
                dist = min(dist, 100.0 * gap / (big if gap >= 0.0 else small))
            for leg in range(2):
                if not (at_a if leg == 0 else at_b):
                    continue
                a = aa if leg == 0 else ab
                if leg == 1 and at_a and aa == ab:
                    continue  # one group for both legs, counted with leg a
                sq = work[ca + a]
                sm = work[ca + na + a]
                cnt = work[ca + 2 * na + a]
                for lg in range(2):
                    if (at_a if lg == 0 else at_b) and (aa if lg == 0 else ab) == a:
                        ls = l0 + (2 * lg + state) * lblk + sblk
                        sq += work[ls]
                        sm += work[ls + 1]
                        cnt += work[ls + 2]
                if cnt > 0.0:
                    d = sq - sm
                    if d != 0.0:
                        dist = min(dist, 100.0 * gap / abs(d))
            if state == 0:
                dist_b = dist
            else:
                dist_a = dist
        lim = work[lo + LV_MIN_LIQ_DIST * m + v]
        if dist_a < lim and _lower(dist_a, dist_b):
            return _deny(work, DENY_LIQUIDATION_DISTANCE, dist_a, lim, v, dist_b)
    # 7: venue exposure in USD; keep the touched venues' exposures for the share check.
    exp_b0 = 0.0
    exp_a0 = 0.0
    exp_b1 = 0.0
    exp_a1 = 0.0
    total_b = 0.0
    total_a = 0.0
    for t in range(n_touched):
        v = v0 if t == 0 else v1
        sb = s0 + 2 * t * sblk
        sa_ = sb + sblk
        cash_v = floats[f_cash + v]
        cash_d = (cash_a if va == v else 0.0) + (cash_b if two_slots and vb == v else 0.0)
        assets_b = cash_v + work[sb + SC_SPOT_VALUE] + work[sb + SC_UPNL]
        assets_a = cash_v + cash_d + work[sa_ + SC_SPOT_VALUE] + work[sa_ + SC_UPNL]
        total_b += assets_b
        total_a += assets_a
        exp_b = max(assets_b, work[sb + SC_NOTIONAL])
        exp_a = max(assets_a, work[sa_ + SC_NOTIONAL])
        if t == 0:
            exp_b0 = exp_b
            exp_a0 = exp_a
        else:
            exp_b1 = exp_b
            exp_a1 = exp_a
        lim = work[lo + LV_EXPOSURE_USD * m + v]
        if exp_a > lim and _higher(exp_a, exp_b):
            return _deny(work, DENY_VENUE_EXPOSURE_USD, exp_a, lim, v, exp_b)
    # 8: venue share of total equity; every venue, since the total moves with the order.
    for v in range(m):
        if v != v0 and v != v1:
            x = floats[f_cash + v] + work[w_assets + v]
            total_b += x
            total_a += x
    for v in range(m):
        if v == v0:
            exp_b = exp_b0
            exp_a = exp_a0
        elif v == v1:
            exp_b = exp_b1
            exp_a = exp_a1
        else:
            exp_b = max(floats[f_cash + v] + work[w_assets + v], work[w_notional + v])
            exp_a = exp_b
        sh_b = _share(exp_b, total_b)
        sh_a = _share(exp_a, total_a)
        lim = work[lo + LV_EXPOSURE_SHARE * m + v]
        if sh_a > lim and _higher(sh_a, sh_b):
            return _deny(work, DENY_VENUE_EXPOSURE_SHARE, sh_a, lim, v, sh_b)
    # 9: funding drag over the horizon, book-wide.
    h_b = hc
    h_a = hc + (work[l0 + lblk + SC_FUND] - work[l0 + SC_FUND])
    if two_slots:
        h_a += work[l0 + 3 * lblk + SC_FUND] - work[l0 + 2 * lblk + SC_FUND]
    drag_b = max(0.0, -h_b)
    drag_a = max(0.0, -h_a)
    lim = work[lo + g0 + LG_MAX_FUNDING_DRAG]
    if drag_a > lim and _higher(drag_a, drag_b):
        return _deny(work, DENY_FUNDING_DRAG, drag_a, lim, -1, drag_b)
    return APPROVE


# ---------------------------------------------------------------------------------------------------
# Python-side conveniences (allocate; not for the hot path).


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one pre-trade check, for logs, ``OrderDenied`` reasons and the journal.

    Attributes
    ----------
    code : int
        ``APPROVE`` or a ``DENY_*`` code.
    reason : str
        ``DECISION_NAMES[code]``.
    value, limit, before : float
        The figure after the order, its limit, and the figure before the order.
    index : int
        Asset (net delta) or venue index; -1 for book-wide limits.
    shock : int
        Scenario index for a shock denial, else -1.
    """

    code: int
    reason: str
    value: float
    limit: float
    index: int
    before: float
    shock: int

    @property
    def approved(self) -> bool:
        """True when the order may be sent."""
        return self.code == APPROVE


class PreTradeGate:
    """Holds a book, its limits and a reused scratch buffer, and runs ``pretrade_check`` on them.

    Parameters
    ----------
    book : Book
        The live book; update its views in place (marks, qty, cash, funding) between checks.
    limits : LimitArrays
        Limits for the book's venues and assets.

    Examples
    --------
    >>> gate = PreTradeGate(book, limits)                      # doctest: +SKIP
    >>> code = gate.check_pair(spot_slot, 1.0, 50_000.0, perp_slot, -1.0, 50_010.0)  # doctest: +SKIP
    >>> if code: reason = gate.decision()                      # doctest: +SKIP
    """

    __slots__ = ("book", "floats", "ints", "limits", "work")

    def __init__(self, book: Book, limits: LimitArrays) -> None:
        if limits.n_venues != book.n_venues or limits.n_assets != book.n_assets:
            raise ValueError(
                f"limits are for {limits.n_venues} venues and {limits.n_assets} assets, "
                f"the book has {book.n_venues} and {book.n_assets}"
            )
        self.book = book
        self.limits = limits
        self.ints = book.ints
        self.floats = book.floats
        self.work = make_work(book, limits)

    def check(self, slot: int, qty: float, price: float) -> int:
        """Check one order; return the decision code (see :func:`pretrade_check`)."""
        return int(
            pretrade_check(
                self.ints,
                self.floats,
                self.work,
                int(slot),
                float(qty),
                float(price),
                -1,
                0.0,
                0.0,
            )
        )

    def check_pair(
        self, slot_a: int, qty_a: float, price_a: float, slot_b: int, qty_b: float, price_b: float
    ) -> int:
        """Check both legs of a pair as one; return the decision code."""
        return int(
            pretrade_check(
                self.ints,
                self.floats,
                self.work,
                int(slot_a),
                float(qty_a),
                float(price_a),
                int(slot_b),
                float(qty_b),
                float(price_b),
            )
        )

    def set_limits(self, limits: LimitArrays) -> None:
        """Replace the limits (same venues, assets and number of shocks) without reallocating."""
        if len(limits.values) != len(self.limits.values):
            raise ValueError("new limits have a different shape: build a new PreTradeGate")
        set_work_limits(self.work, limits)
        self.limits = limits

    def decision(self) -> Decision:
        """Return the figures of the last check."""
        w = self.work
        code = int(w[R_CODE])
        return Decision(
            code=code,
            reason=DECISION_NAMES[code],
            value=float(w[R_VALUE]),
            limit=float(w[R_LIMIT]),
            index=int(w[R_INDEX]),
            before=float(w[R_BEFORE]),
            shock=int(w[R_SHOCK]),
        )


@dataclass(frozen=True)
class RiskFigures:
    """Every kernel's output for one book (see :func:`evaluate`)."""

    net_delta: F64
    maintenance: F64
    venue_margin: F64
    liquidation: F64
    shock_headroom: F64
    funding_pos: F64
    funding_total: F64
    venue_exposure: F64


def evaluate(book: Book, limits: LimitArrays) -> RiskFigures:
    """Run every book-wide kernel and return the figures (allocates the outputs).

    Parameters
    ----------
    book : Book
    limits : LimitArrays
        Supplies the shock scenarios and the funding horizon.

    Returns
    -------
    RiskFigures
        ``net_delta`` (2, assets), ``maintenance`` (positions,), ``venue_margin`` (VM_ROWS, venues),
        ``liquidation`` (LQ_ROWS, positions), ``shock_headroom`` (shocks, venues), ``funding_pos``
        (FP_ROWS, positions), ``funding_total`` (FT_ROWS,), ``venue_exposure`` (VE_ROWS, venues).
    """
    out = allocate_figures(book, limits)
    evaluate_into(book, limits, out)
    return out


def allocate_figures(book: Book, limits: LimitArrays) -> RiskFigures:
    """Output arrays for :func:`evaluate_into`, sized for ``book`` and ``limits`` (allocate once, reuse)."""
    n, m, a = book.n_positions, book.n_venues, book.n_assets
    return RiskFigures(
        net_delta=np.empty((2, a)),
        maintenance=np.empty(n),
        venue_margin=np.empty((VM_ROWS, m)),
        liquidation=np.empty((LQ_ROWS, n)),
        shock_headroom=np.empty((len(limits.shocks), m)),
        funding_pos=np.empty((FP_ROWS, n)),
        funding_total=np.empty(FT_ROWS),
        venue_exposure=np.empty((VE_ROWS, m)),
    )


def evaluate_into(book: Book, limits: LimitArrays, out: RiskFigures) -> None:
    """Run every book-wide kernel into ``out`` (from :func:`allocate_figures`); allocates nothing."""
    net_delta(book.ints, book.floats, out.net_delta)
    margin(book.ints, book.floats, out.maintenance, out.venue_margin)
    liquidation(book.ints, book.floats, out.liquidation)
    shock_headroom(book.ints, book.floats, limits.shocks, out.shock_headroom)
    funding_drag(book.ints, book.floats, limits.horizon_hours, out.funding_pos, out.funding_total)
    venue_exposure(book.ints, book.floats, out.venue_exposure)
