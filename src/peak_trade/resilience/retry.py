"""Retry with backoff (anchors: stamina, tenacity, AWS "Exponential Backoff and Jitter").

Seed API::

    @retry_with_backoff(max_attempts=3, base_delay=1.0, max_delay=60.0,
                        exponential=True, expected_exception=Exception)
    def unstable_operation(): ...

Works on ``async def`` functions too, and on objects whose ``__call__`` is
``async def`` (detected once, at decoration time). Generator functions are
refused at decoration (:class:`~peak_trade.errors.InvalidArgumentError`): a
generator that failed half-way cannot be re-run without repeating what it
already yielded. tenacity does not support them either (its docs say so);
decorating one there retries only the generator's creation, which never fails.

Schedule
--------
After failed attempt ``n`` (1-based) the wait is:

* ``exponential=True`` (default): ``cap = min(max_delay, base_delay * 2 ** (n - 1))``,
  i.e. 1 s, 2 s, 4 s, 8 s ... for ``base_delay=1``; with ``jitter=True``
  (default) the wait is drawn uniformly from ``[0, cap]`` -- AWS's **full
  jitter**, which spreads the retries of many clients best. ``jitter=False``
  waits exactly ``cap``.
* ``exponential=False``: exactly ``min(base_delay, max_delay)`` every time
  (the seed's "constant backoff"; never jittered).

Then:

* If the exception has a numeric ``retry_after`` attribute (e.g.
  :class:`~peak_trade.errors.ExchangeRateLimitedError`, a server's
  ``Retry-After``), the wait is at least that long (``max_delay`` does not
  shorten it).
* With ``deadline`` (seconds from the first attempt), a wait that would end
  past the deadline is not started: the retry gives up at once instead.

Which exceptions are retried
----------------------------
Instances of ``expected_exception`` for which ``retry_if(exc)`` (if given) is
true. :class:`~peak_trade.errors.CircuitOpenError` is **never** retried: a
breaker that refused the call must not be hammered. Everything else propagates
at once, untouched.

When the retry gives up (attempts used up, or the deadline), the **original**
exception is re-raised with its traceback, carrying a PEP 678 note such as
``"retry_with_backoff: gave up after 3 attempts (max_attempts reached)"``.

With seed 001's decorator order -- ``@circuit_breaker`` above
``@retry_with_backoff`` -- the breaker sees one call per retried call: a call
that exhausts its retries is **one** breaker failure, and an open breaker
rejects before any attempt is made.

Testing
-------
``set_testing(True, attempts=1)`` (as stamina does) removes every wait and
makes each retried call use ``attempts`` attempts; use it as a context manager
to restore the previous mode on exit. It lives on :data:`testing`, the
documented default :class:`RetryTesting` instance.

Each retry is logged at info and giving up at warning
(``peak_trade.resilience.retry``).

Structure
---------
:class:`Retry` is the policy core (the delay schedule, which errors to
retry, when to give up); each call gets a small :class:`_Attempts` cursor. The
sync and async shells only call the function, and sleep with ``clock.sleep`` or
``await clock.asleep``.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, ParamSpec, Protocol, TypeVar, cast

from peak_trade.clock import Clock, system_clock
from peak_trade.errors import CircuitOpenError, InvalidArgumentError
from peak_trade.events import EventBus
from peak_trade.logging import get_logger
from peak_trade.resilience._catalog import NAMED
from peak_trade.resilience._contract import PatternKind, PatternStats
from peak_trade.resilience._events import (
    GiveUpReason,
    RetryAttempted,
    RetryExhausted,
    RetrySucceeded,
)
from peak_trade.resilience._wrap import (
    CallKind,
    call_kind,
    exception_types,
    refuse_generators,
    wraps,
)

__all__ = [
    "Retry",
    "RetryDecorator",
    "RetryStats",
    "RetryTesting",
    "is_testing",
    "retry_with_backoff",
    "set_testing",
    "testing",
]

_log = get_logger("peak_trade.resilience.retry")

P = ParamSpec("P")
Q = ParamSpec("Q")
R = TypeVar("R")

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


class RetryTesting:
    """The testing switch: when ``enabled``, retries never wait.

    ``attempts`` replaces every policy's ``max_attempts`` (or, with ``cap=True``,
    caps it). One default instance, :data:`testing`, is used by every retry
    that is not given its own ``testing=`` object; tests reset it with
    ``testing.set(False)`` or by using :meth:`set` as a context manager.
    """

    __slots__ = ("attempts", "cap", "enabled")

    def __init__(self) -> None:
        self.enabled = False
        self.attempts = 1
        self.cap = False

    def set(self, enabled: bool, *, attempts: int = 1, cap: bool = False) -> _Restore:
        """Switch testing mode; the result restores the previous mode when used in ``with``."""
        if attempts < 1:
            raise InvalidArgumentError(
                "attempts must be at least 1.", context={"attempts": attempts}
            )
        previous = (self.enabled, self.attempts, self.cap)
        self.enabled = enabled
        self.attempts = attempts
        self.cap = cap
        return _Restore(self, previous)

    def max_attempts(self, configured: int) -> int:
        if not self.enabled:
            return configured
        return min(configured, self.attempts) if self.cap else self.attempts


class _Restore:
    __slots__ = ("_previous", "_testing")

    def __init__(self, testing: RetryTesting, previous: tuple[bool, int, bool]) -> None:
        self._testing = testing
        self._previous = previous

    def __enter__(self) -> RetryTesting:
        return self._testing

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        t = self._testing
        t.enabled, t.attempts, t.cap = self._previous


testing = RetryTesting()
"""The default testing switch (see :func:`set_testing`)."""

_default_testing = testing


def set_testing(enabled: bool, *, attempts: int = 1, cap: bool = False) -> _Restore:
    """Turn retry testing mode on or off for every retry using the default switch.

    In testing mode retries never wait and make ``attempts`` attempts
    (``cap=True``: at most ``attempts``, fewer if the policy says so). Use the
    return value as a context manager to restore the previous mode::

        with set_testing(True, attempts=2):
            ...
    """
    return testing.set(enabled, attempts=attempts, cap=cap)


def is_testing() -> bool:
    """True while the default switch has testing mode on."""
    return testing.enabled


@dataclass(frozen=True, slots=True)
class RetryStats(PatternStats):
    """A snapshot of a retry (``retry.stats``).

    ``calls``: retried calls started (each once, however many attempts it
    took); ``retries``: attempts after a first one; ``succeeded_after_retry``:
    calls that succeeded on a later attempt; ``exhausted``: calls it gave up
    on, by :class:`GiveUpReason` (every reason present).
    """

    calls: int
    retries: int
    succeeded_after_retry: int
    exhausted: Mapping[GiveUpReason, int]

    @property
    def gave_up(self) -> int:
        """Calls the retry gave up on, for any reason."""
        return sum(self.exhausted.values())


class Retry:
    """A named retry policy with statistics; ``@Retry(...)`` decorates sync or async functions.

    Args:
        max_attempts: total attempts, the first one included.
        base_delay: first wait (exponential) or every wait (constant), seconds.
        max_delay: cap on the exponential wait, seconds.
        exponential: exponential (default) or constant backoff.
        expected_exception: exception type(s) that are retried.
        jitter: full jitter on exponential waits (default on).
        deadline: overall seconds from the first attempt; never waits past it.
        retry_if: extra predicate; an exception is retried only if it returns true.
        clock: time source and sleeper (``ManualClock`` in tests).
        bus: event bus for ``Retry*`` events.
        rng: random source for jitter (seed it for reproducible schedules).
        name: name in events, logs and stats; default: the qualified name of
            the first function it decorates.
        testing: testing switch; defaults to the module's :data:`testing`.
        register: a retry given a ``name`` is listed (weakly) by the default
            registry; ``register=False`` keeps it out.

    Every function it decorates shares its name and its statistics
    (:func:`retry_with_backoff` without a ``name`` makes one per function).

    It is also the policy core: the delay schedule, which errors to retry,
    when to give up. Each call gets a small :class:`_Attempts` cursor from
    :meth:`start`.
    """

    kind: ClassVar[PatternKind] = PatternKind.RETRY

    __slots__ = (
        "__weakref__",
        "_exhausted",
        "_named",
        "base_delay",
        "bus",
        "calls",
        "clock",
        "deadline",
        "expected",
        "exponential",
        "jitter",
        "max_attempts",
        "max_delay",
        "name",
        "retries",
        "retry_if",
        "rng",
        "succeeded_after_retry",
        "testing",
    )

    def __init__(
        self,
        max_attempts: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        exponential: bool = True,
        expected_exception: ExceptionTypes = Exception,
        *,
        jitter: bool = True,
        deadline: float | None = None,
        retry_if: Callable[[BaseException], bool] | None = None,
        clock: Clock = system_clock,
        bus: EventBus | None = None,
        rng: random.Random | None = None,
        name: str | None = None,
        testing: RetryTesting | None = None,
        register: bool = True,
    ) -> None:
        if max_attempts < 1:
            raise InvalidArgumentError(
                "max_attempts must be at least 1.",
                hint="max_attempts counts the first call too; 1 means no retry.",
                context={"max_attempts": max_attempts},
            )
        if base_delay < 0 or max_delay < 0:
            raise InvalidArgumentError(
                "base_delay and max_delay must be >= 0 seconds.",
                context={"base_delay": base_delay, "max_delay": max_delay},
            )
        if deadline is not None and deadline <= 0:
            raise InvalidArgumentError(
                "deadline must be positive (seconds) or None.", context={"deadline": deadline}
            )
        if retry_if is not None and not callable(retry_if):
            raise InvalidArgumentError(
                f"retry_if must be a callable taking the exception, got {retry_if!r}.",
                hint="e.g. retry_if=lambda exc: getattr(exc, 'status', None) == 503",
            )
        self.expected = exception_types("expected_exception", expected_exception)
        self.max_attempts = max_attempts
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.exponential = exponential
        self.jitter = jitter
        self.deadline = deadline
        self.retry_if = retry_if
        self.clock = clock
        self.bus = bus
        self.rng = rng if rng is not None else random.Random()
        self.name = name if name is not None else "retry"
        self._named = name is not None
        self.testing = testing if testing is not None else _default_testing
        self.calls = 0
        self.retries = 0
        self.succeeded_after_retry = 0
        self._exhausted = dict.fromkeys(GiveUpReason, 0)
        if register and name is not None:
            NAMED.add(self)

    @property
    def stats(self) -> RetryStats:
        """Calls, retries and give-ups so far (read without a lock)."""
        return RetryStats(
            self.calls, self.retries, self.succeeded_after_retry, dict(self._exhausted)
        )

    def backoff(self, failed_attempts: int) -> float:
        """The wait after ``failed_attempts`` failures, before ``retry_after`` and deadline."""
        if not self.exponential:
            return min(self.base_delay, self.max_delay)
        # the exponent is capped: 2.0 ** 1100 raises OverflowError, and 2 ** 1000
        # is past any max_delay anyway
        cap = min(self.max_delay, self.base_delay * 2.0 ** min(failed_attempts - 1, 1000))
        return self.rng.uniform(0.0, cap) if self.jitter else cap

    def retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, CircuitOpenError) or not isinstance(exc, self.expected):
            return False
        return self.retry_if is None or bool(self.retry_if(exc))

    def start(self) -> _Attempts:
        """A cursor for one retried call (counted)."""
        self.calls += 1
        t = self.testing
        if t.enabled:
            return _Attempts(self, t.max_attempts(self.max_attempts), True)
        return _Attempts(self, self.max_attempts, False)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``func`` (sync or ``async def``); generator functions are refused."""
        kind = call_kind(func)
        refuse_generators(func, "retry_with_backoff", kind)
        if not self._named:
            self.name = str(getattr(func, "__qualname__", self.name))
            self._named = True
        wrapper = _retrying(self, func, kind)
        wrapper.__dict__["retry"] = self  # reachable as decorated.retry
        return wrapper

    def __repr__(self) -> str:
        return f"Retry(name={self.name!r}, max_attempts={self.max_attempts})"


def _retrying(policy: Retry, func: Callable[P, R], kind: CallKind) -> Callable[P, R]:
    """``func`` wrapped in ``policy``'s loop: ``clock.sleep`` or ``await clock.asleep``."""
    clock = policy.clock
    if kind is CallKind.ASYNC:
        afunc = cast(Callable[..., Awaitable[Any]], func)

        @wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            attempts = policy.start()
            while True:
                try:
                    result = await afunc(*args, **kwargs)
                except BaseException as exc:
                    delay = attempts.on_error(exc)
                    if delay is None:
                        raise
                    if delay > 0:
                        await clock.asleep(delay)
                    continue
                attempts.on_success()
                return result

        return cast(Callable[P, R], async_wrapper)

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        attempts = policy.start()
        while True:
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                delay = attempts.on_error(exc)
                if delay is None:
                    raise
                if delay > 0:
                    clock.sleep(delay)
                continue
            attempts.on_success()
            return result

    return wrapper


def _retry_after(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


class _Attempts:
    """One retried call: counts attempts and decides what follows a failure."""

    __slots__ = ("attempt", "max_attempts", "no_wait", "policy", "started")

    def __init__(self, policy: Retry, max_attempts: int, no_wait: bool) -> None:
        self.policy = policy
        self.max_attempts = max_attempts
        self.no_wait = no_wait
        self.attempt = 1
        self.started = policy.clock.monotonic() if policy.deadline is not None else 0.0

    def on_error(self, exc: BaseException) -> float | None:
        """The seconds to wait before the next attempt, or None to re-raise ``exc``."""
        policy = self.policy
        if not policy.retryable(exc):
            return None
        attempt = self.attempt
        if attempt >= self.max_attempts:
            self._give_up(exc, GiveUpReason.ATTEMPTS, "max_attempts reached")
            return None
        if self.no_wait:
            delay = 0.0
        else:
            delay = policy.backoff(attempt)
            hinted = _retry_after(exc)
            if hinted is not None and hinted > delay:
                delay = hinted
            if policy.deadline is not None:
                elapsed = policy.clock.monotonic() - self.started
                if elapsed + delay > policy.deadline:
                    self._give_up(exc, GiveUpReason.DEADLINE, f"deadline of {policy.deadline:g}s")
                    return None
        self.attempt = attempt + 1
        policy.retries += 1
        _log.info(
            "retrying",
            function=policy.name,
            attempt=attempt,
            delay=delay,
            error=type(exc).__qualname__,
        )
        bus = policy.bus
        if bus is not None and bus.wants(RetryAttempted):
            bus.publish(RetryAttempted(policy.name, attempt, delay, type(exc).__qualname__))
        return delay

    def _give_up(self, exc: BaseException, reason: GiveUpReason, detail: str) -> None:
        policy = self.policy
        policy._exhausted[reason] += 1
        attempts = self.attempt
        plural = "attempt" if attempts == 1 else "attempts"
        exc.add_note(f"retry_with_backoff: gave up after {attempts} {plural} ({detail})")
        _log.warning(
            "retries exhausted",
            function=policy.name,
            attempts=attempts,
            reason=reason.value,
            detail=detail,
            error=type(exc).__qualname__,
        )
        bus = policy.bus
        if bus is not None and bus.wants(RetryExhausted):
            bus.publish(RetryExhausted(policy.name, attempts, type(exc).__qualname__, reason))

    def on_success(self) -> None:
        if self.attempt > 1:
            policy = self.policy
            policy.succeeded_after_retry += 1
            bus = policy.bus
            if bus is not None and bus.wants(RetrySucceeded):
                bus.publish(RetrySucceeded(policy.name, self.attempt))


class RetryDecorator(Protocol):
    """What :func:`retry_with_backoff` returns: decorates a sync or async function."""

    def __call__(self, func: Callable[P, R], /) -> Callable[P, R]: ...


def _one_per_function(make: Callable[Q, Retry]) -> Callable[Q, RetryDecorator]:
    """A decorator factory taking ``make``'s arguments: a named :class:`Retry` serves
    every function it decorates; an unnamed one is made anew for each, named after it."""

    def factory(*args: Q.args, **kwargs: Q.kwargs) -> RetryDecorator:
        named = make(*args, **kwargs)  # checks the arguments now, not at decoration
        if named._named:
            return named

        def decorate(func: Callable[P, R]) -> Callable[P, R]:
            return make(*args, **kwargs)(func)

        return decorate

    # help() and inspect.signature show make's arguments
    signature = inspect.signature(make).replace(return_annotation=RetryDecorator)
    factory.__signature__ = signature  # type: ignore[attr-defined]
    return factory


retry_with_backoff = _one_per_function(Retry)
retry_with_backoff.__name__ = retry_with_backoff.__qualname__ = "retry_with_backoff"
retry_with_backoff.__doc__ = """Retry the decorated sync or ``async def`` function (see the module).

Takes :class:`Retry`'s arguments (seed 000: ``max_attempts``, ``base_delay``,
``max_delay``, ``exponential``, ``expected_exception``; then ``jitter``,
``deadline``, ``retry_if``, ``clock``, ``bus``, ``rng``, ``name``, ``testing``,
``register``). With a ``name``, every function it decorates shares one
:class:`Retry` (its statistics too), listed by the default registry; without,
each function gets its own, named after it. The :class:`Retry` is reachable as
``decorated.retry`` (``.stats``, ``.name``).
"""
