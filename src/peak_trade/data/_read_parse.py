"""Bytes to a raw DataFrame, before any column is renamed or any timestamp converted.

CSV is sniffed from its first 50 non-empty lines:

* the delimiter is the one of ``, ; tab |`` that splits the most lines into the
  same number (two or more) of fields;
* lines above the first line of that width are a preamble and skipped (such as
  CryptoDataDownload's "Timestamps are UTC timezone,https://..." line);
* that line is the header unless it holds three or more numbers; a file without
  a header is read as ccxt's and Binance's column order: time, open, high, low,
  close, volume, then anything else;
* decimal commas (``42000,5``) are recognised in files not separated by commas
  when numbers use a comma and none a point. Thousands separators are not.

JSON: ccxt's and freqtrade's rows ``[[ts, o, h, l, c, v, ...], ...]`` (Binance's
klines too, strings included), records ``[{"t": ..., "o": ...}, ...]``, columns
``{"open": [...], ...}``, and pandas' ``split`` and ``table`` layouts.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd

from peak_trade.data._read_source import Source
from peak_trade.errors import CacheIOError, DataContractError

__all__ = ["POSITIONAL", "Parsed", "parse"]

POSITIONAL: Final[tuple[str, ...]] = ("time", "open", "high", "low", "close", "volume")
"""Column order of a CSV without a header and of ccxt's JSON rows."""

_SEPARATORS: Final[tuple[str, ...]] = (",", ";", "\t", "|")
_SNIFF_LINES: Final[int] = 50
_SNIFF_CHARS: Final[int] = 1 << 18
_COMMA_NUMBER: Final = re.compile(r"[-+]?[0-9]+,[0-9]+")
_POINT_NUMBER: Final = re.compile(r"[-+]?[0-9]*\.[0-9]+")
_JSON_LAYOUTS: Final[str] = (
    "rows [[ts, open, high, low, close, volume, ...], ...] (ccxt, freqtrade, Binance), "
    'records [{"time": ..., "open": ...}, ...], columns {"open": [...], ...}, '
    "or pandas' split and table layouts"
)


@dataclass(slots=True)
class Parsed:
    """A raw frame; ``positional`` when its columns are :data:`POSITIONAL` by order."""

    frame: pd.DataFrame
    positional: bool
    layout: dict[str, Any] = field(default_factory=dict)


def parse(src: Source, *, sep: str | None, decimal: str | None) -> Parsed:
    """Parse ``src`` by its format.

    Raises:
        CacheIOError: the bytes are not readable as that format.
        DataContractError: a header-less file with fewer than six columns.
    """
    if src.format in ("parquet", "feather"):
        return Parsed(_columnar(src), False)
    if src.format == "json":
        return _json(_text(src.data)[0], src.label)
    return _csv(src.data, src.label, sep, decimal)


def _text(data: bytes) -> tuple[str, str]:
    """The text and its encoding: UTF-8 (a BOM skipped), else Latin-1 (Windows exports)."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _unreadable(src_label: str, fmt: str, exc: Exception) -> CacheIOError:
    return CacheIOError(
        f"{src_label!r} is not readable as {fmt}: {exc}",
        hint="check that the file is complete and really is " + fmt,
        context={"path": src_label, "format": fmt, "reason": "parse"},
    )


def _positional(frame: pd.DataFrame, label: str, what: str) -> Parsed:
    width = frame.shape[1]
    if width < len(POSITIONAL) and len(frame):
        raise DataContractError(
            f"{label!r} has {what} with {width} values; without column names the first six "
            "are read as time, open, high, low, close, volume",
            hint="add a header line naming the columns (time, open, high, low, close, volume)",
            context={"path": label, "width": width},
        )
    names = [*POSITIONAL, *(f"column_{i}" for i in range(len(POSITIONAL), width))]
    frame.columns = pd.Index(names[:width])
    return Parsed(frame, True)


# --------------------------------------------------------------------------- columnar


def _columnar(src: Source) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import feather

    buffer = pa.BufferReader(pa.py_buffer(src.data))
    try:
        table = pq.read_table(buffer) if src.format == "parquet" else feather.read_table(buffer)
        frame: pd.DataFrame = table.to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(src.label, src.format, exc) from exc
    return frame


# --------------------------------------------------------------------------- JSON


def _json(text: str, label: str) -> Parsed:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _unreadable(label, "json", exc) from exc
    try:
        if isinstance(value, list):
            return _json_list(value, label)
        if isinstance(value, dict):
            frame = _json_object(value, text)
            if frame is not None:
                return Parsed(frame, False)
    except (ValueError, TypeError, KeyError) as exc:
        raise _unreadable(label, "json", exc) from exc
    raise CacheIOError(
        f"{label!r} is JSON, but not a layout of candles this reader knows",
        hint=f"supported: {_JSON_LAYOUTS}",
        context={"path": label, "format": "json", "reason": "format"},
    )


def _json_list(value: list[Any], label: str) -> Parsed:
    if not value:
        return Parsed(pd.DataFrame(columns=list(POSITIONAL)), True)
    if all(isinstance(row, list) for row in value):
        widths = sorted({len(row) for row in value})
        if len(widths) != 1:
            raise DataContractError(
                f"{label!r}: the candle rows have different lengths {widths}",
                hint="every row must be [time, open, high, low, close, volume, ...]",
                context={"path": label, "widths": widths},
            )
        return _positional(pd.DataFrame(value), label, "rows")
    if all(isinstance(row, dict) for row in value):
        return Parsed(pd.DataFrame.from_records(value), False)
    raise TypeError("a list of candles must hold only lists or only objects")


def _json_object(value: dict[str, Any], text: str) -> pd.DataFrame | None:
    keys = set(value)
    if keys == {"schema", "data"}:  # pandas' table layout: what atomic_write writes
        return pd.read_json(io.StringIO(text), orient="table", precise_float=True)
    if {"columns", "data"} <= keys <= {"columns", "data", "index", "name"}:
        return pd.DataFrame(value["data"], columns=value["columns"], index=value.get("index"))
    columns = list(value.values())
    if columns and all(isinstance(c, list) for c in columns):
        return pd.DataFrame(value)
    if columns and all(isinstance(c, dict) for c in columns):  # pandas' default: keyed by index
        return pd.DataFrame(value)
    return None


# --------------------------------------------------------------------------- CSV


def _mode(values: list[int]) -> int:
    return Counter(values).most_common(1)[0][0]


def _split(line: str, sep: str) -> list[str]:
    return next(csv.reader([line], delimiter=sep), [])


def _sniff_separator(lines: list[str]) -> str:
    best: tuple[tuple[int, int], str] | None = None
    for sep in _SEPARATORS:
        widths = [len(_split(line, sep)) for line in lines]
        width = _mode(widths)
        score = (widths.count(width) if width >= 2 else 0, width)
        if best is None or score > best[0]:
            best = (score, sep)
    return best[1] if best is not None else ","


def _is_number(text: str) -> bool:
    text = text.strip()
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        float(text)
    except ValueError:
        return False
    return bool(text)


def _sniff_decimal(rows: list[list[str]], sep: str) -> str:
    if sep == ",":
        return "."
    commas = points = 0
    for row in rows:
        for raw in row:
            cell = raw.strip()
            if _COMMA_NUMBER.fullmatch(cell):
                commas += 1
            elif _POINT_NUMBER.fullmatch(cell):
                points += 1
    return "," if commas and not points else "."


def _csv(data: bytes, label: str, sep: str | None, decimal: str | None) -> Parsed:
    head: list[tuple[int, str]] = []
    cut = len(data) > _SNIFF_CHARS
    sample, encoding = _text(data[:_SNIFF_CHARS])
    if encoding != "utf-8" and cut:  # a multi-byte character cut at the end of the sample?
        sample, encoding = _text(data[: _SNIFF_CHARS - 3])
    lines = sample.splitlines()
    if cut and lines:
        lines.pop()  # probably cut in the middle
    for number, line in enumerate(lines):
        if line.strip():
            head.append((number, line))
            if len(head) >= _SNIFF_LINES:
                break
    if not head:
        raise CacheIOError(
            f"{label!r} holds no text lines",
            hint="check that the download or export finished",
            context={"path": label, "reason": "empty"},
        )
    sep = sep if sep is not None else _sniff_separator([line for _, line in head])
    rows = [_split(line, sep) for _, line in head]
    width = _mode([len(row) for row in rows])
    first = next(i for i, row in enumerate(rows) if len(row) == width)
    skip = head[first][0]
    header = sum(_is_number(cell) for cell in rows[first]) < 3
    decimal = decimal if decimal is not None else _sniff_decimal(rows[first + header :], sep)
    options: dict[str, Any] = {
        "sep": sep,
        "decimal": decimal,
        "skiprows": skip,
        "header": 0 if header else None,
        "skipinitialspace": True,
        "low_memory": False,
    }
    try:  # from the bytes: a str buffer would make pandas re-encode every character
        try:
            frame = pd.read_csv(io.BytesIO(data), encoding=encoding, **options)
        except UnicodeDecodeError:  # UTF-8 at the start only
            frame = pd.read_csv(io.BytesIO(data), encoding="latin-1", **options)
    except (ValueError, pd.errors.ParserError) as exc:
        raise _unreadable(label, "csv", exc) from exc
    layout = {"sep": sep, "decimal": decimal, "skipped_lines": skip, "header": header}
    if header:
        return Parsed(frame, False, layout)
    parsed = _positional(frame, label, "lines")
    parsed.layout = layout
    return parsed
