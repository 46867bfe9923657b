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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from peak_trade.clock import ManualClock
from peak_trade.store import MemoryStore, Store, store_from_url
from peak_trade.store.aio import AsyncStore, AsyncStoreAdapter, async_store_from_url

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


def _make_case(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> StoreCase:
    clock = ManualClock()
    backend, is_async = name.removesuffix("-async"), name.endswith("-async")
    runner = asyncio.Runner() if is_async else None
    request.addfinalizer(lambda: runner.close() if runner else None)

    if backend == "memory":
        base = MemoryStore(clock=clock)

        def open_sync(ns: str) -> Any:
            return base.namespaced(ns)

        def open_async(ns: str) -> Any:
            return AsyncStoreAdapter(base.namespaced(ns))

    else:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'state' / 'store.db'}"
        else:
            url = request.getfixturevalue("redis_url")

        def open_sync(ns: str) -> Any:
            return store_from_url(url, namespace=ns, clock=clock)

        def open_async(ns: str) -> Any:
            assert runner is not None
            return runner.run(async_store_from_url(url, namespace=ns, clock=clock))

    def opener(ns: str) -> Any:
        if runner is None:
            return open_sync(ns)
        return SyncOverAsync(open_async(ns), runner)

    case = StoreCase(name, controls_time=BACKENDS[backend], clock=clock, opener=opener)

    def close_all() -> None:
        for store in case.opened:
            store.close()

    request.addfinalizer(close_all)  # runs before the runner is closed (LIFO)
    return case


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
