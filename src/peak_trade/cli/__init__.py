"""The ``peaktrade`` command line.

One small module per command group; this package only assembles them.
Exit codes: 0 success, 1 a runtime failure (store unreachable, ...), 2 a usage
or configuration error the user can fix.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

# importing the command modules registers their commands on the apps
from peak_trade.cli import _config, _data_validate, _data_verify, _run  # noqa: F401
from peak_trade.cli._common import EXIT_FAILURE, app
from peak_trade.errors import PeakTradeError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    try:
        return app(args=argv, prog_name="peaktrade")
    except PeakTradeError as err:  # pragma: no cover - commands convert their own errors
        typer.echo(f"error: {err}", err=True)
        sys.exit(EXIT_FAILURE)
