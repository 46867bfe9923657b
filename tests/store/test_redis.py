"""Redis-only behaviour, against the private redis-server: eviction-policy check,
error mapping, one round trip per primitive, key layout, server time."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
import structlog
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from peak_trade.clock import ManualClock
from peak_trade.errors import (
    InvalidArgumentError,
    StoreError,
    StoreUnavailableError,
    UnsafeStoreConfigError,
)
from peak_trade.store import RedisStore, store_from_url
from peak_trade.store.aio import async_store_from_url
from peak_trade.store.aio_redis import AsyncRedisStore
from redis_fixture import RedisServer

from .conftest import unique_namespace

pytestmark = pytest.mark.redis


@pytest.fixture
def admin(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    yield client
    client.close()


@pytest.fixture
def evicting(admin: redis.Redis) -> Iterator[str]:
    """The private server with an evicting maxmemory-policy, restored afterwards."""
    admin.config_set("maxmemory-policy", "allkeys-lru")
    try:
        yield "allkeys-lru"
    finally:
        admin.config_set("maxmemory-policy", "noeviction")


@pytest.fixture
def no_config_user(admin: redis.Redis, redis_server: RedisServer) -> Iterator[str]:
    """URL of an ACL user that may not run CONFIG (as on managed Redis)."""
    admin.execute_command(
        "ACL", "SETUSER", "noconfig", "on", ">s3cret-pw", "~*", "+@all", "-config"
    )
    try:
        yield f"redis://noconfig:s3cret-pw@{redis_server.host}:{redis_server.port}/0"
    finally:
        admin.execute_command("ACL", "DELUSER", "noconfig")


def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # nothing listens there any more


# ---------------------------------------------------------------- eviction policy


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl", "allkeys-random"])
def test_evicting_policy_is_refused(redis_url: str, admin: redis.Redis, policy: str) -> None:
    ns = unique_namespace()
    admin.config_set("maxmemory-policy", policy)
    try:
        store = store_from_url(redis_url, namespace=ns)  # opening does no I/O
        with pytest.raises(UnsafeStoreConfigError) as info:
            store.set_if_absent("k", b"v")
        with pytest.raises(UnsafeStoreConfigError):
            store.ping()  # what peaktrade run calls at start
        assert store.get("k") is None  # reads go through
    finally:
        admin.config_set("maxmemory-policy", "noeviction")
    err = info.value
    assert policy in err.message
    assert err.hint is not None
    assert "CONFIG SET maxmemory-policy noeviction" in err.hint
    assert "eviction_policy_check='warn'" in err.hint
    assert err.context["policy"] == policy
    assert (err.context["operation"], err.context["key"]) == ("set_if_absent", "k")
    assert admin.keys(f"{ns}:*") == []
    store.close()


def test_evicting_policy_is_refused_by_the_async_store(redis_url: str, evicting: str) -> None:
    async def main() -> None:
        store = await async_store_from_url(redis_url, namespace=unique_namespace())
        async with store:
            with pytest.raises(UnsafeStoreConfigError, match=evicting):
                await store.incr("n")
            with pytest.raises(UnsafeStoreConfigError, match=evicting):
                await store.ensure_ready()  # type: ignore[attr-defined]
            assert await store.get("n") is None

    asyncio.run(main())


def test_warn_mode_logs_and_allows(redis_url: str, evicting: str) -> None:
    with structlog.testing.capture_logs() as logs:
        store = store_from_url(
            redis_url, namespace=unique_namespace(), eviction_policy_check="warn"
        )
        with store:
            store.set("k", b"v")
            assert store.get("k") == b"v"
    [entry] = [e for e in logs if e.get("policy") == evicting]
    assert entry["log_level"] == "warning"
    assert "noeviction" in entry["hint"]


def test_warn_mode_via_url_query(redis_url: str, evicting: str) -> None:
    url = f"{redis_url}?eviction_policy_check=warn&namespace={unique_namespace()}"
    with structlog.testing.capture_logs() as logs, store_from_url(url) as store:
        store.ping()
    assert any(e.get("policy") == evicting for e in logs)


def test_off_mode_skips_the_check(redis_url: str, evicting: str) -> None:
    with structlog.testing.capture_logs() as logs:
        store = store_from_url(redis_url, namespace=unique_namespace(), eviction_policy_check="off")
        store.ping()
        store.set("k", b"v")
        store.close()
    assert logs == []


def test_unverifiable_policy_is_refused_with_a_way_out(no_config_user: str) -> None:
    store = store_from_url(no_config_user, namespace=unique_namespace())
    with pytest.raises(UnsafeStoreConfigError) as info:
        store.set("k", b"v")
    text = str(info.value)
    assert "Cannot verify" in text
    assert "eviction_policy_check='warn'" in text
    assert "s3cret-pw" not in text
    assert isinstance(info.value.__cause__, redis.ResponseError)
    store.close()

    async def use_async() -> None:
        astore = await async_store_from_url(no_config_user, namespace=unique_namespace())
        async with astore:
            await astore.ping()

    with pytest.raises(UnsafeStoreConfigError, match="Cannot verify"):
        asyncio.run(use_async())
    with structlog.testing.capture_logs() as logs:
        store = store_from_url(
            no_config_user, namespace=unique_namespace(), eviction_policy_check="warn"
        )
        with store:
            assert store.set_if_absent("k", b"v")
    assert any("cannot verify" in e["event"] for e in logs)
    assert "s3cret-pw" not in store.url


def test_bad_eviction_mode_is_invalid(redis_url: str) -> None:
    with pytest.raises(InvalidArgumentError):
        RedisStore(redis_url, eviction_policy_check="maybe")  # type: ignore[arg-type]


# ---------------------------------------------------------------- connection errors


def test_connection_refused_is_unavailable_with_a_hint() -> None:
    url = closed_port_url()
    where = url.removeprefix("redis://").removesuffix("/0")
    store = store_from_url(url)  # no I/O at construction, even with the eviction check
    for call in (
        store.ping,
        lambda: store.get("k"),
        lambda: store.incr("k"),
        lambda: store.scan(""),
    ):
        with pytest.raises(StoreUnavailableError, match="Cannot connect") as info:
            call()
        assert f"Is redis-server running at {where}" in str(info.value.hint)
        assert "[store] url" in str(info.value.hint)
        assert isinstance(info.value.__cause__, redis.ConnectionError)
    store.close()


def test_connection_refused_async() -> None:
    url = closed_port_url()

    async def use() -> None:
        store = await async_store_from_url(url)  # no I/O: the first command connects
        try:
            await store.take_tokens("k", 1, 1)
        finally:
            await store.close()

    with pytest.raises(StoreUnavailableError, match="Cannot connect") as info:
        asyncio.run(use())
    assert info.value.context["operation"] == "take_tokens"
    assert isinstance(info.value.__cause__, redis.ConnectionError)


def test_wrong_password_is_unavailable_without_leaking_it(
    no_config_user: str, redis_server: RedisServer
) -> None:
    url = f"redis://noconfig:wrong-pw@{redis_server.host}:{redis_server.port}/0"
    with pytest.raises(StoreUnavailableError) as info:
        store_from_url(url, eviction_policy_check="off").ping()
    assert "credentials" in str(info.value)
    assert "wrong-pw" not in str(info.value)


def test_timeout_is_unavailable_and_says_the_command_may_have_run(
    redis_url: str, admin: redis.Redis
) -> None:
    ns = unique_namespace()
    store = store_from_url(redis_url, namespace=ns, socket_timeout=0.05)
    store.ping()
    admin.execute_command("CLIENT", "PAUSE", "2000", "WRITE")  # UNPAUSE still runs
    try:
        with pytest.raises(StoreUnavailableError, match="did not answer in time") as info:
            store.incr("n")
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
    assert "may or may not have run" in str(info.value.hint)
    # Had the connection been kept, the late reply to the first incr would be
    # read as the answer to this one, disagreeing with the server.
    assert store.incr("n") == int(admin.get(f"{ns}:{{n}}") or 0)
    store.close()


class SilentServer:
    """A loopback server that completes redis-py's handshake (RESP2 or RESP3), then
    never answers: it counts the ``EVALSHA`` commands it receives, on any connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.evalsha = 0
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while header := reader.readline():  # *N, then N times $len / bytes
                parts = []
                for _ in range(int(header[1:])):
                    size = int(reader.readline()[1:])
                    parts.append(reader.read(size + 2)[:-2])
                command = parts[0].upper()
                if command == b"EVALSHA":
                    self.evalsha += 1
                elif command == b"HELLO":  # redis-py >= 8 asks for RESP3 by default
                    conn.sendall(b"%1\r\n$5\r\nproto\r\n:" + parts[1] + b"\r\n")
                else:
                    conn.sendall(b"+OK\r\n")
        except (OSError, ValueError):
            return

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_a_client_retry_policy_never_resends_a_command() -> None:
    """A passed-in client may retry timeouts; the store must not: incr would apply twice."""
    server = SilentServer()
    client = redis.Redis(port=server.port, socket_timeout=0.05, retry=Retry(NoBackoff(), 3))
    store = RedisStore(client, eviction_policy_check="off")
    try:
        with pytest.raises(StoreUnavailableError, match="did not answer in time"):
            store.incr("n")
        assert server.evalsha == 1
    finally:
        store.close()
        client.close()
        server.close()


def test_out_of_memory_is_unavailable(redis_url: str, admin: redis.Redis) -> None:
    store = store_from_url(redis_url, namespace=unique_namespace())
    admin.config_set("maxmemory", "1")
    try:
        with pytest.raises(StoreUnavailableError, match="out of memory"):
            store.set("k", b"v" * 1000)
    finally:
        admin.config_set("maxmemory", "0")
    store.close()


def test_foreign_data_in_the_namespace_is_a_store_error(redis_url: str, admin: redis.Redis) -> None:
    ns = unique_namespace()
    admin.hset(f"{ns}:{{k}}", "field", "value")
    with store_from_url(redis_url, namespace=ns) as store:
        with pytest.raises(StoreError, match="unexpected data type") as info:
            store.get("k")
        assert isinstance(info.value.__cause__, redis.ResponseError)


# ---------------------------------------------------------------- clients and URLs


def test_a_client_passed_in_is_used_and_not_closed(redis_server: RedisServer) -> None:
    client = redis_server.client()
    store = RedisStore(client, namespace=unique_namespace())
    assert store.url == f"redis://{redis_server.host}:{redis_server.port}/0"
    store.set("k", b"v")
    store.close()
    assert client.ping()
    client.close()


def test_a_decoding_client_is_rejected(redis_server: RedisServer) -> None:
    with pytest.raises(InvalidArgumentError, match="bytes"):
        RedisStore(redis_server.client(decode_responses=True))


def test_unix_socket_url(redis_server: RedisServer) -> None:
    url = f"unix://{redis_server.unix_socket}?namespace={unique_namespace()}"
    with store_from_url(url) as store:
        assert store.set_if_absent("k", b"v")
        assert store.get("k") == b"v"
    assert store.url == url


def test_scripts_are_reloaded_after_script_flush(redis_url: str, admin: redis.Redis) -> None:
    with store_from_url(redis_url, namespace=unique_namespace()) as store:
        assert store.incr("n") == 1
        admin.script_flush()
        assert store.incr("n") == 2


# ---------------------------------------------------------------- connections


def named_clients(admin: redis.Redis, name: str) -> list[int]:
    """Ids of the server's clients called ``name``."""
    return [c["id"] for c in admin.client_list() if c.get("name") == name]


def until_count(admin: redis.Redis, name: str, count: int) -> int:
    """The server frees killed or closed clients asynchronously; wait (bounded) for it."""
    for _ in range(1000):
        if (left := len(named_clients(admin, name))) == count:
            break
        admin.ping()
    return left


def test_each_thread_has_its_own_connection_and_close_ends_them(
    redis_server: RedisServer, admin: redis.Redis
) -> None:
    name = unique_namespace()
    store = store_from_url(f"{redis_server.url}?client_name={name}", namespace=name)
    pooled = len(named_clients(admin, name))  # the pool's (eviction-policy check)
    seen: list[list[int]] = [[] for _ in range(8)]
    counted, release = threading.Barrier(9), threading.Event()

    def work(i: int) -> None:
        for _ in range(200):
            seen[i].append(store.incr("n"))
        counted.wait()
        release.wait()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    counted.wait()
    assert len(named_clients(admin, name)) == pooled + 8
    release.set()
    for t in threads:
        t.join()
    # every reply reached the thread that asked: 1600 distinct values, each thread's increasing
    assert sorted(v for values in seen for v in values) == list(range(1, 1601))
    assert all(values == sorted(values) for values in seen)
    # a finished thread's connection is closed with it (not whenever the GC runs)
    assert until_count(admin, name, pooled) == pooled
    assert store.incr("n") == 1601
    assert len(named_clients(admin, name)) == pooled + 1
    store.close()
    assert until_count(admin, name, 0) == 0
    assert store.incr("n") == 1602  # a closed store reconnects on the next command
    store.close()


def test_a_connection_the_server_closed_is_replaced_before_the_command_is_sent(
    redis_server: RedisServer, admin: redis.Redis
) -> None:
    name = unique_namespace()
    with store_from_url(f"{redis_server.url}?client_name={name}", namespace=name) as store:
        assert store.incr("n") == 1
        for client_id in named_clients(admin, name):  # as a server 'timeout' would
            admin.client_kill_filter(_id=client_id)
        assert until_count(admin, name, 0) == 0
        assert store.incr("n") == 2  # no error, and sent exactly once
        assert admin.get(f"{name}:{{n}}") == b"2"


def test_encoded_commands_are_bounded_and_stay_correct(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peak_trade.store import _redis_wire

    monkeypatch.setattr(_redis_wire, "_PACKED_SIZE", 2)
    with store_from_url(redis_url, namespace=unique_namespace()) as store:
        for _ in range(2):  # 3 buckets through a 2-entry memo: evicted, then encoded again
            for key in ("a", "b", "c"):
                assert store.take_tokens(key, 0.001, 2) == (True, 0.0)
        for key in ("a", "b", "c"):
            granted, wait = store.take_tokens(key, 0.001, 2)
            assert not granted
            assert wait > 900


def _incr_in_child(store: RedisStore, out: Any) -> None:
    out.put([store.incr("child") for _ in range(300)])


def test_a_forked_child_never_shares_the_parents_connection(redis_url: str) -> None:
    with store_from_url(redis_url, namespace=unique_namespace()) as store:
        store.incr("parent")  # the parent's connection exists before the fork
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        child = ctx.Process(target=_incr_in_child, args=(store, out))
        child.start()
        mine = [store.incr("parent") for _ in range(300)]
        theirs = out.get(timeout=60)
        child.join(timeout=60)
        assert child.exitcode == 0
        # on a shared socket, replies would cross between the processes
        assert mine == list(range(2, 302))
        assert theirs == list(range(1, 301))


async def _named_async_store(redis_server: RedisServer, name: str) -> AsyncRedisStore:
    return await async_store_from_url(f"{redis_server.url}?client_name={name}", namespace=name)


def test_async_commands_share_idle_connections_and_close_ends_them(
    redis_server: RedisServer, admin: redis.Redis
) -> None:
    name = unique_namespace()

    async def main() -> list[int]:
        store = await _named_async_store(redis_server, name)
        pooled = len(named_clients(admin, name))  # the client's own (eviction-policy check)

        async def worker() -> list[int]:
            return [await store.incr("n") for _ in range(20)]

        seen = await asyncio.gather(*(worker() for _ in range(30)))
        opened = len(named_clients(admin, name)) - pooled
        assert 1 <= opened <= 30  # at most one per concurrent command, reused after
        assert [await store.incr("n") for _ in range(5)] == list(range(601, 606))
        assert len(named_clients(admin, name)) - pooled == opened  # sequential: reused
        await store.close()
        return [v for values in seen for v in values]

    values = asyncio.run(main())
    assert sorted(values) == list(range(1, 601))  # every reply reached its own caller
    assert until_count(admin, name, 0) == 0


def test_an_async_command_cancelled_mid_reply_never_hands_its_reply_on(
    redis_server: RedisServer, admin: redis.Redis
) -> None:
    ns = unique_namespace()

    async def main() -> tuple[int, int]:
        async with await async_store_from_url(redis_server.url, namespace=ns) as store:
            await store.ping()  # a warm idle connection
            admin.execute_command("CLIENT", "PAUSE", "5000", "WRITE")
            try:
                late = asyncio.create_task(store.incr("n"))
                for _ in range(1000):  # until the server holds the command (flag b: blocked)
                    await asyncio.sleep(0)
                    clients = await asyncio.to_thread(admin.client_list)
                    if any("b" in c.get("flags", "") for c in clients):
                        break
                else:  # pragma: no cover - the command never reached the server
                    pytest.fail("the incr was never held by the paused server")
                late.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await late
            finally:
                admin.execute_command("CLIENT", "UNPAUSE")
            # a reused connection would answer this with the late "1" of the cancelled incr
            answer = await store.incr("n")
            return answer, int(admin.get(f"{ns}:{{n}}") or 0)

    answer, stored = asyncio.run(main())
    assert answer == stored


def test_an_idle_async_connection_the_server_closed_is_replaced(
    redis_server: RedisServer, admin: redis.Redis
) -> None:
    name = unique_namespace()

    async def main() -> int:
        store = await _named_async_store(redis_server, name)
        async with store:
            assert await store.incr("n") == 1
            for client_id in named_clients(admin, name):
                admin.client_kill_filter(_id=client_id)
            assert until_count(admin, name, 0) == 0
            for _ in range(10):  # let the loop read the EOF (the admin calls above block it)
                await asyncio.sleep(0)
            return await store.incr("n")  # no error, sent once

    assert asyncio.run(main()) == 2
    assert admin.get(f"{name}:{{n}}") == b"2"


# ---------------------------------------------------------------- layout and time


def test_keys_are_hash_tagged_into_one_slot(redis_url: str, admin: redis.Redis) -> None:
    ns = unique_namespace()
    with store_from_url(redis_url, namespace=ns) as store:
        store.set("user:1", b"v")
        store.window_hit("user:1", 60)
        store.take_tokens("user:1", 1, 5)
    keys = sorted(k.decode() for k in admin.keys(f"{ns}:*"))
    assert keys == [f"{ns}:{{user:1}}", f"{ns}:{{user:1}}:b", f"{ns}:{{user:1}}:w"]
    assert [admin.type(k) for k in keys] == [b"string", b"string", b"zset"]
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_ttls_are_milliseconds_rounded_up(redis_url: str, admin: redis.Redis) -> None:
    ns = unique_namespace()
    with store_from_url(redis_url, namespace=ns) as store:
        store.set("k", b"v", ttl=10.0004)
        store.window_hit("w", 2.5)
        store.set("p", b"v")
    assert 9_900 < admin.pttl(f"{ns}:{{k}}") <= 10_001
    assert 2_400 < admin.pttl(f"{ns}:{{w}}:w") <= 2_500  # the log expires with its window
    assert admin.pttl(f"{ns}:{{p}}") == -1


def test_buckets_and_windows_use_the_server_clock(redis_url: str, admin: redis.Redis) -> None:
    ns = unique_namespace()
    with store_from_url(redis_url, namespace=ns) as store:
        store.take_tokens("b", rate=10, burst=5)  # interval 0.1 s
        store.window_hit("w", 60)
    seconds, micros = admin.time()
    server_now = seconds * 1_000_000 + micros
    tat = float(admin.get(f"{ns}:{{b}}:b") or 0)
    assert 0 < tat - server_now <= 100_000  # one interval past the server's TIME
    [(_member, score)] = admin.zrange(f"{ns}:{{w}}:w", 0, -1, withscores=True)
    assert 0 <= server_now - score < 5_000_000


# ---------------------------------------------------------------- one round trip


@contextmanager
def watching(redis_server: RedisServer) -> Iterator[list[str]]:
    """Collect the commands clients send inside the block, as the server saw them (MONITOR).

    Commands that Lua scripts run are reported by MONITOR as client ``lua``;
    they are not round trips and are left out.
    """
    admin, marker = redis_server.client(), redis_server.client()
    marker.ping()  # connect before monitoring starts
    seen: list[str] = []
    try:
        with admin.monitor() as monitor:
            yield seen
            marker.echo("end-of-block")
            while (event := monitor.next_command())["command"] != "ECHO end-of-block":
                if event["client_type"] != "lua":
                    seen.append(event["command"])
    finally:
        admin.close()
        marker.close()


PRIMITIVES: dict[str, Callable[[Any], Any]] = {
    "ping": lambda s: s.ping(),
    "get": lambda s: s.get("k"),
    "set": lambda s: s.set("k", b"v", ttl=60),
    "set_if_absent": lambda s: s.set_if_absent("k2", b"v", ttl=60),
    "compare_and_set": lambda s: s.compare_and_set("k", b"v", b"w", ttl=60),
    "compare_and_set_absent": lambda s: s.compare_and_set("k3", None, b"w"),
    "compare_and_delete": lambda s: s.compare_and_delete("k", b"w"),
    "delete": lambda s: s.delete("k"),
    "ttl": lambda s: s.ttl("k"),
    "incr": lambda s: s.incr("n", ttl=60),
    "window_hit": lambda s: s.window_hit("w", 60, limit=100),
    "take_tokens": lambda s: s.take_tokens("b", 100, 1000),
    "tokens_available": lambda s: s.tokens_available("b", 100, 1000),
}
ONE_COMMAND = {"EVALSHA", "GET", "SET", "DEL", "PTTL", "PING"}


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_primitive_is_one_round_trip(redis_server: RedisServer, name: str) -> None:
    call = PRIMITIVES[name]
    with store_from_url(redis_server.url, namespace=unique_namespace()) as store:
        call(store)  # warm up: connection handshake, script load
        with watching(redis_server) as seen:
            call(store)
    assert len(seen) == 1, seen
    assert seen[0].split()[0].upper() in ONE_COMMAND


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_async_primitive_is_one_round_trip(redis_server: RedisServer, name: str) -> None:
    call = PRIMITIVES[name]

    async def main() -> list[str]:
        store = await async_store_from_url(redis_server.url, namespace=unique_namespace())
        async with store:
            await call(store)
            with watching(redis_server) as seen:
                await call(store)
        return seen

    seen = asyncio.run(main())
    assert len(seen) == 1, seen
    assert seen[0].split()[0].upper() in ONE_COMMAND


def test_sync_and_async_shells_send_identical_commands(redis_server: RedisServer) -> None:
    ns = unique_namespace()
    with store_from_url(redis_server.url, namespace=ns) as store:
        for call in PRIMITIVES.values():
            call(store)
        with watching(redis_server) as sync_seen:
            for call in PRIMITIVES.values():
                call(store)

    async def main() -> list[str]:
        store = await async_store_from_url(redis_server.url, namespace=ns)
        async with store:
            for call in PRIMITIVES.values():
                await call(store)
            with watching(redis_server) as seen:
                for call in PRIMITIVES.values():
                    await call(store)
        return seen

    async_seen = asyncio.run(main())
    assert len(sync_seen) == len(PRIMITIVES)
    assert async_seen == sync_seen


# ---------------------------------------------------------------- pool options of the URL


def test_max_connections_bounds_the_threads_connections(
    redis_server: RedisServer, admin: redis.Redis
) -> None:
    name = unique_namespace()
    url = f"{redis_server.url}?client_name={name}&max_connections=2"
    store = store_from_url(url, namespace=name)
    pooled = len(named_clients(admin, name))
    holding, release = threading.Barrier(3), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        store.incr("n")
        holding.wait()
        release.wait()

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for t in holders:
        t.start()
    holding.wait()

    def third() -> None:
        try:
            store.incr("n")
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    extra = threading.Thread(target=third)
    extra.start()
    extra.join()
    assert len(named_clients(admin, name)) == pooled + 2
    [err] = errors
    assert isinstance(err, StoreUnavailableError)
    assert "max_connections=2" in str(err)
    assert err.hint is not None
    assert "max_connections" in err.hint
    release.set()
    for t in holders:
        t.join()
    assert store.incr("n") == 3  # the finished threads gave their connections back
    store.close()


def test_async_max_connections_makes_commands_wait_for_a_free_connection(
    redis_server: RedisServer, admin: redis.Redis
) -> None:
    name = unique_namespace()

    async def main() -> tuple[list[int], int]:
        url = f"{redis_server.url}?client_name={name}&max_connections=2"
        store = await async_store_from_url(url, namespace=name)
        pooled = len(named_clients(admin, name))

        async def worker() -> list[int]:
            return [await store.incr("n") for _ in range(20)]

        seen = await asyncio.gather(*(worker() for _ in range(30)))
        opened = len(named_clients(admin, name)) - pooled
        await store.close()
        return [v for values in seen for v in values], opened

    values, opened = asyncio.run(main())
    assert sorted(values) == list(range(1, 601))
    assert 1 <= opened <= 2


def test_async_wait_for_a_connection_is_bounded_by_connect_timeout(
    redis_server: RedisServer, admin: redis.Redis
) -> None:
    ns = unique_namespace()

    async def main() -> int:
        url = f"{redis_server.url}?max_connections=1&connect_timeout=0.05"
        async with await async_store_from_url(url, namespace=ns) as store:
            await store.ping()
            admin.execute_command("CLIENT", "PAUSE", "3000", "WRITE")
            try:
                held = asyncio.create_task(store.incr("n"))  # takes the only connection
                await asyncio.sleep(0)
                with pytest.raises(StoreUnavailableError, match="max_connections=1") as info:
                    await store.incr("n")
                assert "max_connections" in str(info.value.hint)
            finally:
                admin.execute_command("CLIENT", "UNPAUSE")
            assert await held == 1
            return await store.incr("n")  # the connection came back

    assert asyncio.run(main()) == 2


def test_health_check_interval_pings_an_idle_connection_before_reuse(
    redis_server: RedisServer,
) -> None:
    clock = ManualClock()
    url = f"{redis_server.url}?health_check_interval=30"
    with store_from_url(url, namespace=unique_namespace(), clock=clock) as store:
        store.incr("n")
        clock.advance(10)
        with watching(redis_server) as busy:
            store.incr("n")  # used 10 s ago: no probe
        clock.advance(31)
        with watching(redis_server) as idle:
            store.incr("n")  # idle for 31 s: PING first
    assert [c.split()[0].upper() for c in busy] == ["EVALSHA"]
    assert [c.split()[0].upper() for c in idle] == ["PING", "EVALSHA"]


def test_async_health_check_interval_pings_an_idle_connection_before_reuse(
    redis_server: RedisServer,
) -> None:
    clock = ManualClock()

    async def main() -> tuple[list[str], list[str]]:
        url = f"{redis_server.url}?health_check_interval=30"
        async with await async_store_from_url(url, namespace=unique_namespace(), clock=clock) as s:
            await s.incr("n")
            clock.advance(10)
            with watching(redis_server) as busy:
                await s.incr("n")
            clock.advance(31)
            with watching(redis_server) as idle:
                await s.incr("n")
        return busy, idle

    busy, idle = asyncio.run(main())
    assert [c.split()[0].upper() for c in busy] == ["EVALSHA"]
    assert [c.split()[0].upper() for c in idle] == ["PING", "EVALSHA"]


class FreezingProxy:
    """A TCP relay to the real server whose existing connections can be made silent.

    ``freeze()`` stops relaying on every connection open at that moment without
    closing anything, as a dead NAT entry or a pulled cable does: the client's
    socket stays open and reads nothing. Connections made afterwards work.
    """

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.frozen: list[threading.Event] = []
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            frozen = threading.Event()
            self.frozen.append(frozen)
            self.conns += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst, frozen), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, frozen: threading.Event) -> None:
        try:
            while data := src.recv(65536):
                if not frozen.is_set():
                    dst.sendall(data)
        except OSError:
            return

    def freeze(self) -> None:
        for event in self.frozen:
            event.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_health_check_replaces_a_connection_that_went_silent(
    redis_server: RedisServer, admin: redis.Redis
) -> None:
    """Without the probe the incr would go out on the dead connection and time out,
    leaving the caller unsure whether it ran; with it, it runs once on a new one."""
    clock = ManualClock()
    proxy = FreezingProxy(redis_server.host, redis_server.port)
    ns = unique_namespace()
    url = f"redis://127.0.0.1:{proxy.port}/0?health_check_interval=5"
    try:
        store = store_from_url(
            url, namespace=ns, clock=clock, socket_timeout=0.2, eviction_policy_check="off"
        )
        assert store.incr("n") == 1
        proxy.freeze()
        clock.advance(6)
        assert store.incr("n") == 2
        assert admin.get(f"{ns}:{{n}}") == b"2"
        store.close()
    finally:
        proxy.close()
