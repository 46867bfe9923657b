"""Crash-safe checksummed parquet writes/reads vs plain pandas parquet I/O.

A ~200 MB OHLCV frame (float64 columns + a tz-aware DatetimeIndex), written
to a temp directory on the same filesystem as the cache would be:

- write: ``atomic_write(df, p, checksum=True)`` (temp file, SHA-256 while
  streaming, fsync, sidecar, renames, directory fsync) vs ``df.to_parquet(p)``
  followed by an ``fsync`` of the file; both zstd.
- read: ``atomic_read(p, verify_checksum=True)`` (read once, hash, parse the
  same buffer) vs ``pd.read_parquet(p)`` without any verification.

Target: the write costs at most 1.3x the plain write.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks._harness import Suite, per_call_interleaved

ROWS = 4_200_000  # 5 float64 columns + int64 index: ~200 MB in memory
COMPRESSION = "zstd"


def _frame() -> object:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    idx = pd.date_range("2015-01-01", periods=ROWS, freq="min", tz="UTC", name="ts")
    close = 30_000 + rng.standard_normal(ROWS).cumsum()
    spread = rng.random(ROWS)
    return pd.DataFrame(
        {
            "open": close + rng.standard_normal(ROWS),
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": rng.exponential(5.0, ROWS),
        },
        index=idx,
    )


def _plain_write(df: object, path: Path) -> None:
    df.to_parquet(path, compression=COMPRESSION)  # type: ignore[attr-defined]
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run() -> list[Suite]:
    import pandas as pd

    from peak_trade.data.atomic import atomic_read, atomic_write

    df = _frame()
    assert isinstance(df, pd.DataFrame)
    mb = df.memory_usage(deep=True).sum() / 1e6
    write = Suite(
        f"Parquet write, {ROWS / 1e6:.1f} M rows OHLCV ({mb:.0f} MB in memory), {COMPRESSION}",
        baseline="peak_trade atomic_write(checksum=True)",
    )
    read = Suite(
        f"Parquet read, {ROWS / 1e6:.1f} M rows OHLCV ({mb:.0f} MB in memory), {COMPRESSION}",
        baseline="peak_trade atomic_read(verify_checksum=True)",
    )
    with tempfile.TemporaryDirectory() as workdir:
        ours_path = Path(workdir) / "ours.parquet"
        plain_path = Path(workdir) / "plain.parquet"
        # Alternating rounds (best of 3 each): both sides see the same machine load.
        writes = per_call_interleaved(
            {
                "ours": lambda: atomic_write(df, ours_path, checksum=True),
                "plain": lambda: _plain_write(df, plain_path),
            },
            number=1,
            repeat=3,
        )
        size = ours_path.stat().st_size / 1e6
        write.add(
            "peak_trade atomic_write(checksum=True)",
            writes["ours"],
            f"temp+SHA-256 while streaming+fsync+sidecar+renames+dir fsync; {size:.0f} MB file",
        )
        write.add("pandas to_parquet + fsync", writes["plain"], f"same {COMPRESSION} compression")
        reads = per_call_interleaved(
            {
                "verify": lambda: atomic_read(ours_path, verify_checksum=True),
                "noverify": lambda: atomic_read(ours_path, verify_checksum=False),
                "plain": lambda: pd.read_parquet(plain_path),
            },
            number=1,
            repeat=3,
        )
        read.add(
            "peak_trade atomic_read(verify_checksum=True)",
            reads["verify"],
            "one read, SHA-256 of the buffer, then parse the same buffer",
        )
        read.add("peak_trade atomic_read(verify_checksum=False)", reads["noverify"])
        read.add("pandas read_parquet", reads["plain"], "no verification")
    return [write, read]
