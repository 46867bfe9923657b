from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable

import pytest

from peak_trade.clock import Clock, ManualClock, system_clock
from peak_trade.errors import BulkheadFullError, InvalidArgumentError, OperationTimeoutError
from peak_trade.events import EventBus, EventRecorder
from peak_trade.resilience.bulkhead import Bulkhead, BulkheadRejected
from peak_trade.resilience.fallback import FallbackUsed, fallback
from peak_trade.resilience.timeout import (
    TimedOut,
    Timeout,
    current_deadline,
    remaining_time,
    timeout,
)

# ----------------------------------------------------------------------------- bulkhead


def test_bulkhead_rejects_beyond_capacity_without_running_the_call() -> None:
    bus = EventBus()
    rec = EventRecorder(bus, BulkheadRejected)
    bulkhead = Bulkhead(2, name="exchange", bus=bus)
    inside = threading.Barrier(3, timeout=10)
    release = threading.Event()
    ran: list[int] = []

    @bulkhead
    def slow(i: int) -> int:
        ran.append(i)
        inside.wait()
        release.wait(10)
        return i

    threads = [threading.Thread(target=slow, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    inside.wait()  # both calls are inside the bulkhead now
    assert bulkhead.in_flight == 2
    with pytest.raises(BulkheadFullError, match="exchange") as info:
        slow(99)
    assert info.value.context["max_concurrent"] == 2
    release.set()
    for t in threads:
        t.join()
    assert 99 not in ran
    assert bulkhead.in_flight == 0
    assert bulkhead.rejected == 1
    assert rec.events == [BulkheadRejected("exchange", 2)]
    assert slow.__name__ == "slow"


def test_bulkhead_waiting_caller_gets_the_freed_slot() -> None:
    clock = ManualClock(start=0)  # never moves: the slot, not max_wait, ends the wait
    bulkhead = Bulkhead(1, max_wait=30.0, clock=clock)
    entered = threading.Event()
    release = threading.Event()

    @bulkhead
    def hold() -> str:
        entered.set()
        release.wait(10)
        return "first"

    t = threading.Thread(target=hold)
    t.start()
    entered.wait(10)
    result: list[str] = []
    waiter = threading.Thread(target=lambda: result.append(bulkhead(lambda: "second")()))
    waiter.start()
    assert clock.wait_until_waiting(1)  # waiting for the slot
    release.set()  # the waiting call proceeds as soon as the slot frees, well before max_wait
    t.join()
    waiter.join()
    assert result == ["second"]
    assert bulkhead.in_flight == 0


def test_bulkhead_async_queue_and_release_on_exception() -> None:
    bulkhead = Bulkhead(1, max_wait=30.0, clock=ManualClock(start=0))
    order: list[str] = []

    @bulkhead
    async def work(tag: str, gate: asyncio.Event | None = None) -> str:
        order.append(f"start {tag}")
        if gate is not None:
            await gate.wait()
        if tag == "boom":
            raise ValueError(tag)
        return tag

    async def main() -> None:
        gate = asyncio.Event()
        first = asyncio.create_task(work("boom", gate))
        await asyncio.sleep(0)
        second = asyncio.create_task(work("b"))
        await asyncio.sleep(0)
        assert order == ["start boom"]  # b is queued, not running
        gate.set()
        with pytest.raises(ValueError, match="boom"):
            await first
        assert await second == "b"

    asyncio.run(main())
    assert bulkhead.in_flight == 0


def test_bulkhead_async_reject_when_no_wait() -> None:
    bulkhead = Bulkhead(1)

    @bulkhead
    async def work(gate: asyncio.Event) -> None:
        await gate.wait()

    async def main() -> None:
        gate = asyncio.Event()
        task = asyncio.create_task(work(gate))
        await asyncio.sleep(0)
        with pytest.raises(BulkheadFullError):
            await work(gate)
        gate.set()
        await task

    asyncio.run(main())
    assert bulkhead.in_flight == 0


def test_a_sync_caller_waits_for_a_slot_until_the_clock_says_max_wait_passed() -> None:
    clock = ManualClock(start=0)
    bulkhead = Bulkhead(1, max_wait=5.0, name="exchange", clock=clock)
    entered, release = threading.Event(), threading.Event()
    outcome: list[object] = []

    @bulkhead
    def hold() -> None:
        entered.set()
        release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(60)

    def second() -> None:
        try:
            outcome.append(bulkhead(lambda: "ran")())
        except BulkheadFullError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=second)
    waiter.start()
    assert clock.wait_until_waiting(1)
    clock.advance(4.9)
    assert clock.waiting == 1  # still waiting: max_wait is on the bulkhead's clock
    clock.advance(0.1)
    waiter.join(60)
    release.set()
    holder.join(60)
    [rejected] = outcome
    assert isinstance(rejected, BulkheadFullError)
    assert bulkhead.rejected == 1
    assert bulkhead.in_flight == 0


def test_an_async_caller_waits_for_a_slot_until_the_clock_says_max_wait_passed() -> None:
    clock = ManualClock(start=0)
    bulkhead = Bulkhead(1, max_wait=5.0, clock=clock)

    @bulkhead
    async def work(gate: asyncio.Event) -> str:
        await gate.wait()
        return "done"

    async def main() -> None:
        gate = asyncio.Event()
        holder = asyncio.create_task(work(gate))
        await settle()
        waiter = asyncio.create_task(work(asyncio.Event()))
        await settle()
        clock.advance(4.9)
        await settle()
        assert not waiter.done()
        clock.advance(0.1)
        await settle()
        assert waiter.done()
        with pytest.raises(BulkheadFullError):
            await waiter
        # a caller that gets the slot in time leaves no timer behind
        granted = asyncio.create_task(work(gate))
        await settle()
        gate.set()
        assert await holder == "done"
        assert await granted == "done"
        assert clock.pending_timers == 0

    asyncio.run(main())
    assert bulkhead.in_flight == 0
    assert bulkhead.rejected == 1


def test_a_cancelled_async_waiter_leaves_no_slot_and_no_timer_behind() -> None:
    clock = ManualClock(start=0)
    bulkhead = Bulkhead(1, max_wait=5.0, clock=clock)

    @bulkhead
    async def work(gate: asyncio.Event) -> None:
        await gate.wait()

    async def main() -> None:
        gate = asyncio.Event()
        holder = asyncio.create_task(work(gate))
        await settle()
        waiter = asyncio.create_task(work(gate))
        await settle()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert clock.pending_timers == 0
        gate.set()
        await holder

    asyncio.run(main())
    assert bulkhead.in_flight == 0
    assert bulkhead.rejected == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bulkhead_validates(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        Bulkhead(bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- timeout


def advance_once_waiting(clock: ManualClock, seconds: float, waiters: int = 1) -> threading.Thread:
    """Move ``clock`` by ``seconds`` once ``waiters`` threads wait on it (from another thread)."""

    def run() -> None:
        if clock.wait_until_waiting(waiters):
            clock.advance(seconds)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def settle() -> Awaitable[None]:
    """Let the event loop run what is ready (a timer's callback, the cancelled task)."""

    async def spin() -> None:
        for _ in range(10):
            await asyncio.sleep(0)

    return spin()


def test_sync_timeout_raises_and_fast_calls_pass() -> None:
    clock = ManualClock(start=0)
    bus = EventBus()
    rec = EventRecorder(bus, TimedOut)
    release = threading.Event()

    @timeout(30, name="fetch", bus=bus, clock=clock)
    def hang() -> None:
        release.wait(60)

    @timeout(5, clock=clock)
    def fast(x: int) -> int:
        return x * 2

    assert fast(21) == 42
    mover = advance_once_waiting(clock, 30)  # the caller waits on the clock, not for 30 s
    with pytest.raises(OperationTimeoutError, match="fetch") as info:
        hang()
    mover.join(30)
    release.set()
    assert isinstance(info.value, TimeoutError)
    assert rec.events == [TimedOut("fetch", 30)]


def test_a_sync_call_waits_until_the_clock_reaches_its_deadline() -> None:
    clock = ManualClock(start=0)
    release = threading.Event()
    outcome: list[object] = []

    @timeout(10, clock=clock)
    def slow() -> str:
        release.wait(60)
        return "late"

    def call() -> None:
        try:
            outcome.append(slow())
        except OperationTimeoutError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert clock.wait_until_waiting(1)
    clock.advance(9.9)  # just short of the deadline: still waiting for the answer
    assert clock.waiting == 1
    release.set()  # the answer arrives in time
    caller.join(30)
    assert outcome == ["late"]


def test_a_timeout_on_your_own_executor_follows_the_clock_too() -> None:
    import concurrent.futures

    clock = ManualClock(start=0)
    release = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        hang = Timeout(5, clock=clock, executor=pool)(lambda: release.wait(60))
        quick = Timeout(5, clock=clock, executor=pool)
        mover = advance_once_waiting(clock, 5)
        with pytest.raises(OperationTimeoutError):
            hang()
        mover.join(30)
        release.set()
        assert quick(lambda: "ok")() == "ok"


def test_sync_timeout_propagates_the_callee_error() -> None:
    @timeout(5)
    def broken() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        broken()


def test_async_timeout_cancels_when_the_clock_passes_the_deadline() -> None:
    clock = ManualClock(start=0)
    cancelled = []

    @timeout(30, clock=clock)
    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        task = asyncio.create_task(hang())
        await settle()
        clock.advance(29.9)
        await settle()
        assert not task.done()  # not yet
        clock.advance(0.1)
        await settle()
        assert task.done()  # cancelled at the deadline, with no real wait
        with pytest.raises(OperationTimeoutError):
            await task

    asyncio.run(main())
    assert cancelled == [True]


def test_a_callee_timeout_error_is_not_ours() -> None:
    @timeout(5)
    async def own_timeout() -> None:
        raise TimeoutError("the callee's own")

    with pytest.raises(TimeoutError, match="the callee's own") as info:
        asyncio.run(own_timeout())
    assert not isinstance(info.value, OperationTimeoutError)


@pytest.mark.parametrize("bad", [0, -1, True, "1"])
def test_timeout_validates(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        timeout(bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- fallback


def test_fallback_value_and_func() -> None:
    @fallback(value=[])
    def positions() -> list[str]:
        raise ConnectionError("down")

    @fallback(func=lambda exc, symbol: f"{symbol}: {type(exc).__name__}")
    def price(symbol: str) -> str:
        raise TimeoutError

    assert positions() == []
    assert price("BTC/USDT") == "BTC/USDT: TimeoutError"


def test_fallback_only_for_listed_exceptions() -> None:
    @fallback(value=0, exceptions=ConnectionError)
    def f() -> int:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        f()


def test_fallback_last_good_per_arguments_with_max_age() -> None:
    clock = ManualClock(start=0)
    bus = EventBus()
    rec = EventRecorder(bus, FallbackUsed)
    up = {"value": True}

    @fallback(last_good=True, max_age=60, clock=clock, bus=bus, name="ticker")
    def ticker(symbol: str) -> float:
        if not up["value"]:
            raise ConnectionError("exchange down")
        return {"BTC": 100.0, "ETH": 10.0}[symbol]

    assert ticker("BTC") == 100.0
    up["value"] = False
    assert ticker("BTC") == 100.0  # last good result for the same arguments
    with pytest.raises(ConnectionError):
        ticker("ETH")  # never succeeded: nothing to fall back to
    clock.advance(61)
    with pytest.raises(ConnectionError):
        ticker("BTC")  # too old
    assert rec.events == [FallbackUsed("ticker", "last_good", "ConnectionError")]


def test_fallback_async() -> None:
    @fallback(value="cached")
    async def f() -> str:
        raise ConnectionError

    assert asyncio.run(f()) == "cached"


def test_an_async_fallback_func_is_awaited() -> None:
    seen: list[str] = []

    async def cached_price(exc: BaseException, symbol: str) -> float:
        await asyncio.sleep(0)
        seen.append(f"{symbol}: {type(exc).__name__}")
        return 99.5

    @fallback(func=cached_price)
    async def price(symbol: str) -> float:
        raise ConnectionError("down")

    assert asyncio.run(price("BTC")) == 99.5  # the answer, not a coroutine object
    assert seen == ["BTC: ConnectionError"]


def test_a_sync_fallback_func_serves_an_async_function() -> None:
    @fallback(func=lambda exc: "stale")
    async def price() -> str:
        raise ConnectionError

    assert asyncio.run(price()) == "stale"


def test_an_async_fallback_func_on_a_sync_function_is_refused() -> None:
    async def cached(exc: BaseException) -> float:
        return 1.0

    with pytest.raises(InvalidArgumentError, match="cannot await") as info:

        @fallback(func=cached)
        def price() -> float:
            raise ConnectionError

    assert info.value.hint


@pytest.mark.parametrize("bad", ["ConnectionError", int, (ConnectionError, "x"), 3, ()])
def test_fallback_exceptions_are_validated(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="exceptions"):
        fallback(value=1, exceptions=bad)  # type: ignore[arg-type]


def test_fallback_needs_exactly_one_strategy() -> None:
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        fallback()
    with pytest.raises(InvalidArgumentError):
        fallback(value=1, last_good=True)


# ----------------------------------------------------------------------------- deadlines


def test_deadline_mode_publishes_the_deadline_and_keeps_late_results() -> None:
    clock = ManualClock(start=0)
    seen: list[float | None] = []

    @timeout(10, mode="deadline", clock=clock)
    def call() -> str:
        seen.append(remaining_time(clock))
        clock.advance(15)  # the call overruns its deadline...
        return "filled"

    assert call() == "filled"  # ...but a late success is still a success, never discarded
    assert seen == [10.0]
    assert current_deadline() is None  # reset after the call


def test_deadlines_nest_and_never_extend_the_outer_one() -> None:
    clock = ManualClock(start=0)
    seen: list[float | None] = []

    @timeout(30, mode="deadline", clock=clock)
    def inner() -> None:
        seen.append(remaining_time(clock))

    @timeout(5, mode="deadline", clock=clock)
    def outer() -> None:
        clock.advance(2)
        inner()  # 30 s asked, 3 s left of the outer deadline
        clock.advance(4)
        inner()  # the outer deadline has passed: the inner call must not start

    with pytest.raises(OperationTimeoutError):
        outer()
    assert seen == [3.0]


def test_thread_mode_worker_sees_the_deadline() -> None:
    seen: list[float | None] = []

    @timeout(30)
    def work() -> None:
        seen.append(current_deadline())

    work()
    assert seen[0] is not None


def test_unknown_timeout_mode() -> None:
    with pytest.raises(InvalidArgumentError, match="mode"):
        timeout(1, mode="signal")  # type: ignore[arg-type]


def test_async_timeouts_share_one_watchdog_and_each_fires_on_its_own_deadline() -> None:
    clock = ManualClock(start=0)

    @timeout(30, name="long", clock=clock)
    async def finishes(gate: asyncio.Event) -> str:
        await gate.wait()
        return "done"

    @timeout(2, name="short", clock=clock)
    async def hangs() -> None:
        await asyncio.Event().wait()

    async def main() -> tuple[str, str]:
        gate = asyncio.Event()
        long_call = asyncio.create_task(finishes(gate))
        await asyncio.sleep(0)
        later_call = asyncio.create_task(finishes(gate))  # later deadline: no re-arm
        await asyncio.sleep(0)
        # the short deadline is registered after the long ones: the timer must re-arm earlier
        for _ in range(2):  # and again, after the watchdog fired once
            short = asyncio.create_task(hangs())
            await settle()
            clock.advance(2)
            await settle()
            assert short.done()
            with pytest.raises(OperationTimeoutError, match="short"):
                await short
        assert not long_call.done()  # 4 s of its 30 have passed
        gate.set()
        return await long_call, await later_call

    assert asyncio.run(main()) == ("done", "done")


def test_async_timeouts_on_two_clocks_keep_their_own_deadlines() -> None:
    fast, slow = ManualClock(start=0), ManualClock(start=0)

    @timeout(5, name="fast", clock=fast)
    async def on_fast() -> None:
        await asyncio.Event().wait()

    @timeout(5, name="slow", clock=slow)
    async def on_slow() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        a, b = asyncio.create_task(on_fast()), asyncio.create_task(on_slow())
        await settle()
        fast.advance(5)
        await settle()
        assert a.done()
        assert not b.done()  # its clock has not moved
        slow.advance(5)
        await settle()
        assert b.done()
        for task in (a, b):
            with pytest.raises(OperationTimeoutError):
                await task

    asyncio.run(main())


def test_outside_cancellation_is_not_turned_into_a_timeout() -> None:
    @timeout(30)
    async def hangs() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        task = asyncio.create_task(hangs())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


@pytest.mark.parametrize("clock", [system_clock, ManualClock(start=0)], ids=["system", "manual"])
def test_async_timeouts_do_not_keep_event_loops_alive(clock: Clock) -> None:
    import gc
    import weakref

    @Timeout(5.0, clock=clock)
    async def quick() -> int:
        return 1

    refs = []
    for _ in range(3):
        loop = asyncio.new_event_loop()
        assert loop.run_until_complete(quick()) == 1
        loop.close()
        refs.append(weakref.ref(loop))
        del loop
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
