"""Leg management shared by the two-legged strategies: what to send next, decided from fills only.

A pair has a *first* leg (spot, or the CME future) and a *hedge* leg (the perp). Positions are signed base
units. The planner is a pure function: given what has filled and where the first leg should end up, it says
whether to hedge an imbalance, send the next clip of the first leg, or stop. Hedges are always sized from the
first leg's actual fills, never from what was intended.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
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

    Returns
    -------
    LegStep
        HEDGE with the perp quantity that brings net delta under one hedge lot step, else CLIP with the next
        first-leg order, else DONE.
    """
    imbalance = net_delta(first_qty, hedge_qty)
    hedge = floor_to_step(-imbalance, hedge_step)
    if hedge != 0:
        return LegStep(LegAction.HEDGE, hedge)
    remaining = target_first_qty - first_qty
    # Under one hedge lot left: it could never be hedged, so the pair is done.
    if abs(remaining) < hedge_step:
        return LegStep(LegAction.DONE, Decimal(0))
    # Size the clip net of the unhedgeable residual already on the book, so that net delta stays within one
    # clip and a full fill lands exactly on a hedgeable amount.
    room = clip_size - imbalance if remaining > 0 else clip_size + imbalance
    clip = floor_to_step(min(abs(remaining), room), first_step)
    return LegStep(LegAction.CLIP, clip if remaining > 0 else -clip)
