"""The async shell of the Redis store, over ``redis.asyncio.Redis``.

It sends exactly the commands that :class:`~peak_trade.store.redis.RedisStore`
sends: both build them with :class:`~peak_trade.store._redis_core.RedisCommands`
and parse replies with the same functions; only the I/O differs. Commands go
out on idle connections kept per event loop
(:class:`~peak_trade.store._redis_wire.LoopConnections`), not through the
client's pool.
"""

from __future__ import annotations

from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff

from peak_trade.store import _redis_core as core
from peak_trade.store._redis_wire import LoopConnections
from peak_trade.store.base import AsyncStoreBase
from peak_trade.store.redis import RedisShell

__all__ = ["AsyncRedisStore"]

T = TypeVar("T")


def _async_retry() -> AsyncRetry:
    return AsyncRetry(NoBackoff(), 0)


class AsyncRedisStore(RedisShell, AsyncStoreBase):
    """An :class:`~peak_trade.store.aio.AsyncStore` in Redis (arguments: see ``RedisShell``).

    Commands go out on idle connections kept per event loop. With
    ``max_connections``, a command that finds every connection busy waits for
    one (up to ``connect_timeout``, capped by ``store_timeout``).
    """

    _from_url = aioredis.Redis.from_url
    _retry = staticmethod(_async_retry)
    _transport = LoopConnections
    client: aioredis.Redis

    async def ensure_ready(self) -> None:
        """Connect and run the eviction-policy check now; raise if Redis is unreachable or
        the check refuses (what ``ping()`` does)."""
        await self.ping()

    async def _pass_gate(self, cmd: core.Command[Any]) -> None:
        """The eviction-policy check, before a command, until it has passed."""
        gate = self._gate
        if gate.due(cmd.guarded):
            check = self._cmd.eviction_policy()
            try:
                gate.settle(check.parse(await self._wire.send(check)))
            except redis.ResponseError as exc:
                gate.unverifiable(exc)
            except redis.RedisError as exc:
                raise self._error(exc, cmd.op, cmd.key) from exc
        gate.admit(cmd.op, cmd.key, cmd.guarded)

    async def _run(self, cmd: core.Command[T]) -> T:
        """Send one command (one round trip) on an idle connection of this loop; parse the reply."""
        if not self._gate.passed:
            await self._pass_gate(cmd)
        try:
            reply = await self._wire.send(cmd)
        except redis.RedisError as exc:
            raise self._error(exc, cmd.op, cmd.key) from exc
        return cmd.parse(reply)

    # ------------------------------------------------------------ hooks (arguments validated)

    async def _ping(self) -> None:
        await self._run(self._cmd.ping())

    async def _get(self, key: str) -> bytes | None:
        return await self._run(self._cmd.get(key))

    async def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self._run(self._cmd.set(key, value, ttl))

    async def _compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None
    ) -> bool:
        return await self._run(self._cmd.compare_and_set(key, expected, new, ttl))

    async def _compare_and_delete(self, key: str, expected: bytes) -> bool:
        return await self._run(self._cmd.compare_and_delete(key, expected))

    async def _delete(self, key: str) -> bool:
        return await self._run(self._cmd.delete(key))

    async def _ttl(self, key: str) -> float | None:
        return await self._run(self._cmd.ttl(key))

    async def _incr(self, key: str, amount: int, ttl: float | None) -> int:
        return await self._run(self._cmd.incr(key, amount, ttl))

    async def _window_hit(self, key: str, window: float, cost: int, limit: int | None) -> int:
        return await self._run(self._cmd.window_hit(key, window, cost, limit))

    # the hot path: take_tokens hands over the memoised command, sent as it is
    _take_tokens = _run  # type: ignore[assignment]  # (a Command is what _bucket made)

    async def _tokens_available(self, key: str, rate: float, burst: int) -> float:
        return await self._run(self._cmd.tokens_available(key, rate, burst))

    async def _scan(self, prefix: str) -> list[str]:
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
