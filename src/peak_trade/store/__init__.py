"""Shared state stores: atomic primitives over memory, SQLite or Redis.

::

    from peak_trade.store import store_from_url

    with store_from_url("sqlite:///var/state.db") as store:
        if store.set_if_absent("order:42", b"in-progress", ttl=300):
            ...

Everything that must be shared between workers (breaker state, limiter
buckets, idempotency records) goes through a :class:`Store`; see
``docs/stores.md``. Backends are rows of one table, :data:`BACKENDS`; a new
one is a :class:`StoreBase` subclass plus one :func:`register_backend` call.
``import peak_trade.store`` stays light: the SQLite, Redis and async modules
load on first use, and ``redis`` is imported only for ``redis://``,
``rediss://`` and ``unix://`` stores.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from peak_trade.store.base import Store, StoreBase
from peak_trade.store.memory import MemoryStore
from peak_trade.store.url import (
    BACKENDS,
    SecretUrl,
    StoreBackend,
    StoreSpec,
    register_backend,
    store_from_url,
    unregister_backend,
)

if TYPE_CHECKING:
    from peak_trade.store.aio import (
        AsyncStore,
        AsyncStoreAdapter,
        AsyncStoreBase,
        async_store_from_url,
    )
    from peak_trade.store.aio_redis import AsyncRedisStore
    from peak_trade.store.redis import RedisStore
    from peak_trade.store.sqlite import SqliteStore

__all__ = [
    "Store",
    "AsyncStore",
    "StoreBase",
    "AsyncStoreBase",
    "MemoryStore",
    "SqliteStore",
    "RedisStore",
    "AsyncRedisStore",
    "AsyncStoreAdapter",
    "SecretUrl",
    "store_from_url",
    "async_store_from_url",
    "BACKENDS",
    "StoreBackend",
    "StoreSpec",
    "register_backend",
    "unregister_backend",
]

_LAZY = {
    "AsyncStore": "peak_trade.store.aio",
    "AsyncStoreAdapter": "peak_trade.store.aio",
    "AsyncStoreBase": "peak_trade.store.aio",
    "async_store_from_url": "peak_trade.store.aio",
    "AsyncRedisStore": "peak_trade.store.aio_redis",
    "RedisStore": "peak_trade.store.redis",
    "SqliteStore": "peak_trade.store.sqlite",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'peak_trade.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
