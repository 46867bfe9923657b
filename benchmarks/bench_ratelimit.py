"""Rate limiters: ours vs limits and pyrate-limiter, success path (permit granted).

Every limiter is configured so that the measured calls are all granted (a huge
budget): we measure the per-decision overhead, not the waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks._harness import (
    Suite,
    async_per_call,
    async_per_call_interleaved,
    per_call,
    per_call_interleaved,
    threaded_interleaved,
)

N = 50_000
HUGE = 10**9
THREADS = 4


def _local() -> Suite:
    from limits import RateLimitItemPerSecond
    from limits.storage import MemoryStorage
    from limits.strategies import (
        FixedWindowRateLimiter,
        MovingWindowRateLimiter,
        SlidingWindowCounterRateLimiter,
    )
    from pyrate_limiter import Duration, Limiter, Rate

    from peak_trade.resilience.ratelimit import RateLimiter

    suite = Suite(
        "Rate limiter, in process: one granted decision", baseline="peak_trade RateLimiter"
    )
    ours = RateLimiter(HUGE, 1.0)
    suite.add("peak_trade RateLimiter", per_call(ours.acquire, number=N), "token bucket")
    ours.add_endpoint("fetch_ohlcv", HUGE, 1.0)
    suite.add(
        "peak_trade RateLimiter (endpoint)",
        per_call(lambda: ours.acquire("fetch_ohlcv"), number=N),
        "named endpoint bucket",
    )
    item = RateLimitItemPerSecond(HUGE)
    for label, cls in (
        ("limits MovingWindow", MovingWindowRateLimiter),
        ("limits FixedWindow", FixedWindowRateLimiter),
        ("limits SlidingWindowCounter", SlidingWindowCounterRateLimiter),
    ):
        strategy = cls(MemoryStorage())
        suite.add(label, per_call(lambda s=strategy: s.hit(item, "bench"), number=N // 5))
    pyrate = Limiter(Rate(HUGE, Duration.SECOND))
    suite.add(
        "pyrate-limiter InMemoryBucket",
        per_call(lambda: pyrate.try_acquire("bench", blocking=False), number=N // 5),
    )
    return suite


def run() -> list[Suite]:
    return [_local(), *_redis()]


def _redis() -> list[Suite]:
    import sys
    import tempfile
    from pathlib import Path

    from limits import RateLimitItemPerSecond
    from limits.storage import RedisStorage
    from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

    from peak_trade.resilience.ratelimit import RateLimiter
    from peak_trade.store import store_from_url

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from redis_fixture import _start, _stop, find_redis_server

    executable = find_redis_server()
    suite = Suite(
        "Rate limiter shared through Redis: one granted decision (one round trip)",
        baseline="peak_trade RateLimiter(store=redis)",
    )
    threaded = Suite(
        f"Rate limiter shared through Redis, {THREADS} threads sharing one limiter: "
        "wall time per granted decision (1 / throughput)",
        baseline="peak_trade RateLimiter(store=redis)",
    )
    if executable is None:
        suite.add("skipped", 0.0, "no redis-server found")
        return [suite]
    with tempfile.TemporaryDirectory() as workdir:
        server = _start(executable, Path(workdir))
        try:
            store = store_from_url(server.url, namespace="bench")
            ours = RateLimiter(HUGE, 1.0, name="bench", store=store)
            item = RateLimitItemPerSecond(HUGE)
            storage = RedisStorage(server.url)
            fixed, moving = FixedWindowRateLimiter(storage), MovingWindowRateLimiter(storage)
            contenders: dict[str, Callable[[], object]] = {
                "peak_trade RateLimiter(store=redis)": ours.acquire,
                "limits FixedWindow (redis)": lambda: fixed.hit(item, "fixed"),
                "limits MovingWindow (redis)": lambda: moving.hit(item, "moving"),
            }
            times = per_call_interleaved(contenders, number=N // 20)
            notes = {"peak_trade RateLimiter(store=redis)": "GCRA in one Lua script, server time"}
            for label, seconds in times.items():
                suite.add(label, seconds, notes.get(label, ""))
            for label, seconds in threaded_interleaved(contenders, THREADS, N // 20).items():
                threaded.add(label, seconds, f"{1 / seconds:,.0f} decisions/s")
            store.close()
            asynchronous = _redis_async(server.url)
            mixed = _redis_async_vs_sync(server.url)
        finally:
            _stop(server.process, server.host, server.port)
    return [suite, threaded, asynchronous, mixed]


def _redis_async(url: str) -> Suite:
    import asyncio

    from limits import RateLimitItemPerSecond
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import FixedWindowRateLimiter

    from peak_trade.resilience.ratelimit import RateLimiter
    from peak_trade.store.aio import async_store_from_url

    suite = Suite(
        "Shared bucket in Redis from asyncio: one granted decision (one round trip)",
        baseline="peak_trade AsyncRedisStore.take_tokens",
    )

    async def measure() -> dict[str, float]:
        store = await async_store_from_url(url, namespace="bench-async")
        item = RateLimitItemPerSecond(HUGE)
        fixed = FixedWindowRateLimiter(RedisStorage("async+" + url, implementation="redispy"))
        limiter = RateLimiter(HUGE, 1.0, name="bench-async", store=store, register=False)
        contenders: dict[str, Callable[[], Any]] = {
            "peak_trade AsyncRedisStore.take_tokens": lambda: store.take_tokens("b", HUGE, 1),
            "peak_trade RateLimiter(store=AsyncRedisStore).aacquire": limiter.aacquire,
            "limits.aio FixedWindow (redis-py)": lambda: fixed.hit(item, "fixed"),
        }
        best = await async_per_call_interleaved(contenders, number=N // 20)
        await store.close()
        return best

    notes = {
        "peak_trade AsyncRedisStore.take_tokens": "RateLimiter's GCRA decision, awaited",
        "peak_trade RateLimiter(store=AsyncRedisStore).aacquire": "the limiter on top of it",
    }
    for label, seconds in asyncio.run(measure()).items():
        suite.add(label, seconds, notes.get(label, ""))
    return suite


SYNC_ACQUIRE = "sync acquire(), RedisStore"


def _redis_async_vs_sync(url: str) -> Suite:
    """The shared limiter from asyncio against the same limiter from sync code.

    The target: an awaited ``aacquire()`` on an ``AsyncStore`` costs at most 1.2x
    the sync ``acquire()`` on the same Redis. One round of each runs in turn
    (best of 7 rounds), so load that drifts during the run hits all rows alike.
    """
    import asyncio

    from peak_trade.resilience.ratelimit import RateLimiter
    from peak_trade.store import store_from_url
    from peak_trade.store.aio import async_store_from_url

    suite = Suite(
        "Shared limiter in Redis, asyncio vs sync: one granted decision, alternating rounds",
        baseline=SYNC_ACQUIRE,
    )
    number = N // 20
    with asyncio.Runner() as runner:
        sync_store = store_from_url(url, namespace="bench-mixed")
        async_store = runner.run(async_store_from_url(url, namespace="bench-mixed"))
        # one name on both stores: the sync and the async limiters share one bucket
        sync_limiter = RateLimiter(HUGE, 1.0, name="mixed", store=sync_store, register=False)
        async_limiter = RateLimiter(HUGE, 1.0, name="mixed", store=async_store, register=False)
        rounds: dict[str, Callable[[], float]] = {
            SYNC_ACQUIRE: lambda: per_call(sync_limiter.acquire, number=number, repeat=1),
            "await aacquire(), AsyncRedisStore": lambda: runner.run(
                async_per_call(async_limiter.aacquire, number=number)
            ),
            "await aacquire(), RedisStore": lambda: runner.run(
                async_per_call(sync_limiter.aacquire, number=number)
            ),
        }
        for measure in rounds.values():  # warm up: connections, script loads, worker threads
            measure()
        best = dict.fromkeys(rounds, float("inf"))
        for _ in range(7):
            for label, measure in rounds.items():
                best[label] = min(best[label], measure())
        runner.run(async_store.close())
        sync_store.close()
    notes = {
        SYNC_ACQUIRE: "blocks its thread for the round trip",
        "await aacquire(), AsyncRedisStore": "target <= 1.20x: awaits the round trip",
        "await aacquire(), RedisStore": "sync store: the call runs in a worker thread",
    }
    for label, seconds in best.items():
        suite.add(label, seconds, notes[label])
    return suite
