"""Resilience patterns: circuit breaker and retry with backoff (more to come).

Seed API::

    from peak_trade.resilience import circuit_breaker, retry_with_backoff

    @circuit_breaker(failure_threshold=3, recovery_timeout=60)
    @retry_with_backoff(max_attempts=3, base_delay=1.0)
    def call_external_api(endpoint): ...

Every pattern takes an injected :class:`~peak_trade.clock.Clock` and an
optional :class:`~peak_trade.events.EventBus` on which it publishes its events.
"""

from __future__ import annotations

from peak_trade.resilience._events import (
    BreakerCallFailed,
    BreakerCallRejected,
    BreakerCallSucceeded,
    BreakerEvent,
    BreakerStateChanged,
    RetryAttempted,
    RetryEvent,
    RetryExhausted,
    RetrySucceeded,
)
from peak_trade.resilience.circuitbreaker import (
    CircuitBreaker,
    CircuitBreakerStats,
    CircuitState,
    CountWindow,
    TimeWindow,
    circuit_breaker,
)
from peak_trade.resilience.retry import RetryTesting, is_testing, retry_with_backoff, set_testing

__all__ = [
    "BreakerCallFailed",
    "BreakerCallRejected",
    "BreakerCallSucceeded",
    "BreakerEvent",
    "BreakerStateChanged",
    "CircuitBreaker",
    "CircuitBreakerStats",
    "CircuitState",
    "CountWindow",
    "RetryAttempted",
    "RetryEvent",
    "RetryExhausted",
    "RetrySucceeded",
    "RetryTesting",
    "TimeWindow",
    "circuit_breaker",
    "is_testing",
    "retry_with_backoff",
    "set_testing",
]
