"""``peaktrade data verify``: checksums and manifest of the OHLCV cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from peak_trade.cli._common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    data_app,
    fail,
    load,
)
from peak_trade.errors import PeakTradeError


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
    root = cache_dir if cache_dir is not None else load(config).data.cache_dir
    if not root.is_dir():
        typer.echo(f"error: cache directory {str(root)!r} does not exist", err=True)
        raise typer.Exit(EXIT_USAGE)
    from peak_trade.data import OhlcvCache

    try:
        check = OhlcvCache(root).verify()
    except PeakTradeError as err:
        raise fail(err) from None
    if as_json:
        typer.echo(json.dumps(check.to_dict(), indent=2))
    else:
        typer.echo(str(check))
    if not check.ok:
        raise typer.Exit(EXIT_FAILURE)
