"""Every resilience pattern has ``kind``, ``name`` and ``.stats``, a frozen snapshot of counters.

A metrics layer reads ``pattern.stats`` at scrape time, whatever the pattern;
the counters are updated by the calls themselves, so reading them never takes
a lock a call waits for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest
from pattern_helpers import hang_all, one_of_each

from peak_trade.clock import ManualClock
from peak_trade.errors import BulkheadFullError, OperationTimeoutError, RateLimitExceeded
from peak_trade.resilience import (
    Bulkhead,
    BulkheadStats,
    CircuitBreakerStats,
    Fallback,
    FallbackStats,
    FallbackStrategy,
    GiveUpReason,
    PatternKind,
    PatternStats,
    RateLimiter,
    RateLimiterStats,
    Retry,
    RetryStats,
    Timeout,
    TimeoutMode,
    TimeoutStats,
    retry_with_backoff,
)
from peak_trade.store import store_from_url


def test_every_pattern_has_a_kind_a_name_and_frozen_stats() -> None:
    patterns = one_of_each(ManualClock())
    assert [p.kind for p in patterns] == list(PatternKind)
    assert [p.name for p in patterns] == list("brlhtf")
    for pattern in patterns:
        stats = pattern.stats
        assert isinstance(stats, PatternStats)
        assert dataclasses.is_dataclass(stats)
        first = dataclasses.fields(stats)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(stats, first, 1)
        dataclasses.asdict(stats)  # exportable as plain data


def test_the_breakers_stats_are_pattern_stats() -> None:
    assert issubclass(CircuitBreakerStats, PatternStats)


def test_rate_limiter_stats_count_per_endpoint_and_keep_the_seed_dict() -> None:
    limiter = RateLimiter(2, 1.0, name="binance", clock=ManualClock())
    limiter.add_endpoint("orders", 1, 1.0)
    assert [limiter.acquire() for _ in range(3)] == [True, True, False]
    assert [limiter.acquire("orders") for _ in range(2)] == [True, False]
    stats = limiter.stats
    assert isinstance(stats, RateLimiterStats)
    assert (stats.allowed, stats.rejected, stats.total_requests) == (3, 2, 5)
    orders = stats.endpoints["orders"]
    assert (orders.allowed, orders.rejected, orders.max_requests, orders.burst) == (1, 1, 1, 1)
    assert stats.endpoints["default"].rejection_rate == pytest.approx(1 / 3)
    assert limiter.get_stats()["endpoints"]["orders"]["rejected"] == 1  # seed 002's dict
    assert stats.rejection_rate == limiter.get_stats()["rejection_rate"]


def test_a_shared_limiter_counts_this_processes_decisions() -> None:
    store = store_from_url("memory://")
    limiter = RateLimiter(1, 60.0, name="shared", store=store, clock=ManualClock())
    assert [limiter.acquire(), limiter.acquire()] == [True, False]
    assert (limiter.stats.allowed, limiter.stats.rejected) == (1, 1)


def test_retry_stats_count_calls_retries_and_why_retries_gave_up() -> None:
    clock = ManualClock()
    outcomes = iter([ConnectionError, None, ConnectionError, ConnectionError, None])

    @retry_with_backoff(max_attempts=2, base_delay=1.0, clock=clock, name="fetch")
    def fetch() -> str:
        error = next(outcomes, None)
        if error is not None:
            raise error("down")
        return "ok"

    assert fetch() == "ok"  # one retry
    with pytest.raises(ConnectionError):
        fetch()  # attempts used up
    assert fetch() == "ok"  # first attempt
    stats = fetch.retry.stats  # type: ignore[attr-defined]
    assert isinstance(stats, RetryStats)
    assert stats == RetryStats(
        calls=3,
        retries=2,
        succeeded_after_retry=1,
        exhausted={GiveUpReason.ATTEMPTS: 1, GiveUpReason.DEADLINE: 0},
    )
    assert stats.gave_up == 1


def test_a_retry_that_ran_into_its_deadline_is_counted_so() -> None:
    retry = Retry(5, 10.0, jitter=False, deadline=15.0, clock=ManualClock(), name="slow")
    flaky = retry(_fail)
    with pytest.raises(ConnectionError):
        flaky()
    assert retry.stats.exhausted[GiveUpReason.DEADLINE] == 1
    assert retry.stats.retries == 1


def test_an_unnamed_retry_takes_the_name_of_the_function_it_decorates() -> None:
    @retry_with_backoff(max_attempts=1)
    def fetch_ticker() -> None:
        return None

    assert fetch_ticker.retry.name.endswith("fetch_ticker")  # type: ignore[attr-defined]


def test_bulkhead_stats_track_in_flight_peak_admitted_and_rejected() -> None:
    bulkhead = Bulkhead(2, name="pool", clock=ManualClock())
    inside = threading.Barrier(3, timeout=10)
    release = threading.Event()

    @bulkhead
    def hold() -> None:
        inside.wait()
        release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    with pytest.raises(BulkheadFullError):
        hold()
    assert bulkhead.stats == BulkheadStats(limit=2, in_flight=2, peak=2, admitted=2, rejected=1)
    release.set()
    for t in threads:
        t.join(10)
    assert bulkhead.stats == BulkheadStats(limit=2, in_flight=0, peak=2, admitted=2, rejected=1)


def test_timeout_stats_count_calls_timeouts_rejections_and_abandoned_threads() -> None:
    clock = ManualClock()
    gate = threading.Event()
    timeout = Timeout(5, name="exchange", max_workers=1, clock=clock)
    hangs = timeout(lambda: gate.wait(60))
    hang_all(hangs, 1, clock, 5)
    with pytest.raises(BulkheadFullError):
        hangs()
    assert timeout.stats == TimeoutStats(calls=2, timed_out=1, rejected=1, abandoned=1)
    gate.set()
    assert timeout._workers.wait_until_settled(timeout=60)
    assert timeout.stats.abandoned == 0


def test_an_async_timeout_is_counted_too() -> None:
    clock = ManualClock()
    timeout = Timeout(1.0, name="stream", clock=clock)

    @timeout
    async def forever() -> None:
        await asyncio.Event().wait()

    async def scenario() -> None:
        task = asyncio.create_task(forever())
        await asyncio.sleep(0)
        clock.advance(1.0)
        with pytest.raises(OperationTimeoutError):
            await task

    asyncio.run(scenario())
    assert (timeout.stats.calls, timeout.stats.timed_out) == (1, 1)


def test_the_timeout_mode_is_an_enum_and_strings_still_work() -> None:
    assert Timeout(1.0, mode="deadline").mode is TimeoutMode.DEADLINE
    assert Timeout(1.0).mode is TimeoutMode.THREAD
    assert Timeout(1.0, mode=TimeoutMode.DEADLINE).mode == "deadline"


def test_fallback_stats_count_answers_and_misses_of_its_strategy() -> None:
    clock = ManualClock()
    last = Fallback(last_good=True, max_age=10.0, name="ticker", clock=clock)
    up = [True]

    @last
    def price(symbol: str) -> float:
        if not up[0]:
            raise ConnectionError("down")
        return 1.0

    assert price("BTC") == 1.0
    up[0] = False
    assert price("BTC") == 1.0  # the fallback answered with the last good price
    with pytest.raises(ConnectionError):
        price("ETH")  # nothing to answer with: the error propagates
    assert last.stats == FallbackStats(strategy=FallbackStrategy.LAST_GOOD, used=1, unavailable=1)


def test_a_rate_limit_rejection_is_counted_by_the_limiter_not_as_anything_else() -> None:
    limiter = RateLimiter(1, 60.0, name="l", clock=ManualClock())
    limiter.acquire_or_raise()
    with pytest.raises(RateLimitExceeded):
        limiter.acquire_or_raise()
    assert (limiter.stats.allowed, limiter.stats.rejected) == (1, 1)


def _fail() -> None:
    raise ConnectionError("down")
