"""Fault injection for the emulator: rules matched per path and method, applied by an aiohttp middleware.

A rules file is JSON (``{"faults": [{...}, ...]}``) or TOML (``[[faults]]`` tables). Each rule:

==================  ===================================================================================
``kind``            ``drop_after_commit`` (the order is booked, then the connection is closed with no
                    answer), ``rate_limit`` (HTTP 429 with ``Retry-After``, request not processed),
                    ``partial_fill`` (fill ``fill_ratio`` of the order now, at the recorded top of
                    book, then expire (MARKET/IOC) or cancel (GTC) the rest; an order that does not
                    cross the book is canceled unfilled),
                    ``reject`` (answer ``{"code": code, "msg": msg}`` without booking), ``latency``
                    (sleep ``latency_ms`` first), ``reset`` (abort the connection before processing)
``path``            glob on the request path, e.g. ``/fapi/v1/order`` or ``/api/v3/*`` (default ``*``)
``method``          HTTP method or ``*`` (default)
``count``           how many matching requests it hits; ``null`` = unlimited (default 1)
``skip``            let this many matching requests through first (default 0)
``window_s``        once first hit, the rule stays active this many seconds (then ``count`` is ignored)
``retry_after_s``   seconds in the 429 ``Retry-After`` header (default 1)
``code``, ``msg``   the rejection (default -2019 "Margin is insufficient.")
``latency_ms``      added latency (default 0)
``fill_ratio``      fraction filled by ``partial_fill`` (default 0.5)
==================  ===================================================================================

Rejections and 429s are answered in Binance's shape unless another front registered its own for its path
prefix in `FaultPlan.error_bodies` (OKX: ``{"code": "50011", "msg": ..., "data": []}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import socket
import struct
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Middleware

FaultKind = Literal["drop_after_commit", "rate_limit", "partial_fill", "reject", "latency", "reset"]
_KINDS: tuple[str, ...] = ("drop_after_commit", "rate_limit", "partial_fill", "reject", "latency", "reset")

# Key in the aiohttp request where the middleware leaves a forced fill ratio for the order handler.
FILL_RATIO_KEY: web.RequestKey[float] = web.RequestKey("emulator_fill_ratio", float)


class FaultFileError(ValueError):
    """A fault file that does not parse or names an unknown field or kind."""


@dataclass
class FaultRule:
    """One fault: what to do, to which requests, how often (see the module docstring)."""

    kind: FaultKind
    path: str = "*"
    method: str = "*"
    count: int | None = 1
    skip: int = 0
    window_s: float | None = None
    retry_after_s: int = 1
    code: int = -2019
    msg: str = "Margin is insufficient."
    latency_ms: float = 0.0
    fill_ratio: float = 0.5
    hits: int = field(default=0)
    seen: int = field(default=0)
    first_hit: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise FaultFileError(f"fault kind {self.kind!r} is not one of {', '.join(_KINDS)}")
        if not 0.0 <= self.fill_ratio <= 1.0:
            raise FaultFileError(f"fill_ratio {self.fill_ratio} is not in [0, 1]")

    def matches(self, method: str, path: str) -> bool:
        """Whether the rule is aimed at this request (ignores counts)."""
        return (self.method in ("*", method.upper())) and fnmatch.fnmatchcase(path, self.path)

    def take(self, now: float) -> bool:
        """Count one matching request; True if the fault applies to it."""
        if self.window_s is not None and self.first_hit is not None:
            if now - self.first_hit <= self.window_s:
                self.hits += 1
                return True
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        if self.count is not None and self.hits >= self.count:
            return False
        if self.first_hit is None:
            self.first_hit = now
        self.hits += 1
        return True

    def to_json(self) -> dict[str, Any]:
        """The rule and its counters."""
        return asdict(self)


_FIELDS = {
    "kind",
    "path",
    "method",
    "count",
    "skip",
    "window_s",
    "retry_after_s",
    "code",
    "msg",
    "latency_ms",
    "fill_ratio",
}


def rule_from_dict(raw: dict[str, Any], where: str = "fault") -> FaultRule:
    """Build a rule from a mapping, naming the offending field on error."""
    unknown = set(raw) - _FIELDS
    if unknown:
        raise FaultFileError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
    if "kind" not in raw:
        raise FaultFileError(f"{where}: field 'kind' is required")
    try:
        return FaultRule(**raw)
    except TypeError as exc:
        raise FaultFileError(f"{where}: {exc}") from exc


def load_faults(path: Path) -> list[FaultRule]:
    """Read fault rules from a ``.json`` or ``.toml`` file (top-level key ``faults``)."""
    text = Path(path).read_text()
    try:
        data = tomllib.loads(text) if Path(path).suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise FaultFileError(f"{path}: {exc}") from exc
    items = data.get("faults") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise FaultFileError(f"{path}: expected a list under 'faults'")
    return [rule_from_dict(item, f"{path}: faults[{i}]") for i, item in enumerate(items)]


# A front's fault answer: (fault kind, rule, request path) -> (JSON body, HTTP status).
ErrorBody = Callable[[str, FaultRule, str], tuple[dict[str, Any], int]]


class FaultPlan:
    """The active rules; mutated only on the server's event loop."""

    def __init__(self, rules: list[FaultRule] | None = None) -> None:
        self.rules: list[FaultRule] = list(rules or [])
        # Path prefix -> how that front words a rejection or a 429 (default: Binance's shape).
        self.error_bodies: dict[str, ErrorBody] = {}

    def add(self, rule: FaultRule) -> FaultRule:
        """Activate a rule; returns it (its ``hits`` counts the requests it hit)."""
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        self.rules.clear()

    def error_response(self, kind: str, rule: FaultRule, path: str) -> web.Response:
        """The answer to a ``rate_limit`` or ``reject`` fault, in the shape of the front serving ``path``."""
        render = next((r for p, r in self.error_bodies.items() if path.startswith(p)), None)
        if render is not None:
            body, status = render(kind, rule, path)
        elif kind == "rate_limit":
            msg = "Too many requests; current limit of IP is 2400 requests per minute."
            body, status = {"code": -1003, "msg": msg}, 429
        else:
            body, status = {"code": rule.code, "msg": rule.msg}, 400
        headers = {"Retry-After": str(rule.retry_after_s)} if kind == "rate_limit" else None
        return web.json_response(body, status=status, headers=headers)

    def pick(self, method: str, path: str) -> list[FaultRule]:
        """The rules that apply to this request, counting it against each."""
        now = time.monotonic()
        return [r for r in self.rules if r.matches(method, path) and r.take(now)]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_middleware(plan: FaultPlan) -> Middleware:
    """Return the aiohttp middleware applying ``plan``.

    Order per request: latency, reset, rate_limit, reject, then the handler (with a forced fill ratio
    for partial_fill), then drop_after_commit.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_emulator"):
            return await handler(request)
        rules = plan.pick(request.method, request.path)
        if not rules:
            return await handler(request)
        kinds = {r.kind: r for r in rules}
        if "latency" in kinds:
            # Read the body first: aiohttp keeps it and does not cancel the handler when the client
            # gives up, so a slow answer still books the order (a timeout is an unknown outcome).
            await request.read()
            await asyncio.sleep(kinds["latency"].latency_ms / 1000.0)
        if "reset" in kinds:
            _reset(request)
            return web.Response(status=500)  # never reaches the client: the connection is gone
        if "rate_limit" in kinds:
            return plan.error_response("rate_limit", kinds["rate_limit"], request.path)
        if "reject" in kinds:
            return plan.error_response("reject", kinds["reject"], request.path)
        if "partial_fill" in kinds:
            request[FILL_RATIO_KEY] = kinds["partial_fill"].fill_ratio
        response = await handler(request)
        if "drop_after_commit" in kinds and request.transport is not None:
            # The handler has booked the order; the client never hears about it (the connection is
            # closed before aiohttp writes the answer, which it then drops quietly).
            request.transport.close()
        return response

    return middleware


def _reset(request: web.Request) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), as a crashed peer or middlebox would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
