from __future__ import annotations

import asyncio
import threading
import time

import pytest

from peak_trade.clock import Clock, ManualClock, SystemClock, system_clock
from peak_trade.errors import InvalidArgumentError


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(start=100.0)
    assert clock.time() == clock.monotonic() == 100.0
    assert clock.advance(5) == 105.0
    clock.set(200.0)
    assert clock.time() == 200.0


def test_manual_clock_sleep_advances_and_records() -> None:
    clock = ManualClock(start=0.0)
    clock.sleep(1.5)
    asyncio.run(clock.asleep(2.5))
    clock.sleep(-1)  # negative sleeps are no-ops, like time.sleep(0)
    assert clock.time() == 4.0
    assert clock.sleeps == [1.5, 2.5, 0.0]


def test_manual_clock_refuses_to_go_backwards() -> None:
    clock = ManualClock(start=10.0)
    with pytest.raises(InvalidArgumentError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(InvalidArgumentError):
        clock.set(5.0)


def test_system_clock_tracks_real_time() -> None:
    before = time.time()
    now = system_clock.time()
    assert before <= now <= time.time()
    assert isinstance(system_clock, Clock)
    assert isinstance(ManualClock(), Clock)
    m1 = system_clock.monotonic()
    assert system_clock.monotonic() >= m1
    SystemClock().sleep(0)
    asyncio.run(SystemClock().asleep(0))


# ----------------------------------------------------------------------------- waiting on a clock
#
# Every wait in peak-trade that has a deadline goes through the clock:
# ``wait_for`` for a thread waiting on a condition, ``call_at`` for a timer on
# an event loop. On a ManualClock both move only when the test moves the clock.


def test_manual_wait_for_returns_when_the_clock_passes_the_deadline() -> None:
    clock = ManualClock(start=0.0)
    cond = threading.Condition()
    outcome: list[bool] = []

    def waiter() -> None:
        with cond:
            outcome.append(clock.wait_for(cond, lambda: False, 10.0))

    thread = threading.Thread(target=waiter)
    thread.start()
    assert clock.wait_until_waiting(1)
    assert clock.waiting == 1
    clock.advance(9.5)  # not yet: the waiter is still blocked
    assert clock.waiting == 1
    assert outcome == []
    clock.advance(0.5)  # the deadline: it returns False, like Condition.wait_for
    thread.join(30)
    assert outcome == [False]
    assert clock.waiting == 0


def test_manual_wait_for_returns_when_the_predicate_holds() -> None:
    clock = ManualClock(start=0.0)
    cond = threading.Condition()
    ready = {"value": False}
    outcome: list[bool] = []

    def waiter() -> None:
        with cond:
            outcome.append(clock.wait_for(cond, lambda: ready["value"], 10.0))

    thread = threading.Thread(target=waiter)
    thread.start()
    assert clock.wait_until_waiting(1)
    with cond:
        ready["value"] = True
        cond.notify_all()
    thread.join(30)
    assert outcome == [True]
    assert clock.time() == 0.0  # no time passed
    assert clock.pending_timers == 0  # its deadline timer is gone


def test_manual_wait_for_without_waiting() -> None:
    clock = ManualClock(start=0.0)
    cond = threading.Condition()
    with cond:
        assert clock.wait_for(cond, lambda: True, 5.0) is True
        assert clock.wait_for(cond, lambda: False, 0.0) is False  # a zero timeout polls once
    assert not clock.wait_until_waiting(1, timeout=0.0)


def test_system_wait_for_is_the_condition_wait() -> None:
    cond = threading.Condition()
    with cond:
        assert system_clock.wait_for(cond, lambda: True, 5.0) is True
        assert system_clock.wait_for(cond, lambda: False, 0.0) is False


def test_manual_call_at_fires_on_the_loop_when_the_clock_gets_there() -> None:
    clock = ManualClock(start=100.0)
    fired: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clock.call_at(105.0, lambda: fired.append(clock.monotonic()), loop)
        clock.call_at(103.0, lambda: fired.append(-clock.monotonic()), loop)
        cancelled = clock.call_at(101.0, lambda: fired.append(0.0), loop)
        cancelled.cancel()
        assert clock.pending_timers == 2
        await asyncio.sleep(0)
        assert fired == []
        clock.advance(10)  # both are due: they run on the loop, earliest first
        for _ in range(3):
            await asyncio.sleep(0)
        assert fired == [-110.0, 110.0]
        assert clock.pending_timers == 0
        clock.call_at(50.0, lambda: fired.append(1.0), loop)  # already due: runs at once
        await asyncio.sleep(0)
        assert fired[-1] == 1.0

    asyncio.run(main())


def test_manual_sleep_fires_timers_too() -> None:
    clock = ManualClock(start=0.0)
    fired: list[str] = []

    async def main() -> None:
        clock.call_at(5.0, lambda: fired.append("deadline"), asyncio.get_running_loop())
        await clock.asleep(5.0)
        await asyncio.sleep(0)
        assert fired == ["deadline"]

    asyncio.run(main())


def test_a_manual_timer_of_a_closed_loop_is_dropped() -> None:
    clock = ManualClock(start=0.0)
    loop = asyncio.new_event_loop()
    fired: list[int] = []
    clock.call_at(1.0, lambda: fired.append(1), loop)
    loop.close()
    clock.advance(2)  # must not raise on the closed loop
    assert fired == []


def test_system_call_at_runs_on_the_loop_at_the_monotonic_time() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        system_clock.call_at(system_clock.monotonic(), lambda: done.set_result("fired"), loop)
        handle = system_clock.call_at(system_clock.monotonic() + 3600, done.cancel, loop)
        handle.cancel()
        return [await done]

    assert asyncio.run(main()) == ["fired"]
