from __future__ import annotations

import asyncio
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
