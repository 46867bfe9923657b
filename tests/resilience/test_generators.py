"""Generator functions under every decorator.

Calling a generator function only creates the generator; its work (and its
failures) happen while it is iterated. The circuit breaker protects that
iteration, as pybreaker and circuitbreaker do; every other pattern refuses
generator functions at decoration time instead of silently protecting nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from peak_trade.clock import ManualClock
from peak_trade.config import load_settings
from peak_trade.errors import CircuitOpenError, InvalidArgumentError
from peak_trade.resilience import (
    Bulkhead,
    CircuitBreaker,
    CircuitState,
    ResilienceRegistry,
    fallback,
    retry_with_backoff,
    timeout,
    with_resilience,
)


class Down(Exception):
    pass


def state_of(breaker: CircuitBreaker) -> CircuitState:
    return breaker.state


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def pages(fail_at: int | None = None, n: int = 3) -> Iterator[int]:
    for page in range(n):
        if page == fail_at:
            raise Down(f"page {page}")
        yield page


async def apages(fail_at: int | None = None, n: int = 3) -> AsyncIterator[int]:
    for page in range(n):
        await asyncio.sleep(0)
        if page == fail_at:
            raise Down(f"page {page}")
        yield page


async def consume(agen: AsyncIterator[int]) -> list[int]:
    return [page async for page in agen]


# --------------------------------------------------------------------------- the breaker


def test_a_failure_while_iterating_counts_and_opens_the_breaker(clock: ManualClock) -> None:
    breaker = CircuitBreaker(2, 30.0, name="feed", clock=clock)
    stream = breaker.call(pages)
    assert list(stream()) == [0, 1, 2]
    assert breaker.stats.success_count == 1  # exhausted: one success, counted at the end
    for _ in range(2):
        with pytest.raises(Down):
            list(stream(fail_at=1))
    assert breaker.stats.failure_count == 2
    assert state_of(breaker) is CircuitState.OPEN
    gen = stream()  # creating a generator asks for nothing...
    with pytest.raises(CircuitOpenError):
        next(gen)  # ...its first item does


def test_a_generator_counts_as_one_call_only_when_it_ends(clock: ManualClock) -> None:
    breaker = CircuitBreaker(1, 30.0, name="feed", clock=clock)
    gen = breaker.call(pages)()
    assert next(gen) == 0
    assert breaker.stats.total_calls == 0  # in flight
    assert list(gen) == [1, 2]
    assert breaker.stats.success_count == 1


def test_the_half_open_trial_slot_is_held_while_iterating(clock: ManualClock) -> None:
    breaker = CircuitBreaker(1, 30.0, name="feed", clock=clock)
    stream = breaker.call(pages)
    with pytest.raises(Down):
        list(stream(fail_at=0))
    clock.advance(30.0)
    trial = stream()
    assert next(trial) == 0
    assert state_of(breaker) is CircuitState.HALF_OPEN
    with pytest.raises(CircuitOpenError):
        next(stream())  # the one trial slot is taken by the unfinished generator
    assert list(trial) == [1, 2]
    assert state_of(breaker) is CircuitState.CLOSED


def test_a_trial_that_fails_while_iterating_reopens(clock: ManualClock) -> None:
    breaker = CircuitBreaker(1, 30.0, name="feed", clock=clock)
    stream = breaker.call(pages)
    with pytest.raises(Down):
        list(stream(fail_at=0))
    clock.advance(30.0)
    with pytest.raises(Down):
        list(stream(fail_at=2))
    assert state_of(breaker) is CircuitState.OPEN


@pytest.mark.parametrize("how", ["close", "break", "garbage"])
def test_a_generator_closed_early_is_neither_and_frees_its_slot(
    clock: ManualClock, how: str
) -> None:
    breaker = CircuitBreaker(1, 30.0, name="feed", clock=clock)
    stream = breaker.call(pages)
    with pytest.raises(Down):
        list(stream(fail_at=0))
    clock.advance(30.0)
    trial = stream()
    assert next(trial) == 0
    if how == "close":
        trial.close()
    elif how == "break":
        for _page in trial:
            break
        del trial
    else:
        del trial  # CPython closes an unreferenced generator at once
    stats = breaker.stats
    assert (stats.success_count, stats.failure_count, stats.ignored_count) == (0, 1, 1)
    assert state_of(breaker) is CircuitState.HALF_OPEN
    assert list(stream()) == [0, 1, 2]  # the slot is free for the next trial
    assert state_of(breaker) is CircuitState.CLOSED


def test_early_close_is_not_a_failure_even_when_every_base_exception_is(
    clock: ManualClock,
) -> None:
    breaker = CircuitBreaker(1, 30.0, BaseException, name="feed", clock=clock)
    gen = breaker.call(pages)()
    next(gen)
    gen.close()
    assert breaker.stats.failure_count == 0
    assert state_of(breaker) is CircuitState.CLOSED


def test_send_throw_and_the_return_value_pass_through(clock: ManualClock) -> None:
    breaker = CircuitBreaker(1, 30.0, name="echo", clock=clock)

    @breaker.call
    def echo() -> Iterator[Any]:
        received = []
        while len(received) < 2:
            try:
                received.append((yield len(received)))
            except KeyError:
                received.append("thrown")
        return received

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    with pytest.raises(StopIteration) as done:
        gen.throw(KeyError("k"))
    assert done.value.value == ["a", "thrown"]
    assert breaker.stats.success_count == 1


def test_async_generators_are_protected_the_same_way(clock: ManualClock) -> None:
    breaker = CircuitBreaker(2, 30.0, name="afeed", clock=clock)
    stream = breaker.call(apages)

    async def main() -> None:
        assert await consume(stream()) == [0, 1, 2]
        for _ in range(2):
            with pytest.raises(Down):
                await consume(stream(fail_at=1))
        with pytest.raises(CircuitOpenError):
            await consume(stream())
        clock.advance(30.0)
        trial = stream()
        assert await trial.__anext__() == 0
        with pytest.raises(CircuitOpenError):
            await stream().__anext__()  # the trial slot is held
        await trial.aclose()  # closed early: neither outcome, slot freed
        assert state_of(breaker) is CircuitState.HALF_OPEN
        assert await consume(stream()) == [0, 1, 2]

    asyncio.run(main())
    assert state_of(breaker) is CircuitState.CLOSED
    stats = breaker.stats
    assert (stats.success_count, stats.failure_count, stats.ignored_count) == (2, 2, 1)


def test_async_generator_asend_and_athrow_pass_through(clock: ManualClock) -> None:
    breaker = CircuitBreaker(1, 30.0, name="aecho", clock=clock)

    @breaker.call
    async def echo() -> AsyncIterator[Any]:
        try:
            got = yield "ready"
            yield f"got {got}"
        except KeyError:
            yield "handled"

    async def main() -> list[Any]:
        gen = echo()
        out = [await gen.__anext__(), await gen.asend("x"), await gen.athrow(KeyError("k"))]
        with pytest.raises(StopAsyncIteration):
            await gen.__anext__()
        return out

    assert asyncio.run(main()) == ["ready", "got x", "handled"]
    assert breaker.stats.success_count == 1


def test_decorated_generators_stay_generator_functions(clock: ManualClock) -> None:
    import inspect

    breaker = CircuitBreaker(name="kinds", clock=clock)
    assert inspect.isgeneratorfunction(breaker.call(pages))
    assert inspect.isasyncgenfunction(breaker.call(apages))
    assert breaker.call(pages).__name__ == "pages"


def test_a_guarded_stack_with_retry_above_the_breaker_is_refused(clock: ManualClock) -> None:
    """A breaker-wrapped generator is still a generator function: retry still refuses it."""
    breaker = CircuitBreaker(name="stacked", clock=clock)
    with pytest.raises(InvalidArgumentError, match="generator"):
        retry_with_backoff(clock=clock)(breaker.call(pages))


# --------------------------------------------------------------------------- everyone else refuses


def _registry() -> ResilienceRegistry:
    settings = load_settings(environ={}, use_default_file=False).resilience
    return ResilienceRegistry(settings, clock=ManualClock())


REFUSING: dict[str, Callable[[], Callable[[Callable[..., Any]], Any]]] = {
    "retry_with_backoff": retry_with_backoff,
    "Bulkhead": lambda: Bulkhead(2),
    "Timeout": lambda: timeout(5),
    "fallback": lambda: fallback(value=[]),
    "with_resilience": lambda: with_resilience("data", "stream", registry=_registry()),
}


@pytest.mark.parametrize("pattern", sorted(REFUSING))
@pytest.mark.parametrize("target", [pages, apages], ids=["generator", "async generator"])
def test_other_patterns_refuse_generator_functions(
    pattern: str, target: Callable[..., Any]
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        REFUSING[pattern]()(target)
    err = info.value
    assert pattern in err.message
    assert target.__name__ in err.message
    assert err.hint
    assert "list(" in err.hint
    assert err.context["function"].endswith(target.__name__)


def test_retry_explains_why_it_refuses() -> None:
    with pytest.raises(InvalidArgumentError, match="retry_with_backoff") as info:

        @retry_with_backoff()
        def stream() -> Iterator[int]:
            yield 1

    assert info.value.context["kind"] == "generator function"


def test_with_resilience_refuses_before_creating_anything() -> None:
    reg = _registry()
    with contextlib.suppress(InvalidArgumentError):
        with_resilience("data", "stream", use_rate_limiter=True, registry=reg)(pages)
    assert reg.circuit_breakers() == {}
    assert reg.rate_limiters() == {}
