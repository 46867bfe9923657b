"""Embedded store in one SQLite file: survives restarts, safe across processes on one host.

How it stays atomic across processes:

- WAL journal (readers never block the writer), ``synchronous=NORMAL``.
- Autocommit connections (``isolation_level=None``). Every read-modify-write
  primitive runs in ``BEGIN IMMEDIATE ... COMMIT``: the write lock is taken
  *before* reading, so two processes can never both see "absent" and both
  write. A primitive waits for the lock at most ``store_timeout`` (default:
  ``busy_timeout``); past it the primitive raises
  :class:`~peak_trade.errors.StoreUnavailableError`. Opening the file (schema,
  WAL switch) waits up to ``busy_timeout``.
- Plain reads are one ``SELECT`` (a consistent snapshot).
- One connection per thread, used by that thread only (:class:`_ThreadConnections`).
  A thread's connection is closed as soon as the thread ends (a holder in its
  locals closes it), so short-lived threads never pile up descriptors.
  :meth:`SqliteStore.close` closes every connection of the process at once,
  except one that its thread is using right now: that thread closes it when
  its operation ends, so no operation ever loses its connection half-way.
  A forked child opens its own and never touches (or closes) the ones it
  inherited (closing them could checkpoint or unlink the parent's WAL).

Expiry is logical: rows carry ``expires_at`` in wall-clock seconds from the
injected clock (shared by every process on the host); reads ignore expired
rows and a purge deletes them every ``PURGE_EVERY`` writes.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peak_trade._durable import fsync_dir, make_dirs_durably
from peak_trade.clock import Clock, system_clock
from peak_trade.errors import StoreError, StoreUnavailableError
from peak_trade.logging import get_logger
from peak_trade.store import _core
from peak_trade.store._sqlite_schema import SCHEMA_VERSION, create_schema, purge
from peak_trade.store._validate import check_seconds
from peak_trade.store.base import DEFAULT_NAMESPACE, StoreBase

__all__ = ["PURGE_EVERY", "SqliteStore"]

PURGE_EVERY = 1000
_log = get_logger("peak_trade.store")

_LIVE = "(expires_at IS NULL OR expires_at > ?)"


class SqliteStore(StoreBase):
    """A :class:`~peak_trade.store.Store` in an SQLite database file.

    Args:
        path: the database file; its parent directory is created.
        namespace: key prefix, so several logical stores can share one file.
        clock: wall-clock source for expiry, windows and buckets.
        busy_timeout: seconds to wait for another process's write lock while
            opening the file (creating the schema, switching to WAL), and in
            primitives unless ``store_timeout`` is given.
        store_timeout: seconds a primitive waits for another process's write
            lock (its time budget: reads never wait under WAL); default
            ``busy_timeout``. SQLite's busy handler polls the lock with short
            sleeps, so a budget far below the longest write transaction of
            the other processes turns contention into errors.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        namespace: str = DEFAULT_NAMESPACE,
        clock: Clock = system_clock,
        *,
        busy_timeout: float = 5.0,
        store_timeout: float | None = None,
    ) -> None:
        self.path = Path(path)
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise StoreError(
                "SqliteStore needs a database file path.",
                hint="Use memory:// for a store that lives in this process only.",
                context={"path": str(path)},
            )
        super().__init__(namespace)
        self.url = f"sqlite:///{path}"
        self.clock = clock
        self.busy_timeout = check_seconds("busy_timeout", busy_timeout)
        self.store_timeout = (
            self.busy_timeout
            if store_timeout is None
            else check_seconds("store_timeout", store_timeout)
        )
        self._pool = _ThreadConnections(self._connect)
        self._writes = itertools.count(1)
        try:
            make_dirs_durably(self.path.parent)
            created = not self.path.exists()
        except OSError as exc:
            raise self._wrap(exc, "open", None) from exc
        try:
            self._open_schema()
            if created:  # SQLite fsyncs the file, not the directory entry naming it
                with self._errors("open", None):
                    fsync_dir(self.path.parent)
        except BaseException:
            self.close()
            raise
        self._purge()

    def _open_schema(self) -> None:
        with self._errors("open", None), self._pool.use() as conn:
            conn.execute(f"PRAGMA busy_timeout = {_ms(self.busy_timeout)}")
            try:
                version = create_schema(conn)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {_ms(self.store_timeout)}")
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"The store file has schema version {version}; this peak-trade reads "
                f"version {SCHEMA_VERSION}.",
                hint="Upgrade peak-trade, or point [store] url at another file.",
                context={"path": str(self.path), "version": version},
            )

    # ------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {_ms(self.busy_timeout)}")
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA busy_timeout = {_ms(self.store_timeout)}")  # primitives
        except BaseException:
            conn.close()
            raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch a new file to WAL. The switch needs an exclusive lock and SQLite does
        not wait for it through the busy handler, so retry (bounded by busy_timeout)
        while other processes are opening the same new file."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.001
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)  # waiting on another process's lock, like SQLite's busy handler
            delay = min(delay * 2, 0.05)
        if str(mode).lower() != "wal":  # pragma: no cover - filesystems without shared memory
            _log.warning("sqlite store is not in WAL mode", path=str(self.path), mode=mode)

    def close(self) -> None:
        """Close the connections of this process (one in use closes when its operation
        ends). The store reconnects if used again."""
        self._pool.close()

    # ------------------------------------------------------------ errors and transactions

    def _wrap(self, exc: BaseException, op: str, key: str | None) -> StoreError:
        context: dict[str, Any] = {"path": str(self.path), "operation": op, "error": str(exc)}
        if key is not None:
            context["key"] = key
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            opening = op == "open"
            name = "busy_timeout" if opening else "store_timeout"
            waited = self.busy_timeout if opening else self.store_timeout
            context[name] = waited
            return StoreUnavailableError(
                f"The SQLite store stayed locked by another connection past {name} ({waited:g} s).",
                hint=f"Another process held the write lock for more than {waited:g} s: look for "
                f"a stuck process using this file, or raise {name} (e.g. "
                f"sqlite:///path.db?{name}=30; store_timeout defaults to busy_timeout).",
                context=context,
            )
        if isinstance(exc, sqlite3.DatabaseError) and (
            "malformed" in text or "not a database" in text
        ):
            return StoreError(
                "The SQLite store file is damaged or is not a database.",
                hint="Restore it from a backup, or point [store] url at a new file.",
                context=context,
            )
        return StoreUnavailableError(
            "The SQLite store could not be opened or written.",
            hint="Check that the directory exists and is writable, that the disk is not "
            "full, and that [store] url points at the intended file.",
            context=context,
        )

    @contextmanager
    def _errors(self, op: str, key: str | None) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise self._wrap(exc, op, key) from exc

    @contextmanager
    def _read(self, op: str, key: str | None) -> Iterator[sqlite3.Connection]:
        with self._errors(op, key), self._pool.use() as conn:
            yield conn

    @contextmanager
    def _write(self, op: str, key: str | None) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` (the write lock first), the body, ``COMMIT``; rollback on error."""
        with self._errors(op, key), self._pool.use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        if next(self._writes) % PURGE_EVERY == 0:
            self._purge()

    def _purge(self) -> None:
        """Best effort: the primitive already committed, so a failed purge must not fail it."""
        try:
            with self._pool.use() as conn:
                purge(conn, self.clock.time())
        except sqlite3.Error as exc:
            _log.warning("sqlite store purge skipped", path=str(self.path), error=str(exc))

    def _live_row(self, conn: sqlite3.Connection, key: str, now: float) -> Any:
        return conn.execute(
            f"SELECT value, expires_at FROM kv WHERE ns = ? AND key = ? AND {_LIVE}",
            (self.namespace, key, now),
        ).fetchone()

    def _put(
        self, conn: sqlite3.Connection, key: str, value: bytes, ttl: float | None, now: float
    ) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO kv (ns, key, value, expires_at) VALUES (?, ?, ?, ?)",
            (self.namespace, key, value, None if ttl is None else now + ttl),
        )

    # ------------------------------------------------------------ hooks (arguments validated)

    def _ping(self) -> None:
        with self._read("ping", None) as conn:
            conn.execute("SELECT version FROM meta").fetchone()

    def _get(self, key: str) -> bytes | None:
        with self._read("get", key) as conn:
            row = self._live_row(conn, key, self.clock.time())
        return None if row is None else bytes(row[0])

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        with self._write("set", key) as conn:
            self._put(conn, key, value, ttl, self.clock.time())

    def _compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None
    ) -> bool:
        with self._write("compare_and_set", key) as conn:
            now = self.clock.time()
            row = self._live_row(conn, key, now)
            if (None if row is None else bytes(row[0])) != expected:
                return False
            self._put(conn, key, new, ttl, now)
            return True

    def _compare_and_delete(self, key: str, expected: bytes) -> bool:
        with self._write("compare_and_delete", key) as conn:
            row = self._live_row(conn, key, self.clock.time())
            if row is None or bytes(row[0]) != expected:
                return False
            conn.execute("DELETE FROM kv WHERE ns = ? AND key = ?", (self.namespace, key))
            return True

    def _delete(self, key: str) -> bool:
        ident = (self.namespace, key)
        with self._write("delete", key) as conn:
            now = self.clock.time()
            found = conn.execute(
                f"SELECT 1 FROM kv WHERE ns = ? AND key = ? AND {_LIVE} "
                "UNION ALL SELECT 1 FROM window_events WHERE ns = ? AND key = ? AND expires_at > ? "
                "UNION ALL SELECT 1 FROM buckets WHERE ns = ? AND key = ? AND tat > ? LIMIT 1",
                (*ident, now, *ident, now, *ident, now),
            ).fetchone()
            for table in ("kv", "window_events", "buckets"):
                conn.execute(f"DELETE FROM {table} WHERE ns = ? AND key = ?", ident)
            return found is not None

    def _ttl(self, key: str) -> float | None:
        with self._read("ttl", key) as conn:
            now = self.clock.time()
            row = self._live_row(conn, key, now)
        if row is None:
            return None
        return math.inf if row[1] is None else float(row[1]) - now

    def _incr(self, key: str, amount: int, ttl: float | None) -> int:
        with self._write("incr", key) as conn:
            now = self.clock.time()
            row = self._live_row(conn, key, now)
            result = _core.counter_add(key, None if row is None else bytes(row[0]), amount)
            encoded = str(result).encode()
            if row is None:
                self._put(conn, key, encoded, ttl, now)
            else:
                conn.execute(
                    "UPDATE kv SET value = ? WHERE ns = ? AND key = ?",
                    (encoded, self.namespace, key),
                )
            return result

    def _window_total(self, conn: sqlite3.Connection, key: str, cutoff: float) -> int:
        row = conn.execute(
            "SELECT COALESCE(SUM(cost), 0) FROM window_events WHERE ns = ? AND key = ? AND ts > ?",
            (self.namespace, key, cutoff),
        ).fetchone()
        return int(row[0])

    def _window_hit(self, key: str, window: float, cost: int, limit: int | None) -> int:
        if cost == 0:
            with self._read("window_hit", key) as conn:
                return self._window_total(conn, key, self.clock.time() - window)
        with self._write("window_hit", key) as conn:
            now = self.clock.time()
            conn.execute(
                "DELETE FROM window_events WHERE ns = ? AND key = ? AND ts <= ?",
                (self.namespace, key, now - window),
            )
            total = self._window_total(conn, key, now - window) + cost
            if limit is None or total <= limit:
                conn.execute(
                    "INSERT INTO window_events (ns, key, ts, cost, expires_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (self.namespace, key, now, cost, now + window),
                )
            return total

    def _tat(self, conn: sqlite3.Connection, key: str) -> float | None:
        row = conn.execute(
            "SELECT tat FROM buckets WHERE ns = ? AND key = ?", (self.namespace, key)
        ).fetchone()
        return None if row is None else float(row[0])

    def _take_tokens(self, bucket: Any) -> tuple[bool, float]:
        key, rate, burst, cost = bucket
        with self._write("take_tokens", key) as conn:
            now = self.clock.time()
            allowed, wait, tat = _core.gcra_take(self._tat(conn, key), now, rate, burst, cost)
            if allowed:
                conn.execute(
                    "INSERT OR REPLACE INTO buckets (ns, key, tat) VALUES (?, ?, ?)",
                    (self.namespace, key, tat),
                )
            return allowed, wait

    def _tokens_available(self, key: str, rate: float, burst: int) -> float:
        with self._read("tokens_available", key) as conn:
            tat = self._tat(conn, key)
        return _core.gcra_available(tat, self.clock.time(), rate, burst)

    def _scan(self, prefix: str) -> list[str]:
        with self._read("scan", prefix) as conn:
            rows = conn.execute(
                f"SELECT key FROM kv WHERE ns = ? AND key >= ? AND substr(key, 1, ?) = ? "
                f"AND {_LIVE} ORDER BY key",
                (self.namespace, prefix, len(prefix), prefix, self.clock.time()),
            ).fetchall()
        return [str(r[0]) for r in rows]


def _ms(seconds: float) -> int:
    """Seconds as whole milliseconds for ``PRAGMA busy_timeout`` (at least 1)."""
    return max(1, round(seconds * 1000))


# ------------------------------------------------------------------ connections


class _Slot:
    """One thread's connection: which process opened it, whether it is in use, and
    whether :meth:`_ThreadConnections.close` asked for it to close when done."""

    __slots__ = ("busy", "conn", "doomed", "pid")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn: sqlite3.Connection | None = conn
        self.pid = os.getpid()
        self.busy = 0
        self.doomed = False


class _Holder:
    """Sits in a thread's locals, nowhere else: dropped the moment the thread ends,
    and its ``__del__`` closes the thread's connection then (no garbage collection
    needed, nothing waits for a reaper)."""

    __slots__ = ("pool", "slot")

    def __init__(self, pool: _ThreadConnections, slot: _Slot) -> None:
        self.pool = weakref.ref(pool)
        self.slot = slot

    def __del__(self) -> None:
        try:  # a finaliser must not raise (nor rely on module globals at shutdown)
            pool = self.pool()
            if pool is not None:
                pool.discard(self.slot)
        except Exception:  # noqa: BLE001 - nothing to report to; closing is best effort
            pass


class _ThreadConnections:
    """One SQLite connection per thread of this process, closed when the thread ends.

    The pool keeps every open connection of this process referenced (so a
    forked child can keep the inherited ones alive, unused, instead of letting
    them close), a thread's locals keep a :class:`_Holder` of its own. A
    connection is only ever handed to the thread that opened it; ``close()``
    from any thread closes the idle ones and marks the busy ones, which their
    thread closes when its operation ends (``use()``).
    """

    __slots__ = ("__weakref__", "_connect", "_local", "_lock", "_orphans", "_pid", "_slots")

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._local = threading.local()
        self._lock = threading.Lock()
        self._slots: set[_Slot] = set()
        self._orphans: list[_Slot] = []
        self._pid = os.getpid()

    @contextmanager
    def use(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (opened on first use), for one operation."""
        slot, conn = self._acquire()
        try:
            yield conn
        finally:
            self._release(slot)

    def _acquire(self) -> tuple[_Slot, sqlite3.Connection]:
        if os.getpid() != self._pid:
            self._after_fork()
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is not None:
            slot = holder.slot
            with self._lock:
                conn = slot.conn
                if conn is not None:
                    slot.busy += 1
                    return slot, conn
        conn = self._connect()
        slot = _Slot(conn)
        slot.busy = 1
        with self._lock:
            self._slots.add(slot)
        self._local.holder = _Holder(self, slot)  # the old holder's slot is already closed
        return slot, conn

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            slot.busy -= 1
            conn = self._take(slot) if slot.doomed and not slot.busy else None
        _close(conn)

    def _take(self, slot: _Slot) -> sqlite3.Connection | None:
        """Detach ``slot``'s connection for closing (call with the lock held)."""
        conn, slot.conn = slot.conn, None
        self._slots.discard(slot)
        return conn

    def discard(self, slot: _Slot) -> None:
        """Close ``slot``'s connection: its thread has ended."""
        if slot.pid != os.getpid():
            return  # inherited across fork: the pool keeps it referenced, never closed
        with self._lock:
            conn = self._take(slot)
        _close(conn)

    def close(self) -> None:
        """Close every idle connection now; a busy one when its operation ends."""
        if os.getpid() != self._pid:
            self._after_fork()
        with self._lock:
            idle = [self._take(s) for s in list(self._slots) if not s.busy]
            for slot in self._slots:
                slot.doomed = True
        for conn in idle:
            _close(conn)

    def _after_fork(self) -> None:
        """In a forked child: keep the parent's connections referenced but never use
        or close them; start afresh."""
        self._orphans.extend(self._slots)
        self._slots = set()
        self._lock = threading.Lock()
        self._local = threading.local()  # drops the forking thread's holder (a no-op here)
        self._pid = os.getpid()


def _close(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):  # closing is best effort
            conn.close()
