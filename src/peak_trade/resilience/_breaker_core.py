"""The circuit breaker's state machine: pure, no locks, no I/O, no clock reads.

It is handed ``now`` (monotonic seconds) and call durations, and it owns
**every** change of state and every counter; the shells
(:class:`~peak_trade.resilience.CircuitBreaker` and the fleet's
:mod:`~peak_trade.resilience._fleet`) only ask it things, under their lock, and
publish what it reports.

A call is three questions:

1. ``ask(now)`` gives a :class:`Permit` or a :class:`Rejected` (with the
   seconds until a trial is allowed, when known).
2. The call runs, without any lock.
3. The permit goes back to exactly one of ``succeeded``, ``failed`` or
   ``ignored``. A permit belongs to one period of one state (a *generation*):
   the outcome of a permit from an earlier period is counted in the
   statistics and changes nothing else.

``drain()`` hands over the transitions made since it was last called, as
``(from_state, to_state)`` pairs, once.

Two shortcuts keep the common call cheap without the shell ever writing a
field of the core:

``free_permit``
    In CLOSED and DISABLED asking changes nothing: this attribute *is* the
    answer, and a shell may read it without a lock instead of calling ``ask``
    (and time the call itself when ``needs_duration`` says so). It is set to
    ``None`` first thing in every transition and to the new period's permit
    last, so a lock-free reader gets either the current permit or a stale one
    (whose outcome only counts).
``quiet_success(permit)``
    True if the success of ``permit`` changes nothing but counters (CLOSED
    with no failure to forget, or DISABLED), in which case it counted it;
    False, having done nothing, otherwise: then call ``succeeded``. (A call
    whose duration matters, ``needs_duration``, goes to ``succeeded`` anyway.) In count
    window mode a clean window counts such successes as a run and takes them
    all at once later (:meth:`~peak_trade.resilience._windows.CountRing.skip`),
    so the window mode is as cheap as the default one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from peak_trade.resilience._windows import (
    CountRing,
    CountWindow,
    TimeBuckets,
    TimeWindow,
    tally_for,
)

__all__ = ["BreakerCore", "CircuitState", "Permit", "Rejected", "Transition"]


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
_DISABLED = CircuitState.DISABLED

Transition = tuple[CircuitState, CircuitState]
"""``(from_state, to_state)``."""


@dataclass(frozen=True, slots=True, eq=False)
class Permit:
    """Leave to make one call, issued in one period (``generation``) of ``state``.

    One object per period, compared by identity: a permit is current while it
    *is* the core's permit.
    """

    generation: int
    state: CircuitState


@dataclass(frozen=True, slots=True)
class Rejected:
    """The call must not be made: the breaker is ``state``; retry in ``retry_after`` s, if known."""

    state: CircuitState
    retry_after: float | None


class BreakerCore:
    """The state machine; see the module docstring. Not thread-safe: callers serialise."""

    __slots__ = (
        "consecutive_failures",
        "failure_count",
        "failure_threshold",
        "free_permit",
        "half_open_in_flight",
        "half_open_max_calls",
        "half_open_successes",
        "ignored_count",
        "needs_duration",
        "opened_at",
        "pending",
        "permit",
        "quiet_permit",
        "quiet_run",
        "recovery_timeout",
        "rejected_count",
        "slow_call_count",
        "slow_call_duration",
        "state",
        "state_changes",
        "success_count",
        "success_threshold",
        "window",
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
        self.window: CountRing | TimeBuckets | None = (
            tally_for(sliding_window) if sliding_window is not None else None
        )
        self.slow_call_duration = sliding_window.slow_call_duration if sliding_window else None
        self.needs_duration = self.slow_call_duration is not None
        """Outcomes need the call's duration (slow-call detection): calls must be timed."""
        self.state = _CLOSED
        self.permit = Permit(0, _CLOSED)
        self.opened_at = 0.0
        self.pending: list[Transition] = []
        self.free_permit: Permit | None = None
        self.quiet_permit: Permit | None = None
        self.quiet_run = 0
        self.success_count = self.failure_count = self.ignored_count = 0
        self.rejected_count = self.slow_call_count = self.state_changes = 0
        self.consecutive_failures = self.half_open_in_flight = self.half_open_successes = 0
        self._refresh()

    # -- what is read

    @property
    def total_calls(self) -> int:
        return self.success_count + self.failure_count + self.ignored_count + self.rejected_count

    @property
    def counts_consecutive_failures(self) -> bool:
        """True while a failure would add to the run of consecutive failures (default mode)."""
        return self.window is None and self.state is _CLOSED

    def seconds_until_trial(self, now: float) -> float | None:
        """OPEN: seconds until a call may be a trial (0.0: the next one is). Otherwise None."""
        if self.state is _OPEN:
            return max(0.0, self.opened_at + self.recovery_timeout - now)
        return None

    def trial_due(self, now: float) -> bool:
        """OPEN, and the next call would be a trial."""
        return self.state is _OPEN and self.opened_at + self.recovery_timeout - now <= 0

    def drain(self) -> tuple[Transition, ...]:
        """The transitions made since the last ``drain``, oldest first (each handed over once)."""
        if not self.pending:
            return ()
        changes = tuple(self.pending)
        self.pending.clear()
        return changes

    # -- the three steps of a call

    def ask(self, now: float) -> Permit | Rejected:
        """May a call be made now? OPEN past its timeout turns HALF_OPEN: this call is a trial."""
        state = self.state
        if state is _CLOSED or state is _DISABLED:
            return self.permit
        if state is _OPEN:
            left = self.opened_at + self.recovery_timeout - now
            if left > 0:
                self.rejected_count += 1
                return Rejected(_OPEN, left)
            self._transition(_HALF_OPEN, now)
            self.half_open_in_flight = 1
            return self.permit
        if state is _HALF_OPEN and self.half_open_in_flight < self.half_open_max_calls:
            self.half_open_in_flight += 1
            return self.permit
        # FORCED_OPEN, or HALF_OPEN with every trial slot taken: it depends on others
        return self.refuse(None)

    def refuse(self, retry_after: float | None) -> Rejected:
        """Reject a call for a reason found outside (the fleet's open period or trial)."""
        self.rejected_count += 1
        return Rejected(self.state, retry_after)

    def quiet_success(self, permit: Permit) -> bool:
        """Count the success of ``permit`` if that is all it does (see the module docstring)."""
        if permit is not self.quiet_permit:
            return False
        self.success_count += 1
        self.quiet_run += 1
        return True

    def succeeded(self, permit: Permit, now: float, duration: float) -> None:
        """The call of ``permit`` returned after ``duration`` seconds."""
        self.success_count += 1
        slow = self.needs_duration and self._slow(duration)
        if permit is not self.permit:
            return  # an earlier period's call: counted, nothing else
        state = self.state
        if state is _CLOSED:
            if self.window is not None:
                if self._record(now, False, slow):
                    self._transition(_OPEN, now)
                else:
                    self._refresh()  # the window may be clean again
            elif self.consecutive_failures:
                self.consecutive_failures = 0
                self._refresh()
        elif state is _HALF_OPEN:
            self.half_open_in_flight -= 1
            if slow:
                self._transition(_OPEN, now)
            else:
                self.half_open_successes += 1
                if self.half_open_successes >= self.success_threshold:
                    self._transition(_CLOSED, now)

    def failed(self, permit: Permit, now: float, duration: float, run: int | None = None) -> None:
        """The call of ``permit`` failed after ``duration`` seconds.

        ``run``: the length of the run of consecutive failures this one ends,
        when someone else counts it (the fleet); else the core counts.
        """
        self.failure_count += 1
        slow = self.needs_duration and self._slow(duration)
        if permit is not self.permit:
            return
        state = self.state
        if state is _CLOSED:
            if self.window is not None:
                tripped = self._record(now, True, slow)
            else:
                self.consecutive_failures = (
                    run if run is not None else self.consecutive_failures + 1
                )
                tripped = self.consecutive_failures >= self.failure_threshold
            if tripped:
                self._transition(_OPEN, now)
            else:
                self._refresh()  # a success now has a failure to forget
        elif state is _HALF_OPEN:
            self._transition(_OPEN, now)

    def ignored(self, permit: Permit) -> None:
        """The call of ``permit`` ended as neither (or was never made): free its trial slot."""
        self.ignored_count += 1
        if permit is self.permit and self.state is _HALF_OPEN:
            self.half_open_in_flight -= 1

    # -- moves decided outside a call (an operator, the fleet)

    def move(self, to: CircuitState, now: float) -> None:
        """Go to ``to`` now (nothing happens if already there, except that OPEN starts again)."""
        if to is _OPEN and self.state is _OPEN:
            self.opened_at = now
        self._transition(to, now)

    def clear(self) -> None:
        """Forget every statistic and the window (an operator's ``reset``, before moving)."""
        self._clear_counters()
        if self.window is not None:
            self.window.reset()
        self.quiet_run = 0
        self._refresh()

    def open_for(self, seconds: float, now: float) -> None:
        """Be OPEN, with a trial allowed in ``seconds`` (the fleet's open period)."""
        self._transition(_OPEN, now)
        self.opened_at = now + seconds - self.recovery_timeout

    # -- internals

    def _clear_counters(self) -> None:
        self.success_count = 0
        self.failure_count = 0
        self.ignored_count = 0
        self.rejected_count = 0
        self.slow_call_count = 0
        self.state_changes = 0
        self.consecutive_failures = 0
        self.half_open_in_flight = 0
        self.half_open_successes = 0

    def _slow(self, duration: float) -> bool:
        limit = self.slow_call_duration
        if limit is None or duration < limit:
            return False
        self.slow_call_count += 1
        return True

    def _record(self, now: float, failed: bool, slow: bool) -> bool:
        """One outcome into the window, after the quiet successes that came before it."""
        window = self.window
        assert window is not None
        run, self.quiet_run = self.quiet_run, 0
        if run and isinstance(window, CountRing):
            window.skip(run)
        return window.record(now, failed, slow)

    def _transition(self, to: CircuitState, now: float) -> None:
        frm = self.state
        if frm is to:
            return
        self.free_permit = None  # first: a lock-free reader must not take the old period's permit
        self.quiet_permit = None
        self.state = to
        self.permit = Permit(self.permit.generation + 1, to)
        self.state_changes += 1
        self.consecutive_failures = 0
        self.half_open_in_flight = 0
        self.half_open_successes = 0
        self.quiet_run = 0
        if to is _OPEN:
            self.opened_at = now
        elif to is _CLOSED and self.window is not None:
            self.window.reset()
        self.pending.append((frm, to))
        self._refresh()

    def _calm(self) -> bool:
        """In CLOSED a success is only counted: no run of failures, or a clean count window."""
        window = self.window
        if window is None:
            return self.consecutive_failures == 0
        return isinstance(window, CountRing) and window.clean

    def _refresh(self) -> None:
        """Recompute the shortcuts (``free_permit`` last: it is read without a lock)."""
        state = self.state
        if state is _CLOSED or state is _DISABLED:
            permit = self.permit
            self.quiet_permit = permit if state is _DISABLED or self._calm() else None
            self.free_permit = permit
        else:
            self.quiet_permit = None
            self.free_permit = None
