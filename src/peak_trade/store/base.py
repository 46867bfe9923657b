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
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Self, runtime_checkable

from peak_trade._store_url import DEFAULT_NAMESPACE
from peak_trade.store._validate import (
    check_amount,
    check_bucket,
    check_cost,
    check_expected,
    check_key,
    check_limit,
    check_namespace,
    check_prefix,
    check_ttl,
    check_value,
    check_window,
)

if TYPE_CHECKING:
    from peak_trade._store_url import StoreSpec
    from peak_trade.clock import Clock

__all__ = [
    "DEFAULT_NAMESPACE",
    "AsyncClosing",
    "AsyncStoreBase",
    "Bucket",
    "Store",
    "StoreBase",
]


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


class Bucket(NamedTuple):
    """``take_tokens``' validated arguments: what :meth:`StoreBase._bucket` makes by default."""

    key: str
    rate: float
    burst: int
    cost: int


class _Checked:
    """What the sync and the async base share: the namespace, ``from_spec`` and the
    memo of validated ``take_tokens`` arguments."""

    url: str
    namespace: str

    _MEMO_SIZE = 4096
    """Bound on the memo of prepared buckets (one per key, rate, burst and cost)."""

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = check_namespace(namespace)
        self._buckets: dict[tuple[Any, Any, Any, Any], Any] = {}

    @classmethod
    def from_spec(cls, spec: StoreSpec, clock: Clock) -> Self:
        """A factory for the table of backends: ``cls(spec.target, clock=clock, **options)``."""
        return cls(spec.target, clock=clock, **spec.options)  # type: ignore[call-arg]

    def _prepared(self, key: Any, rate: Any, burst: Any, cost: Any) -> Any:
        """What ``_bucket`` made of these ``take_tokens`` arguments (validated on first use)."""
        try:
            return self._buckets[key, rate, burst, cost]
        except (KeyError, TypeError):  # new, or unhashable (validation says what is wrong)
            return self._new_bucket(key, rate, burst, cost)

    def _new_bucket(self, key: Any, rate: Any, burst: Any, cost: Any) -> Any:
        """Validate ``take_tokens``' arguments once; remember what ``_bucket`` made of them."""
        key, cost = check_key(key), check_cost(cost, minimum=1)
        checked_rate, checked_burst = check_bucket(rate, burst, cost)
        prepared = self._bucket(key, checked_rate, checked_burst, cost)
        if len(self._buckets) >= self._MEMO_SIZE:
            self._buckets.clear()
        self._buckets[key, rate, burst, cost] = prepared
        return prepared

    def _bucket(self, key: str, rate: float, burst: int, cost: int) -> Any:
        """Hook: what ``_take_tokens`` receives for these (validated) arguments; a backend
        may prepare more than a :class:`Bucket` (Redis: the encoded command)."""
        return Bucket(key, rate, burst, cost)


class StoreBase(_Checked):
    """The base of the sync stores: every primitive validates its arguments, then calls a hook.

    A backend implements the hooks (``_get``, ``_set``, ``_compare_and_set``, ...,
    ``_take_tokens``, ``_scan``) and can rely on their arguments: keys, values,
    TTLs, windows, costs, rates and bursts are checked here, once, the same way
    for every backend (:class:`~peak_trade.errors.InvalidArgumentError` before
    any I/O). ``set_if_absent(k, v)`` reaches the backend as
    ``_compare_and_set(k, None, v, ttl)``. ``take_tokens`` validates a given
    ``(key, rate, burst, cost)`` once and hands ``_take_tokens`` what
    ``_bucket`` prepared for it (a :class:`Bucket` unless overridden), so the
    rate limiter's hot path costs one dict lookup here.
    """

    def ping(self) -> None:
        """Check the backend answers; raise ``StoreUnavailableError`` if not."""
        self._ping()

    def get(self, key: str) -> bytes | None:
        return self._get(check_key(key))

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._set(check_key(key), check_value(value), check_ttl(ttl))

    def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return self._compare_and_set(check_key(key), None, check_value(value), check_ttl(ttl))

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None = None
    ) -> bool:
        key, new, ttl = check_key(key), check_value(new), check_ttl(ttl)
        return self._compare_and_set(key, check_expected(expected), new, ttl)

    def compare_and_delete(self, key: str, expected: bytes) -> bool:
        return self._compare_and_delete(check_key(key), check_value(expected))

    def delete(self, key: str) -> bool:
        return self._delete(check_key(key))

    def ttl(self, key: str) -> float | None:
        return self._ttl(check_key(key))

    def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return self._incr(check_key(key), check_amount(amount), check_ttl(ttl))

    def window_hit(self, key: str, window: float, cost: int = 1, limit: int | None = None) -> int:
        key, window = check_key(key), check_window(window)
        return self._window_hit(key, window, check_cost(cost), check_limit(limit))

    def take_tokens(self, key: str, rate: float, burst: int, cost: int = 1) -> tuple[bool, float]:
        return self._take_tokens(self._prepared(key, rate, burst, cost))

    def tokens_available(self, key: str, rate: float, burst: int) -> float:
        key = check_key(key)
        return self._tokens_available(key, *check_bucket(rate, burst))

    def scan(self, prefix: str) -> list[str]:
        return self._scan(check_prefix(prefix))

    def close(self) -> None:
        """Release resources (overridden by backends that hold any)."""

    # ------------------------------------------------------------ hooks (arguments validated)

    def _ping(self) -> None:
        raise NotImplementedError

    def _get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        raise NotImplementedError

    def _compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None
    ) -> bool:
        raise NotImplementedError

    def _compare_and_delete(self, key: str, expected: bytes) -> bool:
        raise NotImplementedError

    def _delete(self, key: str) -> bool:
        raise NotImplementedError

    def _ttl(self, key: str) -> float | None:
        raise NotImplementedError

    def _incr(self, key: str, amount: int, ttl: float | None) -> int:
        raise NotImplementedError

    def _window_hit(self, key: str, window: float, cost: int, limit: int | None) -> int:
        raise NotImplementedError

    def _take_tokens(self, bucket: Any) -> tuple[bool, float]:
        raise NotImplementedError

    def _tokens_available(self, key: str, rate: float, burst: int) -> float:
        raise NotImplementedError

    def _scan(self, prefix: str) -> list[str]:
        raise NotImplementedError

    # ------------------------------------------------------------ lifecycle

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


class AsyncClosing:
    """``async with`` support: ``close()`` on the way out (for the async stores)."""

    async def close(self) -> None:
        """Release resources (overridden by backends that hold any)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncStoreBase(AsyncClosing, _Checked):
    """The base of native async stores: the async twin of :class:`~peak_trade.store.StoreBase`.

    The same argument checks (the ``check_*`` functions of ``_validate``, and the
    memo of validated buckets) run before an ``async`` hook is awaited; a
    backend implements the hooks ``_get``, ``_set``, ... as coroutines.
    Constructing does no I/O. ``async with store`` closes it.
    """

    async def ping(self) -> None:
        await self._ping()

    async def get(self, key: str) -> bytes | None:
        return await self._get(check_key(key))

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._set(check_key(key), check_value(value), check_ttl(ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return await self._compare_and_set(check_key(key), None, check_value(value), check_ttl(ttl))

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None = None
    ) -> bool:
        key, new, ttl = check_key(key), check_value(new), check_ttl(ttl)
        return await self._compare_and_set(key, check_expected(expected), new, ttl)

    async def compare_and_delete(self, key: str, expected: bytes) -> bool:
        return await self._compare_and_delete(check_key(key), check_value(expected))

    async def delete(self, key: str) -> bool:
        return await self._delete(check_key(key))

    async def ttl(self, key: str) -> float | None:
        return await self._ttl(check_key(key))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return await self._incr(check_key(key), check_amount(amount), check_ttl(ttl))

    async def window_hit(
        self, key: str, window: float, cost: int = 1, limit: int | None = None
    ) -> int:
        key, window = check_key(key), check_window(window)
        return await self._window_hit(key, window, check_cost(cost), check_limit(limit))

    async def take_tokens(
        self, key: str, rate: float, burst: int, cost: int = 1
    ) -> tuple[bool, float]:
        return await self._take_tokens(self._prepared(key, rate, burst, cost))

    async def tokens_available(self, key: str, rate: float, burst: int) -> float:
        key = check_key(key)
        return await self._tokens_available(key, *check_bucket(rate, burst))

    async def scan(self, prefix: str) -> list[str]:
        return await self._scan(check_prefix(prefix))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, namespace={self.namespace!r})"

    # ------------------------------------------------------------ hooks (arguments validated)

    async def _ping(self) -> None:
        raise NotImplementedError

    async def _get(self, key: str) -> bytes | None:
        raise NotImplementedError

    async def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        raise NotImplementedError

    async def _compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None
    ) -> bool:
        raise NotImplementedError

    async def _compare_and_delete(self, key: str, expected: bytes) -> bool:
        raise NotImplementedError

    async def _delete(self, key: str) -> bool:
        raise NotImplementedError

    async def _ttl(self, key: str) -> float | None:
        raise NotImplementedError

    async def _incr(self, key: str, amount: int, ttl: float | None) -> int:
        raise NotImplementedError

    async def _window_hit(self, key: str, window: float, cost: int, limit: int | None) -> int:
        raise NotImplementedError

    async def _take_tokens(self, bucket: Any) -> tuple[bool, float]:
        raise NotImplementedError

    async def _tokens_available(self, key: str, rate: float, burst: int) -> float:
        raise NotImplementedError

    async def _scan(self, prefix: str) -> list[str]:
        raise NotImplementedError
