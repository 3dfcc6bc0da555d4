"""The run summary: counts, net delta and P&L attribution, computed in Decimal from the journal."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path
from typing import Any

import numpy as np

from engine.accounting import USD_LIKE
from engine.journal import Fill, FundingPayment, Journal, JournalError
from engine.report.facts import RunFacts

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DP8 = Decimal("1e-8")
# Wide enough that quantizing any realistic money figure to 8 dp never raises InvalidOperation.
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)
# Fees in these currencies are taken at par to USD; any other fee currency is the fill's base asset.


def iso_utc(ts_ns: int, *, micros: bool = True) -> str:
    """Format nanoseconds since the epoch as ISO UTC with a ``Z``.

    Parameters
    ----------
    ts_ns : int
        Nanoseconds since the epoch (truncated to microseconds).
    micros : bool
        Always print microseconds (``2023-04-05T00:00:00.000000Z``, the CSV format) when True; when False,
        only if the time is not a whole second (``2023-04-05T00:00:00Z``, the summary format).
    """
    dt = _EPOCH + timedelta(microseconds=ts_ns // 1_000)
    if micros or dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def fee_usd(fill: Fill, quote_currency: str) -> Decimal:
    """A fill's fee in USD: as is in the quote currency or a USD stablecoin, else base asset at fill price."""
    cur = fill.fee_currency.upper()
    if cur == quote_currency.upper() or cur in USD_LIKE:
        return fill.fee
    return fill.fee * fill.price


def signed_qty(fill: Fill) -> Decimal:
    """The fill's quantity, positive for a buy and negative for a sell."""
    side = fill.side.upper()
    if side == "BUY":
        return fill.qty
    if side == "SELL":
        return -fill.qty
    raise JournalError(f"fill {fill.trade_id} on {fill.venue} has side {fill.side!r}, not BUY or SELL")


def max_abs_net_delta(
    fills: Sequence[Fill],
    base_multipliers: Mapping[str, Decimal] | None = None,
    underlyings: Mapping[str, str] | None = None,
    initial_positions: Mapping[str, Decimal] | None = None,
) -> Decimal:
    """Largest absolute net base position over fill times, starting from ``initial_positions`` (or flat).

    Walks the fills in time order, summing signed base quantities (spot and perp alike) per underlying,
    and measures after every fill: even when both legs fill at the same engine time, live there is a
    moment between them when the first leg is unhedged, and that is the exposure a desk must see.

    Parameters
    ----------
    fills : Sequence[Fill]
        The run's fills in time order.
    base_multipliers : Mapping[str, Decimal], optional
        Base units per unit of quantity by instrument id (default 1).
    underlyings : Mapping[str, str], optional
        Underlying by instrument id (default: all one underlying).
    initial_positions : Mapping[str, Decimal], optional
        Signed quantity held per instrument before the first fill (adopted inventory); only measured
        together with the fills, at fill times.

    Returns
    -------
    Decimal
        The maximum over times and underlyings of ``|net base position|``; 0 without fills.
    """
    mult = base_multipliers or {}
    under = underlyings or {}
    net: dict[str, Decimal] = {}
    for inst, qty in (initial_positions or {}).items():
        key = under.get(inst, "")
        net[key] = net.get(key, Decimal(0)) + qty * mult.get(inst, Decimal(1))
    worst = Decimal(0)
    for f in fills:
        key = under.get(f.instrument_id, "")
        net[key] = net.get(key, Decimal(0)) + signed_qty(f) * mult.get(f.instrument_id, Decimal(1))
        worst = max(worst, abs(net[key]))
    return worst


def pnl_attribution(
    fills: Iterable[Fill],
    funding: Iterable[FundingPayment],
    initial_equity: Decimal,
    final_equity: Decimal | None,
    quote_currency: str,
) -> dict[str, Decimal | None]:
    """Split the run's P&L into funding, fees and basis (the price P&L of the hedged legs).

    ``funding`` = sum of funding amounts; ``fees`` = minus the sum of fees in USD; ``total`` = final equity
    minus initial equity; ``basis`` = total - funding - fees. Without an equity snapshot, ``total`` and
    ``basis`` are None: the journal cannot tell them.
    """
    funding_sum = sum((p.amount for p in funding), Decimal(0))
    fees = -sum((fee_usd(f, quote_currency) for f in fills), Decimal(0))
    if final_equity is None:
        return {"total": None, "funding": funding_sum, "basis": None, "fees": fees}
    total = final_equity - initial_equity
    return {"total": total, "funding": funding_sum, "basis": total - funding_sum - fees, "fees": fees}


def to_json_number(value: Decimal) -> float:
    """A Decimal as a JSON float rounded to 8 decimals (rounded in Decimal first, half-even)."""
    return float(value.quantize(_DP8, context=_CTX))


def jsonable(value: Any) -> Any:
    """Convert a value for ``summary.json``: Decimal and floats to 8 dp, NaN to null, numpy to Python."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, Decimal):
        return to_json_number(value) if value.is_finite() else None
    if isinstance(value, float | np.floating):
        f = float(value)
        return round(f, 8) if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if hasattr(value, "as_dict"):
        return jsonable(value.as_dict())
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot put {type(value).__name__} {value!r} in summary.json")


def build_summary(journal: Journal, run_id: str, facts: RunFacts) -> dict[str, Any]:
    """Compute the summary of a run from its journal and the runner's facts.

    Returns
    -------
    dict
        JSON-ready (floats rounded to 8 dp), keys as documented in :func:`engine.report.write_report`.

    Raises
    ------
    JournalError
        The run is not in the journal.
    ValueError
        ``facts.extra`` has a key the report computes itself.
    """
    run = journal.run(run_id)
    if run is None:
        raise JournalError(f"run {run_id!r} is not in the journal {journal.url}")
    fills = journal.fills(run_id)
    funding = journal.funding(run_id)
    counts = journal.counts(run_id)
    last = journal.last_equity(run_id)
    final_equity = None if last is None else last.equity_usd
    pnl = pnl_attribution(fills, funding, facts.initial_equity_usd, final_equity, facts.quote_currency)
    decisions = journal.decision_counts(run_id)
    summary: dict[str, Any] = {
        "run_id": run_id,
        "strategy": facts.strategy,
        "mode": run.mode,
        "status": run.status,
        "start": iso_utc(facts.start_ns, micros=False),
        "end": iso_utc(facts.end_ns, micros=False),
        "events": facts.events,
        "wall_seconds": round(float(facts.wall_seconds), 3),
        "bad_lines": facts.bad_lines,
        "orders": counts["order_intent"],
        "order_events": journal.order_event_counts(run_id),
        "fills": len(fills),
        "funding_payments": len(funding),
        "entries": decisions.get("ENTER", 0),
        "exits": decisions.get("EXIT", 0),
        "risk_events": journal.risk_event_counts(run_id),
        "max_abs_net_delta_base": max_abs_net_delta(
            fills, facts.base_multipliers, facts.underlyings, facts.initial_positions
        ),
        "quote_currency": facts.quote_currency,
        "initial_equity_usd": facts.initial_equity_usd,
        "final_equity_usd": final_equity,
        "pnl_usd": pnl,
    }
    clash = sorted(set(facts.extra) & set(summary))
    if clash:
        raise ValueError(f"RunFacts.extra must not override computed summary keys: {clash}")
    summary.update(facts.extra)
    out = jsonable(summary)
    assert isinstance(out, dict)
    return out


def write_summary_json(summary: Mapping[str, Any], path: Path) -> None:
    """Write the summary deterministically: sorted keys, 2-space indent, trailing newline."""
    path.write_text(json.dumps(summary, sort_keys=True, indent=2, allow_nan=False) + "\n", encoding="utf-8")
