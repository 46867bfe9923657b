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
detect coroutine functions), and ``with breaker.guard():`` /
``async with breaker.guard():`` protect a block.

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
Statistics stay per worker. The protocol, and why the store can fail without
failing a call, is in :mod:`peak_trade.resilience._fleet`.

Structure
---------
:class:`_BreakerCore` is the pure state machine: no locks, no I/O, no clock
reads; it is handed ``now`` (monotonic seconds) and call durations. The
:class:`CircuitBreaker` shell holds one lock around the core's bookkeeping only,
**never during the protected call**: a call to a CLOSED breaker takes it once,
after the call, to record the outcome (asking for a permit needs no bookkeeping
in CLOSED). It reads the clock only when the core needs it (``core.needs_time``:
never on the success path of a CLOSED breaker in the default mode), and
publishes events after releasing the lock, building them only when the bus has
a subscriber. State changes are also logged (``peak_trade.resilience.circuitbreaker``;
warning when calls start being rejected, info otherwise). The sync and async
shells (and :meth:`CircuitBreaker.guard`) share ``_before`` / ``_after_success``
/ ``_after_exception``.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

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
from peak_trade.resilience._catalog import Catalog
from peak_trade.resilience._events import (
    BreakerCallFailed,
    BreakerCallRejected,
    BreakerCallSucceeded,
    BreakerStateChanged,
)
from peak_trade.resilience._wrap import CallKind, call_kind, exception_types, wraps

if TYPE_CHECKING:
    from peak_trade.store import Store

__all__ = [
    "NAMED",
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

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


class CircuitState(enum.Enum):
    """The state of a breaker. ``metric_value`` is the seed 002 gauge value."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"

    @property
    def metric_value(self) -> int:
        """Gauge value: closed=0, half_open=1, open=2 (forced_open=2, disabled=0).

        FORCED_OPEN rejects like OPEN and DISABLED passes like CLOSED, so they
        report as those on the seed's three-valued gauge.
        """
        return _METRIC_VALUES[self]

    @property
    def allows_calls(self) -> bool:
        """True for the states that let calls through without a trial limit."""
        return self is CircuitState.CLOSED or self is CircuitState.DISABLED


_METRIC_VALUES = {
    CircuitState.CLOSED: 0,
    CircuitState.HALF_OPEN: 1,
    CircuitState.OPEN: 2,
    CircuitState.FORCED_OPEN: 2,
    CircuitState.DISABLED: 0,
}

_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN
_FORCED_OPEN = CircuitState.FORCED_OPEN
_DISABLED = CircuitState.DISABLED

_OPERATOR_VALUES: dict[CircuitState, bytes | None] = {
    _CLOSED: None,
    _OPEN: _fleet.OPEN,
    _HALF_OPEN: None,
    _FORCED_OPEN: _fleet.FORCED,
    _DISABLED: _fleet.DISABLED,
}
"""What an operator's move writes to the fleet's shared record (None: clear it)."""


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


# --------------------------------------------------------------------------- window configs


def _check_rate(name: str, value: float) -> None:
    if not 0 < value <= 100:
        raise InvalidArgumentError(
            f"{name} must be a percentage in (0, 100].",
            hint="Pass e.g. 50.0 for 50 %.",
            context={name: value},
        )


def _check_slow(duration: float | None, rate: float) -> None:
    if duration is not None and not duration > 0:
        raise InvalidArgumentError(
            "slow_call_duration must be positive (seconds) or None.",
            context={"slow_call_duration": duration},
        )
    _check_rate("slow_call_rate_threshold", rate)


def _check_thresholds(window: CountWindow | TimeWindow) -> None:
    """The checks both window kinds share."""
    if window.minimum_calls < 1:
        raise InvalidArgumentError(
            "minimum_calls must be at least 1.", context={"minimum_calls": window.minimum_calls}
        )
    _check_rate("failure_rate_threshold", window.failure_rate_threshold)
    _check_slow(window.slow_call_duration, window.slow_call_rate_threshold)


@dataclass(frozen=True, slots=True)
class CountWindow:
    """Trip on the rate of failures (or slow calls) over the last ``size`` calls.

    Rates are percentages (Resilience4j): ``failure_rate_threshold=50.0`` opens
    the breaker when half of the recorded calls failed, once at least
    ``minimum_calls`` calls were recorded (capped at ``size``). A call counts as
    slow when it took at least ``slow_call_duration`` seconds (``None``: no
    slow-call detection).
    """

    size: int = 100
    failure_rate_threshold: float = 50.0
    minimum_calls: int = 10
    slow_call_duration: float | None = None
    slow_call_rate_threshold: float = 100.0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise InvalidArgumentError(
                "CountWindow size must be at least 1.", context={"size": self.size}
            )
        _check_thresholds(self)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Trip on the rate of failures (or slow calls) over the last ``seconds`` seconds.

    Calls are aggregated in one-second buckets (as Resilience4j does), so the
    window slides in whole seconds. Thresholds are as for :class:`CountWindow`.
    """

    seconds: int = 60
    failure_rate_threshold: float = 50.0
    minimum_calls: int = 10
    slow_call_duration: float | None = None
    slow_call_rate_threshold: float = 100.0

    def __post_init__(self) -> None:
        if self.seconds < 1:
            raise InvalidArgumentError(
                "TimeWindow seconds must be at least 1.", context={"seconds": self.seconds}
            )
        _check_thresholds(self)


class _CountRing:
    """Outcomes of the last ``size`` calls with running totals (O(1) per call)."""

    __slots__ = ("calls", "failures", "index", "outcomes", "size", "slow")

    def __init__(self, size: int) -> None:
        self.size = size
        self.outcomes: list[int] = []  # bit 0: failed, bit 1: slow
        self.index = 0
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def record(self, now: float, failed: bool, slow: bool) -> None:
        code = int(failed) | (int(slow) << 1)
        if self.calls < self.size:
            self.outcomes.append(code)
            self.calls += 1
        else:
            old = self.outcomes[self.index]
            self.failures -= old & 1
            self.slow -= old >> 1
            self.outcomes[self.index] = code
            self.index = (self.index + 1) % self.size
        self.failures += failed
        self.slow += slow

    def totals(self, now: float) -> tuple[int, int, int]:
        return self.calls, self.failures, self.slow


class _TimeBuckets:
    """Per-second buckets ``[second, calls, failures, slow]`` covering the last ``seconds``."""

    __slots__ = ("buckets", "calls", "failures", "seconds", "slow")

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.buckets: deque[list[int]] = deque()
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def _evict(self, second: int) -> None:
        oldest_kept = second - self.seconds + 1
        buckets = self.buckets
        while buckets and buckets[0][0] < oldest_kept:
            _, calls, failures, slow = buckets.popleft()
            self.calls -= calls
            self.failures -= failures
            self.slow -= slow

    def record(self, now: float, failed: bool, slow: bool) -> None:
        second = int(now)
        self._evict(second)
        buckets = self.buckets
        if buckets and buckets[-1][0] == second:
            bucket = buckets[-1]
        else:
            bucket = [second, 0, 0, 0]
            buckets.append(bucket)
        bucket[1] += 1
        bucket[2] += failed
        bucket[3] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow

    def totals(self, now: float) -> tuple[int, int, int]:
        self._evict(int(now))
        return self.calls, self.failures, self.slow


# --------------------------------------------------------------------------- pure core

REJECTED = -1
"""What :meth:`_BreakerCore.before_call` returns instead of a permit."""

_UNTIMED = float("-inf")
"""Start time of a call whose duration nobody needs."""


class _BreakerCore:
    """The breaker's state machine. Pure: no locks, no I/O, no clock reads.

    ``before_call(now)`` returns a permit (the generation number, >= 0) or
    :data:`REJECTED` (then ``retry_after`` holds the seconds to wait, or None).
    The caller hands the permit back to exactly one of ``on_success``,
    ``on_failure`` or ``on_ignored``. Transitions are appended to ``pending``
    as ``(from_state, to_state)`` for the shell to publish. ``now`` is only
    looked at when ``needs_time`` is true; otherwise callers may pass ``0.0``.
    ``duration`` is only looked at when ``needs_duration`` is true.

    While ``admits`` is true (CLOSED, DISABLED) ``before_call`` changes nothing
    and returns ``generation``, so a shell may skip it (and its lock): reading
    ``generation`` *before* ``admits`` gives a permit that is either current
    or stale, and stale permits only update the statistics.
    """

    __slots__ = (
        "admits",
        "consecutive_failures",
        "failure_count",
        "failure_threshold",
        "generation",
        "half_open_in_flight",
        "half_open_max_calls",
        "half_open_successes",
        "ignored_count",
        "needs_duration",
        "needs_time",
        "opened_at",
        "pending",
        "recovery_timeout",
        "rejected_count",
        "retry_after",
        "slow_call_count",
        "slow_call_duration",
        "state",
        "state_changes",
        "success_count",
        "success_threshold",
        "window",
        "window_config",
    )

    def __init__(
        self,
        *,
        failure_threshold: int,
        recovery_timeout: float,
        half_open_max_calls: int,
        success_threshold: int,
        sliding_window: CountWindow | TimeWindow | None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.half_open_max_calls = half_open_max_calls
        self.success_threshold = success_threshold
        self.window_config = sliding_window
        self.slow_call_duration = sliding_window.slow_call_duration if sliding_window else None
        self.needs_duration = self.slow_call_duration is not None
        self.window: _CountRing | _TimeBuckets | None = None
        self.state = _CLOSED
        self.generation = 0
        self.opened_at = 0.0
        self.retry_after: float | None = None
        self.pending: list[tuple[CircuitState, CircuitState]] = []
        self.reset_counters()
        self.reset_window()
        self._update_needs_time()

    # -- bookkeeping helpers

    def reset_counters(self) -> None:
        self.success_count = 0
        self.failure_count = 0
        self.ignored_count = 0
        self.rejected_count = 0
        self.slow_call_count = 0
        self.state_changes = 0
        self.consecutive_failures = 0
        self.half_open_in_flight = 0
        self.half_open_successes = 0

    def reset_window(self) -> None:
        cfg = self.window_config
        if cfg is None:
            self.window = None
        elif isinstance(cfg, CountWindow):
            self.window = _CountRing(cfg.size)
        else:
            self.window = _TimeBuckets(cfg.seconds)

    def _update_needs_time(self) -> None:
        self.admits = self.state.allows_calls
        # a window may trip (opened_at) on any outcome; other states time their timeouts
        self.needs_time = not self.admits or self.window is not None

    def transition(self, to: CircuitState, now: float) -> None:
        """Move to ``to`` (no-op if already there), resetting that state's counters."""
        frm = self.state
        if frm is to:
            return
        # ``admits`` drops before ``generation`` moves and rises only after (in
        # _update_needs_time), so a lock-free reader of generation-then-admits
        # never pairs the new generation with the old state's admission.
        self.admits = False
        self.state = to
        self.generation += 1
        self.state_changes += 1
        self.consecutive_failures = 0
        self.half_open_in_flight = 0
        self.half_open_successes = 0
        if to is _OPEN:
            self.opened_at = now
        if to is _CLOSED:
            self.reset_window()
        self._update_needs_time()
        self.pending.append((frm, to))

    # -- the three events of a call

    def before_call(self, now: float) -> int:
        state = self.state
        if state is _CLOSED or state is _DISABLED:
            return self.generation
        if state is _OPEN:
            left = self.opened_at + self.recovery_timeout - now
            if left > 0:
                self.rejected_count += 1
                self.retry_after = left
                return REJECTED
            self.transition(_HALF_OPEN, now)
            self.half_open_in_flight = 1
            return self.generation
        if state is _HALF_OPEN and self.half_open_in_flight < self.half_open_max_calls:
            self.half_open_in_flight += 1
            return self.generation
        # FORCED_OPEN, or HALF_OPEN with every trial slot taken
        self.rejected_count += 1
        self.retry_after = None
        return REJECTED

    def _is_slow(self, duration: float) -> bool:
        limit = self.slow_call_duration
        return limit is not None and duration >= limit

    @property
    def total_calls(self) -> int:
        return self.success_count + self.failure_count + self.ignored_count + self.rejected_count

    def on_success(self, permit: int, now: float, duration: float) -> None:
        self.success_count += 1
        slow = self.needs_duration and self._is_slow(duration)
        if slow:
            self.slow_call_count += 1
        if permit != self.generation:
            return
        state = self.state
        if state is _CLOSED:
            self.consecutive_failures = 0
            if self.window is not None:
                self.window.record(now, False, slow)
                self._evaluate_window(now)
        elif state is _HALF_OPEN:
            self.half_open_in_flight -= 1
            if slow:
                self.transition(_OPEN, now)
                return
            self.half_open_successes += 1
            if self.half_open_successes >= self.success_threshold:
                self.transition(_CLOSED, now)

    def on_failure(self, permit: int, now: float, duration: float) -> None:
        self.failure_count += 1
        slow = self.needs_duration and self._is_slow(duration)
        if slow:
            self.slow_call_count += 1
        if permit != self.generation:
            return
        state = self.state
        if state is _CLOSED:
            if self.window is not None:
                self.window.record(now, True, slow)
                self._evaluate_window(now)
            else:
                self.consecutive_failures += 1
                if self.consecutive_failures >= self.failure_threshold:
                    self.transition(_OPEN, now)
        elif state is _HALF_OPEN:
            self.transition(_OPEN, now)

    def on_ignored(self, permit: int) -> None:
        self.ignored_count += 1
        if permit == self.generation and self.state is _HALF_OPEN:
            self.half_open_in_flight -= 1

    def _evaluate_window(self, now: float) -> None:
        cfg = self.window_config
        window = self.window
        assert cfg is not None
        assert window is not None
        calls, failures, slow = window.totals(now)
        minimum = cfg.minimum_calls
        if isinstance(window, _CountRing):
            minimum = min(minimum, window.size)
        if calls < minimum:
            return
        if failures * 100.0 >= cfg.failure_rate_threshold * calls or (
            cfg.slow_call_duration is not None
            and slow * 100.0 >= cfg.slow_call_rate_threshold * calls
        ):
            self.transition(_OPEN, now)

    def seconds_until_trial(self, now: float) -> float | None:
        if self.state is _OPEN:
            return max(0.0, self.opened_at + self.recovery_timeout - now)
        return None


# --------------------------------------------------------------------------- shell


@dataclass(frozen=True, slots=True)
class CircuitBreakerStats:
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
        store: share the breaker with every worker using this name and store.
        sync_interval: with ``store``, seconds between reads of the shared state.
        trial_timeout: with ``store``, how long a worker's claim on the trial call
            holds (default: ``max(recovery_timeout, 1)``); a trial that takes
            longer lets another worker try.
        register: a breaker given a ``name`` is listed (weakly) by
            ``get_all_circuit_breakers()``; ``register=False`` keeps it out.
    """

    __slots__ = (
        "__weakref__",
        "_bus",
        "_clock",
        "_core",
        "_excluded",
        "_expected",
        "_fleet",
        "_last_change_time",
        "_last_failure_time",
        "_lock",
        "_mono",
        "_named",
        "_next_sync",
        "_plain",
        "_watched",
        "name",
    )

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
        store: Store | None = None,
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
        self._core = _BreakerCore(
            failure_threshold=failure_threshold,
            recovery_timeout=float(recovery_timeout),
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            sliding_window=sliding_window,
        )
        self._expected = exception_types("expected_exception", expected_exception)
        self._excluded = exception_types("exclude", exclude, allow_empty=True) + _never_counted(
            self._expected
        )
        self.name = name or "circuit_breaker"
        self._named = name is not None
        self._clock = clock
        self._mono = clock.monotonic
        self._bus = bus
        # no slow-call detection: a call's duration matters only to call-event listeners
        self._plain = self._core.slow_call_duration is None
        self._watched = (
            UNWATCHED if bus is None else bus.interest(BreakerCallSucceeded, BreakerCallFailed)
        )
        self._lock = threading.Lock()
        self._last_failure_time: float | None = None
        self._last_change_time: float | None = None
        self._fleet: _fleet.Fleet | None = None
        self._next_sync = float("-inf")
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
            NAMED.add(name, self)

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self._core.state.value})"

    # -- state and statistics

    @property
    def state(self) -> CircuitState:
        """The current state (OPEN stays OPEN until a call arrives after the timeout)."""
        return self._core.state

    @property
    def stats(self) -> CircuitBreakerStats:
        """A consistent snapshot of the statistics."""
        with self._lock:
            c = self._core
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
                last_failure_time=self._last_failure_time,
                last_state_change_time=self._last_change_time,
            )

    @property
    def retry_after(self) -> float | None:
        """Seconds until an OPEN breaker lets a trial call through; None in other states."""
        with self._lock:
            return self._core.seconds_until_trial(self._mono())

    # -- manual control

    def _move(self, to: CircuitState, *, clear_stats: bool = False) -> None:
        with self._lock:
            core = self._core
            if clear_stats:
                core.reset_counters()
                core.reset_window()
                self._last_failure_time = None
            core.transition(to, self._mono())
            changes = self._drain()
        if changes:
            self._publish_changes(changes)
        if self._fleet is not None:
            self._fleet.forced(_OPERATOR_VALUES[to])

    def close(self) -> None:
        """Move to CLOSED now, keeping the lifetime statistics."""
        self._move(_CLOSED)

    def reset(self) -> None:
        """Move to CLOSED and clear every statistic (Resilience4j ``reset``)."""
        self._move(_CLOSED, clear_stats=True)

    def open(self) -> None:
        """Trip the breaker now, as if the threshold had been reached."""
        self._move(_OPEN)

    def force_open(self) -> None:
        """Reject every call until ``close()``/``reset()`` (no automatic recovery)."""
        self._move(_FORCED_OPEN)

    def disable(self) -> None:
        """Let every call through and only record statistics, until ``close()``/``reset()``."""
        self._move(_DISABLED)

    # -- the shared bookkeeping of both shells

    def _drain(self) -> list[tuple[CircuitState, CircuitState]] | None:
        core = self._core
        if not core.pending:
            return None
        changes = core.pending
        core.pending = []
        return changes

    def _publish_changes(self, changes: list[tuple[CircuitState, CircuitState]]) -> None:
        at = self._last_change_time = self._clock.time()
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

    def _before(self) -> tuple[int, float]:
        """Ask for a permit; raise CircuitOpenError when rejected. Returns (permit, start).

        In CLOSED/DISABLED no bookkeeping is needed, so no lock is taken (see
        :class:`_BreakerCore`); the one lock acquisition of a call is in ``_after_*``.
        """
        core = self._core
        permit = core.generation
        if not core.admits:
            permit = self._permit()
        if not (core.needs_duration or self._watched.active):
            return permit, _UNTIMED
        try:
            return permit, self._mono()
        except BaseException:
            self._release(permit)
            raise

    def _release(self, permit: int) -> None:
        """Hand a permit back without an outcome (counted as ignored; frees a trial slot)."""
        with self._lock:
            self._core.on_ignored(permit)

    def _sync(self, fleet: _fleet.Fleet) -> None:
        """Bring the local state machine in line with the fleet's shared verdict."""
        self._next_sync = self._mono() + fleet.sync_interval
        verdict = fleet.read()
        if verdict.kind is _fleet.VerdictKind.UNKNOWN:
            return
        with self._lock:
            self._apply(verdict)
            changes = self._drain() if self._core.pending else None
        if changes:
            self._publish_changes(changes)

    def _apply(self, verdict: _fleet.Verdict) -> None:
        """Move the local state machine to what the fleet says (lock held)."""
        core = self._core
        now = self._mono()
        kind = verdict.kind
        if kind is _fleet.VerdictKind.OPEN or kind is _fleet.VerdictKind.TRIAL:
            if core.state is not _OPEN:
                core.transition(_OPEN, now)
            core.opened_at = now + self._wait_for(verdict) - core.recovery_timeout
        elif kind is _fleet.VerdictKind.FORCED_OPEN:
            core.transition(_FORCED_OPEN, now)
        elif kind is _fleet.VerdictKind.DISABLED:
            core.transition(_DISABLED, now)
        elif kind is _fleet.VerdictKind.CLOSED:
            if core.state is not _HALF_OPEN:  # a local trial decides for itself
                core.transition(_CLOSED, now)  # recovered elsewhere
        elif core.state is _FORCED_OPEN or core.state is _DISABLED:
            core.transition(_CLOSED, now)  # an operator cleared it elsewhere

    def _claim_trial(self, fleet: _fleet.Fleet) -> None:
        """Before this worker's OPEN breaker sends a trial: claim the fleet's one trial."""
        core = self._core
        if core.state is not _OPEN or core.seconds_until_trial(self._mono()) != 0.0:
            return
        verdict = fleet.claim_trial()
        if verdict.kind is _fleet.VerdictKind.NONE:
            return  # ours: core.before_call moves to HALF_OPEN and lets it through
        with self._lock:  # another worker's trial or open period: wait for it
            self._apply(verdict)
            changes = self._drain() if core.pending else None
            rejected = not core.state.allows_calls
            if rejected:
                core.rejected_count += 1
        if changes:
            self._publish_changes(changes)
        if rejected:
            self._reject(self._wait_for(verdict) if core.state is _OPEN else None)

    def _wait_for(self, verdict: _fleet.Verdict) -> float:
        """How long to stay OPEN for a shared verdict, by the store's clock.

        An open period: until it ends. Another worker's trial: until its claim
        expires, but asking again every ``sync_interval``, because the trial
        usually ends (and closes the fleet) long before its claim would.
        """
        remaining = verdict.remaining if verdict.remaining is not None else 0.0
        if verdict.kind is _fleet.VerdictKind.TRIAL:
            assert self._fleet is not None
            return min(remaining, self._fleet.sync_interval)
        return remaining

    def _reject(self, retry_after: float | None) -> None:
        bus = self._bus
        if bus is not None and bus.wants(BreakerCallRejected):
            bus.publish(BreakerCallRejected(self.name, retry_after))
        raise CircuitOpenError(
            f"Circuit breaker {self.name!r} is {self._core.state.value}; the call was not made.",
            name=self.name,
            retry_after=retry_after,
        )

    def _share(self, changes: list[tuple[CircuitState, CircuitState]]) -> None:
        """Tell the fleet about the transitions this worker's own calls caused."""
        fleet = self._fleet
        if fleet is None:
            return
        for frm, to in changes:
            if to is _OPEN and frm is _HALF_OPEN:
                fleet.trial_failed()
            elif to is _OPEN:
                fleet.tripped()
            elif to is _CLOSED and frm is _HALF_OPEN:
                fleet.trial_succeeded()

    def _permit(self) -> int:
        core = self._core
        if self._fleet is not None:
            self._claim_trial(self._fleet)
        with self._lock:
            permit = core.before_call(self._mono() if core.needs_time else 0.0)
            retry_after = core.retry_after
            changes = self._drain() if core.pending else None
        if changes:
            try:
                self._publish_changes(changes)
                self._share(changes)
            except BaseException:
                if permit != REJECTED:
                    self._release(permit)  # the call will not be made: free its slot
                raise
        if permit == REJECTED:
            self._reject(retry_after)
        return permit

    def _after_success(self, token: tuple[int, float]) -> None:
        permit, start = token
        core = self._core
        timed = start != _UNTIMED
        told = False
        lock = self._lock
        lock.acquire()
        try:
            now = self._mono() if timed or core.needs_time else 0.0
            duration = now - start if timed else 0.0
            core.on_success(permit, now, duration)
            told = True
            changes = self._drain() if core.pending else None
        finally:
            if not told:  # the clock failed: the permit still goes back
                core.on_ignored(permit)
            lock.release()
        if changes:
            self._publish_changes(changes)
            self._share(changes)
        if not timed:
            return  # nobody listened when the call began: counted, not reported
        bus = self._bus
        if bus is not None and bus.wants(BreakerCallSucceeded):
            bus.publish(BreakerCallSucceeded(self.name, duration))

    # -- a shared breaker adds a sync before and a count reset after; a local one
    # -- pays nothing for the feature (``call`` picks the wrapper once)

    def _before_shared(self) -> tuple[int, float]:
        fleet = self._fleet
        assert fleet is not None
        if self._mono() >= self._next_sync:
            self._sync(fleet)
        return self._before()

    def _after_success_shared(self, token: tuple[int, float]) -> None:
        self._after_success(token)
        fleet = self._fleet
        assert fleet is not None
        if fleet.failures_dirty and self._core.state is _CLOSED:
            fleet.record_success()

    def _hooks(
        self,
    ) -> tuple[Callable[[], tuple[int, float]], Callable[[tuple[int, float]], None]]:
        """The (before, after_success) pair for this breaker: shared or local."""
        if self._fleet is not None:
            return self._before_shared, self._after_success_shared
        return self._before, self._after_success

    def _after_exception(self, token: tuple[int, float], exc: BaseException) -> None:
        permit, start = token
        core = self._core
        if not isinstance(exc, self._expected) or isinstance(exc, self._excluded):
            self._release(permit)
            return
        # Whatever fails in the bookkeeping below (a clock, a store), the permit
        # goes back: a half-open trial slot must never be lost.
        told = False
        try:
            now = self._mono()
            duration = 0.0 if start == _UNTIMED else now - start
            wall = self._clock.time()
            fleet_failures = None
            if self._fleet is not None and core.window is None and core.state is _CLOSED:
                fleet_failures = self._fleet.record_failure()  # store I/O: never under the lock
            with self._lock:
                if fleet_failures is not None and permit == core.generation:
                    # the fleet's run of failures (of which this one is the last) is the count
                    core.consecutive_failures = fleet_failures - 1
                core.on_failure(permit, now, duration)
                told = True
                self._last_failure_time = wall
                changes = self._drain() if core.pending else None
        finally:
            if not told:
                self._release(permit)
        if changes:
            self._publish_changes(changes)
            self._share(changes)
        bus = self._bus
        if bus is not None and bus.wants(BreakerCallFailed):
            bus.publish(BreakerCallFailed(self.name, duration, type(exc).__qualname__))

    # -- the shells

    def call(self, func: Callable[P, R]) -> Callable[P, R]:
        """Wrap ``func`` so every call goes through the breaker.

        Usable as a decorator: ``@breaker.call`` (seed) or ``@breaker``. What
        ``func`` is (sync, ``async def`` or an object with an async
        ``__call__``, or a sync or async generator function) is decided here,
        once; see :meth:`_generator_wrapper` for generators.
        """
        if not self._named:
            self.name = getattr(func, "__qualname__", self.name)
            self._named = True
        kind = call_kind(func)
        if kind.is_generator:
            before, after_success = self._hooks()
            return self._generator_wrapper(func, kind, before, after_success)
        if self._fleet is not None:
            return self._wrapper(func, kind, self._before_shared, self._after_success_shared)
        general = self._wrapper(func, kind, self._before, self._after_success)
        if not self._plain:
            return general
        return self._plain_wrapper(func, kind, general)

    def _wrapper(
        self,
        func: Callable[P, R],
        kind: CallKind,
        before: Callable[[], tuple[int, float]],
        after_success: Callable[[tuple[int, float]], None],
    ) -> Callable[P, R]:
        """Wrap ``func`` with a (before, after_success) pair of hooks."""
        after_exception = self._after_exception
        if kind is CallKind.ASYNC:
            afunc = cast(Callable[..., Awaitable[Any]], func)

            @wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = before()
                try:
                    result = await afunc(*args, **kwargs)
                except BaseException as exc:
                    after_exception(token, exc)
                    raise
                after_success(token)
                return result

            async_wrapper.__dict__["breaker"] = self
            return cast(Callable[P, R], async_wrapper)

        @wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            token = before()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                after_exception(token, exc)
                raise
            after_success(token)
            return result

        wrapper.__dict__["breaker"] = self
        return wrapper

    __call__ = call

    def _generator_wrapper(
        self,
        func: Callable[P, R],
        kind: CallKind,
        before: Callable[[], tuple[int, float]],
        after_success: Callable[[tuple[int, float]], None],
    ) -> Callable[P, R]:
        """Protect the *iteration* of a sync or async generator function (as pybreaker does).

        The wrapper is a generator function of the same kind. Its first
        ``next()`` (or ``__anext__``) asks for the permit, so creating a
        generator costs nothing and a rejection raises ``CircuitOpenError``
        there; the permit (a half-open trial slot included) is held until the
        generator ends. Running to the end is a success; an exception raised
        while iterating is a failure if ``expected_exception`` says so; a
        generator closed early (``close()``/``aclose()``, a ``break``, garbage
        collection: ``GeneratorExit``) is neither, and frees its slot.
        ``send``/``throw`` are passed on to the wrapped generator.
        """
        if kind is CallKind.ASYNC_GENERATOR:
            return self._async_generator_wrapper(func, before, after_success)
        after_exception, release = self._after_exception, self._release
        gen_func = cast(Callable[..., Generator[Any, Any, Any]], func)

        @wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            token = before()
            try:
                result = yield from gen_func(*args, **kwargs)
            except GeneratorExit:
                release(token[0])
                raise
            except BaseException as exc:
                after_exception(token, exc)
                raise
            after_success(token)
            return result

        gen_wrapper.__dict__["breaker"] = self
        return cast(Callable[P, R], gen_wrapper)

    def _async_generator_wrapper(
        self,
        func: Callable[P, R],
        before: Callable[[], tuple[int, float]],
        after_success: Callable[[tuple[int, float]], None],
    ) -> Callable[P, R]:
        """The async half of :meth:`_generator_wrapper` (delegates by hand: no ``yield from``)."""
        after_exception, release = self._after_exception, self._release
        agen_func = cast(Callable[..., AsyncGenerator[Any, Any]], func)

        @wraps(func)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            token = before()
            try:
                agen = agen_func(*args, **kwargs)
                sent: Any = None
                thrown: BaseException | None = None
                while True:
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
                    release(token[0])
                raise
            except BaseException as exc:
                after_exception(token, exc)
                raise
            after_success(token)

        agen_wrapper.__dict__["breaker"] = self
        return cast(Callable[P, R], agen_wrapper)

    def _plain_wrapper(
        self, func: Callable[P, R], kind: CallKind, general: Callable[P, R]
    ) -> Callable[P, R]:
        """The wrappers of a local breaker whose call durations nobody needs.

        This is the most common breaker and the one whose overhead users feel
        (pybreaker's decorator is the alternative), so a call costs the wrapper
        plus one small closure: a CLOSED/DISABLED breaker admits without the
        lock (see :class:`_BreakerCore`), and a success whose permit is current
        in CLOSED without a window is exactly what ``_BreakerCore.on_success``
        does in that case: count it and end the run of failures. Anything else
        goes through ``_after_success`` with an untimed token. While someone
        listens for call events (``self._watched``, kept current by the bus),
        calls take ``general`` instead, which times them. The sync and async
        wrappers differ only in the ``await``.
        """
        core, lock, after_exception = self._core, self._lock, self._after_exception
        permit_for, after_success, watched = self._permit, self._after_success, self._watched

        def succeeded(permit: int) -> None:
            lock.acquire()
            try:
                plain = permit == core.generation and core.state is _CLOSED and core.window is None
                if plain:
                    core.success_count += 1
                    core.consecutive_failures = 0
            finally:
                lock.release()
            if not plain:
                after_success((permit, _UNTIMED))

        if kind is CallKind.ASYNC:
            afunc = cast(Callable[..., Awaitable[Any]], func)
            ageneral = cast(Callable[..., Awaitable[Any]], general)

            @wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if watched.active:
                    return await ageneral(*args, **kwargs)
                permit = core.generation
                if not core.admits:
                    permit = permit_for()
                try:
                    result = await afunc(*args, **kwargs)
                except BaseException as exc:
                    after_exception((permit, _UNTIMED), exc)
                    raise
                succeeded(permit)
                return result

            async_wrapper.__dict__["breaker"] = self
            return cast(Callable[P, R], async_wrapper)

        @wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if watched.active:
                return general(*args, **kwargs)
            permit = core.generation
            if not core.admits:
                permit = permit_for()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                after_exception((permit, _UNTIMED), exc)
                raise
            succeeded(permit)
            return result

        wrapper.__dict__["breaker"] = self
        return wrapper

    def guard(self) -> _Guard:
        """A context manager protecting a block: ``with breaker.guard(): ...``.

        Also ``async with breaker.guard(): ...``. Entering raises
        :class:`CircuitOpenError` when the breaker rejects.
        """
        return _Guard(self)


NAMED: Catalog[CircuitBreaker] = Catalog("circuit breaker")
"""Breakers made with a ``name`` (and ``register=True``), weakly held: the default
instance ``get_all_circuit_breakers()`` lists; ``set_default_registry(None)`` clears it."""


class _Guard:
    __slots__ = ("_after", "_breaker", "_token")

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker
        self._token: tuple[int, float] | None = None
        self._after: Callable[[tuple[int, float]], None] | None = None

    def __enter__(self) -> CircuitBreaker:
        before, self._after = self._breaker._hooks()  # the exit pairs with this entry
        self._token = before()
        return self._breaker

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token = self._token
        assert token is not None, "guard exited without being entered"
        self._token = None
        if exc is None:
            assert self._after is not None
            self._after(token)
        else:
            self._breaker._after_exception(token, exc)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


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
