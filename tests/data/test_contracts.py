"""The OHLCV contract: one test per rule, all rules at once, raise vs report, polars."""

from __future__ import annotations

import json
import pickle
import re
import sys

import numpy as np
import pandas as pd
import polars as pl
import pytest

from peak_trade.data import ValidationReport, Violation, validate_ohlcv
from peak_trade.data.contracts import REQUIRED_COLUMNS, Rule, parse_timeframe
from peak_trade.errors import DataContractError, InvalidArgumentError, PeakTradeError

START = pd.Timestamp("2024-03-01", tz="UTC")


def clean(n: int = 48, freq: str = "1h", tz: str | None = "UTC") -> pd.DataFrame:
    """A valid frame: open/close in [100, 101), high above both, low below both."""
    rng = np.random.default_rng(7)
    o = 100 + rng.random(n)
    c = 100 + rng.random(n)
    frame = pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, c) + 0.5,
            "low": np.minimum(o, c) - 0.5,
            "close": c,
            "volume": rng.random(n) * 10,
        },
        index=pd.date_range(START, periods=n, freq=freq, name="time"),
    )
    if tz is None:
        frame.index = frame.index.tz_localize(None)
    return frame


def iso(frame: pd.DataFrame, *rows: int) -> tuple[str, ...]:
    return tuple(frame.index[r].isoformat() for r in rows)


def report(frame: object, **kwargs: object) -> ValidationReport:
    return validate_ohlcv(frame, raise_on_error=False, **kwargs)  # type: ignore[arg-type]


def only(rep: ValidationReport, rule: Rule) -> Violation:
    assert rep.violated_rules == (rule,), str(rep)
    found = rep.violation(rule)
    assert found is not None
    return found


# --------------------------------------------------------------------------- seed usage


def test_seed_usage_on_a_clean_frame() -> None:
    frame = clean()
    assert validate_ohlcv(frame).ok
    rep = validate_ohlcv(frame, strict=True, require_tz=True)
    assert rep.ok
    assert rep.timeframe == "1h"
    assert rep.timeframe_inferred
    assert Rule.MISSING_CANDLES in rep.checked_rules
    assert Rule.MISALIGNED_TIMESTAMPS in rep.checked_rules


def test_package_exports_the_contract_names() -> None:
    from peak_trade import data

    assert data.validate_ohlcv is validate_ohlcv
    assert data.ValidationReport is ValidationReport
    assert data.Violation is Violation


def test_non_strict_does_not_check_gaps() -> None:
    frame = clean().drop(clean().index[5:9])
    rep = validate_ohlcv(frame)
    assert rep.ok
    assert Rule.MISSING_CANDLES not in rep.checked_rules


# --------------------------------------------------------------------------- one rule each


def test_missing_columns_are_listed_and_other_rules_still_run() -> None:
    frame = clean()
    frame.iloc[3, frame.columns.get_loc("high")] = 1.0  # below open/close, but > 0
    frame = frame.rename(columns={"volume": "Volume"}).drop(columns=["low"])
    rep = report(frame)
    assert rep.violated_rules == (Rule.REQUIRED_COLUMNS, Rule.HIGH_BELOW_OPEN_CLOSE)
    missing = rep.violations[0]
    assert missing.count == 2
    assert missing.examples == ("low", "volume")
    assert "case-sensitive" in missing.message
    assert rep.violations[1].count == 1
    assert rep.violations[1].examples == iso(frame, 3)
    # rules needing the missing columns did not run
    assert Rule.NEGATIVE_VOLUME not in rep.checked_rules
    assert Rule.HIGH_BELOW_LOW not in rep.checked_rules
    assert Rule.LOW_ABOVE_OPEN_CLOSE not in rep.checked_rules


def test_duplicated_column_labels() -> None:
    frame = clean()
    frame = pd.concat([frame, frame[["close"]]], axis=1)
    v = only(report(frame), Rule.DUPLICATE_COLUMNS)
    assert (v.count, v.examples) == (1, ("close",))


def test_non_datetime_index() -> None:
    frame = clean().reset_index(drop=True)
    v = only(report(frame), Rule.TIME_INDEX)
    assert v.count == 48
    assert "RangeIndex" in v.message


def test_naive_index_hints_tz_localize() -> None:
    frame = clean(tz=None)
    v = only(report(frame), Rule.TIMEZONE)
    assert v.count == len(frame)
    assert 'tz_localize("UTC")' in v.message
    assert 'tz_localize("UTC")' in v.hint
    assert report(frame, require_tz=False).ok


def test_unsorted_timestamps() -> None:
    frame = clean()
    order = list(range(48))
    order[10], order[11] = 11, 10
    frame = frame.iloc[order]
    v = only(report(frame), Rule.UNSORTED_TIMESTAMPS)
    assert v.count == 1
    assert v.examples == (frame.index[11].isoformat(),)


def test_duplicate_timestamps_count_rows_and_list_timestamps() -> None:
    frame = clean()
    index = frame.index.to_numpy().copy()
    index[5] = index[4]
    index[20] = index[19]
    index[21] = index[19]
    frame.index = pd.DatetimeIndex(index)
    v = only(report(frame), Rule.DUPLICATE_TIMESTAMPS)
    assert v.count == 3
    assert v.examples == iso(frame, 4, 19)


def test_duplicates_in_an_unsorted_index_are_still_counted() -> None:
    frame = clean()
    frame = pd.concat([frame, frame.iloc[[3, 7]]])
    rep = report(frame)
    assert rep.violated_rules == (Rule.UNSORTED_TIMESTAMPS, Rule.DUPLICATE_TIMESTAMPS)
    dup = rep.violation(Rule.DUPLICATE_TIMESTAMPS)
    assert dup is not None
    assert dup.count == 2
    assert dup.examples == iso(frame, 3, 7)


def test_nat_timestamps() -> None:
    frame = clean()
    index = frame.index.to_series().copy()
    index.iloc[6] = pd.NaT
    frame.index = pd.DatetimeIndex(index)
    v = only(report(frame), Rule.NAT_TIMESTAMPS)
    assert (v.count, v.examples) == (1, ("row 6",))


@pytest.mark.parametrize("column", ["close", "volume"])
def test_nan_values_counted_per_column(column: str) -> None:
    frame = clean()
    frame.loc[frame.index[[2, 9]], column] = np.nan
    frame.loc[frame.index[9], "open"] = np.nan
    v = only(report(frame), Rule.NAN_VALUES)
    assert v.count == 2
    assert v.examples == iso(frame, 2, 9)
    assert dict(v.per_column) == {"open": 1, column: 2}
    assert v.to_dict()["per_column"] == {"open": 1, column: 2}


def test_allow_nan_accepts_nan_but_never_inf() -> None:
    frame = clean()
    frame.loc[frame.index[2], "close"] = np.nan
    frame.loc[frame.index[4], "high"] = np.inf
    frame.loc[frame.index[5], "low"] = -np.inf
    rep = report(frame, allow_nan=True)
    v = only(rep, Rule.INFINITE_VALUES)
    assert v.count == 2
    assert v.examples == iso(frame, 4, 5)
    assert dict(v.per_column) == {"high": 1, "low": 1}
    assert Rule.NAN_VALUES not in rep.checked_rules
    strict_nan = report(frame)
    assert strict_nan.violated_rules == (Rule.NAN_VALUES, Rule.INFINITE_VALUES)


def test_object_dtype_is_rejected_with_column_and_dtype() -> None:
    frame = clean()
    frame["close"] = frame["close"].astype(str)
    frame["volume"] = frame["volume"] > 1
    v = only(report(frame), Rule.NON_NUMERIC_DTYPE)
    assert v.count == 2
    assert v.examples == ("close", "volume")
    # pandas 2 parses text as object, pandas 3 as its own string dtype
    assert re.search(r"close \((object|str)\)", v.message)
    assert "volume (bool)" in v.message


def test_integer_and_nullable_dtypes_are_numeric() -> None:
    frame = clean()
    frame["volume"] = (frame["volume"] * 100).astype("int64")
    frame["open"] = frame["open"].astype("Float64")
    frame["close"] = frame["close"].astype("float32")
    assert report(frame).ok
    frame.loc[frame.index[3], "open"] = pd.NA
    v = only(report(frame), Rule.NAN_VALUES)
    assert v.examples == iso(frame, 3)


def test_non_positive_prices() -> None:
    frame = clean()
    for col in ("open", "high", "low", "close"):
        frame.loc[frame.index[[8, 30]], col] = 0.0 if col != "low" else -1.0
    v = only(report(frame), Rule.NON_POSITIVE_PRICE)
    assert v.count == 2
    assert v.examples == iso(frame, 8, 30)
    assert dict(v.per_column) == {"open": 2, "high": 2, "low": 2, "close": 2}


def test_high_below_open_or_close() -> None:
    frame = clean()
    rows = frame.index[[1, 2]]
    frame.loc[rows, "high"] = np.maximum(frame.loc[rows, "open"], frame.loc[rows, "close"]) - 1e-6
    v = only(report(frame), Rule.HIGH_BELOW_OPEN_CLOSE)
    assert (v.count, v.examples) == (2, iso(frame, 1, 2))


def test_low_above_open_or_close() -> None:
    frame = clean()
    rows = frame.index[[40]]
    frame.loc[rows, "low"] = np.minimum(frame.loc[rows, "open"], frame.loc[rows, "close"]) + 1e-6
    v = only(report(frame), Rule.LOW_ABOVE_OPEN_CLOSE)
    assert (v.count, v.examples) == (1, iso(frame, 40))


def test_high_below_low_is_its_own_rule() -> None:
    frame = clean()
    frame.iloc[12, frame.columns.get_loc("high")] = 50.0  # below low (~99.5) and open/close
    rep = report(frame)
    assert rep.violated_rules == (Rule.HIGH_BELOW_OPEN_CLOSE, Rule.HIGH_BELOW_LOW)
    v = rep.violation(Rule.HIGH_BELOW_LOW)
    assert v is not None
    assert (v.count, v.examples) == (1, iso(frame, 12))
    assert "high < low" in v.message


def test_negative_volume() -> None:
    frame = clean()
    frame.loc[frame.index[[0, 47]], "volume"] = -0.01
    v = only(report(frame), Rule.NEGATIVE_VOLUME)
    assert (v.count, v.examples) == (2, iso(frame, 0, 47))
    frame.loc[frame.index[[0, 47]], "volume"] = 0.0
    assert report(frame).ok


def test_infinite_rows_are_not_reported_again_by_price_relations() -> None:
    frame = clean()
    frame.iloc[3, frame.columns.get_loc("low")] = -np.inf
    frame.iloc[4, frame.columns.get_loc("high")] = np.inf
    v = only(report(frame), Rule.INFINITE_VALUES)
    assert v.count == 2


# --------------------------------------------------------------------------- strict mode


def test_strict_gaps_with_given_timeframe() -> None:
    frame = clean(n=100, freq="5min")
    frame = frame.drop(frame.index[[10, 11, 12, 50]])
    rep = report(frame, strict=True, timeframe="5m")
    v = only(rep, Rule.MISSING_CANDLES)
    assert v.count == 4
    base = clean(n=100, freq="5min")
    assert v.examples == iso(base, 10, 50)
    assert "2 gaps" in v.message
    assert rep.timeframe == "5m"
    assert not rep.timeframe_inferred


def test_strict_gaps_with_inferred_timeframe_says_so() -> None:
    frame = clean(n=200, freq="4h")
    frame = frame.drop(frame.index[[3, 100, 101]])
    rep = report(frame, strict=True)
    assert rep.timeframe == "4h"
    assert rep.timeframe_inferred
    assert any("inferred" in note for note in rep.notes)
    assert "inferred" in str(rep)
    v = only(rep, Rule.MISSING_CANDLES)
    assert v.count == 3


def test_inference_finds_the_mode_even_when_it_is_no_majority() -> None:
    base = clean(n=400, freq="1min")
    keep = [i for i in range(400) if i < 150 or i % 3 == 0]  # 149 x 1m, then 3m steps
    rep = report(base.iloc[keep], strict=True)
    assert rep.timeframe == "1m"
    assert only(rep, Rule.MISSING_CANDLES).count == 400 - len(keep)
    # 100 x 1m, 80 x 2m, 80 x 3m: the mode (1m) covers less than half the spacings
    steps = np.array([1] * 100 + [2, 3] * 80)
    np.random.default_rng(1).shuffle(steps)
    minutes = np.concatenate(([0], np.cumsum(steps)))
    frame = clean(n=minutes.size)
    frame.index = START + pd.to_timedelta(minutes, unit="min")
    rep = report(frame, strict=True)
    assert rep.timeframe == "1m"
    assert only(rep, Rule.MISSING_CANDLES).count == 80 * 1 + 80 * 2


def test_wrong_timeframe_shows_as_gaps() -> None:
    frame = clean(n=10, freq="1h")
    rep = report(frame, strict=True, timeframe="15m")
    v = only(rep, Rule.MISSING_CANDLES)
    assert v.count == 9 * 3


def test_misaligned_timestamps_are_not_also_missing_candles() -> None:
    frame = clean(n=24, freq="1h")
    index = frame.index.to_numpy().copy()
    index[5] += np.timedelta64(90, "s")
    index[6] += np.timedelta64(1, "s")
    frame.index = pd.DatetimeIndex(index)
    rep = report(frame, strict=True, timeframe="1h")
    v = only(rep, Rule.MISALIGNED_TIMESTAMPS)
    assert v.count == 2
    assert v.examples == iso(frame, 5, 6)
    assert report(frame).ok  # non-strict: not checked


def test_weekly_candles_align_to_monday() -> None:
    monday = pd.date_range("2024-01-01", periods=10, freq="7D", tz="UTC")  # a Monday
    frame = clean(n=10)
    frame.index = monday
    assert report(frame, strict=True, timeframe="1w").ok
    frame.index = monday + pd.Timedelta(days=1)
    assert only(report(frame, strict=True, timeframe="1w"), Rule.MISALIGNED_TIMESTAMPS).count == 10


@pytest.mark.parametrize(
    ("tf", "ns"),
    [("1m", 60 * 10**9), ("5m", 300 * 10**9), ("1h", 3600 * 10**9), ("4h", 4 * 3600 * 10**9),
     ("1d", 86400 * 10**9), ("1w", 7 * 86400 * 10**9), ("30s", 30 * 10**9),
     ("3d", 3 * 86400 * 10**9), ("2w", 14 * 86400 * 10**9),
     # calendar units: ccxt's nominal lengths (for sizing only; checks use the calendar)
     ("1M", 30 * 86400 * 10**9), ("3M", 90 * 86400 * 10**9), ("1y", 365 * 86400 * 10**9)],
)  # fmt: skip
def test_parse_timeframe(tf: str, ns: int) -> None:
    assert parse_timeframe(tf) == ns


@pytest.mark.parametrize("tf", ["1Y", "h", "0m", "1 h", "60", "1x", "", "1mo", "01h"])
def test_unknown_timeframe_is_rejected(tf: str) -> None:
    with pytest.raises(InvalidArgumentError, match="timeframe") as info:
        validate_ohlcv(clean(), strict=True, timeframe=tf)
    assert "1M" in str(info.value.hint)  # the hint lists the calendar units too
    assert info.value.context["timeframe"] == tf


def months(start: str, n: int, step: int = 1) -> pd.DatetimeIndex:
    """Month starts (00:00 UTC), ``step`` months apart."""
    return pd.date_range(start, periods=n, freq=f"{step}MS", tz="UTC", name="time")


def test_calendar_months_are_checked_for_gaps_and_alignment() -> None:
    frame = clean(n=30)
    frame.index = months("2022-01-01", 30)
    rep = report(frame, strict=True, timeframe="1M")
    assert rep.ok, str(rep)
    assert rep.timeframe == "1M"
    assert Rule.MISSING_CANDLES in rep.checked_rules
    # February is short and March long: a gap is counted in months, not in 30-day steps
    gappy = frame.drop(frame.index[[1, 2, 13]])
    v = only(report(gappy, strict=True, timeframe="1M"), Rule.MISSING_CANDLES)
    assert v.count == 3
    assert "2 gaps" in v.message
    assert v.examples == ("2022-02-01T00:00:00+00:00", "2023-02-01T00:00:00+00:00")
    shifted = frame.copy()
    index = shifted.index.to_numpy().copy()
    index[4] += np.timedelta64(15, "D")
    index[7] += np.timedelta64(1, "h")
    shifted.index = pd.DatetimeIndex(index)
    v = only(report(shifted, strict=True, timeframe="1M"), Rule.MISALIGNED_TIMESTAMPS)
    assert v.count == 2
    assert "1st of a month" in v.message


def test_quarters_and_years_are_calendar_aligned() -> None:
    frame = clean(n=8)
    frame.index = months("2021-01-01", 8, step=3)
    assert report(frame, strict=True, timeframe="3M").ok
    frame.index = months("2021-02-01", 8, step=3)  # Feb/May/Aug/Nov: not quarter starts
    assert only(report(frame, strict=True, timeframe="3M"), Rule.MISALIGNED_TIMESTAMPS).count == 8
    yearly = clean(n=5)
    yearly.index = months("2019-01-01", 5, step=12)
    assert report(yearly, strict=True, timeframe="1y").ok
    assert (
        only(
            report(yearly.drop(yearly.index[2]), strict=True, timeframe="1y"), Rule.MISSING_CANDLES
        ).count
        == 1
    )


def test_monthly_spacing_is_inferred_as_calendar_months() -> None:
    frame = clean(n=40)
    frame.index = months("2020-01-01", 40)
    rep = report(frame.drop(frame.index[10]), strict=True)
    assert rep.timeframe == "1M"
    assert rep.timeframe_inferred
    assert only(rep, Rule.MISSING_CANDLES).count == 1


def test_month_end_labels_are_reported_as_misaligned_monthly_candles() -> None:
    # pandas' resample("M") labels a month by its last day; candles are labelled by open time
    frame = clean(n=24)
    frame.index = months("2022-02-01", 24) - pd.Timedelta(days=1)  # 2022-01-31, 02-28, ...
    rep = report(frame, strict=True)
    assert rep.timeframe == "1M"
    v = only(rep, Rule.MISALIGNED_TIMESTAMPS)
    assert v.count == 24
    assert "last day of the month" in v.message


def test_multi_day_candles_keep_the_phase_of_the_first_one() -> None:
    # 3d and 2w candles: exchanges anchor them differently, so the first candle sets the phase
    for start in ("2024-01-01", "2024-01-02", "2024-01-03"):
        frame = clean(n=20)
        frame.index = pd.date_range(start, periods=20, freq="3D", tz="UTC")
        assert report(frame, strict=True, timeframe="3d").ok, start
    shifted = frame.index[:5].append(frame.index[5:] + pd.Timedelta(days=1))
    frame.index = shifted
    assert only(report(frame, strict=True, timeframe="3d"), Rule.MISALIGNED_TIMESTAMPS).count == 15
    frame.index = pd.date_range("2024-01-10 06:00", periods=20, freq="3D", tz="UTC")
    v = only(report(frame, strict=True, timeframe="3d"), Rule.MISALIGNED_TIMESTAMPS)
    assert v.count == 20  # not on a day boundary at all
    weeks = clean(n=10)
    weeks.index = pd.date_range("2024-01-08", periods=10, freq="14D", tz="UTC")  # Mondays
    assert report(weeks, strict=True, timeframe="2w").ok
    weeks.index = weeks.index + pd.Timedelta(days=2)
    assert only(report(weeks, strict=True, timeframe="2w"), Rule.MISALIGNED_TIMESTAMPS).count == 10


def test_a_timeframe_is_used_without_strict_too() -> None:
    # lenient mode with a timeframe: alignment is checked, gaps are not
    frame = clean(n=24, freq="1h")
    index = frame.index.to_numpy().copy()
    index[5] += np.timedelta64(90, "s")
    frame.index = pd.DatetimeIndex(index)
    gappy = frame.drop(frame.index[10:12])
    rep = report(gappy, timeframe="1h")
    v = only(rep, Rule.MISALIGNED_TIMESTAMPS)
    assert v.count == 1
    assert Rule.MISSING_CANDLES not in rep.checked_rules
    assert rep.timeframe == "1h"
    assert not rep.timeframe_inferred
    assert any("gaps not checked" in note for note in rep.notes)
    assert report(gappy).ok  # without a timeframe nothing about the grid is checked


def test_a_given_timeframe_that_disagrees_with_the_spacing_is_noted() -> None:
    frame = clean(n=48, freq="1h")
    rep = report(frame, timeframe="15m")
    assert rep.ok
    assert any("most common spacing is 1h" in note for note in rep.notes), rep.notes
    rep = report(frame, strict=True, timeframe="15m")
    assert only(rep, Rule.MISSING_CANDLES).count == 47 * 3
    assert any("most common spacing is 1h" in note for note in rep.notes), rep.notes
    assert not any("spacing" in note for note in report(frame, timeframe="1h").notes)


def test_a_column_taken_as_the_index_is_named_as_the_real_problem() -> None:
    # what pd.read_csv(..., index_col=0) makes of a file whose time column is not first
    frame = clean().reset_index()[["open", "high", "low", "close", "volume", "time"]]
    misread = frame.set_index("open")
    v = report(misread).violation(Rule.REQUIRED_COLUMNS)
    assert v is not None
    assert "'open' is the index" in v.message
    assert "case-sensitive" not in v.message
    t = report(misread).violation(Rule.TIME_INDEX)
    assert t is not None
    assert "column 'time' holds datetimes" in t.message
    assert "time_column='time'" in t.hint


def test_a_datetime_column_is_suggested_when_the_index_is_not_time() -> None:
    frame = clean().reset_index()
    v = only(report(frame), Rule.TIME_INDEX)
    assert "column 'time' holds datetimes" in v.message
    assert "time_column='time'" in v.hint
    assert report(frame, time_column="time").ok


def test_unknown_timeframe_is_rejected_in_non_strict_mode_too() -> None:
    with pytest.raises(InvalidArgumentError):
        validate_ohlcv(clean(), timeframe="1hour")


def test_strict_on_a_single_row_cannot_infer() -> None:
    rep = report(clean(n=1), strict=True)
    assert rep.ok
    assert rep.timeframe is None
    assert any("could not be inferred" in note for note in rep.notes)


# --------------------------------------------------------------------------- empty frames


def test_empty_frame_with_the_right_columns_is_valid() -> None:
    assert validate_ohlcv(pd.DataFrame(columns=list(REQUIRED_COLUMNS)), strict=True).ok
    typed = clean().iloc[:0]
    rep = validate_ohlcv(typed, strict=True, timeframe="1h")
    assert rep.ok
    assert rep.rows == 0


def test_empty_frame_without_columns_fails() -> None:
    v = only(report(pd.DataFrame()), Rule.REQUIRED_COLUMNS)
    assert v.count == 5


# --------------------------------------------------------------------------- all at once


def _broken() -> pd.DataFrame:
    """One frame breaking many rules at known rows."""
    frame = clean(n=100, tz=None)
    frame = frame.drop(frame.index[[60, 61]])  # 2 missing candles (strict)
    index = frame.index.to_numpy().copy()
    index[30] = index[29]  # duplicate -> also a missing slot
    frame.index = pd.DatetimeIndex(index)
    frame.iloc[5, frame.columns.get_loc("close")] = np.nan
    frame.iloc[6, frame.columns.get_loc("volume")] = -3.0
    frame.iloc[7, frame.columns.get_loc("high")] = 10.0
    frame.iloc[8, frame.columns.get_loc("low")] = 200.0
    return frame


def test_all_violations_are_collected_in_one_pass() -> None:
    frame = _broken()
    with pytest.raises(DataContractError) as info:
        validate_ohlcv(frame, strict=True, timeframe="1h")
    err = info.value
    expected = {
        "timezone": 98,
        "duplicate_timestamps": 1,
        "nan_values": 1,
        "high_below_open_close": 1,
        "low_above_open_close": 1,
        "high_below_low": 2,
        "negative_volume": 1,
        "missing_candles": 3,
    }
    assert {v["rule"]: v["count"] for v in err.context["violations"]} == expected
    assert err.context["rows"] == 98
    assert err.message.startswith("OHLCV contract violated: 8 rules failed on 98 rows (")
    assert "duplicate_timestamps: 1 row" in err.message
    assert "missing_candles: 3 candles" in err.message
    for rule in expected:
        assert rule in err.hint  # type: ignore[operator]
    assert "tz_localize" in err.hint  # type: ignore[operator]
    by_rule = {v["rule"]: v for v in err.context["violations"]}
    assert by_rule["negative_volume"]["examples"] == [frame.index[6].isoformat()]
    assert by_rule["high_below_low"]["examples"] == list(iso(frame, 7, 8))
    json.dumps(err.context)  # JSON-safe
    rep = err.report  # type: ignore[attr-defined]
    assert isinstance(rep, ValidationReport)
    assert {str(r): v.count for r, v in zip(rep.violated_rules, rep.violations, strict=True)} == (
        expected
    )


def test_report_mode_returns_the_same_report() -> None:
    frame = _broken()
    rep = validate_ohlcv(frame, strict=True, timeframe="1h", raise_on_error=False)
    assert not rep.ok
    with pytest.raises(DataContractError) as info:
        validate_ohlcv(frame, strict=True, timeframe="1h")
    assert info.value.report == rep  # type: ignore[attr-defined]
    with pytest.raises(DataContractError) as again:
        rep.raise_if_failed()
    assert again.value.context == info.value.context
    assert clean().pipe(validate_ohlcv).raise_if_failed() is None


def test_max_examples_limits_examples() -> None:
    frame = clean()
    frame["volume"] = -1.0
    v = only(report(frame, max_examples=2), Rule.NEGATIVE_VOLUME)
    assert v.count == 48
    assert v.examples == iso(frame, 0, 1)
    assert only(report(frame, max_examples=0), Rule.NEGATIVE_VOLUME).examples == ()


def test_raised_error_pickles_with_its_report() -> None:
    with pytest.raises(DataContractError) as info:
        validate_ohlcv(_broken(), strict=True, timeframe="1h")
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is DataContractError
    assert isinstance(clone, PeakTradeError)
    assert (clone.message, clone.hint, clone.context) == (
        info.value.message,
        info.value.hint,
        info.value.context,
    )
    assert clone.report == info.value.report  # type: ignore[attr-defined]
    assert str(clone) == str(info.value)


def test_report_str_and_to_dict() -> None:
    rep = report(_broken(), strict=True, timeframe="1h")
    text = str(rep)
    assert text.splitlines()[0].startswith("OHLCV contract FAILED (8 rules): 98 rows")
    assert "negative_volume: 1 row with volume < 0" in text
    assert "fix:" in text
    data = json.loads(json.dumps(rep.to_dict()))
    assert data["ok"] is False
    assert data["timeframe"] == "1h"
    assert len(data["violations"]) == 8
    assert "missing_candles" in data["checked_rules"]
    ok = str(validate_ohlcv(clean()))
    assert ok.startswith("OHLCV contract OK: 48 rows")


def test_reports_and_violations_are_frozen() -> None:
    rep = validate_ohlcv(clean())
    with pytest.raises(AttributeError):
        rep.rows = 3  # type: ignore[misc]


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("bad", [None, [1, 2], {"open": [1.0]}, np.zeros((3, 5)), "df"])
def test_non_dataframe_is_an_invalid_argument(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="DataFrame") as info:
        validate_ohlcv(bad)
    assert info.value.hint
    assert "type" in info.value.context


def test_a_series_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="got Series"):
        validate_ohlcv(clean()["close"])


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_max_examples(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="max_examples"):
        validate_ohlcv(clean(), max_examples=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- time column


def test_time_column_in_pandas() -> None:
    frame = clean().reset_index()
    assert report(frame, time_column="time", strict=True).ok
    frame.loc[3, "time"] = frame.loc[2, "time"]
    v = only(report(frame, time_column="time"), Rule.DUPLICATE_TIMESTAMPS)
    assert v.examples == (frame.loc[2, "time"].isoformat(),)


def test_time_column_missing_or_not_datetime() -> None:
    frame = clean().reset_index()
    v = only(report(frame, time_column="ts"), Rule.TIME_INDEX)
    assert "'ts' not found" in v.message
    frame["time"] = frame["time"].astype(str)
    v = only(report(frame, time_column="time"), Rule.TIME_INDEX)
    assert "not datetimes" in v.message


def test_non_nanosecond_units_and_other_zones() -> None:
    frame = clean()
    frame.index = frame.index.as_unit("ms").tz_convert("Europe/Berlin")
    assert report(frame, strict=True, timeframe="1h").ok
    frame.iloc[0, frame.columns.get_loc("volume")] = -1
    v = only(report(frame), Rule.NEGATIVE_VOLUME)
    assert v.examples == ("2024-03-01T01:00:00+01:00",)


# --------------------------------------------------------------------------- polars


def to_polars(frame: pd.DataFrame) -> pl.DataFrame:
    return pl.from_pandas(frame.reset_index())


def test_polars_clean_frame_passes_strict() -> None:
    rep = validate_ohlcv(to_polars(clean()), strict=True)
    assert rep.ok
    assert rep.timeframe == "1h"


def test_polars_reports_the_same_violations_as_pandas() -> None:
    frame = _broken()
    frame.index = frame.index.tz_localize("UTC")
    pandas_rep = report(frame, strict=True, timeframe="1h")
    polars_rep = report(to_polars(frame), strict=True, timeframe="1h")
    assert polars_rep.violations == pandas_rep.violations
    assert polars_rep.rows == pandas_rep.rows


def test_polars_nulls_non_numeric_and_naive_time() -> None:
    frame = to_polars(clean(tz=None))
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(None).otherwise(pl.col("open")).alias("open"),
        pl.col("volume").cast(pl.String),
    )
    rep = report(frame)
    assert rep.violated_rules == (Rule.NON_NUMERIC_DTYPE, Rule.TIMEZONE, Rule.NAN_VALUES)
    nan = rep.violation(Rule.NAN_VALUES)
    assert nan is not None
    assert nan.count == 1
    assert nan.examples == (clean(tz=None).index[4].isoformat(),)


def test_polars_time_column_selection() -> None:
    frame = to_polars(clean()).with_columns(pl.col("time").alias("other"))
    v = only(report(frame), Rule.TIME_INDEX)
    assert "several Datetime columns" in v.message
    assert report(frame, time_column="other").ok
    no_time = to_polars(clean()).drop("time")
    assert "no Datetime column" in only(report(no_time), Rule.TIME_INDEX).message
    null_time = to_polars(clean()).with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("time")).alias("time")
    )
    v = only(report(null_time), Rule.NAT_TIMESTAMPS)
    assert v.examples == ("row 2",)


def test_polars_is_not_imported_for_pandas_input() -> None:
    import subprocess

    code = (
        "import sys, pandas as pd, numpy as np\n"
        "from peak_trade.data import validate_ohlcv\n"
        "idx = pd.date_range('2024', periods=3, freq='h', tz='UTC')\n"
        "df = pd.DataFrame({c: np.ones(3) for c in ('open','high','low','close','volume')}, "
        "index=idx)\n"
        "assert validate_ohlcv(df, strict=True).ok\n"
        "try:\n    validate_ohlcv(object())\nexcept ValueError:\n    pass\n"
        "print('polars' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- scale


@pytest.mark.slow
def test_a_million_rows_with_scattered_violations() -> None:
    n = 1_000_000
    frame = clean(n=n, freq="1min")
    rng = np.random.default_rng(3)
    bad_volume = rng.choice(n, size=1234, replace=False)
    frame.iloc[bad_volume, frame.columns.get_loc("volume")] = -1.0
    rep = report(frame, strict=True, timeframe="1m")
    v = only(rep, Rule.NEGATIVE_VOLUME)
    assert v.count == 1234
    assert v.examples == iso(frame, *sorted(bad_volume)[:5])


def test_huge_finite_values_are_not_mistaken_for_infinities() -> None:
    frame = clean()
    frame["volume"] = 1e308  # the column sum overflows; the values are finite
    assert report(frame).ok
