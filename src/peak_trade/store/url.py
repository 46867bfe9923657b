"""Open a store from a URL: ``memory://``, ``sqlite:///...``, ``redis://``, ``rediss://``, ``unix://``.

SQLite paths follow SQLAlchemy's convention: three slashes then a relative
path (``sqlite:///var/state.db`` is ``var/state.db`` under the working
directory), four slashes for an absolute one (``sqlite:////srv/pt/state.db``).

Options come from the query string (``?namespace=bot1&busy_timeout=10``) or
as keyword arguments; when both give one, the URL wins (as in redis-py's
``from_url``). Unknown schemes and options raise
:class:`~peak_trade.errors.ConfigError` naming what is supported. Backends
are imported only when a URL needs them, so ``memory://`` and ``sqlite://``
never import ``redis``.

The parsing itself (:func:`parse_store_url`) lives in the base layer, in
``peak_trade._store_url``, because ``peak_trade.config`` validates
``[store] url`` with the very same function: a URL that ``peaktrade config
validate`` accepts is one that ``peaktrade run`` can open. A URL may be given
as a plain ``str`` or as a :class:`SecretUrl` (what ``settings.store.url``
holds); errors and ``store.url`` never show its password.
"""

from __future__ import annotations

from typing import Any

from peak_trade._store_url import SUPPORTED_URLS, SecretUrl, StoreSpec, parse_store_url
from peak_trade.clock import Clock, system_clock
from peak_trade.store.base import Store

__all__ = ["SUPPORTED_URLS", "SecretUrl", "StoreSpec", "parse_store_url", "store_from_url"]


def store_from_url(
    url: str | SecretUrl,
    *,
    namespace: str | None = None,
    clock: Clock | None = None,
    **options: Any,
) -> Store:
    """Open the store ``url`` names (see the module docstring for the formats).

    ``clock`` drives expiry, windows and buckets of the memory and SQLite
    backends; Redis decides with the server's clock, and uses ``clock`` only
    to time ``health_check_interval``. ``options`` are the backend's keyword
    arguments (``busy_timeout``, ``eviction_policy_check``,
    ``connect_timeout``, ``socket_timeout``, ``max_connections``).
    """
    spec = parse_store_url(url, namespace=namespace, options=options)
    store: Store
    if spec.backend == "memory":
        from peak_trade.store.memory import MemoryStore

        store = MemoryStore(clock=clock or system_clock, **spec.options)
    elif spec.backend == "sqlite":
        from peak_trade.store.sqlite import SqliteStore

        store = SqliteStore(spec.target, clock=clock or system_clock, **spec.options)
    else:
        from peak_trade.store.redis import RedisStore

        store = RedisStore(spec.target, clock=clock or system_clock, **spec.options)
    store.url = spec.url
    return store
