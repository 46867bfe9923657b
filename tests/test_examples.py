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
