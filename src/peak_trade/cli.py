"""The ``peaktrade`` command line.

Exit codes: 0 success, 1 a runtime failure (store unreachable, ...), 2 a usage
or configuration error the user can fix.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import tomli_w
import typer

from peak_trade import __version__
from peak_trade.config import Settings, load_settings
from peak_trade.errors import ConfigError, PeakTradeError

__all__ = ["app", "main"]

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

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file (default: $PEAK_TRADE_CONFIG, then config/peaktrade.toml).",
        dir_okay=False,
    ),
]


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


def _fail(err: PeakTradeError) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(EXIT_USAGE if isinstance(err, ConfigError) else EXIT_FAILURE)


def _load(path: Path | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as err:
        raise _fail(err) from None


@config_app.command("show")
def config_show(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print secrets unmasked (careful).")
    ] = False,
) -> None:
    """Print the effective configuration (defaults < file < environment), secrets masked."""
    settings = _load(config)
    data = settings.to_toml_dict(mask_secrets=not show_secrets)
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=False))
        return
    source = settings.source or "<built-in defaults>"
    typer.echo(f"# effective configuration, from: {source}")
    if settings.env_overrides:
        typer.echo(f"# overridden by environment: {', '.join(settings.env_overrides)}")
    typer.echo(tomli_w.dumps(data), nl=False)


@config_app.command("validate")
def config_validate(
    file: Annotated[
        Path | None,
        typer.Argument(help="File to check (default: the file `run` would use).", dir_okay=False),
    ] = None,
) -> None:
    """Check a config file (and PEAK_TRADE_* variables); exit 2 listing every problem."""
    settings = _load(file)
    source = settings.source or "<built-in defaults>"
    typer.echo(f"OK: {source} is valid")


@app.command("run")
def run(config: ConfigOption = None) -> None:
    """Run the peak-trade node on the given (or default) configuration until Ctrl-C / SIGTERM."""
    settings = _load(config)
    from peak_trade.node import Node  # wiring layer; imported late to keep --help fast

    try:
        node = Node(settings)
        node.start()
    except PeakTradeError as err:
        raise _fail(err) from None
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in node.describe():
            typer.echo(line)
        typer.echo("peaktrade is running; press Ctrl-C to stop.")
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        node.stop()
        typer.echo("peaktrade stopped cleanly.")


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    try:
        return app(args=argv, prog_name="peaktrade")
    except PeakTradeError as err:  # pragma: no cover - commands convert their own errors
        typer.echo(f"error: {err}", err=True)
        sys.exit(EXIT_FAILURE)
