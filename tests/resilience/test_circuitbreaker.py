"""Circuit breaker: every transition of the table, driven by a ManualClock."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

import pytest
from pattern_helpers import CountingClock

from peak_trade.clock import ManualClock
from peak_trade.errors import CircuitOpenError, InvalidArgumentError
from peak_trade.events import EventBus, EventRecorder
from peak_trade.resilience import (
    BreakerCallFailed,
    BreakerCallRejected,
    BreakerCallSucceeded,
    BreakerStateChanged,
    CircuitBreaker,
    CircuitState,
    CountWindow,
    TimeWindow,
    circuit_breaker,
)


class Boom(Exception):
    pass


class Other(Exception):
    pass


def make(clock: ManualClock, **kwargs: object) -> tuple[CircuitBreaker, Callable[..., str]]:
    """A breaker and a protected function: ``f()`` succeeds, ``f(exc)`` raises ``exc``."""
    breaker = CircuitBreaker(name="svc", clock=clock, **kwargs)  # type: ignore[arg-type]

    @breaker.call
    def f(exc: BaseException | None = None, sleep: float = 0.0) -> str:
        if sleep:
            clock.advance(sleep)
        if exc is not None:
            raise exc
        return "ok"

    return breaker, f


def fail(f: Callable[..., str], times: int = 1, exc: type[BaseException] = Boom) -> None:
    for _ in range(times):
        with pytest.raises(exc):
            f(exc())


def state_of(breaker: CircuitBreaker) -> CircuitState:
    """``breaker.state``, read through a call so mypy does not narrow it between asserts."""
    return breaker.state


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# --------------------------------------------------------------------------- seed API


def test_seed_decorator_api() -> None:
    calls = []

    @circuit_breaker(failure_threshold=3, recovery_timeout=60, name="api")
    def call_external_api(x: int) -> int:
        calls.append(x)
        if x < 0:
            raise ConnectionError("down")
        return x * 2

    assert call_external_api(2) == 4
    for _ in range(3):
        with pytest.raises(ConnectionError):
            call_external_api(-1)
    with pytest.raises(CircuitOpenError) as info:
        call_external_api(5)
    assert info.value.name == "api"
    assert calls == [2, -1, -1, -1]
    breaker = call_external_api.breaker  # type: ignore[attr-defined]
    assert state_of(breaker) is CircuitState.OPEN
    assert call_external_api.__name__ == "call_external_api"


def test_seed_class_api(clock: ManualClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=30.0, name="api_breaker")

    @breaker.call
    def call_api() -> str:
        return "data"

    assert state_of(breaker) == CircuitState.CLOSED
    assert call_api() == "data"
    assert breaker.stats.success_count == 1
    assert breaker.stats.failure_count == 0
    breaker.reset()
    assert breaker.stats.success_count == 0


def test_default_name_is_function_qualname() -> None:
    breaker = CircuitBreaker()

    @breaker
    def fetch() -> None:
        return None

    assert breaker.name.endswith("fetch")


def test_metric_values() -> None:
    assert CircuitState.CLOSED.metric_value == 0
    assert CircuitState.HALF_OPEN.metric_value == 1
    assert CircuitState.OPEN.metric_value == 2
    assert CircuitState.FORCED_OPEN.metric_value == 2
    assert CircuitState.DISABLED.metric_value == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"recovery_timeout": -1},
        {"half_open_max_calls": 0},
        {"success_threshold": 0},
    ],
)
def test_invalid_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidArgumentError):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "factory",
    [
        lambda: CountWindow(size=0),
        lambda: CountWindow(failure_rate_threshold=0),
        lambda: CountWindow(failure_rate_threshold=101),
        lambda: CountWindow(minimum_calls=0),
        lambda: TimeWindow(seconds=0),
        lambda: TimeWindow(slow_call_duration=0),
        lambda: TimeWindow(slow_call_rate_threshold=0),
    ],
)
def test_invalid_windows(factory: Callable[[], object]) -> None:
    with pytest.raises(InvalidArgumentError):
        factory()


# --------------------------------------------------------------------------- transitions


def test_closed_to_open_after_consecutive_failures(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=3)
    fail(f, 2)
    assert f() == "ok"  # a success resets the consecutive count
    fail(f, 2)
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.stats.consecutive_failures == 2
    fail(f, 1)
    assert state_of(breaker) is CircuitState.OPEN
    assert breaker.stats.failure_count == 5
    assert breaker.stats.last_failure_time == clock.time()


def test_open_rejects_without_calling_with_retry_after(clock: ManualClock) -> None:
    breaker, _ = make(clock, failure_threshold=1, recovery_timeout=60)
    calls: list[int] = []

    @breaker
    def g() -> None:
        calls.append(1)
        raise Boom

    with pytest.raises(Boom):
        g()
    clock.advance(15)
    with pytest.raises(CircuitOpenError) as info:
        g()
    assert calls == [1]
    assert info.value.name == "svc"
    assert info.value.retry_after == pytest.approx(45.0)
    assert info.value.context["breaker"] == "svc"
    assert breaker.retry_after == pytest.approx(45.0)
    assert breaker.stats.rejected_count == 1
    assert breaker.stats.total_calls == 2


def test_open_to_half_open_lazily_then_closed(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=1, recovery_timeout=60)
    fail(f)
    clock.advance(59.9)
    with pytest.raises(CircuitOpenError):
        f()
    clock.advance(0.1)
    assert state_of(breaker) is CircuitState.OPEN  # lazy: nothing happened yet
    assert breaker.retry_after == 0.0
    assert f() == "ok"  # the trial call
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.retry_after is None


def test_half_open_failure_reopens_with_fresh_timeout(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=1, recovery_timeout=60)
    fail(f)
    clock.advance(60)
    fail(f)  # trial fails
    assert state_of(breaker) is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        f()
    assert info.value.retry_after == pytest.approx(60.0)


def test_success_threshold_needs_several_trials(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=1, recovery_timeout=10, success_threshold=3)
    fail(f)
    clock.advance(10)
    f()
    f()
    assert state_of(breaker) is CircuitState.HALF_OPEN
    f()
    assert state_of(breaker) is CircuitState.CLOSED


def test_half_open_limits_concurrent_trials(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=1, recovery_timeout=10, half_open_max_calls=2)
    fail(f)
    clock.advance(10)
    first = breaker.guard()
    second = breaker.guard()
    first.__enter__()
    assert state_of(breaker) is CircuitState.HALF_OPEN
    second.__enter__()
    with pytest.raises(CircuitOpenError) as info:
        f()  # both trial slots are taken
    assert info.value.retry_after is None
    first.__exit__(None, None, None)
    with breaker.guard():  # a slot is free again
        pass
    assert state_of(breaker) is CircuitState.CLOSED
    second.__exit__(None, None, None)  # stale permit: counted, no effect
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.stats.success_count == 3


def test_half_open_trial_limit_with_threads(clock: ManualClock) -> None:
    breaker = CircuitBreaker(1, 10, name="t", clock=clock, half_open_max_calls=1)
    inside = threading.Event()
    release = threading.Event()

    @breaker
    def slow(x: int) -> int:
        if x < 0:
            raise Boom
        inside.set()
        assert release.wait(10)
        return x

    with pytest.raises(Boom):
        slow(-1)
    clock.advance(10)
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(slow(1)))
    worker.start()
    assert inside.wait(10)
    with pytest.raises(CircuitOpenError):
        slow(2)
    release.set()
    worker.join(10)
    assert results == [1]
    assert state_of(breaker) is CircuitState.CLOSED


def test_ignored_exception_frees_trial_slot(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=1, recovery_timeout=10, expected_exception=Boom)
    fail(f)
    clock.advance(10)
    fail(f, exc=Other)  # neither success nor failure
    assert state_of(breaker) is CircuitState.HALF_OPEN
    assert f() == "ok"
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.stats.ignored_count == 1


def test_stale_outcome_does_not_drive_new_state(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=1, recovery_timeout=10)
    stale = breaker.guard()
    stale.__enter__()  # permitted while CLOSED
    fail(f)  # opens
    clock.advance(10)
    trial = breaker.guard()
    trial.__enter__()
    assert state_of(breaker) is CircuitState.HALF_OPEN
    stale.__exit__(Boom, Boom(), None)  # counted, but not a trial failure
    assert state_of(breaker) is CircuitState.HALF_OPEN
    trial.__exit__(None, None, None)
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.stats.failure_count == 2


# --------------------------------------------------------------------------- filtering


def test_expected_exception_filter(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=2, expected_exception=(Boom, KeyError))
    fail(f, 5, exc=Other)
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.stats.ignored_count == 5
    assert breaker.stats.failure_count == 0
    fail(f, 1, exc=KeyError)
    fail(f, 1, exc=Boom)
    assert state_of(breaker) is CircuitState.OPEN


def test_ignored_exception_does_not_reset_consecutive_count(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=2, expected_exception=Boom)
    fail(f)
    fail(f, exc=Other)
    fail(f)
    assert state_of(breaker) is CircuitState.OPEN


def test_exclude_filter(clock: ManualClock) -> None:
    class Specific(Boom):
        pass

    breaker, f = make(clock, failure_threshold=1, exclude=Specific)
    fail(f, 3, exc=Specific)
    assert state_of(breaker) is CircuitState.CLOSED
    fail(f)
    assert state_of(breaker) is CircuitState.OPEN


def test_base_exceptions_are_ignored(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=1)
    fail(f, exc=KeyboardInterrupt)
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.stats.ignored_count == 1


@pytest.mark.parametrize("argument", ["expected_exception", "exclude"])
@pytest.mark.parametrize(
    "bad",
    ["ConnectionError", int, object(), (ConnectionError, "TimeoutError"), [KeyError, 3]],
    ids=["string", "non-exception class", "instance", "tuple with a string", "list with an int"],
)
def test_exception_arguments_are_validated_at_construction(argument: str, bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match=argument) as info:
        CircuitBreaker(name="svc", **{argument: bad})  # type: ignore[arg-type]
    assert argument in info.value.context
    assert info.value.hint
    assert "ConnectionError" in info.value.hint
    with pytest.raises(InvalidArgumentError, match=argument):
        circuit_breaker(**{argument: bad})  # type: ignore[arg-type]


def test_a_string_expected_exception_names_what_was_given() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        CircuitBreaker(expected_exception="ConnectionError")  # type: ignore[arg-type]
    assert "the string 'ConnectionError'" in info.value.message
    assert "expected_exception=ConnectionError" in (info.value.hint or "")


def test_an_empty_expected_exception_is_refused_but_an_empty_exclude_is_fine() -> None:
    with pytest.raises(InvalidArgumentError, match="empty"):
        CircuitBreaker(expected_exception=())
    CircuitBreaker(exclude=())


def test_exception_arguments_accept_lists_and_unions(clock: ManualClock) -> None:
    breaker, f = make(
        clock, failure_threshold=2, expected_exception=[Boom, KeyError], exclude=Other | ValueError
    )
    fail(f, exc=Other)
    fail(f, exc=KeyError)
    fail(f, exc=Boom)
    assert state_of(breaker) is CircuitState.OPEN


class FaultyClock(ManualClock):
    """A clock whose readings can be made to fail: a bookkeeping hook that raises.

    ``broken`` names the readings that raise: ``{"time"}``, ``{"monotonic"}`` or both.
    """

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[str] = set()

    def time(self) -> float:
        if "time" in self.broken:
            raise RuntimeError("clock failed")
        return super().time()

    def monotonic(self) -> float:
        if "monotonic" in self.broken:
            raise RuntimeError("clock failed")
        return super().monotonic()


def _open_then_due(
    clock: FaultyClock, **kwargs: object
) -> tuple[CircuitBreaker, Callable[..., str]]:
    breaker, f = make(clock, failure_threshold=1, recovery_timeout=10, **kwargs)
    fail(f)
    clock.advance(10)  # the next call is the trial
    return breaker, f


def test_a_trial_whose_failure_bookkeeping_raises_still_frees_its_slot() -> None:
    clock = FaultyClock()
    breaker, f = _open_then_due(clock)

    def trial_fails() -> None:
        clock.broken = {"time", "monotonic"}  # it fails while the breaker records the outcome
        raise Boom

    with pytest.raises(RuntimeError, match="clock failed") as info:
        breaker.call(trial_fails)()
    assert isinstance(info.value.__context__, Boom)  # the call's own error is kept
    clock.broken = set()
    assert state_of(breaker) is CircuitState.HALF_OPEN
    assert f() == "ok"  # the trial slot was given back: a new trial runs
    assert state_of(breaker) is CircuitState.CLOSED


def test_a_trial_whose_state_change_cannot_be_published_frees_its_slot() -> None:
    clock = FaultyClock()
    breaker, f = _open_then_due(clock)
    clock.broken = {"time"}  # OPEN -> HALF_OPEN is recorded, then publishing it fails
    with pytest.raises(RuntimeError, match="clock failed"):
        f()
    clock.broken = set()
    assert state_of(breaker) is CircuitState.HALF_OPEN
    assert f() == "ok"
    assert state_of(breaker) is CircuitState.CLOSED


def test_a_timed_trial_whose_success_bookkeeping_raises_frees_its_slot() -> None:
    clock = FaultyClock()
    bus = EventBus()
    bus.subscribe(BreakerCallSucceeded, lambda event: None)  # calls are timed
    breaker, f = _open_then_due(clock, bus=bus)

    def trial_succeeds() -> str:
        clock.broken = {"monotonic"}  # the call's duration cannot be measured
        return "ok"

    with pytest.raises(RuntimeError, match="clock failed"):
        breaker.call(trial_succeeds)()
    clock.broken = set()
    assert state_of(breaker) is CircuitState.HALF_OPEN
    assert f() == "ok"
    assert state_of(breaker) is CircuitState.CLOSED


# --------------------------------------------------------------------------- manual control


def test_force_open_rejects_until_closed(clock: ManualClock) -> None:
    breaker, f = make(clock, recovery_timeout=1)
    breaker.force_open()
    assert state_of(breaker) is CircuitState.FORCED_OPEN
    clock.advance(1000)
    with pytest.raises(CircuitOpenError) as info:
        f()
    assert info.value.retry_after is None
    breaker.close()
    assert f() == "ok"
    assert breaker.stats.rejected_count == 1  # close() keeps statistics


def test_disable_lets_everything_through(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=1)
    breaker.disable()
    fail(f, 10)
    assert state_of(breaker) is CircuitState.DISABLED
    assert f() == "ok"
    assert breaker.stats.failure_count == 10
    breaker.reset()
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.stats.failure_count == 0


def test_reset_and_open(clock: ManualClock) -> None:
    breaker, f = make(clock, failure_threshold=2, recovery_timeout=5)
    breaker.open()
    assert state_of(breaker) is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        f()
    breaker.reset()
    assert state_of(breaker) is CircuitState.CLOSED
    stats = breaker.stats
    assert (stats.total_calls, stats.rejected_count, stats.last_failure_time) == (0, 0, None)
    fail(f)
    breaker.reset()  # also clears the consecutive count while CLOSED
    fail(f)
    assert state_of(breaker) is CircuitState.CLOSED


def test_open_on_an_open_breaker_starts_its_period_again(clock: ManualClock) -> None:
    breaker, f = make(clock, recovery_timeout=10)
    breaker.open()
    clock.advance(6)
    breaker.open()
    assert breaker.retry_after == pytest.approx(10.0)
    assert breaker.stats.state_changes == 1  # no new transition
    clock.advance(6)
    with pytest.raises(CircuitOpenError) as info:
        f()
    assert info.value.retry_after == pytest.approx(4.0)


# --------------------------------------------------------------------------- sliding windows


def test_count_window_failure_rate(clock: ManualClock) -> None:
    breaker, f = make(
        clock, sliding_window=CountWindow(size=4, failure_rate_threshold=50, minimum_calls=4)
    )
    fail(f, 2)  # 2 of 2, but below minimum_calls
    assert state_of(breaker) is CircuitState.CLOSED
    f()
    f()  # 2 of 4 = 50 %
    assert state_of(breaker) is CircuitState.OPEN


def test_count_window_slides(clock: ManualClock) -> None:
    breaker, f = make(
        clock, sliding_window=CountWindow(size=4, failure_rate_threshold=75, minimum_calls=4)
    )
    fail(f, 2)
    for _ in range(5):
        f()
    fail(f, 2)  # window: ok ok F F = 50 %
    assert state_of(breaker) is CircuitState.CLOSED
    fail(f)  # ok F F F = 75 %
    assert state_of(breaker) is CircuitState.OPEN


def test_count_window_minimum_calls_capped_at_size(clock: ManualClock) -> None:
    breaker, f = make(clock, sliding_window=CountWindow(size=2, minimum_calls=100))
    fail(f, 2)
    assert state_of(breaker) is CircuitState.OPEN


def test_count_window_slow_calls(clock: ManualClock) -> None:
    window = CountWindow(
        size=4, minimum_calls=4, slow_call_duration=2.0, slow_call_rate_threshold=50
    )
    breaker, f = make(clock, sliding_window=window)
    f(sleep=5)
    f()
    f()
    assert state_of(breaker) is CircuitState.CLOSED
    f(sleep=2)  # slow (>= 2 s): 2 of 4
    assert state_of(breaker) is CircuitState.OPEN
    assert breaker.retry_after == pytest.approx(60.0)  # opened now, by a success
    assert breaker.stats.slow_call_count == 2


def test_slow_trial_call_reopens(clock: ManualClock) -> None:
    window = CountWindow(size=1, minimum_calls=1, slow_call_duration=1.0)
    breaker, f = make(clock, sliding_window=window, recovery_timeout=10)
    f(sleep=3)
    assert state_of(breaker) is CircuitState.OPEN
    clock.advance(10)
    f(sleep=3)
    assert state_of(breaker) is CircuitState.OPEN
    clock.advance(10)
    f()
    assert state_of(breaker) is CircuitState.CLOSED


def test_time_window_forgets_old_calls(clock: ManualClock) -> None:
    clock.set(1_700_000_000.0)
    window = TimeWindow(seconds=10, failure_rate_threshold=50, minimum_calls=4)
    breaker, f = make(clock, sliding_window=window)
    fail(f, 3)
    clock.advance(10)  # those three fall out of the window
    fail(f)
    f()
    f()
    f()
    assert state_of(breaker) is CircuitState.CLOSED  # 1 of 4
    clock.advance(5)
    fail(f)
    assert state_of(breaker) is CircuitState.CLOSED  # 2 of 5
    fail(f)
    assert state_of(breaker) is CircuitState.OPEN  # 3 of 6


def test_window_is_cleared_on_close(clock: ManualClock) -> None:
    window = CountWindow(size=4, minimum_calls=2, failure_rate_threshold=60)
    breaker, f = make(clock, sliding_window=window, recovery_timeout=1)
    fail(f, 2)
    assert state_of(breaker) is CircuitState.OPEN
    clock.advance(1)
    f()
    assert state_of(breaker) is CircuitState.CLOSED
    fail(f)
    f()
    f()  # 1 of 3 now: the old failures are gone
    assert state_of(breaker) is CircuitState.CLOSED


# --------------------------------------------------------------------------- guard, async


def test_guard_context_manager(clock: ManualClock) -> None:
    breaker = CircuitBreaker(1, 10, name="g", clock=clock)
    with breaker.guard():
        pass
    with pytest.raises(Boom), breaker.guard():
        raise Boom
    with pytest.raises(CircuitOpenError), breaker.guard():
        pytest.fail("not reached")
    assert breaker.stats.success_count == 1
    assert breaker.stats.failure_count == 1


@pytest.mark.parametrize("timed", [False, True], ids=["local", "with-events"])
def test_async_transitions(clock: ManualClock, timed: bool) -> None:
    # a breaker nobody times has its own (inlined) wrapper; with a bus it takes the general one
    bus = EventBus() if timed else None
    recorder = EventRecorder(bus, BreakerCallSucceeded) if bus is not None else None
    breaker = CircuitBreaker(2, 30, name="aio", clock=clock, bus=bus)

    @breaker.call
    async def fetch(ok: bool) -> str:
        await asyncio.sleep(0)
        if not ok:
            raise Boom
        return "ok"

    async def scenario() -> None:
        assert await fetch(True) == "ok"
        for _ in range(2):
            with pytest.raises(Boom):
                await fetch(False)
        assert state_of(breaker) is CircuitState.OPEN
        with pytest.raises(CircuitOpenError) as info:
            await fetch(True)
        assert info.value.retry_after == pytest.approx(30.0)
        clock.advance(30)
        assert await fetch(True) == "ok"
        assert state_of(breaker) is CircuitState.CLOSED
        async with breaker.guard():
            pass

    assert asyncio.iscoroutinefunction(fetch)
    asyncio.run(scenario())
    assert breaker.stats.success_count == 3
    assert breaker.stats.failure_count == 2
    assert breaker.stats.rejected_count == 1
    if recorder is not None:
        assert recorder.events == [BreakerCallSucceeded("aio", 0.0)] * 3


def test_async_half_open_trial_limit(clock: ManualClock) -> None:
    breaker = CircuitBreaker(1, 5, name="aio", clock=clock, half_open_max_calls=1)
    gate = asyncio.Event  # created inside the loop below

    @breaker
    async def op(wait: asyncio.Event | None) -> str:
        if wait is None:
            raise Boom
        await wait.wait()
        return "ok"

    async def scenario() -> None:
        with pytest.raises(Boom):
            await op(None)
        clock.advance(5)
        release = gate()
        trial = asyncio.create_task(op(release))
        await asyncio.sleep(0)
        with pytest.raises(CircuitOpenError):
            await op(release)
        release.set()
        assert await trial == "ok"

    asyncio.run(scenario())
    assert state_of(breaker) is CircuitState.CLOSED


def test_async_cancellation_is_ignored(clock: ManualClock) -> None:
    breaker = CircuitBreaker(1, 5, name="aio", clock=clock)

    @breaker
    async def hang() -> None:
        await asyncio.sleep(3600)

    async def scenario() -> None:
        task = asyncio.create_task(hang())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.stats.ignored_count == 1


# --------------------------------------------------------------------------- events


def test_events_published(clock: ManualClock) -> None:
    bus = EventBus()
    recorder = EventRecorder(bus)
    breaker = CircuitBreaker(1, 10, name="ev", clock=clock, bus=bus)

    @breaker
    def f(ok: bool) -> None:
        clock.advance(0.25)
        if not ok:
            raise Boom

    f(True)
    with pytest.raises(Boom):
        f(False)
    with pytest.raises(CircuitOpenError):
        f(True)
    clock.advance(10)
    f(True)
    t0 = 1_700_000_000.0
    assert recorder.events == [
        BreakerCallSucceeded("ev", 0.25),
        BreakerStateChanged("ev", CircuitState.CLOSED, CircuitState.OPEN, t0 + 0.5),
        BreakerCallFailed("ev", 0.25, "Boom"),
        BreakerCallRejected("ev", 10.0),
        BreakerStateChanged("ev", CircuitState.OPEN, CircuitState.HALF_OPEN, t0 + 10.5),
        BreakerStateChanged("ev", CircuitState.HALF_OPEN, CircuitState.CLOSED, t0 + 10.75),
        BreakerCallSucceeded("ev", 0.25),
    ]
    assert breaker.stats.state_changes == 3
    assert breaker.stats.last_state_change_time == t0 + 10.75


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_call_events_start_and_stop_with_their_listeners(
    clock: ManualClock, is_async: bool
) -> None:
    """A function wrapped while nobody listened is timed once someone does, and not after."""
    bus = EventBus()
    breaker = CircuitBreaker(5, 10, name="late", clock=clock, bus=bus)

    def work() -> str:
        clock.advance(0.5)
        return "ok"

    async def awork() -> str:
        return work()

    call: Callable[[], str]
    if is_async:
        wrapped = breaker(awork)
        call = lambda: asyncio.run(wrapped())  # noqa: E731
    else:
        call = breaker(work)
    states = EventRecorder(bus, BreakerStateChanged)
    assert call() == "ok"  # nobody wants call events: not timed, nothing published
    calls = EventRecorder(bus, BreakerCallSucceeded)
    assert call() == "ok"
    assert calls.events == [BreakerCallSucceeded("late", 0.5)]
    calls.stop()
    assert call() == "ok"
    assert calls.events == [BreakerCallSucceeded("late", 0.5)]
    assert breaker.stats.success_count == 3
    assert states.events == []


def test_a_guard_pairs_its_exit_with_its_entry(clock: ManualClock) -> None:
    bus = EventBus()
    breaker = CircuitBreaker(5, 10, name="g", clock=clock, bus=bus)
    with breaker.guard():
        calls = EventRecorder(bus, BreakerCallSucceeded)  # subscribed mid-call
        clock.advance(1)
    with breaker.guard():
        clock.advance(2)
    # the call in flight when the listener came is counted, not reported; the next is timed
    assert calls.events == [BreakerCallSucceeded("g", 2.0)]
    assert breaker.stats.success_count == 2


def test_only_wanted_events_are_built(clock: ManualClock) -> None:
    bus = EventBus()
    changes = EventRecorder(bus, BreakerStateChanged)
    breaker = CircuitBreaker(1, 10, name="ev", clock=clock, bus=bus)
    with pytest.raises(Boom), breaker.guard():
        raise Boom
    breaker.force_open()
    breaker.disable()
    breaker.reset()
    assert [(e.from_state, e.to_state) for e in changes.events] == [  # type: ignore[attr-defined]
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.FORCED_OPEN),
        (CircuitState.FORCED_OPEN, CircuitState.DISABLED),
        (CircuitState.DISABLED, CircuitState.CLOSED),
    ]


# --------------------------------------------------------------------------- concurrency


def test_exact_counts_under_16_threads() -> None:
    breaker = CircuitBreaker(failure_threshold=10**9, name="threads", expected_exception=Boom)
    threads, per_thread = 16, 10_000

    @breaker
    def op(i: int) -> int:
        if i % 10 == 0:
            raise Boom
        if i % 10 == 1:
            raise Other
        return i

    start = threading.Barrier(threads, timeout=30)

    def worker() -> None:
        start.wait()
        for i in range(per_thread):
            with contextlib.suppress(Boom, Other):
                op(i)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    stats = breaker.stats
    total = threads * per_thread
    assert stats.total_calls == total
    assert stats.failure_count == total // 10
    assert stats.ignored_count == total // 10
    assert stats.success_count == total - 2 * (total // 10)
    assert stats.rejected_count == 0


def test_lock_is_not_held_during_the_call() -> None:
    breaker = CircuitBreaker(name="parallel")
    both_inside = threading.Barrier(2, timeout=10)

    @breaker
    def op() -> str:
        both_inside.wait()  # only passable if two calls are inside at once
        return "ok"

    results: list[str] = []
    pool = [threading.Thread(target=lambda: results.append(op())) for _ in range(2)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(20)
    assert results == ["ok", "ok"]
    assert breaker.stats.success_count == 2


# --------------------------------------------------------------------------- hot path


def test_closed_success_path_reads_no_clock() -> None:
    clock = CountingClock()
    breaker = CircuitBreaker(name="hot", clock=clock)

    @breaker
    def op() -> int:
        return 1

    for _ in range(100):
        op()
    with breaker.guard():
        pass
    assert clock.reads == 0
    assert breaker.stats.success_count == 101


def test_options_pass_through_decorator(clock: ManualClock) -> None:
    @circuit_breaker(
        name="rate",
        clock=clock,
        sliding_window=TimeWindow(seconds=5, minimum_calls=2, slow_call_duration=1.0),
    )
    def op(seconds: float) -> None:
        clock.advance(seconds)

    op(0)
    op(3)  # 1 slow of 2 = 50 %, below the 100 % slow-call threshold
    breaker: CircuitBreaker = op.breaker  # type: ignore[attr-defined]
    assert state_of(breaker) is CircuitState.CLOSED
    clock.advance(5)  # both fall out of the window
    op(2)
    op(2)  # 2 slow of 2
    assert state_of(breaker) is CircuitState.OPEN
    assert breaker.stats.slow_call_count == 3


def test_counts_stay_exact_while_the_state_flips_under_threads() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(3, 0.0, Boom, "flip", clock=clock, half_open_max_calls=2)
    threads, per_thread = 8, 2_000

    @breaker
    def op(i: int) -> None:
        if i % 4:  # S F F F: every thread alone trips the breaker
            raise Boom

    outcomes = {"ok": 0, "failed": 0, "rejected": 0}
    guard = threading.Lock()
    start = threading.Barrier(threads, timeout=30)

    def worker() -> None:
        mine = {"ok": 0, "failed": 0, "rejected": 0}
        start.wait()
        for i in range(per_thread):
            try:
                op(i)
                mine["ok"] += 1
            except Boom:
                mine["failed"] += 1
            except CircuitOpenError:
                mine["rejected"] += 1
        with guard:
            for key, value in mine.items():
                outcomes[key] += value

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    stats = breaker.stats
    assert stats.total_calls == threads * per_thread
    assert stats.success_count == outcomes["ok"]
    assert stats.failure_count == outcomes["failed"]
    assert stats.rejected_count == outcomes["rejected"]
    assert stats.state_changes > 0
