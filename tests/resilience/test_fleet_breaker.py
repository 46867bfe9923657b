"""One breaker for a fleet: workers sharing a breaker through a Store.

In-process workers share a MemoryStore and one ManualClock (the store's TTLs
run on that clock too), so every step is deterministic. The cross-process tests
use real processes on one SQLite file, and a real Redis.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog

from peak_trade.clock import ManualClock
from peak_trade.errors import CircuitOpenError, InvalidArgumentError
from peak_trade.resilience import CircuitBreaker, CircuitState
from peak_trade.store import Store, store_from_url
from peak_trade.store.memory import MemoryStore


class Boom(Exception):
    pass


class Worker:
    """One worker's breaker and protected function: ``w()`` succeeds, ``w(exc)`` raises."""

    def __init__(self, store: Store, clock: ManualClock, **options: Any) -> None:
        options.setdefault("failure_threshold", 3)
        options.setdefault("recovery_timeout", 10.0)
        options.setdefault("sync_interval", 1.0)
        self.breaker = CircuitBreaker(name="exchange", clock=clock, store=store, **options)
        self.during: Callable[[], None] | None = None

        @self.breaker.call
        def call(exc: BaseException | None = None) -> str:
            if self.during is not None:
                self.during()
            if exc is not None:
                raise exc
            return "ok"

        self._call = call

    def __call__(self, exc: BaseException | None = None) -> str:
        return self._call(exc)

    def fail(self, times: int = 1) -> None:
        for _ in range(times):
            with pytest.raises(Boom):
                self(Boom())

    @property
    def state(self) -> CircuitState:
        return self.breaker.state


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000.0)


@pytest.fixture
def store(clock: ManualClock) -> MemoryStore:
    return MemoryStore(clock=clock)


def test_a_trip_on_one_worker_stops_calls_on_the_others(
    store: MemoryStore, clock: ManualClock
) -> None:
    a, b = Worker(store, clock), Worker(store, clock)
    assert b() == "ok"  # b synced once: closed
    a.fail(3)
    assert a.state is CircuitState.OPEN
    assert b() == "ok"  # b's sync interval has not passed yet
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError) as err:
        b()
    assert b.state is CircuitState.OPEN
    assert err.value.retry_after == pytest.approx(9.0)


def test_a_guarded_block_is_a_fleet_call_too(store: MemoryStore, clock: ManualClock) -> None:
    a, b = Worker(store, clock), Worker(store, clock)
    a.fail(3)
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError), b.breaker.guard():
        pytest.fail("the fleet's open breaker must reject the block")  # pragma: no cover
    with pytest.raises(CircuitOpenError), a.breaker.guard():
        pass  # pragma: no cover
    clock.advance(10.0)
    with b.breaker.guard():  # b claims the trial; its success closes the fleet
        pass
    assert b.state is CircuitState.CLOSED
    clock.advance(1.0)
    assert a() == "ok"
    assert a.state is CircuitState.CLOSED


def test_failures_are_counted_across_the_fleet(store: MemoryStore, clock: ManualClock) -> None:
    a, b = Worker(store, clock), Worker(store, clock)
    a.fail(2)
    b.fail(1)  # the fleet's third consecutive failure
    assert b.state is CircuitState.OPEN
    assert a.breaker.stats.failure_count == 2  # statistics stay per worker


def test_a_success_ends_the_fleets_run_of_failures(store: MemoryStore, clock: ManualClock) -> None:
    a, b = Worker(store, clock), Worker(store, clock)
    a.fail(2)
    assert a() == "ok"  # a knows the count is not zero: resets it
    b.fail(2)
    assert b.state is CircuitState.CLOSED
    b.fail(1)
    assert b.state is CircuitState.OPEN


def test_a_success_seen_at_sync_also_resets_the_count(
    store: MemoryStore, clock: ManualClock
) -> None:
    a, b = Worker(store, clock), Worker(store, clock)
    a.fail(2)
    clock.advance(1.0)
    assert b() == "ok"  # b's sync saw 2 failures, so its success resets them
    a.fail(2)
    assert a.state is CircuitState.CLOSED


def test_exactly_one_worker_sends_the_trial_and_its_success_closes_all(
    store: MemoryStore, clock: ManualClock
) -> None:
    a, b, c = (Worker(store, clock) for _ in range(3))
    a.fail(3)
    clock.advance(1.0)
    for w in (b, c):
        with pytest.raises(CircuitOpenError):
            w()
    clock.advance(10.0)  # the open period is over for everyone
    seen: list[str] = []

    def others_try() -> None:  # while a's trial call is in flight
        for name, w in (("b", b), ("c", c)):
            try:
                w()
                seen.append(f"{name} called")
            except CircuitOpenError as exc:
                seen.append(f"{name} rejected, retry in {exc.retry_after}")

    a.during = others_try
    assert a() == "ok"
    a.during = None
    # they ask again every sync_interval, not when a's claim would expire (10 s)
    assert seen == ["b rejected, retry in 1.0", "c rejected, retry in 1.0"]
    assert a.state is CircuitState.CLOSED
    with pytest.raises(CircuitOpenError):
        b()
    clock.advance(1.0)
    assert b() == "ok"  # b's next claim (or sync) finds the trial's success
    assert c() == "ok"
    assert b.state is CircuitState.CLOSED
    assert c.state is CircuitState.CLOSED
    assert [w.breaker.stats.success_count for w in (a, b, c)] == [1, 1, 1]


def test_a_worker_that_slept_through_the_recovery_closes_too(
    store: MemoryStore, clock: ManualClock
) -> None:
    """The fleet recovered while b made no call: b's next call is a CLOSED call, not a trial."""
    a, b = Worker(store, clock), Worker(store, clock)
    a.fail(3)
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError):
        b()  # b follows the fleet: open
    clock.advance(10.0)
    assert a() == "ok"  # a's trial closes the fleet
    clock.advance(60.0)  # b is idle for a minute
    b.fail(1)  # one failure of three: the fleet stays closed
    assert b.state is CircuitState.CLOSED
    clock.advance(1.0)
    assert a() == "ok"
    assert a.state is CircuitState.CLOSED


def test_a_worker_idle_through_the_open_period_sends_the_one_trial(
    store: MemoryStore, clock: ManualClock
) -> None:
    """b made no call while the fleet was open: its first call after is the claimed trial."""
    a, b = Worker(store, clock), Worker(store, clock)
    assert b() == "ok"
    a.fail(3)  # the fleet opens for 10 s; b sees nothing of it
    clock.advance(10.0)
    seen: list[str] = []

    def a_tries() -> None:
        try:
            seen.append(a())
        except CircuitOpenError:
            seen.append("rejected")

    b.during = a_tries
    assert b() == "ok"  # b's call is the fleet's one trial: a must wait for it
    assert seen == ["rejected"]
    clock.advance(1.0)
    assert a() == "ok"


def test_a_trial_failure_found_by_an_idle_worker_keeps_the_fleet_open(
    store: MemoryStore, clock: ManualClock
) -> None:
    a, b = Worker(store, clock), Worker(store, clock)
    assert b() == "ok"
    a.fail(3)
    clock.advance(10.0)
    b.fail(1)  # b's call after the open period is the fleet's trial: it fails
    assert b.state is CircuitState.OPEN
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError):
        a()


def test_a_failed_trial_opens_the_fleet_again(store: MemoryStore, clock: ManualClock) -> None:
    a, b = Worker(store, clock), Worker(store, clock)
    a.fail(3)
    clock.advance(10.0)
    a.fail(1)  # the trial fails
    assert a.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as err:
        b()
    assert err.value.retry_after == pytest.approx(10.0)


def test_a_trial_claim_expires_when_its_worker_vanishes(
    store: MemoryStore, clock: ManualClock
) -> None:
    a, b = Worker(store, clock, trial_timeout=5.0), Worker(store, clock, trial_timeout=5.0)
    a.fail(3)
    clock.advance(10.0)

    def crash() -> None:  # a claims the trial, then never reports
        raise KeyboardInterrupt

    a.during = crash
    with pytest.raises(KeyboardInterrupt):
        a()
    for _ in range(5):  # b asks every sync_interval until a's claim expires
        with pytest.raises(CircuitOpenError) as err:
            b()
        assert err.value.retry_after == pytest.approx(1.0)
        clock.advance(1.0)
    assert b() == "ok"  # b claimed the trial after a's claim expired
    assert b.state is CircuitState.CLOSED


@pytest.mark.parametrize(
    ("action", "state"),
    [
        ("force_open", CircuitState.FORCED_OPEN),
        ("disable", CircuitState.DISABLED),
        ("open", CircuitState.OPEN),
    ],
)
def test_operator_actions_apply_to_the_fleet(
    store: MemoryStore, clock: ManualClock, action: str, state: CircuitState
) -> None:
    a, b = Worker(store, clock), Worker(store, clock)
    getattr(a.breaker, action)()
    clock.advance(1.0)
    if state is CircuitState.DISABLED:
        assert b() == "ok"
    else:
        with pytest.raises(CircuitOpenError):
            b()
    assert b.state is state
    a.breaker.reset()
    clock.advance(1.0)
    assert b() == "ok"
    assert b.state is CircuitState.CLOSED


def test_a_trip_never_overrides_an_operators_force_open(
    store: MemoryStore, clock: ManualClock
) -> None:
    a, b = Worker(store, clock), Worker(store, clock)
    assert b() == "ok"
    a.breaker.force_open()
    b.fail(3)  # b has not synced since: it trips on its own failures
    assert b.state is CircuitState.OPEN
    assert store.get("breaker:exchange") == b"forced"
    clock.advance(10.0)  # past b's own open period
    with pytest.raises(CircuitOpenError) as err:
        b()
    assert err.value.retry_after is None
    assert b.state is CircuitState.FORCED_OPEN


def test_a_shared_breaker_needs_a_name(store: MemoryStore) -> None:
    with pytest.raises(InvalidArgumentError, match="explicit name"):
        CircuitBreaker(store=store)


def _dead_redis_url() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


def test_an_unreachable_store_degrades_to_a_local_breaker(clock: ManualClock) -> None:
    store = store_from_url(_dead_redis_url(), eviction_policy_check="off", connect_timeout=0.5)
    w = Worker(store, clock)
    with structlog.testing.capture_logs() as logs:
        assert w() == "ok"
        w.fail(3)
        assert w.state is CircuitState.OPEN
        with pytest.raises(CircuitOpenError):
            w()
        clock.advance(10.0)
        assert w() == "ok"  # trial without coordination, as a lone breaker
    assert w.state is CircuitState.CLOSED
    warnings = [e for e in logs if e["log_level"] == "warning" and "shared breaker" in e["event"]]
    assert len(warnings) == 1  # once per outage, not once per call


# ----------------------------------------------------------------- real processes


def _trip(url: str) -> None:
    breaker = CircuitBreaker(3, 60.0, name="exchange", store=store_from_url(url))
    for _ in range(3):
        with contextlib.suppress(Boom):
            breaker.call(_raise_boom)()
    assert breaker.state is CircuitState.OPEN


def _raise_boom() -> None:
    raise Boom


def _probe(url: str, out: Any) -> None:
    breaker = CircuitBreaker(3, 60.0, name="exchange", store=store_from_url(url))
    try:
        breaker.call(lambda: None)()
        out.put("called")
    except CircuitOpenError as exc:
        out.put(f"rejected {exc.retry_after is not None and 0 < exc.retry_after <= 60}")


def _contend(url: str, barrier: Any, go: Any, release: Any, out: Any) -> None:
    """Trip (threshold 1), then race the others for the one trial call."""
    breaker = CircuitBreaker(
        1, 0.0, name="exchange", store=store_from_url(url), trial_timeout=120.0
    )
    # trip it; a process that syncs after another one tripped is rejected instead
    with contextlib.suppress(Boom, CircuitOpenError):
        breaker.call(_raise_boom)()
    barrier.wait(240)  # generous: spawning six interpreters on a loaded 2-core CI box
    go.wait(240)

    def trial() -> None:
        out.put("trial")
        release.wait(60)

    try:
        breaker.call(trial)()
    except CircuitOpenError:
        out.put("rejected")


@pytest.mark.slow
def test_processes_on_sqlite_share_one_breaker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    ctx = mp.get_context("spawn")
    tripper = ctx.Process(target=_trip, args=(url,))
    tripper.start()
    tripper.join(60)
    assert tripper.exitcode == 0
    out = ctx.Queue()
    prober = ctx.Process(target=_probe, args=(url, out))
    prober.start()
    assert out.get(timeout=60) == "rejected True"
    prober.join(60)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_exactly_one_process_sends_the_trial(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "redis":  # exclusivity, not the time budget: a loaded box may be slow
        url = f"{request.getfixturevalue('redis_url')}?store_timeout=5"
    else:
        url = f"sqlite:///{tmp_path / 'state.db'}"
    n = 6
    ctx = mp.get_context("spawn")
    barrier, go, release, out = ctx.Barrier(n + 1), ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(url, barrier, go, release, out)) for _ in range(n)]
    for p in procs:
        p.start()
    barrier.wait(240)  # every process has tripped its breaker (open for 1 ms)
    with store_from_url(url) as store:
        store.delete("breaker:exchange:open")  # the open period is over: no waiting on real time
    go.set()
    results = [out.get(timeout=240) for _ in range(n)]
    release.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(results) == ["rejected"] * (n - 1) + ["trial"]


def test_a_registry_with_a_store_shares_its_breakers(
    store: MemoryStore, clock: ManualClock
) -> None:
    from peak_trade.resilience import ResilienceRegistry

    one, two = (ResilienceRegistry(clock=clock, store=store) for _ in range(2))
    one.module_circuit_breaker("exchange", "orders").force_open()
    shared = two.module_circuit_breaker("exchange", "orders")
    with pytest.raises(CircuitOpenError):
        shared.call(lambda: None)()
    assert shared.state is CircuitState.FORCED_OPEN
