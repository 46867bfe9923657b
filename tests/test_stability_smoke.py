"""Seed 000 B3: the deterministic end-to-end smoke test of the data path.

context -> validate -> atomic cache write -> manifest -> verify, then a
corruption that must be caught. Everything is seeded, so two runs produce the
same bytes; the whole ``smoke`` marker stays well under five seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peak_trade.data import (
    CacheManifest,
    OhlcvCache,
    atomic_read,
    atomic_write,
    validate_ohlcv,
)
from peak_trade.errors import CacheCorruptionError, DataContractError
from peak_trade.repro import ReproContext, set_global_seed, stable_hash_dict, verify_determinism

pytestmark = pytest.mark.smoke

CONFIG = {"strategy": "momentum", "symbols": ["BTC/USDT"], "timeframe": "1h"}


def synthetic_ohlcv(rows: int = 500) -> pd.DataFrame:
    """Seeded candles (numpy's global generator, as set_global_seed leaves it)."""
    close = 100 + np.random.standard_normal(rows).cumsum()
    open_ = np.roll(close, 1)
    open_[0] = close[0]
    spread = np.abs(np.random.standard_normal(rows))
    index = pd.date_range("2026-01-01", periods=rows, freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": np.abs(np.random.standard_normal(rows)) * 1_000,
        },
        index=index,
    )


def run_pipeline(root: Path) -> tuple[ReproContext, str]:
    ctx = ReproContext.create(seed=42, config_dict=CONFIG, run_id="smoke-run", git_sha="0" * 7)
    set_global_seed(ctx.seed)
    df = synthetic_ohlcv()
    report = validate_ohlcv(df, strict=True, require_tz=True, timeframe="1h")
    assert report.ok, str(report)
    result = atomic_write(df, root / "btc_1h.parquet", checksum=True)
    manifest = CacheManifest(root)
    manifest.record(
        result.path,
        run_id=ctx.run_id,
        sha256=result.sha256,
        rows=result.rows,
        git_sha=ctx.git_sha,
        config_hash=ctx.config_hash,
    )
    assert result.sha256 is not None
    return ctx, result.sha256


def test_full_round_trip_is_deterministic(tmp_path: Path) -> None:
    ctx_a, digest_a = run_pipeline(tmp_path / "a")
    ctx_b, digest_b = run_pipeline(tmp_path / "b")
    assert digest_a == digest_b  # same seed, same config: the same bytes
    assert (
        ctx_a.config_hash == ctx_b.config_hash == stable_hash_dict(dict(reversed(CONFIG.items())))
    )
    report = CacheManifest(tmp_path / "a").verify()
    assert report.ok, str(report)
    entry = CacheManifest(tmp_path / "a").entry("btc_1h.parquet")
    assert entry is not None
    assert (entry.rows, entry.run_id, entry.config_hash) == (500, "smoke-run", ctx_a.config_hash)
    back = atomic_read(tmp_path / "a" / "btc_1h.parquet", verify_checksum=True)
    set_global_seed(42)
    pd.testing.assert_frame_equal(back, synthetic_ohlcv(), check_freq=False)


def test_corruption_is_detected(tmp_path: Path) -> None:
    run_pipeline(tmp_path)
    path = tmp_path / "btc_1h.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01  # one flipped bit
    path.write_bytes(bytes(data))
    with pytest.raises(CacheCorruptionError) as err:
        atomic_read(path, verify_checksum=True)
    assert err.value.context["expected"] != err.value.context["actual"]
    report = CacheManifest(tmp_path).verify()
    assert [c.path for c in report.changed] == ["btc_1h.parquet"]


def test_bad_data_never_reaches_the_cache(tmp_path: Path) -> None:
    set_global_seed(7)
    df = synthetic_ohlcv(50)
    df.iloc[10, df.columns.get_loc("low")] = df["high"].iloc[10] + 1  # low above high
    cache = OhlcvCache(tmp_path)
    with pytest.raises(DataContractError):
        cache.append("binance", "BTC/USDT", "1h", df)
    assert list(tmp_path.rglob("*.parquet")) == []


def test_pipeline_output_is_deterministic() -> None:
    assert verify_determinism(lambda: synthetic_ohlcv(100), seed=42, runs=3)
