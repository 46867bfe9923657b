"""The async twin of :class:`~peak_trade.store.Store`.

- Redis: :class:`~peak_trade.store.aio_redis.AsyncRedisStore`, an async shell
  over the same command core as the sync ``RedisStore`` (nothing copied).
- Memory and SQLite: :class:`AsyncStoreAdapter` runs the sync store's
  primitives, directly for memory (they never block) and in a worker thread
  (``asyncio.to_thread``) for SQLite (file I/O, lock waits): the table of
  backends says which (``StoreBackend.blocking``).
- A native async backend subclasses :class:`AsyncStoreBase`, which validates
  arguments exactly as the sync ``StoreBase`` does and awaits its hooks.

Open one with ``store = await async_store_from_url(url)``; close it with
``await store.close()`` or ``async with store: ...``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, ParamSpec, Protocol, Self, TypeVar, runtime_checkable

from peak_trade.clock import Clock, system_clock
from peak_trade.store.base import AsyncClosing, AsyncStoreBase, Store
from peak_trade.store.url import BACKENDS, SecretUrl, open_spec, parse_store_url, resolve_factory

__all__ = ["AsyncStore", "AsyncStoreAdapter", "AsyncStoreBase", "async_store_from_url"]

P = ParamSpec("P")
T = TypeVar("T")


@runtime_checkable
class AsyncStore(Protocol):
    """:class:`~peak_trade.store.Store` with ``async def`` primitives (same semantics)."""

    url: str
    namespace: str

    async def ping(self) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...
    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool: ...
    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None = None
    ) -> bool: ...
    async def compare_and_delete(self, key: str, expected: bytes) -> bool: ...
    async def delete(self, key: str) -> bool: ...
    async def ttl(self, key: str) -> float | None: ...
    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int: ...
    async def window_hit(
        self, key: str, window: float, cost: int = 1, limit: int | None = None
    ) -> int: ...
    async def take_tokens(
        self, key: str, rate: float, burst: int, cost: int = 1
    ) -> tuple[bool, float]: ...
    async def tokens_available(self, key: str, rate: float, burst: int) -> float: ...
    async def scan(self, prefix: str) -> list[str]: ...
    async def close(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def _blocks(store: Store) -> bool:
    """Whether ``store``'s calls block, by its row in the table (no row: assume they do)."""
    row = BACKENDS.for_url(getattr(store, "url", ""))
    return True if row is None else row.blocking


class AsyncStoreAdapter(AsyncClosing):
    """An :class:`AsyncStore` running a sync :class:`~peak_trade.store.Store`'s primitives.

    Args:
        store: the sync store (its atomicity is unchanged).
        offload: run each primitive in a worker thread; default: what the
            store's row in the table of backends says (``blocking``): inline
            for ``memory://``, in a thread for SQLite, Redis and any store
            whose URL scheme has no row.
    """

    def __init__(self, store: Store, *, offload: bool | None = None) -> None:
        self.store = store
        self.url = store.url
        self.namespace = store.namespace
        self._offload = _blocks(store) if offload is None else offload

    def __repr__(self) -> str:
        return f"AsyncStoreAdapter({self.store!r})"

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._offload:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    async def ping(self) -> None:
        await self._call(self.store.ping)

    async def get(self, key: str) -> bytes | None:
        return await self._call(self.store.get, key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._call(self.store.set, key, value, ttl)

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return await self._call(self.store.set_if_absent, key, value, ttl)

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None = None
    ) -> bool:
        return await self._call(self.store.compare_and_set, key, expected, new, ttl)

    async def compare_and_delete(self, key: str, expected: bytes) -> bool:
        return await self._call(self.store.compare_and_delete, key, expected)

    async def delete(self, key: str) -> bool:
        return await self._call(self.store.delete, key)

    async def ttl(self, key: str) -> float | None:
        return await self._call(self.store.ttl, key)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return await self._call(self.store.incr, key, amount, ttl)

    async def window_hit(
        self, key: str, window: float, cost: int = 1, limit: int | None = None
    ) -> int:
        return await self._call(self.store.window_hit, key, window, cost, limit)

    async def take_tokens(
        self, key: str, rate: float, burst: int, cost: int = 1
    ) -> tuple[bool, float]:
        return await self._call(self.store.take_tokens, key, rate, burst, cost)

    async def tokens_available(self, key: str, rate: float, burst: int) -> float:
        return await self._call(self.store.tokens_available, key, rate, burst)

    async def scan(self, prefix: str) -> list[str]:
        return await self._call(self.store.scan, prefix)

    async def close(self) -> None:
        await self._call(self.store.close)


async def async_store_from_url(
    url: str | SecretUrl,
    *,
    namespace: str | None = None,
    clock: Clock | None = None,
    **options: Any,
) -> AsyncStore:
    """The async twin of :func:`~peak_trade.store.store_from_url` (same URLs and options).

    The URL's row in the table of backends decides: its ``async_factory``
    (Redis: :class:`~peak_trade.store.aio_redis.AsyncRedisStore`, which
    connects on its first command), or else the sync store behind an
    :class:`AsyncStoreAdapter`, opened in a worker thread if its calls block.
    """
    spec = parse_store_url(url, namespace=namespace, options=options)
    assert spec.row is not None
    if spec.row.async_factory is not None:
        store: AsyncStore = resolve_factory(spec.row.async_factory)(spec, clock or system_clock)
        store.url = spec.url
        return store
    if spec.row.blocking:
        return AsyncStoreAdapter(await asyncio.to_thread(open_spec, spec, clock), offload=True)
    return AsyncStoreAdapter(open_spec(spec, clock), offload=False)
