"""The breaker's pure state machine on its own: no lock, no clock, no I/O.

Every question to the core is answered with a value: ``ask`` gives a
:class:`Permit` or a :class:`Rejected` (never a sentinel plus a field to read
afterwards), and each transition it made is handed over once by ``drain``.
"""

from __future__ import annotations

import dataclasses

import pytest

from peak_trade.resilience._breaker_core import BreakerCore, CircuitState, Permit, Rejected
from peak_trade.resilience._windows import CountWindow

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def core(**options: object) -> BreakerCore:
    settings: dict[str, object] = {
        "failure_threshold": 2,
        "recovery_timeout": 10.0,
        "half_open_max_calls": 1,
        "success_threshold": 1,
        "sliding_window": None,
    }
    settings.update(options)
    return BreakerCore(**settings)  # type: ignore[arg-type]


def test_a_rejection_is_a_value_with_its_retry_after() -> None:
    c = core()
    permit = c.ask(0.0)
    assert isinstance(permit, Permit)
    c.failed(permit, 0.0, 0.0)
    c.failed(permit, 1.0, 0.0)
    assert c.drain() == ((CLOSED, OPEN),)
    assert c.drain() == ()  # handed over once
    answer = c.ask(4.0)
    assert answer == Rejected(OPEN, 7.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.retry_after = 0.0  # type: ignore[misc]
    assert c.rejected_count == 1


def test_a_permit_belongs_to_one_period_and_a_stale_one_only_counts() -> None:
    c = core(failure_threshold=1)
    stale = c.ask(0.0)
    assert isinstance(stale, Permit)
    c.failed(c.ask(0.0), 0.0, 0.0)  # trips: a new period
    trial = c.ask(10.0)
    assert isinstance(trial, Permit)
    assert trial is not stale
    assert c.state is HALF_OPEN
    c.failed(stale, 10.0, 0.0)  # from the CLOSED period: counted, no effect
    assert c.state is HALF_OPEN
    assert c.failure_count == 2
    c.succeeded(trial, 10.0, 0.0)
    assert c.state is CLOSED


def test_only_closed_and_disabled_hand_out_permits_without_asking() -> None:
    c = core(failure_threshold=1)
    assert c.free_permit is c.ask(0.0)
    c.failed(c.free_permit, 0.0, 0.0)
    assert c.free_permit is None  # OPEN: every call must ask
    c.move(CircuitState.DISABLED, 1.0)
    assert c.free_permit is not None


def test_a_quiet_success_only_counts_and_anything_else_is_left_to_the_full_path() -> None:
    c = core()
    permit = c.ask(0.0)
    assert isinstance(permit, Permit)
    assert c.quiet_success(permit)
    c.failed(permit, 0.0, 0.0)  # one failure in the run: a success now has work to do
    assert not c.quiet_success(permit)
    assert c.success_count == 1
    c.succeeded(permit, 0.0, 0.0)
    assert c.consecutive_failures == 0
    assert c.quiet_success(permit)
    assert c.success_count == 3


def test_quiet_successes_still_fill_a_count_window() -> None:
    c = core(sliding_window=CountWindow(size=4, failure_rate_threshold=50, minimum_calls=4))
    permit = c.ask(0.0)
    assert isinstance(permit, Permit)
    for _ in range(2):
        assert c.quiet_success(permit)
    c.failed(permit, 0.0, 0.0)
    assert c.state is CLOSED  # 1 of 3, below minimum_calls
    c.failed(permit, 0.0, 0.0)
    assert c.state is OPEN  # 2 of 4: the two quiet successes were counted in the window


def test_the_fleet_can_open_the_core_for_a_given_time_and_refuse_a_call() -> None:
    c = core()
    c.open_for(3.0, now=100.0)
    assert c.state is OPEN
    assert c.seconds_until_trial(101.0) == pytest.approx(2.0)
    assert c.refuse(2.0) == Rejected(OPEN, 2.0)
    assert c.rejected_count == 1
