"""``store_timeout``: the time budget of one store call, far below the socket timeout.

A protected call (a breaker's fleet sync, a shared limiter's decision) must
not hang for the 5 s socket timeout when Redis hangs. A real private
redis-server is frozen with ``SIGSTOP`` (it keeps its socket open and answers
nothing, as a hung server or a stalled VM does); every command must then fail
with ``StoreUnavailableError`` long before the socket timeout would have
ended it. The only wall-clock bound asserted is that one.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from peak_trade.config import StoreSettings, load_settings
from peak_trade.errors import ConfigError, StoreUnavailableError
from peak_trade.store import RedisStore, SqliteStore, store_from_url
from peak_trade.store.aio import async_store_from_url
from peak_trade.store.aio_redis import AsyncRedisStore
from peak_trade.store.url import parse_store_url
from resilience.killable_redis import KillableRedis

from .conftest import unique_namespace

SOCKET_TIMEOUT = 20.0
"""Far above any budget here: a call that ends before it was cut by the budget."""


# ---------------------------------------------------------------- the option


@pytest.mark.parametrize(
    "url", ["memory://", "sqlite:///s.db", "redis://h:6379/0", "unix:///r.sock"]
)
def test_every_backend_takes_a_store_timeout(url: str) -> None:
    assert parse_store_url(f"{url}?store_timeout=0.3").options["store_timeout"] == 0.3
    assert parse_store_url(url, options={"store_timeout": 2}).options["store_timeout"] == 2.0


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan", True])
def test_a_bad_store_timeout_is_a_config_error(value: object) -> None:
    with pytest.raises(ConfigError, match="store_timeout") as info:
        parse_store_url("redis://h:6379/0", options={"store_timeout": value})
    assert "seconds > 0" in str(info.value.hint)


def test_config_passes_store_timeout_to_the_store(tmp_path: Path) -> None:
    path = tmp_path / "pt.toml"
    path.write_text("[store]\nurl = 'redis://db:6379/0'\nstore_timeout = 0.3\n")
    options = load_settings(path).store.store_options()
    assert options["store_timeout"] == 0.3
    unset = StoreSettings(url="redis://db:6379/0")  # type: ignore[arg-type]
    assert unset.store_timeout is None
    assert "store_timeout" not in unset.store_options()  # the backend's default applies
    path.write_text("[store]\nstore_timeout = -1\n")
    with pytest.raises(ConfigError, match=r"store\.store_timeout"):
        load_settings(path)


def test_the_redis_default_is_half_a_second() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")
    assert store.store_timeout == 0.5
    assert RedisStore("redis://127.0.0.1:1/0", store_timeout=0.2).store_timeout == 0.2
    assert RedisStore("redis://127.0.0.1:1/0", socket_timeout=0.1).store_timeout == 0.1


# ---------------------------------------------------------------- a frozen Redis


def _freeze(server: KillableRedis) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)


def _thaw(server: KillableRedis) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGCONT)


def test_a_frozen_redis_costs_a_sync_command_its_budget_not_the_socket_timeout(
    own_redis: KillableRedis,
) -> None:
    own_redis.start()
    url = f"{own_redis.url}?store_timeout=0.3"
    store = store_from_url(url, namespace=unique_namespace(), socket_timeout=SOCKET_TIMEOUT)
    fresh = store_from_url(url, namespace=store.namespace, socket_timeout=SOCKET_TIMEOUT)
    assert store.incr("n") == 1  # connected and checked
    _freeze(own_redis)
    try:
        for call in (lambda: store.incr("n"), lambda: store.get("n"), fresh.ping):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError, match="did not answer in time") as info:
                call()
            assert time.monotonic() - started < SOCKET_TIMEOUT / 2
            assert info.value.context["store_timeout"] == 0.3
            assert "store_timeout" in str(info.value.hint)
    finally:
        _thaw(own_redis)
    assert store.incr("n") in (2, 3)  # the timed-out incr may have run; the store goes on
    fresh.close()
    store.close()


def test_a_frozen_redis_costs_an_async_command_its_budget(own_redis: KillableRedis) -> None:
    own_redis.start()

    async def main() -> list[float]:
        store = await async_store_from_url(
            own_redis.url, namespace=unique_namespace(), store_timeout=0.3,
            socket_timeout=SOCKET_TIMEOUT,
        )  # fmt: skip
        assert isinstance(store, AsyncRedisStore)
        async with store:
            assert await store.take_tokens("b", 1, 5) == (True, 0.0)
            _freeze(own_redis)
            spent = []
            try:
                for _ in range(2):  # the connection in use, then a fresh one
                    started = time.monotonic()
                    with pytest.raises(StoreUnavailableError, match="did not answer in time"):
                        await store.take_tokens("b", 1, 5)
                    spent.append(time.monotonic() - started)
            finally:
                _thaw(own_redis)
            assert (await store.take_tokens("b", 1, 5))[0]
        return spent

    assert all(s < SOCKET_TIMEOUT / 2 for s in asyncio.run(main()))


def test_the_default_budget_applies_without_any_option(own_redis: KillableRedis) -> None:
    own_redis.start()
    store = store_from_url(
        own_redis.url, namespace=unique_namespace(), socket_timeout=SOCKET_TIMEOUT
    )
    store.ping()
    _freeze(own_redis)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            store.set("k", b"v")
        assert time.monotonic() - started < SOCKET_TIMEOUT / 2
    finally:
        _thaw(own_redis)
    store.close()


# ---------------------------------------------------------------- SQLite: the lock wait


def test_sqlite_store_timeout_bounds_a_primitives_wait_for_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    busy = SOCKET_TIMEOUT  # the open's bound, far above the budget
    store = store_from_url(f"sqlite:///{path}?store_timeout=0.05", busy_timeout=busy)
    assert isinstance(store, SqliteStore)
    assert (store.busy_timeout, store.store_timeout) == (busy, 0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a stopped process holding the write lock
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="locked") as info:
            store.incr("n")
        assert time.monotonic() - started < busy / 2
        assert "store_timeout" in str(info.value.hint)
        assert info.value.context["store_timeout"] == 0.05
        assert store.get("n") is None  # reads never wait for the write lock (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.incr("n") == 1
    store.close()


def test_sqlite_without_a_store_timeout_waits_busy_timeout(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db", busy_timeout=1.5)
    assert store.store_timeout == 1.5
    store.close()
