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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit

from peak_trade.clock import Clock, system_clock
from peak_trade.errors import ConfigError, InvalidArgumentError
from peak_trade.logging import mask_url_credentials
from peak_trade.store._validate import check_namespace
from peak_trade.store.base import DEFAULT_NAMESPACE, Store

__all__ = ["SUPPORTED_URLS", "StoreSpec", "parse_store_url", "store_from_url"]

SUPPORTED_URLS = (
    "memory://",
    "sqlite:///relative/path.db",
    "sqlite:////absolute/path.db",
    "redis://[[user]:password@]host[:port][/db]",
    "rediss://[[user]:password@]host[:port][/db]",
    "unix://[[user]:password@]/path/to/redis.sock[?db=N]",
)


def _seconds(name: str, value: Any) -> float:
    problem = f"{name} must be a number of seconds > 0, e.g. {name}=5"
    if isinstance(value, bool):
        raise ValueError(problem)
    try:
        number = float(value)  # a str from the query string, or a number
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(problem)
    return number


def _mode(name: str, value: Any) -> str:
    if value not in ("refuse", "warn", "off"):
        raise ValueError(f"{name} must be one of refuse, warn, off")
    return str(value)


def _namespace(_name: str, value: Any) -> str:
    try:
        return check_namespace(value)
    except InvalidArgumentError as exc:
        raise ValueError(exc.message) from exc


_Parser = Callable[[str, Any], Any]
_OPTIONS: dict[str, dict[str, _Parser]] = {
    "memory": {"namespace": _namespace},
    "sqlite": {"namespace": _namespace, "busy_timeout": _seconds},
    "redis": {
        "namespace": _namespace,
        "eviction_policy_check": _mode,
        "connect_timeout": _seconds,
        "socket_timeout": _seconds,
    },
}
# Query parameters handed to redis-py unchanged (it parses and validates them).
_REDIS_PASSTHROUGH = frozenset(
    {
        "db",
        "client_name",
        "health_check_interval",
        "max_connections",
        "ssl_ca_certs",
        "ssl_cert_reqs",
        "ssl_certfile",
        "ssl_check_hostname",
        "ssl_keyfile",
    }
)
_BACKENDS = {
    "memory": "memory",
    "sqlite": "sqlite",
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
}


@dataclass(frozen=True)
class StoreSpec:
    """A parsed, validated store URL.

    ``target`` is the SQLite file path, or the URL handed to redis-py (with
    peak-trade's own options removed); ``options`` are the backend's keyword
    arguments, namespace included.
    """

    backend: str
    url: str
    target: str
    options: dict[str, Any] = field(default_factory=dict)


def _config_error(message: str, url: str, hint: str | None = None, **context: Any) -> ConfigError:
    return ConfigError(
        message,
        hint=hint or "Supported store URLs: " + ", ".join(SUPPORTED_URLS),
        context={"url": mask_url_credentials(url), **context},
    )


def _target(backend: str, url: str, parts: SplitResult, passthrough: list[tuple[str, str]]) -> str:
    if backend == "memory":
        if parts.netloc or parts.path not in ("", "/"):
            raise _config_error("memory:// takes no host or path.", url)
        return ""
    if backend == "sqlite":
        if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
            raise _config_error(
                "A SQLite URL needs a file path: sqlite:///relative.db or sqlite:////abs.db.",
                url,
            )
        path = unquote(parts.path[1:])
        if path == ":memory:":
            raise _config_error("An in-memory SQLite store cannot be shared; use memory://.", url)
        return path
    try:
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        raise _config_error(f"Bad port in Redis URL: {exc}.", url) from exc
    if parts.scheme == "unix" and not parts.path:
        raise _config_error("A unix:// URL needs a socket path: unix:///path/to/redis.sock", url)
    if parts.scheme != "unix" and parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise _config_error("The Redis database must be a number: redis://host:6379/0.", url)
    query = f"?{urlencode(passthrough)}" if passthrough else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}{query}"  # urlunsplit drops "//"


def parse_store_url(
    url: str, *, namespace: str | None = None, options: Mapping[str, Any] | None = None
) -> StoreSpec:
    """Validate ``url`` and ``options``; raise ``ConfigError`` naming what is supported."""
    if not isinstance(url, str) or "://" not in url:
        raise _config_error("A store URL must look like scheme://...", str(url))
    parts = urlsplit(url)
    backend = _BACKENDS.get(parts.scheme.lower())
    if backend is None:
        raise _config_error(f"Unsupported store URL scheme {parts.scheme!r}.", url)
    allowed = _OPTIONS[backend]
    given: dict[str, Any] = dict(options or {})
    if namespace is not None:
        given["namespace"] = namespace
    passthrough: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if backend == "redis" and name in _REDIS_PASSTHROUGH:
            passthrough.append((name, value))
        else:
            given[name] = value  # the URL wins over keyword arguments
    parsed: dict[str, Any] = {"namespace": DEFAULT_NAMESPACE}
    for name, value in given.items():
        parser = allowed.get(name)
        if parser is None:
            supported = sorted(allowed) + (sorted(_REDIS_PASSTHROUGH) if backend == "redis" else [])
            raise _config_error(
                f"Unknown option {name!r} for a {parts.scheme}:// store.",
                url,
                hint=f"Options of {parts.scheme}:// stores: {', '.join(supported)}.",
                option=name,
            )
        try:
            parsed[name] = parser(name, value)
        except (TypeError, ValueError) as exc:
            raise _config_error(
                f"Bad value for store option {name!r}.",
                url,
                hint=f"{str(exc).rstrip('.')}.",
                option=name,
                value=value,
            ) from exc
    target = _target(backend, url, parts, passthrough)
    return StoreSpec(backend, mask_url_credentials(url), target, parsed)


def store_from_url(
    url: str, *, namespace: str | None = None, clock: Clock | None = None, **options: Any
) -> Store:
    """Open the store ``url`` names (see the module docstring for the formats).

    ``clock`` drives expiry, windows and buckets of the memory and SQLite
    backends; Redis always uses the server's clock. ``options`` are the
    backend's keyword arguments (``busy_timeout``, ``eviction_policy_check``,
    ``connect_timeout``, ``socket_timeout``).
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

        store = RedisStore(spec.target, **spec.options)
    store.url = spec.url
    return store
