"""Fallback: answer with something useful when a call fails.

Three strategies (seed 003 "fallback strategies"), one decorator::

    @fallback(value=[])                         # a constant
    @fallback(func=lambda exc, *a, **kw: ...)   # computed from the error and the arguments
    @fallback(last_good=True, max_age=300)      # the last successful result for the same arguments

Only ``exceptions`` (default: ``Exception``) trigger the fallback; anything
else propagates. ``func`` may be ``async def`` (it is awaited) when the
decorated function is async too; an async ``func`` on a sync function is
refused at decoration, since a sync caller cannot await its answer. With
``last_good`` and no cached result yet, the original error propagates: there
is nothing better to return. A fallback taken is published as a
:class:`FallbackUsed` event, so a degraded answer is never silent.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from peak_trade.clock import Clock, system_clock
from peak_trade.errors import InvalidArgumentError
from peak_trade.events import EventBus
from peak_trade.resilience._catalog import NAMED
from peak_trade.resilience._contract import PatternEvent, PatternKind, PatternStats
from peak_trade.resilience._wrap import CallKind, call_kind, exception_types, wrap

__all__ = [
    "Fallback",
    "FallbackEvent",
    "FallbackStats",
    "FallbackStrategy",
    "FallbackUsed",
    "fallback",
]

F = TypeVar("F", bound=Callable[..., Any])
_MISSING = object()


class FallbackStrategy(StrEnum):
    """Where a fallback's answer comes from."""

    VALUE = "value"  # a constant
    FUNC = "func"  # func(exc, *args, **kwargs)
    LAST_GOOD = "last_good"  # the last successful result for the same arguments


@dataclass(frozen=True, slots=True)
class FallbackEvent(PatternEvent):
    """Base of every fallback event; ``name`` is the fallback's name."""

    kind: ClassVar[str] = PatternKind.FALLBACK


@dataclass(frozen=True, slots=True)
class FallbackUsed(FallbackEvent):
    """A call failed and the fallback answered instead."""

    strategy: FallbackStrategy
    exception_type: str


@dataclass(frozen=True, slots=True)
class FallbackStats(PatternStats):
    """A snapshot of a fallback (``fallback.stats``).

    ``used``: failed calls the fallback answered, with its ``strategy``;
    ``unavailable``: failed calls it had no answer for (``last_good`` with
    nothing fresh cached for those arguments), whose error propagated.
    """

    strategy: FallbackStrategy
    used: int
    unavailable: int


class Fallback:
    """See the module docstring. Exactly one of ``value``, ``func``, ``last_good``.

    Given a ``name`` (and ``register=True``) it is listed by the default registry.
    """

    kind: ClassVar[PatternKind] = PatternKind.FALLBACK

    def __init__(
        self,
        *,
        value: Any = _MISSING,
        func: Callable[..., Any] | None = None,
        last_good: bool = False,
        max_age: float | None = None,
        max_entries: int = 1024,
        exceptions: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        name: str | None = None,
        clock: Clock = system_clock,
        bus: EventBus | None = None,
        register: bool = True,
    ) -> None:
        chosen = [
            n
            for n, on in (
                (FallbackStrategy.VALUE, value is not _MISSING),
                (FallbackStrategy.FUNC, func is not None),
                (FallbackStrategy.LAST_GOOD, last_good),
            )
            if on
        ]
        if len(chosen) != 1:
            raise InvalidArgumentError(
                "A fallback needs exactly one of value=, func= or last_good=True.",
                hint="e.g. @fallback(value=None) or @fallback(last_good=True, max_age=60)",
                context={"given": [str(c) for c in chosen]},
            )
        if func is not None and not callable(func):
            raise InvalidArgumentError(
                f"fallback func must be callable, got {func!r}.",
                hint="func is called as func(exc, *args, **kwargs); use value= for a constant.",
                context={"name": name},
            )
        self.strategy = chosen[0]
        self._last_good = self.strategy is FallbackStrategy.LAST_GOOD  # read per call: a bool
        self._value = value
        self._func = func
        # decided once: an async fallback function's answer is awaited (async calls only)
        self._func_is_async = func is not None and call_kind(func) is CallKind.ASYNC
        self._max_age = max_age
        self._max_entries = max_entries
        self._exceptions = exception_types("exceptions", exceptions)
        self.name = name if name is not None else "fallback"
        self._clock = clock
        self._bus = bus
        self._lock = threading.Lock()
        self._cache: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._used = 0
        self._unavailable = 0
        if register and name is not None:
            NAMED.add(self)

    @property
    def stats(self) -> FallbackStats:
        """Answers given and missed so far (read without a lock)."""
        return FallbackStats(self.strategy, self._used, self._unavailable)

    @staticmethod
    def _key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable | None:
        key = (args, tuple(sorted(kwargs.items())))
        try:
            hash(key)
        except TypeError:
            return None  # unhashable arguments: no last-good caching for this call
        return key

    def _remember(self, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> None:
        key = self._key(args, kwargs)
        if key is None:
            return
        with self._lock:
            self._cache[key] = (self._clock.monotonic(), result)
            self._cache.move_to_end(key)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)

    def _recover(self, exc: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The fallback answer for ``exc``; re-raises ``exc`` when there is none."""
        if self.strategy is FallbackStrategy.VALUE:
            result = self._value
        elif self.strategy is FallbackStrategy.FUNC:
            assert self._func is not None
            result = self._func(exc, *args, **kwargs)
        else:
            key = self._key(args, kwargs)
            with self._lock:
                entry = self._cache.get(key) if key is not None else None
            if entry is None or (
                self._max_age is not None and self._clock.monotonic() - entry[0] > self._max_age
            ):
                self._unavailable += 1
                raise exc
            result = entry[1]
        self._used += 1
        if self._bus is not None and self._bus.wants(FallbackUsed):
            self._bus.publish(FallbackUsed(self.name, self.strategy, type(exc).__name__))
        return result

    def _call_sync(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            result = func(*args, **kwargs)
        except self._exceptions as exc:
            return self._recover(exc, args, kwargs)
        if self._last_good:
            self._remember(args, kwargs, result)
        return result

    async def _call_async(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            result = await func(*args, **kwargs)
        except self._exceptions as exc:
            answer = self._recover(exc, args, kwargs)
            return await answer if self._func_is_async else answer
        if self._last_good:
            self._remember(args, kwargs, result)
        return result

    def __call__(self, func: F) -> F:
        if self._func_is_async and call_kind(func) is not CallKind.ASYNC:
            assert self._func is not None
            raise InvalidArgumentError(
                f"The fallback func {_name_of(self._func)!r} is async, but "
                f"{_name_of(func)!r} is not: a sync caller cannot await the fallback's answer.",
                hint="Use a sync fallback function for sync functions (or make both async).",
                context={"name": self.name},
            )
        return wrap(func, self._call_sync, self._call_async, pattern="fallback")


def _name_of(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__qualname__", None) or func)


def fallback(
    *,
    value: Any = _MISSING,
    func: Callable[..., Any] | None = None,
    last_good: bool = False,
    max_age: float | None = None,
    exceptions: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    name: str | None = None,
    clock: Clock = system_clock,
    bus: EventBus | None = None,
    register: bool = True,
) -> Fallback:
    """Decorator form of :class:`Fallback`."""
    return Fallback(
        value=value,
        func=func,
        last_good=last_good,
        max_age=max_age,
        exceptions=exceptions,
        name=name,
        clock=clock,
        bus=bus,
        register=register,
    )
