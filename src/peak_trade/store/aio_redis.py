"""The async shell of the Redis store, over ``redis.asyncio.Redis``.

It sends exactly the commands that :class:`~peak_trade.store.redis.RedisStore`
sends: both build them with :class:`~peak_trade.store._redis_core.RedisCommands`
and parse replies with the same functions; only the I/O differs. Commands go
out on idle connections kept per event loop
(:class:`~peak_trade.store._redis_wire.LoopConnections`), not through the
client's pool.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self, TypeVar

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff

from peak_trade._store_url import SecretUrl
from peak_trade.clock import Clock, system_clock
from peak_trade.store import _redis_checks as checks
from peak_trade.store import _redis_core as core
from peak_trade.store._redis_wire import LoopConnections
from peak_trade.store.base import DEFAULT_NAMESPACE
from peak_trade.store.redis import check_max_connections, open_client

__all__ = ["AsyncRedisStore"]

T = TypeVar("T")


class AsyncRedisStore:
    """An :class:`~peak_trade.store.aio.AsyncStore` in Redis; see ``RedisStore`` for arguments.

    With ``max_connections``, a command that finds every connection busy waits
    for one (up to ``connect_timeout``) instead of failing at once.

    Constructing does no I/O; the eviction-policy check runs on
    :meth:`ensure_ready` (awaited by ``async_store_from_url`` and ``async with``)
    or, at the latest, before the first command.
    """

    def __init__(
        self,
        client_or_url: aioredis.Redis | str | SecretUrl,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        eviction_policy_check: checks.EvictionCheck = "refuse",
        connect_timeout: float = 2.0,
        socket_timeout: float = 5.0,
        max_connections: int | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._cmd = core.RedisCommands(namespace)
        self.namespace = self._cmd.namespace
        self._mode = checks.check_mode(eviction_policy_check)
        limit = check_max_connections(max_connections)
        self._ready = self._mode == "off"
        client, self._owned, self.url, self._where = open_client(
            client_or_url,
            aioredis.Redis.from_url,
            AsyncRetry(NoBackoff(), 0),
            connect_timeout,
            socket_timeout,
        )
        self.client = client
        self._raw: Any = client
        self._wire = LoopConnections(
            client.connection_pool, max_connections=limit, clock=clock, where=self._where
        )

    def __repr__(self) -> str:
        return f"AsyncRedisStore(url={self.url!r}, namespace={self.namespace!r})"

    def _error(self, exc: Exception, op: str, key: str | None) -> Exception:
        return checks.wrap_error(exc, url=self.url, where=self._where, op=op, key=key)

    async def ensure_ready(self) -> None:
        """Run the start-up eviction-policy check once (see ``RedisStore``)."""
        if self._ready:
            return
        cmd = self._cmd.eviction_policy()
        try:
            reply = await self._raw.execute_command(*cmd.args)
        except redis.ResponseError as exc:
            checks.policy_unverifiable(exc, self._mode, self.url)
        except redis.RedisError as exc:
            raise self._error(exc, cmd.op, None) from exc
        else:
            checks.check_policy_reply(cmd.parse(reply), self._mode, self.url)
        self._ready = True

    async def _run(self, cmd: core.Command[T]) -> T:
        """Send one command (one round trip) on an idle connection of this loop; parse the reply."""
        if not self._ready:
            await self.ensure_ready()
        try:
            reply = await self._wire.send(cmd)
        except redis.RedisError as exc:
            raise self._error(exc, cmd.op, cmd.key) from exc
        return cmd.parse(reply)

    # ------------------------------------------------------------ primitives

    async def ping(self) -> None:
        await self._run(self._cmd.ping())

    async def get(self, key: str) -> bytes | None:
        return await self._run(self._cmd.get(key))

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._run(self._cmd.set(key, value, ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return await self._run(self._cmd.set_if_absent(key, value, ttl))

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None = None
    ) -> bool:
        return await self._run(self._cmd.compare_and_set(key, expected, new, ttl))

    async def compare_and_delete(self, key: str, expected: bytes) -> bool:
        return await self._run(self._cmd.compare_and_delete(key, expected))

    async def delete(self, key: str) -> bool:
        return await self._run(self._cmd.delete(key))

    async def ttl(self, key: str) -> float | None:
        return await self._run(self._cmd.ttl(key))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return await self._run(self._cmd.incr(key, amount, ttl))

    async def window_hit(
        self, key: str, window: float, cost: int = 1, limit: int | None = None
    ) -> int:
        return await self._run(self._cmd.window_hit(key, window, cost, limit))

    async def take_tokens(
        self, key: str, rate: float, burst: int, cost: int = 1
    ) -> tuple[bool, float]:
        return await self._run(self._cmd.take_tokens(key, rate, burst, cost))

    async def tokens_available(self, key: str, rate: float, burst: int) -> float:
        return await self._run(self._cmd.tokens_available(key, rate, burst))

    async def scan(self, prefix: str) -> list[str]:
        pattern = self._cmd.scan_pattern(prefix)
        found: set[str] = set()
        try:
            async for raw in self._raw.scan_iter(match=pattern, count=1000):
                key = self._cmd.user_key(raw)
                if key is not None:
                    found.add(key)
        except redis.RedisError as exc:
            raise self._error(exc, "scan", prefix) from exc
        return sorted(found)

    async def close(self) -> None:
        """Close the store's connections, and the client if the store created it from a URL."""
        await self._wire.close()
        if self._owned:
            await self.client.aclose()

    async def __aenter__(self) -> Self:
        try:
            await self.ensure_ready()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
