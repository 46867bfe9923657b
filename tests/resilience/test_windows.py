"""Sliding windows on their own: what a breaker (or the job breaker) reuses.

A window tallies outcomes (failed? slow?) and says when its thresholds are
reached. Each kind is checked against the plainest possible reference: a list
of every outcome, filtered to the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peak_trade.resilience._windows import (
    CountRing,
    CountWindow,
    TimeBuckets,
    TimeWindow,
    tally_for,
)


@dataclass
class Reference:
    """Every outcome ever recorded, as ``(second, failed, slow)``."""

    window: CountWindow | TimeWindow
    outcomes: list[tuple[int, bool, bool]]

    def in_window(self, now: float) -> list[tuple[int, bool, bool]]:
        w = self.window
        if isinstance(w, CountWindow):
            return self.outcomes[-w.size :]
        return [o for o in self.outcomes if o[0] > int(now) - w.seconds]

    def totals(self, now: float) -> tuple[int, int, int]:
        kept = self.in_window(now)
        return len(kept), sum(o[1] for o in kept), sum(o[2] for o in kept)

    def tripped(self, now: float) -> bool:
        w = self.window
        calls, failures, slow = self.totals(now)
        minimum = min(w.minimum_calls, w.size) if isinstance(w, CountWindow) else w.minimum_calls
        if calls < minimum:
            return False
        if failures / calls * 100 >= w.failure_rate_threshold:
            return True
        return w.slow_call_duration is not None and slow / calls * 100 >= w.slow_call_rate_threshold


def test_a_count_window_trips_on_the_failure_rate_once_it_has_minimum_calls() -> None:
    ring = tally_for(CountWindow(size=4, failure_rate_threshold=50, minimum_calls=4))
    assert isinstance(ring, CountRing)
    assert ring.record(0.0, failed=True, slow=False) is False  # 1 of 1, below minimum_calls
    assert ring.record(0.0, failed=True, slow=False) is False
    assert ring.record(0.0, failed=False, slow=False) is False
    assert ring.record(0.0, failed=False, slow=False) is True  # 2 of 4 = 50 %
    assert ring.totals(0.0) == (4, 2, 0)


def test_a_count_window_forgets_what_slid_out_and_is_clean_again() -> None:
    ring = tally_for(CountWindow(size=3, failure_rate_threshold=100, minimum_calls=1))
    ring.record(0.0, failed=True, slow=False)
    assert not ring.clean
    ring.skip(3)  # three successes push the failure out
    assert ring.clean
    assert ring.totals(0.0) == (3, 0, 0)


def test_skip_is_the_same_as_recording_that_many_successes() -> None:
    window = CountWindow(size=5, failure_rate_threshold=40, minimum_calls=5)
    one_by_one, skipped = tally_for(window), tally_for(window)
    for ring in (one_by_one, skipped):
        ring.record(0.0, failed=True, slow=False)
        ring.record(0.0, failed=True, slow=False)
    for _ in range(2):
        one_by_one.record(0.0, failed=False, slow=False)
    skipped.skip(2)
    assert one_by_one.totals(0.0) == skipped.totals(0.0) == (4, 2, 0)
    assert one_by_one.record(0.0, False, False) is skipped.record(0.0, False, False) is True


def test_a_time_window_slides_in_whole_seconds() -> None:
    buckets = tally_for(TimeWindow(seconds=10, failure_rate_threshold=50, minimum_calls=2))
    assert isinstance(buckets, TimeBuckets)
    assert buckets.record(100.2, failed=True, slow=False) is False
    assert buckets.record(109.9, failed=False, slow=False) is True  # 1 of 2, same 10 s
    assert buckets.totals(110.0) == (1, 0, 0)  # second 100 has left the window
    assert buckets.clean


def test_slow_calls_trip_on_their_own_rate() -> None:
    window = CountWindow(
        size=4, minimum_calls=4, slow_call_duration=2.0, slow_call_rate_threshold=50
    )
    ring = tally_for(window)
    for slow in (True, False, False):
        assert ring.record(0.0, failed=False, slow=slow) is False
    assert ring.record(0.0, failed=False, slow=True) is True
    assert not ring.clean  # slow calls keep a window from being clean too


def test_reset_forgets_everything() -> None:
    for window in (CountWindow(size=2, minimum_calls=1), TimeWindow(seconds=5, minimum_calls=1)):
        tally = tally_for(window)
        tally.record(3.0, failed=True, slow=False)
        tally.reset()
        assert tally.totals(3.0) == (0, 0, 0)
        assert tally.clean


OUTCOMES = st.lists(
    st.tuples(st.integers(0, 3), st.booleans(), st.booleans(), st.integers(1, 3)),
    max_size=60,
)
"""(seconds to advance, failed, slow, how many times) per step."""


@given(
    size=st.integers(1, 8),
    minimum=st.integers(1, 10),
    rate=st.sampled_from([10.0, 50.0, 75.0, 100.0]),
    slow_rate=st.sampled_from([25.0, 100.0]),
    steps=OUTCOMES,
)
def test_a_count_window_matches_the_reference(
    size: int, minimum: int, rate: float, slow_rate: float, steps: list[tuple[int, bool, bool, int]]
) -> None:
    window = CountWindow(
        size=size,
        failure_rate_threshold=rate,
        minimum_calls=minimum,
        slow_call_duration=1.0,
        slow_call_rate_threshold=slow_rate,
    )
    ring, ref = tally_for(window), Reference(window, [])
    assert isinstance(ring, CountRing)
    for _advance, failed, slow, times in steps:
        if not failed and not slow and times > 1:
            ring.skip(times)  # the breaker's quiet successes
            ref.outcomes.extend([(0, False, False)] * times)
        else:
            ref.outcomes.append((0, failed, slow))
            assert ring.record(0.0, failed, slow) is ref.tripped(0.0)
        assert ring.totals(0.0) == ref.totals(0.0)
        assert ring.clean is (ref.totals(0.0)[1:] == (0, 0))


@given(
    seconds=st.integers(1, 6),
    minimum=st.integers(1, 6),
    rate=st.sampled_from([10.0, 50.0, 100.0]),
    steps=OUTCOMES,
)
def test_a_time_window_matches_the_reference(
    seconds: int, minimum: int, rate: float, steps: list[tuple[int, bool, bool, int]]
) -> None:
    window = TimeWindow(
        seconds=seconds, failure_rate_threshold=rate, minimum_calls=minimum, slow_call_duration=1.0
    )
    buckets, ref = tally_for(window), Reference(window, [])
    now = 1_000.0
    for advance, failed, slow, _times in steps:
        now += advance + 0.25
        ref.outcomes.append((int(now), failed, slow))
        assert buckets.record(now, failed, slow) is ref.tripped(now)
        assert buckets.totals(now) == ref.totals(now)


@pytest.mark.parametrize(
    "make",
    [lambda: CountWindow(size=0), lambda: TimeWindow(seconds=0)],
    ids=["count", "time"],
)
def test_a_window_needs_room_for_one_call(make: object) -> None:
    from peak_trade.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError):
        make()  # type: ignore[operator]
