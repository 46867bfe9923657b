"""The Redis stores' transports: commands pre-encoded, written on our own connections.

:class:`ThreadConnections` (sync store): one connection per thread.
:class:`LoopConnections` (async store): idle connections per event loop.

redis-py's ``Redis.execute_command`` checks a connection out of the pool and
back in, runs the client's retry wrapper and records its metrics on every
call: about 30 µs of Python per command on the 2-core machine we measure on,
on top of an 85 µs loopback round trip. The store sends one self-contained
command and reads its one reply, so it needs none of that: each thread (or
each loop) keeps its own connections, made from the client pool's settings
(address, auth, db, TLS, timeouts), and a command a limiter repeats is
encoded once. (redis.asyncio's path costs about as much again.)

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

import asyncio
import contextlib
import os
import threading
import weakref
from typing import Any

import redis

from peak_trade.store import _redis_core as core

__all__ = ["LoopConnections", "ThreadConnections"]

_PACKED_SIZE = 4096
"""Bound on the encodings kept for reused commands (the core's memo has the same bound)."""


def _stale(conn: Any) -> bool:
    """An idle connection with something to read was closed by the server (EOF) or
    holds a reply nobody will claim: either way it must not carry the next command."""
    try:
        return bool(conn.can_read(timeout=0))
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return True  # redis-py reports EOF as "Connection closed by server."


class _Encodings:
    """Wire encodings of reused commands, keyed by the command object (bounded)."""

    __slots__ = ("_packed",)

    def __init__(self) -> None:
        self._packed: dict[int, tuple[core.Command[Any], Any]] = {}

    def of(self, conn: Any, cmd: core.Command[Any]) -> Any:
        """``cmd`` encoded for ``conn`` (every connection of one pool encodes alike)."""
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

    __slots__ = ("__weakref__", "_encoded", "_live", "_local", "_lock", "_pool")

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._local = threading.local()
        self._live: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._encoded = _Encodings()

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

    def send(self, cmd: core.Command[Any]) -> Any:
        """Send ``cmd`` once and return its raw reply (loading its script on ``NOSCRIPT``)."""
        conn = self._connection()
        try:
            try:
                conn.send_packed_command(self._encoded.of(conn, cmd), check_health=False)
                return conn.read_response()
            except redis.exceptions.NoScriptError:
                if cmd.script is None:  # pragma: no cover - only EVALSHA answers NOSCRIPT
                    raise
                conn.send_command("SCRIPT LOAD", core.SCRIPTS[cmd.script], check_health=False)
                conn.read_response()
                conn.send_packed_command(self._encoded.of(conn, cmd), check_health=False)
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


class LoopConnections:
    """The async store's transport: idle connections per event loop, one command each.

    An asyncio connection carries one command at a time, so a command takes an
    idle connection of its loop (or opens one) and puts it back once the reply
    is read. A loop runs one coroutine at a time between awaits, so the idle
    list needs no lock. The rules of :class:`ThreadConnections` hold: an idle
    connection with something to read is replaced before the command goes
    out; after anything but a complete error reply (a timeout, or the task
    being cancelled mid-reply) the connection is closed, never reused; nothing
    is re-sent after it may have reached the server.
    """

    __slots__ = ("_encoded", "_free", "_idle", "_live", "_loop", "_pool")

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._encoded = _Encodings()
        self._idle: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._live: weakref.WeakSet[Any] = weakref.WeakSet()
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._free: list[Any] = []

    def _free_list(self) -> list[Any]:
        """The running loop's idle connections (the last loop's list is kept at hand)."""
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop() is not loop:
            self._free = self._idle.setdefault(loop, [])
            self._loop = weakref.ref(loop)
        return self._free

    async def _checkout(self, free: list[Any]) -> Any:
        while free:
            conn = free.pop()
            # redis-py 8 renamed can_read_destructive (deprecated there) to can_read
            probe = getattr(conn, "can_read", None) or conn.can_read_destructive
            try:
                stale = bool(await probe())
            except (redis.ConnectionError, redis.TimeoutError, OSError):  # pragma: no cover
                stale = True  # (redis-py versions differ: EOF is True here, or this error)
            if not stale:
                return conn
            await _drop(conn)
        pool = self._pool
        conn = pool.connection_class(**pool.connection_kwargs)
        self._live.add(conn)
        return conn

    async def send(self, cmd: core.Command[Any]) -> Any:
        """Send ``cmd`` once and return its raw reply (loading its script on ``NOSCRIPT``)."""
        free = self._free_list()
        conn = await self._checkout(free)
        try:
            try:
                await conn.send_packed_command(self._encoded.of(conn, cmd), check_health=False)
                reply = await conn.read_response()
            except redis.exceptions.NoScriptError:
                if cmd.script is None:  # pragma: no cover - only EVALSHA answers NOSCRIPT
                    raise
                await conn.send_command("SCRIPT LOAD", core.SCRIPTS[cmd.script], check_health=False)
                await conn.read_response()
                await conn.send_packed_command(self._encoded.of(conn, cmd), check_health=False)
                reply = await conn.read_response()
        except redis.ResponseError:
            free.append(conn)  # a whole error reply was read: the connection is in step
            raise
        except BaseException:
            await _drop(conn)  # a reply may be half read, or still on its way
            raise
        free.append(conn)
        return reply

    async def close(self) -> None:
        """Close every connection (idle or not; a later command opens new ones)."""
        live = list(self._live)  # before the idle lists let go of theirs
        for free in list(self._idle.values()):
            free.clear()
        for conn in live:
            await _drop(conn)


async def _drop(conn: Any) -> None:
    """Close ``conn`` without waiting for the peer (also safe while being cancelled)."""
    with contextlib.suppress(Exception):
        await conn.disconnect(nowait=True)
