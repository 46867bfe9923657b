"""OhlcvCache: partitioned, validated, checksummed candles with a manifest."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from peak_trade.data import OhlcvCache, atomic_read, atomic_write
from peak_trade.data._fs import open_atomic, sha256_file, sidecar_path, sidecar_text, temp_path_for
from peak_trade.errors import (
    CacheCorruptionError,
    CacheFileNotFoundError,
    DataContractError,
    InvalidArgumentError,
)
from peak_trade.repro import ReproContext

from .test_atomic import DirFsyncs


def candles(start: str, periods: int, freq: str = "1min", seed: int = 0) -> pd.DataFrame:
    """Valid candles: positive prices, high/low enclosing open/close."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=periods, freq=freq, tz="UTC", name="timestamp")
    close = 100 + rng.standard_normal(periods).cumsum()
    open_ = close + rng.standard_normal(periods) * 0.1
    high = np.maximum(open_, close) + rng.random(periods)
    low = np.minimum(open_, close) - rng.random(periods)
    volume = rng.random(periods) * 10
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def in_ns(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_axis(pd.DatetimeIndex(df.index).as_unit("ns"))


@pytest.fixture
def cache(tmp_path: Path) -> OhlcvCache:
    ctx = ReproContext.create(seed=1, config_dict={"a": 1}, run_id="run-1", git_sha="abc123")
    return OhlcvCache(tmp_path / "cache", repro=ctx)


def test_round_trip_across_monthly_partitions(cache: OhlcvCache) -> None:
    df = candles("2026-01-31 23:00", 120)  # one hour in January, one in February
    result = cache.append("binance", "BTC/USDT", "1m", df)
    assert result.rows_added == 120
    assert result.files == (
        "binance/BTC%2FUSDT/1m/2026-01.parquet",
        "binance/BTC%2FUSDT/1m/2026-02.parquet",
    )
    back = cache.read("binance", "BTC/USDT", "1m")
    # the cache stores and returns one canonical index type, whatever unit came in
    # (pandas 3 builds microsecond indexes by default, pandas 2 nanosecond ones)
    assert str(back.index.dtype) == "datetime64[ns, UTC]"
    pd.testing.assert_frame_equal(back, in_ns(df), check_freq=False)
    assert cache.series() == [("binance", "BTC/USDT", "1m")]
    assert cache.last_timestamp("binance", "BTC/USDT", "1m") == df.index[-1]


def test_hourly_candles_go_into_yearly_files(cache: OhlcvCache) -> None:
    result = cache.append("binance", "ETH/USDT", "1h", candles("2025-12-31", 48, "1h"))
    assert [f.rsplit("/", 1)[1] for f in result.files] == ["2025.parquet", "2026.parquet"]


def test_overlap_is_merged_sorted_and_the_newer_candle_wins(cache: OhlcvCache) -> None:
    first = candles("2026-03-01", 60)
    cache.append("binance", "BTC/USDT", "1m", first)
    revised = candles("2026-03-01 00:30", 60, seed=7)  # 30 known minutes (revised), 30 new
    result = cache.append("binance", "BTC/USDT", "1m", revised)
    assert (result.rows_added, result.rows_updated) == (30, 30)
    back = cache.read("binance", "BTC/USDT", "1m")
    assert len(back) == 90
    assert back.index.is_monotonic_increasing
    assert back.index.is_unique
    pd.testing.assert_frame_equal(back.iloc[30:], in_ns(revised), check_freq=False)
    again = cache.append("binance", "BTC/USDT", "1m", revised)
    assert (again.rows_added, again.rows_updated, again.files) == (0, 0, ())


def test_read_range_is_half_open(cache: OhlcvCache) -> None:
    cache.append("binance", "BTC/USDT", "1m", candles("2026-03-01", 60))
    part = cache.read("binance", "BTC/USDT", "1m", "2026-03-01 00:10", "2026-03-01 00:20")
    assert len(part) == 10
    assert part.index[0] == pd.Timestamp("2026-03-01 00:10", tz="UTC")
    assert part.index[-1] == pd.Timestamp("2026-03-01 00:19", tz="UTC")
    assert cache.read("binance", "BTC/USDT", "1m", "2027-01-01").empty
    assert cache.read("kraken", "BTC/USD", "1m").empty


def test_bad_candles_are_refused_and_nothing_is_written(cache: OhlcvCache) -> None:
    df = candles("2026-03-01", 10)
    df.iloc[3, df.columns.get_loc("high")] = 0.5  # below low, open, close
    with pytest.raises(DataContractError) as err:
        cache.append("binance", "BTC/USDT", "1m", df)
    rules = {v["rule"] for v in err.value.context["violations"]}
    assert "high_below_low" in rules
    assert not cache.root.exists() or not any(cache.root.rglob("*.parquet"))


def test_gaps_are_stored_as_gaps_and_counted(cache: OhlcvCache) -> None:
    df = candles("2026-03-01", 10).drop(pd.Timestamp("2026-03-01 00:04", tz="UTC"))
    result = cache.append("binance", "BTC/USDT", "1m", df)
    assert (result.rows_added, result.missing_candles) == (9, 1)


def test_misaligned_timestamps_are_refused(cache: OhlcvCache) -> None:
    df = candles("2026-03-01 00:00:30", 5)
    with pytest.raises(DataContractError, match="misaligned"):
        cache.append("binance", "BTC/USDT", "1m", df)


def test_strict_is_the_default_gaps_are_allowed_in_both_modes(tmp_path: Path) -> None:
    gappy = candles("2026-03-01", 10).drop(pd.Timestamp("2026-03-01 00:04", tz="UTC"))
    for strict in (True, False):
        cache = OhlcvCache(tmp_path / str(strict), strict=strict)
        assert cache.strict is strict
        result = cache.append("binance", "BTC/USDT", "1m", gappy)
        assert (result.rows_added, result.missing_candles, result.misaligned_candles) == (9, 1, 0)
    assert OhlcvCache(tmp_path / "default").strict is True


def test_a_lenient_cache_stores_candles_off_the_grid_and_counts_them(tmp_path: Path) -> None:
    off_grid = candles("2026-03-01 00:00:30", 5)  # 1m candles opening at :30 seconds
    with pytest.raises(DataContractError, match="misaligned"):
        OhlcvCache(tmp_path / "strict", strict=True).append("binance", "BTC/USDT", "1m", off_grid)
    lenient = OhlcvCache(tmp_path / "lenient", strict=False)
    result = lenient.append("binance", "BTC/USDT", "1m", off_grid)
    assert (result.rows_added, result.misaligned_candles) == (5, 5)
    back = lenient.read("binance", "BTC/USDT", "1m")
    pd.testing.assert_frame_equal(back, in_ns(off_grid), check_freq=False)
    # strictness applies to what is appended, not to what an earlier append stored
    strict = OhlcvCache(tmp_path / "lenient", strict=True)
    assert (
        strict.append("binance", "BTC/USDT", "1m", candles("2026-03-01 01:00", 5)).rows_added == 5
    )
    assert len(strict.read("binance", "BTC/USDT", "1m")) == 10
    broken = candles("2026-03-01", 5)
    broken.iloc[2, broken.columns.get_loc("low")] = 1e9  # above high: wrong in any mode
    with pytest.raises(DataContractError, match=r"high_below_low|low_above"):
        lenient.append("binance", "BTC/USDT", "1m", broken)


def test_strict_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="strict"):
        OhlcvCache(tmp_path, strict="yes")  # type: ignore[arg-type]


def test_bad_names_are_refused(cache: OhlcvCache) -> None:
    df = candles("2026-03-01", 5)
    with pytest.raises(InvalidArgumentError):
        cache.append("../etc", "BTC/USDT", "1m", df)
    with pytest.raises(InvalidArgumentError):
        cache.append("binance", "", "1m", df)
    with pytest.raises(InvalidArgumentError):
        cache.append("binance", "BTC/USDT", "1 minute", df)


def test_manifest_tracks_every_file_and_catches_corruption(cache: OhlcvCache) -> None:
    cache.append("binance", "BTC/USDT", "1m", candles("2026-01-31 23:00", 120))
    entries = cache.manifest.entries()
    assert [e.rows for e in entries] == [60, 60]
    assert {(e.run_id, e.git_sha, e.schema_version) for e in entries} == {("run-1", "abc123", 1)}
    assert cache.manifest.verify().ok
    victim = cache.root / entries[0].path
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    report = cache.manifest.verify()
    assert [c.path for c in report.changed] == [entries[0].path]
    with pytest.raises(CacheCorruptionError):
        cache.read("binance", "BTC/USDT", "1m")
    with pytest.raises(CacheCorruptionError):  # never merge into a damaged file
        cache.append("binance", "BTC/USDT", "1m", candles("2026-01-31 23:30", 5))


def test_new_cache_directories_are_fsynced_in_their_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs = DirFsyncs(monkeypatch)
    root = tmp_path / "cache"
    cache = OhlcvCache(root)
    cache.append("binance", "BTC/USDT", "1m", candles("2026-03-01", 5))
    series = root / "binance" / "BTC%2FUSDT" / "1m"
    assert {tmp_path, root, root / "binance", series.parent, series} <= set(fsyncs.dirs)
    fsyncs.dirs.clear()
    cache.append("binance", "BTC/USDT", "5m", candles("2026-03-01", 5, "5min"))
    # only the new timeframe directory's parent, and the directories written into
    assert set(fsyncs.dirs) == {series.parent, series.parent / "5m", root}


@pytest.mark.parametrize("syscall", ["fsync", "write", "replace"])
def test_ctrl_c_during_an_append_leaves_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syscall: str
) -> None:
    """A KeyboardInterrupt at the n-th syscall of an append, for every n."""
    cache = OhlcvCache(tmp_path / "cache")
    old = candles("2026-03-01", 60)
    cache.append("binance", "BTC/USDT", "1m", old)
    real = getattr(os, syscall)
    for n in range(1, 80):
        calls = {"n": 0}

        def interrupted(*args: Any, _n: int = n, _c: dict[str, int] = calls) -> Any:
            _c["n"] += 1
            if _c["n"] == _n:
                raise KeyboardInterrupt
            return real(*args)

        monkeypatch.setattr(os, syscall, interrupted)
        try:
            cache.append("binance", "BTC/USDT", "1m", candles("2026-03-01 01:00", 60, seed=n))
        except KeyboardInterrupt:
            pass
        else:
            break
        finally:
            monkeypatch.undo()
        leftovers = list(cache.root.rglob("*.tmp"))
        assert leftovers == [], (syscall, n)
        assert len(cache.read("binance", "BTC/USDT", "1m")) in (60, 120), (syscall, n)
    else:
        pytest.fail("the append never completed")
    assert n > 1
    assert len(cache.read("binance", "BTC/USDT", "1m")) == 120


# ---------------------------------------------------------------- verify and repair

SERIES = "binance/BTC%2FUSDT/1m"


def test_verify_accepts_what_a_verified_read_accepts(cache: OhlcvCache) -> None:
    """A writer killed between the transition sidecar and the data rename."""
    cache.append("binance", "BTC/USDT", "1m", candles("2026-03-01", 60))
    rel = f"{SERIES}/2026-03.parquet"
    path = cache.root / rel
    old = sha256_file(path)
    never_landed = hashlib.sha256(b"a replacement that was killed").hexdigest()
    sidecar_path(path).write_bytes(sidecar_text([never_landed, old], path))
    assert len(atomic_read(path)) == 60  # the reader accepts the file ...
    check = cache.verify()
    assert check.sidecars == ()  # ... so verify must too
    assert check.ok
    assert check.transitions == (rel,)
    assert "interrupted" in str(check).lower()
    assert "mismatch" not in str(check)
    fixed = cache.verify(repair=True)
    assert fixed.ok
    assert fixed.transitions == ()
    assert fixed.repaired == ({"path": rel, "action": "finished the sidecar update"},)
    assert sidecar_path(path).read_text() == f"{old}  2026-03.parquet\n"


def test_verify_tells_a_lagging_manifest_from_a_damaged_file(cache: OhlcvCache) -> None:
    """A writer killed after its renames, before it recorded the files in the manifest."""
    cache.append("binance", "BTC/USDT", "1m", candles("2026-03-01", 60))
    replaced = cache.root / SERIES / "2026-03.parquet"
    fresh = cache.root / SERIES / "2026-04.parquet"
    merged = pd.concat([cache.read("binance", "BTC/USDT", "1m"), candles("2026-03-01 01:00", 5)])
    atomic_write(merged, replaced)  # renamed into place, never recorded
    atomic_write(candles("2026-04-01", 5), fresh)
    check = cache.verify()
    assert not check.ok  # the manifest does not describe the files
    assert check.sidecars == ()  # but nothing is damaged
    assert check.lagging == (f"{SERIES}/2026-03.parquet", f"{SERIES}/2026-04.parquet")
    assert "intact" in str(check).lower()
    fixed = cache.verify(repair=True)
    assert fixed.ok, str(fixed)
    assert [r["path"] for r in fixed.repaired] == list(check.lagging)
    entry = cache.manifest.entry(replaced)
    assert entry is not None
    assert (entry.sha256, entry.rows) == (sha256_file(replaced), 65)
    assert entry.extra == {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m"}


def test_a_damaged_file_is_never_repaired(cache: OhlcvCache) -> None:
    cache.append("binance", "BTC/USDT", "1m", candles("2026-03-01", 60))
    path = cache.root / SERIES / "2026-03.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = path.read_bytes(), sidecar_path(path).read_bytes()
    check = cache.verify(repair=True)
    assert not check.ok
    assert check.repaired == ()
    assert [p["problem"] for p in check.sidecars] == ["mismatch"]
    assert (path.read_bytes(), sidecar_path(path).read_bytes()) == before


def test_verify_reports_temp_files_and_repair_removes_only_dead_writers_ones(
    cache: OhlcvCache,
) -> None:
    cache.append("binance", "BTC/USDT", "1m", candles("2026-03-01", 60))
    series = cache.root / SERIES
    stale = temp_path_for(series / "2026-03.parquet")
    stale.write_bytes(b"left by a writer that died")
    manifest_tmp = temp_path_for(cache.manifest.path)
    manifest_tmp.write_bytes(b"left too")
    writing = open_atomic(series / "2026-04.parquet")
    writer = writing.__enter__()  # a live writer, mid-write
    try:
        writer.write(b"a write in progress")
        writer.flush()
        (live,) = [p for p in series.iterdir() if p.name.startswith(".2026-04")]
        check = cache.verify()
        assert check.ok  # leftovers are not damage
        found = {(t["path"], t["in_use"]) for t in check.temp_files}
        assert found == {
            (stale.relative_to(cache.root).as_posix(), False),
            (manifest_tmp.name, False),
            (live.relative_to(cache.root).as_posix(), True),
        }
        assert "safe to remove" in str(check)
        fixed = cache.verify(repair=True)
        assert not stale.exists()
        assert not manifest_tmp.exists()
        assert live.exists()  # a live writer's file is never touched
        assert [t["in_use"] for t in fixed.temp_files] == [True]
    finally:
        abandon = RuntimeError("abandon the write")
        assert not writing.__exit__(RuntimeError, abandon, None)
    assert not live.exists()


@pytest.mark.parametrize("what", ["empty", "missing", "other files", "data without manifest"])
def test_verify_of_a_directory_that_is_not_a_cache_raises(tmp_path: Path, what: str) -> None:
    root = tmp_path / "somewhere"
    if what != "missing":
        root.mkdir()
    if what == "other files":
        (root / "hosts").write_text("127.0.0.1 localhost\n")
    if what == "data without manifest":
        atomic_write(candles("2026-03-01", 5), root / "x.parquet")
    with pytest.raises(CacheFileNotFoundError) as info:
        OhlcvCache(root).verify()
    err = info.value
    assert err.context["reason"] == "no_manifest"
    assert "no manifest" in err.message
    assert str(root / "manifest.json") in err.message
    assert err.hint
    assert "manifest.json" in err.hint
    assert not (root / "manifest.json").exists()  # verify never creates one


def _append_range(root: str, start: str) -> None:
    OhlcvCache(root).append("binance", "BTC/USDT", "1m", candles(start, 30, seed=int(start[11:13])))


@pytest.mark.slow
def test_concurrent_appenders_lose_nothing(tmp_path: Path) -> None:
    root = str(tmp_path / "cache")
    starts = [f"2026-03-01 {h:02d}:00" for h in range(6)]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append_range, args=(root, s)) for s in starts]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    cache = OhlcvCache(root)
    assert len(cache.read("binance", "BTC/USDT", "1m")) == 6 * 30
    assert cache.manifest.verify().ok


def test_lazy_exports_match_all() -> None:
    from peak_trade import data

    assert sorted(data.__all__) == sorted(data._LAZY)
    for name in data.__all__:
        assert getattr(data, name) is not None
