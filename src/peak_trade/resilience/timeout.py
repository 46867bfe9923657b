"""Timeout: give up on a call that runs past its deadline.

Async calls are cancelled at the deadline (``asyncio.timeout``). A sync call
cannot be interrupted safely in Python, so it runs in a worker thread and the
caller stops waiting at the deadline; the abandoned call finishes in the
background and its result is discarded. Either way the caller gets
:class:`~peak_trade.errors.OperationTimeoutError` (also a ``TimeoutError``).
Use timeouts of the client library (HTTP, Redis) where they exist; this is the
backstop for code that has none.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from peak_trade.errors import InvalidArgumentError, OperationTimeoutError
from peak_trade.events import Event, EventBus
from peak_trade.resilience._wrap import wrap

__all__ = ["Timeout", "TimedOut", "timeout"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class TimedOut(Event):
    """A call ran past its deadline."""

    name: str
    seconds: float


class Timeout:
    """``@Timeout(2.5)`` on a sync or async function."""

    _executor: concurrent.futures.ThreadPoolExecutor | None = None
    _executor_lock = threading.Lock()

    def __init__(
        self, seconds: float, *, name: str = "timeout", bus: EventBus | None = None
    ) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise InvalidArgumentError(
                f"A timeout must be a number of seconds > 0, got {seconds!r}",
                hint="Leave the timeout out instead of passing 0 to disable it.",
                context={"name": name},
            )
        self.seconds = float(seconds)
        self.name = name
        self._bus = bus

    @classmethod
    def _pool(cls) -> concurrent.futures.ThreadPoolExecutor:
        with cls._executor_lock:
            if cls._executor is None:
                cls._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=32, thread_name_prefix="peak_trade-timeout"
                )
            return cls._executor

    def _error(self) -> OperationTimeoutError:
        if self._bus is not None and self._bus.wants(TimedOut):
            self._bus.publish(TimedOut(self.name, self.seconds))
        return OperationTimeoutError(
            f"{self.name!r} did not finish within {self.seconds:g}s.",
            hint="The dependency is slow or hanging; check it, or raise the timeout if normal.",
            context={"operation": self.name, "timeout_seconds": self.seconds},
        )

    def _call_sync(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        future = self._pool().submit(func, *args, **kwargs)
        try:
            return future.result(timeout=self.seconds)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise self._error() from None

    async def _call_async(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                return await func(*args, **kwargs)
        except TimeoutError:
            if not deadline.expired():
                raise  # the callee's own TimeoutError, not our deadline
            raise self._error() from None

    def __call__(self, func: F) -> F:
        return wrap(func, self._call_sync, self._call_async)


def timeout(seconds: float, *, name: str = "timeout", bus: EventBus | None = None) -> Timeout:
    """Decorator form: ``@timeout(2.5)``."""
    return Timeout(seconds, name=name, bus=bus)
