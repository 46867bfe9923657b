"""Seed 001 "combining patterns": breaker outside, retry inside; with_resilience; fallback.

Run: python examples/resilience/02_combining_patterns.py
"""

from __future__ import annotations

from peak_trade.clock import ManualClock
from peak_trade.config import load_settings
from peak_trade.errors import CircuitOpenError
from peak_trade.resilience import (
    CircuitBreaker,
    ResilienceRegistry,
    fallback,
    retry_with_backoff,
    with_resilience,
)

clock = ManualClock()

# Breaker first (outer), retry second (inner): three failed attempts are ONE breaker failure.
breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=60, name="quotes", clock=clock)
calls = []


@breaker.call
@retry_with_backoff(max_attempts=3, base_delay=1.0, clock=clock)
def robust_api_call() -> None:
    calls.append(1)
    raise ConnectionError("quotes service down")


for _ in range(2):
    try:
        robust_api_call()
    except ConnectionError as err:
        print(f"gave up: {err} ({err.__notes__[-1]})")
failures = breaker.stats.failure_count
print(f"{len(calls)} attempts, {failures} breaker failures, state {breaker.state.name}")
try:
    robust_api_call()
except CircuitOpenError:
    print(f"open breaker: no retry, no wait, still {len(calls)} attempts")

# with_resilience reads [resilience] / [resilience.<module>] from the configuration.
settings = load_settings(
    environ={"PEAK_TRADE_RESILIENCE__DATA__RATE_LIMIT_REQUESTS": "2"}, use_default_file=False
)
registry = ResilienceRegistry(settings.resilience, clock=clock)


@fallback(last_good=True, clock=clock)
@with_resilience("data", "fetch", use_rate_limiter=True, registry=registry)
def fetch_price(symbol: str) -> float:
    return 42_000.0


prices = [fetch_price("BTC/USDT") for _ in range(3)]
print(f"prices: {prices} (the third came from the last good value: rate limited)")
