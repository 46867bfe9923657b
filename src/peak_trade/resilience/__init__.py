"""Resilience patterns: breaker, retry, rate limiter, bulkhead, timeout, fallback, pipeline.

Seed API::

    from peak_trade.resilience import circuit_breaker, retry_with_backoff

    @circuit_breaker(failure_threshold=3, recovery_timeout=60)
    @retry_with_backoff(max_attempts=3, base_delay=1.0)
    def call_external_api(endpoint): ...

Every pattern takes an injected :class:`~peak_trade.clock.Clock` and an
optional :class:`~peak_trade.events.EventBus` on which it publishes its events.
"""

from __future__ import annotations

from peak_trade.resilience._contract import Pattern, PatternEvent, PatternKind, PatternStats
from peak_trade.resilience._events import (
    BreakerCallFailed,
    BreakerCallRejected,
    BreakerCallSucceeded,
    BreakerEvent,
    BreakerStateChanged,
    GiveUpReason,
    RetryAttempted,
    RetryEvent,
    RetryExhausted,
    RetrySucceeded,
)
from peak_trade.resilience.bulkhead import (
    Bulkhead,
    BulkheadCallAdmitted,
    BulkheadCallFinished,
    BulkheadEvent,
    BulkheadRejected,
    BulkheadStats,
)
from peak_trade.resilience.circuitbreaker import (
    CircuitBreaker,
    CircuitBreakerStats,
    CircuitState,
    CountWindow,
    TimeWindow,
    circuit_breaker,
)
from peak_trade.resilience.fallback import (
    Fallback,
    FallbackEvent,
    FallbackStats,
    FallbackStrategy,
    FallbackUsed,
    fallback,
)
from peak_trade.resilience.pipeline import (
    LAYERS,
    Layer,
    LayerRequest,
    insert_layer,
    with_resilience,
)
from peak_trade.resilience.ratelimit import (
    RateLimitDecision,
    RateLimitEndpointStats,
    RateLimiter,
    RateLimiterEvent,
    RateLimiterStats,
)
from peak_trade.resilience.registry import (
    ResilienceRegistry,
    create_module_circuit_breaker,
    create_module_rate_limiter,
    default_registry,
    get_all_circuit_breakers,
    get_all_rate_limiters,
    set_default_registry,
)
from peak_trade.resilience.retry import (
    Retry,
    RetryStats,
    RetryTesting,
    is_testing,
    retry_with_backoff,
    set_testing,
)
from peak_trade.resilience.timeout import (
    TimedOut,
    Timeout,
    TimeoutEvent,
    TimeoutMode,
    TimeoutRejected,
    TimeoutStats,
    current_deadline,
    remaining_time,
    timeout,
)

__all__ = [
    "BreakerCallFailed",
    "BreakerCallRejected",
    "BreakerCallSucceeded",
    "BreakerEvent",
    "BreakerStateChanged",
    "Bulkhead",
    "BulkheadCallAdmitted",
    "BulkheadCallFinished",
    "BulkheadEvent",
    "BulkheadRejected",
    "BulkheadStats",
    "CircuitBreaker",
    "CircuitBreakerStats",
    "CircuitState",
    "CountWindow",
    "Fallback",
    "FallbackEvent",
    "FallbackStats",
    "FallbackStrategy",
    "FallbackUsed",
    "GiveUpReason",
    "LAYERS",
    "Layer",
    "LayerRequest",
    "Pattern",
    "PatternEvent",
    "PatternKind",
    "PatternStats",
    "RateLimitDecision",
    "RateLimitEndpointStats",
    "RateLimiter",
    "RateLimiterEvent",
    "RateLimiterStats",
    "ResilienceRegistry",
    "Retry",
    "RetryAttempted",
    "RetryEvent",
    "RetryExhausted",
    "RetryStats",
    "RetrySucceeded",
    "RetryTesting",
    "TimeWindow",
    "TimedOut",
    "Timeout",
    "TimeoutEvent",
    "TimeoutMode",
    "TimeoutRejected",
    "TimeoutStats",
    "circuit_breaker",
    "create_module_circuit_breaker",
    "create_module_rate_limiter",
    "current_deadline",
    "default_registry",
    "fallback",
    "get_all_circuit_breakers",
    "get_all_rate_limiters",
    "insert_layer",
    "is_testing",
    "remaining_time",
    "retry_with_backoff",
    "set_default_registry",
    "set_testing",
    "timeout",
    "with_resilience",
]
