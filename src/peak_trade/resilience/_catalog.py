"""Where named breakers and limiters made by hand can be found, weakly held.

``CircuitBreaker(name=...)`` and ``RateLimiter(name=...)`` add themselves to
their module's catalog (one documented default instance per kind,
``circuitbreaker.NAMED`` and ``ratelimit.NAMED``), which
``get_all_circuit_breakers()`` / ``get_all_rate_limiters()`` list next to the
default registry's own. A catalog holds **weak** references: a breaker that
nobody references any more (its decorated function deleted, its client
closed) drops out; listing never keeps anything alive.

Two live patterns with one name: both are kept; the listing shows the newest,
and a warning is logged when the second one is made (``reset()`` through the
listing would reach only one of them). When the newest goes away the older one
shows again. :func:`peak_trade.resilience.set_default_registry` with ``None``
clears both catalogs (the reset tests use).
"""

from __future__ import annotations

import threading
import weakref
from typing import Generic, TypeVar

from peak_trade.logging import get_logger

__all__ = ["Catalog"]

_log = get_logger("peak_trade.resilience.registry")

T = TypeVar("T")


class Catalog(Generic[T]):
    """Patterns of one kind by name, weakly held; the newest live one per name is listed."""

    __slots__ = ("_dirty", "_entries", "_kind", "_lock")

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._lock = threading.Lock()
        self._entries: dict[str, list[weakref.ref[T]]] = {}
        self._dirty = False

    def _on_death(self, _ref: weakref.ref[T]) -> None:
        # may run in any thread, at any time (even under our lock): only flag it
        self._dirty = True

    def _prune_locked(self) -> None:
        if not self._dirty:
            return
        self._dirty = False  # first: a death during the sweep flags the next one
        for name in list(self._entries):
            alive = [ref for ref in self._entries[name] if ref() is not None]
            if alive:
                self._entries[name] = alive
            else:
                del self._entries[name]

    def add(self, name: str, pattern: T) -> None:
        """List ``pattern`` under ``name`` (newest first); warn if another live one has it."""
        ref = weakref.ref(pattern, self._on_death)
        with self._lock:
            self._prune_locked()
            refs = self._entries.setdefault(name, [])
            clash = any(other() is not None for other in refs)
            refs.append(ref)
        if clash:
            _log.warning(
                f"two live {self._kind}s share one name; the registry lists the newest",
                name=name,
                hint=f"Give each {self._kind} its own name, or pass register=False "
                "to the ones that should not be listed.",
            )

    def live(self) -> dict[str, T]:
        """The newest live pattern of every name."""
        found: dict[str, T] = {}
        with self._lock:
            self._prune_locked()
            for name, refs in self._entries.items():
                for ref in reversed(refs):
                    pattern = ref()
                    if pattern is not None:
                        found[name] = pattern
                        break
        return found

    def clear(self) -> None:
        """Forget every pattern (they keep working; they are just no longer listed)."""
        with self._lock:
            self._entries.clear()
            self._dirty = False
