"""``peaktrade data verify``: checksums and manifest of the OHLCV cache.

Exit codes (the policy of :mod:`peak_trade.cli._common`): 0 every file is
recorded and verifies; 1 a problem was found (damage, a manifest that lags
behind, an unreadable manifest) or the check failed at run time (I/O); 2 the
input is not a cache (no such directory, no ``manifest.json``) or the
configuration is invalid. With ``--json`` stdout carries one JSON document
whatever happens, errors included.

Errors raised inside the library carry hints written for Python callers
(``verify(repair=True)``, ``CacheManifest.record_many``); this command
replaces them with what to type instead (:func:`_cli_hint`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from peak_trade.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    data_app,
    json_error,
)
from peak_trade.errors import (
    CacheCorruptionError,
    CacheFileNotFoundError,
    ConfigError,
    OperationTimeoutError,
    PeakTradeError,
)

_REPAIR = "`peaktrade data verify --repair`"


@data_app.command("verify")
def data_verify(
    cache_dir: Annotated[
        Path | None,
        typer.Argument(
            help="Cache directory, the one holding manifest.json (default: \\[data] cache_dir).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Also settle what interrupted writes left: remove temp files of writers "
            "that died, finish interrupted sidecar updates, record intact files the manifest "
            "lacks. Never changes or deletes a data file.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check every cache file against the manifest and its .sha256 sidecar.

    Exit 0 if all is well, 1 on any problem, 2 if the directory is not a cache.
    """
    origin: str | None = None  # where the directory came from, if not the argument
    try:
        root, origin = _cache_root(cache_dir, config)
        _must_be_a_directory(root)
        from peak_trade.data import OhlcvCache

        check = OhlcvCache(root).verify(repair=repair)
    except PeakTradeError as err:
        err.hint = _cli_hint(err, origin)
        code = EXIT_USAGE if _is_usage(err) else EXIT_FAILURE
        if as_json:
            raise json_error(err, code) from None
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code) from None
    if as_json:
        typer.echo(json.dumps(check.to_dict(), indent=2))
    else:
        typer.echo(check.render(repair=_REPAIR))
    raise typer.Exit(EXIT_OK if check.ok else EXIT_FAILURE)


def _cache_root(cache_dir: Path | None, config: Path | None) -> tuple[Path, str | None]:
    """The directory to check, and where it came from (``None``: the command line)."""
    origin = None
    if cache_dir is None:
        from peak_trade.config import load_settings

        settings = load_settings(config)
        cache_dir = settings.data.cache_dir
        if "PEAK_TRADE_DATA__CACHE_DIR" in settings.env_overrides:
            origin = "[data] cache_dir, set by PEAK_TRADE_DATA__CACHE_DIR"
        elif settings.source is not None:
            origin = f"[data] cache_dir in {settings.source}"
        else:
            origin = "the default [data] cache_dir (no config file)"
    return cache_dir, origin


def _must_be_a_directory(root: Path) -> None:
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise CacheFileNotFoundError(
            f"Cache directory {str(root)!r} {what}.",
            context={"root": str(root), "reason": "not_found"},
        )


def _is_usage(err: PeakTradeError) -> bool:
    """Errors in what the user asked for (exit 2), not in what was found (exit 1)."""
    if isinstance(err, ConfigError):
        return True
    return isinstance(err, CacheFileNotFoundError) and err.context.get("reason") in (
        "not_found",
        "no_manifest",
    )


def _cli_hint(err: PeakTradeError, origin: str | None) -> str | None:
    """What to do about ``err``, said in command-line terms (``origin``: see _cache_root)."""
    reason = err.context.get("reason")
    if isinstance(err, CacheFileNotFoundError) and reason in ("not_found", "no_manifest"):
        expected = (
            "the cache directory, the one holding manifest.json and the "
            "<exchange>/<symbol>/<timeframe>/ folders"
        )
        if origin is not None:
            return (
                f"This directory comes from {origin}: set it to {expected}, or pass that "
                "directory as an argument. A cache gets its manifest.json with its first "
                "candles."
            )
        lost = (
            " If this is the cache and its manifest.json was lost, restore it from a backup."
            if reason == "no_manifest"
            else ""
        )
        return f"Pass {expected}; without an argument the command checks [data] cache_dir.{lost}"
    if isinstance(err, CacheCorruptionError) and "manifest" in err.context:
        if "format_version" in err.context:
            return err.hint  # written by a newer peak-trade: the hint says to upgrade
        return (
            "Restore manifest.json from a backup. The data files can still be checked one "
            "by one against their .sha256 sidecars: `peaktrade data validate FILE...`."
        )
    if isinstance(err, OperationTimeoutError):
        return (
            "Another peaktrade process is writing this cache; run the command again when "
            "it has finished."
        )
    return err.hint
