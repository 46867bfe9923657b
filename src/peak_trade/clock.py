"""Injected time.

Everything in peak-trade that needs the time or needs to wait takes a
:class:`Clock`. Production code uses :class:`SystemClock`; tests use
:class:`ManualClock`, whose time moves only when the test moves it, so a 60 s
recovery timeout is tested in microseconds and never flakes.

``time()`` is wall-clock seconds since the epoch (for TTLs shared between
processes and records written to disk); ``monotonic()`` is for measuring
intervals inside one process.

A clock is also how code *waits with a deadline*, so that a ManualClock can
drive every deadline, not only the ones measured with ``monotonic()``:

* ``sleep`` / ``asleep``: pause for a time (a ManualClock advances instead);
* ``wait_for(cond, predicate, timeout)``: a thread waits on a
  :class:`threading.Condition` until ``predicate()`` holds or ``timeout``
  seconds pass on this clock (``Condition.wait_for`` on the system clock);
* ``call_at(when, callback, loop)``: run ``callback`` on an event loop when
  this clock's ``monotonic()`` reaches ``when`` (``loop.call_at`` on the
  system clock); the returned handle's ``cancel()`` withdraws it.

A ManualClock fires what has come due whenever it moves (``advance``, ``set``,
``sleep``, ``asleep``), in deadline order: a waiting thread is woken, a loop
callback is handed to its loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time as _time
import weakref
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from peak_trade.errors import InvalidArgumentError

__all__ = ["Cancellable", "Clock", "ManualClock", "SystemClock", "system_clock"]


class Cancellable(Protocol):
    """A scheduled callback that can be withdrawn (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """Source of time and of waiting."""

    def time(self) -> float:
        """Wall-clock seconds since the Unix epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling coroutine for ``seconds``."""
        ...

    def wait_for(
        self,
        cond: threading.Condition,
        predicate: Callable[[], bool],
        timeout: float | None = None,
    ) -> bool:
        """With ``cond`` held, wait until ``predicate()`` or ``timeout`` seconds on this clock.

        Returns the predicate's last value, as ``Condition.wait_for`` does.
        """
        ...

    def call_at(
        self, when: float, callback: Callable[[], object], loop: asyncio.AbstractEventLoop
    ) -> Cancellable:
        """Run ``callback()`` on ``loop`` once ``monotonic()`` reaches ``when``."""
        ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    # the builtins themselves: no Python frame between a hot path and the time
    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def wait_for(
        self,
        cond: threading.Condition,
        predicate: Callable[[], bool],
        timeout: float | None = None,
    ) -> bool:
        return cond.wait_for(predicate, timeout)

    def call_at(
        self, when: float, callback: Callable[[], object], loop: asyncio.AbstractEventLoop
    ) -> Cancellable:
        # the loop's own clock may have another origin (uvloop): translate the delay
        return loop.call_at(loop.time() + (when - _time.monotonic()), callback)

    def __repr__(self) -> str:
        return "SystemClock()"


system_clock = SystemClock()
"""The shared real clock (stateless, so sharing it is safe)."""


class _ManualTimer:
    """A deadline registered with a :class:`ManualClock`: a loop callback or a waiting thread."""

    __slots__ = ("_clock", "_loop", "callback", "done", "withdrawn")

    def __init__(
        self,
        clock: ManualClock,
        callback: Callable[[], object],
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self._clock = clock
        self.callback = callback
        # weakly: a timer nobody fires must not keep a closed loop alive
        self._loop = None if loop is None else weakref.ref(loop)
        self.done = False  # fired or cancelled (under the clock's lock)
        self.withdrawn = False  # cancelled after fire() handed it to the loop: honour it

    def cancel(self) -> None:
        self._clock._cancel(self)

    def fire(self) -> None:
        """Run (thread waiter) or hand to the loop (loop callback); called without the lock."""
        if self._loop is None:
            self.callback()
            return
        loop = self._loop()
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(self._run)

    def _run(self) -> None:
        if not self.withdrawn:  # as asyncio does for a handle cancelled before it runs
            self.callback()


def _notify_all(cond: threading.Condition) -> None:
    with cond:
        cond.notify_all()


class ManualClock:
    """A clock that only moves when told to: ``advance()``, ``set()`` or ``sleep()``.

    ``sleep(s)`` and ``await asleep(s)`` advance the clock by ``s`` and return at
    once, and every sleep is recorded in :attr:`sleeps`, so a test can assert
    the exact back-off schedule a retry policy used. Deadlines registered with
    :meth:`wait_for` and :meth:`call_at` fire when the clock passes them (see
    the module docstring); :meth:`wait_until_waiting` lets a test advance only
    once the threads it drives are waiting. Thread-safe.

    Do not move the clock while holding a condition that another thread waits
    on through :meth:`wait_for` with a non-reentrant lock: waking it takes that
    condition.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self._waiters_changed = threading.Condition(self._lock)
        self._timers: list[tuple[float, int, _ManualTimer]] = []
        self._seq = itertools.count()
        self._cancelled = 0
        self._waiting = 0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise InvalidArgumentError(
                "A ManualClock cannot go backwards.",
                hint="Pass a non-negative number of seconds.",
                context={"seconds": seconds},
            )
        return self._move(seconds)

    def set(self, now: float) -> None:
        """Jump to ``now`` (must not be earlier than the current time)."""
        self.advance(now - self._now)

    def sleep(self, seconds: float) -> None:
        self._move(max(seconds, 0.0), record=True)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # still yield, as a real sleep would

    def _move(self, seconds: float, *, record: bool = False) -> float:
        due: list[_ManualTimer] = []
        with self._lock:
            if record:
                self.sleeps.append(seconds)
            self._now += seconds
            now = self._now
            timers = self._timers
            while timers and timers[0][0] <= now:
                timer = heapq.heappop(timers)[2]
                if timer.done:
                    self._cancelled -= 1
                    continue
                timer.done = True
                due.append(timer)
        for timer in due:  # outside the lock: a waker takes the waiter's condition
            timer.fire()
        return now

    # --- deadlines ---------------------------------------------------------------

    def _add(self, when: float, timer: _ManualTimer) -> bool:
        """Register ``timer`` for ``when``; False if it is due already (not registered)."""
        with self._lock:
            if when <= self._now:
                timer.done = True
                return False
            heapq.heappush(self._timers, (when, next(self._seq), timer))
            return True

    def _cancel(self, timer: _ManualTimer) -> None:
        with self._lock:
            if timer.done:
                timer.withdrawn = True
                return
            timer.done = True
            self._cancelled += 1
            if self._cancelled > 32 and self._cancelled * 2 > len(self._timers):
                self._timers = [entry for entry in self._timers if not entry[2].done]
                heapq.heapify(self._timers)
                self._cancelled = 0

    def call_at(
        self, when: float, callback: Callable[[], object], loop: asyncio.AbstractEventLoop
    ) -> Cancellable:
        timer = _ManualTimer(self, callback, loop)
        if not self._add(when, timer):
            timer.fire()
        return timer

    def wait_for(
        self,
        cond: threading.Condition,
        predicate: Callable[[], bool],
        timeout: float | None = None,
    ) -> bool:
        result = predicate()
        if result or (timeout is not None and timeout <= 0):
            return result
        deadline = None if timeout is None else self._now + timeout
        waker = None
        if deadline is not None:
            waker = _ManualTimer(self, lambda: _notify_all(cond), None)
            self._add(deadline, waker)
        with self._lock:
            self._waiting += 1
            self._waiters_changed.notify_all()
        try:
            # the waker needs ``cond`` to notify, and we hold it from the time
            # check until wait() releases it: a deadline passing in between
            # cannot be missed
            while not result:
                if deadline is not None and self._now >= deadline:
                    break
                cond.wait()
                result = predicate()
        finally:
            with self._lock:
                self._waiting -= 1
            if waker is not None:
                waker.cancel()
        return result

    @property
    def waiting(self) -> int:
        """Threads blocked in :meth:`wait_for` now."""
        return self._waiting

    @property
    def pending_timers(self) -> int:
        """Deadlines registered and not yet due (loop callbacks and waiting threads)."""
        with self._lock:
            return len(self._timers) - self._cancelled

    def wait_until_waiting(self, n: int, timeout: float = 30.0) -> bool:
        """Block (for real, at most ``timeout`` s) until ``n`` threads wait in :meth:`wait_for`.

        For tests: start the threads under test, wait for them to be waiting on
        the clock, then advance it. False if they were not all waiting in time.
        """
        with self._waiters_changed:
            return self._waiters_changed.wait_for(lambda: self._waiting >= n, timeout)

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"
