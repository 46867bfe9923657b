"""``read_ohlcv``: OHLCV files as exchanges, data vendors and other tools write them.

Usage::

    from peak_trade.data import read_ohlcv, validate_ohlcv

    df = read_ohlcv("BTCUSDT-1h-2024-01.zip")        # Binance dump: no header, epoch us
    df = read_ohlcv("GOOG.csv", tz="UTC")             # naive dates: say which zone they are in
    df = read_ohlcv("cdd.csv", tz="UTC", time_format="%Y-%m-%d %I-%p",
                    columns={"volume": "volume_btc"}, sort=True)
    validate_ohlcv(df, strict=True, timeframe="1h")

What it reads (details in the private modules it is built from):

* **sources**: a path, bytes, or a binary/text file object; a path with a
  ``.sha256`` sidecar is checksum-verified first (``verify_checksum``);
* **compression**, recognised from the bytes: gzip, bzip2, xz, zstd, a zip
  holding one file (:mod:`peak_trade.data._read_source`);
* **formats**: CSV with any of ``, ; tab |`` (sniffed), a preamble above the
  header, no header at all (ccxt/Binance column order), decimal commas; JSON as
  ccxt/freqtrade/Binance rows, records, columns, pandas split/table; Parquet;
  Feather (:mod:`peak_trade.data._read_parse`);
* **column names** in any case and spelling from :data:`COLUMN_ALIASES`, the
  time column anywhere in the row or as the index; ambiguity is an error
  naming the candidates, never a guess (:mod:`peak_trade.data._read_columns`);
* **timestamps**: epoch s/ms/us/ns told apart by magnitude (``unit``
  overrides), ISO 8601 and other date strings, native datetimes; naive
  wall-clock times need ``tz`` (:mod:`peak_trade.data._read_time`).

What comes out is exactly the contract's shape, ready for
:func:`validate_ohlcv` and :meth:`OhlcvCache.append`: a UTC ``DatetimeIndex``
in nanoseconds named ``timestamp``, and float64 columns ``open``, ``high``,
``low``, ``close``, ``volume`` in that order. Other columns are dropped unless
``keep_extra=True`` (then they follow, as read, under their own names).

It converts notation, never content: no candle is filled, dropped, merged or
corrected, and the order is kept unless ``sort=True`` (a stable sort by time,
for files listed newest first). Checking the candles is
:func:`validate_ohlcv`'s job.

Errors: a missing file is :class:`CacheFileNotFoundError`; a directory, an
unreadable, empty, damaged or unknown file :class:`CacheIOError`; a checksum
mismatch :class:`CacheCorruptionError`; a file whose columns or timestamps do
not fit :class:`DataContractError`; a bad option :class:`InvalidArgumentError`
(``context["option"]`` names it). When an option would fix the problem the
error's ``context["fix"]`` holds the advice as a template (see
:mod:`peak_trade.data._advice`) and its ``hint`` the same advice in Python.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final, Literal

import numpy as np
import pandas as pd

from peak_trade.data._advice import fix_context
from peak_trade.data._read_columns import COLUMN_ALIASES, resolve
from peak_trade.data._read_parse import Parsed, parse
from peak_trade.data._read_source import FORMATS, Source, load
from peak_trade.data._read_time import UNITS, TimeInfo, to_utc_index
from peak_trade.data.contracts import REQUIRED_COLUMNS
from peak_trade.errors import DataContractError, InvalidArgumentError

__all__ = ["COLUMN_ALIASES", "ReadInfo", "read_ohlcv", "read_ohlcv_with_info"]

Format = Literal["csv", "json", "parquet", "feather"]
Unit = Literal["s", "ms", "us", "ns"]
OhlcvSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | IO[str]

_TABS: Final = frozenset({"\\t", "tab", "TAB"})
_COMMA_NUMBER: Final = r"[-+]?[0-9]+,[0-9]+"


@dataclass(frozen=True, slots=True)
class ReadInfo:
    """How :func:`read_ohlcv_with_info` read a file: what was detected and used."""

    source: str
    format: str
    compression: str | None
    checksum: str  # "verified", "no sidecar", "not checked", "buffer", "frame"
    rows: int
    time_column: str
    time: TimeInfo
    columns: dict[str, str]  # field -> the file's column
    dropped: tuple[str, ...]  # columns not kept (keep_extra=False)
    layout: dict[str, Any]  # CSV: sep, decimal, skipped_lines, header
    sorted: bool
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "source": self.source,
            "format": self.format,
            "compression": self.compression,
            "checksum": self.checksum,
            "rows": self.rows,
            "time_column": self.time_column,
            "time": self.time.to_dict(),
            "columns": dict(self.columns),
            "dropped": list(self.dropped),
            "layout": dict(self.layout),
            "sorted": self.sorted,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        parts = [self.format if self.compression is None else f"{self.format} ({self.compression})"]
        layout = self.layout
        if layout.get("sep") not in (None, ","):
            parts.append(f"separated by {layout['sep']!r}")
        if layout.get("decimal") == ",":
            parts.append("decimal comma")
        if layout.get("skipped_lines"):
            parts.append(f"{layout['skipped_lines']} line(s) above the header skipped")
        if layout.get("header") is False:
            parts.append("no header: columns by position")
        parts.append(
            f"time from {self.time_column!r} ({self.time.kind}, {self.time.detail}, "
            f"{self.time.zone})"
        )
        renamed = [f"{f} from {c!r}" for f, c in self.columns.items() if c.lower() != f]
        if renamed:
            parts.append(", ".join(renamed))
        if self.dropped:
            parts.append(f"dropped {', '.join(map(repr, self.dropped))}")
        if self.sorted:
            parts.append("sorted by time")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class _Options:
    """``read_ohlcv``'s options, checked once before the file is touched."""

    format: str | None
    tz: Any
    unit: str | None
    time_column: str | None
    time_format: str | None
    columns: dict[str, str]
    sep: str | None
    decimal: str | None
    sort: bool
    keep_extra: bool
    verify_checksum: bool | None

    @classmethod
    def check(cls, **given: Any) -> _Options:
        sep = given["sep"]
        if isinstance(sep, str) and sep in _TABS:
            sep = "\t"
        _choice("format", given["format"], FORMATS)
        _choice("unit", given["unit"], tuple(UNITS))
        _choice("decimal", given["decimal"], (".", ","))
        _check_tz(given["tz"])
        if sep is not None and (
            not isinstance(sep, str) or len(sep) != 1 or sep.isalnum() or sep in "\".' \r\n"
        ):
            raise _bad("sep", sep, "a single delimiter character: , ; | or tab")
        if sep is not None and sep == given["decimal"]:
            raise _bad("sep", sep, "a delimiter different from the decimal mark")
        for name in ("time_column", "time_format"):
            value = given[name]
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise _bad(name, value, "a non-empty string")
        time_format = given["time_format"]
        if time_format is not None and "%" not in time_format:
            raise _bad("time_format", time_format, "strftime codes, e.g. '%Y-%m-%d %H:%M'")
        columns = dict(given["columns"] or {})
        for key, value in columns.items():
            if key not in REQUIRED_COLUMNS or not isinstance(value, str) or not value.strip():
                raise _bad(
                    "columns",
                    given["columns"],
                    "a mapping from open, high, low, close or volume to a column name, "
                    "e.g. {'volume': 'Volume BTC'}",
                )
        for name in ("sort", "keep_extra"):
            if not isinstance(given[name], bool):
                raise _bad(name, given[name], "True or False")
        if given["verify_checksum"] not in (None, True, False):
            raise _bad("verify_checksum", given["verify_checksum"], "None, True or False")
        return cls(**{**given, "sep": sep, "columns": columns})


def _bad(option: str, value: Any, allowed: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"invalid {option}={value!r}",
        hint=f"{option} must be {allowed}",
        context={"option": option, "value": repr(value)},
    )


def _choice(option: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise _bad(option, value, "one of " + ", ".join(map(repr, allowed)))


def _check_tz(tz: Any) -> None:
    if tz is None or isinstance(tz, _dt.tzinfo):
        return
    try:
        if not isinstance(tz, str) or not tz:
            raise TypeError(tz)
        pd.Timestamp("2000-01-01").tz_localize(tz)
    except Exception as exc:  # zoneinfo, pytz and dateutil each raise their own
        raise InvalidArgumentError(
            f"unknown time zone tz={tz!r}",
            hint="name an IANA time zone, e.g. 'UTC', 'Europe/Berlin', 'America/New_York'",
            context={"option": "tz", "value": repr(tz)},
        ) from exc


# --------------------------------------------------------------------------- entry points


def read_ohlcv(
    source: OhlcvSource,
    *,
    format: Format | None = None,
    tz: str | _dt.tzinfo | None = None,
    unit: Unit | None = None,
    time_column: str | None = None,
    time_format: str | None = None,
    columns: Mapping[str, str] | None = None,
    sep: str | None = None,
    decimal: Literal[".", ","] | None = None,
    sort: bool = False,
    keep_extra: bool = False,
    verify_checksum: bool | None = None,
) -> pd.DataFrame:
    """Read OHLCV candles from a file or buffer into the contract's shape.

    Args:
        source: a path, bytes, or a binary or text file object.
        format: "csv", "json", "parquet" or "feather"; sniffed from the bytes if omitted.
        tz: the zone of naive timestamps ("UTC", "Europe/Berlin"); required for them,
            unused for epoch numbers and timestamps with an offset.
        unit: the epoch unit "s", "ms", "us" or "ns"; by magnitude if omitted.
        time_column: the column holding the time (case-insensitive), or "index".
        time_format: strftime format of text timestamps ("%d.%m.%Y %H:%M").
        columns: which column is which field, e.g. ``{"volume": "Volume BTC"}``.
        sep: CSV delimiter (sniffed if omitted); "tab" or "\\t" for tabs.
        decimal: CSV decimal mark "." or "," (sniffed if omitted).
        sort: sort the candles by time (stable); otherwise the file's order is kept.
        keep_extra: keep the file's other columns after the five (dropped by default).
        verify_checksum: verify the ``.sha256`` sidecar; None (default) does when one exists.

    Returns:
        A DataFrame with a UTC ``DatetimeIndex`` (ns) named ``timestamp`` and float64
        columns open, high, low, close, volume.

    Raises:
        CacheFileNotFoundError, CacheIOError, CacheCorruptionError, DataContractError,
        InvalidArgumentError: see the module docstring.
    """
    frame, _ = read_ohlcv_with_info(
        source,
        format=format,
        tz=tz,
        unit=unit,
        time_column=time_column,
        time_format=time_format,
        columns=columns,
        sep=sep,
        decimal=decimal,
        sort=sort,
        keep_extra=keep_extra,
        verify_checksum=verify_checksum,
    )
    return frame


def read_ohlcv_with_info(
    source: OhlcvSource | pd.DataFrame,
    *,
    format: Format | None = None,
    tz: str | _dt.tzinfo | None = None,
    unit: Unit | None = None,
    time_column: str | None = None,
    time_format: str | None = None,
    columns: Mapping[str, str] | None = None,
    sep: str | None = None,
    decimal: Literal[".", ","] | None = None,
    sort: bool = False,
    keep_extra: bool = False,
    verify_checksum: bool | None = None,
) -> tuple[pd.DataFrame, ReadInfo]:
    """:func:`read_ohlcv`, plus a :class:`ReadInfo` saying what was detected.

    ``source`` may also be a pandas DataFrame as some other reader returned it: its
    columns and time are then mapped and converted the same way.
    """
    opts = _Options.check(
        format=format,
        tz=tz,
        unit=unit,
        time_column=time_column,
        time_format=time_format,
        columns=columns,
        sep=sep,
        decimal=decimal,
        sort=sort,
        keep_extra=keep_extra,
        verify_checksum=verify_checksum,
    )
    if isinstance(source, pd.DataFrame):
        src = Source(b"", "<frame>", "", None, "frame", "frame")
        parsed = Parsed(source, False)
    else:
        src = load(source, verify_checksum=opts.verify_checksum, format=opts.format)
        parsed = parse(src, sep=opts.sep, decimal=opts.decimal)
    return _shape(parsed, src, opts)


def _shape(parsed: Parsed, src: Source, opts: _Options) -> tuple[pd.DataFrame, ReadInfo]:
    raw, where = parsed.frame, src.label
    cols = resolve(
        raw,
        positional=parsed.positional,
        time_column=opts.time_column,
        overrides=opts.columns,
        where=where,
    )
    index, time_info = to_utc_index(
        _time_values(raw, cols.time, cols.time_parts, where),
        label=cols.time_label,
        where=where,
        tz=opts.tz,
        unit=opts.unit,
        unit_hint=cols.unit,
        time_format=opts.time_format,
    )
    decimal = parsed.layout.get("decimal", ".")
    data = {
        name: _floats(raw[cols.fields[name]], name, str(cols.fields[name]), where, decimal)
        for name in REQUIRED_COLUMNS
    }
    out = pd.DataFrame(data, index=index)
    if opts.keep_extra:
        for label in cols.extras:
            name = str(label)
            out[name if name not in out.columns else f"{name} (extra)"] = raw[label].to_numpy()
    if opts.sort and len(out) > 1:
        out = out.iloc[np.argsort(pd.DatetimeIndex(out.index).asi8, kind="stable")]
    info = ReadInfo(
        source=where,
        format=src.format,
        compression=src.compression,
        checksum=src.checksum,
        rows=len(out),
        time_column=cols.time_label,
        time=time_info,
        columns={name: str(cols.fields[name]) for name in REQUIRED_COLUMNS},
        dropped=() if opts.keep_extra else tuple(str(x) for x in cols.extras),
        layout=dict(parsed.layout),
        sorted=opts.sort,
        notes=time_info.notes,
    )
    return out, info


def _time_values(
    raw: pd.DataFrame, time: Any, parts: tuple[Any, Any] | None, where: str
) -> pd.Series | pd.Index:
    if parts is not None:
        date: pd.Series = raw[parts[0]]
        clock: pd.Series = raw[parts[1]]
        joined = date.astype(str).str.strip() + " " + clock.astype(str).str.strip()
        return joined.where(date.notna() & clock.notna())
    if time is None:
        return raw.index
    values: pd.Series | pd.DataFrame = raw[time]
    if isinstance(values, pd.DataFrame):
        raise DataContractError(
            f"{where}: the time column {str(time)!r} appears more than once",
            hint="rename or drop the repeated column in the file",
            context={"path": where, "time_column": str(time)},
        )
    return values


def _floats(
    series: pd.Series | pd.DataFrame, name: str, label: str, where: str, decimal: str
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A column as float64; text that is not a number is an error naming rows and values."""
    if isinstance(series, pd.DataFrame):
        raise DataContractError(
            f"{where}: the column {label!r} ({name}) appears more than once",
            hint="rename or drop the repeated column in the file",
            context={"path": where, "column": name, "source_column": label},
        )
    dtype = series.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not (
        pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype)
    ):
        if isinstance(dtype, np.dtype):
            return series.to_numpy().astype(np.float64, copy=False)
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = pd.to_numeric(series, errors="coerce")
    text = series.astype(str).str.strip()
    bad = np.asarray(numbers.isna() & series.notna() & (text != ""))
    if bad.any():
        rows = np.flatnonzero(bad)
        values = list(text.iloc[rows[:3]])
        fix = "the column must hold numbers: re-export it, or name another with {column=%s=NAME}"
        fix %= name
        if decimal != "," and all(pd.Series(values).str.fullmatch(_COMMA_NUMBER)):
            fix = "the numbers use a decimal comma: pass {decimal=,}"
        hint, context = fix_context(
            fix,
            {
                "path": where,
                "column": name,
                "source_column": label,
                "count": int(bad.sum()),
                "examples": [f"row {int(r)}: {v!r}" for r, v in zip(rows, values, strict=False)],
            },
        )
        raise DataContractError(
            f"{where}: the {name} column {label!r} holds text that is not a number in "
            f"{int(bad.sum())} row(s), e.g. {values[0]!r}",
            hint=hint,
            context=context,
        )
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)
