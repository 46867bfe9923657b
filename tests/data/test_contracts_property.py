"""Property tests: random valid frames pass strict validation; one injected fault is found exactly.

Each injection is designed so the set of rules it breaks is known: e.g. pushing
``high`` below ``low`` necessarily also puts it below ``max(open, close)``, so
that injection expects both rules with the same count.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from peak_trade.data import validate_ohlcv
from peak_trade.data.contracts import Rule, parse_timeframe

TIMEFRAMES = ["1m", "5m", "15m", "1h", "4h", "1d", "1w"]
MONDAY_NS = 4 * 86_400 * 10**9  # 1970-01-05, where weekly candles start


def make_frame(n: int, timeframe: str, seed: int, start_slot: int) -> pd.DataFrame:
    """A valid frame: low strictly below min(open, close), high strictly above the max."""
    rng = np.random.default_rng(seed)
    step = parse_timeframe(timeframe)
    anchor = MONDAY_NS if timeframe.endswith("w") else 0
    first_slot = 1_500_000_000 * 10**9 // step + start_slot  # from 2017 on: no int64 overflow
    times = anchor + (first_slot + np.arange(n, dtype=np.int64)) * step
    o = rng.uniform(1.0, 1000.0, n)
    c = rng.uniform(1.0, 1000.0, n)
    high = np.maximum(o, c) * rng.uniform(1.01, 1.5, n)
    low = np.minimum(o, c) * rng.uniform(0.5, 0.99, n)
    volume = rng.uniform(0.0, 100.0, n) * (rng.random(n) > 0.1)  # some zero volume
    return pd.DataFrame(
        {"open": o, "high": high, "low": low, "close": c, "volume": volume},
        index=pd.DatetimeIndex(pd.to_datetime(times, unit="ns", utc=True), name="time"),
    )


frames = st.builds(
    make_frame,
    n=st.integers(0, 300),
    timeframe=st.sampled_from(TIMEFRAMES),
    seed=st.integers(0, 2**32 - 1),
    start_slot=st.integers(0, 5_000),
)


@given(frame=frames)
def test_random_valid_frames_pass_strict_validation(frame: pd.DataFrame) -> None:
    rep = validate_ohlcv(frame, strict=True, require_tz=True)
    assert rep.ok, str(rep)
    if len(frame) >= 2:
        step = int(frame.index.asi8[1] - frame.index.asi8[0])
        assert rep.timeframe is not None
        assert parse_timeframe(rep.timeframe) == step
        assert rep.timeframe_inferred


Inject = Callable[[pd.DataFrame, np.ndarray, np.random.Generator], tuple[pd.DataFrame, int]]


def _set(frame: pd.DataFrame, rows: np.ndarray, column: str, values: object) -> pd.DataFrame:
    frame = frame.copy()
    frame.iloc[rows, frame.columns.get_loc(column)] = values
    return frame


def nan(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> tuple:
    col = str(rng.choice(frame.columns))
    return _set(frame, rows, col, np.nan), {Rule.NAN_VALUES: len(rows)}


def inf(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> tuple:
    col = str(rng.choice(frame.columns))
    sign = rng.choice([-1.0, 1.0], size=len(rows))
    return _set(frame, rows, col, sign * np.inf), {Rule.INFINITE_VALUES: len(rows)}


def non_positive(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> tuple:
    value = -rng.uniform(0.0, 10.0, size=len(rows))  # all four equal: relations still hold
    for col in ("open", "high", "low", "close"):
        frame = _set(frame, rows, col, value)
    return frame, {Rule.NON_POSITIVE_PRICE: len(rows)}


def high_below_open_close(frame: pd.DataFrame, rows: np.ndarray, _: np.random.Generator) -> tuple:
    top = np.maximum(frame["open"].to_numpy(), frame["close"].to_numpy())[rows]
    low = frame["low"].to_numpy()[rows]
    return _set(frame, rows, "high", (top + low) / 2), {Rule.HIGH_BELOW_OPEN_CLOSE: len(rows)}


def low_above_open_close(frame: pd.DataFrame, rows: np.ndarray, _: np.random.Generator) -> tuple:
    bottom = np.minimum(frame["open"].to_numpy(), frame["close"].to_numpy())[rows]
    high = frame["high"].to_numpy()[rows]
    return _set(frame, rows, "low", (bottom + high) / 2), {Rule.LOW_ABOVE_OPEN_CLOSE: len(rows)}


def high_below_low(frame: pd.DataFrame, rows: np.ndarray, _: np.random.Generator) -> tuple:
    frame = _set(frame, rows, "high", frame["low"].to_numpy()[rows] / 2)
    return frame, {Rule.HIGH_BELOW_LOW: len(rows), Rule.HIGH_BELOW_OPEN_CLOSE: len(rows)}


def negative_volume(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> tuple:
    value = -rng.uniform(1e-9, 100.0, size=len(rows))
    return _set(frame, rows, "volume", value), {Rule.NEGATIVE_VOLUME: len(rows)}


def duplicates(frame: pd.DataFrame, rows: np.ndarray, _: np.random.Generator) -> tuple:
    counts = np.ones(len(frame), dtype=int)
    counts[rows] = 2  # repeat the chosen rows right after themselves: still sorted
    return frame.iloc[np.repeat(np.arange(len(frame)), counts)], {
        Rule.DUPLICATE_TIMESTAMPS: len(rows)
    }


def unsorted(frame: pd.DataFrame, rows: np.ndarray, _: np.random.Generator) -> tuple:
    pairs = np.unique(rows // 2) * 2  # disjoint pairs (2j, 2j+1): one descent each
    pairs = pairs[pairs + 1 < len(frame)]
    order = np.arange(len(frame))
    order[pairs], order[pairs + 1] = pairs + 1, pairs
    return frame.iloc[order], {Rule.UNSORTED_TIMESTAMPS: len(pairs)} if len(pairs) else {}


def missing(frame: pd.DataFrame, rows: np.ndarray, _: np.random.Generator) -> tuple:
    inner = rows[(rows > 0) & (rows < len(frame) - 1)]  # dropping an end is no gap
    return frame.drop(frame.index[inner]), {Rule.MISSING_CANDLES: len(inner)} if len(inner) else {}


def misaligned(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> tuple:
    step = int(frame.index.asi8[1] - frame.index.asi8[0])
    ns = frame.index.asi8.copy()
    ns[rows] += rng.integers(1, step, size=len(rows))  # stays inside its own slot
    frame = frame.copy()
    frame.index = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True))
    return frame, {Rule.MISALIGNED_TIMESTAMPS: len(rows)}


def naive(frame: pd.DataFrame, _rows: np.ndarray, _: np.random.Generator) -> tuple:
    frame = frame.copy()
    frame.index = frame.index.tz_localize(None)
    return frame, {Rule.TIMEZONE: len(frame)}


INJECTIONS = [
    nan,
    inf,
    non_positive,
    high_below_open_close,
    low_above_open_close,
    high_below_low,
    negative_volume,
    duplicates,
    unsorted,
    missing,
    misaligned,
    naive,
]


@settings(max_examples=200)
@given(
    case=st.tuples(st.integers(2, 300), st.sampled_from(TIMEFRAMES), st.integers(0, 2**32 - 1)),
    start_slot=st.integers(0, 5_000),
    inject=st.sampled_from(INJECTIONS),
    data=st.data(),
)
def test_one_injected_fault_is_reported_exactly(
    case: tuple[int, str, int],
    start_slot: int,
    inject: Callable[..., tuple[pd.DataFrame, dict[Rule, int]]],
    data: st.DataObject,
) -> None:
    n, timeframe, seed = case
    frame = make_frame(n, timeframe, seed, start_slot)
    rows = np.array(
        sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n), label="rows"))
    )
    broken, expected = inject(frame, rows, np.random.default_rng(seed))
    rep = validate_ohlcv(broken, strict=True, timeframe=timeframe, raise_on_error=False)
    assert {v.rule: v.count for v in rep.violations} == expected, str(rep)
    for v in rep.violations:
        assert 0 < len(v.examples) <= 5
    # polars goes through the same core and must agree exactly
    as_polars = pl.from_pandas(broken.reset_index())
    rep_pl = validate_ohlcv(as_polars, strict=True, timeframe=timeframe, raise_on_error=False)
    facts = [(v.rule, v.count, v.examples, v.per_column) for v in rep.violations]
    assert [(v.rule, v.count, v.examples, v.per_column) for v in rep_pl.violations] == facts


@settings(max_examples=100)
@given(
    months=st.sampled_from([1, 3, 6, 12]),
    first=st.integers(0, 1200),  # months after 1970-01; the last candle stays before 2262
    n=st.integers(2, 120),
    drop=st.sets(st.integers(0, 119), max_size=40),
    shift_days=st.sets(st.integers(0, 119), max_size=5),
)
def test_calendar_timeframes_count_gaps_in_months(
    months: int, first: int, n: int, drop: set[int], shift_days: set[int]
) -> None:
    """Candles every ``months`` months from about ``first`` months after 1970: dropped ones
    are the missing candles, ones moved into their month (days 2-28) the misaligned ones."""
    timeframe = f"{months // 12}y" if months % 12 == 0 else f"{months}M"
    slots = (first // months + np.arange(n)) * months
    starts = slots.astype("datetime64[M]").astype("datetime64[ns]")
    frame = make_frame(n, "1d", 0, 0)
    frame.index = pd.DatetimeIndex(starts, name="time").tz_localize("UTC")
    rep = validate_ohlcv(frame, strict=True, timeframe=timeframe, raise_on_error=False)
    assert rep.ok, str(rep)
    assert validate_ohlcv(frame, strict=True, raise_on_error=False).timeframe == timeframe
    inner = {i for i in drop if 0 < i < n - 1}
    moved = {i for i in shift_days if i < n and i not in drop}
    ns = frame.index.asi8.copy()
    for i in moved:
        ns[i] += (1 + i % 27) * 86_400 * 10**9
    broken = frame.set_axis(pd.to_datetime(ns, utc=True).rename("time"))
    broken = broken.drop(broken.index[sorted(inner)])
    expected = {}
    if moved:
        expected[Rule.MISALIGNED_TIMESTAMPS] = len(moved)
    if inner:
        expected[Rule.MISSING_CANDLES] = len(inner)
    rep = validate_ohlcv(broken, strict=True, timeframe=timeframe, raise_on_error=False)
    assert {v.rule: v.count for v in rep.violations} == expected, str(rep)
