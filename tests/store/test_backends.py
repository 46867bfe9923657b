"""The table of store backends: a backend is one module plus one table line.

The toy backend of ``toy_backend.py`` is registered for each test here and
removed after it; the whole contract suite (every test of ``test_contract.py``,
collected again in this module) runs on it, sync and async. The toy validates
nothing itself: the bad-argument tests pass because the base class checks
every argument before a backend hook runs.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from peak_trade.clock import ManualClock
from peak_trade.config import load_settings
from peak_trade.errors import ConfigError, InvalidArgumentError
from peak_trade.store import (
    BACKENDS,
    MemoryStore,
    StoreBackend,
    StoreBase,
    register_backend,
    store_from_url,
    unregister_backend,
)
from peak_trade.store.aio import AsyncStoreAdapter, async_store_from_url
from peak_trade.store.sqlite import SqliteStore
from peak_trade.store.url import parse_store_url

from . import test_contract
from .conftest import StoreCase, make_case
from .toy_backend import TOY, ToyStore

# Every contract test, collected again here: on this module's store_case (the toy).
globals().update({k: v for k, v in vars(test_contract).items() if k.startswith("test_")})


@pytest.fixture
def toy() -> Iterator[StoreBackend]:
    """The toy backend, registered for one test."""
    register_backend(TOY)
    try:
        yield TOY
    finally:
        unregister_backend("toy")


def _toy_case(request: pytest.FixtureRequest) -> StoreCase:
    request.getfixturevalue("toy")
    url = f"toy://{uuid.uuid4().hex[:8]}"
    return make_case(request, request.param, url, controls_time=True)


@pytest.fixture(params=["toy", "toy-async"])
def store_case(request: pytest.FixtureRequest) -> StoreCase:
    """The contract's cases, on the toy backend."""
    return _toy_case(request)


@pytest.fixture(params=["toy", "toy-async"])
def timed_case(request: pytest.FixtureRequest) -> StoreCase:
    """The toy reads the test's clock, so the time-travel tests run on it too."""
    return _toy_case(request)


# ---------------------------------------------------------------- the table


def test_the_built_in_backends_are_rows_of_one_table() -> None:
    rows = {row.name: row for row in BACKENDS}
    assert set(rows) >= {"memory", "sqlite", "redis"}
    assert rows["redis"].schemes == ("redis", "rediss", "unix")
    assert (rows["memory"].blocking, rows["sqlite"].blocking) == (False, True)
    assert rows["redis"].async_factory is not None  # a native async twin
    assert rows["sqlite"].async_factory is None  # the adapter runs it in a thread
    for scheme in ("redis", "REDISS", "unix"):
        assert BACKENDS.for_scheme(scheme) is rows["redis"]


def test_a_registered_backend_opens_from_its_url(toy: StoreBackend) -> None:
    clock = ManualClock()
    store = store_from_url("toy://a?namespace=bot1", clock=clock)
    assert isinstance(store, ToyStore)
    assert (store.url, store.namespace) == ("toy://a?namespace=bot1", "bot1")
    store.set("k", b"v", ttl=1)
    assert store_from_url("toy://a", namespace="bot1", clock=clock).get("k") == b"v"  # shared
    clock.advance(2)
    assert store.get("k") is None


def test_a_registered_backend_takes_the_common_options_only(toy: StoreBackend) -> None:
    spec = parse_store_url("toy://a?store_timeout=0.3", namespace="n")
    assert spec.options == {"namespace": "n", "store_timeout": 0.3}
    assert spec.row is toy
    with pytest.raises(ConfigError, match="Unknown option 'busy_timeout'") as info:
        parse_store_url("toy://a?busy_timeout=1")
    assert "namespace, store_timeout" in str(info.value.hint)


def test_config_validates_a_registered_backend_with_the_same_table(
    toy: StoreBackend, tmp_path: Path
) -> None:
    path = tmp_path / "pt.toml"
    path.write_text("[store]\nurl = 'toy://cfg'\nstore_timeout = 0.2\n")
    cfg = load_settings(path).store
    assert cfg.backend == "toy"
    # what the backend accepts, no more: the Redis-only keys stay out
    assert cfg.store_options() == {"namespace": "peaktrade", "store_timeout": 0.2}
    unregister_backend("toy")
    with pytest.raises(ConfigError, match="Unsupported store URL scheme 'toy'"):
        load_settings(path)


def test_unregistered_schemes_are_refused_and_hints_list_registered_ones(
    toy: StoreBackend,
) -> None:
    with pytest.raises(ConfigError) as info:
        store_from_url("nope://x")
    assert "toy://name" in str(info.value.hint)
    assert "memory://" in str(info.value.hint)
    unregister_backend("toy")
    with pytest.raises(ConfigError, match="Unsupported store URL scheme 'toy'"):
        store_from_url("toy://a")


def test_registration_refuses_a_clash_unless_told_to_replace(toy: StoreBackend) -> None:
    other = StoreBackend("toy2", ("toy",), factory=ToyStore.from_spec)
    with pytest.raises(ValueError, match="clashes with 'toy'"):
        register_backend(other)
    register_backend(other, replace=True)
    try:
        assert BACKENDS.for_scheme("toy") is other
        assert BACKENDS.named("toy") is None
    finally:
        unregister_backend("toy2")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"schemes": ()}, "schemes"),
        ({"schemes": ("Toy",)}, "schemes"),
        ({"schemes": ("to y",)}, "schemes"),
        ({"name": "has space"}, "name"),
        ({"options": {"namespace": str}}, "namespace"),
    ],
)
def test_a_malformed_row_is_refused(kwargs: dict[str, Any], fragment: str) -> None:
    row: dict[str, Any] = {"name": "x", "schemes": ("x",), "factory": ToyStore.from_spec}
    with pytest.raises(ValueError, match=fragment):
        StoreBackend(**{**row, **kwargs})


def test_reset_restores_the_built_in_rows(toy: StoreBackend) -> None:
    assert BACKENDS.named("toy") is toy
    BACKENDS.reset()
    assert BACKENDS.named("toy") is None
    assert {row.name for row in BACKENDS} == {"memory", "sqlite", "redis"}


# ---------------------------------------------------------------- async: the table says what blocks


class _Spy(ToyStore):
    """Records the thread each ``get`` runs on."""

    threads: list[int]

    def _get(self, key: str) -> bytes | None:
        self.threads.append(threading.get_ident())
        return super()._get(key)


def _thread_of_get(store: _Spy, offload: bool | None = None) -> tuple[int, int]:
    store.threads = []

    async def main() -> int:
        await AsyncStoreAdapter(store, offload=offload).get("k")
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    return loop_thread, store.threads[0]


def test_the_adapter_runs_a_non_blocking_backend_inline(toy: StoreBackend) -> None:
    loop_thread, ran_on = _thread_of_get(_Spy("a", namespace="n"))
    assert ran_on == loop_thread


def test_the_adapter_offloads_a_blocking_or_unknown_backend(toy: StoreBackend) -> None:
    register_backend(StoreBackend("toy", ("toy",), factory=ToyStore.from_spec), replace=True)
    loop_thread, ran_on = _thread_of_get(_Spy("a", namespace="n"))
    assert ran_on != loop_thread
    unregister_backend("toy")  # no row at all: blocking is the safe guess
    loop_thread, ran_on = _thread_of_get(_Spy("a", namespace="n"))
    assert ran_on != loop_thread
    loop_thread, ran_on = _thread_of_get(_Spy("a", namespace="n"), offload=False)
    assert ran_on == loop_thread  # an explicit choice wins


def test_async_store_from_url_follows_the_row(toy: StoreBackend, tmp_path: Path) -> None:
    async def main() -> None:
        toy_store = await async_store_from_url("toy://b")
        assert isinstance(toy_store, AsyncStoreAdapter)
        assert isinstance(toy_store.store, ToyStore)
        sql = await async_store_from_url(f"sqlite:///{tmp_path}/s.db")
        assert isinstance(sql, AsyncStoreAdapter)
        assert isinstance(sql.store, SqliteStore)
        await sql.close()

    asyncio.run(main())


# ---------------------------------------------------------------- the base validates once


class _Recorder(StoreBase):
    """A backend whose hooks only record what reaches them."""

    def __init__(self) -> None:
        super().__init__("rec")
        self.url = "rec://"
        self.calls: list[tuple[str, tuple[Any, ...]]] = []


def _recording(hook: str) -> Any:
    def record(self: _Recorder, *args: Any) -> None:
        self.calls.append((hook, args))

    return record


_HOOKS = "ping get set compare_and_set compare_and_delete delete ttl incr window_hit take_tokens"
for _hook in [*_HOOKS.split(), "tokens_available", "scan"]:
    setattr(_Recorder, f"_{_hook}", _recording(f"_{_hook}"))


def test_no_bad_argument_ever_reaches_a_backend_hook() -> None:
    store = _Recorder()
    bad: list[Any] = [
        lambda: store.get("a b"),
        lambda: store.set("k", "text"),
        lambda: store.set("k", b"v", ttl=0),
        lambda: store.compare_and_set("k", "x", b"v"),
        lambda: store.compare_and_delete("k", None),
        lambda: store.incr("k", 1.5),
        lambda: store.window_hit("k", -1),
        lambda: store.take_tokens("k", 1, 2, cost=3),
        lambda: store.tokens_available("k", 0, 1),
        lambda: store.scan("{"),
    ]
    for call in bad:
        with pytest.raises(InvalidArgumentError):
            call()
    assert store.calls == []


def test_the_base_hands_hooks_validated_arguments() -> None:
    store = _Recorder()
    store.set_if_absent("k", b"v", ttl=2)
    store.take_tokens("k", 2, 4)
    store.take_tokens("k", 2, 4)
    assert store.calls[0] == ("_compare_and_set", ("k", None, b"v", 2.0))
    assert store.calls[1][0] == "_take_tokens"
    assert tuple(store.calls[1][1][0]) == ("k", 2.0, 4, 1)
    assert store.calls[2][1][0] is store.calls[1][1][0]  # validated once, then reused


def test_memory_is_a_row_too() -> None:
    assert isinstance(store_from_url("memory://"), MemoryStore)
