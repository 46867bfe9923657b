"""Atomicity across real processes, on SQLite (one host) and Redis.

Eight forked processes each open their own store from the URL and hammer
one primitive; the parent then checks that no decision was lost or doubled.
``set_if_absent`` rounds start together on a ``multiprocessing.Barrier`` so
the processes really race for each fresh key.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from peak_trade.store import Store, store_from_url

from .conftest import unique_namespace

CTX = multiprocessing.get_context("fork")
WORKERS = 8
ROUNDS = 150
NEW_FILES = 30
TIMEOUT = 90.0


def _child(queue: Any, index: int, url: str, namespace: str, work: Callable[..., Any]) -> None:
    try:
        with store_from_url(url, namespace=namespace) as store:
            queue.put((index, True, work(store, index)))
    except BaseException:
        queue.put((index, False, traceback.format_exc()))


def run_workers(url: str, namespace: str, work: Callable[[Store, int], Any]) -> list[Any]:
    """Run ``work(store, index)`` in WORKERS forked processes; return their results."""
    queue = CTX.Queue()
    procs = [
        CTX.Process(target=_child, args=(queue, i, url, namespace, work), daemon=True)
        for i in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    results: dict[int, Any] = {}
    try:
        for _ in procs:
            index, ok, value = queue.get(timeout=TIMEOUT)
            assert ok, f"worker {index} failed:\n{value}"
            results[index] = value
    finally:
        for proc in procs:
            # after a failure the others may wait on a barrier forever: do not wait for them
            proc.join(timeout=10 if len(results) == WORKERS else 0.1)
            if proc.is_alive():
                proc.kill()
                proc.join()
    assert all(proc.exitcode == 0 for proc in procs)
    return [results[i] for i in range(WORKERS)]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL every process can open: a SQLite file, or the private Redis server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    # these tests prove atomicity, not the time budget: on a loaded machine a command of
    # many racing processes may take longer than the default store_timeout (0.5 s)
    return f"{request.getfixturevalue('redis_url')}?store_timeout=5"


def test_set_if_absent_has_exactly_one_winner_per_key(shared_url: str) -> None:
    namespace = unique_namespace()
    barrier = CTX.Barrier(WORKERS, timeout=TIMEOUT)

    def work(store: Store, index: int) -> list[int]:
        won = []
        for round_ in range(ROUNDS):
            barrier.wait()  # every process goes for the fresh key at the same moment
            if store.set_if_absent(f"race:{round_}", str(index).encode(), ttl=600):
                won.append(round_)
        return won

    wins = run_workers(shared_url, namespace, work)
    winners: dict[int, list[int]] = {r: [] for r in range(ROUNDS)}
    for index, rounds in enumerate(wins):
        for r in rounds:
            winners[r].append(index)
    assert {r: len(w) for r, w in winners.items()} == dict.fromkeys(range(ROUNDS), 1)
    with store_from_url(shared_url, namespace=namespace) as store:
        for r, (winner,) in winners.items():
            assert store.get(f"race:{r}") == str(winner).encode()


def test_incr_loses_no_increment(shared_url: str) -> None:
    namespace, n = unique_namespace(), 150

    def work(store: Store, index: int) -> None:
        for _ in range(n):
            store.incr("counter")

    run_workers(shared_url, namespace, work)
    with store_from_url(shared_url, namespace=namespace) as store:
        assert store.get("counter") == str(WORKERS * n).encode()


def test_take_tokens_never_grants_more_than_the_bucket(shared_url: str) -> None:
    # rate is so low that refill during the test is far below one token:
    # exactly `burst` grants in total, however the processes interleave.
    namespace, burst = unique_namespace(), 50
    barrier = CTX.Barrier(WORKERS, timeout=TIMEOUT)

    def work(store: Store, index: int) -> int:
        barrier.wait()
        return sum(store.take_tokens("bucket", rate=0.001, burst=burst)[0] for _ in range(20))

    granted = run_workers(shared_url, namespace, work)
    assert sum(granted) == burst
    with store_from_url(shared_url, namespace=namespace) as store:
        assert store.tokens_available("bucket", 0.001, burst) < 1


def test_window_hit_limit_holds_across_processes(shared_url: str) -> None:
    namespace, limit = unique_namespace(), 40
    barrier = CTX.Barrier(WORKERS, timeout=TIMEOUT)

    def work(store: Store, index: int) -> int:
        barrier.wait()
        return sum(store.window_hit("window", 3600, limit=limit) <= limit for _ in range(10))

    recorded = run_workers(shared_url, namespace, work)
    assert sum(recorded) == limit
    with store_from_url(shared_url, namespace=namespace) as store:
        assert store.window_hit("window", 3600, cost=0) == limit


def test_compare_and_set_loop_loses_nothing(shared_url: str) -> None:
    namespace, n = unique_namespace(), 40

    def work(store: Store, index: int) -> int:
        conflicts = 0
        for _ in range(n):
            while True:
                current = store.get("cas")
                new = str(int(current or b"0") + 1).encode()
                if store.compare_and_set("cas", current, new):
                    break
                conflicts += 1
        return conflicts

    run_workers(shared_url, namespace, work)
    with store_from_url(shared_url, namespace=namespace) as store:
        assert store.get("cas") == str(WORKERS * n).encode()


def test_processes_creating_one_new_sqlite_file_together(tmp_path: Path) -> None:
    # Switching a new file to WAL needs an exclusive lock that SQLite does not wait
    # for through its busy handler; every opener must still succeed.
    barrier = CTX.Barrier(WORKERS, timeout=TIMEOUT)

    def work(store: Store, index: int) -> int:
        for round_ in range(NEW_FILES):
            barrier.wait()
            with store_from_url(f"sqlite:///{tmp_path}/new-{round_}.db") as fresh:
                fresh.incr("opened")
        return index

    run_workers("memory://", unique_namespace(), work)
    for round_ in range(NEW_FILES):
        with store_from_url(f"sqlite:///{tmp_path}/new-{round_}.db") as store:
            assert store.get("opened") == str(WORKERS).encode()
