"""Circuit breaker (anchors: Resilience4j, pybreaker), sync and async.

Seed API::

    @circuit_breaker(failure_threshold=3, recovery_timeout=60)
    def call_external_api(): ...

    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=30.0, name="api_breaker")

    @breaker.call
    def call_api(): ...

    breaker.state == CircuitState.CLOSED
    breaker.stats.failure_count, breaker.stats.success_count
    breaker.reset()

The same breaker protects ``async def`` functions (``@breaker`` / ``breaker.call``
detect coroutine functions), generator functions (their iteration), and
blocks: ``with breaker.guard():`` / ``async with breaker.guard():``.

How it decides
--------------
By default the breaker trips after ``failure_threshold`` **consecutive**
failures (seed). With ``sliding_window=CountWindow(...)`` or
``TimeWindow(...)`` it instead trips when, over the last ``size`` calls or the
last ``seconds``, at least ``minimum_calls`` were recorded and the failure rate
(or the slow-call rate) reaches its threshold, as Resilience4j does;
``failure_threshold`` is then not used.

Only exceptions that are instances of ``expected_exception`` and not of
``exclude`` are failures. Every other exception (including ``BaseException``
such as ``KeyboardInterrupt`` or ``asyncio.CancelledError``) propagates
unchanged and is **ignored**, Resilience4j's ``ignoreExceptions`` semantics:
it counts neither as success nor as failure (``stats.ignored_count``; it does
not reset the consecutive-failure count either), but it does free a half-open
trial slot.

The errors of :data:`NOT_FAILURES` are always ignored, whatever ``exclude``
says: rejections by another pattern (``CircuitOpenError``,
``RateLimitExceeded``, ``BulkheadFullError``: the call was not made) and
failures of peak-trade's own store (``StoreError``): a Redis outage says
nothing about the exchange behind the breaker. A breaker that protects such a
call on purpose names the type in ``expected_exception``
(``expected_exception=StoreError``), which lifts its exclusion.
``OperationTimeoutError`` does count: the call was made and did not answer.

State transitions (the whole table; nothing else changes the state)::

    from        event                                                  to
    ---------   ----------------------------------------------------   ---------
    CLOSED      failure makes consecutive failures >= failure_threshold OPEN
                (window mode: rate >= threshold with >= minimum_calls)
    OPEN        a call arrives >= recovery_timeout after opening;      HALF_OPEN
                that call is the first trial call
    HALF_OPEN   success_threshold trial calls succeeded                CLOSED
    HALF_OPEN   a trial call failed (or, window mode, was slow)        OPEN
    any         open()                                                 OPEN
    any         force_open()                                           FORCED_OPEN
    any         disable()                                              DISABLED
    any         close() / reset()                                      CLOSED

OPEN rejects every call with :class:`~peak_trade.errors.CircuitOpenError`
(``retry_after`` = seconds until a trial is allowed) without calling the
function; the OPEN → HALF_OPEN move happens lazily, on the first call after the
timeout, so ``breaker.state`` reads OPEN until then. HALF_OPEN lets
``half_open_max_calls`` trial calls run at once and rejects the rest
(``retry_after=None``: it depends on the trials). FORCED_OPEN rejects everything
(``retry_after=None``) until ``close()``/``reset()``; DISABLED lets everything
through and records only statistics.

Outcomes of calls that were permitted before the last transition are counted
in the statistics but do not drive the new state: a slow call that started in
CLOSED and fails after the breaker went HALF_OPEN does not fail the trial.

One breaker for a fleet
-----------------------
With ``store=`` (a ``redis://`` store for several machines, ``sqlite:///`` for
several processes of one machine) the workers that use the same breaker name
share one breaker: a trip anywhere stops calls everywhere within
``sync_interval`` seconds, consecutive failures are counted across the fleet,
exactly one worker sends the trial call when the open period ends, and
operator actions (``force_open``, ``disable``, ``reset``...) apply to all.
Statistics stay per worker. The store may be a sync ``Store`` or an
``AsyncStore``: async calls await the store (a sync one is called from a
worker thread), never blocking the event loop; a breaker with an
``AsyncStore`` protects async code only. The protocol, and why the store can
fail without failing a call, is in :mod:`peak_trade.resilience._fleet`.

Structure
---------
Four parts, each in one place:

* the windows (:mod:`~peak_trade.resilience._windows`);
* the pure state machine (:mod:`~peak_trade.resilience._breaker_core`): it owns
  every transition and counter and answers ``ask`` with a ``Permit`` or a
  ``Rejected``;
* the fleet protocol (:mod:`~peak_trade.resilience._fleet`), whose steps yield
  store calls for a sync or an async driver;
* this module: :class:`_LocalBreaker`, the shell that holds one lock around the
  core's bookkeeping only, **never during the protected call**, reads the
  clock, and publishes events (built only when the bus has a subscriber) and
  logs after releasing the lock; :class:`CircuitBreaker`, the public face; and
  :func:`_protect`, the one wrapper factory for functions, ``async def``,
  generators and async generators (and :class:`_Guard` for blocks).

The common call is earned once, in the core: in CLOSED (or DISABLED) the core
exposes ``free_permit``, so a call needs no lock to start, and
``quiet_success`` settles a success that changes nothing but counters, so it
finishes with one short lock hold and no clock read. That holds in count
window mode too (a clean window takes its successes as a run), so a
count-window breaker costs what a default one does. Everything else (a
failure, a rejection, a half-open trial, a timed call, a fleet) takes the
full path through the same hooks.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from types import GeneratorType, TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, ParamSpec, TypeVar, cast

from peak_trade.clock import Clock, system_clock
from peak_trade.errors import (
    BulkheadFullError,
    CircuitOpenError,
    InvalidArgumentError,
    RateLimitExceeded,
    StoreError,
)
from peak_trade.events import UNWATCHED, EventBus
from peak_trade.logging import get_logger
from peak_trade.resilience import _fleet
from peak_trade.resilience._breaker_core import (
    BreakerCore,
    CircuitState,
    Permit,
    Rejected,
    Transition,
)
from peak_trade.resilience._catalog import NAMED
from peak_trade.resilience._contract import PatternKind, PatternStats
from peak_trade.resilience._events import (
    BreakerCallFailed,
    BreakerCallRejected,
    BreakerCallSucceeded,
    BreakerStateChanged,
)
from peak_trade.resilience._windows import CountWindow, TimeWindow
from peak_trade.resilience._wrap import CallKind, call_kind, describe, exception_types, wraps

if TYPE_CHECKING:
    from peak_trade.store import Store
    from peak_trade.store.aio import AsyncStore

__all__ = [
    "NOT_FAILURES",
    "CircuitBreaker",
    "CircuitBreakerStats",
    "CircuitState",
    "CountWindow",
    "TimeWindow",
    "circuit_breaker",
]

_log = get_logger("peak_trade.resilience.circuitbreaker")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]

Token = Permit | tuple[Permit, float]
"""What a call holds between its start and its end: its permit, plus its start
time (monotonic seconds) when the call is timed (slow-call detection, call events)."""

_CLOSED = CircuitState.CLOSED
_HALF_OPEN = CircuitState.HALF_OPEN


NOT_FAILURES: tuple[type[BaseException], ...] = (
    CircuitOpenError,
    RateLimitExceeded,
    BulkheadFullError,
    StoreError,
)
"""Never a failure of the protected service, unless ``expected_exception`` names the type."""


def _never_counted(expected: tuple[type[BaseException], ...]) -> tuple[type[BaseException], ...]:
    """The :data:`NOT_FAILURES` a breaker ignores: those ``expected_exception`` did not name."""
    return tuple(t for t in NOT_FAILURES if not any(issubclass(e, t) for e in expected))


@dataclass(frozen=True, slots=True)
class CircuitBreakerStats(PatternStats):
    """A consistent snapshot of a breaker's statistics (``breaker.stats``).

    ``total_calls`` counts every call that was rejected or has finished:
    ``success_count + failure_count + ignored_count + rejected_count`` (calls
    still in flight are not counted yet). ``last_failure_time`` is wall-clock
    seconds (``clock.time()``), None if nothing failed yet.
    """

    state: CircuitState
    total_calls: int
    success_count: int
    failure_count: int
    ignored_count: int
    rejected_count: int
    slow_call_count: int
    consecutive_failures: int
    state_changes: int
    last_failure_time: float | None
    last_state_change_time: float | None


# --------------------------------------------------------------------------- the local shell


def _split(token: Token) -> tuple[Permit, float | None]:
    """``(permit, start)``; ``start`` is None for an untimed call."""
    if isinstance(token, tuple):
        return token
    return token, None


class _LocalBreaker:
    """One worker's breaker: the core behind one lock, the clock, and the events.

    Implements :class:`peak_trade.resilience._fleet.Local`. Every method takes
    the lock for the core's bookkeeping only and publishes after releasing it.
    Whatever fails in the bookkeeping (a clock, a log handler), a permit goes
    back: a half-open trial slot is never lost.
    """

    __slots__ = (
        "_bus",
        "_clock",
        "_excluded",
        "_expected",
        "_watched",
        "core",
        "last_change_time",
        "last_failure_time",
        "lock",
        "mono",
        "name",
    )

    def __init__(
        self,
        core: BreakerCore,
        name: str,
        *,
        expected: tuple[type[BaseException], ...],
        excluded: tuple[type[BaseException], ...],
        clock: Clock,
        bus: EventBus | None,
    ) -> None:
        self.core = core
        self.name = name
        self._expected = expected
        self._excluded = excluded
        self._clock = clock
        self.mono = clock.monotonic
        self._bus = bus
        self._watched = (
            UNWATCHED if bus is None else bus.interest(BreakerCallSucceeded, BreakerCallFailed)
        )
        self.lock = threading.Lock()
        self.last_failure_time: float | None = None
        self.last_change_time: float | None = None

    # -- reading and changing the core

    def update(self, change: Callable[[BreakerCore], T]) -> T:
        with self.lock:
            result = change(self.core)
            changes = self.core.drain()
        if changes:
            self.publish_changes(changes)
        return result

    def stats(self) -> CircuitBreakerStats:
        with self.lock:
            c = self.core
            return CircuitBreakerStats(
                state=c.state,
                total_calls=c.total_calls,
                success_count=c.success_count,
                failure_count=c.failure_count,
                ignored_count=c.ignored_count,
                rejected_count=c.rejected_count,
                slow_call_count=c.slow_call_count,
                consecutive_failures=c.consecutive_failures,
                state_changes=c.state_changes,
                last_failure_time=self.last_failure_time,
                last_state_change_time=self.last_change_time,
            )

    def move(self, to: CircuitState, *, clear: bool) -> None:
        """An operator's move."""
        with self.lock:
            if clear:
                self.core.clear()
                self.last_failure_time = None
            self.core.move(to, self.mono())
            changes = self.core.drain()
        if changes:
            self.publish_changes(changes)

    def publish_changes(self, changes: tuple[Transition, ...]) -> None:
        at = self.last_change_time = self._clock.time()
        for frm, to in changes:
            log = _log.info if to.allows_calls or to is _HALF_OPEN else _log.warning
            log(
                "circuit breaker state changed",
                breaker=self.name,
                from_state=frm.value,
                to_state=to.value,
            )
        bus = self._bus
        if bus is None or not bus.wants(BreakerStateChanged):
            return
        for frm, to in changes:
            bus.publish(BreakerStateChanged(self.name, frm, to, at))

    # -- the steps of a call

    @property
    def timing(self) -> Any:
        """What says whether a call must be timed (``.active``): always when the core
        needs durations (slow calls), else while someone listens for call events."""
        return _ALWAYS if self.core.needs_duration else self._watched

    def enter(self, now: float | None = None) -> Token:
        """A token for a call, without asking (or locking) when the core has a free permit.

        ``now``: the clock's reading, if the caller has one (else read when needed).
        """
        core = self.core
        permit = core.free_permit
        if permit is None:
            return self.admit(self.mono() if now is None else now)
        if not (core.needs_duration or self._watched.active):
            return permit
        try:
            return permit, self.mono()
        except BaseException:
            self.release(permit)
            raise

    def admit(self, now: float) -> Token:
        """Ask the core; raise ``CircuitOpenError`` when it rejects."""
        core = self.core
        with self.lock:
            answer = core.ask(now)
            changes = core.drain()
        if isinstance(answer, Rejected):
            self.reject(answer)
        try:
            if changes:
                self.publish_changes(changes)
            if core.needs_duration or self._watched.active:
                return answer, self.mono()
        except BaseException:
            self.release(answer)  # the call will not be made: free its slot
            raise
        return answer

    def reject(self, rejected: Rejected) -> NoReturn:
        bus = self._bus
        if bus is not None and bus.wants(BreakerCallRejected):
            bus.publish(BreakerCallRejected(self.name, rejected.retry_after))
        raise CircuitOpenError(
            f"Circuit breaker {self.name!r} is {rejected.state.value}; the call was not made.",
            name=self.name,
            retry_after=rejected.retry_after,
        )

    def release(self, token: Token) -> None:
        """Hand a permit back without an outcome (counted as ignored; frees a trial slot)."""
        permit, _ = _split(token)
        with self.lock:
            self.core.ignored(permit)

    def counts(self, exc: BaseException) -> bool:
        return isinstance(exc, self._expected) and not isinstance(exc, self._excluded)

    def record_success(self, token: Token) -> tuple[Transition, ...]:
        if token.__class__ is tuple:
            permit, start = token
        else:
            permit, start = cast(Permit, token), None
        core, lock = self.core, self.lock
        lock.acquire()
        try:
            if start is None and core.quiet_success(permit):
                return ()
            told = False
            try:
                now = self.mono()
                duration = 0.0 if start is None else now - start
                core.succeeded(permit, now, duration)
                told = True
            finally:
                if not told:  # the clock failed: the permit still goes back
                    core.ignored(permit)
            changes = core.drain()
        finally:
            lock.release()
        if changes:
            self.publish_changes(changes)
        if start is not None:  # nobody listened when an untimed call began: counted, not reported
            bus = self._bus
            if bus is not None and bus.wants(BreakerCallSucceeded):
                bus.publish(BreakerCallSucceeded(self.name, duration))
        return changes

    def record_failure(
        self, token: Token, exc: BaseException, run: int | None = None
    ) -> tuple[Transition, ...]:
        if not self.counts(exc):
            self.release(token)
            return ()
        permit, start = _split(token)
        told = False
        try:
            now = self.mono()
            duration = 0.0 if start is None else now - start
            wall = self._clock.time()
            with self.lock:
                self.core.failed(permit, now, duration, run)
                told = True
                self.last_failure_time = wall
                changes = self.core.drain()
        finally:
            if not told:
                self.release(token)
        if changes:
            self.publish_changes(changes)
        bus = self._bus
        if bus is not None and bus.wants(BreakerCallFailed):
            bus.publish(BreakerCallFailed(self.name, duration, type(exc).__qualname__))
        return changes


class _Always:
    """An interest that is always active: every call is timed."""

    __slots__ = ()
    active = True


_ALWAYS = _Always()


class _AlwaysAsk:
    """Where a shared breaker's wrappers look for a free permit: never one (the fleet decides)."""

    __slots__ = ()
    free_permit = None


_ALWAYS_ASK = _AlwaysAsk()


# --------------------------------------------------------------------------- the breaker


class CircuitBreaker:
    """A circuit breaker; see the module docstring for the behaviour.

    Args:
        failure_threshold: consecutive failures that open the breaker (default mode).
        recovery_timeout: seconds OPEN before a trial call is let through.
        expected_exception: the exception type(s) that count as failures
            (never :data:`NOT_FAILURES` unless named here).
        name: shown in errors, events and metrics; defaults to the first
            decorated function's qualified name, else ``"circuit_breaker"``.
        exclude: exception types that never count, even if ``expected_exception``.
        half_open_max_calls: trial calls allowed at once in HALF_OPEN.
        success_threshold: successful trial calls needed to close again.
        sliding_window: :class:`CountWindow` / :class:`TimeWindow` for rate-based tripping.
        clock: time source (``ManualClock`` in tests).
        bus: event bus to publish ``Breaker*`` events on.
        store: share the breaker with every worker using this name and store:
            a sync ``Store`` (sync and async code), or an ``AsyncStore`` (async
            code only; protecting a sync function raises ``InvalidArgumentError``).
        sync_interval: with ``store``, seconds between reads of the shared state.
        trial_timeout: with ``store``, how long a worker's claim on the trial call
            holds (default: ``max(recovery_timeout, 1)``); a trial that takes
            longer lets another worker try.
        register: a breaker given a ``name`` is listed (weakly) by
            ``get_all_circuit_breakers()``; ``register=False`` keeps it out.
    """

    __slots__ = ("__weakref__", "_fleet", "_local", "_named")

    kind: ClassVar[PatternKind] = PatternKind.BREAKER

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 60.0,
        expected_exception: ExceptionTypes = Exception,
        name: str | None = None,
        *,
        exclude: ExceptionTypes = (),
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        sliding_window: CountWindow | TimeWindow | None = None,
        clock: Clock = system_clock,
        bus: EventBus | None = None,
        store: Store | AsyncStore | None = None,
        sync_interval: float = 1.0,
        trial_timeout: float | None = None,
        register: bool = True,
    ) -> None:
        for arg, value in (
            ("failure_threshold", failure_threshold),
            ("half_open_max_calls", half_open_max_calls),
            ("success_threshold", success_threshold),
        ):
            if not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(
                    f"{arg} must be an integer >= 1.",
                    hint="A breaker needs at least one call to decide anything.",
                    context={arg: value},
                )
        if not recovery_timeout >= 0:
            raise InvalidArgumentError(
                "recovery_timeout must be >= 0 seconds.",
                context={"recovery_timeout": recovery_timeout},
            )
        core = BreakerCore(
            failure_threshold=failure_threshold,
            recovery_timeout=float(recovery_timeout),
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            sliding_window=sliding_window,
        )
        expected = exception_types("expected_exception", expected_exception)
        excluded = exception_types("exclude", exclude, allow_empty=True) + _never_counted(expected)
        self._local = _LocalBreaker(
            core,
            name or "circuit_breaker",
            expected=expected,
            excluded=excluded,
            clock=clock,
            bus=bus,
        )
        self._named = name is not None
        self._fleet: _fleet.Fleet | None = None
        if store is not None:
            if not sync_interval >= 0 or not (trial_timeout is None or trial_timeout > 0):
                raise InvalidArgumentError(
                    "sync_interval must be >= 0 and trial_timeout > 0 seconds.",
                    context={"sync_interval": sync_interval, "trial_timeout": trial_timeout},
                )
            if name is None:
                raise InvalidArgumentError(
                    "A breaker shared through a store needs an explicit name.",
                    hint="Workers find the shared breaker by name: pass name='exchange.orders'.",
                )
            self._fleet = _fleet.Fleet(
                store,
                name,
                recovery_timeout=max(float(recovery_timeout), 0.001),
                sync_interval=float(sync_interval),
                trial_timeout=trial_timeout or max(float(recovery_timeout), 1.0),
            )
        if register and name is not None:
            NAMED.add(self)

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state.value})"

    @property
    def name(self) -> str:
        """Shown in errors, events, logs and metrics."""
        return self._local.name

    @name.setter
    def name(self, value: str) -> None:
        self._local.name = value

    # -- state and statistics

    @property
    def state(self) -> CircuitState:
        """The current state (OPEN stays OPEN until a call arrives after the timeout)."""
        return self._local.core.state

    @property
    def stats(self) -> CircuitBreakerStats:
        """A consistent snapshot of the statistics."""
        return self._local.stats()

    @property
    def retry_after(self) -> float | None:
        """Seconds until an OPEN breaker lets a trial call through; None in other states."""
        local = self._local
        with local.lock:
            return local.core.seconds_until_trial(local.mono())

    # -- manual control

    def _move(self, to: CircuitState, *, clear: bool = False) -> None:
        self._local.move(to, clear=clear)
        if self._fleet is not None:
            self._fleet.moved(to)

    def close(self) -> None:
        """Move to CLOSED now, keeping the lifetime statistics."""
        self._move(_CLOSED)

    def reset(self) -> None:
        """Move to CLOSED and clear every statistic (Resilience4j ``reset``)."""
        self._move(_CLOSED, clear=True)

    def open(self) -> None:
        """Trip the breaker now, as if the threshold had been reached.

        On an OPEN breaker the open period starts again (as Resilience4j's
        ``transitionToOpenState``); with a store, for the whole fleet.
        """
        self._move(CircuitState.OPEN)

    def force_open(self) -> None:
        """Reject every call until ``close()``/``reset()`` (no automatic recovery)."""
        self._move(CircuitState.FORCED_OPEN)

    def disable(self) -> None:
        """Let every call through and only record statistics, until ``close()``/``reset()``."""
        self._move(CircuitState.DISABLED)

    # -- the hooks every wrapper and the guard use: sync and async drivers of one protocol

    def _enter(self) -> Token:
        fleet, local = self._fleet, self._local
        if fleet is None:
            return local.enter()
        work = fleet.enter(local, local.mono())
        if work.__class__ is not GeneratorType:  # nothing of the store was needed
            return cast(Token, work)
        token: Token = fleet.run(work)
        return token

    async def _aenter(self) -> Token:
        fleet, local = self._fleet, self._local
        if fleet is None:
            return local.enter()
        token: Token = await fleet.arun(fleet.enter(local, local.mono()))
        return token

    def _ok(self, token: Token) -> None:
        fleet = self._fleet
        if fleet is None:
            self._local.record_success(token)
        elif (steps := fleet.succeeded(self._local, token)) is not None:
            fleet.run(steps)

    async def _aok(self, token: Token) -> None:
        fleet = self._fleet
        if fleet is None:
            self._local.record_success(token)
        elif (steps := fleet.succeeded(self._local, token)) is not None:
            await fleet.arun(steps)

    def _fail(self, token: Token, exc: BaseException) -> None:
        fleet = self._fleet
        if fleet is None:
            self._local.record_failure(token, exc, None)
        elif (steps := fleet.failed(self._local, token, exc)) is not None:
            fleet.run(steps)

    async def _afail(self, token: Token, exc: BaseException) -> None:
        fleet = self._fleet
        if fleet is None:
            self._local.record_failure(token, exc, None)
        elif (steps := fleet.failed(self._local, token, exc)) is not None:
            await fleet.arun(steps)

    # -- wrapping

    def call(self, func: Callable[P, R]) -> Callable[P, R]:
        """Wrap ``func`` so every call goes through the breaker.

        Usable as a decorator: ``@breaker.call`` (seed) or ``@breaker``. What
        ``func`` is (sync, ``async def`` or an object with an async
        ``__call__``, or a sync or async generator function) is decided here,
        once; see :func:`_protect`.
        """
        if not self._named:
            self.name = getattr(func, "__qualname__", self.name)
            self._named = True
        kind = call_kind(func)
        if self._fleet is not None and (kind is CallKind.SYNC or kind is CallKind.GENERATOR):
            self._fleet.refuse_sync(f"the {kind.value} {describe(func)!r}")
        return _protect(self, func, kind)

    __call__ = call

    def guard(self) -> _Guard:
        """A context manager protecting a block: ``with breaker.guard(): ...``.

        Also ``async with breaker.guard(): ...``. Entering raises
        :class:`CircuitOpenError` when the breaker rejects.
        """
        return _Guard(self)


class _Hooks:
    """What a wrapper of ``breaker`` calls, looked up once when it decorates.

    ``ready.free_permit`` and ``quiet`` (under ``acquire``/``release``) are the
    common call's shortcuts (see the module docstring), taken unless the call
    must be timed (``timing.active``); a shared breaker has neither, so its
    fleet is asked every time. The rest are the protocol's
    steps, each with a sync and an async driver.
    """

    __slots__ = (
        "acquire",
        "aenter",
        "afail",
        "aok",
        "drop",
        "enter",
        "fail",
        "ok",
        "quiet",
        "ready",
        "release",
        "timing",
    )

    def __init__(self, breaker: CircuitBreaker) -> None:
        local = breaker._local
        shared = breaker._fleet is not None
        self.ready: Any = _ALWAYS_ASK if shared else local.core
        self.quiet: Callable[[Any], bool] = local.core.quiet_success
        self.acquire, self.release = local.lock.acquire, local.lock.release
        self.timing = local.timing
        self.enter: Callable[[], Token]
        self.ok: Callable[[Token], object]
        self.fail: Callable[[Token, BaseException], object]
        if shared:
            self.enter, self.ok, self.fail = breaker._enter, breaker._ok, breaker._fail
        else:  # the same steps, one call less
            self.enter, self.ok, self.fail = local.enter, local.record_success, local.record_failure
        self.aenter, self.aok, self.afail = breaker._aenter, breaker._aok, breaker._afail
        self.drop = local.release


def _protect(breaker: CircuitBreaker, func: Callable[P, R], kind: CallKind) -> Callable[P, R]:
    """The one wrapper factory: ``func`` wrapped by ``breaker``, as a callable of the same kind.

    Every kind runs the same protocol (:class:`_Hooks`): a token before the
    call, then exactly one of success (``ok``), failure or ignored (``fail``
    decides by the exception) or, for a generator closed early, ``drop``. The
    kinds differ only in how they call ``func`` (plain, ``await``, ``yield
    from``, and its async twin by hand) and in which driver runs the steps.
    The sync and async wrappers start from the core's ``free_permit`` and
    settle a quiet success under the lock inline: that is the common call, and
    those few lines are all it costs.

    Generators: the wrapper is a generator function of the same kind. Its
    first ``next()`` (or ``__anext__``) asks for the permit, so creating a
    generator costs nothing and a rejection raises ``CircuitOpenError``
    there; the permit (a half-open trial slot included) is held until the
    generator ends. Running to the end is a success; an exception raised
    while iterating is a failure if ``expected_exception`` says so; a
    generator closed early (``close()``/``aclose()``, a ``break``, garbage
    collection: ``GeneratorExit``) is neither, and frees its slot.
    ``send``/``throw`` are passed on to the wrapped generator.
    """
    protected = _SHELLS[kind](func, _Hooks(breaker))
    protected.__dict__["breaker"] = breaker
    return cast(Callable[P, R], protected)


def _function_shell(func: Callable[..., Any], h: _Hooks) -> Callable[..., Any]:
    ready, timing, enter, ok, fail = h.ready, h.timing, h.enter, h.ok, h.fail
    acquire, release, quiet = h.acquire, h.release, h.quiet

    @wraps(func)
    def protected(*args: Any, **kwargs: Any) -> Any:
        token = ready.free_permit
        asked = token is None or timing.active
        if asked:
            token = enter()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            fail(token, exc)
            raise
        if not asked:
            acquire()
            try:
                settled = quiet(token)
            finally:
                release()
            if settled:
                return result
        ok(token)
        return result

    return protected


def _coroutine_shell(func: Callable[..., Any], h: _Hooks) -> Callable[..., Any]:
    ready, timing, aenter, aok, afail = h.ready, h.timing, h.aenter, h.aok, h.afail
    acquire, release, quiet = h.acquire, h.release, h.quiet
    afunc = cast(Callable[..., Awaitable[Any]], func)

    @wraps(func)
    async def protected(*args: Any, **kwargs: Any) -> Any:
        token = ready.free_permit
        asked = token is None or timing.active
        if asked:
            token = await aenter()
        try:
            result = await afunc(*args, **kwargs)
        except BaseException as exc:
            await afail(token, exc)
            raise
        if not asked:
            acquire()
            try:
                settled = quiet(token)
            finally:
                release()
            if settled:
                return result
        await aok(token)
        return result

    return protected


def _generator_shell(func: Callable[..., Any], h: _Hooks) -> Callable[..., Any]:
    enter, ok, fail, drop = h.enter, h.ok, h.fail, h.drop
    gen_func = cast(Callable[..., Generator[Any, Any, Any]], func)

    @wraps(func)
    def protected(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        token = enter()
        try:
            result = yield from gen_func(*args, **kwargs)
        except GeneratorExit:
            drop(token)
            raise
        except BaseException as exc:
            fail(token, exc)
            raise
        ok(token)
        return result

    return protected


def _async_generator_shell(func: Callable[..., Any], h: _Hooks) -> Callable[..., Any]:
    aenter, aok, afail, drop = h.aenter, h.aok, h.afail, h.drop
    agen_func = cast(Callable[..., AsyncGenerator[Any, Any]], func)

    @wraps(func)
    async def protected(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        token = await aenter()
        try:
            agen = agen_func(*args, **kwargs)
            sent: Any = None
            thrown: BaseException | None = None
            while True:  # ``yield from`` by hand: async generators have none
                try:
                    if thrown is None:
                        item = await agen.asend(sent)
                    else:
                        item = await agen.athrow(thrown)
                except StopAsyncIteration:
                    break
                sent, thrown = None, None
                try:
                    sent = yield item
                except GeneratorExit:
                    raise
                except BaseException as exc:  # noqa: BLE001 - the consumer threw it in: pass it on
                    thrown = exc
        except GeneratorExit:
            try:
                await agen.aclose()
            finally:
                drop(token)
            raise
        except BaseException as exc:
            await afail(token, exc)
            raise
        await aok(token)

    return protected


_SHELLS: dict[CallKind, Callable[[Callable[..., Any], _Hooks], Callable[..., Any]]] = {
    CallKind.SYNC: _function_shell,
    CallKind.ASYNC: _coroutine_shell,
    CallKind.GENERATOR: _generator_shell,
    CallKind.ASYNC_GENERATOR: _async_generator_shell,
}


class _Guard:
    """``with breaker.guard():`` / ``async with breaker.guard():``: the same hooks as a wrapper."""

    __slots__ = ("_breaker", "_token")

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker
        self._token: Token | None = None

    def _take(self) -> Token:
        token = self._token
        assert token is not None, "guard exited without being entered"
        self._token = None
        return token

    def __enter__(self) -> CircuitBreaker:
        self._token = self._breaker._enter()
        return self._breaker

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token = self._take()
        if exc is None:
            self._breaker._ok(token)
        else:
            self._breaker._fail(token, exc)

    async def __aenter__(self) -> CircuitBreaker:
        self._token = await self._breaker._aenter()
        return self._breaker

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token = self._take()
        if exc is None:
            await self._breaker._aok(token)
        else:
            await self._breaker._afail(token, exc)


def circuit_breaker(
    failure_threshold: int = 5,
    recovery_timeout: float = 60.0,
    expected_exception: ExceptionTypes = Exception,
    name: str | None = None,
    **options: Any,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator giving the function its own :class:`CircuitBreaker` (seed 000 C1).

    ``options`` are :class:`CircuitBreaker`'s keyword-only arguments (``exclude``,
    ``half_open_max_calls``, ``success_threshold``, ``sliding_window``, ``clock``,
    ``bus``, ``register``...). The breaker is reachable as ``decorated.breaker``;
    with a ``name`` it is listed by ``get_all_circuit_breakers()`` while the
    decorated function lives.
    """
    cb = CircuitBreaker(failure_threshold, recovery_timeout, expected_exception, name, **options)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        return cb.call(func)

    return decorate
