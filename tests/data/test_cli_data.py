"""`peaktrade data validate` and `peaktrade data verify`, run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peak_trade.data import OhlcvCache, atomic_write

from .test_cache import candles


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PEAK_TRADE_")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "peaktrade"), *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.parquet"
    atomic_write(candles("2026-03-01", 50), path)
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    df = candles("2026-03-01", 50)
    df.iloc[5, df.columns.get_loc("volume")] = -1.0
    df = df.drop(df.index[10])
    path = tmp_path / "bad.csv"
    atomic_write(df, path, checksum=False)
    return path


def test_validate_good_and_bad_files(tmp_path: Path, good: Path, bad: Path) -> None:
    out = run(["data", "validate", str(good)], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "1 of 1 file(s) valid" in out.stdout
    out = run(["data", "validate", "--strict", str(good), str(bad)], tmp_path)
    assert out.returncode == 1
    assert "FAIL" in out.stdout
    assert "negative_volume" in out.stdout
    out = run(["data", "validate", "--strict", "--json", str(good), str(bad)], tmp_path)
    report = json.loads(out.stdout)
    assert report["ok"] is False
    by_file = {Path(f["file"]).name: f for f in report["files"]}
    assert by_file["good.parquet"]["checksum"] == "verified"
    rules = {v["rule"]: v["count"] for v in by_file["bad.csv"]["report"]["violations"]}
    assert rules == {"negative_volume": 1, "missing_candles": 1}


def test_validate_reports_a_checksum_mismatch(tmp_path: Path, good: Path) -> None:
    data = bytearray(good.read_bytes())
    data[100] ^= 0xFF
    good.write_bytes(bytes(data))
    out = run(["data", "validate", "--json", str(good)], tmp_path)
    assert out.returncode == 1
    assert json.loads(out.stdout)["files"][0]["error"] == "CacheCorruptionError"


def test_verify_a_cache(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    cache = OhlcvCache(root)
    cache.append("binance", "BTC/USDT", "1m", candles("2026-01-31 23:00", 120))
    out = run(["data", "verify", str(root)], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Cache manifest OK" in out.stdout
    victim = next(root.rglob("2026-02.parquet"))
    data = bytearray(victim.read_bytes())
    data[50] ^= 0xFF
    victim.write_bytes(bytes(data))
    (root / "stray.parquet").write_bytes(b"x")
    out = run(["data", "verify", "--json", str(root)], tmp_path)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert [c["path"] for c in report["manifest"]["changed"]] == [
        "binance/BTC%2FUSDT/1m/2026-02.parquet"
    ]
    assert report["manifest"]["untracked"] == ["stray.parquet"]
    problems = {p["path"]: p["problem"] for p in report["sidecars"]}
    assert problems == {
        "binance/BTC%2FUSDT/1m/2026-02.parquet": "mismatch",
        "stray.parquet": "no-sidecar",
    }


def test_verify_uses_the_configured_cache_dir(tmp_path: Path) -> None:
    out = run(["data", "verify"], tmp_path, PEAK_TRADE_DATA__CACHE_DIR=str(tmp_path / "nope"))
    assert out.returncode == 2
    assert "does not exist" in out.stderr
