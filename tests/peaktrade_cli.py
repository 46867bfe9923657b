"""Run the installed ``peaktrade`` script as a real process, as a user's shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["BIN", "clean_env", "run_peaktrade"]

BIN = Path(sys.executable).parent / "peaktrade"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``PEAK_TRADE_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAK_TRADE_")}
    env.update(extra)
    return env


def run_peaktrade(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``peaktrade *args`` in ``cwd`` with a clean environment plus ``env``; never raises."""
    return subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
