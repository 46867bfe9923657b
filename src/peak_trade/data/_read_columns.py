"""Which column of a file is the time, open, high, low, close and volume.

Names are compared after normalising them: lower case, every run of other
characters than letters and digits becomes one space (``"Volume_(BTC)"`` ->
``"volume btc"``, ``"<DATE>"`` -> ``"date"``, ``"Open time"`` -> ``"open time"``).
A normalised name matches a field when it is one of its aliases
(:data:`COLUMN_ALIASES`); the volume also matches ``"volume <anything>"`` and
``"vol <anything>"`` (``Volume BTC``), and the time a time alias followed by a
unit (``timestamp_ms``, which also fixes the epoch unit) or a zone word
(``time_utc``).

Two or more columns matching one field is an error naming them, never a guess:
``volume_btc`` next to ``volume`` (CryptoDataDownload: base and quote volume) or
``unix`` next to ``date``. The one exception is a ``date`` column next to a
``time`` column holding clock times (MetaTrader exports): they are joined.

When no column is named like a time, the time is the frame's index if it has
one (a DatetimeIndex, or an index named like a time), else an unnamed first
column (what ``DataFrame.to_csv`` writes for the index).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import pandas as pd

from peak_trade.data._advice import fix_context
from peak_trade.errors import DataContractError, InvalidArgumentError

__all__ = ["COLUMN_ALIASES", "Columns", "normalise", "resolve"]

_FIELDS: Final[tuple[str, ...]] = ("open", "high", "low", "close", "volume")

COLUMN_ALIASES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "time": (
            "time", "timestamp", "date", "datetime", "date time", "dt", "ts", "t",
            "open time", "opentime", "time open", "start", "start time", "starttime",
            "period start", "time period start", "candle begin time", "begins at",
            "unix", "unix time", "unix timestamp", "epoch", "gmt time", "utc time",
            "local time",
        ),
        "open": ("open", "o", "open price", "opening price", "price open", "first"),
        "high": ("high", "h", "high price", "highest price", "price high", "max"),
        "low": ("low", "l", "low price", "lowest price", "price low", "min"),
        "close": ("close", "c", "close price", "closing price", "price close", "last"),
        "volume": (
            "volume", "vol", "v", "base volume", "volume base", "base asset volume",
            "volume traded",
        ),
    }
)  # fmt: skip
"""Normalised column names read as each field (see the module docstring)."""

_BY_ALIAS: Final[dict[str, str]] = {
    alias: field for field, aliases in COLUMN_ALIASES.items() for alias in aliases
}
_TIME_SUFFIXES: Final[dict[str, str | None]] = {
    "s": "s", "sec": "s", "secs": "s", "seconds": "s", "ms": "ms", "msec": "ms",
    "millis": "ms", "milliseconds": "ms", "us": "us", "micros": "us", "ns": "ns",
    "nanos": "ns", "utc": None, "gmt": None, "z": None,
}  # fmt: skip
# Stems of names worth suggesting when a field is missing ("VolumeFrom" for volume).
_STEMS: Final[dict[str, tuple[str, ...]]] = {
    "open": ("open",),
    "high": ("high", "max"),
    "low": ("low", "min"),
    "close": ("close", "last"),
    "volume": ("vol", "qty", "quantity", "amount"),
}
_UNNAMED: Final = re.compile(r"(unnamed 0|index|)")
_CLOCK: Final = re.compile(r"\s*[0-9]{1,2}:[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Columns:
    """Where each part of a candle is: labels of the raw frame."""

    time: Hashable | None  # None: the frame's index
    time_parts: tuple[Hashable, Hashable] | None  # a date and a time column, joined
    unit: str | None  # an epoch unit named by the time column ("timestamp_ms")
    fields: Mapping[str, Hashable]  # "open" -> the label holding it
    extras: tuple[Hashable, ...]  # every other column

    @property
    def time_label(self) -> str:
        if self.time_parts is not None:
            return " + ".join(map(str, self.time_parts))
        return "index" if self.time is None else str(self.time)


def normalise(name: object) -> str:
    """Lower case; every run of non-alphanumeric characters becomes one space."""
    return re.sub(r"[^0-9a-z]+", " ", str(name).lower()).strip()


def _time_unit(name: str) -> tuple[bool, str | None]:
    """Whether a normalised name is a time column, and the epoch unit it names."""
    if _BY_ALIAS.get(name) == "time":
        return True, None
    stem, _, last = name.rpartition(" ")
    if last in _TIME_SUFFIXES and _BY_ALIAS.get(stem) == "time":
        return True, _TIME_SUFFIXES[last]
    return False, None


def _field_of(name: str) -> str | None:
    field = _BY_ALIAS.get(name)
    if field is not None:
        return field
    if name.startswith(("volume ", "vol ")):
        return "volume"
    return None


def _fail(message: str, fix: str, **context: Any) -> DataContractError:
    hint, ctx = fix_context(fix, context)
    return DataContractError(message, hint=hint, context=ctx)


def _not_there(message: str, fix: str, **context: Any) -> InvalidArgumentError:
    """A column named by the caller that this file does not have."""
    hint, ctx = fix_context(fix, context)
    return InvalidArgumentError(message, hint=hint, context=ctx)


def _find(labels: Sequence[Hashable], name: str) -> Hashable | None:
    """The label called ``name``: exactly, else the one equal ignoring case and spaces."""
    if name in labels:
        return name
    wanted = name.strip().lower()
    matches = [label for label in labels if str(label).strip().lower() == wanted]
    return matches[0] if len(matches) == 1 else None


def resolve(
    frame: pd.DataFrame,
    *,
    positional: bool,
    time_column: str | None,
    overrides: Mapping[str, str],
    where: str,
) -> Columns:
    """Map the frame's columns to the contract's; ``where`` names the file in errors.

    Raises:
        DataContractError: a field (or the time) is missing, or several columns match it.
    """
    labels: list[Hashable] = list(frame.columns)
    shown = [str(label) for label in labels]
    fields: dict[str, Hashable] = {}
    if positional and not overrides and time_column is None:
        fields.update((field, field) for field in _FIELDS)
        return Columns("time", None, None, fields, tuple(labels[len(_FIELDS) + 1 :]))
    used: set[Hashable] = set()
    for field, name in overrides.items():
        label = _find(labels, name)
        if label is None:
            guess = next(
                (x for x in shown if any(stem in normalise(x) for stem in _STEMS[field])),
                shown[0] if shown else field,
            )
            raise _not_there(
                f"{where}: there is no column {name!r} (given for the {field}); "
                f"the columns are {', '.join(map(repr, shown))}",
                f"name one of them, e.g. {{column={field}={guess}}}",
                path=where,
                columns=shown,
            )
        fields[field] = label
        used.add(label)
    time, parts, unit = _resolve_time(frame, labels, used, time_column, where)
    used.update(parts or ([] if time is None else [time]))
    missing: list[str] = []
    for field in _FIELDS:
        if field in fields:
            continue
        found = [x for x in labels if x not in used and _field_of(normalise(x)) == field]
        if len(found) > 1:
            names = [str(x) for x in found]
            extra = (
                " (the contract's volume is in the base currency, BTC for BTC/USD, as ccxt's)"
                if field == "volume"
                else ""
            )
            raise _fail(
                f"{where}: several columns could be the {field}: {', '.join(map(repr, names))}",
                f"name the one to use, e.g. {{column={field}={names[0]}}}{extra}",
                path=where,
                field=field,
                candidates=names,
                columns=shown,
            )
        if found:
            fields[field] = found[0]
            used.add(found[0])
        else:
            missing.append(field)
    if missing:
        raise _missing(missing, labels, used, where)
    extras = tuple(label for label in labels if label not in used)
    return Columns(time, parts, unit, fields, extras)


def _missing(
    missing: list[str], labels: list[Hashable], used: set[Hashable], where: str
) -> Exception:
    suggestions: list[str] = []
    fix_field = missing[0]
    for field in missing:
        near = [
            str(x)
            for x in labels
            if x not in used
            and any(stem in normalise(x).replace(" ", "") for stem in _STEMS[field])
        ]
        if near and not suggestions:
            fix_field = field
        suggestions += [name for name in near if name not in suggestions]
    names = ", ".join(missing)
    message = f"{where}: no column for {names} among {', '.join(map(repr, map(str, labels)))}"
    if suggestions:
        fix = f"name the column that holds it, e.g. {{column={fix_field}={suggestions[0]}}}"
        message += f" (perhaps {', '.join(map(repr, suggestions))})"
    else:
        fix = f"name the column that holds it with {{column={fix_field}=NAME}}"
    return _fail(
        message,
        fix,
        path=where,
        missing=missing,
        suggestions=suggestions,
        columns=[str(x) for x in labels],
    )


def _is_index_time(index: pd.Index) -> bool:
    if isinstance(index, pd.RangeIndex):
        return False
    if isinstance(index, pd.DatetimeIndex):
        return True
    return index.name is not None and _time_unit(normalise(index.name))[0]


def _resolve_time(
    frame: pd.DataFrame,
    labels: list[Hashable],
    used: set[Hashable],
    time_column: str | None,
    where: str,
) -> tuple[Hashable | None, tuple[Hashable, Hashable] | None, str | None]:
    shown = [str(label) for label in labels]
    if time_column is not None:
        label = _find(labels, time_column)
        if label is not None:
            return label, None, _time_unit(normalise(label))[1]
        if time_column == "index" or (
            frame.index.name is not None and _find([frame.index.name], time_column) is not None
        ):
            return None, None, None
        guess = next((x for x in shown if _time_unit(normalise(x))[0]), shown[0] if shown else "")
        raise _not_there(
            f"{where}: there is no time column {time_column!r}; "
            f"the columns are {', '.join(map(repr, shown))}",
            f"name one of them, e.g. {{time_column={guess}}}",
            path=where,
            columns=shown,
        )
    found = [x for x in labels if x not in used and _time_unit(normalise(x))[0]]
    if len(found) == 2 and {normalise(x) for x in found} == {"date", "time"}:
        date, clock = sorted(found, key=lambda x: normalise(x) != "date")
        sample = frame[clock].dropna()
        if len(sample) == 0 or _CLOCK.match(str(sample.iloc[0])):
            return None, (date, clock), None
    in_index = _is_index_time(frame.index)
    if len(found) + in_index > 1:
        names = [str(x) for x in found] + (["index"] if in_index else [])
        raise _fail(
            f"{where}: several columns could hold the time: {', '.join(map(repr, names))}",
            f"name the one to use, e.g. {{time_column={names[0]}}}",
            path=where,
            candidates=names,
            columns=shown,
        )
    if found:
        return found[0], None, _time_unit(normalise(found[0]))[1]
    if in_index:
        return None, None, None
    if labels and labels[0] not in used and _UNNAMED.fullmatch(normalise(labels[0])):
        return labels[0], None, None  # an index written by DataFrame.to_csv
    if not isinstance(frame.index, pd.RangeIndex) and len(frame.index):
        return None, None, None  # JSON keyed by time: {"open": {"1704067200000": ...}}
    raise _fail(
        f"{where}: no time column: none of {', '.join(map(repr, shown))} is named like a time "
        "(time, timestamp, date, datetime, open_time, ...)",
        "name the column that holds the time with {time_column=NAME}",
        path=where,
        columns=shown,
    )
