"""Timeout: give up on a call that runs past its deadline.

Async calls are cancelled at the deadline. A sync call
cannot be interrupted safely in Python, so it runs in a worker thread and the
caller stops waiting at the deadline; the abandoned call finishes in the
background and its result is discarded. Either way the caller gets
:class:`~peak_trade.errors.OperationTimeoutError` (also a ``TimeoutError``).
Use timeouts of the client library (HTTP, Redis) where they exist; this is the
backstop for code that has none.

Each ``Timeout`` has its own small pool of worker threads
(:mod:`peak_trade.resilience._workers`): at most ``max_workers`` daemon
threads, started on demand, no queue. So the hung calls of one dependency
never take the threads of another, and a call that never returns never keeps
the process from exiting. When all ``max_workers`` threads are busy -- in
practice with calls abandoned at their deadline that still hang -- a new call
fails at once with :class:`~peak_trade.errors.BulkheadFullError`, **without
being started**: unlike a timeout (the call ran; its outcome is unknown), it is
safe to retry, and it is a rejection, which no circuit breaker counts as the
dependency failing (the hung calls already counted, as timeouts); it is
published as :class:`TimeoutRejected`. Pass ``executor=`` to run calls on an
executor of your own instead (it queues).

``mode="deadline"`` is the cooperative alternative for sync code: it does not
start a thread; it publishes the deadline in a context variable that I/O
layers read (:func:`remaining_time`) to size their own socket timeouts, and
raises only *before* starting a call whose deadline has already passed. It
never discards a result that arrived late: for a side effect such as an order,
a late success is still a success. It costs a context-variable set and reset,
which is why :func:`~peak_trade.resilience.with_resilience` uses it on the
sync path. Deadlines nest: an inner timeout never extends an outer one.

Every deadline is on the timeout's clock (``clock=``, the system clock by
default): a sync caller waits for its worker with ``clock.wait_for`` and an
async call's deadline is a ``clock.call_at`` timer, so a
:class:`~peak_trade.clock.ManualClock` drives both and no test waits for a
real timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import sys
import threading
import weakref
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar

from peak_trade.clock import Cancellable, Clock, system_clock
from peak_trade.errors import BulkheadFullError, InvalidArgumentError, OperationTimeoutError
from peak_trade.events import EventBus
from peak_trade.resilience._catalog import NAMED
from peak_trade.resilience._contract import PatternEvent, PatternKind, PatternStats
from peak_trade.resilience._workers import Job, Workers
from peak_trade.resilience._wrap import wrap

__all__ = [
    "TimedOut",
    "Timeout",
    "TimeoutEvent",
    "TimeoutMode",
    "TimeoutRejected",
    "TimeoutStats",
    "current_deadline",
    "remaining_time",
    "timeout",
]

F = TypeVar("F", bound=Callable[..., Any])


class TimeoutMode(StrEnum):
    """How a sync call is held to its deadline (async calls are always cancelled)."""

    THREAD = "thread"  # run it in a worker thread; stop waiting at the deadline
    DEADLINE = "deadline"  # cooperative: publish the deadline, never discard a late result


ModeArgument = TimeoutMode | Literal["thread", "deadline"]

_deadline: ContextVar[float | None] = ContextVar("peak_trade_deadline", default=None)


def current_deadline() -> float | None:
    """The innermost active deadline (on the timeout's clock's monotonic scale), if any."""
    return _deadline.get()


def remaining_time(clock: Clock = system_clock) -> float | None:
    """Seconds left before the active deadline (may be negative), or None without one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - clock.monotonic()


@dataclass(frozen=True, slots=True)
class TimeoutEvent(PatternEvent):
    """Base of every timeout event; ``name`` is the timeout's name."""

    kind: ClassVar[str] = PatternKind.TIMEOUT


@dataclass(frozen=True, slots=True)
class TimedOut(TimeoutEvent):
    """A call ran past its deadline."""

    seconds: float


@dataclass(frozen=True, slots=True)
class TimeoutRejected(TimeoutEvent):
    """A call was not started: all ``max_workers`` threads were busy, ``abandoned`` of
    them with calls still running past their deadline."""

    max_workers: int
    abandoned: int


@dataclass(frozen=True, slots=True)
class TimeoutStats(PatternStats):
    """A snapshot of a timeout (``timeout.stats``).

    ``calls`` counts calls started or refused; ``timed_out`` those that ran
    past their deadline (or found an enclosing one already passed);
    ``rejected`` those refused because every worker thread was busy; and
    ``abandoned`` is how many worker threads still run a call abandoned at
    its deadline right now.
    """

    calls: int
    timed_out: int
    rejected: int
    abandoned: int


class _Watchdog:
    """One timer per event loop and clock for every pending async timeout.

    A pending call is ``pending[key] = (deadline on the clock's monotonic
    scale, task)``, keyed by the ``id`` of the call's own context-variable
    token (unique while the call runs). Registering is a dict insert; the
    clock's timer (``clock.call_at``) is only rescheduled when the new deadline
    is earlier than the one it waits for (rare: timeouts of one operation grow
    monotonically). When the timer fires it cancels the expired calls' tasks,
    moves their keys to ``fired`` (so the call can tell its own cancellation
    from anyone else's) and re-arms for the earliest remaining deadline.
    """

    __slots__ = ("_clock", "_handle", "_loop", "armed_at", "fired", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Clock) -> None:
        # weakly: the watchdog is kept on the loop (or in a weak-key dict keyed
        # by it), and a strong reference back would keep every loop alive forever
        self._loop = weakref.ref(loop)
        self._clock = clock
        self.pending: dict[int, tuple[float, asyncio.Task[Any]]] = {}
        self.fired: set[int] = set()
        self._handle: Cancellable | None = None
        self.armed_at = float("inf")

    def arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        loop = self._loop()
        if loop is None:  # pragma: no cover - the loop is gone, and its tasks with it
            return
        self.armed_at = at
        self._handle = self._clock.call_at(at, self._fire, loop)

    def _fire(self) -> None:
        self._handle = None
        self.armed_at = float("inf")
        now = self._clock.monotonic()
        earliest = float("inf")
        for key, (deadline, task) in list(self.pending.items()):
            if deadline <= now:
                del self.pending[key]
                self.fired.add(key)
                task.cancel()
            elif deadline < earliest:
                earliest = deadline
        if earliest != float("inf"):
            self.arm(earliest)


_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _Watchdog]] = (
    weakref.WeakKeyDictionary()
)


def _watchdog(loop: asyncio.AbstractEventLoop, clock: Clock, attr: str) -> _Watchdog:
    """The watchdog of ``clock`` on a loop that has none in its attribute ``attr`` (yet).

    It is kept on the loop itself, under an attribute named after the clock
    (a loop may serve timeouts on several clocks): an attribute makes loop ->
    watchdog -> timer handle -> loop a plain cycle that the garbage collector
    frees with a closed loop (a dict keyed by the loop would keep the armed
    timer, and so the loop, alive forever). The watchdog holds its clock, so
    the ``id`` in the name is never reused while the attribute exists. Loops
    that take no attributes (uvloop) use a weak-key dict.
    """
    dogs = _watchdogs.get(loop)
    if dogs is not None and id(clock) in dogs:  # pragma: no cover - loops with __slots__
        return dogs[id(clock)]
    dog = _Watchdog(loop, clock)
    try:
        setattr(loop, attr, dog)
    except AttributeError:  # pragma: no cover - loops with __slots__
        _watchdogs.setdefault(loop, {})[id(clock)] = dog
    return dog


if sys.version_info >= (3, 12):  # pragma: no cover - implemented in C from 3.12 on
    _current_task: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None] = (
        asyncio.current_task
    )
else:  # 3.11's asyncio.current_task is Python code around this very lookup
    from asyncio.tasks import _current_tasks  # type: ignore[attr-defined]

    _current_task = _current_tasks.get


DEFAULT_MAX_WORKERS = 32
"""Worker threads of one ``Timeout(mode="thread")``, at most (started on demand)."""


class Timeout:
    """``@Timeout(2.5)`` on a sync or async function.

    One ``Timeout`` is meant for one dependency: the functions it decorates
    share its ``max_workers`` threads (see the module docstring). Given a
    ``name`` (and ``register=True``) it is listed by the default registry.
    """

    kind: ClassVar[PatternKind] = PatternKind.TIMEOUT

    def __init__(
        self,
        seconds: float,
        *,
        name: str | None = None,
        mode: ModeArgument = TimeoutMode.THREAD,
        clock: Clock = system_clock,
        executor: concurrent.futures.Executor | None = None,
        bus: EventBus | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        register: bool = True,
    ) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise InvalidArgumentError(
                f"A timeout must be a number of seconds > 0, got {seconds!r}",
                hint="Leave the timeout out instead of passing 0 to disable it.",
                context={"name": name},
            )
        try:
            mode = TimeoutMode(mode)
        except ValueError:
            raise InvalidArgumentError(
                f"Unknown timeout mode {mode!r}",
                hint="Use TimeoutMode.THREAD ('thread') or TimeoutMode.DEADLINE ('deadline').",
            ) from None
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise InvalidArgumentError(
                f"max_workers must be an integer >= 1, got {max_workers!r}",
                hint="It caps the threads one Timeout may hold (calls in flight, hung ones too).",
                context={"name": name},
            )
        self.seconds = float(seconds)
        self.name = name if name is not None else "timeout"
        self.mode = mode
        self._cooperative = mode is TimeoutMode.DEADLINE  # read per call: a bool, not an enum
        self._clock = clock
        self._mono = clock.monotonic
        self._dog_attr = f"_peak_trade_timeout_watchdog_{id(clock)}"  # see _watchdog
        self._executor = executor
        self._bus = bus
        self.max_workers = max_workers
        self._workers = Workers(self.name, max_workers)  # threads start on first use
        self._calls = 0
        self._timed_out = 0
        self._rejected = 0
        if register and name is not None:
            NAMED.add(self)

    @property
    def stats(self) -> TimeoutStats:
        """Calls, timeouts, refusals so far, and the threads still hung now (no lock)."""
        return TimeoutStats(self._calls, self._timed_out, self._rejected, self._workers.abandoned)

    def _error(self) -> OperationTimeoutError:
        self._timed_out += 1
        if self._bus is not None and self._bus.wants(TimedOut):
            self._bus.publish(TimedOut(self.name, self.seconds))
        return OperationTimeoutError(
            f"{self.name!r} did not finish within {self.seconds:g}s.",
            hint="The dependency is slow or hanging; check it, or raise the timeout if normal.",
            context={"operation": self.name, "timeout_seconds": self.seconds},
        )

    def _full(self) -> BulkheadFullError:
        self._rejected += 1
        workers = self._workers
        if self._bus is not None and self._bus.wants(TimeoutRejected):
            self._bus.publish(TimeoutRejected(self.name, self.max_workers, workers.abandoned))
        return BulkheadFullError(
            f"{self.name!r}: all {self.max_workers} worker threads are busy "
            f"({workers.abandoned} with calls still running past their deadline); "
            "the call was not started.",
            hint="The dependency hangs: calls that timed out have not returned. Check it; "
            "raise max_workers only if that many calls at once are normal. "
            "Nothing ran, so retrying later is safe.",
            context={
                "operation": self.name,
                "max_workers": self.max_workers,
                "abandoned": workers.abandoned,
            },
        )

    def _run_in_thread(self, func: Callable[[], Any], deadline: float) -> Any:
        """Run ``func`` on one of this timeout's workers; wait for it until ``deadline``."""
        executor = self._executor
        if executor is not None:
            return self._run_on_executor(executor, func, deadline)
        workers = self._workers
        job = Job(func)
        if not workers.submit(job):
            raise self._full()
        try:
            with job.cond:
                finished = self._clock.wait_for(
                    job.cond, job.is_done, max(0.0, deadline - self._mono())
                )
        except BaseException:  # interrupted while waiting: the call runs on, abandoned
            workers.abandon(job)
            raise
        if not finished and workers.abandon(job):
            raise self._error() from None
        error = job.error
        if error is not None:
            job.error = None  # no cycle through the traceback
            raise error
        return job.result

    def _run_on_executor(
        self, executor: concurrent.futures.Executor, func: Callable[[], Any], deadline: float
    ) -> Any:
        future = executor.submit(func)
        cond = threading.Condition(threading.Lock())

        def wake(_: object) -> None:
            with cond:
                cond.notify()

        future.add_done_callback(wake)
        with cond:
            finished = self._clock.wait_for(cond, future.done, max(0.0, deadline - self._mono()))
        if not finished:
            future.cancel()
            raise self._error() from None
        return future.result()

    def _enter_deadline(self) -> tuple[float, Token[float | None], float]:
        """Set this call's deadline (never later than an enclosing one); also return now."""
        self._calls += 1
        now = self._mono()
        mine = now + self.seconds
        outer = _deadline.get()
        if outer is not None:
            if outer <= now:
                raise self._error()  # the enclosing deadline has already passed
            mine = min(mine, outer)
        return mine, _deadline.set(mine), now

    def _call_sync(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        mine, token, _ = self._enter_deadline()
        try:
            if self._cooperative:
                return func(*args, **kwargs)
            # the worker runs in a copy of our context, so it sees the deadline too
            context = contextvars.copy_context()
            return self._run_in_thread(functools.partial(context.run, func, *args, **kwargs), mine)
        finally:
            _deadline.reset(token)

    async def _call_async(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        loop = asyncio.get_running_loop()
        task = _current_task(loop)
        assert task is not None  # a coroutine awaited by asyncio always runs in a task
        mine, token, _ = self._enter_deadline()
        dog: _Watchdog | None = getattr(loop, self._dog_attr, None)
        if dog is None:
            dog = _watchdog(loop, self._clock, self._dog_attr)
        key = id(token)
        dog.pending[key] = (mine, task)
        if mine < dog.armed_at:
            dog.arm(mine)
        try:
            return await func(*args, **kwargs)
        except asyncio.CancelledError:
            if key not in dog.fired:
                raise  # cancelled by someone else: not ours to swallow
            task.uncancel()
            raise self._error() from None
        finally:
            if dog.pending.pop(key, None) is None:
                dog.fired.discard(key)
            _deadline.reset(token)

    def __call__(self, func: F) -> F:
        return wrap(func, self._call_sync, self._call_async, pattern="Timeout")


def timeout(
    seconds: float,
    *,
    name: str | None = None,
    mode: ModeArgument = TimeoutMode.THREAD,
    clock: Clock = system_clock,
    bus: EventBus | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    register: bool = True,
) -> Timeout:
    """Decorator form: ``@timeout(2.5)``."""
    return Timeout(
        seconds,
        name=name,
        mode=mode,
        clock=clock,
        bus=bus,
        max_workers=max_workers,
        register=register,
    )
