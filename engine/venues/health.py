"""Venue health: a rate-limit storm that persists moves the node to REDUCING.

One `RateLimitMonitor` per venue is shared by that venue's data and execution clients. Every call they make
reports ``ok()`` or ``rate_limited()``; a streak of rate-limited answers not broken by any success for
``persist_secs`` publishes a `VenueHealthRecord` (``RATE_LIMITED``) on `TOPIC_VENUE_HEALTH`, once per
streak, and the first success after it publishes ``OK``. The live node turns ``RATE_LIMITED`` into the
REDUCING trading state (see `engine.live.node`); it never turns it back to ACTIVE by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

TOPIC_VENUE_HEALTH = "carry.venue.health"


@dataclass(frozen=True, slots=True)
class VenueHealthRecord:
    """A change of a venue's health as its clients see it."""

    ts_ns: int
    venue: str
    state: str  # "RATE_LIMITED" | "OK"
    streak_secs: float
    rate_limited_answers: int


class RateLimitMonitor:
    """Counts a venue's rate-limited answers and reports a storm that lasts ``persist_secs``.

    Parameters
    ----------
    venue : str
        The nautilus venue id.
    persist_secs : float
        How long a streak of rate-limited answers (no success in between) may last before it is a storm.
    publish : callable
        Receives each `VenueHealthRecord`.
    now_ns : callable
        The node clock (for the record's timestamp).
    monotonic : callable
        Seconds, for the streak (tests may replace it).
    """

    def __init__(
        self,
        venue: str,
        persist_secs: float,
        publish: Callable[[VenueHealthRecord], None],
        now_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.venue = venue
        self.persist_secs = persist_secs
        self._publish = publish
        self._now_ns = now_ns
        self._monotonic = monotonic
        self._streak_start: float | None = None
        self._streak_count = 0
        self.storming = False
        self.total_rate_limited = 0

    def ok(self) -> None:
        """A call got a usable answer: any streak is over."""
        if self._streak_start is None:
            return
        streak = self._monotonic() - self._streak_start
        self._streak_start = None
        count, self._streak_count = self._streak_count, 0
        if self.storming:
            self.storming = False
            self._publish(VenueHealthRecord(self._now_ns(), self.venue, "OK", streak, count))

    def rate_limited(self) -> None:
        """A call was answered 429/418 (or the venue's rate-limit code)."""
        now = self._monotonic()
        self.total_rate_limited += 1
        self._streak_count += 1
        if self._streak_start is None:
            self._streak_start = now
        streak = now - self._streak_start
        if not self.storming and streak >= self.persist_secs:
            self.storming = True
            self._publish(
                VenueHealthRecord(self._now_ns(), self.venue, "RATE_LIMITED", streak, self._streak_count)
            )
