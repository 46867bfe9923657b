from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peak_trade.clock import ManualClock
from peak_trade.errors import InvalidArgumentError, RateLimitExceeded
from peak_trade.events import EventBus, EventRecorder
from peak_trade.resilience.ratelimit import RateLimitDecision, RateLimiter
from peak_trade.store import MemoryStore


def make(
    max_requests: int = 10, window: float = 10.0, **kw: object
) -> tuple[RateLimiter, ManualClock]:
    clock = ManualClock(start=0.0)
    return RateLimiter(max_requests, window, clock=clock, **kw), clock  # type: ignore[arg-type]


def test_seed_002_basic_usage() -> None:
    limiter, clock = make(100, 60)
    granted = sum(limiter.acquire() for _ in range(150))
    assert granted == 100  # the whole burst, then nothing
    assert limiter.acquire() is False
    assert limiter.get_wait_time() == pytest.approx(0.6)  # 100 per 60 s = one token per 0.6 s
    clock.advance(0.6)
    assert limiter.acquire() is True


def test_seed_002_endpoint_specific_limits() -> None:
    limiter, _ = make(100, 60)
    limiter.add_endpoint("fetch_ohlcv", max_requests=50, window_seconds=60)
    limiter.add_endpoint("fetch_ticker", max_requests=200, window_seconds=60)
    assert sum(limiter.acquire("fetch_ohlcv") for _ in range(60)) == 50
    assert sum(limiter.acquire("fetch_ticker") for _ in range(250)) == 200
    assert sum(limiter.acquire() for _ in range(120)) == 100  # default bucket untouched so far
    assert limiter.acquire("unknown_endpoint") is False  # unknown endpoints share the default


def test_refill_is_continuous_and_capped_at_burst() -> None:
    limiter, clock = make(10, 10.0)  # 1 token/s
    for _ in range(10):
        assert limiter.acquire()
    clock.advance(3.5)
    assert limiter.tokens_available() == pytest.approx(3.5)
    clock.advance(1000)
    assert limiter.tokens_available() == pytest.approx(10)


def test_burst_smaller_than_rate() -> None:
    limiter, clock = make(100, 1.0, burst=5)
    assert sum(limiter.acquire() for _ in range(10)) == 5
    clock.advance(0.02)  # two tokens at 100/s
    assert sum(limiter.acquire() for _ in range(10)) == 2


def test_costs() -> None:
    limiter, _ = make(10, 10.0)
    assert limiter.acquire(cost=7)
    assert not limiter.acquire(cost=4)
    assert limiter.get_wait_time(cost=4) == pytest.approx(1.0)
    assert limiter.acquire(cost=3)
    with pytest.raises(InvalidArgumentError, match="can never be granted"):
        limiter.acquire(cost=11)
    with pytest.raises(InvalidArgumentError):
        limiter.acquire(cost=0)


def test_blocking_acquire_waits_on_the_clock_exactly_as_long_as_needed() -> None:
    limiter, clock = make(2, 2.0)  # 1 token/s
    assert limiter.acquire()
    assert limiter.acquire()
    assert limiter.acquire(blocking=True) is True
    assert clock.sleeps == [pytest.approx(1.0)]
    assert clock.time() == pytest.approx(1.0)


def test_blocking_acquire_gives_up_without_sleeping_when_timeout_is_too_short() -> None:
    limiter, clock = make(1, 10.0)  # one token per 10 s
    assert limiter.acquire()
    assert limiter.acquire(blocking=True, timeout=5.0) is False
    assert clock.sleeps == []
    assert limiter.acquire(blocking=True, timeout=10.0) is True
    assert clock.sleeps == [pytest.approx(10.0)]


def test_acquire_or_raise_carries_retry_after() -> None:
    limiter, _ = make(1, 4.0, name="binance")
    limiter.acquire_or_raise()
    with pytest.raises(RateLimitExceeded) as info:
        limiter.acquire_or_raise()
    assert info.value.retry_after == pytest.approx(4.0)
    assert info.value.context["limiter"] == "binance"
    assert "binance" in str(info.value)


def test_async_acquire_shares_the_core() -> None:
    limiter, clock = make(1, 1.0)

    async def main() -> list[bool]:
        return [
            await limiter.aacquire(),
            await limiter.aacquire(),
            await limiter.aacquire(blocking=True),
        ]

    assert asyncio.run(main()) == [True, False, True]
    assert clock.sleeps == [pytest.approx(1.0)]


def test_async_forms_answer_as_the_sync_ones() -> None:
    limiter, clock = make(4, 4.0, name="twin")  # 1 token/s

    async def main() -> None:
        await limiter.aacquire_or_raise(cost=3)
        assert await limiter.atokens_available() == pytest.approx(1.0)
        assert await limiter.aget_wait_time(cost=3) == pytest.approx(2.0)
        with pytest.raises(RateLimitExceeded) as info:
            await limiter.aacquire_or_raise(cost=2)
        assert info.value.retry_after == pytest.approx(1.0)
        await limiter.aacquire_or_raise(cost=2, timeout=1.0)  # waits the second on the clock
        assert await limiter.aget_stats() == limiter.get_stats()

    asyncio.run(main())
    assert clock.sleeps == [pytest.approx(1.0)]
    assert limiter.get_stats()["allowed"] == 2


def test_a_shared_bucket_publishes_the_same_decisions_on_both_paths() -> None:
    bus = EventBus()
    store = MemoryStore(clock=ManualClock())
    limiter = RateLimiter(1, 1.0, name="shared", store=store, bus=bus, register=False)
    rec = EventRecorder(bus, RateLimitDecision)
    assert limiter.acquire()
    assert not asyncio.run(limiter.aacquire())
    with pytest.raises(RateLimitExceeded):
        asyncio.run(limiter.aacquire_or_raise())
    assert [(e.limiter, e.allowed, e.cost) for e in rec.events] == [
        ("shared", True, 1),
        ("shared", False, 1),
        ("shared", False, 1),
    ]
    assert limiter.get_stats()["rejected"] == 2


def test_stats_report_rejection_rate_per_endpoint_and_total() -> None:
    limiter, _ = make(2, 10.0)
    limiter.add_endpoint("orders", max_requests=1, window_seconds=10)
    for _ in range(4):
        limiter.acquire()
    limiter.acquire("orders")
    limiter.acquire("orders")
    stats = limiter.get_stats()
    assert stats["total_requests"] == 6
    assert stats["rejected"] == 3
    assert stats["rejection_rate"] == pytest.approx(0.5)
    assert stats["endpoints"]["orders"]["rejection_rate"] == pytest.approx(0.5)
    assert limiter.get_stats("orders")["allowed"] == 1
    assert stats["max_requests"] == 2
    assert stats["window_seconds"] == 10.0


def test_events_published_only_to_subscribers() -> None:
    bus = EventBus()
    limiter, _ = make(1, 1.0, bus=bus, name="x")
    limiter.acquire()  # nobody listening: nothing built
    rec = EventRecorder(bus, RateLimitDecision)
    limiter.acquire()
    assert rec.events == [RateLimitDecision("x", "default", False, pytest.approx(1.0), 1)]
    with pytest.raises(RateLimitExceeded):
        limiter.acquire_or_raise()
    assert len(rec.events) == 2
    rec.stop()  # the hot path is back: nothing built or published
    limiter.acquire()
    with pytest.raises(RateLimitExceeded):
        limiter.acquire_or_raise()
    assert len(rec.events) == 2
    assert limiter.get_stats()["total_requests"] == 5


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((0, 60), {}), ((10, 0), {}), ((10, -1), {}), ((10, 60), {"burst": 0}), ((1.5, 60), {})],
)
def test_invalid_limits_are_clear_errors(
    args: tuple[object, object], kwargs: dict[str, object]
) -> None:
    with pytest.raises(InvalidArgumentError, match="Invalid rate limit") as info:
        RateLimiter(*args, **kwargs)  # type: ignore[arg-type]
    assert info.value.hint


def test_threads_never_get_more_than_the_bucket() -> None:
    limiter, _ = make(1000, 10**9)  # effectively no refill
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = sum(limiter.acquire() for _ in range(500))
        with lock:
            granted.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 1000
    stats = limiter.get_stats()
    assert (stats["allowed"], stats["rejected"]) == (1000, 3000)


@given(
    steps=st.lists(
        st.tuples(st.floats(0, 5, allow_nan=False), st.integers(1, 5)), min_size=1, max_size=60
    )
)
def test_never_grants_more_than_burst_plus_refill(steps: list[tuple[float, int]]) -> None:
    limiter, clock = make(5, 10.0)  # 0.5 tokens/s, burst 5
    granted = 0
    for advance, cost in steps:
        clock.advance(advance)
        if limiter.acquire(cost=cost):
            granted += cost
        assert granted <= 5 + 0.5 * clock.time() + 1e-9
