"""Helpers shared by the resilience tests: a clock that counts its reads, hung calls,
and one pattern of each kind."""

from __future__ import annotations

import threading
from collections.abc import Callable

from peak_trade.clock import ManualClock
from peak_trade.errors import OperationTimeoutError
from peak_trade.resilience import (
    Bulkhead,
    CircuitBreaker,
    Fallback,
    Pattern,
    RateLimiter,
    Retry,
    Timeout,
)

__all__ = ["CountingClock", "hang_all", "one_of_each"]


class CountingClock(ManualClock):
    """A ManualClock that counts reads, to prove what a hot path does not do."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def monotonic(self) -> float:
        self.reads += 1
        return super().monotonic()

    def time(self) -> float:
        self.reads += 1
        return super().time()


def hang_all(call: Callable[[], object], n: int, clock: ManualClock, seconds: float) -> None:
    """Make ``n`` calls at once; each times out (``clock`` moves ``seconds``) as its call hangs."""
    errors: list[BaseException] = []

    def one() -> None:
        try:
            call()
        except BaseException as exc:  # collected and checked below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    assert clock.wait_until_waiting(n)  # every caller waits for its deadline...
    clock.advance(seconds)  # ...which passes for all of them at once
    for t in threads:
        t.join(60)
    assert len(errors) == n
    assert all(isinstance(e, OperationTimeoutError) for e in errors), errors


def one_of_each(clock: ManualClock, names: str = "brlhtf") -> list[Pattern]:
    """A breaker, retry, limiter, bulkhead, timeout and fallback named by ``names``' letters."""
    b, r, l, h, t, f = names  # noqa: E741 - one letter per kind
    return [
        CircuitBreaker(name=b, clock=clock),
        Retry(name=r, clock=clock),
        RateLimiter(name=l, clock=clock),
        Bulkhead(1, name=h, clock=clock),
        Timeout(1.0, name=t, clock=clock),
        Fallback(value=0, name=f, clock=clock),
    ]
