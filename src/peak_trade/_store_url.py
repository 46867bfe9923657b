"""Store URLs, parsed and validated without importing any backend.

This is the one parser of ``[store] url``: :mod:`peak_trade.config` runs it
when it validates the configuration (``peaktrade config validate``) and
:func:`peak_trade.store.store_from_url` runs it before it opens a store
(``peaktrade run``), so a URL the first accepts the second never refuses.
It sits in the base layer (it imports only ``errors`` and ``logging``) so that
``config`` can use it without importing the store package.

:class:`SecretUrl` holds a URL that may carry a password: ``str()``,
``repr()`` and JSON serialisation mask the password, and only
:meth:`SecretUrl.get_secret_value` returns the URL as written.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit

from peak_trade.errors import ConfigError
from peak_trade.logging import REDACTED, mask_url_credentials

__all__ = [
    "BACKENDS",
    "COMMON_OPTIONS",
    "DEFAULT_NAMESPACE",
    "NAMESPACE_RULE",
    "SUPPORTED_URLS",
    "BackendTable",
    "OptionParser",
    "SecretUrl",
    "StoreBackend",
    "StoreFactory",
    "StoreSpec",
    "TargetParser",
    "check_store_namespace",
    "parse_store_url",
    "register_backend",
    "unregister_backend",
    "url_error",
]

DEFAULT_NAMESPACE = "peaktrade"
NAMESPACE_RULE = "1-64 characters from A-Z, a-z, 0-9, '_', '.', '-'"
_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")  # also store/_validate.check_namespace's rule

# --------------------------------------------------------------------------- SecretUrl


def _masked(url: str) -> str:
    if "://" not in url and "@" in url:
        return REDACTED  # not a URL we can read: credentials could be anywhere
    return mask_url_credentials(url)


class SecretUrl:
    """A URL that may hold a password, safe to print, log and ``repr``.

    ``str(url)`` and ``repr(url)`` show it with the password replaced by
    ``***``; :meth:`get_secret_value` returns it as written (the name
    pydantic's ``SecretStr`` uses). Two ``SecretUrl`` are equal when their
    URLs are; a ``SecretUrl`` never equals a plain ``str``.
    """

    __slots__ = ("_masked", "_value")

    def __init__(self, url: str | SecretUrl) -> None:
        if isinstance(url, SecretUrl):
            url = url.get_secret_value()
        if not isinstance(url, str):
            raise TypeError(f"a URL must be a str, not {type(url).__name__}")
        self._value = url
        self._masked = _masked(url)

    def get_secret_value(self) -> str:
        """The URL as written, password included: hand it to a driver, never to a log."""
        return self._value

    @property
    def masked(self) -> str:
        """The URL with any password replaced by ``***``."""
        return self._masked

    def __str__(self) -> str:
        return self._masked

    def __repr__(self) -> str:
        return f"SecretUrl({self._masked!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretUrl):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash((SecretUrl, self._value))

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: Any) -> Any:
        """pydantic: a ``str`` (or a ``SecretUrl``) in; JSON dumps show the masked form."""
        from pydantic_core import core_schema  # only when pydantic builds a model

        from_str = core_schema.no_info_after_validator_function(cls, core_schema.str_schema())
        return core_schema.json_or_python_schema(
            json_schema=from_str,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_str]),
            serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"),
        )


# --------------------------------------------------------------------------- options


def check_store_namespace(namespace: object) -> str:
    """``namespace`` if it is a valid store namespace, else ``ValueError`` saying the rule."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise ValueError(f"namespace must be {NAMESPACE_RULE}, e.g. namespace=bot1")
    return namespace


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


def _integer(name: str, value: Any, minimum: int, example: str) -> int:
    problem = f"{name} must be a whole number >= {minimum}, e.g. {name}={example}"
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(problem)
    try:
        number = int(value)  # a str from the query string, or a number
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    if number < minimum:
        raise ValueError(problem)
    return number


def _max_connections(name: str, value: Any) -> int:
    return _integer(name, value, 1, "20")


def _interval(name: str, value: Any) -> int:
    return _integer(name, value, 0, "30")


def _db(name: str, value: Any) -> int:
    return _integer(name, value, 0, "1")


def _mode(name: str, value: Any) -> str:
    if value not in ("refuse", "warn", "off"):
        raise ValueError(f"{name} must be one of refuse, warn, off")
    return str(value)


def _namespace(_name: str, value: Any) -> str:
    return check_store_namespace(value)


def _any_text(_name: str, value: Any) -> str:
    return str(value)


def _cert_reqs(name: str, value: Any) -> str:
    if str(value).lower() not in ("none", "optional", "required"):
        raise ValueError(f"{name} must be one of none, optional, required")
    return str(value)


def _flag(name: str, value: Any) -> str:
    if str(value).lower() not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
        raise ValueError(f"{name} must be true or false")
    return str(value)


OptionParser = Callable[[str, Any], Any]
"""Checks one option: ``parser(name, value)`` returns the value to use or raises
``ValueError`` saying what is allowed (the value may be a ``str`` from the query string)."""

TargetParser = Callable[[str, SplitResult, list[tuple[str, str]]], str]
"""``target(url, parts, passthrough_query)``: what the factory opens (a file path, the
driver's URL); raises ``ConfigError`` (see :func:`url_error`) for a malformed URL."""

StoreFactory = str | Callable[["StoreSpec", Any], Any]
"""``factory(spec, clock)`` returning the store, or its ``"module:qualified.name"``,
imported only when a URL of the backend is opened (so this module imports no driver)."""

COMMON_OPTIONS: Mapping[str, OptionParser] = MappingProxyType(
    {"namespace": _namespace, "store_timeout": _seconds}
)
"""Options every backend accepts: ``namespace`` and ``store_timeout`` (the time budget of
one store call; see docs/stores.md)."""

_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")


def _driver_url(url: str, parts: SplitResult, query: list[tuple[str, str]]) -> str:
    """The URL without peak-trade's own options (the default target of a backend)."""
    text = f"?{urlencode(query)}" if query else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}{text}"  # urlunsplit drops "//"


@dataclass(frozen=True)
class StoreBackend:
    """One row of the table of store backends (see :data:`BACKENDS`).

    Attributes:
        name: what ``StoreSpec.backend`` and ``StoreSettings.backend`` say (``"redis"``).
        schemes: the URL schemes that open it, lower case (``("redis", "rediss", "unix")``).
        factory: ``factory(spec, clock)`` returning the sync store, or its
            ``"module:qualified.name"`` (imported on first use).
        async_factory: the same for a native async store; ``None``: the sync store
            runs behind :class:`~peak_trade.store.aio.AsyncStoreAdapter`.
        blocking: whether the sync store's calls block (I/O, lock waits): the adapter
            then runs them in a worker thread, else inline on the event loop.
        options: options of this backend beyond :data:`COMMON_OPTIONS`, with their
            parsers; they reach the factory in ``spec.options``.
        urls: the URL forms shown in errors and hints.
        target: turns the URL into ``spec.target``; default: the URL without
            peak-trade's options.
        passthrough: query parameters left in the target URL for the driver
            (checked here, so a bad value fails validation, not the first command).
    """

    name: str
    schemes: tuple[str, ...]
    factory: StoreFactory
    async_factory: StoreFactory | None = None
    blocking: bool = True
    options: Mapping[str, OptionParser] = field(default_factory=dict)
    urls: tuple[str, ...] = ()
    target: TargetParser = _driver_url
    passthrough: Mapping[str, OptionParser] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAMESPACE.fullmatch(self.name):
            raise ValueError(f"a backend name must be {NAMESPACE_RULE}, not {self.name!r}")
        schemes = tuple(self.schemes)
        if not schemes or not all(isinstance(s, str) and _SCHEME.fullmatch(s) for s in schemes):
            raise ValueError(
                f"schemes must be lower-case URL schemes such as ('redis',), not {schemes!r}"
            )
        clash = sorted((set(self.options) | set(self.passthrough)) & set(COMMON_OPTIONS))
        if clash:
            raise ValueError(f"{', '.join(clash)}: every backend has it already (COMMON_OPTIONS)")
        object.__setattr__(self, "schemes", schemes)
        object.__setattr__(self, "urls", tuple(self.urls) or tuple(f"{s}://" for s in schemes))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "passthrough", MappingProxyType(dict(self.passthrough)))

    @property
    def accepted(self) -> dict[str, OptionParser]:
        """Every keyword option of this backend (common ones included), with its parser."""
        return {**COMMON_OPTIONS, **self.options}


class BackendTable:
    """The store backends, by name and by scheme.

    :data:`BACKENDS` is the one instance the package uses (a documented default
    instance, like the registries): :func:`register_backend` adds a row,
    :func:`unregister_backend` removes one, :meth:`reset` restores the built-in
    rows. Lookups read an immutable snapshot, so they take no lock.
    """

    def __init__(self, rows: tuple[StoreBackend, ...]) -> None:
        self._builtin = rows
        self._lock = threading.Lock()
        self._by_name: Mapping[str, StoreBackend] = MappingProxyType({})
        self._by_scheme: Mapping[str, StoreBackend] = MappingProxyType({})
        self.reset()

    def _install(self, rows: list[StoreBackend]) -> None:
        self._by_name = MappingProxyType({row.name: row for row in rows})
        self._by_scheme = MappingProxyType({s: row for row in rows for s in row.schemes})

    def reset(self) -> None:
        """Back to the built-in rows (memory, sqlite, redis) only."""
        with self._lock:
            self._install(list(self._builtin))

    def register(self, row: StoreBackend, *, replace: bool = False) -> StoreBackend:
        """Add ``row``; ``replace=True`` lets it take over a name or schemes already taken."""
        if not isinstance(row, StoreBackend):
            raise TypeError(f"register a StoreBackend, not {type(row).__name__}")
        with self._lock:
            rows = list(self._by_name.values())
            taken = [r for r in rows if r.name == row.name or set(r.schemes) & set(row.schemes)]
            if taken and not replace:
                raise ValueError(
                    f"backend {row.name!r} ({', '.join(row.schemes)}) clashes with "
                    f"{', '.join(repr(r.name) for r in taken)}: pass replace=True to take over"
                )
            self._install([r for r in rows if r not in taken] + [row])
        return row

    def unregister(self, name: str) -> None:
        """Remove the backend ``name`` (a no-op if there is none)."""
        with self._lock:
            self._install([r for r in self._by_name.values() if r.name != name])

    def named(self, name: str) -> StoreBackend | None:
        """The backend called ``name``, if any."""
        return self._by_name.get(name)

    def for_scheme(self, scheme: str) -> StoreBackend | None:
        """The backend opening URLs of ``scheme`` (any case), if any."""
        return self._by_scheme.get(scheme.lower())

    def for_url(self, url: str) -> StoreBackend | None:
        """The backend of ``url``'s scheme (``store.url`` works: it keeps its scheme)."""
        scheme, sep, _ = url.partition("://")
        return self.for_scheme(scheme) if sep else None

    def __iter__(self) -> Iterator[StoreBackend]:
        return iter(tuple(self._by_name.values()))

    def supported_urls(self) -> tuple[str, ...]:
        """The URL forms of every backend, for hints."""
        return tuple(url for row in self for url in row.urls)


# Query parameters handed to redis-py in the URL (checked here first, so a bad
# value fails validation, not the first command). The store's transport honours
# each: db, client_name and the TLS options configure every connection it
# opens; it PINGs a connection idle longer than health_check_interval before
# reusing it; max_connections bounds its connections (and the client's pool).
_REDIS_QUERY: dict[str, OptionParser] = {
    "db": _db,
    "client_name": _any_text,
    "health_check_interval": _interval,
    "max_connections": _max_connections,
    "ssl_ca_certs": _any_text,
    "ssl_cert_reqs": _cert_reqs,
    "ssl_certfile": _any_text,
    "ssl_check_hostname": _flag,
    "ssl_keyfile": _any_text,
}
_NOT_YET = {
    "redis+sentinel": "Redis Sentinel is not supported yet: point the URL at the current "
    "primary (redis://host:6379/0).",
    "rediss+sentinel": "Redis Sentinel is not supported yet: point the URL at the current "
    "primary (rediss://host:6380/0).",
    "redis+cluster": "Redis Cluster URLs are not supported yet: use one node's redis:// URL.",
}


@dataclass(frozen=True)
class StoreSpec:
    """A parsed, validated store URL.

    ``url`` is the URL with any password masked. ``target`` is the SQLite file
    path, or the URL handed to redis-py (password included, peak-trade's own
    options removed): it is left out of ``repr``. ``options`` are the
    backend's keyword arguments, namespace included. ``row`` is the backend's
    row of :data:`BACKENDS`.
    """

    backend: str
    url: str
    target: str = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)
    row: StoreBackend | None = field(default=None, repr=False, compare=False)


def url_error(message: str, url: str, hint: str | None = None, **context: Any) -> ConfigError:
    """The ``ConfigError`` of a bad store URL (password masked; default hint: what is supported)."""
    return ConfigError(
        message,
        hint=hint or "Supported store URLs: " + ", ".join(BACKENDS.supported_urls()),
        context={"url": _masked(url), **context},
    )


def _redis_target(url: str, parts: SplitResult, query: list[tuple[str, str]]) -> str:
    encode_hint = (
        "Percent-encode special characters in the user and password "
        "('/' as %2F, '@' as %40, ':' as %3A)."
    )
    if "@" in parts.path or "@" in parts.query:
        raise url_error(
            "The Redis URL has an '@' after its host: is there a '/' in the password?",
            url,
            hint=encode_hint,
        )
    try:
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        raise url_error(
            "The port of the Redis URL must be a number from 0 to 65535.",
            url,
            hint=f"e.g. redis://host:6379/0. {encode_hint}",
        ) from None
    if parts.scheme == "unix":
        if not parts.path:
            raise url_error("A unix:// URL needs a socket path: unix:///path/to/redis.sock", url)
    elif parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise url_error(
            "The Redis database must be a number: redis://host:6379/0.", url, option="db"
        )
    if parts.scheme != "rediss":
        tls = sorted({name for name, _ in query if name.startswith("ssl_")})
        if tls:
            raise url_error(
                f"TLS options ({', '.join(tls)}) need a rediss:// URL.",
                url,
                hint="Use rediss://host:port/db to connect over TLS, or drop the ssl_* options.",
                option=tls[0],
            )
    return _driver_url(url, parts, query)


def _memory_target(url: str, parts: SplitResult, _query: list[tuple[str, str]]) -> str:
    if parts.netloc or parts.path not in ("", "/"):
        raise url_error("memory:// takes no host or path.", url)
    return ""


def _sqlite_target(url: str, parts: SplitResult, _query: list[tuple[str, str]]) -> str:
    if parts.netloc:
        suggestion = f"sqlite:///{parts.netloc}{parts.path}"
        raise url_error(
            "A SQLite URL has three slashes before a relative path (four before an absolute one).",
            url,
            hint=f"Did you mean {suggestion}? ({suggestion[:10]}... is relative to the "
            "working directory; sqlite:////abs/path.db is absolute.)",
        )
    if not parts.path.startswith("/") or len(parts.path) < 2:
        raise url_error(
            "A SQLite URL needs a file path: sqlite:///relative.db or sqlite:////abs.db.", url
        )
    path = unquote(parts.path[1:])
    if path == ":memory:":
        raise url_error("An in-memory SQLite store cannot be shared; use memory://.", url)
    return path


BACKENDS = BackendTable(
    (
        StoreBackend(
            "memory",
            ("memory",),
            factory="peak_trade.store.memory:MemoryStore.from_spec",
            blocking=False,
            urls=("memory://",),
            target=_memory_target,
        ),
        StoreBackend(
            "sqlite",
            ("sqlite",),
            factory="peak_trade.store.sqlite:SqliteStore.from_spec",
            blocking=True,
            options={"busy_timeout": _seconds},
            urls=("sqlite:///relative/path.db", "sqlite:////absolute/path.db"),
            target=_sqlite_target,
        ),
        StoreBackend(
            "redis",
            ("redis", "rediss", "unix"),
            factory="peak_trade.store.redis:RedisStore.from_spec",
            async_factory="peak_trade.store.aio_redis:AsyncRedisStore.from_spec",
            blocking=True,
            options={
                "eviction_policy_check": _mode,
                "connect_timeout": _seconds,
                "socket_timeout": _seconds,
                "max_connections": _max_connections,
            },
            urls=(
                "redis://[[user]:password@]host[:port][/db]",
                "rediss://[[user]:password@]host[:port][/db]",
                "unix://[[user]:password@]/path/to/redis.sock[?db=N]",
            ),
            target=_redis_target,
            passthrough=_REDIS_QUERY,
        ),
    )
)
"""The table of store backends: one :class:`StoreBackend` row per backend. Adding a
backend is one module (its store class) plus one :func:`register_backend` call."""

SUPPORTED_URLS = BACKENDS.supported_urls()
"""The URL forms of the built-in backends."""

register_backend = BACKENDS.register
unregister_backend = BACKENDS.unregister


def parse_store_url(
    url: str | SecretUrl, *, namespace: str | None = None, options: Mapping[str, Any] | None = None
) -> StoreSpec:
    """Validate ``url`` and ``options``; raise ``ConfigError`` naming what is supported.

    The scheme may be in any case. Query options win over ``options`` (as in
    redis-py's ``from_url``). No error message, hint or context ever holds
    the password.
    """
    if isinstance(url, SecretUrl):
        url = url.get_secret_value()
    if not isinstance(url, str) or "://" not in url:
        raise url_error("A store URL must look like scheme://...", str(url))
    parts = urlsplit(url)  # (lower-cases the scheme)
    row = BACKENDS.for_scheme(parts.scheme)
    if row is None:
        scheme = url.split("://", 1)[0]
        supported = "Supported store URLs: " + ", ".join(BACKENDS.supported_urls())
        not_yet = _NOT_YET.get(parts.scheme)
        raise url_error(
            f"Unsupported store URL scheme {scheme!r}.",
            url,
            hint=f"{not_yet} {supported}" if not_yet else supported,
        )
    allowed, passthrough = row.accepted, row.passthrough
    given: dict[str, Any] = dict(options or {})
    if namespace is not None:
        given["namespace"] = namespace
    query: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in passthrough:
            query.append((name, value))
            if name not in allowed:
                continue
        given[name] = value  # the URL wins over keyword arguments
    known = sorted({*allowed, *passthrough})
    parsed: dict[str, Any] = {"namespace": DEFAULT_NAMESPACE}
    checks = [(name, value, allowed.get(name)) for name, value in given.items()]
    checks += [(name, value, passthrough[name]) for name, value in query]
    for name, value, parser in checks:
        if parser is None:
            raise url_error(
                f"Unknown option {name!r} for a {parts.scheme}:// store.",
                url,
                hint=f"Options of {parts.scheme}:// stores: {', '.join(known)}.",
                option=name,
            )
        try:
            checked = parser(name, value)
        except (TypeError, ValueError) as exc:
            raise url_error(
                f"Bad value for store option {name!r}.",
                url,
                hint=f"{str(exc).rstrip('.')}.",
                option=name,
                value=mask_url_credentials(value) if isinstance(value, str) else value,
            ) from None
        if name in allowed:
            parsed[name] = checked
    target = row.target(url, parts, query)
    return StoreSpec(row.name, _masked(url), target, parsed, row)
