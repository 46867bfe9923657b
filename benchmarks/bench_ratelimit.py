"""Rate limiters: ours vs limits and pyrate-limiter, success path (permit granted).

Every limiter is configured so that the measured calls are all granted (a huge
budget): we measure the per-decision overhead, not the waiting.
"""

from __future__ import annotations

from benchmarks._harness import Suite, per_call

N = 50_000
HUGE = 10**9


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
    return [_local()]
