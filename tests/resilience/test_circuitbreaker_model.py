"""Model-based test: the breaker against a tiny reference model (hypothesis state machine)."""

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
    state: CircuitState = CircuitState.CLOSED
    consecutive: int = 0
    opened_at: float = 0.0
    trial_successes: int = 0
    calls: int = 0
    successes: int = 0
    failures: int = 0
    ignored: int = 0
    rejected: int = 0

    def open(self, now: float) -> None:
        self.state = CircuitState.OPEN
        self.opened_at = now

    def call(self, outcome: str, now: float) -> float | str | None:
        """Returns "called" or the rejection's retry_after."""
        self.calls += 1
        if self.state is CircuitState.FORCED_OPEN:
            self.rejected += 1
            return None
        if self.state is CircuitState.OPEN:
            if now - self.opened_at < self.timeout:
                self.rejected += 1
                return self.opened_at + self.timeout - now
            self.state = CircuitState.HALF_OPEN
            self.trial_successes = 0
        if outcome == "success":
            self.successes += 1
            if self.state is CircuitState.CLOSED:
                self.consecutive = 0
            elif self.state is CircuitState.HALF_OPEN:
                self.trial_successes += 1
                if self.trial_successes >= self.success_threshold:
                    self.state = CircuitState.CLOSED
                    self.consecutive = 0
        elif outcome == "failure":
            self.failures += 1
            if self.state is CircuitState.CLOSED:
                self.consecutive += 1
                if self.consecutive >= self.threshold:
                    self.open(now)
            elif self.state is CircuitState.HALF_OPEN:
                self.open(now)
        else:
            self.ignored += 1
        return "called"


class BreakerMachine(RuleBasedStateMachine):
    clock: ManualClock
    breaker: CircuitBreaker
    model: Model

    @initialize(
        threshold=st.integers(1, 4),
        timeout=st.integers(0, 30),
        success_threshold=st.integers(1, 3),
    )
    def setup(self, threshold: int, timeout: int, success_threshold: int) -> None:
        self.clock = ManualClock(start=1_000_000.0)
        self.breaker = CircuitBreaker(
            threshold,
            timeout,
            Failure,
            "model",
            success_threshold=success_threshold,
            clock=self.clock,
        )
        self.model = Model(threshold, timeout, success_threshold)

    def _call(self, outcome: str) -> None:
        expected = self.model.call(outcome, self.clock.monotonic())

        @self.breaker
        def op() -> None:
            if outcome == "failure":
                raise Failure
            if outcome == "ignored":
                raise Ignored

        rejection: CircuitOpenError | None = None
        try:
            op()
        except CircuitOpenError as err:
            rejection = err
        except (Failure, Ignored):
            pass
        if rejection is None:
            assert expected == "called", "the breaker let through a call the model rejects"
        else:
            assert expected != "called", "the breaker rejected a call the model lets through"
            assert rejection.retry_after == expected
            assert rejection.name == "model"

    @rule()
    def success(self) -> None:
        self._call("success")

    @rule()
    def failure(self) -> None:
        self._call("failure")

    @rule()
    def ignored(self) -> None:
        self._call("ignored")

    @rule(seconds=st.integers(0, 40))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def reset(self) -> None:
        self.breaker.reset()
        m = self.model
        self.model = Model(m.threshold, m.timeout, m.success_threshold)

    @rule()
    def close(self) -> None:
        self.breaker.close()  # a no-op on a CLOSED breaker
        if self.model.state is not CircuitState.CLOSED:
            self.model.state = CircuitState.CLOSED
            self.model.consecutive = 0

    @precondition(lambda self: self.model.state is not CircuitState.FORCED_OPEN)
    @rule()
    def force_open(self) -> None:
        self.breaker.force_open()
        self.model.state = CircuitState.FORCED_OPEN
        self.model.consecutive = 0

    @invariant()
    def agrees_with_model(self) -> None:
        stats = self.breaker.stats
        m = self.model
        assert stats.state is m.state
        assert self.breaker.state is m.state
        assert stats.total_calls == m.calls
        assert stats.success_count == m.successes
        assert stats.failure_count == m.failures
        assert stats.ignored_count == m.ignored
        assert stats.rejected_count == m.rejected
        if m.state is CircuitState.CLOSED:
            assert stats.consecutive_failures == m.consecutive
        assert stats.total_calls == (
            stats.success_count + stats.failure_count + stats.ignored_count + stats.rejected_count
        )


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_breaker_matches_model = BreakerMachine.TestCase


def test_model_smoke() -> None:
    m = Model(threshold=1, timeout=5, success_threshold=1)
    assert m.call("failure", 0.0) == "called"
    assert m.call("success", 1.0) == pytest.approx(4.0)
    assert m.call("success", 5.0) == "called"
    assert m.state is CircuitState.CLOSED


# --------------------------------------------------------------------------- window modes


@dataclass
class WindowModel:
    """The window modes, as documented: every outcome kept in a list, filtered to the window."""

    window: CountWindow | TimeWindow
    timeout: int
    success_threshold: int
    state: CircuitState = CircuitState.CLOSED
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
        if to is self.state:
            return
        if to is CircuitState.CLOSED:
            self.outcomes.clear()
        if to is CircuitState.OPEN:
            self.opened_at = now
        self.state = to

    def in_window(self, now: float) -> list[tuple[float, bool, bool]]:
        w = self.window
        if isinstance(w, CountWindow):
            return self.outcomes[-w.size :]
        return [o for o in self.outcomes if int(o[0]) > int(now) - w.seconds]

    def tripped(self, now: float) -> bool:
        w = self.window
        kept = self.in_window(now)
        calls = len(kept)
        minimum = min(w.minimum_calls, w.size) if isinstance(w, CountWindow) else w.minimum_calls
        if calls < minimum:
            return False
        if sum(o[1] for o in kept) * 100 >= w.failure_rate_threshold * calls:
            return True
        slow = sum(o[2] for o in kept)
        return w.slow_call_duration is not None and slow * 100 >= w.slow_call_rate_threshold * calls

    def call(self, outcome: str, start: float, duration: float) -> float | str | None:
        """Returns "called" or the rejection's retry_after."""
        self.calls += 1
        if self.state is CircuitState.FORCED_OPEN:
            self.rejected += 1
            return None
        if self.state is CircuitState.OPEN:
            if start - self.opened_at < self.timeout:
                self.rejected += 1
                return self.opened_at + self.timeout - start
            self.move(CircuitState.HALF_OPEN, start)
            self.trial_successes = 0
        end = start + duration
        if outcome == "ignored":
            self.ignored += 1
            return "called"
        limit = self.window.slow_call_duration
        slow = limit is not None and duration >= limit
        self.slow += slow
        failed = outcome == "failure"
        if failed:
            self.failures += 1
        else:
            self.successes += 1
        if self.state is CircuitState.CLOSED:
            self.outcomes.append((end, failed, slow))
            if self.tripped(end):
                self.move(CircuitState.OPEN, end)
        elif self.state is CircuitState.HALF_OPEN:
            if failed or slow:
                self.move(CircuitState.OPEN, end)
            else:
                self.trial_successes += 1
                if self.trial_successes >= self.success_threshold:
                    self.move(CircuitState.CLOSED, end)
        return "called"


WINDOWS = st.one_of(
    st.builds(
        CountWindow,
        size=st.integers(1, 6),
        failure_rate_threshold=st.sampled_from([25.0, 50.0, 100.0]),
        minimum_calls=st.integers(1, 6),
        slow_call_duration=st.sampled_from([None, 2.0]),
        slow_call_rate_threshold=st.sampled_from([50.0, 100.0]),
    ),
    st.builds(
        TimeWindow,
        seconds=st.integers(1, 5),
        failure_rate_threshold=st.sampled_from([25.0, 50.0, 100.0]),
        minimum_calls=st.integers(1, 6),
        slow_call_duration=st.sampled_from([None, 2.0]),
        slow_call_rate_threshold=st.sampled_from([50.0, 100.0]),
    ),
)


class WindowMachine(RuleBasedStateMachine):
    """A window-mode breaker against :class:`WindowModel` (each call advances the clock)."""

    clock: ManualClock
    breaker: CircuitBreaker
    model: WindowModel

    @initialize(window=WINDOWS, timeout=st.integers(0, 10), success_threshold=st.integers(1, 2))
    def setup(self, window: CountWindow | TimeWindow, timeout: int, success_threshold: int) -> None:
        self.clock = ManualClock(start=1_000_000.0)
        self.breaker = CircuitBreaker(
            1,
            timeout,
            Failure,
            "windowed",
            success_threshold=success_threshold,
            sliding_window=window,
            clock=self.clock,
            register=False,
        )
        self.model = WindowModel(window, timeout, success_threshold)

    @rule(
        outcome=st.sampled_from(["success", "failure", "ignored"]),
        duration=st.sampled_from([0.0, 0.5, 2.0, 3.0]),
    )
    def call(self, outcome: str, duration: float) -> None:
        expected = self.model.call(outcome, self.clock.monotonic(), duration)

        @self.breaker
        def op() -> None:
            self.clock.advance(duration)
            if outcome == "failure":
                raise Failure
            if outcome == "ignored":
                raise Ignored

        rejection: CircuitOpenError | None = None
        try:
            op()
        except CircuitOpenError as err:
            rejection = err
        except (Failure, Ignored):
            pass
        if rejection is None:
            assert expected == "called", "the breaker let through a call the model rejects"
        else:
            assert expected != "called", "the breaker rejected a call the model lets through"
            assert rejection.retry_after == expected

    @rule(seconds=st.integers(0, 8))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def reset(self) -> None:
        self.breaker.reset()
        m = self.model
        self.model = WindowModel(m.window, m.timeout, m.success_threshold)

    @rule()
    def close(self) -> None:
        self.breaker.close()
        self.model.move(CircuitState.CLOSED, self.clock.monotonic())

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


WindowMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_window_breaker_matches_model = WindowMachine.TestCase


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

        @breaker
        def op() -> None:
            if outcome == "failure":
                raise Failure

        rejection: CircuitOpenError | None = None
        try:
            op()
        except CircuitOpenError as err:
            rejection = err
        except Failure:
            pass
        if rejection is None:
            assert expected == "called", f"{worker} let through a call the model rejects"
            self.expected[worker][outcome] += 1
        else:
            assert expected != "called", f"{worker} rejected a call the model lets through"
            if expected is None:
                assert rejection.retry_after is None
            else:
                assert rejection.retry_after == pytest.approx(expected)
            self.expected[worker]["rejected"] += 1
        assert breaker.state is self.model.state

    @rule(seconds=st.integers(0, 40))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule(worker=st.sampled_from("ab"))
    def reset(self, worker: str) -> None:
        self.workers[worker].reset()
        m = self.model
        self.model = Model(m.threshold, m.timeout, m.success_threshold)
        self.model.calls = m.calls  # (the model's own totals are not compared here)
        self.expected[worker] = {"success": 0, "failure": 0, "rejected": 0}

    @rule(worker=st.sampled_from("ab"))
    def close(self, worker: str) -> None:
        self.workers[worker].close()
        self.model.state = CircuitState.CLOSED
        self.model.consecutive = 0  # the fleet's count restarts

    @rule(worker=st.sampled_from("ab"))
    def open(self, worker: str) -> None:
        self.workers[worker].open()
        self.model.open(self.clock.monotonic())  # an open breaker's period starts again

    @precondition(lambda self: self.model.state is not CircuitState.FORCED_OPEN)
    @rule(worker=st.sampled_from("ab"))
    def force_open(self, worker: str) -> None:
        self.workers[worker].force_open()
        self.model.state = CircuitState.FORCED_OPEN
        self.model.consecutive = 0

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
