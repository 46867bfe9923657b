"""The contract every resilience pattern keeps, so observers need no special cases.

A pattern (breaker, retry, rate limiter, bulkhead, timeout, fallback, or one
you add) is an object with

* ``kind``: which pattern it is, a class constant (a :class:`PatternKind` for
  the built-in ones; a pattern defined elsewhere may use any string);
* ``name``: which instance, as shown in errors, logs, events and metrics;
* ``stats``: a frozen snapshot of its counters (a :class:`PatternStats`
  dataclass), readable at any time; the counters are plain integers the hot
  path updates as it goes, so reading them never slows a call down;

and its events derive from :class:`PatternEvent`, which carries ``name`` (a
field) and ``kind`` (a class constant, so an event costs no more to build).
A subscriber to :class:`PatternEvent` receives every pattern's events; a
registry (:class:`~peak_trade.resilience.ResilienceRegistry`) finds every
pattern by kind and name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

from peak_trade.events import Event

__all__ = ["Pattern", "PatternEvent", "PatternKind", "PatternStats"]


class PatternKind(StrEnum):
    """The built-in resilience patterns."""

    BREAKER = "breaker"
    RETRY = "retry"
    RATE_LIMITER = "rate_limiter"
    BULKHEAD = "bulkhead"
    TIMEOUT = "timeout"
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class PatternEvent(Event):
    """Base of every resilience pattern's events.

    ``name`` is the publishing pattern's name; ``kind`` is a class constant of
    each pattern's own base (``BreakerEvent.kind is PatternKind.BREAKER``).
    """

    kind: ClassVar[str]
    name: str


@dataclass(frozen=True, slots=True)
class PatternStats:
    """Base of every pattern's statistics snapshot (``pattern.stats``)."""


class Pattern(Protocol):
    """What the registry, metrics and health read from any resilience pattern."""

    @property
    def kind(self) -> str:
        """Which pattern: a :class:`PatternKind` for the built-in ones."""
        ...

    @property
    def name(self) -> str:
        """Which instance."""
        ...

    @property
    def stats(self) -> PatternStats:
        """A frozen snapshot of its counters."""
        ...
