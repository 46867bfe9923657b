"""The ``peaktrade`` command line.

One small module per command group; this package only assembles them. Exit
codes and ``--json`` are the same for every command (see ``_common``): even a
command line click refuses (an unknown option, a missing argument) gets a
JSON document when ``--json`` is on it.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

# importing the command modules registers their commands on the apps
from peak_trade.cli import _config, _data_validate, _data_verify, _run  # noqa: F401
from peak_trade.cli._common import EXIT_FAILURE, EXIT_USAGE, app, json_error
from peak_trade.errors import InvalidArgumentError, PeakTradeError

__all__ = ["app", "main"]


# typer >= 0.27 vendors click, older typer uses click itself: find the class either way
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


def _wants_json(args: list[str]) -> bool:
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if not _wants_json(args):
            return app(args=args, prog_name="peaktrade")
        try:
            code = app(args=args, prog_name="peaktrade", standalone_mode=False)
        except _UsageError as err:
            ctx = getattr(err, "ctx", None)
            where = ctx.command_path if ctx is not None else "peaktrade"
            problem = InvalidArgumentError(
                err.format_message(),  # type: ignore[attr-defined]
                hint=f"Run '{where} --help' for the options and arguments it takes.",
                context={"command": where, "args": args},
            )
            raise json_error(problem, EXIT_USAGE) from None
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except PeakTradeError as err:  # pragma: no cover - commands convert their own errors
        typer.echo(f"error: {err}", err=True)
        sys.exit(EXIT_FAILURE)
