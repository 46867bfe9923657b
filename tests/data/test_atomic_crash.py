"""Crash safety with real processes: SIGKILL a writer at random moments, then read back.

A child process (``_crash_writer.py``) atomic-writes two known contents
alternately to one target and announces every write on a pipe (``B seq idx``
before, ``E seq`` after). The parent waits for the announcement of a write,
sleeps a random (seeded) fraction of a write's duration and SIGKILLs the
child. Whatever the moment, ``atomic_read(verify_checksum=True)`` must return
exactly the last completed content or the in-flight one, or raise
``CacheCorruptionError``; anything else (a torn file, a mix) fails the test.
With the transition sidecar (see ``peak_trade.data._fs``) even the error must
not happen for a SIGKILL, and the tests assert that too.
Temp files left behind prove the kill landed mid-write; they must be exactly
what ``clean_stale_temp_files`` removes.
"""

from __future__ import annotations

import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from peak_trade.data._fs import is_temp_name
from peak_trade.data.atomic import atomic_read, clean_stale_temp_files
from peak_trade.errors import CacheCorruptionError

from ._crash_writer import frame, payload

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

WRITER = Path(__file__).with_name("_crash_writer.py")
CORRUPT = -1  # outcome marker: verification refused the file


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    mid_write: int = 0


def _temp_files(directory: Path) -> set[Path]:
    return {p for p in directory.iterdir() if is_temp_name(p.name)}


def _spawn(args: list[str], *, bare: bool) -> subprocess.Popen[str]:
    flags = ["-S"] if bare else []  # the byte writer needs no site-packages: faster start
    return subprocess.Popen(
        [sys.executable, *flags, str(WRITER), *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _wait_for(proc: subprocess.Popen[str], prefix: str, lines: list[str]) -> None:
    """Read the child's progress lines until one starts with ``prefix``."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, f"writer exited before {prefix!r}: {lines[-3:]}"
        lines.append(line.strip())
        if line.startswith(prefix):
            return


def _kill_and_collect(proc: subprocess.Popen[str], lines: list[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.stdout is not None
    lines.extend(line.strip() for line in proc.stdout.read().splitlines())
    proc.stdout.close()
    assert proc.wait() == -signal.SIGKILL


def _in_flight(lines: list[str], before: int) -> tuple[int, int | None]:
    """(index of the last completed content, index in flight or None) from the log."""
    completed, started, seq_index = before, None, {}
    for line in lines:
        kind, *rest = line.split()
        if kind == "B":
            seq_index[rest[0]] = int(rest[1])
            started = int(rest[1])
        elif kind == "E":
            completed, started = seq_index[rest[0]], None
    return completed, started


def _run_trials(
    *,
    trials: int,
    seed: int,
    make_args: Callable[[Path, int], list[str]],
    bare: bool,
    read_as: Callable[[object], int],
    initial: object,
    target: Path,
    write_seconds: float,
) -> Tally:
    from peak_trade.data._fs import atomic_write_bytes
    from peak_trade.data.atomic import atomic_write

    rng = random.Random(seed)
    if isinstance(initial, bytes):
        atomic_write_bytes(target, initial, checksum=True)
    else:
        atomic_write(initial, target, checksum=True)  # type: ignore[arg-type]
    state = 0  # index of the content on disk, or CORRUPT
    durations: list[float] = []
    tally = Tally()
    for _ in range(trials):
        first = 1 - state if state in (0, 1) else 0
        proc = _spawn(make_args(target, first), bare=bare)
        lines: list[str] = []
        _wait_for(proc, "READY", lines)
        for _ in range(rng.randrange(1, 3)):  # land in the 1st or 2nd write
            _wait_for(proc, "B ", lines)
        # A random kill moment (not a synchronisation wait) spread over a whole write.
        time.sleep(rng.uniform(0.0, 1.25 * write_seconds))
        _kill_and_collect(proc, lines)

        completed, flying = _in_flight(lines, state)
        durations += [float(line.split()[2]) for line in lines if line.startswith("E ")]
        if durations:  # how long this child's writes really take, on this machine
            write_seconds = statistics.median(durations[-50:])
        leftovers = _temp_files(target.parent)
        if leftovers:
            tally.mid_write += 1
        assert set(clean_stale_temp_files(target.parent)) == leftovers
        assert not _temp_files(target.parent)

        try:
            seen = read_as(atomic_read(target, verify_checksum=True))
        except CacheCorruptionError:
            tally.outcomes["corrupt"] += 1
            state = CORRUPT
            continue
        if flying is not None and seen == flying and seen != completed:
            tally.outcomes["new"] += 1
        else:
            assert seen == completed, f"read content {seen}, expected {completed} or {flying}"
            assert completed != CORRUPT
            tally.outcomes["old"] += 1
        state = seen
    return tally


SIZE = 3 << 20  # 3 MiB: a write (with fsync) takes long enough to be hit mid-way


def _which_payload(value: object) -> int:
    assert isinstance(value, bytes), type(value)
    for index in (0, 1):
        if value == payload(index, SIZE):
            return index
    pytest.fail(f"read {len(value)} bytes that are neither payload: a torn write")


def _write_duration(tmp_path: Path) -> float:
    from peak_trade.data._fs import atomic_write_bytes

    data = payload(0, SIZE)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        atomic_write_bytes(tmp_path / "probe.bin", data, checksum=True)
        best = min(best, time.perf_counter() - start)
    return best


def test_sigkill_during_byte_writes_never_yields_torn_content(tmp_path: Path) -> None:
    trials, lanes = 200, 2  # two independent writer/target pairs in parallel (2 cores)
    write_seconds = _write_duration(tmp_path)

    def lane(number: int) -> Tally:
        target = tmp_path / f"lane{number}" / "blob.bin"
        target.parent.mkdir()
        return _run_trials(
            trials=trials // lanes,
            seed=20240601 + number,
            make_args=lambda t, first: ["loop", str(t), str(SIZE), str(first)],
            bare=True,
            read_as=_which_payload,
            initial=payload(0, SIZE),
            target=target,
            write_seconds=write_seconds,
        )

    with ThreadPoolExecutor(lanes) as pool:
        tallies = list(pool.map(lane, range(lanes)))
    outcomes = sum((t.outcomes for t in tallies), Counter[str]())
    mid_write = sum(t.mid_write for t in tallies)
    assert sum(outcomes.values()) == trials
    assert set(outcomes) <= {"old", "new", "corrupt"}
    # Both sides of the race were hit, and a real share of kills landed mid-write.
    # The transition sidecar leaves no window for a mismatch: a kill never corrupts.
    assert outcomes["corrupt"] == 0, outcomes
    # Most kills landed mid-write and the old content survived them. ("new", a kill
    # after the rename but before the child said so, needs a slow directory fsync;
    # it is counted, not required: on tmpfs the window is microseconds.)
    assert outcomes["old"] >= trials // 4, outcomes
    assert mid_write >= trials // 4, (mid_write, outcomes)


ROWS = 100_000  # ~4.8 MB of float64 + index: a parquet write takes tens of ms


def _which_frame(value: object) -> int:
    assert isinstance(value, pd.DataFrame), type(value)
    for index in (0, 1):
        expected = frame(index, ROWS)
        assert isinstance(expected, pd.DataFrame)
        if value.equals(expected) and value.index.equals(expected.index):
            return index
    pytest.fail("read a DataFrame that is neither written frame: a torn write")


def test_sigkill_during_dataframe_writes(tmp_path: Path) -> None:
    """Fewer trials (each child imports pandas and pyarrow), same guarantee for parquet."""
    trials = 12
    target = tmp_path / "cache" / "btc.parquet"
    target.parent.mkdir()
    tally = _run_trials(
        trials=trials,
        seed=7,
        make_args=lambda t, first: ["frames", str(t), str(ROWS), str(first)],
        bare=False,
        read_as=_which_frame,
        initial=frame(0, ROWS),
        target=target,
        write_seconds=0.08,
    )
    assert sum(tally.outcomes.values()) == trials
    assert tally.outcomes["corrupt"] == 0, tally
    assert tally.outcomes["old"] >= 1, tally
    assert tally.mid_write >= trials // 4, tally


def test_readers_racing_a_live_writer_see_only_whole_contents(tmp_path: Path) -> None:
    """No kill here: a writer replaces the file non-stop while we read it."""
    size = 1 << 20
    target = tmp_path / "blob.bin"
    from peak_trade.data._fs import atomic_write_bytes

    atomic_write_bytes(target, payload(0, size), checksum=True)
    proc = _spawn(["loop", str(target), str(size), "1"], bare=True)
    lines: list[str] = []
    seen: Counter[str] = Counter()
    try:
        _wait_for(proc, "READY", lines)
        for _ in range(300):
            try:
                value = atomic_read(target)
            except CacheCorruptionError:
                seen["corrupt"] += 1
                continue
            assert value in (payload(0, size), payload(1, size)), "torn read"
            seen[f"payload{value[0]}"] += 1
    finally:
        _kill_and_collect(proc, lines)
    clean_stale_temp_files(tmp_path)
    assert seen["payload0"] > 0, seen
    assert seen["payload1"] > 0, seen
    # The transition sidecar plus the reader's re-read make a mismatch during a
    # live replacement all but impossible; a reader descheduled across several
    # replacements may still give up, which is loud, not wrong.
    assert seen["corrupt"] <= 3, seen


def test_concurrent_writers_of_one_path_leave_a_matching_sidecar(tmp_path: Path) -> None:
    """Three processes write the same 40 paths at once: last writer wins, whole.

    Each writer's data and sidecar renames must not interleave with another's,
    or a file ends up with one writer's bytes and another's digest, and fails
    verification for good.
    """
    writers, files, size = 3, 40, 64 << 10
    for round_ in ("first writes", "replacements", "more replacements", "yet more"):
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-S",
                    str(WRITER),
                    "many",
                    str(tmp_path),
                    str(files),
                    str(size),
                    str(index),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for index in range(writers)
        ]
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "READY"
        for proc in procs:  # start together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, (round_, out)
        bad: list[str] = []
        for number in range(files):
            try:
                value = atomic_read(tmp_path / f"f{number}.bin")
            except CacheCorruptionError:
                bad.append(f"f{number}.bin")
                continue
            assert value in (payload(i, size) for i in range(writers)), "torn content"
        assert bad == [], f"{round_}: {len(bad)} of {files} files fail verification"
        assert not _temp_files(tmp_path)
