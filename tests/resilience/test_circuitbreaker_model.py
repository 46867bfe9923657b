"""Model-based tests: the breaker against a tiny reference model (hypothesis state machines).

:class:`Model` is the documented behaviour written as plainly as possible: the
default mode counts consecutive failures; a window mode keeps every outcome
in a list and filters it to the window. Two machines drive it: one breaker in
any mode (calls take their time on a ManualClock, so slow calls happen), and
two workers that share one breaker through one store (the fleet must act as
one breaker).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from peak_trade.clock import ManualClock
from peak_trade.errors import CircuitOpenError
from peak_trade.resilience import CircuitBreaker, CircuitState, CountWindow, TimeWindow
from peak_trade.store import MemoryStore

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class Failure(Exception):
    pass


class Ignored(Exception):
    pass


@dataclass
class Model:
    """The documented semantics, written as plainly as possible."""

    threshold: int
    timeout: int
    success_threshold: int
    window: CountWindow | TimeWindow | None = None
    state: CircuitState = CLOSED
    consecutive: int = 0
    outcomes: list[tuple[float, bool, bool]] = field(default_factory=list)  # (end, failed, slow)
    opened_at: float = 0.0
    trial_successes: int = 0
    calls: int = 0
    successes: int = 0
    failures: int = 0
    ignored: int = 0
    rejected: int = 0
    slow: int = 0

    def move(self, to: CircuitState, now: float) -> None:
        """A transition (nothing if already there, but OPEN starts its period again)."""
        if to is OPEN:
            self.opened_at = now
        if to is self.state:
            return
        if to is CLOSED:
            self.outcomes.clear()
        self.consecutive = 0
        self.state = to

    def open(self, now: float) -> None:
        self.move(OPEN, now)

    def tripped(self, now: float) -> bool:
        w = self.window
        if w is None:
            return self.consecutive >= self.threshold
        if isinstance(w, CountWindow):
            kept, minimum = self.outcomes[-w.size :], min(w.minimum_calls, w.size)
        else:
            kept = [o for o in self.outcomes if int(o[0]) > int(now) - w.seconds]
            minimum = w.minimum_calls
        calls = len(kept)
        if calls < minimum:
            return False
        if sum(o[1] for o in kept) * 100 >= w.failure_rate_threshold * calls:
            return True
        slow = sum(o[2] for o in kept)
        return w.slow_call_duration is not None and slow * 100 >= w.slow_call_rate_threshold * calls

    def call(self, outcome: str, start: float, duration: float = 0.0) -> float | str | None:
        """Returns "called" or the rejection's retry_after."""
        self.calls += 1
        if self.state is CircuitState.FORCED_OPEN:
            self.rejected += 1
            return None
        if self.state is OPEN:
            if start - self.opened_at < self.timeout:
                self.rejected += 1
                return self.opened_at + self.timeout - start
            self.move(HALF_OPEN, start)
            self.trial_successes = 0
        if outcome == "ignored":
            self.ignored += 1
            return "called"
        end = start + duration
        limit = self.window.slow_call_duration if self.window else None
        slow = limit is not None and duration >= limit
        self.slow += slow
        failed = outcome == "failure"
        self.failures += failed
        self.successes += not failed
        if self.state is CLOSED:
            self.consecutive = self.consecutive + 1 if failed else 0
            self.outcomes.append((end, failed, slow))
            if self.tripped(end):
                self.open(end)
        elif self.state is HALF_OPEN:
            if failed or slow:
                self.open(end)
            else:
                self.trial_successes += 1
                if self.trial_successes >= self.success_threshold:
                    self.move(CLOSED, end)
        return "called"


def call_through(
    breaker: CircuitBreaker, outcome: str, clock: ManualClock, duration: float = 0.0
) -> CircuitOpenError | None:
    """One call of ``breaker`` taking ``duration`` s and ending as ``outcome``; its rejection."""

    @breaker
    def op() -> None:
        clock.advance(duration)
        if outcome == "failure":
            raise Failure
        if outcome == "ignored":
            raise Ignored

    try:
        op()
    except CircuitOpenError as rejection:
        return rejection
    except (Failure, Ignored):
        pass
    return None


def check(rejection: CircuitOpenError | None, expected: float | str | None, who: str) -> None:
    """The breaker did what the model says: called, or rejected with the model's retry_after."""
    if rejection is None:
        assert expected == "called", f"{who} let through a call the model rejects"
        return
    assert expected != "called", f"{who} rejected a call the model lets through"
    if expected is None:
        assert rejection.retry_after is None
    else:
        assert rejection.retry_after == pytest.approx(expected)


# --------------------------------------------------------------------------- one breaker, any mode

WINDOW_THRESHOLDS = {
    "failure_rate_threshold": st.sampled_from([25.0, 50.0, 100.0]),
    "minimum_calls": st.integers(1, 6),
    "slow_call_duration": st.sampled_from([None, 2.0]),
    "slow_call_rate_threshold": st.sampled_from([50.0, 100.0]),
}
MODES = st.one_of(
    st.none(),
    st.builds(CountWindow, size=st.integers(1, 6), **WINDOW_THRESHOLDS),
    st.builds(TimeWindow, seconds=st.integers(1, 5), **WINDOW_THRESHOLDS),
)
"""The default mode (None), a count window or a time window."""


class BreakerMachine(RuleBasedStateMachine):
    clock: ManualClock
    breaker: CircuitBreaker
    model: Model

    @initialize(
        threshold=st.integers(1, 4),
        timeout=st.integers(0, 30),
        success_threshold=st.integers(1, 3),
        window=MODES,
    )
    def setup(
        self,
        threshold: int,
        timeout: int,
        success_threshold: int,
        window: CountWindow | TimeWindow | None,
    ) -> None:
        self.clock = ManualClock(start=1_000_000.0)
        self.breaker = CircuitBreaker(
            threshold,
            timeout,
            Failure,
            "model",
            success_threshold=success_threshold,
            sliding_window=window,
            clock=self.clock,
            register=False,
        )
        self.model = Model(threshold, timeout, success_threshold, window)

    @rule(
        outcome=st.sampled_from(["success", "failure", "ignored"]),
        duration=st.sampled_from([0.0, 0.5, 2.0, 3.0]),
    )
    def call(self, outcome: str, duration: float) -> None:
        expected = self.model.call(outcome, self.clock.monotonic(), duration)
        rejection = call_through(self.breaker, outcome, self.clock, duration)
        check(rejection, expected, "the breaker")
        if rejection is not None:
            assert rejection.retry_after == expected  # exact: one clock, no store
            assert rejection.name == "model"

    @rule(seconds=st.integers(0, 40))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def reset(self) -> None:
        self.breaker.reset()
        m = self.model
        self.model = Model(m.threshold, m.timeout, m.success_threshold, m.window)

    @rule()
    def close(self) -> None:
        self.breaker.close()  # a no-op on a CLOSED breaker
        self.model.move(CLOSED, self.clock.monotonic())

    @rule()
    def force_open(self) -> None:
        self.breaker.force_open()
        self.model.move(CircuitState.FORCED_OPEN, self.clock.monotonic())

    @rule()
    def disable(self) -> None:
        self.breaker.disable()
        self.model.move(CircuitState.DISABLED, self.clock.monotonic())

    @invariant()
    def agrees_with_model(self) -> None:
        stats = self.breaker.stats
        m = self.model
        assert stats.state is m.state
        assert self.breaker.state is m.state
        assert (stats.total_calls, stats.success_count, stats.failure_count) == (
            m.calls,
            m.successes,
            m.failures,
        )
        assert (stats.ignored_count, stats.rejected_count, stats.slow_call_count) == (
            m.ignored,
            m.rejected,
            m.slow,
        )
        if m.state is CLOSED and m.window is None:
            assert stats.consecutive_failures == m.consecutive
        assert stats.total_calls == (
            stats.success_count + stats.failure_count + stats.ignored_count + stats.rejected_count
        )


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_breaker_matches_model = BreakerMachine.TestCase


def test_model_smoke() -> None:
    m = Model(threshold=1, timeout=5, success_threshold=1)
    assert m.call("failure", 0.0) == "called"
    assert m.call("success", 1.0) == pytest.approx(4.0)
    assert m.call("success", 5.0) == "called"
    assert m.state is CLOSED


def test_window_model_smoke() -> None:
    m = Model(1, 5, 1, CountWindow(size=2, minimum_calls=2, slow_call_duration=1.0))
    assert m.call("success", 0.0, duration=1.0) == "called"  # slow
    assert m.state is CLOSED  # 1 call, below minimum_calls
    assert m.call("failure", 1.0) == "called"  # 1 of 2 failed: 50 %
    assert (m.state, m.opened_at, m.slow) == (OPEN, 1.0, 1)


# --------------------------------------------------------------------------- the fleet


class FleetMachine(RuleBasedStateMachine):
    """Two workers sharing one breaker through one MemoryStore, against one :class:`Model`.

    The workers sync on every call (``sync_interval=0``) and the store's TTLs
    run on the same ManualClock, so the fleet must behave as one breaker:
    every call, through either worker, is let through or rejected (with the
    same ``retry_after``) as the model says, and the worker that made it ends
    in the model's state. Statistics stay per worker. Two documented
    differences from one breaker shape the model: a half-open breaker lets one
    trial through (``half_open_max_calls=1``, ``success_threshold=1``), and an
    operator's ``close()`` restarts the fleet's count of failures even when
    the worker was already closed. Ignored exceptions are left out: a trial
    that ends neither way keeps its claim until ``trial_timeout``.
    """

    clock: ManualClock
    workers: dict[str, CircuitBreaker]
    expected: dict[str, dict[str, int]]
    model: Model

    @initialize(threshold=st.integers(1, 4), timeout=st.integers(1, 30))
    def setup(self, threshold: int, timeout: int) -> None:
        self.clock = ManualClock(start=1_000_000.0)
        store = MemoryStore(clock=self.clock)
        self.workers = {
            w: CircuitBreaker(
                threshold,
                timeout,
                Failure,
                "fleet",
                clock=self.clock,
                store=store,
                sync_interval=0.0,
                register=False,
            )
            for w in "ab"
        }
        self.expected = {w: {"success": 0, "failure": 0, "rejected": 0} for w in "ab"}
        self.model = Model(threshold, timeout, 1)

    @rule(worker=st.sampled_from("ab"), outcome=st.sampled_from(["success", "failure"]))
    def call(self, worker: str, outcome: str) -> None:
        expected = self.model.call(outcome, self.clock.monotonic())
        breaker = self.workers[worker]
        rejection = call_through(breaker, outcome, self.clock)
        check(rejection, expected, worker)
        self.expected[worker][outcome if rejection is None else "rejected"] += 1
        assert breaker.state is self.model.state

    @rule(seconds=st.integers(0, 40))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule(worker=st.sampled_from("ab"))
    def reset(self, worker: str) -> None:
        self.workers[worker].reset()
        m = self.model
        self.model = Model(m.threshold, m.timeout, m.success_threshold)
        self.expected[worker] = {"success": 0, "failure": 0, "rejected": 0}

    @rule(worker=st.sampled_from("ab"))
    def close(self, worker: str) -> None:
        self.workers[worker].close()
        self.model.move(CLOSED, self.clock.monotonic())
        self.model.consecutive = 0  # the fleet's count restarts

    @rule(worker=st.sampled_from("ab"))
    def open(self, worker: str) -> None:
        self.workers[worker].open()
        self.model.open(self.clock.monotonic())  # an open breaker's period starts again

    @precondition(lambda self: self.model.state is not CircuitState.FORCED_OPEN)
    @rule(worker=st.sampled_from("ab"))
    def force_open(self, worker: str) -> None:
        self.workers[worker].force_open()
        self.model.move(CircuitState.FORCED_OPEN, self.clock.monotonic())

    @invariant()
    def statistics_stay_per_worker(self) -> None:
        for w, breaker in self.workers.items():
            stats = breaker.stats
            want = self.expected[w]
            assert (stats.success_count, stats.failure_count, stats.rejected_count) == (
                want["success"],
                want["failure"],
                want["rejected"],
            )


FleetMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_fleet_matches_one_breaker = FleetMachine.TestCase
