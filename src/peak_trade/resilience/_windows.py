"""Sliding windows: tally call outcomes and say when a failure or slow-call rate is reached.

Two configurations (frozen, validated at construction, public through
:mod:`peak_trade.resilience.circuitbreaker`) and the tallies they make::

    tally = tally_for(CountWindow(size=100, failure_rate_threshold=50.0, minimum_calls=10))
    if tally.record(now, failed=True, slow=False):   # True: a threshold is reached
        ...  # trip

:class:`CountRing` keeps the last ``size`` outcomes; :class:`TimeBuckets`
keeps per-second totals of the last ``seconds`` seconds (Resilience4j's
aggregation, so the window slides in whole seconds). Both are O(1) amortised
per outcome, hold no lock and read no clock: their owner passes ``now``
(seconds; only the time window looks at it) and serialises access.

``clean`` says the window holds no failure and no slow call, so a success
cannot reach a threshold. A count window can then take a run of successes at
once (:meth:`CountRing.skip`): the circuit breaker counts the successes of a
clean window without touching it and hands it the run later, which is what
keeps its success path as cheap in window mode as in the default mode.

The circuit breaker is the first user; the job breaker reuses the same tallies.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from peak_trade.errors import InvalidArgumentError

__all__ = ["CountRing", "CountWindow", "Tally", "TimeBuckets", "TimeWindow", "tally_for"]


# --------------------------------------------------------------------------- configs


def _check_rate(name: str, value: float) -> None:
    if not 0 < value <= 100:
        raise InvalidArgumentError(
            f"{name} must be a percentage in (0, 100].",
            hint="Pass e.g. 50.0 for 50 %.",
            context={name: value},
        )


def _check_thresholds(window: CountWindow | TimeWindow) -> None:
    """The checks both window kinds share."""
    if window.minimum_calls < 1:
        raise InvalidArgumentError(
            "minimum_calls must be at least 1.", context={"minimum_calls": window.minimum_calls}
        )
    _check_rate("failure_rate_threshold", window.failure_rate_threshold)
    duration = window.slow_call_duration
    if duration is not None and not duration > 0:
        raise InvalidArgumentError(
            "slow_call_duration must be positive (seconds) or None.",
            context={"slow_call_duration": duration},
        )
    _check_rate("slow_call_rate_threshold", window.slow_call_rate_threshold)


@dataclass(frozen=True, slots=True)
class CountWindow:
    """Trip on the rate of failures (or slow calls) over the last ``size`` calls.

    Rates are percentages (Resilience4j): ``failure_rate_threshold=50.0`` opens
    the breaker when half of the recorded calls failed, once at least
    ``minimum_calls`` calls were recorded (capped at ``size``). A call counts as
    slow when it took at least ``slow_call_duration`` seconds (``None``: no
    slow-call detection).
    """

    size: int = 100
    failure_rate_threshold: float = 50.0
    minimum_calls: int = 10
    slow_call_duration: float | None = None
    slow_call_rate_threshold: float = 100.0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise InvalidArgumentError(
                "CountWindow size must be at least 1.", context={"size": self.size}
            )
        _check_thresholds(self)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Trip on the rate of failures (or slow calls) over the last ``seconds`` seconds.

    Calls are aggregated in one-second buckets (as Resilience4j does), so the
    window slides in whole seconds. Thresholds are as for :class:`CountWindow`.
    """

    seconds: int = 60
    failure_rate_threshold: float = 50.0
    minimum_calls: int = 10
    slow_call_duration: float | None = None
    slow_call_rate_threshold: float = 100.0

    def __post_init__(self) -> None:
        if self.seconds < 1:
            raise InvalidArgumentError(
                "TimeWindow seconds must be at least 1.", context={"seconds": self.seconds}
            )
        _check_thresholds(self)


# --------------------------------------------------------------------------- tallies


class Tally(Protocol):
    """What a window's owner uses: record outcomes, read totals, start over."""

    @property
    def clean(self) -> bool:
        """No failure and no slow call in the window: a success cannot reach a threshold."""
        ...

    def record(self, now: float, failed: bool, slow: bool) -> bool:
        """Add one outcome; True if the window now reaches a threshold."""
        ...

    def totals(self, now: float) -> tuple[int, int, int]:
        """``(calls, failures, slow calls)`` in the window as of ``now``."""
        ...

    def reset(self) -> None:
        """Forget every outcome."""
        ...


class _Thresholds:
    """The verdict both tallies share: rates in percent, once ``minimum`` calls were seen."""

    __slots__ = ("failure_rate", "minimum", "slow_rate")

    def __init__(self, window: CountWindow | TimeWindow, minimum: int) -> None:
        self.minimum = minimum
        self.failure_rate = window.failure_rate_threshold
        # without slow-call detection no call is ever slow: that rate never trips
        self.slow_rate = (
            window.slow_call_rate_threshold if window.slow_call_duration is not None else None
        )

    def reached(self, calls: int, failures: int, slow: int) -> bool:
        if calls < self.minimum:
            return False
        if failures * 100.0 >= self.failure_rate * calls:
            return True
        return self.slow_rate is not None and slow * 100.0 >= self.slow_rate * calls


class CountRing:
    """The last ``size`` outcomes (:class:`CountWindow`).

    Only the failed or slow outcomes are stored, with their sequence number,
    so a run of successes is one addition (:meth:`skip`).
    """

    __slots__ = ("_thresholds", "failures", "marks", "size", "slow", "total")

    def __init__(self, window: CountWindow) -> None:
        self.size = window.size
        self._thresholds = _Thresholds(window, min(window.minimum_calls, window.size))
        self.marks: deque[tuple[int, bool, bool]] = deque()  # (sequence, failed, slow)
        self.total = 0  # outcomes ever recorded (since the last reset)
        self.failures = 0
        self.slow = 0

    @property
    def clean(self) -> bool:
        return not self.marks

    def _evict(self) -> None:
        oldest_kept = self.total - self.size
        marks = self.marks
        while marks and marks[0][0] < oldest_kept:
            _, failed, slow = marks.popleft()
            self.failures -= failed
            self.slow -= slow

    def record(self, now: float, failed: bool, slow: bool) -> bool:
        if failed or slow:
            self.marks.append((self.total, failed, slow))
            self.failures += failed
            self.slow += slow
        self.total += 1
        self._evict()
        return self._thresholds.reached(min(self.total, self.size), self.failures, self.slow)

    def skip(self, successes: int) -> None:
        """Add ``successes`` successful outcomes at once (they cannot reach a threshold)."""
        self.total += successes
        self._evict()

    def totals(self, now: float) -> tuple[int, int, int]:
        return min(self.total, self.size), self.failures, self.slow

    def reset(self) -> None:
        self.marks.clear()
        self.total = self.failures = self.slow = 0


class TimeBuckets:
    """Per-second buckets ``[second, calls, failures, slow]`` of the last ``seconds``.

    The tally of a :class:`TimeWindow`.
    """

    __slots__ = ("_thresholds", "buckets", "calls", "failures", "seconds", "slow")

    def __init__(self, window: TimeWindow) -> None:
        self.seconds = window.seconds
        self._thresholds = _Thresholds(window, window.minimum_calls)
        self.buckets: deque[list[int]] = deque()
        self.calls = self.failures = self.slow = 0

    @property
    def clean(self) -> bool:
        return self.failures == 0 and self.slow == 0

    def _evict(self, second: int) -> None:
        oldest_kept = second - self.seconds + 1
        buckets = self.buckets
        while buckets and buckets[0][0] < oldest_kept:
            _, calls, failures, slow = buckets.popleft()
            self.calls -= calls
            self.failures -= failures
            self.slow -= slow

    def record(self, now: float, failed: bool, slow: bool) -> bool:
        second = int(now)
        self._evict(second)
        buckets = self.buckets
        if buckets and buckets[-1][0] == second:
            bucket = buckets[-1]
        else:
            bucket = [second, 0, 0, 0]
            buckets.append(bucket)
        bucket[1] += 1
        bucket[2] += failed
        bucket[3] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow
        return self._thresholds.reached(self.calls, self.failures, self.slow)

    def totals(self, now: float) -> tuple[int, int, int]:
        self._evict(int(now))
        return self.calls, self.failures, self.slow

    def reset(self) -> None:
        self.buckets.clear()
        self.calls = self.failures = self.slow = 0


def tally_for(window: CountWindow | TimeWindow) -> CountRing | TimeBuckets:
    """A fresh, empty tally for ``window``."""
    if isinstance(window, CountWindow):
        return CountRing(window)
    return TimeBuckets(window)
