from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import structlog

from peak_trade.clock import ManualClock
from peak_trade.errors import InvalidArgumentError
from peak_trade.events import UNWATCHED, Delivery, Event, EventBus, EventRecorder


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


# ----------------------------------------------------------------------------- queued delivery
#
# A queued subscription hands each event to a bounded queue that a worker
# thread of its own drains, so a slow subscriber (a webhook) never runs inside
# the publisher's call, and a full queue drops instead of blocking it.


def test_a_slow_queued_subscriber_never_runs_inside_the_publisher() -> None:
    bus = EventBus()
    gate = threading.Event()
    log: list[str] = []
    threads: set[int] = set()

    def slow(event: Opened) -> None:
        threads.add(threading.get_ident())
        gate.wait(60)  # a webhook that hangs until the test lets it go
        log.append(f"handled {event.failures}")

    sub = bus.subscribe(Opened, slow, delivery=Delivery.QUEUED)
    assert sub.delivery is Delivery.QUEUED
    for i in range(3):
        bus.publish(Opened("b", i))
        log.append(f"published {i}")
    assert log == ["published 0", "published 1", "published 2"]  # nothing waited for slow()
    gate.set()
    assert bus.flush(timeout=60)
    assert log[3:] == ["handled 0", "handled 1", "handled 2"]  # in order, all of them
    assert threads
    assert threading.get_ident() not in threads
    assert sub.delivered == 3
    assert sub.dropped == 0
    assert bus.close(timeout=60)


def test_a_raising_queued_subscriber_is_logged_and_keeps_receiving() -> None:
    bus = EventBus()
    seen: list[int] = []

    def flaky(event: Opened) -> None:
        seen.append(event.failures)
        if event.failures == 0:
            raise RuntimeError("subscriber bug")

    bus.subscribe(Opened, flaky, delivery=Delivery.QUEUED)
    with structlog.testing.capture_logs() as logs:
        bus.publish(Opened("b", 0))  # must not raise
        bus.publish(Opened("b", 1))
        assert bus.flush(timeout=60)
    assert seen == [0, 1]
    assert [e["event"] for e in logs] == ["event subscriber failed"]
    bus.close()


def test_a_full_queue_drops_counts_and_warns_once_per_overflow() -> None:
    bus = EventBus()
    started, gate = threading.Event(), threading.Event()
    handled: list[int] = []

    def slow(event: Opened) -> None:
        started.set()
        gate.wait(60)
        handled.append(event.failures)

    sub = bus.subscribe(Opened, slow, delivery=Delivery.QUEUED, max_queued=2)
    with structlog.testing.capture_logs() as logs:
        bus.publish(Opened("b", 0))
        assert started.wait(60)  # the worker holds event 0: the queue is empty again
        for i in range(1, 7):
            bus.publish(Opened("b", i))  # 1 and 2 are queued, 3..6 dropped at once
        assert sub.dropped == 4
        assert sub.pending == 2
        assert bus.dropped == 4
        gate.set()
        assert sub.flush(timeout=60)
        assert handled == [0, 1, 2]
        warnings = [e for e in logs if e["log_level"] == "warning"]
        assert len(warnings) == 1  # one warning for the whole overflow, not one per event
        assert warnings[0]["event"] == "event queue full, dropping events"
        assert warnings[0]["max_queued"] == 2
        # the queue drained: a new overflow is a new warning
        gate.clear()
        started.clear()
        bus.publish(Opened("b", 10))
        assert started.wait(60)
        for i in range(11, 14):
            bus.publish(Opened("b", i))
        gate.set()
        assert bus.flush(timeout=60)
    assert len([e for e in logs if e["log_level"] == "warning"]) == 2
    assert sub.dropped == 5
    bus.close()


def test_inline_and_queued_subscribers_side_by_side_and_interest_stays_exact() -> None:
    bus = EventBus()
    interest = bus.interest(Opened)
    inline = EventRecorder(bus, BreakerEvent)
    queued: list[Event] = []
    unsubscribe = bus.subscribe(Opened, queued.append, delivery=Delivery.QUEUED)
    inline.stop()
    assert interest.active  # the queued subscriber still listens
    assert bus.wants(Opened)
    bus.publish(Opened("b", 1))
    assert bus.flush(timeout=60)
    assert queued == [Opened("b", 1)]
    unsubscribe()
    assert not interest.active
    assert not bus.wants(Opened)
    bus.publish(Opened("b", 2))
    assert bus.flush(timeout=60)
    assert queued == [Opened("b", 1)]
    unsubscribe()  # idempotent


def test_close_delivers_what_was_queued_then_drops_later_events() -> None:
    bus = EventBus()
    got: list[int] = []
    sub = bus.subscribe(Opened, lambda e: got.append(e.failures), delivery=Delivery.QUEUED)
    inline: list[int] = []
    bus.subscribe(Opened, lambda e: inline.append(e.failures))
    for i in range(5):
        bus.publish(Opened("b", i))
    assert bus.close(timeout=60)
    assert got == [0, 1, 2, 3, 4]
    bus.publish(Opened("b", 5))  # never blocks nor raises after close
    assert got == [0, 1, 2, 3, 4]
    assert sub.dropped == 1
    assert inline == [0, 1, 2, 3, 4, 5]  # inline delivery is a plain call: it goes on
    assert bus.close(timeout=60)  # idempotent
    with pytest.raises(InvalidArgumentError, match="closed"):
        bus.subscribe(Opened, got.append, delivery=Delivery.QUEUED)


def test_close_gives_up_on_a_hung_subscriber_after_its_timeout_on_the_bus_clock() -> None:
    clock = ManualClock(start=0)
    bus = EventBus(clock=clock)
    started, gate = threading.Event(), threading.Event()

    def hung(_event: Opened) -> None:
        started.set()
        gate.wait(60)

    sub = bus.subscribe(Opened, hung, delivery=Delivery.QUEUED)
    bus.publish(Opened("b", 0))
    assert started.wait(60)
    bus.publish(Opened("b", 1))
    bus.publish(Opened("b", 2))
    outcome: list[bool] = []
    closer = threading.Thread(target=lambda: outcome.append(bus.close(timeout=5)))
    with structlog.testing.capture_logs() as logs:
        closer.start()
        assert clock.wait_until_waiting(1)
        clock.advance(5)
        closer.join(60)
    assert outcome == [False]
    assert sub.dropped == 2  # the two still queued were never delivered, and say so
    assert any(e["event"] == "event bus closed with events undelivered" for e in logs)
    gate.set()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_max_queued_is_validated(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="max_queued"):
        EventBus().subscribe(Opened, print, delivery=Delivery.QUEUED, max_queued=bad)  # type: ignore[arg-type]


def test_concurrent_publishers_on_a_queued_subscriber_account_for_every_event() -> None:
    bus = EventBus()
    got: list[Event] = []
    sub = bus.subscribe(BreakerEvent, got.append, delivery=Delivery.QUEUED, max_queued=50)
    n_threads, per_thread = 8, 2_000

    def work(i: int) -> None:
        for j in range(per_thread):
            bus.publish(Opened(str(i), j))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    with structlog.testing.capture_logs():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert bus.close(timeout=60)
    assert sub.delivered == len(got)
    assert sub.delivered + sub.dropped == n_threads * per_thread  # each one handled or counted
    per_publisher: dict[str, list[int]] = {}
    for event in got:
        assert isinstance(event, Opened)
        per_publisher.setdefault(event.name, []).append(event.failures)
    assert all(seq == sorted(seq) for seq in per_publisher.values())  # order kept per thread
