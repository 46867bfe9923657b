"""Seed 001 basics: a circuit breaker, a retry, a rate limiter.

Runs offline in well under a second: time comes from a ManualClock, so the
60 s recovery timeout and the back-off waits pass instantly.
Run: python examples/resilience/01_basics.py
"""

from __future__ import annotations

import contextlib

from peak_trade.clock import ManualClock
from peak_trade.errors import CircuitOpenError
from peak_trade.resilience import CircuitBreaker, CircuitState, RateLimiter, retry_with_backoff

clock = ManualClock()

# --- circuit breaker: class pattern ---------------------------------------------------
breaker = CircuitBreaker(
    failure_threshold=3, recovery_timeout=30.0, name="api_breaker", clock=clock
)
service_up = False


@breaker.call
def call_api() -> str:
    if not service_up:
        raise ConnectionError("api unreachable")
    return "200 OK"


for _ in range(3):
    with contextlib.suppress(ConnectionError):
        call_api()
print(f"after 3 failures: {breaker.state.name}")  # OPEN
try:
    call_api()
except CircuitOpenError as err:
    print(f"rejected without calling: retry after {err.retry_after:.0f}s")

clock.advance(30)  # recovery timeout elapses
service_up = True
print(f"trial call: {call_api()}; state: {breaker.state.name}")  # CLOSED again
assert breaker.state is CircuitState.CLOSED
print(f"Failures: {breaker.stats.failure_count}")
print(f"Successes: {breaker.stats.success_count}")

# --- retry with backoff --------------------------------------------------------------
attempts = []


@retry_with_backoff(max_attempts=3, base_delay=1.0, exponential=True, clock=clock)
def flaky_fetch() -> str:
    attempts.append(clock.time())
    if len(attempts) < 3:
        raise TimeoutError("transient")
    return "data"


print(f"flaky_fetch -> {flaky_fetch()!r} after {len(attempts)} attempts")

# --- rate limiter --------------------------------------------------------------------
limiter = RateLimiter(max_requests=100, window_seconds=60, clock=clock)
limiter.add_endpoint("fetch_ohlcv", max_requests=5, window_seconds=1)
granted = sum(limiter.acquire("fetch_ohlcv") for _ in range(8))
wait = limiter.get_wait_time("fetch_ohlcv")
print(f"fetch_ohlcv: {granted} of 8 granted, next permit in {wait:.2f}s")
print(f"rejection rate: {limiter.get_stats()['rejection_rate']:.2f}")
