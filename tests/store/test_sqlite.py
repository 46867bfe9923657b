"""SQLite-only behaviour: file layout, schema version, locking, threads, fork, purge."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from peak_trade.clock import ManualClock
from peak_trade.errors import StoreError, StoreUnavailableError
from peak_trade.store import sqlite as sqlite_module
from peak_trade.store.sqlite import SqliteStore


def test_creates_parent_directories_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    with SqliteStore(path) as store:
        store.set("k", b"v")
        assert store.url == f"sqlite:///{path}"
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("SELECT version FROM meta").fetchall() == [(1,)]
    raw.close()


def test_data_survives_reopening(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        store.set("k", b"v")
        store.incr("n", 3)
    with SqliteStore(tmp_path / "s.db") as store:
        assert store.get("k") == b"v"
        assert store.incr("n") == 4


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE meta SET version = 99")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SqliteStore(path)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="damaged or is not a database") as info:
        SqliteStore(path)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_unusable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreUnavailableError) as info:
        SqliteStore(tmp_path / "file" / "sub" / "s.db")  # a file where a directory should be
    assert info.value.hint
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize("path", [":memory:", "", "file:x.db?mode=memory"])
def test_in_memory_databases_are_refused(path: str) -> None:
    with pytest.raises(StoreError, match="memory://"):
        SqliteStore(path)


def test_lock_held_past_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path, busy_timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with pytest.raises(StoreUnavailableError, match="locked") as info:
            store.set_if_absent("k", b"v")
        assert "busy_timeout" in str(info.value.hint)
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert store.get("k") is None  # reads still work under WAL
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.set_if_absent("k", b"v")  # the failed transaction left nothing behind
    store.close()


def test_threads_get_their_own_connections(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(100):
                store.incr("n")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get("n") == b"800"
    store.close()


def _use_inherited(store: SqliteStore, queue: multiprocessing.Queue[object]) -> None:
    try:
        queue.put(store.incr("n"))
    except BaseException as exc:  # pragma: no cover - reported by the parent
        queue.put(repr(exc))


def test_a_forked_child_reopens_its_own_connection(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    assert store.incr("n") == 1  # the parent has an open connection when it forks
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[object] = ctx.Queue()
    child = ctx.Process(target=_use_inherited, args=(store, queue))
    child.start()
    assert queue.get(timeout=30) == 2
    child.join(timeout=30)
    assert child.exitcode == 0
    assert store.incr("n") == 3  # the parent's connection is undisturbed
    store.close()


def test_close_then_use_reconnects(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.set("k", b"v")
    store.close()
    assert store.get("k") == b"v"
    store.close()


def test_expired_rows_are_purged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_module, "PURGE_EVERY", 10)
    clock = ManualClock()
    path = tmp_path / "s.db"
    store = SqliteStore(path, clock=clock)
    for i in range(5):
        store.set(f"k{i}", b"v", ttl=1)
        store.window_hit("w", 1)
    store.take_tokens("b", rate=1, burst=1)
    store.set("keep", b"v")  # 12 writes so far: the purge at 10 found nothing expired
    clock.advance(2)
    for _ in range(10):
        store.get("keep")  # reads do not count
    for _ in range(8):
        store.set("k", b"v")  # the 20th write purges
    raw = sqlite3.connect(path)
    counts = [
        raw.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        for t in ("kv", "window_events", "buckets")
    ]
    raw.close()
    assert counts == [2, 0, 0]  # "keep" and "k"
    store.close()


def test_two_namespaces_share_one_file(tmp_path: Path) -> None:
    a = SqliteStore(tmp_path / "s.db", namespace="a")
    b = SqliteStore(tmp_path / "s.db", namespace="b")
    a.set("k", b"1")
    b.set("k", b"2")
    assert (a.get("k"), b.get("k")) == (b"1", b"2")
    a.close()
    b.close()


# ------------------------------------------------------------ connections per thread


def _open_fds(path: Path) -> int:
    """Descriptors of this process open on the database file or its -wal / -shm files."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used, closed meanwhile
            continue
        if target.startswith(str(path)):
            count += 1
    return count


def test_a_finished_threads_connection_is_closed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)

    def one_thread() -> None:
        worker = threading.Thread(target=store.incr, args=("n",))
        worker.start()
        worker.join()

    one_thread()
    # SQLite keeps a closed connection's database descriptor for reuse while other
    # connections of the process hold locks on the file: one, whatever the count.
    before = _open_fds(path)
    assert before > 0
    for _ in range(50):
        one_thread()
    assert _open_fds(path) == before  # no collection needed: closed when the thread ended
    assert store.get("n") == b"51"
    store.close()
    assert _open_fds(path) == 0


_SHORT_LIVED_THREADS = """
import resource, sys, threading
from peak_trade.store.sqlite import SqliteStore

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
store = SqliteStore(sys.argv[1])
errors = []

def work():
    try:
        store.incr("n")
    except BaseException as exc:
        errors.append(repr(exc))

for _ in range(500):
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
print(store.get("n").decode(), len(errors), errors[:1])
"""


def test_500_short_lived_threads_fit_in_256_descriptors(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SHORT_LIVED_THREADS, str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(maxsplit=2)[:2] == ["500", "0"], out.stdout


class _PausingClock(ManualClock):
    """A clock that holds one chosen thread inside ``time()`` until released.

    The store reads the clock inside its write transaction, so this parks a
    thread in the middle of an operation, connection in hand, without sleeping.
    """

    def __init__(self) -> None:
        super().__init__()
        self.victim: threading.Thread | None = None
        self.inside = threading.Event()
        self.release = threading.Event()

    def time(self) -> float:
        if threading.current_thread() is self.victim:
            self.victim = None
            self.inside.set()
            assert self.release.wait(30)
        return super().time()


def test_close_never_pulls_a_connection_from_under_a_running_operation(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    clock = _PausingClock()
    store = SqliteStore(path, clock=clock)
    results: list[object] = []
    done = threading.Event()
    finish = threading.Event()

    def work() -> None:
        try:
            results.append(store.incr("n"))  # parked inside BEGIN IMMEDIATE ... COMMIT
        except BaseException as exc:  # reported below
            results.append(exc)
        done.set()
        assert finish.wait(30)

    worker = threading.Thread(target=work)
    clock.victim = worker
    worker.start()
    try:
        assert clock.inside.wait(30)
        store.close()  # the main thread's connection closes now, the busy one when it is done
        clock.release.set()
        assert done.wait(30)
        assert results == [1]
        assert _open_fds(path) == 0  # closed by its thread right after the operation
    finally:
        clock.release.set()
        finish.set()
        worker.join()
    assert store.get("n") == b"1"  # and the store reconnects
    store.close()


class _OwnedConnection(sqlite3.Connection):
    """Refuses to run a statement on any thread but the one that opened it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = threading.get_ident()

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        assert threading.get_ident() == self.owner, "connection used from another thread"
        return super().execute(*args, **kwargs)


def test_a_connection_is_only_ever_used_by_its_own_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real_connect(*args, factory=_OwnedConnection, **kwargs)

    monkeypatch.setattr(sqlite_module.sqlite3, "connect", connect)
    store = SqliteStore(tmp_path / "s.db")
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work() -> None:
        try:
            start.wait(30)
            for i in range(50):
                store.incr("n")
                if i == 25:
                    store.close()  # from a thread that does not own the others' connections
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get("n") == b"300"
    store.close()


def test_new_directories_are_fsynced_in_their_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs: list[Path] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if target.is_dir():
            dirs.append(target)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    a = tmp_path / "a"
    SqliteStore(a / "b" / "s.db").close()
    # a's entry in tmp_path, b's in a, and the new database file's in b
    assert set(dirs) == {tmp_path, a, a / "b"}
    dirs.clear()
    SqliteStore(a / "b" / "s.db").close()
    assert dirs == []  # nothing new: no fsync
