"""Injected time.

Everything in peak-trade that needs the time or needs to wait takes a
:class:`Clock`. Production code uses :class:`SystemClock`; tests use
:class:`ManualClock`, whose ``sleep`` advances the clock instead of waiting, so
a 60 s recovery timeout is tested in microseconds and never flakes.

``time()`` is wall-clock seconds since the epoch (for TTLs shared between
processes and records written to disk); ``monotonic()`` is for measuring
intervals inside one process.
"""

from __future__ import annotations

import asyncio
import threading
import time as _time
from typing import Protocol, runtime_checkable

from peak_trade.errors import InvalidArgumentError

__all__ = ["Clock", "ManualClock", "SystemClock", "system_clock"]


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


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def time(self) -> float:
        return _time.time()

    def monotonic(self) -> float:
        return _time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "SystemClock()"


system_clock = SystemClock()
"""The shared real clock (stateless, so sharing it is safe)."""


class ManualClock:
    """A clock that only moves when told to: ``advance()``, ``set()`` or ``sleep()``.

    ``sleep(s)`` and ``await asleep(s)`` advance the clock by ``s`` and return at
    once, and every sleep is recorded in :attr:`sleeps`, so a test can assert
    the exact back-off schedule a retry policy used. Thread-safe.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
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
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to ``now`` (must not be earlier than the current time)."""
        self.advance(now - self._now)

    def sleep(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # still yield, as a real sleep would

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"
