"""``python -m benchmarks [SUITE ...]``: run the benchmark suites and print a Markdown report."""

from __future__ import annotations

import importlib
import platform
import sys

from benchmarks._harness import Suite

SUITES = ["bench_resilience", "bench_ratelimit", "bench_data_validate", "bench_data_atomic"]


def main(argv: list[str]) -> int:
    chosen = [s for s in SUITES if not argv or any(a in s for a in argv)]
    print(
        f"# peak-trade benchmarks\n\nPython {platform.python_version()} on {platform.machine()}, "
        f"{platform.system()}; best of 5 runs per row.\n"
    )
    for name in chosen:
        module = importlib.import_module(f"benchmarks.{name}")
        suites: list[Suite] = module.run()
        for suite in suites:
            print(suite.render())
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
