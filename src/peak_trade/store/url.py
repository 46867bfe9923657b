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

Which class opens which scheme, with which options, is one table,
:data:`BACKENDS` (a :class:`StoreBackend` row per backend): ``store_from_url``
and ``async_store_from_url`` look the scheme up there and call the row's
factory. A new backend is one module plus one :func:`register_backend` call
(see docs/stores.md, "Adding a backend").

The parsing itself (:func:`parse_store_url`) lives in the base layer, in
``peak_trade._store_url``, because ``peak_trade.config`` validates
``[store] url`` with the very same function: a URL that ``peaktrade config
validate`` accepts is one that ``peaktrade run`` can open. A URL may be given
as a plain ``str`` or as a :class:`SecretUrl` (what ``settings.store.url``
holds); errors and ``store.url`` never show its password.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from peak_trade._store_url import (
    BACKENDS,
    SUPPORTED_URLS,
    SecretUrl,
    StoreBackend,
    StoreFactory,
    StoreSpec,
    parse_store_url,
    register_backend,
    unregister_backend,
)
from peak_trade.clock import Clock, system_clock
from peak_trade.store.base import Store

__all__ = [
    "BACKENDS",
    "SUPPORTED_URLS",
    "SecretUrl",
    "StoreBackend",
    "StoreSpec",
    "open_spec",
    "parse_store_url",
    "register_backend",
    "resolve_factory",
    "store_from_url",
    "unregister_backend",
]


def resolve_factory(factory: StoreFactory) -> Callable[[StoreSpec, Clock], Any]:
    """A row's factory: the callable itself, or the one its ``"module:qualified.name"`` names."""
    if callable(factory):
        return factory
    module, _, qualname = factory.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found  # type: ignore[no-any-return]


def open_spec(spec: StoreSpec, clock: Clock | None = None) -> Store:
    """Open the sync store of a parsed URL with its row's factory."""
    assert spec.row is not None, "a StoreSpec from parse_store_url carries its row"
    store: Store = resolve_factory(spec.row.factory)(spec, clock or system_clock)
    store.url = spec.url
    return store


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
    arguments (``store_timeout``, ``busy_timeout``, ``eviction_policy_check``,
    ``connect_timeout``, ``socket_timeout``, ``max_connections``).

    The backend comes from the URL's scheme in the table of backends
    (:data:`BACKENDS`; :func:`register_backend` adds one). Opening does no
    network I/O: a Redis store connects on its first command (or ``ping()``).
    """
    return open_spec(parse_store_url(url, namespace=namespace, options=options), clock)
