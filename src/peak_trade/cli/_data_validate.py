"""``peaktrade data validate``: read OHLCV files as they come, check them against the contract.

Each file is read by :func:`peak_trade.data.readers.read_ohlcv_with_info` (any
column case and common alias, the time column anywhere, epoch s/ms/us/ns, ISO
and other date strings, CSV/JSON/Parquet/Feather, compressed or not) and then
checked by :func:`validate_ohlcv`. The reader's options are flags here:
``--tz``, ``--unit``, ``--time-column``, ``--time-format``, ``--column``,
``--sep``, ``--decimal``, ``--format``, ``--sort``.

Strictness: ``--strict`` checks gaps and alignment, ``--lenient`` does not;
with neither, ``validate_strict`` of the config's data section decides (default
true). Gaps an exchange (or a closed market) really had are reported in strict
mode and make the file fail: the advice says that ``--lenient`` skips gap
checks. ``--timeframe`` is always used: it checks that every timestamp sits on
the timeframe's boundaries, strict or not (gaps only in strict mode).

Every piece of advice names flags, never Python: errors carry their fix as a
template (``context["fix"]``, see :mod:`peak_trade.data._advice`) rendered here
with flags, and each contract rule has its command-line advice below.

Exit codes (see :mod:`peak_trade.cli._common`): 0 every file is valid; 1 a file
broke the contract (a rule failed, its columns or timestamps do not fit, its
checksum does not match); 2 a file could not be checked as asked (missing, a
directory, unreadable or of an unknown format, a named column it lacks), or an
option or the config is invalid. With several files the highest code wins.
With ``--json`` one JSON document is printed on stdout in every case.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from peak_trade.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    data_app,
    error_dict,
    json_error,
)
from peak_trade.errors import (
    CacheCorruptionError,
    ConfigError,
    DataContractError,
    InvalidArgumentError,
    PeakTradeError,
)

if TYPE_CHECKING:
    from peak_trade.data.contracts import Violation

# --------------------------------------------------------------------------- advice as flags

_FLAGS: Final[dict[str, str]] = {
    "format": "--format",
    "tz": "--tz",
    "unit": "--unit",
    "time_column": "--time-column",
    "time_format": "--time-format",
    "column": "--column",
    "columns": "--column",
    "sep": "--sep",
    "decimal": "--decimal",
    "timeframe": "--timeframe",
}
_SWITCHES: Final[dict[tuple[str, str], str]] = {
    ("sort", "True"): "--sort",
    ("strict", "True"): "--strict",
    ("strict", "False"): "--lenient",
    ("allow_nan", "True"): "--allow-nan",
}


def _flag(name: str, value: str) -> str:
    switch = _SWITCHES.get((name, value))
    if switch is not None:
        return switch
    return f"{_FLAGS.get(name, '--' + name.replace('_', '-'))} {shlex.quote(value)}"


# What to do about each broken rule, from the command line.
_RULE_ADVICE: Final[dict[str, str]] = {
    "required_columns": "name the column that holds it with --column FIELD=NAME",
    "duplicate_columns": "the file repeats a column name: rename or drop the repeated column",
    "time_index": "name the column that holds the time with --time-column NAME",
    "timezone": "pass --tz UTC if the times are UTC, or the zone they were recorded in",
    "nat_timestamps": "some rows have no time: re-export or re-fetch those candles",
    "unsorted_timestamps": "the candles are not in time order (newest first?): --sort sorts "
    "them by time before checking",
    "duplicate_timestamps": "the file repeats candles: re-fetch it, keeping one row per time",
    "non_numeric_dtype": "pass --decimal , if the numbers use a decimal comma; otherwise "
    "re-export the file",
    "nan_values": "re-fetch the incomplete candles, or pass --allow-nan if missing values "
    "are expected",
    "infinite_values": "re-fetch those candles: infinities are never valid prices",
    "non_positive_price": "prices must be > 0: re-fetch those candles (zeros usually mean "
    "an empty period filled with 0)",
    "high_below_open_close": "high must be >= open and close: re-fetch those candles",
    "low_above_open_close": "low must be <= open and close: re-fetch those candles",
    "high_below_low": "high is below low (columns swapped?): check the file's column order, "
    "or name them with --column high=NAME --column low=NAME",
    "negative_volume": "volume must be >= 0: re-fetch those candles",
    "missing_candles": "if the exchange had no trades then (or the market was closed), the "
    "file is fine: --lenient skips gap checks; otherwise backfill the gaps from the exchange",
    "misaligned_timestamps": "each candle is labelled by its open time on the timeframe's "
    "boundaries (the 1st of the month for 1M): check --timeframe, or re-export the file",
}

_CORRUPT_ADVICE: Final[str] = (
    "the file no longer matches its .sha256 sidecar: it was changed or damaged after it was "
    "written; restore it from a backup or fetch it again (delete the sidecar only if you "
    "trust the new content)"
)


def _rule_hint(violation: Violation) -> str:
    return _RULE_ADVICE.get(str(violation.rule), violation.hint)


def _cli_error(err: PeakTradeError) -> PeakTradeError:
    """The same error with advice (and, for a bad option, a message) that names flags."""
    from peak_trade.data._advice import render

    message, hint = err.message, err.hint
    fix = err.context.get("fix")
    if isinstance(fix, str):
        hint = render(fix, _flag)
    elif isinstance(err, CacheCorruptionError):
        hint = _CORRUPT_ADVICE
    option = err.context.get("option")
    if isinstance(option, str):
        flag = _FLAGS.get(option, "--" + option.replace("_", "-"))
        message = f"invalid value for {flag}: {err.context.get('value')}"
        if hint and hint.startswith(option + " "):
            hint = flag + hint[len(option) :]
    if "timeframe" in err.context and not isinstance(option, str):
        message = f"invalid value for --timeframe: {err.context['timeframe']!r}"
    return type(err)(message, hint=hint, context=err.context)


def _usage(err: PeakTradeError, as_json: bool) -> typer.Exit:
    """A problem with the command line or the config: nothing was checked (exit 2)."""
    shown = err if isinstance(err, ConfigError) else _cli_error(err)
    if as_json:
        return json_error(shown, EXIT_USAGE)
    typer.echo(f"error: {shown}", err=True)
    return typer.Exit(EXIT_USAGE)


# --------------------------------------------------------------------------- options


def _parse_columns(items: list[str] | None) -> dict[str, str]:
    columns: dict[str, str] = {}
    for item in items or []:
        field, sep, name = item.partition("=")
        if not sep or not field.strip() or not name.strip():
            raise InvalidArgumentError(
                f"invalid --column {item!r}",
                hint="column FIELD=NAME, e.g. --column volume=volume_btc (FIELD is one of "
                "open, high, low, close, volume)",
                context={"option": "column", "value": repr(item)},
            )
        columns[field.strip().lower()] = name.strip()
    return columns


def _strictness(strict: bool | None, config: Path | None) -> tuple[bool, str]:
    """Strict from the flag, else from the config's validate_strict; and where it came from."""
    if strict is not None and config is None:
        return strict, "--strict" if strict else "--lenient"
    from peak_trade.config import load_settings

    settings = load_settings(config)
    if strict is not None:
        return strict, "--strict" if strict else "--lenient"
    return settings.data.validate_strict, "config"


# --------------------------------------------------------------------------- the command


@data_app.command("validate")
def data_validate(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE...",
            help="OHLCV files: CSV (any delimiter), JSON (ccxt rows, records, columns), "
            "Parquet or Feather, plain or compressed (gzip, bz2, xz, zstd, zip).",
        ),
    ],
    *,
    strict: Annotated[
        bool | None,
        typer.Option(
            "--strict/--lenient",
            help="Check gaps and alignment (--strict), or not (--lenient). Default: "
            "validate_strict in the data section of the config (true unless set).",
            show_default=False,
        ),
    ] = None,
    timeframe: Annotated[
        str | None,
        typer.Option(
            metavar="TF",
            help="ccxt timeframe: 1m, 1h, 1d, 3d, 1w, 1M (calendar months), 1y. Timestamps "
            "must sit on its boundaries, strict or not; strict mode also counts gaps "
            "against it. Inferred in strict mode if omitted.",
        ),
    ] = None,
    allow_nan: Annotated[bool, typer.Option("--allow-nan", help="Accept NaN values.")] = False,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            metavar="ZONE",
            help="Time zone of naive timestamps, e.g. UTC or Europe/Berlin; required for "
            "them. Epoch numbers and timestamps with an offset carry their own.",
        ),
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            metavar="UNIT",
            help="Epoch unit: s, ms, us or ns. Default: told apart by magnitude.",
        ),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option(
            "--time-column",
            metavar="NAME",
            help="Column holding the time, any case. Default: the one named like a time "
            "(time, timestamp, date, open_time, ...).",
        ),
    ] = None,
    time_format: Annotated[
        str | None,
        typer.Option(
            "--time-format",
            metavar="FMT",
            help="strftime format of text timestamps, e.g. '%d.%m.%Y %H:%M' or "
            "'%Y-%m-%d %I-%p'. Default: ISO 8601, else guessed.",
        ),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            metavar="FIELD=NAME",
            help="FIELD=NAME: read FIELD (open, high, low, close or volume) from the column "
            "NAME, e.g. volume=volume_btc. Repeatable.",
        ),
    ] = None,
    sep: Annotated[
        str | None,
        typer.Option("--sep", metavar="SEP", help="CSV delimiter: , ; | or tab. Default: sniffed."),
    ] = None,
    decimal: Annotated[
        str | None,
        typer.Option(
            "--decimal", metavar="MARK", help="CSV decimal mark: . or , (default: sniffed)."
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="csv, json, parquet or feather. Default: sniffed from the bytes.",
        ),
    ] = None,
    sort: Annotated[
        bool,
        typer.Option("--sort", help="Sort the candles by time first (for newest-first files)."),
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read OHLCV files and check them against the contract.

    Exit 0 when every file is valid, 1 when a file breaks the contract, 2 when a
    file cannot be checked as asked (missing, unreadable) or an option is invalid.
    A file with a .sha256 sidecar is verified first.
    """
    from peak_trade.data.contracts import parse_timeframe

    try:
        columns = _parse_columns(column)
        if timeframe is not None:
            parse_timeframe(timeframe)
        strict_on, strict_from = _strictness(strict, config)
    except (InvalidArgumentError, ConfigError) as err:
        raise _usage(err, as_json) from None
    options: dict[str, Any] = {
        "format": fmt,
        "tz": tz,
        "unit": unit,
        "time_column": time_column,
        "time_format": time_format,
        "columns": columns,
        "sep": sep,
        "decimal": decimal,
        "sort": sort,
    }
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    for file in files:
        entry = _check(
            file,
            options,
            strict=strict_on,
            timeframe=timeframe,
            allow_nan=allow_nan,
            as_json=as_json,
        )
        code = max(code, entry["exit_code"])
        results.append(entry)
    _print(
        results,
        code,
        strict=strict_on,
        strict_from=strict_from,
        timeframe=timeframe,
        as_json=as_json,
    )
    if code != EXIT_OK:
        raise typer.Exit(code)


def _check(
    file: Path,
    options: dict[str, Any],
    *,
    strict: bool,
    timeframe: str | None,
    allow_nan: bool,
    as_json: bool,
) -> dict[str, Any]:
    """Read and check one file: its result entry (with the exit code it implies)."""
    from peak_trade.data import validate_ohlcv
    from peak_trade.data.readers import read_ohlcv_with_info

    try:
        frame, info = read_ohlcv_with_info(file, **options)
    except InvalidArgumentError as err:
        if "option" in err.context:  # the option itself is invalid: nothing can be checked
            raise _usage(err, as_json) from None
        return _error_entry(file, err, EXIT_USAGE)
    except (DataContractError, CacheCorruptionError) as err:
        return _error_entry(file, err, EXIT_FAILURE)
    except PeakTradeError as err:
        return _error_entry(file, err, EXIT_USAGE)
    report = validate_ohlcv(
        frame, strict=strict, timeframe=timeframe, allow_nan=allow_nan, raise_on_error=False
    )
    data = report.to_dict()
    for violation, out in zip(report.violations, data["violations"], strict=True):
        out["hint"] = _rule_hint(violation)
    text = report.render(hint=_rule_hint)
    return {
        "file": str(file),
        "ok": report.ok,
        "checksum": info.checksum,
        "read": info.to_dict(),
        "report": data,
        "text": text,
        "read_text": str(info),
        "notes": list(info.notes),
        "exit_code": EXIT_OK if report.ok else EXIT_FAILURE,
    }


def _error_entry(file: Path, err: PeakTradeError, code: int) -> dict[str, Any]:
    shown = _cli_error(err)
    message = shown.message.removeprefix(f"{file}: ")  # the file heads the entry already
    text = message + (f"\nhint: {shown.hint}" if shown.hint else "")
    return {
        "file": str(file),
        "ok": False,
        "error": type(err).__name__,
        "details": error_dict(shown),
        "text": text,
        "exit_code": code,
    }


def _mode(strict: bool, strict_from: str, timeframe: str | None) -> str:
    if strict:
        where = (
            "validate_strict in the config's data section"
            if strict_from == "config"
            else strict_from
        )
        return f"strict ({where}): gaps and alignment checked; --lenient skips gap checks"
    where = "config" if strict_from == "config" else strict_from
    if timeframe is not None:
        return f"lenient ({where}): gaps not checked, alignment to {timeframe} checked"
    return (
        f"lenient ({where}): gaps and alignment not checked (give --timeframe to check alignment)"
    )


def _print(
    results: list[dict[str, Any]],
    code: int,
    *,
    strict: bool,
    strict_from: str,
    timeframe: str | None,
    as_json: bool,
) -> None:
    if as_json:
        document = {
            "ok": code == EXIT_OK,
            "strict": strict,
            "strict_from": strict_from,
            "timeframe": timeframe,
            "files": results,
        }
        typer.echo(json.dumps(document, indent=2, default=str))
        return
    for entry in results:
        status = {EXIT_OK: "OK  ", EXIT_FAILURE: "FAIL"}.get(entry["exit_code"], "ERROR")
        typer.echo(f"{status} {entry['file']}")
        if "read_text" in entry:
            typer.echo(f"  read: {entry['read_text']}")
            for note in entry["notes"]:
                typer.echo(f"  note: {note}")
        if not entry["ok"]:
            prefix = "" if "report" in entry else "error: "
            typer.echo("  " + (prefix + entry["text"]).replace("\n", "\n  "))
    valid = sum(entry["ok"] for entry in results)
    typer.echo(f"{valid} of {len(results)} file(s) valid; {_mode(strict, strict_from, timeframe)}")
