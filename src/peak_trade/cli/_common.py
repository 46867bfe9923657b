"""What every ``peaktrade`` command shares: the Typer apps, options, exit codes, error exit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from peak_trade import __version__
from peak_trade.config import Settings, load_settings
from peak_trade.errors import ConfigError, PeakTradeError

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


def load(path: Path | None) -> Settings:
    """The settings, or a usage exit listing every problem."""
    try:
        return load_settings(path)
    except ConfigError as err:
        raise fail(err) from None
