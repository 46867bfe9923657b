"""Validate candles, store them in the checksummed cache, read a range back.

Run: python examples/data/01_validate_and_cache.py
"""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd

from peak_trade.data import OhlcvCache, validate_ohlcv
from peak_trade.errors import DataContractError


def candles(start: str, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    close = 42_000 + rng.standard_normal(rows).cumsum() * 10
    open_ = np.concatenate([[close[0]], close[:-1]])
    index = pd.date_range(start, periods=rows, freq="1min", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + 5,
            "low": np.minimum(open_, close) - 5,
            "close": close,
            "volume": rng.random(rows) * 3,
        },
        index=index,
    )


# 1. A frame with three kinds of damage: every rule is reported, not only the first.
bad = candles("2026-03-01", 60)
bad.iloc[5, bad.columns.get_loc("volume")] = -1.0
bad.iloc[9, bad.columns.get_loc("high")] = 1.0
bad = pd.concat([bad, bad.iloc[[20]]]).sort_index()
try:
    validate_ohlcv(bad, strict=True, timeframe="1m")
except DataContractError as err:
    rules = sorted(v["rule"] for v in err.context["violations"])
    print(f"rejected: {len(rules)} rules broken: {', '.join(rules)}")

# 2. Report mode: the same findings without an exception.
report = validate_ohlcv(bad, raise_on_error=False)
print(f"report ok={report.ok}, rows={report.rows}")

# 3. Good candles go into the cache: validated, partitioned, checksummed, in the manifest.
with tempfile.TemporaryDirectory() as root:
    cache = OhlcvCache(root)
    first = cache.append("binance", "BTC/USDT", "1m", candles("2026-03-31 23:00", 120))
    print(f"appended {first.rows_added} candles into {len(first.files)} monthly files")
    again = cache.append("binance", "BTC/USDT", "1m", candles("2026-03-31 23:30", 60))
    print(f"re-append: {again.rows_added} new, {again.rows_updated} revised")
    hour = cache.read("binance", "BTC/USDT", "1m", "2026-04-01 00:00", "2026-04-01 01:00")
    print(f"read back {len(hour)} candles for 2026-04-01 00:00-01:00")
    print(f"cache verified: {cache.verify().ok}")
