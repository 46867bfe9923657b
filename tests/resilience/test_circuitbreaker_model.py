"""Model-based test: the breaker against a tiny reference model (hypothesis state machine)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from peak_trade.clock import ManualClock
from peak_trade.errors import CircuitOpenError
from peak_trade.resilience import CircuitBreaker, CircuitState


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
