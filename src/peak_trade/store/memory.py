"""In-process store: dicts behind one lock, logical expiry on an injected clock.

For libraries and tests. Nothing is shared with other processes. Use
:meth:`MemoryStore.namespaced` for a second store over the same data under
another namespace (as two stores sharing one SQLite file or Redis db would).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from peak_trade.clock import Clock, system_clock
from peak_trade.store import _core
from peak_trade.store._validate import (
    check_amount,
    check_bucket,
    check_cost,
    check_key,
    check_limit,
    check_namespace,
    check_prefix,
    check_ttl,
    check_value,
    check_window,
)
from peak_trade.store.base import DEFAULT_NAMESPACE, StoreBase

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
        self.namespace = check_namespace(namespace)
        self.url = "memory://"
        self.clock = clock
        self._data = _data if _data is not None else _Data()

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

    # ------------------------------------------------------------ primitives

    def ping(self) -> None:
        """Always answers."""

    def get(self, key: str) -> bytes | None:
        k = (self.namespace, check_key(key))
        with self._data.lock:
            return self._live(k, self.clock.time())

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        k, value, ttl = (self.namespace, check_key(key)), check_value(value), check_ttl(ttl)
        with self._data.lock:
            self._put(k, value, ttl, self.clock.time())

    def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return self.compare_and_set(key, None, value, ttl)

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None = None
    ) -> bool:
        k, new, ttl = (self.namespace, check_key(key)), check_value(new), check_ttl(ttl)
        if expected is not None:
            check_value(expected)
        with self._data.lock:
            now = self.clock.time()
            if self._live(k, now) != expected:
                return False
            self._put(k, new, ttl, now)
            return True

    def compare_and_delete(self, key: str, expected: bytes) -> bool:
        k, expected = (self.namespace, check_key(key)), check_value(expected)
        with self._data.lock:
            if self._live(k, self.clock.time()) != expected:
                return False
            del self._data.values[k]
            return True

    def delete(self, key: str) -> bool:
        k = (self.namespace, check_key(key))
        with self._data.lock:
            now = self.clock.time()
            found = self._live(k, now) is not None
            self._data.values.pop(k, None)
            win = self._data.windows.pop(k, None)
            tat = self._data.buckets.pop(k, None)
            return found or (win is not None and win[0] > now) or (tat is not None and tat > now)

    def ttl(self, key: str) -> float | None:
        k = (self.namespace, check_key(key))
        with self._data.lock:
            now = self.clock.time()
            if self._live(k, now) is None:
                return None
            expires_at = self._data.values[k][1]
            return math.inf if expires_at is None else expires_at - now

    def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        key, amount, ttl = check_key(key), check_amount(amount), check_ttl(ttl)
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

    def window_hit(self, key: str, window: float, cost: int = 1, limit: int | None = None) -> int:
        k = (self.namespace, check_key(key))
        window, cost, limit = check_window(window), check_cost(cost), check_limit(limit)
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

    def take_tokens(self, key: str, rate: float, burst: int, cost: int = 1) -> tuple[bool, float]:
        k, cost = (self.namespace, check_key(key)), check_cost(cost, minimum=1)
        rate, burst = check_bucket(rate, burst, cost)
        with self._data.lock:
            now = self.clock.time()
            allowed, wait, tat = _core.gcra_take(self._data.buckets.get(k), now, rate, burst, cost)
            if allowed and tat is not None:
                self._data.buckets[k] = tat
                self._data.maybe_purge(now)
            return allowed, wait

    def tokens_available(self, key: str, rate: float, burst: int) -> float:
        k = (self.namespace, check_key(key))
        rate, burst = check_bucket(rate, burst)
        with self._data.lock:
            return _core.gcra_available(self._data.buckets.get(k), self.clock.time(), rate, burst)

    def scan(self, prefix: str) -> list[str]:
        prefix = check_prefix(prefix)
        with self._data.lock:
            now = self.clock.time()
            found = [
                key
                for (ns, key), (_, exp) in self._data.values.items()
                if ns == self.namespace and key.startswith(prefix) and (exp is None or exp > now)
            ]
        return sorted(found)
