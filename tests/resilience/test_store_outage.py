"""A failure of our own infrastructure is not a failure of the dependency.

A store-backed registry shares limiter buckets and breaker state through
Redis. When Redis goes away, the limiter cannot decide and raises
``StoreUnavailableError`` at once (it never fails open: an exchange budget
must not be overrun because our bookkeeping is down). That error must not be
counted against the protected service, or a healthy exchange's breaker opens
and keeps rejecting for the whole recovery timeout after Redis is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from killable_redis import KillableRedis

from peak_trade.clock import ManualClock
from peak_trade.config import load_settings
from peak_trade.errors import (
    BulkheadFullError,
    CircuitOpenError,
    OperationTimeoutError,
    RateLimitExceeded,
    StoreError,
    StoreUnavailableError,
)
from peak_trade.resilience import (
    CircuitBreaker,
    CircuitState,
    RateLimiter,
    ResilienceRegistry,
    with_resilience,
)
from peak_trade.store import store_from_url

pytestmark = [pytest.mark.redis, pytest.mark.chaos]


def _registry(url: str, clock: ManualClock) -> ResilienceRegistry:
    settings = load_settings(
        environ={
            "PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD": "2",
            "PEAK_TRADE_CIRCUIT_BREAKER_TIMEOUT": "600",
            "PEAK_TRADE_RATE_LIMIT_REQUESTS": "1000",
        },
        use_default_file=False,
    ).resilience
    store = store_from_url(url, connect_timeout=0.5, socket_timeout=2.0)
    return ResilienceRegistry(settings, clock=clock, store=store)


def test_a_redis_outage_does_not_open_the_breaker_of_a_healthy_service(
    killable_redis: KillableRedis,
) -> None:
    clock = ManualClock()
    reg = _registry(killable_redis.url, clock)
    calls: list[str] = []

    @with_resilience("exchange", "ticker", use_rate_limiter=True, registry=reg)
    def ticker(symbol: str) -> str:
        calls.append(symbol)
        return f"{symbol}: 100"

    assert ticker("BTC") == "BTC: 100"
    killable_redis.stop()
    for _ in range(5):  # well past the threshold of 2
        with pytest.raises(StoreUnavailableError):
            ticker("BTC")
    breaker = reg.circuit_breakers()["exchange.ticker"]
    assert breaker.state is CircuitState.CLOSED
    assert breaker.stats.failure_count == 0
    assert breaker.stats.ignored_count == 5
    assert calls == ["BTC"]  # no permit, no call: the limiter never fails open

    killable_redis.start()
    assert ticker("BTC") == "BTC: 100"  # at once: no recovery timeout to sit out
    assert breaker.state is CircuitState.CLOSED


def test_the_same_holds_on_the_async_path(killable_redis: KillableRedis) -> None:
    clock = ManualClock()
    reg = _registry(killable_redis.url, clock)

    @with_resilience("exchange", "book", use_rate_limiter=True, registry=reg)
    async def book() -> str:
        return "book"

    async def main() -> None:
        assert await book() == "book"
        killable_redis.stop()
        for _ in range(4):
            with pytest.raises(StoreUnavailableError):
                await book()
        killable_redis.start()
        assert await book() == "book"

    asyncio.run(main())
    assert reg.circuit_breakers()["exchange.book"].stats.failure_count == 0


def test_a_limiter_with_its_store_down_raises_at_once_and_never_grants(
    killable_redis: KillableRedis,
) -> None:
    clock = ManualClock()
    store = store_from_url(killable_redis.url, connect_timeout=0.5)
    limiter = RateLimiter(10, 1.0, name="binance", store=store, clock=clock, register=False)
    assert limiter.acquire()
    killable_redis.stop()
    with pytest.raises(StoreUnavailableError) as info:
        limiter.acquire()
    assert info.value.hint
    with pytest.raises(StoreUnavailableError):
        limiter.acquire_or_raise()
    with pytest.raises(StoreUnavailableError):
        limiter.acquire(blocking=True, timeout=5.0)  # no waiting for a store that is down
    with pytest.raises(StoreUnavailableError):
        asyncio.run(limiter.aacquire(blocking=True, timeout=5.0))
    assert clock.sleeps == []
    killable_redis.start()
    assert limiter.acquire()


# --------------------------------------------------------------------------- every breaker


def _raising(exc: BaseException) -> Callable[[], Any]:
    def call() -> Any:
        raise exc

    return call


REJECTIONS_AND_INFRASTRUCTURE = [
    StoreUnavailableError("redis down"),
    StoreError("corrupt record"),
    RateLimitExceeded("slow down", retry_after=1.0),
    BulkheadFullError("full"),
    CircuitOpenError("inner breaker open", name="inner", retry_after=5.0),
]


@pytest.mark.parametrize("exc", REJECTIONS_AND_INFRASTRUCTURE, ids=lambda e: type(e).__name__)
def test_no_breaker_counts_our_own_rejections_or_store_failures(exc: BaseException) -> None:
    breaker = CircuitBreaker(1, 60.0, name="svc", clock=ManualClock(), register=False)
    with pytest.raises(type(exc)):
        breaker.call(_raising(exc))()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.stats.ignored_count == 1


def test_a_timeout_is_the_dependency_failing_and_counts() -> None:
    breaker = CircuitBreaker(1, 60.0, name="svc", clock=ManualClock(), register=False)
    with pytest.raises(OperationTimeoutError):
        breaker.call(_raising(OperationTimeoutError("hung")))()
    assert breaker.state is CircuitState.OPEN


def test_a_breaker_protecting_the_store_itself_counts_store_errors_when_told_to() -> None:
    breaker = CircuitBreaker(1, 60.0, StoreError, name="store", clock=ManualClock(), register=False)
    with pytest.raises(StoreUnavailableError):
        breaker.call(_raising(StoreUnavailableError("down")))()
    assert breaker.state is CircuitState.OPEN
