"""The sync Redis store's transport: one connection per thread, commands pre-encoded.

redis-py's ``Redis.execute_command`` checks a connection out of the pool and
back in, runs the client's retry wrapper and records its metrics on every
call: about 30 µs of Python per command on the 2-core machine we measure on,
on top of an 85 µs loopback round trip. The store sends one self-contained
command and reads its one reply, so it needs none of that: each thread keeps
its own connection, made from the client pool's settings (address, auth, db,
TLS, timeouts), and a command a limiter repeats is encoded once.

What the pool did that still matters is done here too:

* a connection inherited through ``fork`` is never used (its socket is the
  parent's): the child opens its own;
* a connection the server closed while it sat idle is noticed before the
  command is sent (the socket reads EOF) and replaced, so the command goes out
  once, on a live connection;
* after anything but a complete error reply (timeout, reset, interrupt) the
  connection may still hold a reply that belongs to this command, so it is
  closed; the next command reconnects.

Nothing is ever re-sent after it may have reached the server: the same rule as
the store's ``Retry(NoBackoff(), 0)`` (a client's own retry policy is not
applied here, because re-sending an ``incr`` or ``take_tokens`` would apply it
twice).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from typing import Any

import redis

from peak_trade.store import _redis_core as core

__all__ = ["ThreadConnections"]

_PACKED_SIZE = 4096
"""Bound on the encodings kept for reused commands (the core's memo has the same bound)."""


def _stale(conn: Any) -> bool:
    """An idle connection with something to read was closed by the server (EOF) or
    holds a reply nobody will claim: either way it must not carry the next command."""
    try:
        return bool(conn.can_read(timeout=0))
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return True  # redis-py reports EOF as "Connection closed by server."


class _Owned:
    """A thread's connection, closed as soon as the thread is gone.

    A finished thread's locals are dropped at once, and with them this holder
    (nothing else refers to it), whose ``__del__`` closes the socket. redis-py's
    connection objects sit in reference cycles, so leaving the connection to the
    garbage collector would close its socket late, and unannounced.
    """

    __slots__ = ("conn", "pid")

    def __init__(self, conn: Any, pid: int) -> None:
        self.conn = conn
        self.pid = pid

    def __del__(self) -> None:
        # (also in a forked child dropping the parent's: redis-py then only
        # closes the child's copy of the descriptor, never shuts the socket down)
        with contextlib.suppress(Exception):
            self.conn.disconnect()


class ThreadConnections:
    """One redis-py connection per thread (and per process) from ``pool``'s settings."""

    __slots__ = ("__weakref__", "_live", "_local", "_lock", "_packed", "_pool")

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._local = threading.local()
        self._live: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._packed: dict[int, tuple[core.Command[Any], Any]] = {}

    def _connection(self) -> Any:
        local = self._local
        owned: _Owned | None = getattr(local, "owned", None)
        pid = os.getpid()
        if owned is None or owned.pid != pid:
            pool = self._pool
            conn = pool.connection_class(**pool.connection_kwargs)
            local.owned = _Owned(conn, pid)
            with self._lock:
                self._live.add(conn)
            return conn
        conn = owned.conn
        if conn._sock is not None and _stale(conn):
            conn.disconnect()  # the next send reconnects
        return conn

    def _encoded(self, conn: Any, cmd: core.Command[Any]) -> Any:
        if not cmd.reused:
            return conn.pack_command(*cmd.args)
        entry = self._packed.get(id(cmd))
        if entry is not None and entry[0] is cmd:
            return entry[1]
        packed = conn.pack_command(*cmd.args)
        if len(self._packed) >= _PACKED_SIZE:
            self._packed.clear()
        self._packed[id(cmd)] = (cmd, packed)
        return packed

    def send(self, cmd: core.Command[Any]) -> Any:
        """Send ``cmd`` once and return its raw reply (loading its script on ``NOSCRIPT``)."""
        conn = self._connection()
        try:
            try:
                conn.send_packed_command(self._encoded(conn, cmd), check_health=False)
                return conn.read_response()
            except redis.exceptions.NoScriptError:
                if cmd.script is None:  # pragma: no cover - only EVALSHA answers NOSCRIPT
                    raise
                conn.send_command("SCRIPT LOAD", core.SCRIPTS[cmd.script], check_health=False)
                conn.read_response()
                conn.send_packed_command(self._encoded(conn, cmd), check_health=False)
                return conn.read_response()
        except redis.ResponseError:
            raise  # a whole error reply was read: the connection is in step
        except BaseException:
            conn.disconnect()  # a reply may be half read, or still on its way
            raise

    def close(self) -> None:
        """Disconnect every thread's connection (a later command reconnects)."""
        with self._lock:
            live = list(self._live)
        for conn in live:
            conn.disconnect()
