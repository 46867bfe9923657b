"""A worker starts while Redis is down: the store connects on first use.

Opening a Redis store does no I/O. The first command (or ``ping()``) connects;
the ``maxmemory-policy`` check runs as soon as Redis answers, and until it
has passed, writes (and ``ping()``, which ``peaktrade run`` calls at start)
are refused while reads go through. Each test uses a private redis-server of
its own (``own_redis``), created stopped and started half-way.
"""

from __future__ import annotations

import asyncio

import pytest
import redis

from peak_trade.errors import StoreUnavailableError, UnsafeStoreConfigError
from peak_trade.store import store_from_url
from peak_trade.store.aio import async_store_from_url
from resilience.killable_redis import KillableRedis

from .conftest import unique_namespace


def _admin(server: KillableRedis) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port)


def test_a_sync_store_opens_while_redis_is_down_and_works_once_it_is_up(
    own_redis: KillableRedis,
) -> None:
    store = store_from_url(own_redis.url, namespace=unique_namespace())  # default: refuse
    for call in (store.ping, lambda: store.get("k"), lambda: store.set("k", b"v")):
        with pytest.raises(StoreUnavailableError, match="Cannot connect"):
            call()
    own_redis.start()
    store.ping()
    store.set("k", b"v")
    assert store.get("k") == b"v"
    store.close()


def test_an_async_store_opens_while_redis_is_down_and_works_once_it_is_up(
    own_redis: KillableRedis,
) -> None:
    async def main() -> None:
        store = await async_store_from_url(own_redis.url, namespace=unique_namespace())
        async with store:
            for call in (store.ping, lambda: store.take_tokens("b", 1, 2)):
                with pytest.raises(StoreUnavailableError, match="Cannot connect"):
                    await call()
            own_redis.start()
            await store.ping()
            assert await store.take_tokens("b", 1, 2) == (True, 0.0)

    asyncio.run(main())


def test_writes_are_refused_until_the_eviction_check_has_passed(
    own_redis: KillableRedis,
) -> None:
    ns = unique_namespace()
    store = store_from_url(own_redis.url, namespace=ns)
    own_redis.start()
    admin = _admin(own_redis)
    admin.config_set("maxmemory-policy", "allkeys-lru")
    try:
        assert store.get("k") is None  # reads go through (the check ran: Redis answered)
        for call in (lambda: store.set("k", b"v"), lambda: store.incr("n"), store.ping):
            with pytest.raises(UnsafeStoreConfigError, match="allkeys-lru") as info:
                call()
            assert "CONFIG SET maxmemory-policy noeviction" in str(info.value.hint)
        assert admin.keys(f"{ns}:*") == []  # nothing was written
        admin.config_set("maxmemory-policy", "noeviction")  # the operator fixes it
        store.set("k", b"v")  # a write runs the check again, and it passes
        assert store.get("k") == b"v"
    finally:
        admin.close()
        store.close()


def test_async_writes_are_refused_until_the_eviction_check_has_passed(
    own_redis: KillableRedis,
) -> None:
    ns = unique_namespace()

    async def main() -> None:
        store = await async_store_from_url(own_redis.url, namespace=ns)
        own_redis.start()
        admin = _admin(own_redis)
        admin.config_set("maxmemory-policy", "volatile-ttl")
        async with store:
            assert await store.tokens_available("b", 1, 2) == 2.0  # a read
            with pytest.raises(UnsafeStoreConfigError, match="volatile-ttl"):
                await store.set_if_absent("k", b"v")
            with pytest.raises(UnsafeStoreConfigError):
                await store.ping()
            assert admin.keys(f"{ns}:*") == []
            admin.config_set("maxmemory-policy", "noeviction")
            assert await store.set_if_absent("k", b"v")
        admin.close()

    asyncio.run(main())


def test_warn_mode_logs_once_redis_answers_and_lets_writes_through(
    own_redis: KillableRedis,
) -> None:
    import structlog

    store = store_from_url(
        own_redis.url, namespace=unique_namespace(), eviction_policy_check="warn"
    )
    own_redis.start()
    admin = _admin(own_redis)
    admin.config_set("maxmemory-policy", "allkeys-lru")
    with structlog.testing.capture_logs() as logs:
        store.set("k", b"v")
        store.set("k", b"w")
    assert [e["policy"] for e in logs if "policy" in e] == ["allkeys-lru"]  # checked once
    admin.close()
    store.close()
