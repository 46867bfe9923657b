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


JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON report instead.")]


@data_app.command("validate")
def data_validate(
    files: Annotated[
        list[Path], typer.Argument(help="Parquet, CSV or JSON files of OHLCV candles.")
    ],
    strict: Annotated[
        bool, typer.Option("--strict/--lenient", help="Also check gaps and alignment.")
    ] = False,
    timeframe: Annotated[
        str | None, typer.Option(help="ccxt timeframe (1m, 1h, 1d...); inferred if omitted.")
    ] = None,
    allow_nan: Annotated[bool, typer.Option("--allow-nan", help="Accept NaN values.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check each file against the OHLCV contract; exit 1 if any file breaks it.

    A file with a .sha256 sidecar is verified first (a mismatch is a problem).
    """
    from peak_trade.data import atomic_read, validate_ohlcv
    from peak_trade.data._fs import read_sidecar

    results: list[dict[str, Any]] = []
    for file in files:
        entry: dict[str, Any] = {"file": str(file)}
        try:
            verify = read_sidecar(file) is not None
            frame = atomic_read(file, verify_checksum=verify)
            entry["checksum"] = "verified" if verify else "no sidecar"
            report = validate_ohlcv(
                frame,
                strict=strict,
                timeframe=timeframe,
                allow_nan=allow_nan,
                raise_on_error=False,
            )
            entry.update(ok=report.ok, report=report.to_dict(), text=str(report))
        except PeakTradeError as err:
            entry.update(ok=False, error=type(err).__name__, text=str(err))
        results.append(entry)
    ok = all(r["ok"] for r in results)
    if as_json:
        typer.echo(json.dumps({"ok": ok, "files": results}, indent=2, default=str))
    else:
        for r in results:
            typer.echo(f"{'OK  ' if r['ok'] else 'FAIL'} {r['file']}")
            if not r["ok"]:
                typer.echo("  " + r["text"].replace("\n", "\n  "))
        typer.echo(f"{sum(r['ok'] for r in results)} of {len(results)} file(s) valid")
    if not ok:
        raise typer.Exit(EXIT_FAILURE)


@data_app.command("verify")
def data_verify(
    cache_dir: Annotated[
        Path | None,
        typer.Argument(help="Cache directory (default: [data] cache_dir).", file_okay=False),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the cache's checksums and manifest; exit 1 on any problem."""
    root = cache_dir if cache_dir is not None else _load(config).data.cache_dir
    if not root.is_dir():
        typer.echo(f"error: cache directory {str(root)!r} does not exist", err=True)
        raise typer.Exit(EXIT_USAGE)
    from peak_trade.data import OhlcvCache

    try:
        check = OhlcvCache(root).verify()
    except PeakTradeError as err:
        raise _fail(err) from None
    if as_json:
        typer.echo(json.dumps(check.to_dict(), indent=2))
    else:
        typer.echo(str(check))
    if not check.ok:
        raise typer.Exit(EXIT_FAILURE)


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
