from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import structlog

from peak_trade.events import UNWATCHED, Event, EventBus, EventRecorder


@dataclass(frozen=True, slots=True)
class BreakerEvent(Event):
    name: str


@dataclass(frozen=True, slots=True)
class Opened(BreakerEvent):
    failures: int


@dataclass(frozen=True, slots=True)
class Unrelated(Event):
    pass


def test_dispatch_follows_class_hierarchy() -> None:
    bus = EventBus()
    everything = EventRecorder(bus)
    breaker_only = EventRecorder(bus, BreakerEvent)
    bus.publish(Opened("b", 3))
    bus.publish(Unrelated())
    assert everything.events == [Opened("b", 3), Unrelated()]
    assert breaker_only.events == [Opened("b", 3)]
    assert breaker_only.of_type(Opened) == [Opened("b", 3)]


def test_wants_reflects_subscriptions_and_unsubscribe() -> None:
    bus = EventBus()
    assert not bus.wants(Opened)
    rec = EventRecorder(bus, BreakerEvent)
    assert bus.wants(Opened)
    assert not bus.wants(Unrelated)
    rec.stop()
    assert not bus.wants(Opened)
    bus.publish(Opened("b", 1))
    assert rec.events == []
    rec.stop()  # idempotent


def test_an_interest_follows_subscriptions_as_they_come_and_go() -> None:
    bus = EventBus()
    opened, either = bus.interest(Opened), bus.interest(Unrelated, Opened)
    unrelated = bus.interest(Unrelated)
    assert not opened.active
    assert not either.active
    base = EventRecorder(bus, BreakerEvent)  # a base class's subscriber receives Opened
    assert opened.active
    assert either.active
    assert not unrelated.active
    direct = EventRecorder(bus, Opened)
    base.stop()
    assert opened.active  # still one listener left
    direct.stop()
    assert not opened.active
    assert not either.active
    everything = EventRecorder(bus)
    assert unrelated.active
    everything.stop()
    assert not unrelated.active
    assert "Opened" in repr(opened)


def test_an_interest_made_after_subscribing_starts_active_and_is_held_weakly() -> None:
    import gc
    import weakref

    bus = EventBus()
    EventRecorder(bus, Opened)
    interest = bus.interest(Opened)
    assert interest.active
    ref = weakref.ref(interest)
    del interest
    gc.collect()
    assert ref() is None  # the bus does not keep interests nobody reads
    EventRecorder(bus, Unrelated)  # and updating the rest still works
    assert not UNWATCHED.active


def test_failing_subscriber_is_logged_and_others_still_run() -> None:
    bus = EventBus()

    def broken(_event: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(Event, broken)
    after = EventRecorder(bus)
    with structlog.testing.capture_logs() as logs:
        bus.publish(Opened("b", 1))  # must not raise
    assert after.events == [Opened("b", 1)]
    assert any(
        entry["event"] == "event subscriber failed" and entry["event_type"] == "Opened"
        for entry in logs
    )


def test_events_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Opened("b", 1).failures = 2  # type: ignore[misc]


def test_concurrent_publish_and_subscribe_lose_nothing() -> None:
    bus = EventBus()
    rec = EventRecorder(bus, BreakerEvent)
    n_threads, per_thread = 8, 2_000

    def work(i: int) -> None:
        for j in range(per_thread):
            bus.publish(Opened(str(i), j))
            if j % 500 == 0:
                bus.subscribe(Unrelated, lambda e: None)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rec.events) == n_threads * per_thread
