"""Child process for the atomic-write crash and lock tests (run as a script, not collected).

Modes::

    loop   TARGET SIZE FIRST   atomic-write payload(FIRST), payload(1-FIRST), ... forever
    frames TARGET ROWS FIRST   the same with two DataFrames through atomic_write
    hold   TARGET              open an atomic write, write a little, wait for a stdin line
    many   DIR COUNT SIZE INDEX  wait for a stdin line, then write payload(INDEX) to
                                 DIR/f0.bin ... DIR/f<COUNT-1>.bin once each, then exit

Progress goes to stdout, one flushed line per event, so the parent knows what
was in flight when it killed us: ``READY``, ``B <seq> <payload>`` just before a
write starts, ``E <seq> <seconds>`` right after it returned (``hold`` prints ``HOLD <temp>``).

Startup must be quick (the crash test spawns hundreds of these): ``loop`` and
``hold`` and ``many`` import only ``peak_trade.errors`` and ``peak_trade.data._fs``, through
a bare package object that skips ``peak_trade/__init__`` (which reads package
metadata); run with ``python -S`` they start in ~20 ms.
"""

from __future__ import annotations

import random
import sys
import time
import types
from functools import lru_cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


@lru_cache(maxsize=4)
def payload(index: int, size: int) -> bytes:
    """The two known contents: distinct, incompressible, reproducible in the parent."""
    block = random.Random(1000 + index).randbytes(1 << 16)  # cheap: one 64 KiB block, tiled
    body = block * (size // len(block) + 1)
    return bytes([index]) * 16 + body[: size - 16]


def frame(index: int, rows: int) -> object:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1000 + index)
    idx = pd.date_range("2024-01-01", periods=rows, freq="min", tz="UTC", name="ts")
    data = rng.random((rows, 5))
    cols = ["open", "high", "low", "close", "volume"]
    return pd.DataFrame(data + index, index=idx, columns=cols)


def _bare_import() -> None:
    """Make ``peak_trade`` importable without running its ``__init__``."""
    pkg = types.ModuleType("peak_trade")
    pkg.__path__ = [str(SRC / "peak_trade")]
    sys.modules["peak_trade"] = pkg


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    mode, target = argv[0], Path(argv[1])
    if mode in ("loop", "hold", "many"):
        _bare_import()
    from peak_trade.data._fs import atomic_write_bytes, is_temp_name, open_atomic

    if mode == "hold":
        with open_atomic(target, checksum=True) as writer:
            writer.write(b"partial content of a write in progress")
            writer.flush()
            temps = [p.name for p in target.parent.iterdir() if is_temp_name(p.name)]
            _say("HOLD " + " ".join(temps))
            sys.stdin.readline()
        _say("E 0")
        return 0
    if mode == "many":
        count, size, index = int(argv[2]), int(argv[3]), int(argv[4])
        data = payload(index, size)
        _say("READY")
        sys.stdin.readline()
        for number in range(count):
            atomic_write_bytes(target / f"f{number}.bin", data, checksum=True)
        _say("E")
        return 0
    first = int(argv[3])
    if mode == "loop":
        size = int(argv[2])
        contents: list[object] = [payload(0, size), payload(1, size)]
    else:
        from peak_trade.data.atomic import atomic_write

        rows = int(argv[2])
        contents = [frame(0, rows), frame(1, rows)]
    _say("READY")
    seq = 0
    while True:
        index = (first + seq) % 2
        _say(f"B {seq} {index}")
        start = time.perf_counter()
        if mode == "loop":
            atomic_write_bytes(target, contents[index], checksum=True)  # type: ignore[arg-type]
        else:
            atomic_write(contents[index], target, checksum=True)  # type: ignore[arg-type]
        _say(f"E {seq} {time.perf_counter() - start:.6f}")
        seq += 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
