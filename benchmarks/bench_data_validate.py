"""OHLCV validation on 5,000,000 rows: ``validate_ohlcv`` vs an equivalent pandera schema.

Both collect every failure (pandera with ``lazy=True``) and check the same rules:
required columns and dtypes, no NaN, no infinities, prices > 0, volume >= 0,
``high >= max(open, close)``, ``low <= min(open, close)``, ``high >= low``,
unique and ascending timestamps, tz-aware UTC index. Rows with a NaN or infinite
value are skipped by the price relations in both (that is our contract). Gap
checks are left out: pandera has no equivalent.

The corrupted copy carries a known number of each violation at rows far apart;
the pandera failure cases are mapped back to our rule names and both reports
must agree. A disagreement is printed in the suite's note instead of crashing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._harness import Suite, per_call

N = 5_000_000
PRICES = ("open", "high", "low", "close")
COLUMNS = (*PRICES, "volume")
# How many rows of each kind the corrupted copy gets (high_below_low rows also
# break high >= max(open, close), so that rule expects the sum of both).
INJECT = {
    "duplicate_timestamps": 7,
    "unsorted_timestamps": 3,
    "nan_values": 11,
    "infinite_values": 5,
    "non_positive_price": 13,
    "high_below_open_close": 17,
    "low_above_open_close": 19,
    "high_below_low": 23,
    "negative_volume": 29,
}
EXPECTED = {**INJECT, "high_below_open_close": INJECT["high_below_open_close"] + 23}


def _clean(n: int) -> Any:
    """A valid n-row 1-minute frame with a tz-aware UTC index."""
    import pandas as pd

    rng = np.random.default_rng(42)
    o = 100.0 + rng.random(n)
    c = 100.0 + rng.random(n)
    return pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, c) + rng.random(n),
            "low": np.minimum(o, c) - rng.random(n),
            "close": c,
            "volume": rng.random(n) * 50.0,
        },
        # nanoseconds on pandas 2 and 3 alike (pandas 3 defaults to microseconds): the
        # pandera schema names the dtype, and _corrupt edits the index as ns integers
        index=pd.date_range("2015-01-01", periods=n, freq="1min", tz="UTC", name="time").as_unit(
            "ns"
        ),
    )


def _corrupt(clean: Any) -> Any:
    """A copy with ``INJECT`` violations at rows ten apart (so no two faults interact)."""
    import pandas as pd

    frame = clean.copy()
    rng = np.random.default_rng(7)
    total = sum(INJECT.values())
    slots = np.sort(rng.choice(len(frame) // 10 - 2, size=total, replace=False)) * 10 + 10
    rng.shuffle(slots)
    picks: dict[str, np.ndarray] = {}
    at = 0
    for rule, count in INJECT.items():
        picks[rule] = np.sort(slots[at : at + count])
        at += count

    col = frame.columns.get_loc
    o, c = frame["open"].to_numpy(), frame["close"].to_numpy()
    high, low = frame["high"].to_numpy(), frame["low"].to_numpy()
    rows = picks["nan_values"]
    frame.iloc[rows, col("close")] = np.nan
    rows = picks["infinite_values"]
    frame.iloc[rows, col("volume")] = np.inf
    rows = picks["non_positive_price"]
    for name in PRICES:
        frame.iloc[rows, col(name)] = -1.0
    rows = picks["high_below_open_close"]
    frame.iloc[rows, col("high")] = (np.maximum(o, c)[rows] + low[rows]) / 2
    rows = picks["low_above_open_close"]
    frame.iloc[rows, col("low")] = (np.minimum(o, c)[rows] + high[rows]) / 2
    rows = picks["high_below_low"]
    frame.iloc[rows, col("high")] = low[rows] / 2
    rows = picks["negative_volume"]
    frame.iloc[rows, col("volume")] = -1.0

    ns = frame.index.asi8.copy()
    rows = picks["duplicate_timestamps"]
    ns[rows] = ns[rows - 1]
    rows = picks["unsorted_timestamps"]
    ns[rows], ns[rows + 1] = ns[rows + 1], ns[rows].copy()
    frame.index = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True), name="time")
    return frame


def _pandera_schema() -> Any:
    """The pandera twin of our contract (non-strict mode)."""
    import pandas as pd
    import pandera.pandas as pa

    def nonfinite(frame: Any) -> Any:
        values = frame[list(PRICES)].to_numpy()
        return pd.Series(~np.isfinite(values).all(axis=1), index=frame.index)

    def relation(test: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda frame: nonfinite(frame) | test(frame)

    def ascending(index: Any) -> Any:
        return index.diff().fillna(pd.Timedelta(0)) >= pd.Timedelta(0)

    def finite(frame: Any) -> Any:
        return ~np.isinf(frame[list(COLUMNS)]).any(axis=1)

    price = [pa.Check.gt(0)]
    return pa.DataFrameSchema(
        {
            **{name: pa.Column(np.float64, checks=price, nullable=False) for name in PRICES},
            "volume": pa.Column(np.float64, checks=[pa.Check.ge(0)], nullable=False),
        },
        index=pa.Index(
            pd.DatetimeTZDtype("ns", "UTC"),
            unique=True,
            report_duplicates="exclude_first",
            checks=[pa.Check(ascending, name="unsorted_timestamps")],
        ),
        checks=[
            pa.Check(
                relation(lambda f: (f["high"] >= f["open"]) & (f["high"] >= f["close"])),
                name="high_below_open_close",
            ),
            pa.Check(
                relation(lambda f: (f["low"] <= f["open"]) & (f["low"] <= f["close"])),
                name="low_above_open_close",
            ),
            pa.Check(relation(lambda f: f["high"] >= f["low"]), name="high_below_low"),
            pa.Check(finite, name="infinite_values"),
        ],
    )


_PANDERA_RULES = {
    "not_nullable": "nan_values",
    "field_uniqueness": "duplicate_timestamps",
    "greater_than(0)": "non_positive_price",
    "greater_than_or_equal_to(0)": "negative_volume",
}


def _pandera_counts(schema: Any, frame: Any) -> dict[str, int]:
    """Validate lazily and map pandera's failure cases to our rules (rows per rule)."""
    import pandera.pandas as pa

    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return {}
    counts: dict[str, int] = {}
    for check, group in cases.groupby("check"):
        rule = _PANDERA_RULES.get(str(check), str(check))
        if group["schema_context"].iloc[0] == "Index":
            counts[rule] = counts.get(rule, 0) + len(group)
        else:  # one row per failing cell: count the distinct rows
            counts[rule] = counts.get(rule, 0) + int(group["index"].nunique())
    return counts


def run() -> list[Suite]:
    import pandera.pandas  # noqa: F401  (the bench extra; fail early and clearly)

    from peak_trade.data import validate_ohlcv

    clean = _clean(N)
    corrupt = _corrupt(clean)
    schema = _pandera_schema()

    suites = []
    for label, frame in (("clean", clean), ("corrupted", corrupt)):
        ours = validate_ohlcv(frame, raise_on_error=False)
        our_counts = {str(v.rule): v.count for v in ours.violations}
        their_counts = _pandera_counts(schema, frame)
        suite = Suite(
            f"OHLCV validation, {N:,} rows, {label} frame (all failures collected)",
            baseline="peak_trade validate_ohlcv",
        )
        note = f"{len(ours.violations)} rules failed"
        if label == "corrupted" and our_counts != EXPECTED:
            note += f"; DIFFERS from injected: {our_counts} != {EXPECTED}"
        if our_counts != their_counts:
            note += f"; DIFFERS from pandera: {their_counts}"
        elif label == "corrupted":
            note += ", same rules and counts as pandera"
        t_ours = per_call(
            lambda f=frame: validate_ohlcv(f, raise_on_error=False), number=1, repeat=3
        )
        suite.add("peak_trade validate_ohlcv", t_ours, note)
        t_pa = per_call(lambda f=frame: _pandera_counts(schema, f), number=1, repeat=3)
        suite.add(
            "pandera DataFrameSchema (lazy)",
            t_pa,
            f"{len(their_counts)} rules failed",
        )
        suites.append(suite)
    return suites
