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
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from peak_trade.logging import get_logger

__all__ = ["UNWATCHED", "Event", "EventBus", "EventRecorder", "Handler", "Interest"]

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


class EventBus:
    """A synchronous, thread-safe event bus. Pass one to every component that publishes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[type[Event], list[Handler]] = {}
        self._dispatch: dict[type[Event], tuple[Handler, ...]] = {}
        self._interests: weakref.WeakSet[Interest] = weakref.WeakSet()

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

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every published ``event_type`` (or subclass).

        Returns a function that removes the subscription.
        """
        with self._lock:
            self._subscribers.setdefault(event_type, []).append(handler)
            self._changed_locked()

        def unsubscribe() -> None:
            with self._lock:
                handlers = self._subscribers.get(event_type, [])
                if handler in handlers:
                    handlers.remove(handler)
                    self._changed_locked()

        return unsubscribe

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
        """Deliver ``event`` to its subscribers; never raises a subscriber's exception."""
        for handler in self._handlers_for(type(event)):
            try:
                handler(event)
            except Exception:  # noqa: BLE001 - a subscriber must never break the publisher
                _log.exception(
                    "event subscriber failed",
                    event_type=type(event).__name__,
                    handler=getattr(handler, "__qualname__", repr(handler)),
                )


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
