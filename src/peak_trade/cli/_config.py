"""``peaktrade config show`` and ``peaktrade config validate``.

Both print, on stderr, one warning per key set to a non-default value that
nothing uses yet (``[web] port = 9000 is accepted but not used yet (planned:
...)``; see ``peak_trade.config.INERT_KEYS``), so stdout stays the report or the
TOML/JSON document. Secrets are masked: the store URL's password, API keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import tomli_w
import typer

from peak_trade.cli._common import ConfigOption, config_app, load
from peak_trade.config import Settings


def _warn_inert(settings: Settings) -> None:
    for inert in settings.inert_settings():
        typer.echo(f"warning: {inert}", err=True)


@config_app.command("show")
def config_show(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print secrets unmasked (careful).")
    ] = False,
) -> None:
    """Print the effective configuration (defaults < file < environment), secrets masked."""
    settings = load(config)
    _warn_inert(settings)
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
    settings = load(file)
    source = settings.source or "<built-in defaults>"
    typer.echo(f"OK: {source} is valid")
    _warn_inert(settings)
