"""A small pool of daemon threads per timeout, for sync calls run with ``mode="thread"``.

Why not ``concurrent.futures.ThreadPoolExecutor``:

* one executor shared by every timeout let the hung calls of one dependency
  take every thread, so the calls of all the others queued behind them and
  timed out without ever running;
* its threads are joined at interpreter exit, so a single call that hangs
  forever kept the process from exiting;
* it queues work when every thread is busy, so a caller could wait out its
  whole timeout in the queue.

A :class:`Workers` pool belongs to one :class:`~peak_trade.resilience.Timeout`
(one dependency). It starts at most ``size`` **daemon** threads, on demand;
a thread idle for :data:`IDLE_SECONDS` exits. There is no queue:
:meth:`Workers.submit` hands the call to an idle thread or a new one, or
returns False at once when all ``size`` are busy -- usually with calls that
were abandoned at their deadline and still hang. A call abandoned by its
caller keeps its thread until it returns; it is counted in
:attr:`Workers.abandoned`.

The caller waits for a :class:`Job` on its condition (``job.cond``, with
``job.done``) through the timeout's clock, so a ManualClock drives the wait.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["IDLE_SECONDS", "Job", "Workers"]

IDLE_SECONDS = 30.0
"""A worker thread with nothing to do for this long exits."""


class Job:
    """One call handed to a worker: its outcome, and whether its caller gave up on it.

    ``done`` turns true under ``cond`` when the call has returned or raised;
    wait with ``clock.wait_for(job.cond, job.is_done, timeout)``.
    """

    __slots__ = ("abandoned", "cond", "done", "error", "finished", "func", "result")

    def __init__(self, func: Callable[[], Any]) -> None:
        self.func = func
        self.cond = threading.Condition(threading.Lock())
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False  # under the pool's lock, like ``abandoned``
        self.abandoned = False

    def is_done(self) -> bool:
        return self.done


class _Worker:
    __slots__ = ("inbox",)

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[Job] = queue.SimpleQueue()


class Workers:
    """At most ``size`` daemon threads running calls, no queue (see the module docstring)."""

    __slots__ = ("_idle", "_lock", "_settled", "_threads", "abandoned", "name", "size")

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # an abandoned call returned
        self._idle: list[_Worker] = []
        self._threads = 0
        self.abandoned = 0

    @property
    def threads(self) -> int:
        """Worker threads alive now (busy or idle)."""
        return self._threads

    def submit(self, job: Job) -> bool:
        """Start ``job`` on an idle or a new thread; False if all ``size`` threads are busy."""
        with self._lock:
            if self._idle:
                worker = self._idle.pop()
            elif self._threads < self.size:
                self._threads += 1
                worker = _Worker()
                thread = threading.Thread(
                    target=self._run,
                    args=(worker,),
                    name=f"peak_trade-timeout-{self.name}",
                    daemon=True,  # a call that never returns must not hold the process at exit
                )
                try:
                    thread.start()
                except BaseException:
                    self._threads -= 1
                    raise
            else:
                return False
        worker.inbox.put(job)
        return True

    def abandon(self, job: Job) -> bool:
        """The caller stops waiting for ``job``; False if it finished meanwhile (use its result)."""
        with self._lock:
            if job.finished:
                return False
            job.abandoned = True
            self.abandoned += 1
            return True

    def wait_until_settled(self, timeout: float | None = None) -> bool:
        """Block until no abandoned call still runs (at most ``timeout`` real seconds).

        For shutdown and tests: True once every call abandoned at its deadline
        has returned and its thread is free again.
        """
        with self._settled:
            return self._settled.wait_for(lambda: self.abandoned == 0, timeout)

    def _run(self, worker: _Worker) -> None:
        while True:
            try:
                job = worker.inbox.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if worker in self._idle:  # still idle: nobody is handing it a job
                        self._idle.remove(worker)
                        self._threads -= 1
                        return
                continue  # it was picked just now: the job is on its way
            try:
                job.result = job.func()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who re-raises it
                job.error = exc
            job.func = _done  # drop the call's arguments as soon as it ran
            with self._lock:
                job.finished = True
                if job.abandoned:
                    self.abandoned -= 1
                    self._settled.notify_all()
                self._idle.append(worker)
            with job.cond:
                job.done = True
                job.cond.notify()


def _done() -> None:
    return None
