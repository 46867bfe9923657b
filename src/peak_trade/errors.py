"""Every error peak-trade raises, in one place.

Each error is a :class:`PeakTradeError`: it carries a human ``message``, a
``hint`` telling the user what to do about it, and a ``context`` dict with the
facts (key, file, values) that led to it. ``str(err)`` shows all three, so a
log line or a traceback is enough to act on. Errors that also have a natural
built-in meaning inherit from that built-in too (``InvalidArgumentError`` is a
``ValueError``, ``OperationTimeoutError`` is a ``TimeoutError``), so existing
``except`` clauses keep working.

Exceptions from drivers (redis, sqlite3, ccxt, ``OSError``) never leave the
package raw: they are wrapped in the matching error below with the original
as ``__cause__``.

The tree::

    PeakTradeError
    ├── InvalidArgumentError (ValueError)   a call with arguments that can never work
    ├── ConfigError                         a config value is unknown, mistyped or out of range
    ├── DataContractError                   market data violates the OHLCV contract
    ├── CacheCorruptionError                a cached file does not match its checksum or manifest
    ├── CacheIOError                        a data file cannot be read or written (disk, rights)
    │   └── CacheFileNotFoundError          the file does not exist
    ├── BacktestInvariantError              a backtest engine invariant was broken
    ├── ProviderError                       an external service (exchange, API) failed
    │   └── ExchangeError
    │       ├── ExchangeUnavailableError    network failure, 5xx, maintenance (retryable)
    │       ├── ExchangeRateLimitedError    HTTP 429: over the request weight; honours retry_after
    │       ├── ExchangeBannedError         HTTP 418: IP banned until ``retry_after``
    │       ├── OrderRejectedError          the exchange refused the order (not retryable)
    │       └── AmbiguousOrderError         the order may or may not exist: reconcile, never resend
    ├── ResilienceError                     a resilience pattern refused or cut a call
    │   ├── CircuitOpenError                the breaker is open (name, retry_after)
    │   ├── RateLimitExceeded               no permit within the allowed wait (retry_after)
    │   ├── BulkheadFullError               too many calls in flight
    │   └── OperationTimeoutError (TimeoutError)  the call ran past its deadline
    ├── StoreError                          the shared state store failed
    │   ├── StoreUnavailableError           cannot reach or open the store (connection, lock, disk)
    │   └── UnsafeStoreConfigError          the store could silently lose durable keys
    ├── JobSafetyError                      exactly-once side-effect guarantees are at risk
    │   ├── IdempotencyConflictError        same idempotency key, different payload
    │   ├── SideEffectInProgressError       another worker owns the in-progress record
    │   ├── AmbiguousOutcomeError           an earlier attempt crashed mid-effect: reconcile first
    │   └── LeaseLostError                  the worker's lease expired; it may not complete
    ├── HealthCheckError                    a health check is misdefined (not: a RED result)
    └── BackupError                         a backup could not be made, verified or restored
        ├── BackupIntegrityError            an archive member does not match its manifest digest
        └── UnsafeArchiveError              an archive member would escape the restore target

Later steps add their errors to this module, under one of these branches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AmbiguousOrderError",
    "AmbiguousOutcomeError",
    "BackupError",
    "BackupIntegrityError",
    "BacktestInvariantError",
    "BulkheadFullError",
    "CacheCorruptionError",
    "CacheFileNotFoundError",
    "CacheIOError",
    "CircuitOpenError",
    "ConfigError",
    "DataContractError",
    "ExchangeBannedError",
    "ExchangeError",
    "ExchangeRateLimitedError",
    "ExchangeUnavailableError",
    "HealthCheckError",
    "IdempotencyConflictError",
    "InvalidArgumentError",
    "JobSafetyError",
    "LeaseLostError",
    "OperationTimeoutError",
    "OrderRejectedError",
    "PeakTradeError",
    "ProviderError",
    "RateLimitExceeded",
    "ResilienceError",
    "SideEffectInProgressError",
    "StoreError",
    "StoreUnavailableError",
    "UnsafeArchiveError",
    "UnsafeStoreConfigError",
]


class PeakTradeError(Exception):
    """Base of every error raised by peak-trade.

    Args:
        message: what went wrong, in one sentence.
        hint: what the user should do about it.
        context: the facts behind it (keys, paths, values); shown sorted by key.
    """

    default_hint: str | None = None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.context: dict[str, Any] = dict(context) if context else {}

    def __str__(self) -> str:
        parts = [self.message]
        if self.hint:
            parts.append(f"Hint: {self.hint}")
        if self.context:
            rendered = ", ".join(f"{k}={self.context[k]!r}" for k in sorted(self.context))
            parts.append(f"Context: {rendered}")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, hint={self.hint!r}, context={self.context!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments defeat Exception's default pickling; errors cross
        # process boundaries (multi-worker tests, process pools), so rebuild explicitly.
        return (_rebuild, (type(self), self.message, self.hint, self.context, self.__dict__))


def _rebuild(
    cls: type[PeakTradeError],
    message: str,
    hint: str | None,
    context: dict[str, Any],
    state: dict[str, Any],
) -> PeakTradeError:
    err = cls.__new__(cls)
    PeakTradeError.__init__(err, message, hint=hint, context=context)
    err.__dict__.update(state)
    return err


class InvalidArgumentError(PeakTradeError, ValueError):
    """A call with arguments that can never succeed (negative TTL, empty key, ...)."""


class ConfigError(PeakTradeError):
    """A configuration value is unknown, has the wrong type or is out of range."""

    default_hint = "Run `peaktrade config validate FILE` to see every problem in a config file."


class DataContractError(PeakTradeError):
    """Market data violates the OHLCV data contract."""


class CacheCorruptionError(PeakTradeError):
    """A cached file does not match its checksum or its manifest entry."""

    default_hint = "Delete the file (and its .sha256 sidecar) and fetch the data again."


class CacheIOError(PeakTradeError):
    """A data file could not be read or written: disk full, permissions, a bad path.

    The ``OSError`` is the ``__cause__``; ``context["errno"]`` names its code.
    Deliberately not an ``OSError`` itself: the package's own ``except OSError``
    clauses around file handling must never mistake it for a raw driver error.
    """

    default_hint = "Check that the path is valid, writable and on a healthy disk."


class CacheFileNotFoundError(CacheIOError):
    """The data file does not exist."""

    default_hint = "Write it first (atomic_write), or check the path."


class BacktestInvariantError(PeakTradeError):
    """A backtest engine invariant was violated."""


class ProviderError(PeakTradeError):
    """An external data or trading provider failed."""


class ExchangeError(ProviderError):
    """An exchange call failed. ``retry_after`` is seconds to wait, when known."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint, context=context)
        self.retry_after = retry_after


class ExchangeUnavailableError(ExchangeError):
    """Network failure, HTTP 5xx or maintenance: safe to retry reads."""


class ExchangeRateLimitedError(ExchangeError):
    """HTTP 429: the request weight budget is exhausted; wait ``retry_after``."""


class ExchangeBannedError(ExchangeError):
    """HTTP 418: the IP is banned until ``retry_after`` seconds from now."""

    default_hint = "Stop all requests until the ban ends; lower [exchange] request weight limits."


class OrderRejectedError(ExchangeError):
    """The exchange refused the order; resending the same order will not help."""


class AmbiguousOrderError(ExchangeError):
    """The order may or may not have reached the exchange: reconcile, never resend blindly."""

    default_hint = "Look the order up by its client order id before doing anything else."


class ResilienceError(PeakTradeError):
    """A resilience pattern refused or interrupted a call."""


class CircuitOpenError(ResilienceError):
    """The circuit breaker ``name`` is open; calls are rejected for ``retry_after`` seconds."""

    def __init__(
        self,
        message: str,
        *,
        name: str,
        retry_after: float | None,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        ctx = {"breaker": name, "retry_after": retry_after, **(context or {})}
        super().__init__(
            message,
            hint=hint
            or "The protected service kept failing; the breaker lets a trial call "
            "through after its recovery timeout.",
            context=ctx,
        )
        self.name = name
        self.retry_after = retry_after


class RateLimitExceeded(ResilienceError):
    """No permit was available within the allowed wait."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, context=context)
        self.retry_after = retry_after


class BulkheadFullError(ResilienceError):
    """Too many calls are already in flight."""


class OperationTimeoutError(ResilienceError, TimeoutError):
    """The call ran past its deadline."""


class StoreError(PeakTradeError):
    """The shared state store failed."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached or opened (connection refused, locked, disk error)."""


class UnsafeStoreConfigError(StoreError):
    """The store is configured in a way that can silently lose durable keys."""


class JobSafetyError(PeakTradeError):
    """The exactly-once guarantee for a side effect is at risk."""


class IdempotencyConflictError(JobSafetyError):
    """The same idempotency key was used with a different payload."""

    default_hint = "An idempotency key must identify one request; derive it from the payload."


class SideEffectInProgressError(JobSafetyError):
    """Another worker holds the in-progress record for this key."""


class AmbiguousOutcomeError(JobSafetyError):
    """An earlier attempt crashed mid-effect; the outcome is unknown until reconciled."""

    default_hint = (
        "Reconcile with the remote system (e.g. look the order up), then resolve the record."
    )


class LeaseLostError(JobSafetyError):
    """This worker's lease on the record expired or was taken; it must not complete it."""


class HealthCheckError(PeakTradeError):
    """A health check is defined incorrectly (this is not raised for a failing check)."""


class BackupError(PeakTradeError):
    """A backup could not be created, verified or restored."""


class BackupIntegrityError(BackupError):
    """An archive member does not match the digest in its manifest."""


class UnsafeArchiveError(BackupError):
    """An archive member would be written outside the restore target."""
