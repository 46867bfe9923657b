"""In-process publish/subscribe for the events patterns emit.

Patterns (breakers, limiters, retries, stores, guards) publish frozen
dataclass events; metrics, alerts and logs subscribe. Publishers never learn
about subscribers' failures: an exception raised by a handler is logged with
the event and the handler, then dispatch continues with the next handler.

Dispatch follows the event's class hierarchy, so subscribing to a base class
(:class:`Event` itself, or a pattern's base event) receives every subclass.
The handler list per concrete type is computed once and cached, so
``publish`` costs one dict lookup when nobody listens; hot paths can skip
building the event at all with :meth:`EventBus.wants`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from peak_trade.logging import get_logger

__all__ = ["Event", "EventBus", "EventRecorder", "Handler"]

_log = get_logger("peak_trade.events")

E = TypeVar("E", bound="Event")
Handler = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event. Subclasses are frozen dataclasses."""


class EventBus:
    """A synchronous, thread-safe event bus. Pass one to every component that publishes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[type[Event], list[Handler]] = {}
        self._dispatch: dict[type[Event], tuple[Handler, ...]] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every published ``event_type`` (or subclass).

        Returns a function that removes the subscription.
        """
        with self._lock:
            self._subscribers.setdefault(event_type, []).append(handler)
            self._dispatch = {}

        def unsubscribe() -> None:
            with self._lock:
                handlers = self._subscribers.get(event_type, [])
                if handler in handlers:
                    handlers.remove(handler)
                    self._dispatch = {}

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
