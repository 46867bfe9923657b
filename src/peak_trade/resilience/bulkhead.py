"""Bulkhead: cap the number of calls in flight to one dependency.

``Bulkhead(max_concurrent=10, max_wait=0.0)``: a call beyond the cap waits up
to ``max_wait`` seconds for a slot, then is rejected with
:class:`~peak_trade.errors.BulkheadFullError` without running. One counter
(the core) serves both shells: sync callers wait on a condition variable,
async callers on a future resolved when a slot frees, so neither blocks the
other and an event loop is never blocked. ``max_wait`` is measured on the
bulkhead's clock (``clock=``): sync callers wait with ``clock.wait_for``, an
async caller's wait ends with a ``clock.call_at`` timer, so a
:class:`~peak_trade.clock.ManualClock` drives both.

Events (on ``bus=``): :class:`BulkheadRejected` for every rejection, and, only
while someone subscribes to them, :class:`BulkheadCallAdmitted` (how long the
call waited for its slot) and :class:`BulkheadCallFinished` (how long it held
it). The bulkhead holds an :class:`~peak_trade.events.Interest` in the two: an
unobserved bulkhead reads no clock and builds no event.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from peak_trade.clock import Cancellable, Clock, system_clock
from peak_trade.errors import BulkheadFullError, InvalidArgumentError
from peak_trade.events import UNWATCHED, EventBus
from peak_trade.resilience._catalog import NAMED
from peak_trade.resilience._contract import PatternEvent, PatternKind, PatternStats
from peak_trade.resilience._wrap import wrap

__all__ = [
    "Bulkhead",
    "BulkheadCallAdmitted",
    "BulkheadCallFinished",
    "BulkheadEvent",
    "BulkheadRejected",
    "BulkheadStats",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class BulkheadEvent(PatternEvent):
    """Base of every bulkhead event; ``name`` is the bulkhead's name."""

    kind: ClassVar[str] = PatternKind.BULKHEAD


@dataclass(frozen=True, slots=True)
class BulkheadRejected(BulkheadEvent):
    """A call was refused because the bulkhead stayed full for ``max_wait``."""

    max_concurrent: int


@dataclass(frozen=True, slots=True)
class BulkheadCallAdmitted(BulkheadEvent):
    """A call got its slot after ``waited`` seconds; ``in_flight`` calls hold one now."""

    waited: float
    in_flight: int


@dataclass(frozen=True, slots=True)
class BulkheadCallFinished(BulkheadEvent):
    """A call gave its slot back after holding it ``duration`` seconds."""

    duration: float
    in_flight: int


@dataclass(frozen=True, slots=True)
class BulkheadStats(PatternStats):
    """A snapshot of a bulkhead (``bulkhead.stats``).

    ``limit`` is ``max_concurrent``; ``peak`` the most calls ever in flight at
    once; ``admitted`` and ``rejected`` count calls since it was made.
    """

    limit: int
    in_flight: int
    peak: int
    admitted: int
    rejected: int


@dataclass(slots=True)
class _Waiter:
    """An async caller waiting for a slot; ``granted``/``abandoned`` change under the lock."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    granted: bool = False
    abandoned: bool = False
    timer: Cancellable | None = None


class Bulkhead:
    """Limit concurrent calls. Use as ``@bulkhead`` on sync or async functions.

    Given a ``name`` (and ``register=True``) it is listed by the default
    registry, weakly (see :mod:`peak_trade.resilience.registry`).
    """

    kind: ClassVar[PatternKind] = PatternKind.BULKHEAD

    def __init__(
        self,
        max_concurrent: int,
        *,
        max_wait: float = 0.0,
        name: str | None = None,
        bus: EventBus | None = None,
        clock: Clock = system_clock,
        register: bool = True,
    ) -> None:
        if (
            isinstance(max_concurrent, bool)
            or not isinstance(max_concurrent, int)
            or max_concurrent < 1
        ):
            raise InvalidArgumentError(
                f"max_concurrent must be an integer >= 1, got {max_concurrent!r}",
                hint="Bulkhead(max_concurrent=10) allows ten calls in flight.",
                context={"name": name},
            )
        if max_wait < 0:
            raise InvalidArgumentError(
                f"max_wait must be >= 0, got {max_wait!r}", context={"name": name}
            )
        self.name = name if name is not None else "bulkhead"
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        self._bus = bus
        self._calls = (
            UNWATCHED if bus is None else bus.interest(BulkheadCallAdmitted, BulkheadCallFinished)
        )
        self._clock = clock
        self._mono = clock.monotonic
        self._in_flight = 0
        self._peak = 0
        self._admitted = 0
        # the condition's own lock, taken directly where nobody waits (C, not Python, code)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._async_waiters: deque[_Waiter] = deque()
        self.rejected = 0
        if register and name is not None:
            NAMED.add(self)

    @property
    def in_flight(self) -> int:
        """Calls running now."""
        return self._in_flight

    @property
    def stats(self) -> BulkheadStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return BulkheadStats(
                self.max_concurrent, self._in_flight, self._peak, self._admitted, self.rejected
            )

    # --- core: the counter ---------------------------------------------------------

    def _take_slot(self) -> None:
        # caller holds self._lock and has checked there is room
        self._in_flight = in_flight = self._in_flight + 1
        self._admitted += 1
        if in_flight > self._peak:  # noqa: PLR1730 - no max() call on the hot path
            self._peak = in_flight

    def _try_enter(self) -> bool:
        # caller holds self._lock; the common case, so _take_slot is written out
        in_flight = self._in_flight
        if in_flight < self.max_concurrent:
            self._in_flight = in_flight = in_flight + 1
            self._admitted += 1
            if in_flight > self._peak:  # noqa: PLR1730 - no max() call on the hot path
                self._peak = in_flight
            return True
        return False

    def _exit(self, admitted_at: float | None = None) -> None:
        """Give the slot back (reporting the call if it was admitted at ``admitted_at``)."""
        with self._lock:
            self._in_flight -= 1
            # hand the slot to an async waiter if one is queued, else wake a thread
            while self._async_waiters:
                waiter = self._async_waiters.popleft()
                if not waiter.abandoned:
                    waiter.granted = True
                    self._take_slot()
                    waiter.loop.call_soon_threadsafe(_grant, waiter.future)
                    break
            else:
                self._cond.notify()
        if admitted_at is not None:
            self._report_finished(admitted_at)

    def _reject(self) -> BulkheadFullError:
        with self._lock:
            self.rejected += 1
        if self._bus is not None and self._bus.wants(BulkheadRejected):
            self._bus.publish(BulkheadRejected(self.name, self.max_concurrent))
        return BulkheadFullError(
            f"Bulkhead {self.name!r} is full ({self.max_concurrent} calls in flight).",
            hint="The dependency is slow or overloaded; raise max_concurrent or max_wait if safe.",
            context={"bulkhead": self.name, "max_concurrent": self.max_concurrent},
        )

    # --- shells --------------------------------------------------------------------

    def _enter_sync(self) -> None:
        with self._lock:
            if self._try_enter():
                return
            if self.max_wait > 0 and self._clock.wait_for(
                self._cond, self._has_room, self.max_wait
            ):
                self._take_slot()
                return
        raise self._reject()

    def _has_room(self) -> bool:
        return self._in_flight < self.max_concurrent

    def _expire(self, waiter: _Waiter) -> None:
        """On the waiter's loop, at ``max_wait``: give up unless a slot came first."""
        with self._lock:
            if waiter.granted:
                return  # the slot's _grant is on its way
            waiter.abandoned = True
        _grant(waiter.future)  # wake the caller, who finds itself not granted

    async def _enter_async(self) -> None:
        with self._lock:
            if self._try_enter():
                return
            if self.max_wait <= 0:
                waiter = None
            else:
                loop = asyncio.get_running_loop()
                waiter = _Waiter(loop, loop.create_future())
                self._async_waiters.append(waiter)
        if waiter is None:
            raise self._reject()
        clock = self._clock
        waiter.timer = clock.call_at(
            clock.monotonic() + self.max_wait, functools.partial(self._expire, waiter), waiter.loop
        )
        try:
            await waiter.future
        except asyncio.CancelledError:
            waiter.timer.cancel()
            with self._lock:
                granted = waiter.granted
                waiter.abandoned = not granted
            if granted:
                self._exit()  # we were given a slot we will never use
            raise
        waiter.timer.cancel()
        if not waiter.granted:  # set under the lock before the future was resolved
            raise self._reject()

    def _report_admitted(self, asked_at: float) -> float:
        """Report a call that got its slot; return when (the start of its duration)."""
        now = self._mono()
        assert self._bus is not None  # an Interest is only active on a bus
        self._bus.publish(BulkheadCallAdmitted(self.name, now - asked_at, self._in_flight))
        return now

    def _report_finished(self, admitted_at: float) -> None:
        assert self._bus is not None
        self._bus.publish(
            BulkheadCallFinished(self.name, self._mono() - admitted_at, self._in_flight)
        )

    # --- shells: a call holds a slot; its events only while someone listens ------------

    def _call_sync(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        asked_at = self._mono() if self._calls.active else None
        self._enter_sync()
        admitted_at = None if asked_at is None else self._report_admitted(asked_at)
        try:
            return func(*args, **kwargs)
        finally:
            self._exit(admitted_at)

    async def _call_async(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        asked_at = self._mono() if self._calls.active else None
        await self._enter_async()
        admitted_at = None if asked_at is None else self._report_admitted(asked_at)
        try:
            return await func(*args, **kwargs)
        finally:
            self._exit(admitted_at)

    def __call__(self, func: F) -> F:
        """Decorate ``func`` (sync or async)."""
        return wrap(func, self._call_sync, self._call_async, pattern="Bulkhead")

    def __repr__(self) -> str:
        return (
            f"Bulkhead(name={self.name!r}, max_concurrent={self.max_concurrent}, "
            f"in_flight={self._in_flight})"
        )


def _grant(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
