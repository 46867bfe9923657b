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

Every socket operation of a store command (connect, send, read, a probe) is
bounded by the store's ``store_timeout`` (the connections' ``socket_timeout``
and ``socket_connect_timeout`` are capped at it), so a hung server costs a
command about that budget, not the client's socket timeout.

Two pool options of the URL are honoured here, since the pool never sees our
connections:

* ``health_check_interval`` (seconds, from the pool's connection settings): a
  connection idle longer than that is sent a ``PING`` before the command; if
  the PING fails or times out (a half-open connection: a dead NAT entry, a
  pulled cable) the connection is replaced and the command goes out once, on
  the new one. The cost is one clock reading per command, and none when the
  interval is 0 (the default);
* ``max_connections``: the sync store opens at most that many connections (one
  per thread; a thread past the limit gets ``StoreUnavailableError`` at once,
  since a thread keeps its connection until it ends); the async store makes a
  command wait for a free connection, up to the connect timeout.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import threading
import weakref
from typing import Any

import redis

from peak_trade.clock import Clock, system_clock
from peak_trade.errors import StoreUnavailableError
from peak_trade.store import _redis_core as core

__all__ = ["LoopConnections", "ThreadConnections", "connection_kwargs"]

_PACKED_SIZE = 4096
"""Bound on the encodings kept for reused commands (the core's memo has the same bound)."""


def connection_kwargs(pool: Any, budget: float | None) -> dict[str, Any]:
    """The pool's connection settings with every socket timeout capped at ``budget``."""
    kwargs = dict(pool.connection_kwargs)
    if budget is not None:
        for name in ("socket_timeout", "socket_connect_timeout"):
            kwargs[name] = min(kwargs.get(name) or budget, budget)
    return kwargs


def _interval(pool: Any) -> float:
    """The pool's ``health_check_interval`` in seconds (0: never probe)."""
    value = pool.connection_kwargs.get("health_check_interval") or 0
    return float(value) if float(value) > 0 else 0.0


def _too_many(limit: int, where: str, waited: float | None = None) -> StoreUnavailableError:
    if waited is None:
        message = (
            f"All {limit} Redis connections of this store are taken (max_connections={limit}): "
            "the sync store keeps one per thread that uses it."
        )
        hint = (
            "Raise max_connections in the store URL (?max_connections=N), or use the store "
            "from fewer threads at once; a thread's connection is freed when the thread ends."
        )
    else:
        message = (
            f"No Redis connection of this store came free within {waited:g} s: all {limit} "
            f"are busy (max_connections={limit})."
        )
        hint = (
            "Raise max_connections in the store URL (?max_connections=N), or run fewer "
            "store calls at once; the wait is bounded by connect_timeout."
        )
    return StoreUnavailableError(
        message, hint=hint, context={"endpoint": where, "max_connections": limit}
    )


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

    __slots__ = ("__weakref__", "conn", "due", "pid")

    def __init__(self, conn: Any, pid: int) -> None:
        self.conn = conn
        self.pid = pid
        self.due = 0.0  # when the connection is next probed (health_check_interval)

    def __del__(self) -> None:
        # (also in a forked child dropping the parent's: redis-py then only
        # closes the child's copy of the descriptor, never shuts the socket down)
        with contextlib.suppress(Exception):
            self.conn.disconnect()


class ThreadConnections:
    """One redis-py connection per thread (and per process) from ``pool``'s settings.

    Args:
        pool: the client's connection pool (its class and settings are used).
        max_connections: at most this many threads hold a connection at once.
        clock: times ``health_check_interval`` (``monotonic``).
        where: the endpoint, for error messages.
        budget: caps every socket timeout of the connections (``store_timeout``).
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_encoded",
        "_holders",
        "_interval",
        "_kwargs",
        "_live",
        "_local",
        "_lock",
        "_max",
        "_pool",
        "_where",
    )

    def __init__(
        self,
        pool: Any,
        *,
        max_connections: int | None = None,
        clock: Clock = system_clock,
        where: str = "",
        budget: float | None = None,
    ) -> None:
        self._pool = pool
        self._kwargs = connection_kwargs(pool, budget)
        self._local = threading.local()
        self._live: weakref.WeakSet[Any] = weakref.WeakSet()
        self._holders: weakref.WeakSet[_Owned] = weakref.WeakSet()  # one per thread alive
        self._lock = threading.Lock()
        self._encoded = _Encodings()
        self._max = max_connections
        self._interval = _interval(pool)
        self._clock = clock
        self._where = where

    def _open(self, pid: int) -> Any:
        with self._lock:
            if self._max is not None and len(self._holders) >= self._max:
                raise _too_many(self._max, self._where)
            conn = self._pool.connection_class(**self._kwargs)
            owned = _Owned(conn, pid)
            self._holders.add(owned)
            self._live.add(conn)
        self._local.owned = owned  # (drops a forked parent's holder, if any)
        return conn

    def _connection(self) -> Any:
        owned: _Owned | None = getattr(self._local, "owned", None)
        pid = os.getpid()
        if owned is None or owned.pid != pid:
            if owned is not None:
                self._local.owned = None  # the parent's, inherited through fork
            conn = self._open(pid)
            if self._interval:
                self._local.owned.due = self._clock.monotonic() + self._interval
            return conn
        conn = owned.conn
        if conn._sock is not None:
            if _stale(conn):
                conn.disconnect()  # the next send reconnects
            elif self._interval:
                now = self._clock.monotonic()
                if now >= owned.due:
                    _probe(conn)
                owned.due = now + self._interval
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


def _probe(conn: Any) -> None:
    """PING an idle connection; if it does not answer, disconnect it (the command then
    goes out on a new connection: it was never sent on this one)."""
    try:
        conn.send_command("PING", check_health=False)
        conn.read_response()
    except redis.ResponseError:
        pass  # it answered: the connection is alive and in step
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        conn.disconnect()
    except BaseException:
        conn.disconnect()  # interrupted mid-reply
        raise


class LoopConnections:
    """The async store's transport: idle connections per event loop, one command each.

    An asyncio connection carries one command at a time, so a command takes an
    idle connection of its loop (or opens one) and puts it back once the reply
    is read. A loop runs one coroutine at a time between awaits, so the idle
    list needs no lock. The rules of :class:`ThreadConnections` hold: an idle
    connection with something to read is replaced before the command goes
    out; after anything but a complete error reply (a timeout, or the task
    being cancelled mid-reply) the connection is closed, never reused; nothing
    is re-sent after it may have reached the server. With ``max_connections``,
    a command that finds every connection busy waits (up to the connect
    timeout, capped by the budget) for one to be put back.
    """

    __slots__ = (
        "_clock",
        "_encoded",
        "_free",
        "_idle",
        "_interval",
        "_kwargs",
        "_live",
        "_loop",
        "_max",
        "_open",
        "_pool",
        "_waiters",
        "_where",
    )

    def __init__(
        self,
        pool: Any,
        *,
        max_connections: int | None = None,
        clock: Clock = system_clock,
        where: str = "",
        budget: float | None = None,
    ) -> None:
        self._pool = pool
        self._kwargs = connection_kwargs(pool, budget)
        self._encoded = _Encodings()
        self._idle: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._live: weakref.WeakSet[Any] = weakref.WeakSet()
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._free: list[Any] = []
        self._max = max_connections
        self._open = 0  # connections counted against max_connections
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._interval = _interval(pool)
        self._clock = clock
        self._where = where

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
            # what redis-py's async probe answers, without the timer task it starts per
            # call: the server closed it (EOF seen; redis-py 5.0's probe even called that
            # fresh), or bytes nobody asked for wait unread (stream or parser buffer)
            reader = conn._reader
            stale = (
                reader is None
                or reader.at_eof()
                or bool(reader._buffer)
                or bool(getattr(conn._parser, "_buffer", b""))
            )
            if stale:
                await self._drop(conn)
                continue
            if self._interval:
                now = self._clock.monotonic()
                if now >= conn._peak_trade_due:
                    await _aprobe(conn)
                conn._peak_trade_due = now + self._interval
            return conn
        if self._max is not None and self._open >= self._max:
            handed = await self._wait()
            if handed is not None:
                return handed
        else:
            self._open += 1
        conn = self._pool.connection_class(**self._kwargs)
        conn._peak_trade_due = self._clock.monotonic() + self._interval if self._interval else 0.0
        self._live.add(conn)
        return conn

    async def _wait(self) -> Any:
        """Wait for a connection put back (returned) or a slot freed (``None``)."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        limit = float(self._kwargs.get("socket_connect_timeout") or 2.0)
        try:
            async with asyncio.timeout(limit):
                return await waiter
        except TimeoutError:
            raise _too_many(self._max or 0, self._where, limit) from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # handed over, then cancelled
                self._put_back(waiter.result())
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _hand_over(self, conn: Any) -> bool:
        """Give ``conn`` (or, if ``None``, a free slot) to a waiting command of this loop."""
        loop = asyncio.get_running_loop()
        for waiter in list(self._waiters):
            if not waiter.done() and waiter.get_loop() is loop:
                self._waiters.remove(waiter)
                waiter.set_result(conn)
                return True
        return False

    def _put_back(self, conn: Any) -> None:
        if conn is None:  # a slot
            if not self._hand_over(None):
                self._open -= 1
        elif not (self._waiters and self._hand_over(conn)):
            self._free_list().append(conn)

    async def _drop(self, conn: Any) -> None:
        """Close ``conn``; free its slot for a waiting command (or for a new connection)."""
        await _drop(conn)
        if conn in self._live:
            self._live.discard(conn)
            if not (self._waiters and self._hand_over(None)):
                self._open -= 1

    async def send(self, cmd: core.Command[Any]) -> Any:
        """Send ``cmd`` once and return its raw reply (loading its script on ``NOSCRIPT``)."""
        free = self._free_list()
        conn = await self._checkout(free)
        try:
            try:
                writer = conn._writer
                if writer is None:  # not connected yet: redis-py connects (and handshakes)
                    await conn.send_packed_command(self._encoded.of(conn, cmd), check_health=False)
                else:  # no wait_for task per command; a hung server times out the read
                    writer.writelines(self._encoded.of(conn, cmd))
                reply = await conn.read_response()
            except redis.exceptions.NoScriptError:
                if cmd.script is None:  # pragma: no cover - only EVALSHA answers NOSCRIPT
                    raise
                await conn.send_command("SCRIPT LOAD", core.SCRIPTS[cmd.script], check_health=False)
                await conn.read_response()
                await conn.send_packed_command(self._encoded.of(conn, cmd), check_health=False)
                reply = await conn.read_response()
        except redis.ResponseError:
            # a whole error reply was read: the connection is in step
            if not (self._waiters and self._hand_over(conn)):
                free.append(conn)
            raise
        except BaseException:
            await self._drop(conn)  # a reply may be half read, or still on its way
            raise
        if not (self._waiters and self._hand_over(conn)):
            free.append(conn)
        return reply

    async def close(self) -> None:
        """Close every connection (idle or not; a later command opens new ones)."""
        live = list(self._live)  # before the idle lists let go of theirs
        for free in list(self._idle.values()):
            free.clear()
        for conn in live:
            await self._drop(conn)


async def _aprobe(conn: Any) -> None:
    """The async :func:`_probe`."""
    try:
        await conn.send_command("PING", check_health=False)
        await conn.read_response()
    except redis.ResponseError:
        pass
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        await conn.disconnect(nowait=True)
    except BaseException:
        await _drop(conn)
        raise


async def _drop(conn: Any) -> None:
    """Close ``conn`` without waiting for the peer (also safe while being cancelled)."""
    with contextlib.suppress(Exception):
        await conn.disconnect(nowait=True)
