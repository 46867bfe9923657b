"""``peaktrade data validate``: check OHLCV files against the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from peak_trade.cli._common import EXIT_FAILURE, JsonOption, data_app
from peak_trade.errors import PeakTradeError


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
