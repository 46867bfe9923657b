"""``store_from_url``: URL formats, options, masking, errors, and the light import."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import peak_trade.store as store_pkg
from peak_trade.clock import ManualClock
from peak_trade.errors import ConfigError, StoreUnavailableError
from peak_trade.store import MemoryStore, Store, store_from_url
from peak_trade.store.aio import AsyncStore, AsyncStoreAdapter, async_store_from_url
from peak_trade.store.sqlite import SqliteStore
from peak_trade.store.url import SecretUrl, parse_store_url


def test_memory_url() -> None:
    clock = ManualClock()
    store = store_from_url("memory://", clock=clock)
    assert isinstance(store, MemoryStore)
    assert isinstance(store, Store)
    assert store.namespace == "peaktrade"
    assert store.url == "memory://"
    store.set("k", b"v", ttl=1)
    clock.advance(2)
    assert store.get("k") is None
    assert store_from_url("memory://?namespace=x").namespace == "x"


def test_sqlite_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with store_from_url("sqlite:///var/state.db") as store:
        assert isinstance(store, SqliteStore)
        assert store.url == "sqlite:///var/state.db"
        store.set("k", b"v")
    assert (tmp_path / "var" / "state.db").exists()


def test_sqlite_absolute_path_has_four_slashes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'abs' / 'state.db'}"
    assert url.startswith("sqlite:////")
    with store_from_url(url, namespace="n1", busy_timeout=1.5) as store:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / "abs" / "state.db"
        assert store.busy_timeout == 1.5
        assert store.namespace == "n1"


def test_sqlite_path_is_percent_decoded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/with%20space/s.db"
    with store_from_url(url) as store:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / "with space" / "s.db"


def test_query_options_win_over_keywords(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db?namespace=from-url&busy_timeout=7"
    with store_from_url(url, namespace="from-kwarg", busy_timeout=1) as store:
        assert store.namespace == "from-url"
        assert isinstance(store, SqliteStore)
        assert store.busy_timeout == 7.0


def test_redis_url_password_is_masked_everywhere() -> None:
    # eviction_policy_check="off": no connection is made at construction
    store = store_from_url("redis://:hunter2@127.0.0.1:1/0", eviction_policy_check="off")
    assert store.url == "redis://:***@127.0.0.1:1/0"
    assert "hunter2" not in repr(store)
    with pytest.raises(StoreUnavailableError) as info:
        store.ping()
    assert "hunter2" not in str(info.value)
    store.close()
    user_store = store_from_url("redis://bob:pw@localhost:1/2", eviction_policy_check="off")
    assert user_store.url == "redis://bob:***@localhost:1/2"
    user_store.close()


def test_redis_passthrough_options_reach_redis_py() -> None:
    spec = parse_store_url(
        "rediss://h:6380/3?client_name=bot&namespace=n&ssl_cert_reqs=none&socket_timeout=3"
    )
    assert spec.backend == "redis"
    assert spec.target == "rediss://h:6380/3?client_name=bot&ssl_cert_reqs=none"
    assert spec.options == {"namespace": "n", "socket_timeout": 3.0}
    unix = parse_store_url("unix:///run/redis.sock?db=2&namespace=n")
    assert unix.target == "unix:///run/redis.sock?db=2"


@pytest.mark.parametrize(
    "url",
    ["mysql://host/db", "http://x", "state.db", "", "sqlite:/x.db", "postgres://u:pw@h/db"],
)
def test_unknown_scheme_lists_the_supported_ones(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        store_from_url(url)
    hint = str(info.value.hint)
    for scheme in ("memory://", "sqlite:///", "sqlite:////", "redis://", "rediss://", "unix://"):
        assert scheme in hint
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "options", "fragment"),
    [
        ("memory://?busy_timeout=1", {}, "Unknown option 'busy_timeout'"),
        ("sqlite:///x.db?colour=blue", {}, "Unknown option 'colour'"),
        ("sqlite:///x.db", {"eviction_policy_check": "warn"}, "Unknown option"),
        ("redis://h/0?timeout_s=1", {}, "Unknown option 'timeout_s'"),
        ("sqlite:///x.db?busy_timeout=-1", {}, "busy_timeout"),
        ("sqlite:///x.db?busy_timeout=soon", {}, "busy_timeout"),
        ("redis://h/0?eviction_policy_check=maybe", {}, "eviction_policy_check"),
        ("redis://h/0", {"connect_timeout": 0}, "connect_timeout"),
        ("redis://h/0", {"socket_timeout": True}, "socket_timeout"),
        ("memory://", {"namespace": "has space"}, "namespace"),
        ("memory://?namespace=a:b", {}, "namespace"),
    ],
)
def test_bad_options_are_config_errors(url: str, options: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        store_from_url(url, **options)
    assert info.value.hint


def test_unknown_option_error_lists_the_options() -> None:
    with pytest.raises(ConfigError) as info:
        store_from_url("sqlite:///x.db?colour=blue")
    assert "busy_timeout" in str(info.value.hint)
    assert "namespace" in str(info.value.hint)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite://host/x.db",
        "sqlite:///:memory:",
        "memory://host",
        "memory:///path",
        "redis://h:notaport/0",
        "redis://h:6379/zero",
        "unix://",
    ],
)
def test_malformed_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        store_from_url(url, **({"eviction_policy_check": "off"} if "redis" in url else {}))


def test_async_store_from_url_memory_and_sqlite(tmp_path: Path) -> None:
    async def main() -> None:
        mem = await async_store_from_url("memory://", namespace="m")
        assert isinstance(mem, AsyncStoreAdapter)
        assert isinstance(mem, AsyncStore)
        assert mem.namespace == "m"
        assert await mem.set_if_absent("k", b"v")
        async with await async_store_from_url(f"sqlite:///{tmp_path}/a.db") as sql:
            assert await sql.incr("n", 2) == 2
            assert sql.url.startswith("sqlite:////")
        with pytest.raises(ConfigError):
            await async_store_from_url("nope://")

    asyncio.run(main())


def test_package_exports() -> None:
    assert set(store_pkg.__all__) >= {
        "Store",
        "AsyncStore",
        "MemoryStore",
        "SqliteStore",
        "RedisStore",
        "store_from_url",
        "async_store_from_url",
    }
    for name in store_pkg.__all__:
        assert getattr(store_pkg, name) is not None
    assert "RedisStore" in dir(store_pkg)
    with pytest.raises(AttributeError):
        _ = store_pkg.NoSuchThing  # type: ignore[attr-defined]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}


def test_memory_and_sqlite_stores_never_import_redis(tmp_path: Path) -> None:
    loaded = _modules_after(
        "import peak_trade.store\n"
        "from peak_trade.store import MemoryStore, SqliteStore, store_from_url\n"
        "store_from_url('memory://').set('k', b'v')\n"
        f"store_from_url('sqlite:///{tmp_path}/s.db').incr('n')\n"
        "import asyncio\n"
        "from peak_trade.store import async_store_from_url\n"
        "asyncio.run(async_store_from_url('memory://'))"
    )
    assert "redis" not in loaded
    assert "redis" in _modules_after("from peak_trade.store import RedisStore")


# ---------------------------------------------------------------- passwords and one parser

PASSWORD = "Hunter2Sekr1t"


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{PASSWORD}@h:notaport/0",
        f"redis://:pa/{PASSWORD}@h:6379/0",  # a raw '/' in the password
        f"redis://:{PASSWORD}@h/0?colour=blue",
        f"redis://:{PASSWORD}@h/0?max_connections=lots",
        f"redis://:{PASSWORD}@h/0?health_check_interval=-1",
        f"redis+sentinel://:{PASSWORD}@h:26379/0",
        f"redis//:{PASSWORD}@h/0",
        f"mysql://:{PASSWORD}@h/0",
        f"redis://:{PASSWORD}@h/zero",
        f"redis://:{PASSWORD}@h/0?ssl_cert_reqs=none",  # TLS options without TLS
        f"REDIS://:{PASSWORD}@h/0?db=x",
    ],
)
def test_errors_about_a_url_never_hold_its_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        store_from_url(url, eviction_policy_check="off")
    err = info.value
    for text in (str(err), repr(err.context), err.message, str(err.hint)):
        assert PASSWORD not in text
    cause = err.__cause__
    assert cause is None or PASSWORD not in str(cause)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("redis://:pa/ss@h:6379/0", "'/' in the password"),
        ("redis://h/0?ssl_cert_reqs=none", "need a rediss:// URL"),
        ("unix:///run/redis.sock?ssl_keyfile=k.pem", "need a rediss:// URL"),
        ("redis://h/0?max_connections=0", "max_connections"),
        ("redis://h/0?max_connections=2.5", "max_connections"),
        ("redis://h/0?health_check_interval=soon", "health_check_interval"),
        ("redis://h/0?db=-1", "'db'"),
        ("redis+sentinel://h:26379/0", "scheme"),
    ],
)
def test_redis_urls_that_redis_py_would_fail_on_later_are_config_errors(
    url: str, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)) as info:
        parse_store_url(url)
    assert info.value.hint


def test_sentinel_urls_say_what_to_do_instead() -> None:
    with pytest.raises(ConfigError) as info:
        parse_store_url("redis+sentinel://h:26379/0")
    assert "Sentinel is not supported yet" in str(info.value.hint)


def test_sqlite_url_with_two_slashes_suggests_three() -> None:
    with pytest.raises(ConfigError) as info:
        parse_store_url("sqlite://var/state.db")
    assert "sqlite:///var/state.db" in str(info.value.hint)


def test_an_upper_case_scheme_opens_the_store() -> None:
    store = store_from_url(f"REDIS://:{PASSWORD}@127.0.0.1:1/0", eviction_policy_check="off")
    assert store.url == "REDIS://:***@127.0.0.1:1/0"
    assert PASSWORD not in repr(store)
    store.close()


def test_the_spec_keeps_the_password_out_of_its_repr() -> None:
    spec = parse_store_url(f"redis://:{PASSWORD}@h:6379/0?client_name=x")
    assert PASSWORD in spec.target  # what redis-py needs
    assert PASSWORD not in repr(spec)
    assert spec.url == "redis://:***@h:6379/0?client_name=x"


def test_a_secret_url_opens_the_store_and_never_shows_its_password(tmp_path: Path) -> None:
    url = SecretUrl(f"redis://:{PASSWORD}@127.0.0.1:1/0")
    assert PASSWORD not in f"{url} {url!r}"
    assert url.get_secret_value().endswith("@127.0.0.1:1/0")
    with store_from_url(url, eviction_policy_check="off") as store:
        assert store.url == "redis://:***@127.0.0.1:1/0"
    with store_from_url(SecretUrl(f"sqlite:///{tmp_path}/s.db")) as sql:
        assert sql.url == f"sqlite:///{tmp_path}/s.db"
    assert SecretUrl("memory://") == SecretUrl("memory://")
    assert SecretUrl("memory://") != "memory://"
    assert str(SecretUrl(f"redis//:{PASSWORD}@h")) == "***"  # unreadable: all of it masked
