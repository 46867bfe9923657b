"""Every resilience pattern's events have one shape: a ``PatternEvent`` with ``name`` and ``kind``.

A metrics or alert layer subscribes once, to the base, and learns which pattern
(``kind``) and which instance (``name``) an event is about, whatever the pattern.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest
from pattern_helpers import CountingClock, hang_all

from peak_trade.clock import ManualClock
from peak_trade.errors import BulkheadFullError, CircuitOpenError, OperationTimeoutError
from peak_trade.events import EventBus, EventRecorder
from peak_trade.resilience import (
    BreakerCallRejected,
    BreakerEvent,
    BreakerStateChanged,
    Bulkhead,
    BulkheadCallAdmitted,
    BulkheadCallFinished,
    BulkheadEvent,
    BulkheadRejected,
    CircuitBreaker,
    FallbackEvent,
    FallbackUsed,
    PatternEvent,
    PatternKind,
    RateLimitDecision,
    RateLimiter,
    RateLimiterEvent,
    RetryEvent,
    RetryExhausted,
    TimedOut,
    Timeout,
    TimeoutEvent,
    TimeoutRejected,
    fallback,
    retry_with_backoff,
)

BASES = {
    BreakerEvent: PatternKind.BREAKER,
    RetryEvent: PatternKind.RETRY,
    RateLimiterEvent: PatternKind.RATE_LIMITER,
    BulkheadEvent: PatternKind.BULKHEAD,
    TimeoutEvent: PatternKind.TIMEOUT,
    FallbackEvent: PatternKind.FALLBACK,
}


@pytest.mark.parametrize(("base", "kind"), BASES.items())
def test_each_patterns_events_derive_from_the_one_base_and_carry_its_kind(
    base: type[PatternEvent], kind: PatternKind
) -> None:
    assert issubclass(base, PatternEvent)
    assert base.kind is kind
    assert [f.name for f in dataclasses.fields(base)] == ["name"]  # kind: a class constant


def test_a_subscriber_to_the_base_receives_every_patterns_events() -> None:
    bus, clock = EventBus(), ManualClock()
    seen = EventRecorder(bus, PatternEvent)

    breaker = CircuitBreaker(1, 60.0, name="exchange.orders", clock=clock, bus=bus)
    with pytest.raises(ConnectionError):
        breaker.call(_fail)()
    with pytest.raises(CircuitOpenError):
        breaker.call(_fail)()

    with pytest.raises(ConnectionError):
        retry_with_backoff(2, 1.0, clock=clock, bus=bus, name="exchange.fetch")(_fail)()

    RateLimiter(5, 1.0, name="exchange.weight", clock=clock, bus=bus).acquire()

    bulkhead = Bulkhead(1, name="exchange.pool", clock=clock, bus=bus)
    assert bulkhead(lambda: "in")() == "in"

    slow = Timeout(1.0, name="exchange.slow", mode="deadline", clock=clock, bus=bus)

    def late() -> None:
        clock.advance(2.0)  # the outer deadline passes before the inner call starts
        slow(_fail)()

    with pytest.raises(OperationTimeoutError):
        slow(late)()

    assert fallback(value=0, name="exchange.safe", bus=bus)(_fail)() == 0

    kinds = {(type(e).kind, e.name) for e in seen.events}  # type: ignore[attr-defined]
    assert kinds >= {
        (PatternKind.BREAKER, "exchange.orders"),
        (PatternKind.RETRY, "exchange.fetch"),
        (PatternKind.RATE_LIMITER, "exchange.weight"),
        (PatternKind.BULKHEAD, "exchange.pool"),
        (PatternKind.FALLBACK, "exchange.safe"),
    }
    assert {e.kind for e in seen.events} == set(PatternKind)  # type: ignore[attr-defined]
    assert seen.of_type(BreakerStateChanged)
    assert seen.of_type(BreakerCallRejected)
    assert seen.of_type(RetryExhausted)[0].name == "exchange.fetch"
    assert seen.of_type(FallbackUsed)[0].kind is PatternKind.FALLBACK


def test_a_rate_limit_decision_names_its_limiter_name_like_every_other_event() -> None:
    bus = EventBus()
    seen = EventRecorder(bus, RateLimitDecision)
    RateLimiter(1, 1.0, name="binance.weight", clock=ManualClock(), bus=bus).acquire("klines")
    [decision] = seen.of_type(RateLimitDecision)
    assert decision.name == "binance.weight"
    assert decision.limiter == "binance.weight"  # the old field, read-only
    assert decision.kind is PatternKind.RATE_LIMITER


def test_an_unobserved_bulkhead_builds_no_call_events_and_reads_no_clock() -> None:
    bus, clock = EventBus(), CountingClock()
    EventRecorder(bus, BulkheadRejected)  # someone listens, but not to calls
    bulkhead = Bulkhead(2, name="pool", clock=clock, bus=bus)
    call = bulkhead(lambda: "ok")
    clock.reads = 0
    for _ in range(10):
        assert call() == "ok"
    assert clock.reads == 0


def test_a_bulkhead_reports_each_admitted_and_finished_call_with_wait_and_duration() -> None:
    bus, clock = EventBus(), ManualClock()
    admitted = EventRecorder(bus, BulkheadCallAdmitted)
    finished = EventRecorder(bus, BulkheadCallFinished)
    bulkhead = Bulkhead(2, name="pool", clock=clock, bus=bus)

    @bulkhead
    def work() -> str:
        clock.advance(1.5)
        return "done"

    assert work() == "done"
    assert admitted.events == [BulkheadCallAdmitted("pool", 0.0, 1)]
    assert finished.events == [BulkheadCallFinished("pool", 1.5, 0)]


def test_a_bulkhead_call_that_waited_for_its_slot_says_how_long() -> None:
    bus, clock = EventBus(), ManualClock()
    admitted = EventRecorder(bus, BulkheadCallAdmitted)
    bulkhead = Bulkhead(1, max_wait=30.0, name="pool", clock=clock, bus=bus)
    release = asyncio.Event()

    @bulkhead
    async def hold() -> None:
        await release.wait()

    @bulkhead
    async def quick() -> str:
        return "quick"

    async def scenario() -> str:
        first = asyncio.create_task(hold())
        await asyncio.sleep(0)
        second = asyncio.create_task(quick())
        await asyncio.sleep(0)  # queued behind the first call
        clock.advance(4.0)
        release.set()
        await first
        return await second

    assert asyncio.run(scenario()) == "quick"
    assert [e.waited for e in admitted.events] == [0.0, 4.0]


def test_a_full_timeout_worker_pool_is_a_timeout_event_not_a_bulkhead_one() -> None:
    bus, clock = EventBus(), ManualClock()
    seen = EventRecorder(bus, PatternEvent)
    gate = threading.Event()
    timeout = Timeout(5, name="exchange-a", max_workers=1, clock=clock, bus=bus)
    hangs = timeout(lambda: gate.wait(60))
    hang_all(hangs, 1, clock, 5)
    with pytest.raises(BulkheadFullError):
        hangs()
    gate.set()
    assert [type(e) for e in seen.events] == [TimedOut, TimeoutRejected]
    rejected = seen.of_type(TimeoutRejected)[0]
    assert (rejected.name, rejected.max_workers, rejected.abandoned) == ("exchange-a", 1, 1)
    assert not seen.of_type(BulkheadRejected)


def _fail() -> None:
    raise ConnectionError("down")
