"""Redis store for many processes on many hosts: the sync shell over ``redis.Redis``.

Every primitive is one round trip: a native command (``GET``, ``SET NX PX``,
``DEL``, ``PTTL``) or one Lua script sent with ``EVALSHA`` (the first call
after the server's script cache was emptied costs one extra ``SCRIPT LOAD``).
Scripts read the time with ``redis.call('TIME')``, so every host shares the
server's clock. ``scan`` is the one exception: it walks the keyspace with
``SCAN`` (several round trips; it lists, it does not decide).

What each primitive sends and how replies are parsed lives in
:mod:`peak_trade.store._redis_core`, shared with the async shell in
:mod:`peak_trade.store.aio_redis`. Commands travel on one connection per
thread (:mod:`peak_trade.store._redis_wire`), not through the client's pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from peak_trade._store_url import SecretUrl
from peak_trade.clock import Clock, system_clock
from peak_trade.errors import InvalidArgumentError
from peak_trade.logging import mask_url_credentials
from peak_trade.store import _redis_checks as checks
from peak_trade.store import _redis_core as core
from peak_trade.store._redis_wire import ThreadConnections
from peak_trade.store._validate import check_seconds
from peak_trade.store.base import DEFAULT_NAMESPACE, StoreBase, _Checked

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = [
    "DEFAULT_STORE_TIMEOUT",
    "RedisShell",
    "RedisStore",
    "check_max_connections",
    "client_options",
    "describe_client",
    "open_client",
]

DEFAULT_STORE_TIMEOUT = 0.5
"""Seconds one Redis command may take by default (connect, send and read): ten times
a slow cross-zone round trip plus a fork pause of a few GB, and a tenth of the
5 s socket timeout that bounds ``scan`` (see docs/stores.md, "Time budget")."""

T = TypeVar("T")
C = TypeVar("C", redis.Redis, "aioredis.Redis")


def client_options(connect_timeout: float, socket_timeout: float, retry: Any) -> dict[str, Any]:
    """redis-py options for clients the store creates: bytes replies, timeouts, no retries.

    Retries are off because a command that timed out may have run: re-sending
    an ``incr`` or ``take_tokens`` would apply it twice. Retry policies belong
    to the caller, who knows whether the operation is idempotent.
    """
    for name, value in (("connect_timeout", connect_timeout), ("socket_timeout", socket_timeout)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InvalidArgumentError(
                f"{name} must be a number of seconds > 0.",
                hint="e.g. connect_timeout=2.0, socket_timeout=5.0",
                context={name: value},
            )
    return {
        "socket_connect_timeout": float(connect_timeout),
        "socket_timeout": float(socket_timeout),
        "retry": retry,
        "decode_responses": False,
    }


def check_max_connections(value: object) -> int | None:
    """Validate ``max_connections``: ``None`` (no bound) or an integer >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(
            "max_connections must be a whole number >= 1 (or None for no bound).",
            hint="e.g. max_connections=20, or ?max_connections=20 in the URL",
            context={"max_connections": value},
        )
    return value


def describe_client(kwargs: dict[str, Any]) -> tuple[str, str]:
    """``(url, endpoint)`` describing a client's connection pool (no credentials)."""
    where = checks.endpoint(kwargs)
    if where.startswith("unix:"):
        return f"unix://{where[5:]}", where
    scheme = "rediss" if "ssl" in str(kwargs.get("connection_class", "")).lower() else "redis"
    return f"{scheme}://{where}", where


def open_client(
    client_or_url: C | str | SecretUrl,
    from_url: Callable[..., C],
    retry: Any,
    connect_timeout: float,
    socket_timeout: float,
) -> tuple[C, bool, str, str]:
    """Shared by both shells: ``(client, owned, masked url, endpoint)`` for a client or URL."""
    if isinstance(client_or_url, SecretUrl):
        client_or_url = client_or_url.get_secret_value()
    if isinstance(client_or_url, str):
        options = client_options(connect_timeout, socket_timeout, retry)
        masked = SecretUrl(client_or_url).masked
        try:
            client = from_url(client_or_url, **options)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                "Not a usable Redis URL.",
                hint="Use redis://[:password@]host:port/db, rediss://host:port/db "
                "or unix:///path/to/redis.sock",
                context={"url": masked, "error": mask_url_credentials(str(exc))},
            ) from None
        kwargs = client.connection_pool.connection_kwargs
        url, where = masked, checks.endpoint(kwargs)
        owned = True
    else:
        client, owned = client_or_url, False
        kwargs = client.connection_pool.connection_kwargs
        url, where = describe_client(kwargs)
    if kwargs.get("decode_responses"):
        raise InvalidArgumentError(
            "The Redis client decodes replies to str; the store needs bytes.",
            hint="Create the client with decode_responses=False, or pass a URL instead.",
        )
    return client, owned, url, where


class RedisShell(_Checked):
    """What the sync and the async Redis store share: arguments, client, budget, gate.

    Constructing does no I/O, so a worker can start while Redis is down: the
    first command (or ``ping()``) connects. The eviction-policy check runs as
    soon as Redis answers; until it has passed, writes and ``ping()`` are
    refused (reads go through).

    Args:
        client_or_url: a ``redis.Redis`` (``redis.asyncio.Redis`` for the async
            store; not closed by ``close()``) or a ``redis://``, ``rediss://`` or
            ``unix://`` URL.
        namespace: key prefix, so several logical stores can share one db.
        eviction_policy_check: ``"refuse"`` raises
            :class:`~peak_trade.errors.UnsafeStoreConfigError` for writes unless
            the server's ``maxmemory-policy`` is ``noeviction``; ``"warn"`` logs
            instead; ``"off"`` skips the check.
        connect_timeout, socket_timeout: seconds, for clients made from a URL
            (``socket_timeout`` also bounds ``scan``).
        store_timeout: the time budget of one command (default 0.5 s): every
            socket operation of a command (connect, send, read) gives up after
            it with :class:`~peak_trade.errors.StoreUnavailableError`, so a hung
            Redis costs a protected call this long, not ``socket_timeout``.
            Capped by the client's ``socket_timeout``; ``store.store_timeout``
            is the budget in force.
        max_connections: the sync store opens at most this many connections,
            one per thread (a thread beyond it gets ``StoreUnavailableError``);
            the async store makes a command wait for a free one, up to
            ``connect_timeout`` (capped by ``store_timeout``). ``None``: no bound.
        clock: times the connections' ``health_check_interval`` (from the URL or
            the client's pool); every decision still uses the server's clock.
    """

    _from_url: Callable[..., Any]
    _retry: Callable[[], Any]
    _transport: Callable[..., Any]
    client: Any
    _wire: Any

    def __init__(
        self,
        client_or_url: Any,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        eviction_policy_check: checks.EvictionCheck = "refuse",
        connect_timeout: float = 2.0,
        socket_timeout: float = 5.0,
        store_timeout: float = DEFAULT_STORE_TIMEOUT,
        max_connections: int | None = None,
        clock: Clock = system_clock,
    ) -> None:
        super().__init__(namespace)
        self._cmd = core.RedisCommands(self.namespace)
        mode = checks.check_mode(eviction_policy_check)
        budget = check_seconds("store_timeout", store_timeout)
        limit = check_max_connections(max_connections)
        client, self._owned, self.url, self._where = open_client(
            client_or_url, self._from_url, self._retry(), connect_timeout, socket_timeout
        )
        self.client = client
        self._raw: Any = client  # redis-py's execute_command is untyped
        socket = client.connection_pool.connection_kwargs.get("socket_timeout")
        self.store_timeout = min(budget, socket) if socket else budget
        self._gate = checks.PolicyGate(mode, self.url)
        self._wire = self._transport(
            client.connection_pool,
            max_connections=limit,
            clock=clock,
            where=self._where,
            budget=self.store_timeout,
        )

    def _error(self, exc: Exception, op: str, key: str | None) -> Exception:
        return checks.wrap_error(
            exc, url=self.url, where=self._where, op=op, key=key, budget=self.store_timeout
        )

    def _bucket(self, key: str, rate: float, burst: int, cost: int) -> Any:
        return self._cmd.take_tokens(key, rate, burst, cost)  # kept by the base's memo


def _sync_retry() -> Retry:
    return Retry(NoBackoff(), 0)


class RedisStore(RedisShell, StoreBase):
    """A :class:`~peak_trade.store.Store` in Redis or Valkey (scripts touch one cluster slot).

    See :class:`RedisShell` for the arguments. Commands go out on one
    connection per thread.
    """

    _from_url = redis.Redis.from_url
    _retry = staticmethod(_sync_retry)
    _transport = ThreadConnections
    client: redis.Redis

    def _pass_gate(self, cmd: core.Command[Any]) -> None:
        """The eviction-policy check, before a command, until it has passed."""
        gate = self._gate
        if gate.due(cmd.guarded):
            check = self._cmd.eviction_policy()
            try:
                gate.settle(check.parse(self._wire.send(check)))
            except redis.ResponseError as exc:
                gate.unverifiable(exc)
            except redis.RedisError as exc:
                raise self._error(exc, cmd.op, cmd.key) from exc
        gate.admit(cmd.op, cmd.key, cmd.guarded)

    def _run(self, cmd: core.Command[T]) -> T:
        """Send one command (one round trip) on this thread's connection and parse its reply."""
        if not self._gate.passed:
            self._pass_gate(cmd)
        try:
            reply = self._wire.send(cmd)
        except redis.RedisError as exc:
            raise self._error(exc, cmd.op, cmd.key) from exc
        return cmd.parse(reply)

    # ------------------------------------------------------------ hooks (arguments validated)

    def _ping(self) -> None:
        self._run(self._cmd.ping())

    def _get(self, key: str) -> bytes | None:
        return self._run(self._cmd.get(key))

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._run(self._cmd.set(key, value, ttl))

    def _compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None
    ) -> bool:
        return self._run(self._cmd.compare_and_set(key, expected, new, ttl))

    def _compare_and_delete(self, key: str, expected: bytes) -> bool:
        return self._run(self._cmd.compare_and_delete(key, expected))

    def _delete(self, key: str) -> bool:
        return self._run(self._cmd.delete(key))

    def _ttl(self, key: str) -> float | None:
        return self._run(self._cmd.ttl(key))

    def _incr(self, key: str, amount: int, ttl: float | None) -> int:
        return self._run(self._cmd.incr(key, amount, ttl))

    def _window_hit(self, key: str, window: float, cost: int, limit: int | None) -> int:
        return self._run(self._cmd.window_hit(key, window, cost, limit))

    # the hot path: take_tokens hands over the memoised command, sent as it is
    _take_tokens = _run  # type: ignore[assignment]  # (a Command is what _bucket made)

    def _tokens_available(self, key: str, rate: float, burst: int) -> float:
        return self._run(self._cmd.tokens_available(key, rate, burst))

    def _scan(self, prefix: str) -> list[str]:
        pattern = self._cmd.scan_pattern(prefix)
        found: set[str] = set()
        try:
            for raw in self._raw.scan_iter(match=pattern, count=1000):
                key = self._cmd.user_key(raw)
                if key is not None:
                    found.add(key)
        except redis.RedisError as exc:
            raise self._error(exc, "scan", prefix) from exc
        return sorted(found)

    def close(self) -> None:
        """Close the store's connections, and the client if the store created it from a URL."""
        self._wire.close()
        if self._owned:
            self.client.close()
