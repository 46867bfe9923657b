"""The async twin beyond the shared contract: where primitives run, concurrent tasks,
and the Redis shell's start-up check. (The whole contract also runs on every async
store through ``SyncOverAsync``; see ``conftest.py``.)"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import redis

from peak_trade.errors import UnsafeStoreConfigError
from peak_trade.store import MemoryStore
from peak_trade.store.aio import AsyncStore, AsyncStoreAdapter, async_store_from_url
from peak_trade.store.aio_redis import AsyncRedisStore
from peak_trade.store.sqlite import SqliteStore
from redis_fixture import RedisServer

from .conftest import unique_namespace


class ThreadSpy(MemoryStore):
    """A memory store that records which thread ran ``get``."""

    threads: list[int]

    def get(self, key: str) -> bytes | None:
        self.threads.append(threading.get_ident())
        return super().get(key)


def test_memory_runs_inline_and_offload_uses_a_worker_thread() -> None:
    async def main() -> tuple[int, list[int], list[int]]:
        inline, offloaded = ThreadSpy(), ThreadSpy()
        inline.threads, offloaded.threads = [], []
        await AsyncStoreAdapter(inline).get("k")
        await AsyncStoreAdapter(offloaded, offload=True).get("k")
        return threading.get_ident(), inline.threads, offloaded.threads

    loop_thread, inline, offloaded = asyncio.run(main())
    assert inline == [loop_thread]
    assert offloaded != [loop_thread]


def test_sqlite_adapter_does_not_block_the_loop(tmp_path: Path) -> None:
    async def main() -> list[bool]:
        store = AsyncStoreAdapter(SqliteStore(tmp_path / "s.db"))
        async with store:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(ticker())
            results = await asyncio.gather(*(store.set_if_absent("k", b"v") for _ in range(30)))
            task.cancel()
            assert ticks > 0  # the loop kept running while SQLite worked in threads
            return results

    assert sorted(asyncio.run(main())) == [False] * 29 + [True]


@pytest.mark.parametrize(
    "backend", ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]
)
def test_concurrent_tasks_keep_atomicity(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = {
        "memory": "memory://",
        "sqlite": f"sqlite:///{tmp_path}/s.db",
    }.get(backend) or str(request.getfixturevalue("redis_url"))

    async def main() -> None:
        store = await async_store_from_url(url, namespace=unique_namespace())
        async with store:
            wins = await asyncio.gather(*(store.set_if_absent("k", b"v") for _ in range(40)))
            assert wins.count(True) == 1
            counts = await asyncio.gather(*(store.incr("n") for _ in range(60)))
            assert sorted(counts) == list(range(1, 61))
            grants = await asyncio.gather(*(store.take_tokens("b", 0.001, 10) for _ in range(25)))
            assert sum(allowed for allowed, _ in grants) == 10

    asyncio.run(main())


@pytest.mark.redis
def test_async_redis_store_checks_the_policy_before_its_first_command(
    redis_server: RedisServer,
) -> None:
    admin = redis_server.client()
    admin.config_set("maxmemory-policy", "volatile-lru")

    ns = unique_namespace()

    async def main() -> None:
        store = AsyncRedisStore(redis_server.url, namespace=ns)
        assert isinstance(store, AsyncStore)
        try:
            with pytest.raises(UnsafeStoreConfigError, match="volatile-lru"):
                await store.set("k", b"v")
        finally:
            await store.close()

    try:
        asyncio.run(main())
    finally:
        admin.config_set("maxmemory-policy", "noeviction")
    assert admin.keys(f"{ns}:*") == []  # nothing was written
    admin.close()


@pytest.mark.redis
def test_async_redis_store_with_a_client_passed_in(redis_server: RedisServer) -> None:
    async def main() -> None:
        client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
        async with AsyncRedisStore(client, namespace=unique_namespace()) as store:
            assert store.url == f"redis://{redis_server.host}:{redis_server.port}/0"
            assert await store.set_if_absent("k", b"v")
        assert await client.ping()  # not closed by the store
        await client.aclose()

    asyncio.run(main())
