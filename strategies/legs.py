"""Leg management shared by the two-legged strategies: what to send next, decided from fills only.

A pair has a *first* leg (spot, or the CME future) and a *hedge* leg (the perp). Positions are signed base
units. The planner is a pure function: given what has filled and where the first leg should end up, it says
whether to hedge an imbalance, send the next clip of the first leg, or stop. Hedges are always sized from the
first leg's actual fills, never from what was intended.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_DOWN, ROUND_UP, Decimal
from enum import Enum


class LegAction(Enum):
    """What the pair needs next."""

    HEDGE = "hedge"
    CLIP = "clip"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class LegStep:
    """The next order of a pair: ``qty`` is signed base units (> 0 buy, < 0 sell); zero when DONE."""

    action: LegAction
    qty: Decimal


def floor_to_step(qty: Decimal, step: Decimal) -> Decimal:
    """Round ``qty`` toward zero onto a multiple of ``step``."""
    return (qty / step).to_integral_value(rounding=ROUND_DOWN) * step


def round_to_step(qty: Decimal, step: Decimal) -> Decimal:
    """Round ``qty`` to the nearest multiple of ``step``; a tie goes toward zero (no over-hedge on a tie)."""
    return (qty / step).to_integral_value(rounding=ROUND_HALF_DOWN) * step


def min_order_qty(step: Decimal, min_notional: Decimal | None, price: Decimal | None) -> Decimal:
    """Smallest order the venue takes: one lot, or its minimum notional at ``price`` rounded up to a lot."""
    if min_notional is None or price is None or price <= 0:
        return step
    return max(step, (min_notional / price / step).to_integral_value(rounding=ROUND_UP) * step)


def net_delta(first_qty: Decimal, hedge_qty: Decimal, hedge_ratio: Decimal = Decimal(1)) -> Decimal:
    """Net base exposure of the pair: first leg plus hedge leg scaled by ``hedge_ratio``."""
    return first_qty + hedge_qty * hedge_ratio


def plan_next_leg(
    first_qty: Decimal,
    hedge_qty: Decimal,
    target_first_qty: Decimal,
    clip_size: Decimal,
    first_step: Decimal,
    hedge_step: Decimal,
    first_min: Decimal | None = None,
) -> LegStep:
    """Decide the next order of a pair from what has filled.

    Parameters
    ----------
    first_qty, hedge_qty : Decimal
        Signed filled positions of the first and hedge legs (base units).
    target_first_qty : Decimal
        Where the first leg should end (``+size`` to enter a long-spot carry, ``0`` to exit).
    clip_size : Decimal
        Largest first-leg order; bounds how far the first leg can run ahead of its hedge.
    first_step, hedge_step : Decimal
        Lot steps of the two instruments.
    first_min : Decimal, optional
        Smallest first-leg order the venue takes (its lot, or its minimum notional at the price); default
        ``first_step``.

    Returns
    -------
    LegStep
        HEDGE with the perp quantity that brings net delta within half a hedge lot step, else CLIP with the
        next first-leg order, else DONE.
    """
    imbalance = net_delta(first_qty, hedge_qty)
    # Nearest lot, not toward zero: a first leg holding a little less than it bought (a fee taken in the
    # asset bought) must still close its hedge fully when it goes flat, and half a lot is the least residual
    # a lot-sized hedge can promise.
    hedge = round_to_step(-imbalance, hedge_step)
    if hedge != 0:
        return LegStep(LegAction.HEDGE, hedge)
    remaining = target_first_qty - first_qty
    smallest = first_step if first_min is None else max(first_min, first_step)
    # Entering, under one hedge lot short of the target is done: the hedge already covers it within half a
    # lot. Going flat, everything sellable goes; what stays is under the smallest order the venue takes.
    if abs(remaining) < (smallest if target_first_qty == 0 else max(smallest, hedge_step)):
        return LegStep(LegAction.DONE, Decimal(0))
    # Size the clip net of the unhedgeable residual already on the book, so that net delta stays within one
    # clip and a full fill lands exactly on a hedgeable amount.
    room = clip_size - imbalance if remaining > 0 else clip_size + imbalance
    clip = floor_to_step(min(abs(remaining), room), first_step)
    return LegStep(LegAction.CLIP, clip if remaining > 0 else -clip)
