"""The fleet breaker on every store backend, sync and async, and never blocking an event loop.

``store_case`` (tests/store/conftest.py) gives each backend (memory, SQLite,
a real Redis) once through the sync ``Store`` and once through the
``AsyncStore``. With a sync store the workers protect plain functions; with an
async one they protect ``async def`` functions, run on the store's own event
loop. The same scenario must hold on all six.

A breaker protecting ``async def`` must never make a blocking store call on
the event loop: a store double records the thread of every primitive it runs.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import structlog
from killable_redis import KillableRedis
from store_doubles import AwaitRecordingStore, ThreadRecordingStore

from peak_trade.clock import ManualClock
from peak_trade.errors import CircuitOpenError, InvalidArgumentError
from peak_trade.resilience import CircuitBreaker, CircuitState
from peak_trade.store import MemoryStore, store_from_url
from peak_trade.store.aio import AsyncStoreAdapter, async_store_from_url
from store.conftest import StoreCase, store_case

__all__ = ["store_case"]  # the fixture, imported to be used here


class Boom(Exception):
    pass


class Worker:
    """One worker of the fleet: a breaker named "exchange" on its own store of the case.

    With a sync store it protects a plain function; with an async one an
    ``async def``, run on the event loop the store lives on. ``call()`` makes
    one protected call from the test; ``acall()`` is the coroutine, for use
    inside another worker's call.
    """

    def __init__(self, case: StoreCase, store: Any) -> None:
        self.runner: asyncio.Runner | None = store._runner if case.is_async else None
        self.breaker = CircuitBreaker(
            2,
            60.0,
            name="exchange",
            clock=case.clock,
            store=store.astore if case.is_async else store,
            sync_interval=1.0,
        )
        self.during: Callable[[], Any] | None = None
        protected: Callable[..., Any]
        if case.is_async:

            @self.breaker
            async def protected(exc: BaseException | None = None) -> str:
                if self.during is not None:
                    await self.during()
                if exc is not None:
                    raise exc
                return "ok"

        else:

            @self.breaker
            def protected(exc: BaseException | None = None) -> str:
                if self.during is not None:
                    self.during()
                if exc is not None:
                    raise exc
                return "ok"

        self._protected: Callable[..., Any] = protected

    def acall(self) -> Awaitable[str]:
        return cast(Awaitable[str], self._protected())

    def call(self, exc: BaseException | None = None) -> str:
        if self.runner is not None:
            return cast(str, self.runner.run(self._protected(exc)))
        return cast(str, self._protected(exc))

    def fail(self) -> None:
        with pytest.raises(Boom):
            self.call(Boom())

    def rejection(self) -> CircuitOpenError:
        with pytest.raises(CircuitOpenError) as info:
            self.call()
        return info.value

    @property
    def state(self) -> CircuitState:
        return self.breaker.state


def test_one_breaker_for_the_fleet_on_every_backend(store_case: StoreCase) -> None:
    case = store_case
    a, b = Worker(case, case.store), Worker(case, case.open(case.namespace))
    assert a.call() == b.call() == "ok"

    a.fail()
    b.fail()  # the fleet's second consecutive failure: b trips, and says so
    assert (a.state, b.state) == (CircuitState.CLOSED, CircuitState.OPEN)
    case.clock.advance(1.0)
    retry_after = a.rejection().retry_after  # a's next sync finds the fleet open
    assert retry_after is not None
    assert 0 < retry_after <= 60
    assert a.state is CircuitState.OPEN

    case.store.delete("breaker:exchange:open")  # the open period ends (Redis' TTL: real time)
    case.clock.advance(60.0)
    seen: list[str] = []

    async def b_tries_async() -> None:
        try:
            seen.append(await b.acall())
        except CircuitOpenError as exc:
            seen.append(f"rejected, retry in {exc.retry_after}")

    def b_tries() -> None:
        try:
            seen.append(b.call())
        except CircuitOpenError as exc:
            seen.append(f"rejected, retry in {exc.retry_after}")

    a.during = b_tries_async if case.is_async else b_tries
    assert a.call() == "ok"  # a's trial; b, meanwhile, finds a's claim
    a.during = None
    assert seen == ["rejected, retry in 1.0"]
    assert a.state is CircuitState.CLOSED
    case.clock.advance(1.0)
    assert b.call() == "ok"  # the trial's success closed the fleet
    assert b.state is CircuitState.CLOSED

    a.breaker.force_open()  # with an async store, sent before a's next call at the latest
    assert a.rejection().retry_after is None
    case.clock.advance(1.0)
    assert b.rejection().retry_after is None
    assert b.state is CircuitState.FORCED_OPEN
    a.breaker.reset()
    assert a.call() == "ok"
    case.clock.advance(1.0)
    assert b.call() == "ok"
    assert b.state is CircuitState.CLOSED


# --------------------------------------------------------------------------- the event loop


async def _other_tasks() -> None:
    """Wait until every other task of the loop is done (a breaker's queued fleet write)."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    assert others, "no task was started"
    await asyncio.gather(*others)


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[ThreadRecordingStore]:
    with store_from_url(f"sqlite:///{tmp_path / 'state.db'}") as store:
        yield ThreadRecordingStore(store)


STORE_CALLS = {"get", "ttl", "incr", "set", "set_if_absent", "compare_and_set"}
"""What :func:`_trip_and_recover` makes the fleet do: sync, count, trip, claim, close."""


async def _trip_and_recover(
    breaker: CircuitBreaker, clock: ManualClock, end_period: Callable[[], object]
) -> None:
    """An async function protected by ``breaker`` (threshold 2, 10 s) trips and recovers."""

    @breaker
    async def fetch(ok: bool) -> str:
        await asyncio.sleep(0)
        if not ok:
            raise Boom
        return "ok"

    assert await fetch(True) == "ok"  # the first sync with the fleet
    for _ in range(2):  # each counted fleet-wide; the trip is shared
        with pytest.raises(Boom):
            await fetch(False)
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError):
        await fetch(True)  # the next sync reads the open state and its period
    clock.advance(10.0)
    end_period()
    assert await fetch(True) == "ok"  # claims the trial, shares its success
    async with breaker.guard():
        pass
    assert breaker.state is CircuitState.CLOSED


def test_an_async_call_never_runs_a_store_call_on_the_event_loop(
    recording: ThreadRecordingStore,
) -> None:
    """A sync store given to a breaker that protects ``async def``: its calls run in threads."""
    clock = ManualClock()
    store: Any = recording
    breaker = CircuitBreaker(2, 10.0, name="exchange", clock=clock, store=store)

    async def scenario() -> int:
        # the store's own clock is the wall clock: the test ends the open period itself
        await _trip_and_recover(
            breaker, clock, lambda: recording.inner.delete("breaker:exchange:open")
        )
        breaker.force_open()  # on the loop: sent by a task
        await _other_tasks()
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert {name for name, _ in recording.calls} >= STORE_CALLS
    assert recording.inner.get("breaker:exchange") == b"forced"
    assert [name for name, thread in recording.calls if thread == loop_thread] == []


def test_with_an_async_store_every_store_call_is_awaited() -> None:
    clock = ManualClock()
    recording = AwaitRecordingStore(AsyncStoreAdapter(MemoryStore(clock=clock)))
    store: Any = recording
    breaker = CircuitBreaker(2, 10.0, name="exchange", clock=clock, store=store)
    asyncio.run(_trip_and_recover(breaker, clock, lambda: None))
    assert set(recording.awaited) >= STORE_CALLS


# --------------------------------------------------------------------------- an async store


def _async_memory() -> tuple[AsyncStoreAdapter, MemoryStore]:
    base = MemoryStore(clock=ManualClock())
    return AsyncStoreAdapter(base), base


@pytest.mark.parametrize("kind", ["function", "generator function"])
def test_a_breaker_on_an_async_store_refuses_sync_code_when_decorating(kind: str) -> None:
    astore, _ = _async_memory()
    breaker = CircuitBreaker(name="exchange", store=astore)

    def plain() -> None:
        return None

    def pages() -> Iterator[int]:
        yield 1

    with pytest.raises(InvalidArgumentError, match="async store") as info:
        breaker(plain if kind == "function" else pages)
    assert f"the {kind}" in info.value.message
    assert "store_from_url" in (info.value.hint or "")
    with pytest.raises(InvalidArgumentError, match="async store"), breaker.guard():
        pytest.fail("a sync block cannot be protected either")  # pragma: no cover


def test_operator_actions_on_an_async_store_reach_the_fleet() -> None:
    astore, base = _async_memory()
    clock = ManualClock()
    one = CircuitBreaker(name="exchange", store=astore, clock=clock)
    other = CircuitBreaker(name="exchange", store=AsyncStoreAdapter(base), clock=clock)

    @other
    async def fetch() -> str:
        return "ok"

    one.force_open()  # no event loop here: queued for one's next async call
    assert base.get("breaker:exchange") is None

    async def on_the_loop() -> None:
        async with one.guard():  # rejected, but it sent the queued action first
            pytest.fail("forced open")  # pragma: no cover

    with pytest.raises(CircuitOpenError):
        asyncio.run(on_the_loop())
    assert base.get("breaker:exchange") == b"forced"

    async def operator_on_the_loop() -> None:
        one.reset()  # on a running loop: a task sends it at once
        await _other_tasks()
        assert base.get("breaker:exchange") == b"closed"
        clock.advance(1.0)
        assert await fetch() == "ok"

    with pytest.raises(CircuitOpenError):
        asyncio.run(fetch())  # other follows the fleet: forced open
    asyncio.run(operator_on_the_loop())
    assert other.state is CircuitState.CLOSED


# --------------------------------------------------------------------------- a hung store

SOCKET_TIMEOUT = 20.0
"""Far above the store's budget: a call that ends before it was cut by the budget."""


@pytest.mark.redis
@pytest.mark.chaos
@pytest.mark.parametrize("is_async", [False, True], ids=["Store", "AsyncStore"])
def test_a_hung_store_costs_a_fleet_call_its_budget_and_the_breaker_decides_locally(
    killable_redis: KillableRedis, is_async: bool
) -> None:
    """A frozen Redis (SIGSTOP: its socket open, no answer): every store call runs out
    its ``store_timeout`` and the breaker goes on alone: counting, tripping, its trial."""
    url = f"{killable_redis.url}?store_timeout=0.2"
    clock = ManualClock()
    spent: list[float] = []

    async def scenario(call: Callable[[bool], Awaitable[str]], breaker: CircuitBreaker) -> None:
        async def timed(ok: bool) -> str:
            started = time.monotonic()
            try:
                return await call(ok)
            finally:
                spent.append(time.monotonic() - started)

        assert await timed(True) == "ok"  # connected, synced
        _signal(killable_redis, signal.SIGSTOP)
        try:
            clock.advance(1.0)
            assert await timed(True) == "ok"  # the sync runs out of time: local state
            for _ in range(2):
                with pytest.raises(Boom):
                    await timed(False)  # counted locally; the trip cannot be shared
            assert breaker.state is CircuitState.OPEN
            with pytest.raises(CircuitOpenError):
                await timed(True)
            clock.advance(10.0)
            assert await timed(True) == "ok"  # a trial of its own, as a lone breaker
            assert breaker.state is CircuitState.CLOSED
        finally:
            _signal(killable_redis, signal.SIGCONT)
        clock.advance(1.0)
        assert await timed(True) == "ok"

    with structlog.testing.capture_logs() as logs:
        if is_async:

            async def main() -> None:
                store = await async_store_from_url(url, socket_timeout=SOCKET_TIMEOUT)
                async with store:
                    breaker = _hung_breaker(store, clock)

                    @breaker
                    async def fetch(ok: bool) -> str:
                        if not ok:
                            raise Boom
                        return "ok"

                    await scenario(fetch, breaker)

            asyncio.run(main())
        else:
            with store_from_url(url, socket_timeout=SOCKET_TIMEOUT) as sync_store:
                breaker = _hung_breaker(sync_store, clock)

                @breaker
                def fetch(ok: bool) -> str:
                    if not ok:
                        raise Boom
                    return "ok"

                async def call(ok: bool) -> str:
                    return fetch(ok)

                asyncio.run(scenario(call, breaker))
    assert all(s < SOCKET_TIMEOUT / 2 for s in spent), spent
    events = [e["event"] for e in logs if "shared breaker" in e["event"]]
    assert events == [
        "shared breaker state unavailable; deciding locally until the store is back",
        "shared breaker state reachable again",
    ]


def _hung_breaker(store: Any, clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker(2, 10.0, name="exchange", clock=clock, store=store, register=False)


def _signal(server: KillableRedis, signum: int) -> None:
    assert server.process is not None
    server.process.send_signal(signum)
