"""Retry with backoff: exact schedules on a ManualClock, deadlines, predicates, testing mode."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peak_trade.clock import ManualClock
from peak_trade.errors import (
    CircuitOpenError,
    ExchangeRateLimitedError,
    InvalidArgumentError,
)
from peak_trade.events import EventBus, EventRecorder
from peak_trade.resilience import (
    CircuitBreaker,
    CircuitState,
    RetryAttempted,
    RetryExhausted,
    RetrySucceeded,
    RetryTesting,
    circuit_breaker,
    is_testing,
    retry_with_backoff,
    set_testing,
)


class Flaky(Exception):
    pass


def state_of(breaker: CircuitBreaker) -> CircuitState:
    """``breaker.state``, read through a call so mypy does not narrow it between asserts."""
    return breaker.state


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(autouse=True)
def _no_testing_mode() -> Iterator[None]:
    with set_testing(False):
        yield


def failing(times: int, exc: Callable[[], BaseException] = Flaky) -> Callable[[], str]:
    """A function that raises ``exc()`` ``times`` times, then returns "ok"."""
    state = {"calls": 0}

    def op() -> str:
        state["calls"] += 1
        if state["calls"] <= times:
            raise exc()
        return "ok"

    op.calls = state  # type: ignore[attr-defined]
    return op


def calls_of(op: Callable[[], str]) -> int:
    return int(op.calls["calls"])  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- schedules


def test_exponential_schedule_without_jitter(clock: ManualClock) -> None:
    op = failing(4)
    wrapped = retry_with_backoff(5, base_delay=1.0, jitter=False, clock=clock)(op)
    assert wrapped() == "ok"
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]  # seed 001's sequence


def test_constant_schedule_is_never_jittered(clock: ManualClock) -> None:
    op = failing(3)
    wrapped = retry_with_backoff(4, base_delay=2.0, exponential=False, clock=clock)(op)
    assert wrapped() == "ok"
    assert clock.sleeps == [2.0, 2.0, 2.0]


def test_exponential_capped_at_max_delay(clock: ManualClock) -> None:
    op = failing(5)
    retry = retry_with_backoff(6, base_delay=1.0, max_delay=5.0, jitter=False, clock=clock)
    assert retry(op)() == "ok"
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_full_jitter_with_seeded_rng(clock: ManualClock) -> None:
    op = failing(4)
    retry = retry_with_backoff(5, base_delay=1.0, max_delay=6.0, clock=clock, rng=random.Random(7))
    assert retry(op)() == "ok"
    expected_rng = random.Random(7)
    expected = [expected_rng.uniform(0, cap) for cap in (1.0, 2.0, 4.0, 6.0)]
    assert clock.sleeps == expected
    assert all(0 <= s <= cap for s, cap in zip(clock.sleeps, (1, 2, 4, 6), strict=True))


def test_success_first_time_never_sleeps(clock: ManualClock) -> None:
    op = failing(0)
    assert retry_with_backoff(clock=clock)(op)() == "ok"
    assert clock.sleeps == []
    assert calls_of(op) == 1


def test_wraps_metadata(clock: ManualClock) -> None:
    @retry_with_backoff(clock=clock)
    def fetch_ticker(symbol: str) -> str:
        """Docs."""
        return symbol

    assert fetch_ticker.__name__ == "fetch_ticker"
    assert fetch_ticker.__doc__ == "Docs."
    assert fetch_ticker("BTC/USDT") == "BTC/USDT"


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_delay": -1}, {"max_delay": -1}, {"deadline": 0}],
)
def test_invalid_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidArgumentError):
        retry_with_backoff(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    ["ConnectionError", int, (ConnectionError, "TimeoutError"), [ValueError, None], (), 42],
)
def test_expected_exception_is_validated_when_decorating(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="expected_exception") as info:
        retry_with_backoff(expected_exception=bad)  # type: ignore[arg-type]
    assert "expected_exception" in info.value.context
    assert info.value.hint


def test_expected_exception_accepts_lists_and_unions(clock: ManualClock) -> None:
    for spec in ([Flaky, KeyError], Flaky | KeyError, (Flaky, (KeyError,))):
        op = failing(2)
        assert retry_with_backoff(expected_exception=spec, clock=clock)(op)() == "ok"  # type: ignore[arg-type]
        assert calls_of(op) == 3


def test_retry_if_must_be_callable() -> None:
    with pytest.raises(InvalidArgumentError, match="retry_if"):
        retry_with_backoff(retry_if=True)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- giving up


def test_reraises_original_exception_with_attempt_note(clock: ManualClock) -> None:
    errors: list[Flaky] = []

    def op() -> None:
        errors.append(Flaky(f"boom {len(errors)}"))
        raise errors[-1]

    wrapped = retry_with_backoff(3, base_delay=0.5, jitter=False, clock=clock)(op)
    with pytest.raises(Flaky) as info:
        wrapped()
    assert info.value is errors[-1]
    assert len(errors) == 3
    assert info.value.__notes__ == [
        "retry_with_backoff: gave up after 3 attempts (max_attempts reached)"
    ]
    assert clock.sleeps == [0.5, 1.0]


def test_unexpected_exception_propagates_at_once(clock: ManualClock) -> None:
    op = failing(5, KeyError)
    wrapped = retry_with_backoff(5, expected_exception=Flaky, clock=clock)(op)
    with pytest.raises(KeyError) as info:
        wrapped()
    assert calls_of(op) == 1
    assert not hasattr(info.value, "__notes__")
    assert clock.sleeps == []


def test_retry_if_predicate(clock: ManualClock) -> None:
    def op() -> None:
        raise Flaky("permanent" if len(clock.sleeps) >= 1 else "transient")

    wrapped = retry_with_backoff(
        5, jitter=False, clock=clock, retry_if=lambda e: "transient" in str(e)
    )(op)
    with pytest.raises(Flaky, match="permanent"):
        wrapped()
    assert clock.sleeps == [1.0]


def test_deadline_stops_before_sleeping_past_it(clock: ManualClock) -> None:
    op = failing(10)
    wrapped = retry_with_backoff(10, base_delay=1.0, jitter=False, deadline=10.0, clock=clock)(op)
    with pytest.raises(Flaky) as info:
        wrapped()
    # 1 + 2 + 4 = 7 s waited; the next wait (8 s) would end at 15 s > 10 s.
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert calls_of(op) == 4
    assert info.value.__notes__ == [
        "retry_with_backoff: gave up after 4 attempts (deadline of 10s)"
    ]


def test_deadline_counts_time_spent_in_calls(clock: ManualClock) -> None:
    def op() -> None:
        clock.advance(4.0)
        raise Flaky

    wrapped = retry_with_backoff(10, base_delay=1.0, jitter=False, deadline=10.0, clock=clock)(op)
    with pytest.raises(Flaky):
        wrapped()
    # t=4 fail, sleep 1 -> 5; t=9 fail, next wait 2 s would end at 11 > 10
    assert clock.sleeps == [1.0]


def test_retry_after_is_honoured(clock: ManualClock) -> None:
    op = failing(2, lambda: ExchangeRateLimitedError("429", retry_after=30.0))
    wrapped = retry_with_backoff(3, base_delay=1.0, max_delay=5.0, jitter=False, clock=clock)(op)
    assert wrapped() == "ok"
    assert clock.sleeps == [30.0, 30.0]


def test_retry_after_shorter_than_backoff_keeps_backoff(clock: ManualClock) -> None:
    op = failing(1, lambda: ExchangeRateLimitedError("429", retry_after=0.1))
    retry_with_backoff(3, base_delay=2.0, jitter=False, clock=clock)(op)()
    assert clock.sleeps == [2.0]


def test_retry_after_still_subject_to_deadline(clock: ManualClock) -> None:
    op = failing(2, lambda: ExchangeRateLimitedError("429", retry_after=30.0))
    wrapped = retry_with_backoff(3, deadline=20.0, clock=clock)(op)
    with pytest.raises(ExchangeRateLimitedError):
        wrapped()
    assert clock.sleeps == []


def test_circuit_open_error_is_never_retried(clock: ManualClock) -> None:
    op = failing(5, lambda: CircuitOpenError("open", name="inner", retry_after=1.0))
    wrapped = retry_with_backoff(5, clock=clock)(op)
    with pytest.raises(CircuitOpenError):
        wrapped()
    assert calls_of(op) == 1
    assert clock.sleeps == []


# --------------------------------------------------------------------------- seed 001 order


def test_breaker_outside_retry_inside_counts_one_failure_per_exhausted_call(
    clock: ManualClock,
) -> None:
    attempts: list[int] = []
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=60, name="api", clock=clock)

    @breaker
    @retry_with_backoff(max_attempts=3, base_delay=1.0, jitter=False, clock=clock)
    def robust_api_call() -> None:
        attempts.append(1)
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        robust_api_call()
    assert len(attempts) == 3
    assert breaker.stats.failure_count == 1  # three attempts, one breaker failure
    assert state_of(breaker) is CircuitState.CLOSED
    with pytest.raises(ConnectionError):
        robust_api_call()
    assert state_of(breaker) is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        robust_api_call()  # the open breaker prevents any retry
    assert len(attempts) == 6
    assert clock.sleeps == [1.0, 2.0, 1.0, 2.0]


def test_seed_decorator_stack_recovers_within_retries(clock: ManualClock) -> None:
    op = failing(2, ConnectionError)

    @circuit_breaker(failure_threshold=3, recovery_timeout=60, clock=clock)
    @retry_with_backoff(max_attempts=3, base_delay=1.0, clock=clock, rng=random.Random(1))
    def call_external_api() -> str:
        return op()

    assert call_external_api() == "ok"
    breaker = call_external_api.breaker  # type: ignore[attr-defined]
    assert breaker.stats.success_count == 1
    assert breaker.stats.failure_count == 0


def test_retry_outside_breaker_stops_on_rejection(clock: ManualClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60, name="db", clock=clock)
    op = failing(10)

    @retry_with_backoff(max_attempts=5, jitter=False, clock=clock)
    @breaker
    def query() -> str:
        return op()

    with pytest.raises(CircuitOpenError):
        query()
    assert calls_of(op) == 1
    assert clock.sleeps == [1.0]


# --------------------------------------------------------------------------- testing mode


def test_set_testing_removes_waits_and_sets_attempts(clock: ManualClock) -> None:
    op = failing(10)
    wrapped = retry_with_backoff(5, clock=clock)(op)
    with set_testing(True, attempts=2):
        with pytest.raises(Flaky) as info:
            wrapped()
        assert is_testing()
    assert not is_testing()
    assert calls_of(op) == 2
    assert clock.sleeps == []
    assert "after 2 attempts" in info.value.__notes__[0]


def test_set_testing_cap_keeps_smaller_policies(clock: ManualClock) -> None:
    op = failing(10)
    wrapped = retry_with_backoff(2, clock=clock)(op)
    with set_testing(True, attempts=5, cap=True), pytest.raises(Flaky):
        wrapped()
    assert calls_of(op) == 2
    assert clock.sleeps == []


def test_set_testing_without_context_manager(clock: ManualClock) -> None:
    set_testing(True, attempts=1)
    try:
        op = failing(1)
        with pytest.raises(Flaky):
            retry_with_backoff(3, clock=clock)(op)()
    finally:
        set_testing(False)
    assert not is_testing()


def test_private_testing_switch(clock: ManualClock) -> None:
    switch = RetryTesting()
    switch.set(True, attempts=3)
    op = failing(2)
    assert retry_with_backoff(3, clock=clock, testing=switch)(op)() == "ok"
    assert clock.sleeps == []
    with pytest.raises(InvalidArgumentError):
        switch.set(True, attempts=0)


# --------------------------------------------------------------------------- events, async


def test_events(clock: ManualClock) -> None:
    bus = EventBus()
    recorder = EventRecorder(bus)
    op = failing(2)
    wrapped = retry_with_backoff(3, jitter=False, clock=clock, bus=bus, name="fetch")(op)
    assert wrapped() == "ok"
    op2 = failing(5)
    wrapped2 = retry_with_backoff(2, jitter=False, clock=clock, bus=bus, name="fetch")(op2)
    with pytest.raises(Flaky):
        wrapped2()
    assert recorder.events == [
        RetryAttempted("fetch", 1, 1.0, "Flaky"),
        RetryAttempted("fetch", 2, 2.0, "Flaky"),
        RetrySucceeded("fetch", 3),
        RetryAttempted("fetch", 1, 1.0, "Flaky"),
        RetryExhausted("fetch", 2, "Flaky", "attempts"),
    ]


def test_async_schedule_and_reraise(clock: ManualClock) -> None:
    calls: list[int] = []

    @retry_with_backoff(4, base_delay=0.5, jitter=False, clock=clock)
    async def fetch(fail_times: int) -> str:
        calls.append(1)
        await asyncio.sleep(0)
        if len(calls) <= fail_times:
            raise Flaky
        return "ok"

    assert asyncio.iscoroutinefunction(fetch)
    assert asyncio.run(fetch(2)) == "ok"
    assert clock.sleeps == [0.5, 1.0]
    calls.clear()
    with pytest.raises(Flaky) as info:
        asyncio.run(fetch(10))
    assert len(calls) == 4
    assert "after 4 attempts" in info.value.__notes__[0]
    assert clock.sleeps == [0.5, 1.0, 0.5, 1.0, 2.0]


def test_async_circuit_open_not_retried_and_testing_mode(clock: ManualClock) -> None:
    calls: list[int] = []

    @retry_with_backoff(4, clock=clock)
    async def guarded() -> None:
        calls.append(1)
        raise CircuitOpenError("open", name="x", retry_after=None)

    with pytest.raises(CircuitOpenError):
        asyncio.run(guarded())
    assert calls == [1]

    @retry_with_backoff(4, clock=clock)
    async def flaky() -> None:
        calls.append(2)
        raise Flaky

    with set_testing(True, attempts=3), pytest.raises(Flaky):
        asyncio.run(flaky())
    assert calls == [1, 2, 2, 2]
    assert clock.sleeps == []


def test_jitter_and_retry_after_combined(clock: ManualClock) -> None:
    op = failing(2, lambda: ExchangeRateLimitedError("429", retry_after=0.75))
    retry = retry_with_backoff(3, base_delay=1.0, clock=clock, rng=random.Random(3))
    assert retry(op)() == "ok"
    rng = random.Random(3)
    assert clock.sleeps == [max(0.75, rng.uniform(0, 1.0)), max(0.75, rng.uniform(0, 2.0))]


def test_async_deadline(clock: ManualClock) -> None:
    @retry_with_backoff(10, base_delay=2.0, jitter=False, deadline=5.0, clock=clock)
    async def op() -> None:
        raise Flaky

    with pytest.raises(Flaky) as info:
        asyncio.run(op())
    assert clock.sleeps == [2.0]  # 2 s, then 4 s would end at 6 s > 5 s
    assert "deadline" in info.value.__notes__[0]


def test_many_attempts_do_not_overflow(clock: ManualClock) -> None:
    op = failing(1500)
    retry = retry_with_backoff(1501, base_delay=1.0, max_delay=2.0, jitter=False, clock=clock)
    assert retry(op)() == "ok"
    assert clock.sleeps[-1] == 2.0
    assert len(clock.sleeps) == 1500


@given(
    attempts=st.integers(1, 12),
    base=st.floats(0.01, 10),
    cap=st.floats(0.01, 100),
    deadline=st.none() | st.floats(0.5, 200),
    exponential=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_schedule_properties(
    *,
    attempts: int,
    base: float,
    cap: float,
    deadline: float | None,
    exponential: bool,
    seed: int,
) -> None:
    clock = ManualClock()
    op = failing(10**6)
    retry = retry_with_backoff(
        attempts,
        base_delay=base,
        max_delay=cap,
        exponential=exponential,
        deadline=deadline,
        clock=clock,
        rng=random.Random(seed),
    )
    with pytest.raises(Flaky) as info:
        retry(op)()
    made = calls_of(op)
    assert len(clock.sleeps) == made - 1
    assert made <= attempts
    if deadline is None:
        assert made == attempts
    else:
        assert sum(clock.sleeps) <= deadline
    for n, wait in enumerate(clock.sleeps, start=1):
        limit = min(cap, base * 2 ** (n - 1)) if exponential else min(base, cap)
        assert 0 <= wait <= limit
        if not exponential:
            assert wait == limit
    assert f"after {made} attempt" in info.value.__notes__[0]


def test_async_breaker_outside_retry_inside(clock: ManualClock) -> None:
    attempts: list[int] = []
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60, name="aio", clock=clock)

    @breaker
    @retry_with_backoff(max_attempts=3, base_delay=1.0, jitter=False, clock=clock)
    async def fetch() -> None:
        attempts.append(1)
        await asyncio.sleep(0)
        raise ConnectionError("down")

    async def scenario() -> None:
        with pytest.raises(ConnectionError):
            await fetch()
        with pytest.raises(CircuitOpenError):
            await fetch()

    asyncio.run(scenario())
    assert len(attempts) == 3
    assert breaker.stats.failure_count == 1
    assert breaker.stats.rejected_count == 1
    assert clock.sleeps == [1.0, 2.0]
