"""In-process store: dicts behind one lock, logical expiry on an injected clock.

For libraries and tests. Nothing is shared with other processes. Use
:meth:`MemoryStore.namespaced` for a second store over the same data under
another namespace (as two stores sharing one SQLite file or Redis db would).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from peak_trade.clock import Clock, system_clock
from peak_trade.store import _core
from peak_trade.store.base import DEFAULT_NAMESPACE, StoreBase

if TYPE_CHECKING:
    from peak_trade._store_url import StoreSpec

__all__ = ["MemoryStore"]

_Key = tuple[str, str]
PURGE_EVERY = 4096


@dataclass
class _Data:
    """The shared state of every namespace view: one lock guards all of it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    values: dict[_Key, tuple[bytes, float | None]] = field(default_factory=dict)
    windows: dict[_Key, tuple[float, list[tuple[float, int]]]] = field(default_factory=dict)
    """key -> (expires_at: last event + window, [(ts, cost), ...])"""
    buckets: dict[_Key, float] = field(default_factory=dict)
    """key -> theoretical arrival time (the bucket is full again at that time)"""
    writes: int = 0

    def maybe_purge(self, now: float) -> None:
        """Every ``PURGE_EVERY`` writes, drop expired records of every key (lock held)."""
        self.writes += 1
        if self.writes % PURGE_EVERY:
            return
        self.values = {k: v for k, v in self.values.items() if v[1] is None or v[1] > now}
        self.windows = {k: w for k, w in self.windows.items() if w[0] > now}
        self.buckets = {k: tat for k, tat in self.buckets.items() if tat > now}


class MemoryStore(StoreBase):
    """A :class:`~peak_trade.store.Store` in this process's memory.

    Args:
        namespace: key prefix separating logical stores (see :meth:`namespaced`).
        clock: time source for expiry, windows and buckets; ``ManualClock`` in tests.
    """

    def __init__(
        self,
        namespace: str = DEFAULT_NAMESPACE,
        clock: Clock = system_clock,
        *,
        _data: _Data | None = None,
    ) -> None:
        super().__init__(namespace)
        self.url = "memory://"
        self.clock = clock
        self._data = _data if _data is not None else _Data()

    @classmethod
    def from_spec(cls, spec: StoreSpec, clock: Clock) -> MemoryStore:
        """``memory://``: a new, empty store (``store_timeout`` holds trivially: no call waits)."""
        return cls(spec.options["namespace"], clock)

    def namespaced(self, namespace: str) -> MemoryStore:
        """Another store over the same in-process data, under ``namespace``."""
        return MemoryStore(namespace, self.clock, _data=self._data)

    # ------------------------------------------------------------ helpers (lock held)

    def _live(self, k: _Key, now: float) -> bytes | None:
        entry = self._data.values.get(k)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= now:
            del self._data.values[k]
            return None
        return value

    def _put(self, k: _Key, value: bytes, ttl: float | None, now: float) -> None:
        self._data.values[k] = (value, None if ttl is None else now + ttl)
        self._data.maybe_purge(now)

    # ------------------------------------------------------------ hooks (arguments validated)

    def _ping(self) -> None:
        """Always answers."""

    def _get(self, key: str) -> bytes | None:
        with self._data.lock:
            return self._live((self.namespace, key), self.clock.time())

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        with self._data.lock:
            self._put((self.namespace, key), value, ttl, self.clock.time())

    def _compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None
    ) -> bool:
        k = (self.namespace, key)
        with self._data.lock:
            now = self.clock.time()
            if self._live(k, now) != expected:
                return False
            self._put(k, new, ttl, now)
            return True

    def _compare_and_delete(self, key: str, expected: bytes) -> bool:
        k = (self.namespace, key)
        with self._data.lock:
            if self._live(k, self.clock.time()) != expected:
                return False
            del self._data.values[k]
            return True

    def _delete(self, key: str) -> bool:
        k = (self.namespace, key)
        with self._data.lock:
            now = self.clock.time()
            found = self._live(k, now) is not None
            self._data.values.pop(k, None)
            win = self._data.windows.pop(k, None)
            tat = self._data.buckets.pop(k, None)
            return found or (win is not None and win[0] > now) or (tat is not None and tat > now)

    def _ttl(self, key: str) -> float | None:
        k = (self.namespace, key)
        with self._data.lock:
            now = self.clock.time()
            if self._live(k, now) is None:
                return None
            expires_at = self._data.values[k][1]
            return math.inf if expires_at is None else expires_at - now

    def _incr(self, key: str, amount: int, ttl: float | None) -> int:
        k = (self.namespace, key)
        with self._data.lock:
            now = self.clock.time()
            current = self._live(k, now)
            result = _core.counter_add(key, current, amount)
            if current is None:
                self._put(k, str(result).encode(), ttl, now)
            else:
                self._data.values[k] = (str(result).encode(), self._data.values[k][1])
            return result

    def _window_hit(self, key: str, window: float, cost: int, limit: int | None) -> int:
        k = (self.namespace, key)
        with self._data.lock:
            now = self.clock.time()
            cutoff = now - window
            expires_at, events = self._data.windows.get(k, (now, []))
            events = [e for e in events if e[0] > cutoff]
            total = sum(c for _, c in events) + cost
            if cost > 0 and (limit is None or total <= limit):
                events.append((now, cost))
                expires_at = now + window
                self._data.maybe_purge(now)
            if events:
                self._data.windows[k] = (expires_at, events)
            else:
                self._data.windows.pop(k, None)
            return total

    def _take_tokens(self, bucket: Any) -> tuple[bool, float]:
        key, rate, burst, cost = bucket
        k = (self.namespace, key)
        with self._data.lock:
            now = self.clock.time()
            allowed, wait, tat = _core.gcra_take(self._data.buckets.get(k), now, rate, burst, cost)
            if allowed and tat is not None:
                self._data.buckets[k] = tat
                self._data.maybe_purge(now)
            return allowed, wait

    def _tokens_available(self, key: str, rate: float, burst: int) -> float:
        with self._data.lock:
            tat = self._data.buckets.get((self.namespace, key))
            return _core.gcra_available(tat, self.clock.time(), rate, burst)

    def _scan(self, prefix: str) -> list[str]:
        with self._data.lock:
            now = self.clock.time()
            found = [
                key
                for (ns, key), (_, exp) in self._data.values.items()
                if ns == self.namespace and key.startswith(prefix) and (exp is None or exp > now)
            ]
        return sorted(found)
