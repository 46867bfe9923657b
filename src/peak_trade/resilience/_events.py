"""Events published by the circuit breaker and the retry decorator.

All are frozen, slotted dataclasses deriving from
:class:`~peak_trade.resilience._contract.PatternEvent` (``name`` and ``kind``),
so a subscriber to :class:`BreakerEvent` (or :class:`RetryEvent`) receives every
event of that pattern, and one to ``PatternEvent`` every pattern's. They are
only built when a subscriber wants them
(:meth:`peak_trade.events.EventBus.wants`), so an unobserved breaker pays nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from peak_trade.resilience._contract import PatternEvent, PatternKind

if TYPE_CHECKING:
    from peak_trade.resilience.circuitbreaker import CircuitState

__all__ = [
    "BreakerCallFailed",
    "BreakerCallRejected",
    "BreakerCallSucceeded",
    "BreakerEvent",
    "BreakerStateChanged",
    "GiveUpReason",
    "RetryAttempted",
    "RetryEvent",
    "RetryExhausted",
    "RetrySucceeded",
]


@dataclass(frozen=True, slots=True)
class BreakerEvent(PatternEvent):
    """Base of every circuit breaker event; ``name`` is the breaker's name."""

    kind: ClassVar[str] = PatternKind.BREAKER


@dataclass(frozen=True, slots=True)
class BreakerStateChanged(BreakerEvent):
    """The breaker moved from ``from_state`` to ``to_state`` at wall-clock time ``at``."""

    from_state: CircuitState
    to_state: CircuitState
    at: float


@dataclass(frozen=True, slots=True)
class BreakerCallSucceeded(BreakerEvent):
    """A permitted call returned after ``duration`` seconds."""

    duration: float


@dataclass(frozen=True, slots=True)
class BreakerCallFailed(BreakerEvent):
    """A permitted call raised an exception that counts as a failure."""

    duration: float
    exception_type: str


@dataclass(frozen=True, slots=True)
class BreakerCallRejected(BreakerEvent):
    """A call was rejected without being made; ``retry_after`` seconds, when known."""

    retry_after: float | None


class GiveUpReason(StrEnum):
    """Why a retry gave up (``RetryExhausted.reason``)."""

    ATTEMPTS = "attempts"  # max_attempts reached
    DEADLINE = "deadline"  # the next wait would pass the overall deadline


@dataclass(frozen=True, slots=True)
class RetryEvent(PatternEvent):
    """Base of every retry event; ``name`` is the retry's name (by default the function's)."""

    kind: ClassVar[str] = PatternKind.RETRY


@dataclass(frozen=True, slots=True)
class RetryAttempted(RetryEvent):
    """Attempt ``attempt`` failed; the next attempt follows after ``delay`` seconds."""

    attempt: int
    delay: float
    exception_type: str


@dataclass(frozen=True, slots=True)
class RetryExhausted(RetryEvent):
    """The retry gave up after ``attempts`` attempts, for ``reason``."""

    attempts: int
    exception_type: str
    reason: GiveUpReason


@dataclass(frozen=True, slots=True)
class RetrySucceeded(RetryEvent):
    """The call succeeded on attempt ``attempts`` (published only after at least one retry)."""

    attempts: int
