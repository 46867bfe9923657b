"""In-process publish/subscribe for the events patterns emit.

Patterns (breakers, limiters, retries, stores, guards) publish frozen
dataclass events; metrics, alerts and logs subscribe. Publishers never learn
about subscribers' failures: an exception raised by a handler is logged with
the event and the handler, then dispatch continues with the next handler.

Dispatch follows the event's class hierarchy, so subscribing to a base class
(:class:`Event` itself, or a pattern's base event) receives every subclass.
The handler list per concrete type is computed once and cached, so
``publish`` costs one dict lookup when nobody listens; hot paths can skip
building the event at all with :meth:`EventBus.wants`, or, cheaper still,
hold an :class:`Interest` (:meth:`EventBus.interest`): one attribute the bus
keeps current as subscriptions come and go, so a breaker on a bus that nobody
listens to for call events runs as fast as one without a bus.

Each subscription chooses how it is delivered (:class:`Delivery`):

* ``INLINE`` (the default): the handler runs in the publisher's thread, inside
  ``publish``. For cheap, exact subscribers: a metrics counter, a log line.
* ``QUEUED``: ``publish`` appends the event to the subscription's bounded queue
  (``max_queued``) and returns; a worker thread of the subscription runs the
  handler, in order. For slow subscribers -- an alert webhook -- that must never
  run inside a protected call. When the queue is full the event is dropped,
  counted (:attr:`Subscription.dropped`, :attr:`EventBus.dropped`) and warned
  about once per overflow (a new warning after the queue has emptied): a
  publisher never waits for a subscriber.

Shutdown: :meth:`EventBus.flush` waits until the queued events published so far
have been handled; :meth:`EventBus.close` delivers what is queued (up to a
timeout on the bus's clock), stops the worker threads, and from then on drops
(and counts) events for queued subscriptions. Inline delivery is a plain call
and goes on after ``close``. Worker threads are daemon threads and exit after
:data:`IDLE_SECONDS` without work, so a forgotten bus holds no thread for long.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from peak_trade.clock import Clock, system_clock
from peak_trade.errors import InvalidArgumentError
from peak_trade.logging import get_logger

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "IDLE_SECONDS",
    "UNWATCHED",
    "Delivery",
    "Event",
    "EventBus",
    "EventRecorder",
    "Handler",
    "Interest",
    "Subscription",
]

_log = get_logger("peak_trade.events")

E = TypeVar("E", bound="Event")
Handler = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event. Subclasses are frozen dataclasses."""


class Interest:
    """Whether a bus has, right now, a subscriber for any of ``types`` (``active``).

    Made by :meth:`EventBus.interest`; the bus updates ``active`` whenever a
    subscription changes, so a hot path reads one attribute instead of asking
    the bus on every call. Only read it: a subscription added while a call is
    in flight may miss that call's event, never a later one.
    """

    __slots__ = ("__weakref__", "active", "types")

    def __init__(self, types: tuple[type[Event], ...], active: bool = False) -> None:
        self.types = types
        self.active = active

    def __repr__(self) -> str:
        names = ", ".join(t.__name__ for t in self.types)
        return f"Interest({names}, active={self.active})"


UNWATCHED = Interest(())
"""The interest of a component without a bus: never active (no bus updates it)."""


class Delivery(StrEnum):
    """How a subscription receives events (see the module docstring)."""

    INLINE = "inline"
    QUEUED = "queued"


DEFAULT_MAX_QUEUED = 10_000
"""Events a queued subscription holds before it drops new ones."""

IDLE_SECONDS = 30.0
"""A queued subscription's worker thread with nothing to do for this long exits."""


def _handler_name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


def _run_handler(handler: Handler, event: Event) -> None:
    try:
        handler(event)
    except Exception:  # noqa: BLE001 - a subscriber must never break the publisher
        _log.exception(
            "event subscriber failed",
            event_type=type(event).__name__,
            handler=_handler_name(handler),
        )


class Subscription:
    """One handler on a bus, as :meth:`EventBus.subscribe` returns it.

    Calling it unsubscribes (idempotent; a queued subscription still delivers
    what was queued before, but the bus's ``flush`` and ``close`` no longer
    wait for it). ``delivered``, ``dropped`` and ``pending`` count a
    queued subscription's events (an inline one's are always 0).
    """

    __slots__ = (
        "__weakref__",
        "_accepted",
        "_bus",
        "_closed",
        "_has_work",
        "_items",
        "_lock",
        "_overflowing",
        "_progress",
        "_settled",
        "_thread",
        "_unsubscribed",
        "_watchers",
        "_worker_idle",
        "delivered",
        "delivery",
        "dropped",
        "event_type",
        "handler",
        "max_queued",
        "target",
    )

    def __init__(
        self,
        bus: EventBus,
        event_type: type[Event],
        handler: Handler,
        delivery: Delivery,
        max_queued: int,
    ) -> None:
        self._bus = bus
        self.event_type = event_type
        self.handler = handler
        self.delivery = delivery
        self.max_queued = max_queued
        self.delivered = 0
        self.dropped = 0
        self._accepted = 0  # events ever queued
        self._settled = 0  # of those: handled, or given up on at close
        self._unsubscribed = False
        # what the bus calls on publish: the handler itself, or the enqueue step
        self.target: Handler = handler if delivery is Delivery.INLINE else self._enqueue
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)  # the worker waits on it
        self._progress = threading.Condition(self._lock)  # flush and close wait on it
        self._items: deque[Event] = deque()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._overflowing = False  # warned about this overflow already
        self._worker_idle = False  # the worker waits for an event (publishers notify it)
        self._watchers = 0  # flush/close calls waiting for progress

    def __call__(self) -> None:
        self._bus._unsubscribe(self)

    @property
    def pending(self) -> int:
        """Queued events not handled yet."""
        return len(self._items)

    # --- publisher side ------------------------------------------------------------

    def _enqueue(self, event: Event) -> None:
        with self._lock:
            if not self._closed and len(self._items) < self.max_queued:
                self._items.append(event)
                self._accepted += 1
                if self._thread is None:
                    self._start_locked()
                elif self._worker_idle:
                    self._has_work.notify()
                return
            self.dropped += 1
            if self._overflowing:
                return
            self._overflowing = True
            closed = self._closed
        _log.warning(
            "event bus closed, dropping events" if closed else "event queue full, dropping events",
            handler=_handler_name(self.handler),
            event_type=type(event).__name__,
            max_queued=self.max_queued,
            hint="The subscriber is slower than the events arrive; make it faster, or raise "
            "max_queued if bursts are normal.",
        )

    def _start_locked(self) -> None:
        thread = threading.Thread(
            target=self._work,
            name=f"peak_trade-events-{_handler_name(self.handler)}",
            daemon=True,  # a hung subscriber must not hold the process at exit
        )
        self._thread = thread
        try:
            thread.start()
        except BaseException:
            self._thread = None
            raise

    # --- worker side -----------------------------------------------------------------

    def _work(self) -> None:
        handler, items = self.handler, self._items
        handled = False
        try:
            while True:
                with self._lock:
                    if handled:  # the previous event: count it, wake flush/close if waiting
                        self.delivered += 1
                        self._settled += 1
                        if self._watchers:
                            self._progress.notify_all()
                    while not items:
                        if self._closed:
                            return
                        self._worker_idle = True
                        woke = self._has_work.wait(IDLE_SECONDS)
                        self._worker_idle = False
                        if not woke and not items:
                            return  # idle too long: a new worker starts with the next event
                    event = items.popleft()
                    if not items:
                        self._overflowing = False  # emptied: the next overflow is news
                _run_handler(handler, event)
                handled = True
        finally:
            with self._lock:
                self._thread = None
                self._worker_idle = False
                self._progress.notify_all()
                if items and not self._closed:  # left by an exception we do not catch
                    self._start_locked()

    # --- shutdown ----------------------------------------------------------------------

    def flush(self, timeout: float | None = None, *, clock: Clock | None = None) -> bool:
        """Wait until the events queued so far are handled; False if ``timeout`` passed first."""
        clock = clock or self._bus.clock
        with self._lock:
            target = self._accepted
            self._watchers += 1
            try:
                return clock.wait_for(self._progress, lambda: self._settled >= target, timeout)
            finally:
                self._watchers -= 1

    def _close(self, deadline: float | None, clock: Clock) -> bool:
        """Stop taking events, deliver what is queued until ``deadline``, then drop the rest."""
        with self._lock:
            self._closed = True
            self._has_work.notify_all()
            left = None if deadline is None else max(0.0, deadline - clock.monotonic())
            self._watchers += 1
            try:
                done = clock.wait_for(
                    self._progress, lambda: not self._items and self._thread is None, left
                )
            finally:
                self._watchers -= 1
            undelivered = len(self._items)
            self._items.clear()
            self.dropped += undelivered
            self._settled += undelivered
            self._progress.notify_all()
        if undelivered:
            _log.warning(
                "event bus closed with events undelivered",
                handler=_handler_name(self.handler),
                undelivered=undelivered,
                hint="The subscriber did not finish before the close timeout; it may hang.",
            )
        return done and not undelivered

    def __repr__(self) -> str:
        return (
            f"Subscription({self.event_type.__name__}, {_handler_name(self.handler)}, "
            f"{self.delivery.value})"
        )


class EventBus:
    """A thread-safe event bus. Pass one to every component that publishes.

    ``clock`` times :meth:`flush` and :meth:`close` (a ManualClock in tests).
    """

    def __init__(self, *, clock: Clock = system_clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._subscribers: dict[type[Event], list[Handler]] = {}
        self._dispatch: dict[type[Event], tuple[Handler, ...]] = {}
        self._interests: weakref.WeakSet[Interest] = weakref.WeakSet()
        self._queued: list[Subscription] = []
        self._dropped_by_gone = 0  # by queued subscriptions since unsubscribed
        self._closed = False

    def interest(self, *event_types: type[Event]) -> Interest:
        """An :class:`Interest` in ``event_types``, kept current by this bus.

        It is active while a handler would receive one of them: a handler
        subscribed to the type itself or to one of its base classes. The bus
        holds it weakly; keep a reference for as long as you read it.
        """
        with self._lock:
            found = Interest(event_types, self._listened_locked(event_types))
            self._interests.add(found)
        return found

    def _listened_locked(self, event_types: tuple[type[Event], ...]) -> bool:
        subscribers = self._subscribers
        return any(subscribers.get(klass) for t in event_types for klass in t.__mro__)

    def _changed_locked(self) -> None:
        self._dispatch = {}
        for found in self._interests:
            found.active = self._listened_locked(found.types)

    def subscribe(
        self,
        event_type: type[E],
        handler: Callable[[E], None],
        *,
        delivery: Delivery = Delivery.INLINE,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> Subscription:
        """Call ``handler`` for every published ``event_type`` (or subclass).

        ``delivery=Delivery.QUEUED`` runs it on a worker thread of its own
        behind a queue of ``max_queued`` events (see the module docstring).
        Returns the :class:`Subscription`; calling it unsubscribes.
        """
        if isinstance(max_queued, bool) or not isinstance(max_queued, int) or max_queued < 1:
            raise InvalidArgumentError(
                f"max_queued must be an integer >= 1, got {max_queued!r}",
                hint="It is how many events a queued subscriber may fall behind before "
                "new ones are dropped.",
                context={"event_type": event_type.__name__},
            )
        sub = Subscription(self, event_type, handler, Delivery(delivery), max_queued)
        with self._lock:
            if sub.delivery is Delivery.QUEUED:
                if self._closed:
                    raise InvalidArgumentError(
                        "The event bus is closed: it delivers no queued events any more.",
                        hint="Subscribe before closing the bus, or use inline delivery.",
                        context={"event_type": event_type.__name__},
                    )
                self._queued.append(sub)
            self._subscribers.setdefault(event_type, []).append(sub.target)
            self._changed_locked()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub._unsubscribed:
                return
            sub._unsubscribed = True
            handlers = self._subscribers.get(sub.event_type, [])
            for i, target in enumerate(handlers):
                if target is sub.target:
                    del handlers[i]
                    break
            if sub in self._queued:  # it drains what it holds, then its worker exits
                self._queued.remove(sub)
                self._dropped_by_gone += sub.dropped
            self._changed_locked()

    def _handlers_for(self, event_type: type[Event]) -> tuple[Handler, ...]:
        handlers = self._dispatch.get(event_type)
        if handlers is None:
            with self._lock:
                found: list[Handler] = []
                for klass in event_type.__mro__:
                    found.extend(self._subscribers.get(klass, ()))
                handlers = tuple(found)
                self._dispatch[event_type] = handlers
        return handlers

    def wants(self, event_type: type[Event]) -> bool:
        """True if publishing an ``event_type`` would reach at least one handler."""
        return bool(self._handlers_for(event_type))

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to its subscribers; never raises a subscriber's exception.

        Inline handlers run now, in this thread; queued ones get the event on
        their queue (or drop it when the queue is full): it never waits for them.
        """
        for handler in self._handlers_for(type(event)):
            try:
                handler(event)
            except Exception:  # noqa: BLE001 - a subscriber must never break the publisher
                _log.exception(
                    "event subscriber failed",
                    event_type=type(event).__name__,
                    handler=_handler_name(handler),
                )

    @property
    def dropped(self) -> int:
        """Events dropped by this bus's queued subscriptions (queue full, or closed)."""
        with self._lock:
            return self._dropped_by_gone + sum(sub.dropped for sub in self._queued)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event published so far is handled.

        ``timeout`` (seconds on the bus's clock) bounds the whole wait; False if
        it passed first.
        """
        with self._lock:
            subs = list(self._queued)
        clock = self.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        ok = True
        for sub in subs:
            left = None if deadline is None else max(0.0, deadline - clock.monotonic())
            ok = sub.flush(left, clock=clock) and ok
        return ok

    def close(self, timeout: float | None = 5.0) -> bool:
        """Deliver what is queued (within ``timeout`` on the bus's clock), then stop.

        Events still queued at the timeout are dropped, counted and logged;
        later events for queued subscriptions are dropped and counted; inline
        subscribers go on being called. Idempotent. True if nothing queued was lost.
        """
        with self._lock:
            self._closed = True
            subs = list(self._queued)
        clock = self.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        ok = True
        for sub in subs:
            ok = sub._close(deadline, clock) and ok
        return ok


class EventRecorder:
    """Testing double: subscribe it and read back what was published.

    >>> bus = EventBus(); rec = EventRecorder(bus)
    >>> bus.publish(Event()); rec.events
    [Event()]
    """

    def __init__(self, bus: EventBus, event_type: type[Event] = Event) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self.stop = bus.subscribe(event_type, self._record)

    def _record(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of_type(self, event_type: type[E]) -> list[E]:
        """The recorded events that are instances of ``event_type``."""
        return [e for e in self.events if isinstance(e, event_type)]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()
