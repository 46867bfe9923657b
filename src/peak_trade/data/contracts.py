"""The OHLCV data contract: one vectorised pass that reports every problem at once.

Usage::

    from peak_trade.data import validate_ohlcv

    validate_ohlcv(df)                                    # raises DataContractError
    validate_ohlcv(df, strict=True, require_tz=True)      # plus gaps and alignment
    validate_ohlcv(df, timeframe="1M")                    # alignment only: 1st of each month
    report = validate_ohlcv(df, strict=True, timeframe="1h", raise_on_error=False)
    print(report)                                         # readable summary
    report.to_dict()                                      # JSON-safe

The checks run on plain numpy arrays (``int64`` nanoseconds for time, ``float64``
for values). Two thin adapters turn a pandas or a polars frame into those arrays
without copying what is already in that shape, so both share one implementation
and every rule is a handful of whole-array operations: no Python loop over rows.
Each rule first tries a cheap reduction (``min``, ``sum``) that proves the column
clean; only a failing rule pays for a boolean mask and its examples.

Rules are independent: a row can break several (a candle with ``high < low``
always breaks ``high >= max(open, close)`` or ``low <= min(open, close)`` too).
Rows with NaN or infinite prices are reported under ``nan_values`` /
``infinite_values`` only and skipped by the price relations, so one bad number
is not reported four times.
"""

from __future__ import annotations

import enum
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from peak_trade.errors import DataContractError, InvalidArgumentError

__all__ = [
    "REQUIRED_COLUMNS",
    "Rule",
    "ValidationReport",
    "Violation",
    "parse_timeframe",
    "validate_ohlcv",
]

REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("open", "high", "low", "close", "volume")
_PRICE_COLUMNS: Final[tuple[str, ...]] = ("open", "high", "low", "close")

_NaT: Final[int] = np.iinfo(np.int64).min
_NS: Final[dict[str, int]] = {
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3_600 * 1_000_000_000,
    "d": 86_400 * 1_000_000_000,
    "w": 7 * 86_400 * 1_000_000_000,
}
# Weekly candles (Binance, ccxt) open on Monday 00:00 UTC; the epoch was a Thursday.
_WEEK_ANCHOR_NS: Final[int] = 4 * _NS["d"]
_TIMEFRAME_RE: Final = re.compile(r"^([1-9][0-9]*)([a-zA-Z])$")
# Calendar units: months per unit, and ccxt's nominal length (used for sizing only).
_CALENDAR_MONTHS: Final[dict[str, int]] = {"M": 1, "y": 12}
_NOMINAL_NS: Final[dict[str, int]] = {"M": 30 * _NS["d"], "y": 365 * _NS["d"]}
_TIMEFRAME_HINT: Final[str] = (
    'use ccxt notation: a count and a unit, e.g. "1m", "5m", "15m", "1h", "4h", "1d", "3d", '
    '"1w", "1M" (units s, m, h, d, w; M for calendar months, y for calendar years)'
)
_UNIT_NS: Final[dict[str, int]] = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BoolArr = npt.NDArray[np.bool_]


class Rule(enum.StrEnum):
    """Stable identifiers of the contract's rules (used in reports, JSON and errors)."""

    REQUIRED_COLUMNS = "required_columns"
    DUPLICATE_COLUMNS = "duplicate_columns"
    TIME_INDEX = "time_index"
    TIMEZONE = "timezone"
    NAT_TIMESTAMPS = "nat_timestamps"
    UNSORTED_TIMESTAMPS = "unsorted_timestamps"
    DUPLICATE_TIMESTAMPS = "duplicate_timestamps"
    NON_NUMERIC_DTYPE = "non_numeric_dtype"
    NAN_VALUES = "nan_values"
    INFINITE_VALUES = "infinite_values"
    NON_POSITIVE_PRICE = "non_positive_price"
    HIGH_BELOW_OPEN_CLOSE = "high_below_open_close"
    LOW_ABOVE_OPEN_CLOSE = "low_above_open_close"
    HIGH_BELOW_LOW = "high_below_low"
    NEGATIVE_VOLUME = "negative_volume"
    MISSING_CANDLES = "missing_candles"
    MISALIGNED_TIMESTAMPS = "misaligned_timestamps"


_HINTS: Final[dict[Rule, str]] = {
    Rule.REQUIRED_COLUMNS: "name the columns open, high, low, close, volume (lower case), "
    "e.g. df.rename(columns=str.lower)",
    Rule.DUPLICATE_COLUMNS: "drop or rename the duplicated columns",
    Rule.TIME_INDEX: "give the frame a DatetimeIndex, e.g. "
    "df.set_index(pd.to_datetime(df['timestamp'], unit='ms', utc=True)), or pass time_column=",
    Rule.TIMEZONE: 'make the timestamps tz-aware: df.index = df.index.tz_localize("UTC")',
    Rule.NAT_TIMESTAMPS: "drop rows without a timestamp: df = df[df.index.notna()]",
    Rule.UNSORTED_TIMESTAMPS: "sort by time: df = df.sort_index()",
    Rule.DUPLICATE_TIMESTAMPS: "drop repeated candles: df = df[~df.index.duplicated(keep='last')]",
    Rule.NON_NUMERIC_DTYPE: "parse numbers when loading (pd.read_csv(..., dtype=float)) or "
    "convert with pd.to_numeric(df[col], errors='coerce')",
    Rule.NAN_VALUES: "drop or re-fetch incomplete candles (df.dropna()), or pass allow_nan=True "
    "if missing values are expected",
    Rule.INFINITE_VALUES: "replace infinities and re-fetch those candles: "
    "df.replace([np.inf, -np.inf], np.nan)",
    Rule.NON_POSITIVE_PRICE: "prices must be > 0: re-fetch those candles (zeros usually mean "
    "an empty period filled with 0)",
    Rule.HIGH_BELOW_OPEN_CLOSE: "high must be >= open and close: re-fetch those candles",
    Rule.LOW_ABOVE_OPEN_CLOSE: "low must be <= open and close: re-fetch those candles",
    Rule.HIGH_BELOW_LOW: "high is below low (columns swapped?): check the column order "
    "of the source",
    Rule.NEGATIVE_VOLUME: "volume must be >= 0: re-fetch those candles",
    Rule.MISSING_CANDLES: "backfill the missing candles from the exchange, or validate with "
    "strict=False if gaps are expected",
    Rule.MISALIGNED_TIMESTAMPS: "timestamps must sit on timeframe boundaries: check the "
    "timeframe or floor them (df.index.floor(...))",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule.

    ``count`` is the number of offending rows, except for the column-level rules
    (``required_columns``, ``duplicate_columns``, ``non_numeric_dtype``) where it
    is the number of offending columns, and ``missing_candles`` where it is the
    number of absent candles. ``examples`` holds the first offending timestamps
    in ISO format (``"row 17"`` when there is no usable time axis) or column
    names. ``per_column`` breaks ``count`` down by column where that helps.
    """

    rule: Rule
    count: int
    examples: tuple[str, ...]
    message: str
    per_column: tuple[tuple[str, int], ...] = ()
    advice: str | None = None  # a hint specific to this frame, instead of the rule's

    @property
    def hint(self) -> str:
        """What to do about this violation."""
        return self.advice if self.advice is not None else _HINTS[self.rule]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (plain str/int/list values)."""
        out: dict[str, Any] = {
            "rule": str(self.rule),
            "count": self.count,
            "examples": list(self.examples),
            "message": self.message,
        }
        if self.per_column:
            out["per_column"] = dict(self.per_column)
        return out


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The outcome of :func:`validate_ohlcv`: every broken rule, not only the first."""

    rows: int
    violations: tuple[Violation, ...]
    checked_rules: tuple[Rule, ...]
    timeframe: str | None = None
    timeframe_inferred: bool = False
    strict: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no rule is violated."""
        return not self.violations

    @property
    def violated_rules(self) -> tuple[Rule, ...]:
        """The rules that failed, in check order."""
        return tuple(v.rule for v in self.violations)

    def violation(self, rule: Rule) -> Violation | None:
        """The violation of ``rule``, or None when it passed (or was not checked)."""
        return next((v for v in self.violations if v.rule is rule), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the whole report."""
        return {
            "ok": self.ok,
            "rows": self.rows,
            "strict": self.strict,
            "timeframe": self.timeframe,
            "timeframe_inferred": self.timeframe_inferred,
            "checked_rules": [str(r) for r in self.checked_rules],
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
        }

    def to_error(self) -> DataContractError:
        """The :class:`DataContractError` describing this report (whether or not it failed)."""
        summary = ", ".join(f"{v.rule}: {_plural(v.count, _unit(v.rule))}" for v in self.violations)
        n = len(self.violations)
        message = (
            f"OHLCV contract violated: {n} rule{'s' if n != 1 else ''} failed on "
            f"{self.rows:,} rows ({summary})"
        )
        hint = "; ".join(f"{v.rule}: {v.hint}" for v in self.violations) + "."
        context: dict[str, Any] = {
            "rows": self.rows,
            "violations": [v.to_dict() for v in self.violations],
        }
        if self.timeframe is not None:
            context["timeframe"] = self.timeframe
        err = DataContractError(message, hint=hint, context=context)
        # PeakTradeError.__reduce__ carries __dict__ along, and the report pickles.
        err.report = self  # type: ignore[attr-defined]
        return err

    def raise_if_failed(self) -> None:
        """Raise :class:`DataContractError` when any rule is violated."""
        if self.violations:
            raise self.to_error()

    def __str__(self) -> str:
        return self.render()

    def render(self, hint: Callable[[Violation], str] | None = None) -> str:
        """The readable summary; ``hint`` chooses each violation's advice (default
        :attr:`Violation.hint`: the command line passes advice that names its flags)."""
        advice = hint or (lambda v: v.hint)
        status = "OK" if self.ok else f"FAILED ({_plural(len(self.violations), 'rule')})"
        tf = ""
        if self.timeframe is not None:
            tf = f", timeframe {self.timeframe}" + (
                " (inferred)" if self.timeframe_inferred else ""
            )
        lines = [
            f"OHLCV contract {status}: {self.rows:,} rows, "
            f"{len(self.checked_rules)} rules checked{', strict' if self.strict else ''}{tf}"
        ]
        for v in self.violations:
            lines.append(f"  - {v.rule}: {v.message}")
            if v.examples:
                lines.append(f"      first: {', '.join(v.examples)}")
            lines.append(f"      fix: {advice(v)}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def _unit(rule: Rule) -> str:
    """The noun that ``Violation.count`` counts for ``rule`` (for summaries)."""
    if rule in (Rule.REQUIRED_COLUMNS, Rule.DUPLICATE_COLUMNS, Rule.NON_NUMERIC_DTYPE):
        return "column"
    if rule is Rule.MISSING_CANDLES:
        return "candle"
    return "row"


def _plural(count: int, noun: str) -> str:
    """``"1 row"``, ``"1,000 rows"``: messages are read by people."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


# --------------------------------------------------------------------------- timeframes


@dataclass(frozen=True, slots=True)
class _Timeframe:
    """A parsed timeframe: a fixed length, or a number of calendar months."""

    text: str
    step_ns: int  # the fixed length; ccxt's nominal length for calendar units
    months: int  # calendar months per candle; 0 for fixed-length timeframes
    # 1d/1w units: the base boundary every candle sits on; with a count > 1 (3d, 2w)
    # exchanges differ in where the cycle starts, so the first candle sets the phase.
    base_ns: int

    def same_as(self, other: _Timeframe) -> bool:
        return (self.step_ns, self.months) == (other.step_ns, other.months)


def _parse(timeframe: str) -> _Timeframe:
    match = _TIMEFRAME_RE.match(timeframe) if isinstance(timeframe, str) else None
    unit = match.group(2) if match is not None else ""
    if match is None or (unit not in _NS and unit not in _CALENDAR_MONTHS):
        raise InvalidArgumentError(
            f"unknown timeframe {timeframe!r}",
            hint=_TIMEFRAME_HINT,
            context={"timeframe": timeframe},
        )
    count = int(match.group(1))
    if unit in _CALENDAR_MONTHS:
        return _Timeframe(timeframe, count * _NOMINAL_NS[unit], count * _CALENDAR_MONTHS[unit], 0)
    step = count * _NS[unit]
    base = _NS[unit] if unit in ("d", "w") and count > 1 else 0
    return _Timeframe(timeframe, step, 0, base)


def parse_timeframe(timeframe: str) -> int:
    """The length in nanoseconds of a ccxt timeframe ("1m", "5m", "1h", "4h", "1d", "1w", "1M").

    Calendar units (``M`` months, ``y`` years) have no fixed length: for them this
    returns ccxt's nominal length (30 and 365 days), good for sizing (which file
    layout, how many candles per request) but never for arithmetic on timestamps.
    :func:`validate_ohlcv` checks them against the calendar.

    Raises:
        InvalidArgumentError: unknown notation (``context["timeframe"]``).
    """
    return _parse(timeframe).step_ns


def _month_starts(months: I64) -> I64:
    """ns since the epoch of the first instant of each month index (months since 1970-01)."""
    return cast(I64, months.astype("datetime64[M]").astype("datetime64[ns]").view(np.int64))


def _month_index(ns: I64) -> I64:
    """Months since 1970-01 of each timestamp (UTC)."""
    return cast(I64, ns.view("datetime64[ns]").astype("datetime64[M]").view(np.int64))


def _calendar_name(months: int) -> str:
    return f"{months // 12}y" if months % 12 == 0 else f"{months}M"


def _format_timeframe(step_ns: int) -> str | None:
    """ccxt notation for a spacing, or None when it is not a whole number of seconds."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _NS[unit]
        if step_ns % size == 0:
            return f"{step_ns // size}{unit}"
    return None


def _anchor(tf: _Timeframe, first: int) -> int:
    """The epoch offset the candles align to: Mondays for weeks, the first candle's phase
    for multi-day and multi-week candles, the epoch otherwise."""
    week = tf.step_ns % _NS["w"] == 0
    base_anchor = _WEEK_ANCHOR_NS if week else 0
    if not tf.base_ns:
        return base_anchor
    return base_anchor + ((first - base_anchor) // tf.base_ns) * tf.base_ns


def _calendar_boundary(months: int) -> str:
    """Where candles of ``months`` calendar months open, for messages."""
    if months == 1:
        return "the 1st of a month at 00:00 UTC"
    if months == 12:
        return "January 1st at 00:00 UTC"
    if 12 % months == 0:
        names = ", ".join(_MONTH_NAMES[m] for m in range(0, 12, months))
        return f"00:00 UTC on the 1st of {names}"
    return f"the start of a {_calendar_name(months)} period counted from January 1970 (UTC)"


_MONTH_NAMES: Final = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


# --------------------------------------------------------------------------- adapters


@dataclass(slots=True)
class _Frame:
    """A frame reduced to numpy arrays: what every rule needs, nothing copied needlessly."""

    rows: int
    missing: list[str]
    duplicated: list[str]
    values: dict[str, F64]
    bad_dtypes: dict[str, str]
    time: I64 | None  # int64 ns since epoch, UTC when tz-aware; _NaT for missing
    tz: Any  # tzinfo / zone name, None when naive
    time_problem: str | None  # why there is no usable time axis
    time_label: str  # "index" or "column 'ts'"
    # what explains a missing column or time axis (only filled when something is missing)
    index_name: str | None = None  # the pandas index's name (a column read as the index?)
    near_misses: dict[str, str] = field(default_factory=dict)  # "volume" -> "Volume"
    datetime_columns: tuple[str, ...] = ()  # columns holding datetimes


def _adapt_pandas(df: pd.DataFrame, time_column: str | None) -> _Frame:
    """Pull arrays out of a pandas frame (views for float64 and datetime64[ns])."""
    frame = _pandas_arrays(df, time_column)
    if frame.missing or frame.time is None:  # explain what is missing (cheap: labels, dtypes)
        labels = [str(c) for c in df.columns]
        name = df.index.name
        frame.index_name = None if name is None else str(name)
        frame.near_misses = {
            want: label for want in frame.missing for label in labels if label.lower() == want
        }
        frame.datetime_columns = tuple(
            str(label)
            for label, dtype in df.dtypes.items()
            if label != time_column and pd.api.types.is_datetime64_any_dtype(dtype)
        )
    return frame


def _pandas_arrays(df: pd.DataFrame, time_column: str | None) -> _Frame:
    labels = [str(c) for c in df.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in labels]
    duplicated = [c for c in REQUIRED_COLUMNS if labels.count(c) > 1]
    values: dict[str, F64] = {}
    bad: dict[str, str] = {}
    for name in REQUIRED_COLUMNS:
        if name in missing or name in duplicated:
            continue
        series = df[name]
        dtype = series.dtype
        if (
            pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_complex_dtype(dtype)
            or not pd.api.types.is_numeric_dtype(dtype)
        ):
            bad[name] = str(dtype)
        elif dtype == np.float64:
            values[name] = cast(F64, series.to_numpy())
        elif isinstance(dtype, np.dtype):
            values[name] = series.to_numpy().astype(np.float64)
        else:  # nullable extension dtypes (Float64, Int64, Arrow): NA becomes NaN
            values[name] = series.to_numpy(dtype=np.float64, na_value=np.nan)

    if time_column is None:
        label = "index"
        raw: Any = df.index
    else:
        label = f"column {time_column!r}"
        raw = None
        if time_column not in labels:
            return _Frame(
                len(df), missing, duplicated, values, bad, None, None,
                f"time column {time_column!r} not found", label,
            )  # fmt: skip
        raw = df[time_column]
        if isinstance(raw, pd.DataFrame):
            return _Frame(
                len(df), missing, duplicated, values, bad, None, None,
                f"time column {time_column!r} appears more than once", label,
            )  # fmt: skip
    if not pd.api.types.is_datetime64_any_dtype(raw.dtype):
        kind = type(raw).__name__ if time_column is None else str(raw.dtype)
        return _Frame(
            len(df), missing, duplicated, values, bad, None, None,
            f"the {label} is a {kind}, not datetimes", label,
        )  # fmt: skip
    index = raw if isinstance(raw, pd.DatetimeIndex) else pd.DatetimeIndex(raw)
    ns = cast(I64, cast(Any, index).asi8)
    factor = _UNIT_NS[str(index.unit)]
    if factor != 1:
        ns = _scale(ns, factor)
    return _Frame(len(df), missing, duplicated, values, bad, ns, index.tz, None, label)


def _scale(ticks: I64, factor: int) -> I64:
    """Convert coarser ticks (s, ms, us) to ns, keeping the NaT sentinel."""
    nat = ticks == _NaT
    ns = ticks * factor
    if nat.any():
        ns[nat] = _NaT
    return ns


def _adapt_polars(df: Any, time_column: str | None) -> _Frame:
    """Pull arrays out of a polars frame; time is ``time_column`` or the one Datetime column."""
    import polars as pl  # already imported by the caller, or we would not be here

    labels = list(df.columns)
    missing = [c for c in REQUIRED_COLUMNS if c not in labels]
    values: dict[str, F64] = {}
    bad: dict[str, str] = {}
    for name in REQUIRED_COLUMNS:
        if name in missing:
            continue
        series = df.get_column(name)
        dtype = series.dtype
        if not dtype.is_numeric():
            bad[name] = str(dtype)
            continue
        arr = series.to_numpy()  # zero-copy for float64 without nulls; nulls become NaN
        values[name] = arr if arr.dtype == np.float64 else arr.astype(np.float64)

    rows = df.height
    if time_column is None:
        candidates = [c for c, t in df.schema.items() if isinstance(t, pl.Datetime)]
        if len(candidates) != 1:
            problem = (
                "the frame has no Datetime column"
                if not candidates
                else f"the frame has several Datetime columns {candidates}: pass time_column="
            )
            return _Frame(rows, missing, [], values, bad, None, None, problem, "time column")
        time_column = candidates[0]
    label = f"column {time_column!r}"
    if time_column not in labels:
        problem = f"time column {time_column!r} not found"
        return _Frame(rows, missing, [], values, bad, None, None, problem, label)
    dtype = df.schema[time_column]
    if not isinstance(dtype, pl.Datetime):
        problem = f"the {label} is {dtype}, not Datetime"
        return _Frame(rows, missing, [], values, bad, None, None, problem, label)
    ticks = df.get_column(time_column).cast(pl.Int64)
    if ticks.null_count():
        ticks = ticks.fill_null(_NaT)
    ns = cast(I64, ticks.to_numpy())
    factor = _UNIT_NS[str(dtype.time_unit)]
    if factor != 1:
        ns = _scale(ns, factor)
    return _Frame(rows, missing, [], values, bad, ns, dtype.time_zone, None, label)


def _is_polars_frame(df: object) -> bool:
    """True for a polars DataFrame, without importing polars when nobody else has."""
    if "polars" not in sys.modules or not type(df).__module__.startswith("polars"):
        return False
    return isinstance(df, sys.modules["polars"].DataFrame)


# --------------------------------------------------------------------------- the checks


@dataclass(slots=True)
class _Checker:
    """Runs the rules over a :class:`_Frame`, collecting violations (one instance per call)."""

    frame: _Frame
    max_examples: int
    violations: list[Violation] = field(default_factory=list)
    checked: list[Rule] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (min, max) spacing of the time axis when it is already sorted and unique:
    # lets strict mode prove a regular grid without another pass over the data.
    spacing: tuple[int, int] | None = None

    # -- helpers

    def _fmt_ts(self, ns: Sequence[int] | I64) -> tuple[str, ...]:
        """ISO strings for a few timestamps (only ever called with <= max_examples values)."""
        out = []
        for value in list(ns)[: self.max_examples]:
            if value == _NaT:
                out.append("NaT")
                continue
            ts = pd.Timestamp(int(value), unit="ns")
            if self.frame.tz is not None:
                ts = ts.tz_localize("UTC").tz_convert(self.frame.tz)
            out.append(ts.isoformat())
        return tuple(out)

    def _examples(self, mask: BoolArr) -> tuple[str, ...]:
        """The first offending rows of a boolean row mask, as timestamps or row numbers."""
        positions = np.flatnonzero(mask)[: self.max_examples]
        if self.frame.time is None:
            return tuple(f"row {int(p)}" for p in positions)
        return self._fmt_ts(self.frame.time[positions])

    def _add(
        self,
        rule: Rule,
        count: int,
        examples: tuple[str, ...],
        message: str,
        per_column: Mapping[str, int] | None = None,
        *,
        advice: str | None = None,
    ) -> None:
        self.violations.append(
            Violation(
                rule, int(count), examples, message, tuple((per_column or {}).items()), advice
            )
        )

    def _add_rows(self, rule: Rule, rows: BoolArr, per_column: dict[str, int], what: str) -> None:
        """A row-level violation: ``rows`` marks the bad rows, ``per_column`` counts them."""
        n = int(np.count_nonzero(rows))
        cols = ", ".join(f"{c}: {k:,}" for c, k in per_column.items())
        self._add(rule, n, self._examples(rows), f"{_plural(n, 'row')} {what} ({cols})", per_column)

    # -- schema

    def columns(self) -> None:
        """Required columns present (the time-axis problem is checked separately)."""
        f = self.frame
        self.checked.append(Rule.REQUIRED_COLUMNS)
        if f.missing:
            self._add(
                Rule.REQUIRED_COLUMNS,
                len(f.missing),
                tuple(f.missing),
                f"missing required column{'s' if len(f.missing) > 1 else ''} "
                f"{', '.join(f.missing)}{self._why_missing()}",
            )
        if f.duplicated:
            self.checked.append(Rule.DUPLICATE_COLUMNS)
            self._add(
                Rule.DUPLICATE_COLUMNS,
                len(f.duplicated),
                tuple(f.duplicated),
                f"column{'s' if len(f.duplicated) > 1 else ''} {', '.join(f.duplicated)} "
                "appear more than once",
            )

    def _why_missing(self) -> str:
        """What explains the missing columns: a column read as the index, a case mismatch."""
        f = self.frame
        reasons = []
        if f.index_name in f.missing:
            reasons.append(
                f"{f.index_name!r} is the index, not a column: the first column of a file "
                "was probably read as the index while the time column sits elsewhere"
            )
        if f.near_misses:
            found = ", ".join(f"{have!r} for {want}" for want, have in f.near_misses.items())
            reasons.append(f"found {found}: names are case-sensitive")
        if not reasons:
            return " (names are case-sensitive)"
        return ": " + "; ".join(reasons)

    def dtypes(self) -> None:
        """Object/string/bool columns where numbers belong: the mark of a bad CSV parse."""
        self.checked.append(Rule.NON_NUMERIC_DTYPE)
        bad = self.frame.bad_dtypes
        if bad:
            listed = ", ".join(f"{c} ({d})" for c, d in bad.items())
            self._add(
                Rule.NON_NUMERIC_DTYPE,
                len(bad),
                tuple(bad),
                f"non-numeric dtype in {listed}: the values were probably parsed as text",
            )

    def time_axis(self, require_tz: bool) -> None:
        """A datetime axis exists; it is tz-aware when required."""
        f = self.frame
        self.checked.append(Rule.TIME_INDEX)
        if f.time is None:
            message = f"no usable time axis: {f.time_problem}"
            advice = None
            if f.datetime_columns:
                name = f.datetime_columns[0]
                message += f"; column {name!r} holds datetimes"
                advice = (
                    f"pass time_column={name!r}, or make it the index: "
                    f"df.set_index({name!r}) (read_ohlcv finds the time column by itself)"
                )
            self._add(Rule.TIME_INDEX, f.rows, (), message, advice=advice)
            return
        if require_tz:
            self.checked.append(Rule.TIMEZONE)
            if f.tz is None:
                fix = (
                    'df.index.tz_localize("UTC")'
                    if f.time_label == "index"
                    else '.dt.tz_localize("UTC") (polars: .dt.replace_time_zone("UTC"))'
                )
                self._add(
                    Rule.TIMEZONE,
                    f.rows,
                    self._fmt_ts(f.time[: self.max_examples]),
                    f"the time {f.time_label} is tz-naive; localise it, e.g. {fix}",
                )

    # -- time order

    def order(self) -> I64 | None:
        """NaT, sorted, duplicates. Returns the sorted unique timestamps for the gap check."""
        t = self.frame.time
        if t is None:
            return None
        self.checked += [Rule.NAT_TIMESTAMPS, Rule.UNSORTED_TIMESTAMPS, Rule.DUPLICATE_TIMESTAMPS]
        if t.size and t.min() == _NaT:
            nat = t == _NaT
            self._add(
                Rule.NAT_TIMESTAMPS,
                int(np.count_nonzero(nat)),
                tuple(f"row {int(p)}" for p in np.flatnonzero(nat)[: self.max_examples]),
                f"{_plural(int(np.count_nonzero(nat)), 'row')} without a timestamp (NaT)",
            )
            t = t[~nat]
        if t.size < 2:
            return t
        diff = np.diff(t)
        lo = int(diff.min())
        if lo > 0:  # the common case: strictly increasing
            self.spacing = (lo, int(diff.max()))
            return t
        descending = diff < 0
        n_desc = int(np.count_nonzero(descending))
        if n_desc:
            positions = np.flatnonzero(descending)[: self.max_examples] + 1
            self._add(
                Rule.UNSORTED_TIMESTAMPS,
                n_desc,
                self._fmt_ts(t[positions]),
                f"timestamps are not sorted ascending: {_plural(n_desc, 'row')} earlier "
                "than the row above",
            )
            ordered = np.sort(t)  # only paid by unsorted frames
            same = ordered[1:] == ordered[:-1]
        else:
            ordered = t
            same = diff == 0
        n_dup = int(np.count_nonzero(same))
        if not n_dup:
            return ordered
        repeated = ordered[1:][same]
        first = _dedupe_sorted(repeated[: self.max_examples * 64])[: self.max_examples]
        self._add(
            Rule.DUPLICATE_TIMESTAMPS,
            n_dup,
            self._fmt_ts(first),
            f"{_plural(n_dup, 'row')} repeating the timestamp of an earlier row",
        )
        return ordered[np.concatenate(([True], ~same))]

    def grid(self, unique: I64, timeframe: str | None, strict: bool) -> tuple[str | None, bool]:
        """Timestamps against the timeframe: off-boundary ones, and missing candles if strict.

        Without a timeframe (strict mode only) it is inferred from the most common
        spacing. With one, the spacing is compared with it and a note says when they
        disagree (a 1h file checked as 15m would otherwise only show as gaps).
        """
        if timeframe is None:
            tf, why = _infer_timeframe(unique, self.spacing)
            if tf is None:
                self.notes.append(f"timeframe could not be inferred ({why}): gaps not checked")
                return None, False
            self.notes.append(
                f"timeframe {tf.text} inferred from the most common spacing; "
                "give the timeframe to check against a known one"
            )
            inferred = True
        else:
            tf = _parse(timeframe)
            inferred = False
            if self.spacing != (tf.step_ns, tf.step_ns):
                seen, _ = _infer_timeframe(unique, self.spacing)
                if seen is not None and not seen.same_as(tf):
                    self.notes.append(
                        f"the most common spacing is {seen.text}, not the given timeframe "
                        f"{tf.text}: check the timeframe"
                    )
            if not strict:
                self.notes.append(
                    f"gaps not checked (lenient mode): only the alignment to the {tf.text} "
                    "grid was checked"
                )
        self.checked.append(Rule.MISALIGNED_TIMESTAMPS)
        if strict:
            self.checked.append(Rule.MISSING_CANDLES)
        if unique.size:
            if tf.months:
                self._calendar_grid(unique, tf, strict)
            else:
                self._fixed_grid(unique, tf, strict)
        return tf.text, inferred

    def _fixed_grid(self, unique: I64, tf: _Timeframe, strict: bool) -> None:
        step = tf.step_ns
        anchor = _anchor(tf, int(unique[0]))
        if self.spacing == (step, step) and (int(unique[0]) - anchor) % step == 0:
            return  # a regular grid on the boundaries: nothing to find
        off = (unique - anchor) % step
        slots = unique
        if off.any():
            bad = off != 0
            n_bad = int(np.count_nonzero(bad))
            where = f"a {tf.text} boundary"
            if tf.base_ns:
                unit = "week (Monday)" if tf.base_ns == _NS["w"] else "day"
                where += f" (a {unit} boundary, every {tf.text} from the first candle)"
            self._add(
                Rule.MISALIGNED_TIMESTAMPS,
                n_bad,
                self._fmt_ts(unique[bad][: self.max_examples]),
                f"{_plural(n_bad, 'timestamp')} not on {where}",
            )
            # Gaps are counted between the slots the candles fall in, so a shifted
            # candle is reported as misaligned, not also as a missing one.
            slots = _dedupe_sorted(unique - off)
        if strict:
            self._gaps(slots, step, tf.text, lambda ns: ns)

    def _calendar_grid(self, unique: I64, tf: _Timeframe, strict: bool) -> None:
        months = _month_index(unique)
        bad = (unique != _month_starts(months)) | (months % tf.months != 0)
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            wrong = unique[bad]
            message = f"{_plural(n_bad, 'timestamp')} not on {_calendar_boundary(tf.months)}"
            if np.array_equal(wrong + _NS["d"], _month_starts(_month_index(wrong) + 1)):
                message += (
                    ": they are the last day of the month, so these candles seem labelled by "
                    "the end of their period (as pandas' resample('M') does), while the "
                    "contract labels a candle by its open time"
                )
            self._add(
                Rule.MISALIGNED_TIMESTAMPS,
                n_bad,
                self._fmt_ts(wrong[: self.max_examples]),
                message,
            )
        if strict:
            n = tf.months
            slots = _dedupe_sorted(months // n)
            self._gaps(slots, 1, tf.text, lambda s: _month_starts(s * n))

    def _gaps(self, slots: I64, step: int, label: str, to_ns: Callable[[I64], I64]) -> None:
        """Missing candles between sorted unique slots ``step`` apart."""
        if slots.size < 2:
            return
        diff = np.diff(slots)
        if diff.max() <= step:
            return
        gap = diff > step
        missing = int(((diff[gap] - 1) // step).sum())
        starts = to_ns(slots[:-1][gap][: self.max_examples] + step)
        n_gaps = int(np.count_nonzero(gap))
        self._add(
            Rule.MISSING_CANDLES,
            missing,
            self._fmt_ts(starts),
            f"{_plural(missing, label + ' candle')} missing in {_plural(n_gaps, 'gap')} "
            "(examples are the first missing candle of each gap)",
        )

    # -- values

    def values(self, allow_nan: bool) -> BoolArr | None:
        """NaN/inf policy. Returns a mask of rows with a non-finite value, or None if none."""
        vals = self.frame.values
        if not vals:
            return None
        if not allow_nan:
            self.checked.append(Rule.NAN_VALUES)
        self.checked.append(Rule.INFINITE_VALUES)
        # A finite sum proves the column has neither NaN nor inf: one cheap SIMD pass.
        # (inf - inf and overflowing sums only send a column down the exact path)
        with np.errstate(invalid="ignore", over="ignore"):
            dirty = [c for c, a in vals.items() if not np.isfinite(np.add.reduce(a))]
        if not dirty:
            return None
        nan_rows: BoolArr | None = None
        inf_rows: BoolArr | None = None
        nan_cols: dict[str, int] = {}
        inf_cols: dict[str, int] = {}
        for name in dirty:
            col = vals[name]
            isnan = np.isnan(col)
            isinf = np.isinf(col)
            if n := int(np.count_nonzero(isnan)):
                nan_cols[name] = n
                nan_rows = isnan if nan_rows is None else np.logical_or(nan_rows, isnan)
            if n := int(np.count_nonzero(isinf)):
                inf_cols[name] = n
                inf_rows = isinf if inf_rows is None else np.logical_or(inf_rows, isinf)
        if nan_rows is not None and not allow_nan:
            self._add_rows(Rule.NAN_VALUES, nan_rows, nan_cols, "with NaN")
        if inf_rows is not None:
            self._add_rows(Rule.INFINITE_VALUES, inf_rows, inf_cols, "with +/-inf")
        if nan_rows is None:
            return inf_rows
        if inf_rows is None:
            return nan_rows
        return np.logical_or(nan_rows, inf_rows)

    def prices(self, nonfinite: BoolArr | None) -> None:
        """Positive prices, high/low consistent with open/close, volume >= 0.

        NaN compares False so it never trips these; infinite rows are masked out
        explicitly (they were reported by :meth:`values`).
        """
        vals = self.frame.values
        keep = None if nonfinite is None else ~nonfinite
        present = [c for c in _PRICE_COLUMNS if c in vals]
        if present:
            self.checked.append(Rule.NON_POSITIVE_PRICE)
            bad_cols: dict[str, int] = {}
            bad_rows: BoolArr | None = None
            for name in present:
                col = vals[name]
                if np.min(col, initial=np.inf) > 0:
                    continue
                mask = col <= 0
                if keep is not None:
                    mask &= keep
                if n := int(np.count_nonzero(mask)):
                    bad_cols[name] = n
                    bad_rows = mask if bad_rows is None else np.logical_or(bad_rows, mask)
            if bad_rows is not None:
                self._add_rows(Rule.NON_POSITIVE_PRICE, bad_rows, bad_cols, "with a price <= 0")
        o, h, lo, c = (vals.get(name) for name in _PRICE_COLUMNS)
        if h is not None and o is not None and c is not None:
            self._relation(
                Rule.HIGH_BELOW_OPEN_CLOSE,
                np.logical_or(h < o, h < c),
                keep,
                "with high < max(open, close)",
            )
        if lo is not None and o is not None and c is not None:
            self._relation(
                Rule.LOW_ABOVE_OPEN_CLOSE,
                np.logical_or(lo > o, lo > c),
                keep,
                "with low > min(open, close)",
            )
        if h is not None and lo is not None:
            self._relation(Rule.HIGH_BELOW_LOW, h < lo, keep, "with high < low")
        v = vals.get("volume")
        if v is not None:
            self.checked.append(Rule.NEGATIVE_VOLUME)
            if not np.min(v, initial=0.0) >= 0:
                self._relation(Rule.NEGATIVE_VOLUME, v < 0, keep, "with volume < 0", False)

    def _relation(
        self, rule: Rule, mask: BoolArr, keep: BoolArr | None, what: str, record: bool = True
    ) -> None:
        """Record one row-wise rule from its violation mask."""
        if record:
            self.checked.append(rule)
        if keep is not None:
            mask &= keep
        if n := int(np.count_nonzero(mask)):
            self._add(rule, n, self._examples(mask), f"{_plural(n, 'row')} {what}")


def _infer_timeframe(
    unique: I64, spacing: tuple[int, int] | None
) -> tuple[_Timeframe | None, str | None]:
    """The timeframe of the most common spacing (calendar months when the candles sit on
    month boundaries); or None and why not."""
    step = _infer_step(unique, spacing)
    if step is None:
        return None, "fewer than two distinct timestamps"
    if step >= 28 * _NS["d"]:
        calendar = _infer_calendar(unique)
        if calendar is not None:
            return calendar, None
    text = _format_timeframe(step)
    if text is None:
        return None, f"the most common spacing ({step} ns) is not a whole number of seconds"
    return _parse(text), None


def _infer_calendar(unique: I64) -> _Timeframe | None:
    """``nM`` when most timestamps open a month (or sit on its last day, a month-end label)."""
    months = _month_index(unique)
    at_start = int(np.count_nonzero(unique == _month_starts(months)))
    at_end = int(np.count_nonzero(unique + _NS["d"] == _month_starts(months + 1)))
    if 2 * max(at_start, at_end) <= unique.size:
        return None
    steps = np.diff(months)
    steps = steps[steps > 0]
    if not steps.size:
        return None
    return _parse(_calendar_name(_mode(steps)))


def _infer_step(unique: I64, spacing: tuple[int, int] | None) -> int | None:
    """The most common spacing of sorted unique timestamps, or None with < 2 of them.

    A strided sample proposes a candidate; when it covers more than half of all
    spacings it is the mode for sure (a majority is unique), which keeps the
    common case (a few gaps) at two array passes instead of a full sort.
    """
    if unique.size < 2:
        return None
    if spacing is not None and spacing[0] == spacing[1]:
        return spacing[0]
    diff = np.diff(unique)
    lo, hi = int(diff.min()), int(diff.max())
    if lo == hi:
        return lo
    candidate = _mode(diff[:: max(1, diff.size // 4096)])
    if 2 * int(np.count_nonzero(diff == candidate)) > diff.size:
        return candidate
    return _mode(diff)


def _dedupe_sorted(values: I64) -> I64:
    """Distinct values of a sorted array, in order (np.unique hashes first: slower here)."""
    if values.size < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def _mode(values: I64) -> int:
    """The most common value (the smallest among ties), by sorting once."""
    ordered = np.sort(values)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    runs = np.diff(np.append(starts, ordered.size))
    return int(ordered[starts[np.argmax(runs)]])


# --------------------------------------------------------------------------- entry point


def validate_ohlcv(
    df: Any,
    strict: bool = False,
    require_tz: bool = True,
    *,
    timeframe: str | None = None,
    allow_nan: bool = False,
    raise_on_error: bool = True,
    max_examples: int = 5,
    time_column: str | None = None,
) -> ValidationReport:
    """Check an OHLCV frame against the data contract and report every violation.

    Args:
        df: a pandas DataFrame (time in a DatetimeIndex, or in ``time_column``) or a
            polars DataFrame (time in ``time_column`` or its single Datetime column).
        strict: also check the timestamps against the timeframe: missing candles and
            timestamps off the timeframe's boundaries.
        require_tz: the timestamps must be tz-aware.
        timeframe: ccxt notation ("1m", "5m", "1h", "4h", "1d", "3d", "1w", "1M", "1y").
            Always used: in any mode every timestamp must sit on its boundaries (UTC;
            Mondays for weeks; the first candle's phase for 3d, 2w; the 1st of the
            month for calendar months), and a note says when the most common spacing
            disagrees with it; strict mode also counts the missing candles. In strict
            mode, when omitted, it is inferred from the most common spacing (calendar
            months included, and the report says so).
        allow_nan: allow NaN values (infinities are never allowed).
        raise_on_error: raise :class:`DataContractError` on any violation; when False,
            return the report instead.
        max_examples: how many offending timestamps each violation lists.
        time_column: the column holding the timestamps instead of the index.

    Returns:
        The :class:`ValidationReport` (``report.ok`` is True when nothing is wrong).

    Raises:
        DataContractError: some rule failed and ``raise_on_error`` is True; its
            ``context["violations"]`` lists every failed rule, ``err.report`` is the report.
        InvalidArgumentError: ``df`` is not a DataFrame, or an argument is invalid.

    An empty frame with the required columns is valid: only the column names are
    checked when there are no rows (dtype and index type of an empty frame are
    whatever pandas defaulted them to).
    """
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 0:
        raise InvalidArgumentError(
            f"max_examples must be an int >= 0, got {max_examples!r}",
            hint="pass how many offending timestamps each violation should list, e.g. 5",
            context={"max_examples": max_examples},
        )
    if time_column is not None and not isinstance(time_column, str):
        raise InvalidArgumentError(
            f"time_column must be a column name (str), got {type(time_column).__name__}",
            hint="pass the name of the datetime column, or None to use the index",
            context={"time_column": repr(time_column)},
        )
    if timeframe is not None:
        _parse(timeframe)  # reject bad notation up front, strict or not

    if isinstance(df, pd.DataFrame):
        frame = _adapt_pandas(df, time_column)
    elif _is_polars_frame(df):
        frame = _adapt_polars(df, time_column)
    else:
        raise InvalidArgumentError(
            f"validate_ohlcv expects a pandas or polars DataFrame, got {type(df).__name__}",
            hint="build a DataFrame with columns open, high, low, close, volume and a "
            "tz-aware DatetimeIndex",
            context={"type": f"{type(df).__module__}.{type(df).__qualname__}"},
        )

    checker = _Checker(frame, max_examples)
    checker.columns()
    used_timeframe = timeframe
    inferred = False
    if frame.rows == 0:
        checker.notes.append("empty frame: only the required columns were checked")
    else:
        checker.dtypes()
        checker.time_axis(require_tz)
        unique = checker.order()
        nonfinite = checker.values(allow_nan)
        checker.prices(nonfinite)
        if unique is not None and (strict or timeframe is not None):
            used_timeframe, inferred = checker.grid(unique, timeframe, strict)
        elif strict or timeframe is not None:
            checker.notes.append("no usable time axis: gaps and alignment not checked")

    report = ValidationReport(
        rows=frame.rows,
        violations=tuple(checker.violations),
        checked_rules=tuple(checker.checked),
        timeframe=used_timeframe,
        timeframe_inferred=inferred,
        strict=strict,
        notes=tuple(checker.notes),
    )
    if raise_on_error:
        report.raise_if_failed()
    return report
