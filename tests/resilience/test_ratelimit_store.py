"""The shared rate limiter: one decision core, a sync driver over ``Store`` and an
async driver over ``AsyncStore``.

The limiter runs on every backend of the store contract (memory, SQLite,
Redis), each once through the sync API and once through the async one: for
the ``-async`` cases the limiter is given the ``AsyncStore`` itself and every
decision is awaited on the case's event loop. Two limiters of the same name on
two stores over the same data are two workers of one fleet: they share one
bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from killable_redis import KillableRedis
from store_doubles import AwaitRecordingStore, ThreadRecordingStore

from peak_trade.clock import ManualClock
from peak_trade.config import load_settings
from peak_trade.errors import InvalidArgumentError, RateLimitExceeded, StoreUnavailableError
from peak_trade.resilience import ResilienceRegistry, with_resilience
from peak_trade.resilience.ratelimit import RateLimiter
from peak_trade.store import MemoryStore, Store, store_from_url
from peak_trade.store.aio import AsyncStore, AsyncStoreAdapter, async_store_from_url
from store.conftest import StoreCase, store_case, timed_case, unique_namespace  # noqa: F401
from store.test_concurrency import run_workers, shared_url  # noqa: F401 - a real-process harness

T = TypeVar("T")


class Worker:
    """One worker of the fleet: a limiter on one store of ``case``, driven as the case is.

    Sync cases call ``acquire()`` & co.; ``-async`` cases hand the limiter the
    ``AsyncStore`` under the contract's sync facade and await ``aacquire()`` & co.
    on the case's loop (the loop the store's connections belong to).
    """

    def __init__(self, case: StoreCase, store: Any, **kwargs: Any) -> None:
        self.is_async = case.is_async
        self._run: Callable[[Awaitable[Any]], Any] | None = None
        backing = store
        if case.is_async:
            backing, self._run = store.astore, store._runner.run
        kwargs.setdefault("name", "fleet")
        self.limiter = RateLimiter(store=backing, clock=case.clock, register=False, **kwargs)

    def _drive(self, sync: Callable[[], T], aio: Callable[[], Awaitable[T]]) -> T:
        return sync() if self._run is None else self._run(aio())  # type: ignore[no-any-return]

    def acquire(self, endpoint: str | None = None, **kw: Any) -> bool:
        lim = self.limiter
        return self._drive(
            lambda: lim.acquire(endpoint, **kw), lambda: lim.aacquire(endpoint, **kw)
        )

    def acquire_or_raise(self, endpoint: str | None = None, **kw: Any) -> None:
        lim = self.limiter
        self._drive(
            lambda: lim.acquire_or_raise(endpoint, **kw),
            lambda: lim.aacquire_or_raise(endpoint, **kw),
        )

    def tokens(self, endpoint: str | None = None) -> float:
        lim = self.limiter
        return self._drive(
            lambda: lim.tokens_available(endpoint), lambda: lim.atokens_available(endpoint)
        )

    def wait_time(self, endpoint: str | None = None, cost: int = 1) -> float:
        lim = self.limiter
        return self._drive(
            lambda: lim.get_wait_time(endpoint, cost=cost),
            lambda: lim.aget_wait_time(endpoint, cost=cost),
        )

    def stats(self) -> dict[str, Any]:
        lim = self.limiter
        return self._drive(lim.get_stats, lim.aget_stats)


def two_workers(case: StoreCase, **kwargs: Any) -> tuple[Worker, Worker]:
    """Two workers whose stores are separate objects over the same data and namespace."""
    return Worker(case, case.store, **kwargs), Worker(case, case.open(case.namespace), **kwargs)


# --------------------------------------------------------------------------- every backend


def test_two_workers_share_one_bucket(store_case: StoreCase) -> None:  # noqa: F811
    a, b = two_workers(store_case, max_requests=5, window_seconds=50.0)  # 0.1 token/s
    granted = [w.acquire() for _ in range(5) for w in (a, b)]
    assert sum(granted) == 5  # one bucket of 5 for the fleet, not 5 each
    assert granted[:5] == [True] * 5
    with pytest.raises(RateLimitExceeded) as info:
        b.acquire_or_raise()
    assert info.value.retry_after == pytest.approx(10.0, abs=0.5)  # one token at 0.1/s
    assert info.value.context["limiter"] == "fleet"
    stats_a, stats_b = a.stats(), b.stats()
    assert stats_a["allowed"] + stats_b["allowed"] == 5  # each counts its own decisions
    assert stats_a["rejected"] + stats_b["rejected"] == 6
    assert stats_a["tokens_available"] == pytest.approx(0.0, abs=0.1)  # the bucket is fleet-wide


def test_costs_wait_times_and_endpoints(store_case: StoreCase) -> None:  # noqa: F811
    a, b = two_workers(store_case, max_requests=10, window_seconds=10.0)  # 1 token/s
    for w in (a, b):
        w.limiter.add_endpoint("orders", max_requests=2, window_seconds=100.0)
    assert a.acquire(cost=7)
    assert not b.acquire(cost=4)
    assert b.tokens() == pytest.approx(3.0, abs=0.1)
    assert b.wait_time(cost=4) == pytest.approx(1.0, abs=0.1)
    assert b.acquire(cost=3)
    assert [a.acquire("orders"), b.acquire("orders"), a.acquire("orders")] == [True, True, False]
    assert b.tokens("orders") == pytest.approx(0.0, abs=0.1)
    assert not a.acquire("unknown")  # unknown endpoints share the (empty) default bucket
    with pytest.raises(InvalidArgumentError, match="can never be granted"):
        a.acquire(cost=11)


def test_blocking_acquire_waits_on_the_clock_exactly_as_long_as_needed(
    timed_case: StoreCase,  # noqa: F811
) -> None:
    a, b = two_workers(timed_case, max_requests=2, window_seconds=2.0)  # 1 token/s
    assert a.acquire()
    assert b.acquire()
    assert b.acquire(blocking=True, timeout=0.5) is False  # cannot succeed in time: no sleep
    assert timed_case.clock.sleeps == []
    assert a.acquire(blocking=True) is True
    assert timed_case.clock.sleeps == [pytest.approx(1.0)]
    timed_case.advance(1.5)
    assert b.tokens() == pytest.approx(1.5)
    b.acquire_or_raise(cost=2, timeout=1.0)  # waits the missing half token, then takes both
    assert timed_case.clock.sleeps == [pytest.approx(1.0), pytest.approx(0.5)]
    assert a.tokens() == pytest.approx(0.0)


# --------------------------------------------------------------------------- real processes


def _half_sync_half_async(url: str, namespace: str, burst: int) -> Callable[[Store, int], int]:
    """20 attempts per process: even ones through the sync driver on the ``Store`` the
    harness opened, odd ones through the async driver on an ``AsyncStore`` of their own."""
    kwargs: dict[str, Any] = {"burst": burst, "name": "fleet", "register": False}

    def work(store: Store, index: int) -> int:
        if index % 2 == 0:
            limiter = RateLimiter(burst, 10**6, store=store, **kwargs)
            return sum(limiter.acquire() for _ in range(20))

        async def main() -> int:
            async with await async_store_from_url(url, namespace=namespace) as astore:
                limiter = RateLimiter(burst, 10**6, store=astore, **kwargs)
                return sum([await limiter.aacquire() for _ in range(20)])

        return asyncio.run(main())

    return work


def test_sync_and_async_processes_share_one_budget(shared_url: str) -> None:  # noqa: F811
    namespace, burst = unique_namespace(), 50
    granted = run_workers(
        shared_url, namespace, _half_sync_half_async(shared_url, namespace, burst)
    )
    assert sum(granted) == burst  # 8 x 20 attempts, one bucket of 50, refill ~0


# --------------------------------------------------------------------------- async never blocks


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def blocking_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A real store whose calls block: SQLite (file locks) or Redis (a round trip)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("redis_url")
    store = store_from_url(url, namespace=f"t-{os.getpid()}-{id(request)}")
    yield store
    store.close()


async def _every_async_form(limiter: RateLimiter) -> list[object]:
    return [
        await limiter.aacquire(),
        await limiter.aacquire("orders", cost=2),
        await limiter.aacquire(blocking=True, timeout=0.0),
        await limiter.atokens_available(),
        await limiter.aget_wait_time(cost=3),
        (await limiter.aget_stats())["allowed"],
    ]


def test_the_async_path_runs_a_sync_store_off_the_event_loop(blocking_store: Store) -> None:
    double = ThreadRecordingStore(blocking_store)
    limiter = RateLimiter(5, 50.0, name="offload", store=double, clock=ManualClock())  # type: ignore[arg-type]
    limiter.add_endpoint("orders", 2, 50.0)

    async def main() -> tuple[int, list[object]]:
        results = await _every_async_form(limiter)
        with pytest.raises(RateLimitExceeded):
            await limiter.aacquire_or_raise("orders")
        return threading.get_ident(), results

    loop_thread, results = asyncio.run(main())
    assert results[:3] == [True, True, True]
    assert results[5] == 3
    assert {name for name, _ in double.calls} == {"take_tokens", "tokens_available"}
    assert all(thread != loop_thread for _, thread in double.calls), double.calls
    assert limiter.acquire()  # the sync path calls the same store directly
    assert double.calls[-1] == ("take_tokens", threading.get_ident())


def test_the_async_path_awaits_an_async_store(redis_url: str) -> None:
    async def main() -> tuple[list[object], list[str]]:
        async with await async_store_from_url(redis_url, namespace=f"t-{os.getpid()}-aw") as real:
            double = AwaitRecordingStore(real)
            limiter = RateLimiter(5, 50.0, name="aw", store=double, clock=ManualClock())  # type: ignore[arg-type]
            limiter.add_endpoint("orders", 2, 50.0)
            return await _every_async_form(limiter), double.awaited

    results, awaited = asyncio.run(main())
    assert results[:3] == [True, True, True]
    assert results[3] == pytest.approx(3.0, abs=0.1)
    assert awaited == ["take_tokens"] * 3 + ["tokens_available"] * 2 + ["tokens_available"] * 2


def test_a_memory_store_on_the_async_path_needs_no_thread() -> None:
    store = AsyncStoreAdapter(MemoryStore(clock=ManualClock()))
    limiter = RateLimiter(1, 1.0, store=store, clock=ManualClock())

    async def main() -> list[bool]:
        return [await limiter.aacquire(), await limiter.aacquire()]

    assert asyncio.run(main()) == [True, False]


def test_sync_calls_on_an_async_store_are_refused_with_a_way_out() -> None:
    store = AsyncStoreAdapter(MemoryStore(clock=ManualClock()))
    limiter = RateLimiter(
        3, 1.0, name="aio", store=store, clock=ManualClock()
    )  # construction is fine
    assert limiter.async_only
    for call in (
        limiter.acquire,
        limiter.acquire_or_raise,
        limiter.tokens_available,
        limiter.get_wait_time,
    ):
        with pytest.raises(InvalidArgumentError, match="AsyncStore") as info:
            call()
        assert "aacquire" in (info.value.hint or "")
        assert info.value.context["limiter"] == "aio"
    stats = limiter.get_stats()  # counts and limits are local: readable from sync code
    assert stats["tokens_available"] is None
    assert stats["max_requests"] == 3
    assert asyncio.run(limiter.aacquire())  # nothing was taken by the refused calls
    assert asyncio.run(limiter.atokens_available()) == pytest.approx(2.0)


class PlainMethodsAsyncStore:
    """An ``AsyncStore`` whose primitives are plain methods returning awaitables."""

    def __init__(self, inner: AsyncStore) -> None:
        self.inner, self.url, self.namespace = inner, inner.url, inner.namespace

    def take_tokens(self, key: str, rate: float, burst: int, cost: int = 1) -> Any:
        return self.inner.take_tokens(key, rate, burst, cost)

    def tokens_available(self, key: str, rate: float, burst: int) -> Any:
        return self.inner.tokens_available(key, rate, burst)

    async def __aenter__(self) -> PlainMethodsAsyncStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def test_an_async_store_is_known_by_its_async_context_manager_too() -> None:
    store = PlainMethodsAsyncStore(AsyncStoreAdapter(MemoryStore(clock=ManualClock())))
    limiter = RateLimiter(1, 1.0, store=store, clock=ManualClock())  # type: ignore[arg-type]
    assert limiter.async_only

    async def main() -> list[bool]:
        return [await limiter.aacquire(), await limiter.aacquire()]

    assert asyncio.run(main()) == [True, False]


def test_a_store_that_is_neither_is_refused_at_construction() -> None:
    with pytest.raises(InvalidArgumentError, match="store"):
        RateLimiter(1, 1.0, store=object())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- with_resilience


def _registry(store: Any) -> ResilienceRegistry:
    settings = load_settings(
        environ={"PEAK_TRADE_RATE_LIMIT_REQUESTS": "2", "PEAK_TRADE_RATE_LIMIT_WINDOW": "100"},
        use_default_file=False,
    ).resilience
    return ResilienceRegistry(settings, clock=ManualClock(), store=store)


def test_with_resilience_on_async_def_takes_permits_off_the_loop(blocking_store: Store) -> None:
    double = ThreadRecordingStore(blocking_store)
    reg = _registry(double)

    @with_resilience("data", "api", use_rate_limiter=True, use_circuit_breaker=False, registry=reg)
    async def fetch() -> str:
        return "ok"

    async def main() -> int:
        assert [await fetch(), await fetch()] == ["ok", "ok"]
        with pytest.raises(RateLimitExceeded):
            await fetch()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert [name for name, _ in double.calls] == ["take_tokens"] * 3
    assert all(thread != loop_thread for _, thread in double.calls), double.calls


def test_with_resilience_on_an_async_store(redis_url: str) -> None:
    async def main() -> list[str]:
        async with await async_store_from_url(redis_url, namespace=f"t-{os.getpid()}-wr") as real:
            double = AwaitRecordingStore(real)
            reg = _registry(double)

            @with_resilience(
                "data", "api", use_rate_limiter=True, use_circuit_breaker=False, registry=reg
            )
            async def fetch() -> str:
                return "ok"

            assert [await fetch(), await fetch()] == ["ok", "ok"]
            with pytest.raises(RateLimitExceeded):
                await fetch()
            return double.awaited

    assert asyncio.run(main()) == ["take_tokens"] * 3


def test_with_resilience_refuses_a_sync_function_on_an_async_store() -> None:
    reg = _registry(AsyncStoreAdapter(MemoryStore(clock=ManualClock())))
    decorate = with_resilience(
        "data", "api", use_rate_limiter=True, use_circuit_breaker=False, registry=reg
    )
    with pytest.raises(InvalidArgumentError, match="AsyncStore") as info:

        @decorate
        def fetch() -> str:  # pragma: no cover - never decorated
            return "ok"

    assert info.value.hint


# --------------------------------------------------------------------------- store failures


@contextlib.contextmanager
def hung(server: KillableRedis) -> Iterator[None]:
    """SIGSTOP the server: connections stay open and nothing answers (a hung host)."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


BUDGET = {"connect_timeout": 0.5, "socket_timeout": 0.2}
"""The store's per-command budget in the hung-store tests."""


@pytest.mark.redis
@pytest.mark.chaos
def test_a_hung_store_fails_a_sync_decision_within_its_budget(
    killable_redis: KillableRedis,
) -> None:
    clock = ManualClock()
    with store_from_url(killable_redis.url, **BUDGET) as store:
        limiter = RateLimiter(10, 1.0, name="hung", store=store, clock=clock, register=False)
        assert limiter.acquire()
        with hung(killable_redis), pytest.raises(StoreUnavailableError):
            limiter.acquire(blocking=True, timeout=5.0)  # never fails open, never waits
        assert limiter.acquire()
    assert clock.sleeps == []


@pytest.mark.redis
@pytest.mark.chaos
def test_a_hung_store_fails_an_async_decision_within_its_budget(
    killable_redis: KillableRedis,
) -> None:
    clock = ManualClock()

    async def main() -> None:
        async with await async_store_from_url(killable_redis.url, **BUDGET) as store:
            limiter = RateLimiter(10, 1.0, name="hung", store=store, clock=clock, register=False)
            assert await limiter.aacquire()
            with hung(killable_redis), pytest.raises(StoreUnavailableError):
                await limiter.aacquire(blocking=True, timeout=5.0)
            assert await limiter.aacquire()

    asyncio.run(main())
    assert clock.sleeps == []
