"""What every decorator keeps of the function it wraps, and how it tells sync from async.

One table of decorators (every pattern of the package, each in its usual
configurations) is run against the same callables: plain and ``async def``
functions with defaults, objects whose ``__call__`` is ``async def``, and
``functools.partial`` of both. Every wrapper must call async callables with
``await`` (and return their result, never a coroutine object) and keep what
``inspect.signature`` and plain attribute access see of the original.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from peak_trade.clock import ManualClock
from peak_trade.config import load_settings
from peak_trade.resilience import (
    Bulkhead,
    CircuitBreaker,
    ResilienceRegistry,
    fallback,
    retry_with_backoff,
    timeout,
    with_resilience,
)
from peak_trade.resilience._wrap import is_async

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _registry() -> ResilienceRegistry:
    settings = load_settings(environ={}, use_default_file=False).resilience
    return ResilienceRegistry(settings, clock=ManualClock())


def _decorators() -> dict[str, Callable[[], Decorator]]:
    """Fresh decorators by name (one per pattern and notable configuration)."""
    return {
        "breaker": lambda: CircuitBreaker(name="t", register=False).call,
        "breaker on a watched bus": lambda: _watched_breaker().call,
        "breaker with slow-call window": lambda: (
            CircuitBreaker(name="t", register=False, sliding_window=_slow_window()).call
        ),
        "retry": lambda: retry_with_backoff(clock=ManualClock()),
        "bulkhead": lambda: Bulkhead(2),
        "timeout thread": lambda: timeout(30),
        "timeout deadline": lambda: timeout(30, mode="deadline"),
        "fallback": lambda: fallback(value="fallback"),
        "with_resilience": lambda: with_resilience(
            "data",
            "fetch",
            use_rate_limiter=True,
            use_retry=True,
            timeout=30,
            registry=_registry(),
        ),
    }


def _watched_breaker() -> CircuitBreaker:
    from peak_trade.events import EventBus
    from peak_trade.resilience import BreakerCallSucceeded

    bus = EventBus()
    bus.subscribe(BreakerCallSucceeded, lambda event: None)
    return CircuitBreaker(name="t", register=False, bus=bus)


def _slow_window() -> Any:
    from peak_trade.resilience import CountWindow

    return CountWindow(size=10, minimum_calls=10, slow_call_duration=5.0)


DECORATORS = sorted(_decorators())


def decorator(name: str) -> Decorator:
    return _decorators()[name]()


# --------------------------------------------------------------------------- the callables


def plain(symbol: str, limit: int = 100, *, since: int | None = None) -> tuple[Any, ...]:
    """Plain."""
    return ("plain", symbol, limit, since)


async def coro(symbol: str, limit: int = 100, *, since: int | None = None) -> tuple[Any, ...]:
    """Coro."""
    await asyncio.sleep(0)
    return ("coro", symbol, limit, since)


class AsyncCallable:
    """An object whose ``__call__`` is ``async def`` (a client, a handler...)."""

    async def __call__(self, symbol: str, limit: int = 100) -> tuple[Any, ...]:
        await asyncio.sleep(0)
        return ("object", symbol, limit, None)


class SyncCallable:
    def __call__(self, symbol: str, limit: int = 100) -> tuple[Any, ...]:
        return ("sync object", symbol, limit, None)


# --------------------------------------------------------------------------- item 6


def test_is_async_sees_through_objects_and_partials() -> None:
    assert is_async(coro)
    assert is_async(AsyncCallable())
    assert is_async(functools.partial(coro, "BTC"))
    assert is_async(functools.partial(AsyncCallable(), "BTC"))
    assert is_async(functools.partial(functools.partial(coro), "BTC"))
    assert not is_async(plain)
    assert not is_async(SyncCallable())
    assert not is_async(functools.partial(plain, "BTC"))
    assert is_async(staticmethod(coro))
    assert not is_async(staticmethod(plain))
    # a class is called to build an instance: that call is synchronous
    assert not is_async(AsyncCallable)


@pytest.mark.parametrize("name", DECORATORS)
@pytest.mark.parametrize(
    "target",
    [AsyncCallable(), functools.partial(coro), functools.partial(AsyncCallable())],
    ids=["async __call__", "partial of async def", "partial of async __call__"],
)
def test_async_callables_are_awaited(name: str, target: Callable[..., Any]) -> None:
    wrapped = decorator(name)(target)
    assert inspect.iscoroutinefunction(wrapped)
    result = asyncio.run(wrapped("BTC", limit=5))
    assert result[1:] == ("BTC", 5, None)


@pytest.mark.parametrize("name", DECORATORS)
def test_failures_of_an_async_call_object_reach_the_pattern(name: str) -> None:
    """The pattern sees the exception (not a coroutine that raises later, after it let go)."""

    class Down:
        async def __call__(self) -> str:
            await asyncio.sleep(0)
            raise ConnectionError("down")

    wrapped = decorator(name)(Down())
    if name == "fallback":
        assert asyncio.run(wrapped()) == "fallback"
        return
    with pytest.raises(ConnectionError):
        asyncio.run(wrapped())


def test_breaker_counts_the_failures_of_an_async_call_object() -> None:
    class Down:
        async def __call__(self) -> None:
            raise ConnectionError("down")

    breaker = CircuitBreaker(2, name="t", register=False)
    wrapped = breaker.call(Down())
    for _ in range(2):
        with pytest.raises(ConnectionError):
            asyncio.run(wrapped())
    assert breaker.stats.failure_count == 2
    assert breaker.stats.success_count == 0


# --------------------------------------------------------------------------- item 7


@pytest.mark.parametrize("name", DECORATORS)
@pytest.mark.parametrize("target", [plain, coro], ids=["sync", "async"])
def test_wrappers_keep_defaults_and_signature(name: str, target: Callable[..., Any]) -> None:
    wrapped = decorator(name)(target)
    assert wrapped.__defaults__ == (100,)
    assert wrapped.__kwdefaults__ == {"since": None}
    assert inspect.signature(wrapped) == inspect.signature(target)
    assert wrapped.__name__ == target.__name__
    assert wrapped.__doc__ == target.__doc__
    assert inspect.unwrap(wrapped) is target
    # the copied defaults are metadata only: the wrapper still passes what it got
    call = wrapped("ETH") if target is plain else asyncio.run(wrapped("ETH"))
    assert call[1:] == ("ETH", 100, None)


@pytest.mark.parametrize("name", DECORATORS)
def test_wrappers_of_objects_keep_the_call_signature(name: str) -> None:
    target = AsyncCallable()
    wrapped = decorator(name)(target)
    assert inspect.signature(wrapped) == inspect.signature(target)


def test_retry_retries_an_async_call_object() -> None:
    class Flaky:
        calls = 0

        async def __call__(self) -> str:
            self.calls += 1
            if self.calls < 3:
                raise ConnectionError("down")
            return "ok"

    clock = ManualClock()
    target = Flaky()
    wrapped = retry_with_backoff(max_attempts=3, clock=clock)(target)
    assert asyncio.run(wrapped()) == "ok"
    assert target.calls == 3
    assert len(clock.sleeps) == 2
