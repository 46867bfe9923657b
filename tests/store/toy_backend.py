"""A toy store backend: what "one module plus one table line" means.

``ToyStore`` keeps everything in plain dicts behind one lock. It subclasses
:class:`~peak_trade.store.StoreBase`, which validates every argument before a
hook runs, so the hooks below only implement the semantics (with the pure GCRA
and counter functions the memory and SQLite stores share). The one table line
is :data:`TOY`; ``tests/store/test_backends.py`` registers it, runs the whole
contract suite on ``toy://`` (sync and async) and removes it again.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from peak_trade.clock import Clock, system_clock
from peak_trade.store import StoreBackend, StoreBase, StoreSpec
from peak_trade.store._core import counter_add, gcra_available, gcra_take

__all__ = ["TOY", "ToyStore"]

# One dict of data per URL, so two stores opened on "toy://shared" share it,
# as two stores on one SQLite file or Redis db do.
_DATA: dict[str, dict[str, Any]] = {}


class ToyStore(StoreBase):
    """Values, window logs and buckets in dicts; time from the injected clock."""

    def __init__(self, name: str, *, namespace: str, clock: Clock = system_clock) -> None:
        super().__init__(namespace)
        self.url = f"toy://{name}"
        self.clock = clock
        data = _DATA.setdefault(
            name, {"lock": threading.Lock(), "values": {}, "logs": {}, "tats": {}}
        )
        self._lock: threading.Lock = data["lock"]
        self._values: dict[tuple[str, str], tuple[bytes, float]] = data["values"]
        self._logs: dict[tuple[str, str], tuple[float, list[tuple[float, int]]]] = data["logs"]
        self._tats: dict[tuple[str, str], float] = data["tats"]

    @classmethod
    def from_spec(cls, spec: StoreSpec, clock: Clock) -> ToyStore:
        # store_timeout: every call is in memory, so any budget holds
        return cls(spec.target, namespace=spec.options["namespace"], clock=clock)

    def _live(self, key: str) -> bytes | None:
        entry = self._values.get((self.namespace, key))
        return entry[0] if entry is not None and entry[1] > self.clock.time() else None

    def _ping(self) -> None:
        pass

    def _get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key)

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        with self._lock:
            self._values[self.namespace, key] = (value, self.clock.time() + (ttl or math.inf))

    def _compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None
    ) -> bool:
        with self._lock:
            if self._live(key) != expected:
                return False
            self._values[self.namespace, key] = (new, self.clock.time() + (ttl or math.inf))
            return True

    def _compare_and_delete(self, key: str, expected: bytes) -> bool:
        with self._lock:
            if self._live(key) != expected:
                return False
            del self._values[self.namespace, key]
            return True

    def _delete(self, key: str) -> bool:
        with self._lock:
            now, k = self.clock.time(), (self.namespace, key)
            found = self._live(key) is not None
            self._values.pop(k, None)
            log, tat = self._logs.pop(k, None), self._tats.pop(k, None)
            return found or (log is not None and log[0] > now) or (tat is not None and tat > now)

    def _ttl(self, key: str) -> float | None:
        with self._lock:
            if self._live(key) is None:
                return None
            return self._values[self.namespace, key][1] - self.clock.time()

    def _incr(self, key: str, amount: int, ttl: float | None) -> int:
        with self._lock:
            current = self._live(key)
            result = counter_add(key, current, amount)
            expires = self._values[self.namespace, key][1] if current is not None else None
            if expires is None:
                expires = self.clock.time() + (ttl or math.inf)
            self._values[self.namespace, key] = (str(result).encode(), expires)
            return result

    def _window_hit(self, key: str, window: float, cost: int, limit: int | None) -> int:
        with self._lock:
            now, k = self.clock.time(), (self.namespace, key)
            expires, events = self._logs.get(k, (now, []))
            events = [e for e in events if e[0] > now - window]
            total = sum(c for _, c in events) + cost
            if cost and (limit is None or total <= limit):
                events.append((now, cost))
                expires = now + window
            self._logs[k] = (expires, events)
            return total

    def _take_tokens(self, bucket: Any) -> tuple[bool, float]:
        key, rate, burst, cost = bucket
        with self._lock:
            k = (self.namespace, key)
            allowed, wait, tat = gcra_take(self._tats.get(k), self.clock.time(), rate, burst, cost)
            if allowed and tat is not None:
                self._tats[k] = tat
            return allowed, wait

    def _tokens_available(self, key: str, rate: float, burst: int) -> float:
        with self._lock:
            tat = self._tats.get((self.namespace, key))
            return gcra_available(tat, self.clock.time(), rate, burst)

    def _scan(self, prefix: str) -> list[str]:
        with self._lock:
            keys = [k for ns, k in list(self._values) if ns == self.namespace]
            return sorted(k for k in keys if k.startswith(prefix) and self._live(k) is not None)


TOY = StoreBackend(
    "toy",
    ("toy",),
    factory=ToyStore.from_spec,
    blocking=False,
    urls=("toy://name",),
)
"""The table line: scheme, factory, and that its calls never block an event loop
(so ``async_store_from_url("toy://...")`` runs them inline)."""
