"""What every ``peaktrade`` command shares: the Typer apps, options, exit codes, error exit.

Exit codes, the same for every command:

* ``0`` (``EXIT_OK``): done; every check passed.
* ``1`` (``EXIT_FAILURE``): the command ran and found a problem (invalid candles, a
  checksum mismatch), or failed at run time (the store is unreachable).
* ``2`` (``EXIT_USAGE``): the command could not do what was asked because of its
  input: an unknown option, a missing file or directory, a directory that is not
  a cache, an invalid configuration. Fix the command line or the config.

With ``--json`` a command prints one JSON document on stdout whatever happens,
errors included (:func:`json_error`); without it, errors go to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from peak_trade import __version__
from peak_trade.config import Settings, load_settings
from peak_trade.errors import ConfigError, PeakTradeError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="peaktrade",
    help="peak-trade: reliable market data, resilient exchange calls, exactly-once side effects.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect and validate configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
data_app = typer.Typer(help="Check market data files and the OHLCV cache.", no_args_is_help=True)
app.add_typer(data_app, name="data")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file (default: $PEAK_TRADE_CONFIG, then config/peaktrade.toml).",
        dir_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON report instead.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"peaktrade {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """peak-trade command line."""
    from peak_trade.logging import configure_logging

    # stdout carries the commands' output (and --json reports): logs go to stderr
    configure_logging("WARNING", stream=sys.stderr)


def fail(err: PeakTradeError) -> typer.Exit:
    """Print ``err`` to stderr; the exit to raise (2 for a config error, else 1)."""
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(EXIT_USAGE if isinstance(err, ConfigError) else EXIT_FAILURE)


def error_dict(err: PeakTradeError) -> dict[str, Any]:
    """An error as JSON-able data: type, message, hint, context."""
    return {
        "type": type(err).__name__,
        "message": err.message,
        "hint": err.hint,
        "context": err.context,
    }


def json_error(err: PeakTradeError, code: int) -> typer.Exit:
    """Print ``{"ok": false, "error": {...}}`` on stdout; the exit to raise with ``code``."""
    typer.echo(json.dumps({"ok": False, "error": error_dict(err)}, indent=2, default=str))
    return typer.Exit(code)


def load(path: Path | None) -> Settings:
    """The settings, or a usage exit listing every problem."""
    try:
        return load_settings(path)
    except ConfigError as err:
        raise fail(err) from None
