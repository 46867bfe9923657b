"""Reproducible runs: a ReproContext, atomic writes, a manifest, and catching corruption.

Run: python examples/data/02_manifest_and_repro.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from peak_trade.data import CacheManifest, atomic_read, atomic_write
from peak_trade.errors import CacheCorruptionError
from peak_trade.repro import ReproContext, set_global_seed, stable_hash_dict, verify_determinism

config = {"strategy": "momentum", "lookback": 20, "symbols": ["BTC/USDT", "ETH/USDT"]}
ctx = ReproContext.create(seed=42, config_dict=config)
set_global_seed(ctx.seed)
same = ctx.config_hash == stable_hash_dict(dict(reversed(config.items())))
print(f"config hash is key-order independent: {same}")


def backtest() -> pd.Series:
    returns = pd.Series(np.random.standard_normal(1_000) * 0.01)
    return (1 + returns).cumprod()


print(f"backtest deterministic under seed 42: {verify_determinism(backtest, seed=42, runs=3)}")

with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp)
    set_global_seed(ctx.seed)
    equity = backtest().to_frame("equity")
    written = atomic_write(equity, root / "equity.parquet", checksum=True)
    manifest = CacheManifest(root)
    manifest.record(
        written.path,
        run_id=ctx.run_id,
        sha256=written.sha256,
        git_sha=ctx.git_sha,
        config_hash=ctx.config_hash,
    )
    print(f"manifest ok: {manifest.verify().ok}, rows recorded: {manifest.entries()[0].rows}")

    data = bytearray(written.path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit on disk
    written.path.write_bytes(bytes(data))
    try:
        atomic_read(written.path, verify_checksum=True)
    except CacheCorruptionError as err:
        expected, actual = err.context["expected"][:12], err.context["actual"][:12]
        print(f"corruption caught: expected {expected}..., got {actual}...")
    print(f"manifest now reports changed: {[c.path for c in manifest.verify().changed]}")
