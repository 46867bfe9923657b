"""A tiny timing harness: best-of-N per-call time, reported as ratios."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    name: str
    per_call_s: float
    note: str = ""


@dataclass
class Suite:
    title: str
    baseline: str  # name of our implementation, the ratio reference
    results: list[Result] = field(default_factory=list)

    def add(self, name: str, per_call_s: float, note: str = "") -> None:
        self.results.append(Result(name, per_call_s, note))

    def render(self) -> str:
        ours = next((r for r in self.results if r.name == self.baseline), None)
        lines = [
            f"### {self.title}",
            "",
            "| implementation | per call | ratio vs ours | note |",
            "|---|---:|---:|---|",
        ]
        for r in self.results:
            ratio = f"{r.per_call_s / ours.per_call_s:.2f}x" if ours and ours.per_call_s else "-"
            lines.append(f"| {r.name} | {fmt_time(r.per_call_s)} | {ratio} | {r.note} |")
        return "\n".join(lines) + "\n"


def fmt_time(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def per_call(fn: Callable[[], object], *, number: int, repeat: int = 5) -> float:
    """Best per-call time over ``repeat`` runs of ``number`` calls (GC off while timing)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        best = min(best, elapsed / number)
    return best


def per_call_interleaved(
    fns: dict[str, Callable[[], object]], *, number: int, repeat: int = 7
) -> dict[str, float]:
    """Best per-call time of each function, timed in alternating rounds.

    For I/O-bound rows (a Redis round trip) the machine's load drifts during a
    run; alternating the contenders exposes them all to the same drift, so the
    ratio between them is fair even when the absolute times wander.
    """
    best = dict.fromkeys(fns, float("inf"))
    for fn in fns.values():  # warm up: connections, script loads
        for _ in range(max(1, number // 10)):
            fn()
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], per_call(fn, number=number, repeat=1))
    return best


async def async_per_call(fn: Callable[[], Awaitable[object]], *, number: int) -> float:
    """Per-call time of ``number`` awaited calls of ``fn``, in one round."""
    start = time.perf_counter()
    for _ in range(number):
        await fn()
    return (time.perf_counter() - start) / number


async def async_per_call_interleaved(
    fns: dict[str, Callable[[], Awaitable[object]]], *, number: int, repeat: int = 7
) -> dict[str, float]:
    """The async twin of :func:`per_call_interleaved`: best per-call time, alternating rounds."""
    for fn in fns.values():  # warm up: connections, script loads
        await async_per_call(fn, number=max(1, number // 10))
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], await async_per_call(fn, number=number))
    return best


def threaded_interleaved(
    fns: dict[str, Callable[[], object]], threads: int, number: int, repeat: int = 3
) -> dict[str, float]:
    """Best wall time per call with ``threads`` threads each making ``number`` calls.

    The contenders take turns (as in ``per_call_interleaved``), so machine load
    drifting during the run hits them all alike.
    """

    def once(fn: Callable[[], object]) -> float:
        start_line = threading.Barrier(threads + 1)

        def work() -> None:
            start_line.wait()
            for _ in range(number):
                fn()

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        start_line.wait()
        begun = time.perf_counter()
        for w in workers:
            w.join()
        return (time.perf_counter() - begun) / (threads * number)

    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], once(fn))
    return best
