"""`peaktrade data validate` and `peaktrade data verify`, run as real processes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from peak_trade.data import OhlcvCache, atomic_write
from peak_trade.data._fs import sha256_file, sidecar_path, sidecar_text, temp_path_for
from peaktrade_cli import run_peaktrade

from .test_cache import candles


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_peaktrade(args, cwd, **env)


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
    assert "[data] cache_dir" in out.stderr  # where the directory came from


# Library advice that means nothing on a command line.
LIBRARY_WORDS = ("atomic_write", "strict=False", "record_many", "verify()", "repair=True")


def _no_library_advice(text: str) -> None:
    for word in LIBRARY_WORDS:
        assert word not in text, f"library advice {word!r} in CLI output: {text}"


@pytest.mark.parametrize("what", ["empty", "other files"])
def test_verify_of_a_directory_that_is_not_a_cache_fails(tmp_path: Path, what: str) -> None:
    root = tmp_path / "etc"
    root.mkdir()
    if what == "other files":
        (root / "hosts").write_text("127.0.0.1 localhost\n")
        (root / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    out = run(["data", "verify", str(root)], tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "OK" not in out.stdout
    assert "no manifest" in out.stderr
    assert str(root / "manifest.json") in out.stderr
    assert "manifest.json" in out.stderr.split("Hint:", 1)[1]  # what a cache directory holds
    _no_library_advice(out.stderr)
    out = run(["data", "verify", "--json", str(root)], tmp_path)
    assert out.returncode == 2
    doc = json.loads(out.stdout)
    assert doc["ok"] is False
    assert doc["error"]["type"] == "CacheFileNotFoundError"
    assert doc["error"]["context"]["reason"] == "no_manifest"
    assert not (root / "manifest.json").exists()


def test_verify_json_is_a_json_document_on_every_error(tmp_path: Path) -> None:
    missing = run(["data", "verify", "--json", str(tmp_path / "nope")], tmp_path)
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["error"]["context"]["reason"] == "not_found"
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[data]\nvalidate_strict = 'maybe'\n")
    config = run(["data", "verify", "--json", "--config", str(bad_config)], tmp_path)
    assert config.returncode == 2
    assert json.loads(config.stdout)["error"]["type"] == "ConfigError"
    root = tmp_path / "cache"
    OhlcvCache(root).append("binance", "BTC/USDT", "1m", candles("2026-03-01", 10))
    (root / "manifest.json").write_text("{not json")
    corrupt = run(["data", "verify", "--json", str(root)], tmp_path)
    assert corrupt.returncode == 1  # a problem found, not a usage error
    error = json.loads(corrupt.stdout)["error"]
    assert error["type"] == "CacheCorruptionError"
    assert "peaktrade data validate" in error["hint"]
    _no_library_advice(json.dumps(error))
    text = run(["data", "verify", str(root)], tmp_path)
    assert text.returncode == 1
    _no_library_advice(text.stderr)


def test_verify_reports_leftovers_and_repairs_them(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    OhlcvCache(root).append("binance", "BTC/USDT", "1m", candles("2026-03-01", 60))
    path = next(root.rglob("2026-03.parquet"))
    unfinished = "0" * 64  # the digest of a replacement that was killed
    sidecar_path(path).write_bytes(sidecar_text([unfinished, sha256_file(path)], path))
    stale = temp_path_for(path)
    stale.write_bytes(b"left by a writer that died")
    out = run(["data", "verify", str(root)], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr  # intact: leftovers are not damage
    assert "mismatch" not in out.stdout
    assert "safe to remove" in out.stdout
    assert "peaktrade data verify --repair" in out.stdout
    _no_library_advice(out.stdout)
    out = run(["data", "verify", "--repair", "--json", str(root)], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert sorted(r["action"] for r in doc["repaired"]) == [
        "finished the sidecar update",
        "removed a dead writer's temp file",
    ]
    assert (doc["transitions"], doc["temp_files"]) == ([], [])
    assert not stale.exists()


def test_verify_help_names_the_config_key() -> None:
    out = run(["data", "verify", "--help"], Path.cwd(), COLUMNS="200", NO_COLOR="1")
    assert out.returncode == 0
    assert "[data] cache_dir" in out.stdout
    assert "--repair" in out.stdout
