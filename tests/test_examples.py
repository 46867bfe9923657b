"""Every example script runs, offline, and prints what its comments promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(path: Path) -> str:
    out = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_every_example_is_covered() -> None:
    scripts = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.py"))
    assert scripts == sorted(EXPECTED), "add the new example to EXPECTED"


EXPECTED = {
    "data/01_validate_and_cache.py": [
        "rejected: 4 rules broken: duplicate_timestamps, high_below_low, "
        "high_below_open_close, negative_volume",
        "report ok=False, rows=61",
        "appended 120 candles into 2 monthly files",
        "re-append: 0 new, 60 revised",
        "read back 60 candles for 2026-04-01 00:00-01:00",
        "cache verified: True",
    ],
    "data/02_manifest_and_repro.py": [
        "config hash is key-order independent: True",
        "backtest deterministic under seed 42: True",
        "manifest ok: True, rows recorded: 1000",
        "corruption caught: expected",
        "manifest now reports changed: ['equity.parquet']",
    ],
    "resilience/01_basics.py": [
        "after 3 failures: OPEN",
        "rejected without calling: retry after 30s",
        "trial call: 200 OK; state: CLOSED",
        "flaky_fetch -> 'data' after 3 attempts",
        "fetch_ohlcv: 5 of 8 granted",
    ],
    "resilience/02_combining_patterns.py": [
        "6 attempts, 2 breaker failures, state OPEN",
        "open breaker: no retry, no wait, still 6 attempts",
        "prices: [42000.0, 42000.0, 42000.0]",
    ],
}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example(script: str) -> None:
    output = run(EXAMPLES / script)
    for line in EXPECTED[script]:
        assert line in output, f"{line!r} not in output:\n{output}"
