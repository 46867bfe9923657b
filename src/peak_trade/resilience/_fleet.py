"""A breaker's shared half: one breaker for every worker of a fleet, through a Store.

A :class:`~peak_trade.resilience.CircuitBreaker` built with ``store=`` keeps
its own state machine (so the hot path stays in process) and shares three
things through two keys of the store:

``breaker:<name>``
    The fleet-wide verdict, one value with the store's own expiry:

    ==============  =====================  ====================================
    value           TTL                    meaning
    ==============  =====================  ====================================
    (absent)        -                      closed, or the open period ended
    ``open``        ``recovery_timeout``   open; a trial is due when it expires
    ``trial:<id>``  ``trial_timeout``      worker ``<id>`` runs the one trial
    ``closed``      ``closed_notice``      a trial succeeded, or an operator
                                           closed it: close, everyone
    ``forced``      none                   forced open by an operator
    ``disabled``    none                   disabled by an operator
    ==============  =====================  ====================================

    Because the open period is a TTL, it is measured by the store's clock
    (Redis: the server's), never by comparing the workers' wall clocks.
``breaker:<name>:failures``
    Consecutive failures across the fleet (default mode): every failure is one
    ``incr``; a success resets it, but only when the worker knows it is not
    zero, so the success path costs no round trip.

What each worker does:

* **Sync** every ``sync_interval`` seconds (one ``get`` and one ``ttl``, only
  when a call arrives): an ``open``/``forced``/``disabled``/``trial`` verdict
  moves the local breaker there (open with the remaining time); an absent
  verdict ends a local forced-open or disabled state. So a trip anywhere stops
  calls everywhere within ``sync_interval``.
* **Trip**: a local CLOSED → OPEN (threshold reached) writes ``open``.
* **Trial**: when the open period ends, the worker claims the trial with
  ``set_if_absent(trial:<id>)``: exactly one worker of the fleet sends the
  trial call; the others keep rejecting (``retry_after`` = the claim's TTL).
  The trial's success replaces the claim with ``closed`` for a while
  (compare-and-set: only the owner), which closes every worker's breaker at
  its next sync or trial claim; its failure replaces it with ``open``.
* **Operator actions** (``force_open``, ``disable``, ``open``, ``close``,
  ``reset``) are written for the whole fleet.

If the store fails, the breaker keeps working on its local state (warning
logged once per outage): protecting the caller never depends on the store.
Sliding windows stay per worker; only their verdicts are shared.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from peak_trade.errors import StoreError
from peak_trade.logging import get_logger

if TYPE_CHECKING:
    from peak_trade.store import Store

__all__ = ["DISABLED", "FORCED", "OPEN", "Fleet", "Verdict", "VerdictKind"]

_log = get_logger("peak_trade.resilience.circuitbreaker")

OPEN = b"open"
FORCED = b"forced"
DISABLED = b"disabled"
_CLOSED = b"closed"
_TRIAL = b"trial:"


class VerdictKind(enum.Enum):
    """What the fleet's shared record says."""

    UNKNOWN = "unknown"
    NONE = "none"
    CLOSED = "closed"
    OPEN = "open"
    TRIAL = "trial"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The shared record as one worker read it: the kind, and seconds it has left."""

    kind: VerdictKind
    remaining: float | None = None
    failures: int = 0


_UNKNOWN = Verdict(VerdictKind.UNKNOWN)
_KINDS = {
    OPEN: VerdictKind.OPEN,
    FORCED: VerdictKind.FORCED_OPEN,
    DISABLED: VerdictKind.DISABLED,
    _CLOSED: VerdictKind.CLOSED,
}
"""Record value to verdict; any other value is some worker's ``trial:<id>`` claim."""


class Fleet:
    """Store I/O of a shared breaker. Never called with the breaker's lock held."""

    __slots__ = (
        "_degraded",
        "_failures_key",
        "_key",
        "_store",
        "closed_notice",
        "failures_dirty",
        "recovery_timeout",
        "sync_interval",
        "token",
        "trial_timeout",
    )

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        recovery_timeout: float,
        sync_interval: float,
        trial_timeout: float,
    ) -> None:
        self._store = store
        self._key = f"breaker:{name}"
        self._failures_key = f"breaker:{name}:failures"
        self.recovery_timeout = recovery_timeout
        self.sync_interval = sync_interval
        self.trial_timeout = trial_timeout
        self.closed_notice = max(2.0 * sync_interval, 1.0)
        self.token = _TRIAL + secrets.token_hex(8).encode()
        self.failures_dirty = False
        self._degraded = False

    # -- error handling: the store is a helper, never a point of failure

    def _failed(self, op: str, exc: StoreError) -> None:
        if not self._degraded:
            self._degraded = True
            _log.warning(
                "shared breaker state unavailable; deciding locally until the store is back",
                breaker_key=self._key,
                op=op,
                error=str(exc),
            )

    def _ok(self) -> None:
        if self._degraded:
            self._degraded = False
            _log.info("shared breaker state reachable again", breaker_key=self._key)

    # -- reads

    def read(self) -> Verdict:
        """The shared verdict and failure count (three reads); UNKNOWN if unreachable."""
        store = self._store
        try:
            value = store.get(self._key)
            remaining = store.ttl(self._key) if value is not None else None
            raw_failures = store.get(self._failures_key)
        except StoreError as exc:
            self._failed("read", exc)
            return _UNKNOWN
        self._ok()
        failures = int(raw_failures) if raw_failures else 0
        self.failures_dirty = failures > 0
        return self._classify(value, remaining, failures)

    def _classify(self, value: bytes | None, remaining: float | None, failures: int) -> Verdict:
        if value is None or remaining is None:
            return Verdict(VerdictKind.NONE, failures=failures)
        if value == self.token:  # our own trial: nothing to apply
            return Verdict(VerdictKind.NONE, failures=failures)
        kind = _KINDS.get(value, VerdictKind.TRIAL)
        timed = kind is VerdictKind.OPEN or kind is VerdictKind.TRIAL
        return Verdict(kind, remaining if timed else None, failures)

    # -- the trial

    def claim_trial(self) -> Verdict:
        """Claim the fleet's one trial call.

        NONE: claimed (or the store is unreachable: try, as a lone breaker
        would); CLOSED: a trial elsewhere already succeeded; otherwise the
        verdict that holds the record (TRIAL, OPEN...) with its remaining time.
        """
        store = self._store
        try:
            if store.set_if_absent(self._key, self.token, ttl=self.trial_timeout):
                self._ok()
                return Verdict(VerdictKind.NONE)
            value = store.get(self._key)
            remaining = store.ttl(self._key) if value is not None else None
        except StoreError as exc:
            self._failed("claim_trial", exc)
            return Verdict(VerdictKind.NONE)
        self._ok()
        if value is None or remaining is None:  # the other claim ended meanwhile: ask again
            return Verdict(VerdictKind.TRIAL, 0.0)
        return self._classify(value, remaining, 0)

    # -- writes

    def _write(self, op: str, action: Callable[[], None]) -> None:
        try:
            action()
        except StoreError as exc:
            self._failed(op, exc)
        else:
            self._ok()

    def tripped(self) -> None:
        """This worker opened the breaker: open it for the fleet, restart the count."""

        def act() -> None:
            self._store.set(self._key, OPEN, ttl=self.recovery_timeout)
            self._reset_failures()

        self._write("open", act)

    def trial_failed(self) -> None:
        """Our trial failed: replace our claim by a new open period."""

        def act() -> None:
            if not self._store.compare_and_set(
                self._key, self.token, OPEN, ttl=self.recovery_timeout
            ):
                # the claim expired (trial slower than trial_timeout): open anyway
                self._store.set(self._key, OPEN, ttl=self.recovery_timeout)

        self._write("trial_failed", act)

    def trial_succeeded(self) -> None:
        """Our trial succeeded: tell the fleet (only if the claim is still ours)."""

        def act() -> None:
            self._store.compare_and_set(self._key, self.token, _CLOSED, ttl=self.closed_notice)
            self._reset_failures()

        self._write("trial_succeeded", act)

    def forced(self, value: bytes | None) -> None:
        """An operator action: ``forced``/``disabled``/``open`` for everyone, or None to clear."""

        def act() -> None:
            if value is None:  # close/reset: tell every worker, like a successful trial
                self._store.set(self._key, _CLOSED, ttl=self.closed_notice)
                self._reset_failures()
            elif value == OPEN:
                self._store.set(self._key, OPEN, ttl=self.recovery_timeout)
            else:
                self._store.set(self._key, value)

        self._write("operator", act)

    def _reset_failures(self) -> None:
        self._store.set(self._failures_key, b"0")
        self.failures_dirty = False

    def record_failure(self) -> int | None:
        """Count one failure fleet-wide; the new count, or None if the store failed."""
        try:
            count = self._store.incr(self._failures_key)
        except StoreError as exc:
            self._failed("record_failure", exc)
            return None
        self._ok()
        self.failures_dirty = True
        return count

    def record_success(self) -> None:
        """A success ends the fleet's run of failures (only called when it may be non-zero)."""
        self._write("record_success", self._reset_failures)
