"""The rate-limit monitor: only a streak of 429s that lasts is a storm; any usable answer ends it."""

from __future__ import annotations

from engine.venues.health import RateLimitMonitor, VenueHealthRecord


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _monitor(seen: list[VenueHealthRecord], clock: FakeTime) -> RateLimitMonitor:
    return RateLimitMonitor("BINANCE_USDM", 5.0, seen.append, now_ns=lambda: 7, monotonic=clock)


def test_monitor_when_429s_last_past_persist_then_one_storm_record() -> None:
    seen: list[VenueHealthRecord] = []
    clock = FakeTime()
    m = _monitor(seen, clock)
    for _ in range(4):
        m.rate_limited()
        clock.t += 1.0
    assert seen == [] and not m.storming  # 3 s of 429s: not yet
    clock.t += 2.0
    m.rate_limited()
    m.rate_limited()
    assert [(r.state, r.rate_limited_answers) for r in seen] == [("RATE_LIMITED", 5)]
    assert m.storming


def test_monitor_when_a_success_breaks_the_streak_then_no_storm() -> None:
    seen: list[VenueHealthRecord] = []
    clock = FakeTime()
    m = _monitor(seen, clock)
    m.rate_limited()
    clock.t += 4.0
    m.ok()
    m.rate_limited()
    clock.t += 4.0
    m.rate_limited()
    assert seen == [] and m.total_rate_limited == 3


def test_monitor_when_storm_ends_then_ok_record_once() -> None:
    seen: list[VenueHealthRecord] = []
    clock = FakeTime()
    m = _monitor(seen, clock)
    m.rate_limited()
    clock.t += 6.0
    m.rate_limited()
    m.ok()
    m.ok()
    assert [r.state for r in seen] == ["RATE_LIMITED", "OK"]
    assert not m.storming
