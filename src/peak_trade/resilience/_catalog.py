"""Where named patterns made by hand can be found, by kind and name, weakly held.

A pattern made with a ``name`` -- ``CircuitBreaker(name=...)``,
``RateLimiter(name=...)``, ``Retry(name=...)``, ``Bulkhead(name=...)``,
``Timeout(name=...)``, ``Fallback(name=...)`` and the decorators taking a
name -- adds itself to :data:`NAMED` (the documented default instance) unless
made with ``register=False``. The default registry lists them next to its
own (``default_registry().patterns()``, ``get_all_circuit_breakers()``...).
The catalog holds **weak** references: a pattern that nobody references any
more (its decorated function deleted, its client closed) drops out; listing
never keeps anything alive.

Two live patterns of one kind with one name: both are kept; the listing shows
the newest, and a warning is logged when the second one is made (``reset()``
through the listing would reach only one of them). When the newest goes away
the older one shows again. Patterns of different kinds never clash.
:func:`peak_trade.resilience.set_default_registry` with ``None`` clears the
catalog (the reset tests use).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from peak_trade.errors import InvalidArgumentError
from peak_trade.logging import get_logger
from peak_trade.resilience._contract import Pattern

__all__ = ["NAMED", "Catalog", "key_of"]

_log = get_logger("peak_trade.resilience.registry")

Key = tuple[str, str]
"""``(kind, name)``."""


def key_of(pattern: Pattern) -> Key:
    """``(pattern.kind, pattern.name)``; refuses what does not keep the pattern contract."""
    kind = getattr(pattern, "kind", None)
    name = getattr(pattern, "name", None)
    if not isinstance(kind, str) or not isinstance(name, str):
        raise InvalidArgumentError(
            f"{pattern!r} is not a resilience pattern: it needs a string kind and name "
            f"(got kind={kind!r}, name={name!r}).",
            hint="A pattern has a class constant kind (a PatternKind, or a string of its own), "
            "a name and a stats property; see 'How to add a resilience pattern' in "
            "docs/architecture.md.",
            context={"pattern": repr(pattern)},
        )
    return kind, name


def describe_kind(kind: str) -> str:
    """How a log line names a kind: ``rate_limiter`` -> ``rate limiter``."""
    return str(kind).replace("_", " ")


class Catalog:
    """Patterns by ``(kind, name)``, weakly held; the newest live one per key is listed."""

    __slots__ = ("_dirty", "_entries", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Key, list[weakref.ref[Any]]] = {}
        self._dirty = False

    def _on_death(self, _ref: weakref.ref[Any]) -> None:
        # may run in any thread, at any time (even under our lock): only flag it
        self._dirty = True

    def _prune_locked(self) -> None:
        if not self._dirty:
            return
        self._dirty = False  # first: a death during the sweep flags the next one
        for key in list(self._entries):
            alive = [ref for ref in self._entries[key] if ref() is not None]
            if alive:
                self._entries[key] = alive
            else:
                del self._entries[key]

    def add(self, pattern: Pattern) -> None:
        """List ``pattern`` under its kind and name (newest first); warn on a live clash."""
        key = key_of(pattern)
        ref = weakref.ref(pattern, self._on_death)
        with self._lock:
            self._prune_locked()
            refs = self._entries.setdefault(key, [])
            clash = any(other() is not None for other in refs)
            refs.append(ref)
        if clash:
            what = describe_kind(key[0])
            _log.warning(
                f"two live {what}s share one name; the registry lists the newest",
                name=key[1],
                kind=str(key[0]),
                hint=f"Give each {what} its own name, or pass register=False "
                "to the ones that should not be listed.",
            )

    def live(self, kind: str | None = None) -> dict[Key, Pattern]:
        """The newest live pattern of every ``(kind, name)`` (of one ``kind``, if given)."""
        found: dict[Key, Pattern] = {}
        with self._lock:
            self._prune_locked()
            for key, refs in self._entries.items():
                if kind is not None and key[0] != kind:
                    continue
                for ref in reversed(refs):
                    pattern = ref()
                    if pattern is not None:
                        found[key] = pattern
                        break
        return found

    def get(self, kind: str, name: str) -> Pattern | None:
        """The newest live pattern of ``kind`` called ``name``, if any."""
        with self._lock:
            refs = self._entries.get((kind, name), ())
            for ref in reversed(refs):
                pattern: Pattern | None = ref()
                if pattern is not None:
                    return pattern
        return None

    def clear(self) -> None:
        """Forget every pattern (they keep working; they are just no longer listed)."""
        with self._lock:
            self._entries.clear()
            self._dirty = False


NAMED = Catalog()
"""Named patterns made by hand (``register=True``): the default instance the default
registry lists; ``set_default_registry(None)`` clears it."""
