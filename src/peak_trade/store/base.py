"""The :class:`Store` protocol: a small set of atomic primitives over byte values.

Every backend (``memory``, ``sqlite``, ``redis``) implements it and passes the
same contract test suite (``tests/store/test_contract.py``); see
``docs/stores.md`` for the semantics table and how each backend achieves
atomicity.

Keys name three independent kinds of record: a **value** (``get``/``set``/
``set_if_absent``/``compare_and_set``/``compare_and_delete``/``incr``/``ttl``/
``scan``), a **window log** (``window_hit``) and a **token bucket**
(``take_tokens``/``tokens_available``). The same key used with ``set`` and
with ``window_hit`` names two separate records; ``delete`` removes all three.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, runtime_checkable

__all__ = ["DEFAULT_NAMESPACE", "Store", "StoreBase"]

DEFAULT_NAMESPACE = "peaktrade"


@runtime_checkable
class Store(Protocol):
    """Atomic key/value, counter, sliding-window and token-bucket primitives.

    All writes are atomic with respect to other threads, processes and (for
    Redis) hosts. Arguments are validated before any I/O: a bad key, TTL,
    rate or value raises :class:`~peak_trade.errors.InvalidArgumentError`;
    backend failures raise :class:`~peak_trade.errors.StoreUnavailableError`
    (or :class:`~peak_trade.errors.StoreError`) with the driver error as
    ``__cause__``.
    """

    url: str
    """Where the store lives, with any password masked."""

    namespace: str
    """Prefix that separates this store's keys from other stores sharing the backend."""

    def ping(self) -> None:
        """Check the backend answers; raise ``StoreUnavailableError`` if not."""
        ...

    def get(self, key: str) -> bytes | None:
        """The value at ``key``, or ``None`` if absent or expired."""
        ...

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` (replacing any value and expiry); expire after ``ttl`` s if given."""
        ...

    def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` holds no live value. True if it was stored."""
        ...

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None = None
    ) -> bool:
        """Replace the value with ``new`` if it equals ``expected`` (``None``: must be absent).

        The new value gets ``ttl`` (``None``: no expiry). True if replaced.
        """
        ...

    def compare_and_delete(self, key: str, expected: bytes) -> bool:
        """Delete the value if it equals ``expected``. True if deleted."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the value, window log and token bucket named ``key``. True if any existed."""
        ...

    def ttl(self, key: str) -> float | None:
        """Seconds until the value expires; ``inf`` if it never does; ``None`` if absent."""
        ...

    def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add ``amount`` to the integer value (absent counts as 0) and return the result.

        ``ttl`` applies only when this call creates the key (fixed-window
        counter); later increments keep the original expiry. The value is
        stored as ASCII digits, so ``get`` returns e.g. ``b"3"``.
        """
        ...

    def window_hit(self, key: str, window: float, cost: int = 1, limit: int | None = None) -> int:
        """Sliding-window log: record ``cost`` events now; return the total within ``window`` s.

        Events older than ``window`` seconds are dropped first; the result
        includes this hit. With ``limit``, a hit that would take the total
        above ``limit`` records nothing, and the over-limit total is still
        returned, so callers test ``result <= limit``. ``cost=0`` only counts.
        """
        ...

    def take_tokens(self, key: str, rate: float, burst: int, cost: int = 1) -> tuple[bool, float]:
        """GCRA token bucket: ``rate`` tokens/s refill, ``burst`` capacity, starts full.

        Returns ``(True, 0.0)`` and consumes ``cost`` tokens, or
        ``(False, wait)`` consuming nothing, where ``wait`` is the number of
        seconds until ``cost`` tokens will be available.
        """
        ...

    def tokens_available(self, key: str, rate: float, burst: int) -> float:
        """Tokens currently in the bucket (read-only)."""
        ...

    def scan(self, prefix: str) -> list[str]:
        """Sorted keys with a live value in this namespace that start with ``prefix``."""
        ...

    def close(self) -> None:
        """Release connections. Safe to call twice."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class StoreBase:
    """Context-manager and ``repr`` support shared by the concrete stores."""

    url: str
    namespace: str

    def close(self) -> None:
        """Release resources (overridden by backends that hold any)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, namespace={self.namespace!r})"
