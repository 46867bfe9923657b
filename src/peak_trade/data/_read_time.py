"""Timestamps in any common notation to a UTC ``DatetimeIndex`` in nanoseconds.

* **Datetimes** (Parquet, Feather, pandas JSON): tz-aware ones are converted to
  UTC; naive ones need ``tz``.
* **Numbers** (or text that is only digits): seconds, milliseconds, microseconds
  or nanoseconds since the epoch, told apart by magnitude unless ``unit`` says:
  below 1e11 seconds (until the year 5138), below 1e14 milliseconds, below 1e17
  microseconds, else nanoseconds. A column mixing magnitudes is an error (pass
  ``unit``). Whole numbers that are all valid ``YYYYMMDD`` dates (19000101 to
  21001231) are dates. Epoch numbers are UTC by definition: ``tz`` is not used.
* **Text**: ISO 8601 first (``2024-01-01``, ``2024-01-01T00:00:00Z``, offsets,
  mixed offsets too); else the formats pandas guesses from the first value,
  month first and day first. If both read the whole column, differently, the
  order cannot be told (every day is 12 or less): an error asks for
  ``time_format``. ``time_format`` (strftime codes) skips the guessing.

Naive wall-clock times (text without an offset, naive datetimes) have no
default zone: ``tz`` must say which. Guessing UTC would silently shift data
recorded in local time (stock exchanges, broker exports) and still pass every
check, so the reader asks instead. Local times that a daylight-saving change
makes ambiguous are resolved from their order when possible, else reported.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from peak_trade.data._advice import fix_context
from peak_trade.errors import DataContractError

__all__ = ["UNITS", "TimeInfo", "to_utc_index"]

UNITS: Final[dict[str, int]] = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_UNIT_NAMES: Final[dict[str, str]] = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
}
_NAT: Final[int] = np.iinfo(np.int64).min
_DIGITS: Final[str] = r"\s*[-+]?[0-9]+(?:\.[0-9]+)?\s*"
_SAMPLE: Final[int] = 256  # values looked at to choose a path before touching them all


@dataclass(frozen=True, slots=True)
class TimeInfo:
    """How the time column was read (for reports)."""

    kind: str  # "datetimes", "epoch", "text", "dates"
    detail: str  # "ms (by magnitude)", "ISO 8601", "%d.%m.%Y %H:%M", ...
    zone: str  # "UTC (epoch)", "offsets in the data", "tz=Europe/Berlin", ...
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "zone": self.zone}


def _fail(message: str, fix: str, **context: Any) -> DataContractError:
    hint, ctx = fix_context(fix, context)
    return DataContractError(message, hint=hint, context=ctx)


def to_utc_index(
    values: pd.Series | pd.Index,
    *,
    label: str,
    where: str,
    tz: Any,
    unit: str | None,
    unit_hint: str | None,
    time_format: str | None,
) -> tuple[pd.DatetimeIndex, TimeInfo]:
    """The timestamps as a UTC ``DatetimeIndex`` (ns) named ``timestamp``.

    Raises:
        DataContractError: the values are not timestamps in a notation above, mix
            magnitudes, fall outside the datetime range, or are naive without ``tz``.
    """
    series = pd.Series(values).reset_index(drop=True)
    ctx = {"where": where, "label": label}
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        index = pd.DatetimeIndex(series)
        return _zoned(index, series, tz, ctx, ("datetimes", "as stored"))
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        raise _not_time(series, ctx)
    if pd.api.types.is_numeric_dtype(dtype):
        return _epoch(series, unit or unit_hint, "given" if unit else "named", tz, ctx)
    present = series.notna()
    if not all(isinstance(v, str) for v in series[present].iloc[:_SAMPLE]):
        series = series.astype(str).where(present)  # numbers mixed in (JSON records)
    sample = series[present].iloc[:_SAMPLE]
    if len(sample) and bool(sample.str.fullmatch(_DIGITS).all()):
        texts = series[present].str.strip()
        if bool(texts.str.fullmatch(_DIGITS).all()):
            numbers = pd.to_numeric(series.where(present), errors="coerce")
            return _epoch(numbers, unit or unit_hint, "given" if unit else "named", tz, ctx)
    if bool((sample != sample.str.strip()).any()):  # only pay for stripping when needed
        series = series.str.strip()
    texts = series[present]
    if unit is not None:
        raise _fail(
            f"{where}: an epoch unit ({unit}) was given but the time column {label!r} holds "
            f"text such as {texts.iloc[0]!r}, not numbers",
            "drop the unit for text timestamps, or give {time_format=%Y-%m-%d %H:%M:%S}",
            path=where,
            time_column=label,
            examples=list(texts.iloc[:3]),
        )
    parsed, detail = _parse_text(series, texts, time_format, ctx)
    return _zoned(pd.DatetimeIndex(parsed), series, tz, ctx, ("text", detail))


def _not_time(series: pd.Series, ctx: dict[str, str]) -> DataContractError:
    return _fail(
        f"{ctx['where']}: the time column {ctx['label']!r} holds {series.dtype} values, "
        "not timestamps",
        "name the column that holds the time with {time_column=NAME}",
        path=ctx["where"],
        time_column=ctx["label"],
    )


# --------------------------------------------------------------------------- epoch numbers


def _magnitude(value: float) -> str:
    if value < 1e11:
        return "s"
    if value < 1e14:
        return "ms"
    if value < 1e17:
        return "us"
    return "ns"


def _epoch(
    numbers: pd.Series, unit: str | None, how: str, tz: Any, ctx: dict[str, str]
) -> tuple[pd.DatetimeIndex, TimeInfo]:
    where, label = ctx["where"], ctx["label"]
    arr = numbers.to_numpy()
    if arr.dtype.kind not in "iu":
        arr = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    present = ~np.isnan(arr) if arr.dtype.kind == "f" else np.ones(arr.size, dtype=bool)
    vals = arr[present]
    integral = arr.dtype.kind in "iu" or bool(np.all(vals == np.floor(vals)))
    magnitudes = np.abs(vals[vals != 0]) if vals.size else vals
    if unit is None and magnitudes.size:
        lo, hi = float(magnitudes.min()), float(magnitudes.max())
        if integral and lo >= 19000101 and hi <= 21001231:
            dates = _yyyymmdd(vals.astype(np.int64))
            if dates is not None:
                full = pd.Series(pd.NaT, index=numbers.index, dtype="datetime64[ns]")
                full[present] = dates
                index = pd.DatetimeIndex(full)
                text = numbers.astype(object).where(~present, numbers.astype("Int64").astype(str))
                return _zoned(index, text, tz, ctx, ("dates", "YYYYMMDD"))
        small, large = _magnitude(lo), _magnitude(hi)
        if small != large:
            first_small = vals[np.abs(vals) == lo][0]
            first_large = vals[np.abs(vals) == hi][0]
            raise _fail(
                f"{where}: the time column {label!r} mixes magnitudes: "
                f"{_num(first_small)} reads as {_UNIT_NAMES[small]} since 1970, "
                f"{_num(first_large)} as {_UNIT_NAMES[large]}",
                f"if all are in one unit, say which: {{unit={large}}}",
                path=where,
                time_column=label,
                examples=[_num(first_small), _num(first_large)],
            )
        unit, how = large, "by magnitude"
    unit = unit or "ms"
    factor = UNITS[unit]
    limit = np.iinfo(np.int64).max // factor
    if magnitudes.size and float(magnitudes.max()) > limit:
        worst = vals[np.abs(vals) == magnitudes.max()][0]
        likely = _magnitude(float(magnitudes.max()))
        raise _fail(
            f"{where}: {_num(worst)} in the time column {label!r} is out of the datetime "
            f"range (1677 to 2262) when read as {_UNIT_NAMES[unit]} since 1970",
            f"check the unit: its magnitude suggests {{unit={likely}}}",
            path=where,
            time_column=label,
            unit=unit,
            examples=[_num(worst)],
        )
    ns = np.full(arr.size, _NAT, dtype=np.int64)
    if integral:
        ns[present] = vals.astype(np.int64) * factor
    elif factor >= 1000:  # fractions: float64 holds ~0.2 us of a current epoch second
        ns[present] = np.round(vals * (factor // 1000)).astype(np.int64) * 1000
    else:
        ns[present] = np.round(vals * factor).astype(np.int64)
    index = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
    notes: tuple[str, ...] = ()
    if tz is not None:
        notes = (f"tz={tz} not used: epoch timestamps are UTC by definition",)
    info = TimeInfo("epoch", f"{_UNIT_NAMES[unit]} ({how})", "UTC (epoch)", notes)
    return index.rename("timestamp"), info


def _num(value: Any) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _yyyymmdd(values: np.ndarray[Any, Any]) -> pd.DatetimeIndex | None:
    try:
        return pd.DatetimeIndex(pd.to_datetime(values.astype(str), format="%Y%m%d"))
    except (ValueError, TypeError):
        return None


# --------------------------------------------------------------------------- text


def _guess_format(text: str, dayfirst: bool) -> str | None:
    try:
        from pandas.tseries.api import guess_datetime_format
    except ImportError:  # pandas < 2.2
        from pandas._libs.tslibs.parsing import guess_datetime_format
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fmt: str | None = guess_datetime_format(text, dayfirst=dayfirst)
    if fmt is None:
        return None
    year, day, month = fmt.find("%Y"), fmt.find("%d"), fmt.find("%m")
    if 0 <= year < day < month:  # year-day-month: nobody writes dates like that
        return None
    return fmt


def _to_datetime(texts: pd.Series, fmt: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(texts, format=fmt)
        except ValueError as exc:
            if "utc=True" not in str(exc):
                raise
            parsed = pd.to_datetime(texts, format=fmt, utc=True)  # mixed offsets
        if parsed.dtype == object:  # pandas 2: mixed offsets come back as objects
            parsed = pd.to_datetime(texts, format=fmt, utc=True)
    return parsed


def _parse_text(
    full: pd.Series, texts: pd.Series, time_format: str | None, ctx: dict[str, str]
) -> tuple[pd.Series, str]:
    where, label = ctx["where"], ctx["label"]
    example = str(texts.iloc[0]) if len(texts) else ""
    if time_format is not None:
        try:
            return _to_datetime(full, time_format), time_format
        except (ValueError, TypeError) as exc:
            raise _fail(
                f"{where}: the time column {label!r} does not match time_format "
                f"{time_format!r}: {_first_line(exc)}",
                "check the format against a value of the file (strftime codes, e.g. "
                "{time_format=%Y-%m-%d %H:%M:%S})",
                path=where,
                time_column=label,
                examples=list(texts.iloc[:3]),
            ) from exc
    try:
        return _to_datetime(full, "ISO8601"), "ISO 8601"
    except (ValueError, TypeError):
        pass
    results: list[tuple[str, pd.Series]] = []
    for fmt in dict.fromkeys(f for f in (_guess_format(example, d) for d in (False, True)) if f):
        try:
            results.append((fmt, _to_datetime(full, fmt)))
        except (ValueError, TypeError):
            continue
    if not results:
        raise _fail(
            f"{where}: cannot read the time column {label!r} as dates: {example!r} is "
            "neither ISO 8601 nor a format that can be guessed",
            "give its format in strftime codes, e.g. {time_format=%Y-%m-%d %H:%M:%S} "
            "(%I for a 12-hour clock, %p for AM/PM)",
            path=where,
            time_column=label,
            examples=list(texts.iloc[:3]),
        )
    if len(results) > 1 and not results[0][1].equals(results[1][1]):
        (month_first, _), (day_first, _) = results[0], results[1]
        raise _fail(
            f"{where}: the time column {label!r} reads both as {month_first} and as "
            f"{day_first}: the day and the month cannot be told apart, since every day "
            "in it is 12 or less",
            f"give the format, e.g. {{time_format={day_first}}} if the day comes first",
            path=where,
            time_column=label,
            examples=list(texts.iloc[:3]),
        )
    return results[0][1], results[0][0]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --------------------------------------------------------------------------- zones


def _zoned(
    index: pd.DatetimeIndex,
    original: pd.Series,
    tz: Any,
    ctx: dict[str, str],
    how: tuple[str, str],
) -> tuple[pd.DatetimeIndex, TimeInfo]:
    """``index`` in UTC: converted when tz-aware, localised with ``tz`` when naive.

    ``how`` is the (kind, detail) of :class:`TimeInfo`; ``original`` gives examples.
    """
    kind, detail = how
    where, label = ctx["where"], ctx["label"]
    if index.tz is not None:
        notes: tuple[str, ...] = ()
        if tz is not None:
            notes = (f"tz={tz} not used: the timestamps carry their own UTC offsets",)
        utc = index.tz_convert("UTC").as_unit("ns").rename("timestamp")
        return utc, TimeInfo(kind, detail, "offsets in the data", notes)
    examples = [str(v) for v in original.dropna().iloc[:3]]
    if tz is None:
        if not len(original.dropna()):
            empty = index.tz_localize("UTC").as_unit("ns").rename("timestamp")
            return empty, TimeInfo(kind, detail, "none (no rows)")
        raise _fail(
            f"{where}: the timestamps in {label!r} have no time zone "
            f"(e.g. {', '.join(examples)}), so the moment each candle opened is unknown",
            "pass {tz=UTC} if they are UTC (exchanges, most crypto data), or the zone they "
            "were recorded in, e.g. {tz=America/New_York}",
            path=where,
            time_column=label,
            examples=examples,
        )
    try:
        local = index.tz_localize(tz, ambiguous="infer", nonexistent="raise")
    except Exception as exc:  # pandas 2 raises pytz's errors, pandas 3 ValueError
        if not isinstance(exc, ValueError) and not type(exc).__name__.endswith("TimeError"):
            raise
        marked = index.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        bad = np.asarray(marked.isna()) & np.asarray(index.notna())
        wrong = [str(t) for t in index[bad][:3]]
        raise DataContractError(
            f"{where}: {int(bad.sum())} local time(s) in {label!r} are ambiguous or do not "
            f"exist in {tz} (a daylight-saving change), e.g. {', '.join(wrong)}",
            hint="local times around a daylight-saving change cannot be converted for sure: "
            "get the data in UTC or with UTC offsets",
            context={"path": where, "time_column": label, "tz": str(tz), "examples": wrong},
        ) from exc
    utc = local.tz_convert("UTC").as_unit("ns").rename("timestamp")
    return utc, TimeInfo(kind, detail, f"tz={tz}")
