"""atomic_write / atomic_read: formats, checksums, corruption, failure injection, cleanup."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from peak_trade.clock import ManualClock
from peak_trade.data import _fs
from peak_trade.data._fs import (
    atomic_write_bytes,
    is_temp_name,
    read_sidecar,
    read_sidecar_digests,
    sha256_file,
    sidecar_path,
    temp_path_for,
)
from peak_trade.data.atomic import (
    WriteResult,
    atomic_read,
    atomic_read_frame,
    atomic_write,
    clean_stale_temp_files,
)
from peak_trade.errors import (
    CacheCorruptionError,
    CacheFileNotFoundError,
    InvalidArgumentError,
    PeakTradeError,
)

WRITER = Path(__file__).with_name("_crash_writer.py")


def ohlcv(rows: int = 500, tz: str = "UTC", freq: str = "h") -> pd.DataFrame:
    rng = np.random.default_rng(42)
    idx = pd.date_range("2024-03-30", periods=rows, freq=freq, tz=tz, name="ts")
    close = 100 + rng.standard_normal(rows).cumsum()
    return pd.DataFrame(
        {
            "open": close + rng.random(rows),
            "high": close + 2,
            "low": close - 2,
            "close": close,
            "volume": rng.integers(0, 10_000, rows).astype("float64"),
            "trades": rng.integers(0, 100, rows),
            "symbol": ["BTC/USDT"] * rows,
            "final": rng.random(rows) > 0.5,
        },
        index=idx,
    )


def temp_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- round trips --------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "Asia/Kolkata"])
def test_parquet_round_trip_is_exact_with_tz_index(tmp_path: Path, suffix: str, tz: str) -> None:
    df = ohlcv(tz=tz)  # spans the Berlin DST switch on 2024-03-31
    path = tmp_path / f"btc{suffix}"
    result = atomic_write(df, path)
    back = atomic_read(path)
    assert_frame_equal(back, df)  # dtypes, tz, index name and freq included
    assert back.index.freq == df.index.freq
    assert str(back.index.tz) == tz
    assert result == WriteResult(path, sha256_file(path), path.stat().st_size, len(df))


@pytest.mark.parametrize("freq", ["min", "15min", "D", "MS", "W-SUN"])
def test_parquet_round_trip_keeps_fixed_and_calendar_frequencies(tmp_path: Path, freq: str) -> None:
    df = ohlcv(300, tz="Europe/Berlin", freq=freq)
    atomic_write(df, tmp_path / "x.parquet")
    back = atomic_read(tmp_path / "x.parquet")
    assert_frame_equal(back, df)
    assert back.index.freq == df.index.freq


def test_parquet_keeps_nanoseconds_nan_and_a_non_datetime_index(tmp_path: Path) -> None:
    idx = pd.DatetimeIndex(
        ["2024-01-01 00:00:00.000000001", "2024-01-01 00:00:00.000000002", "2024-01-02"],
        tz="UTC",
    )
    df = pd.DataFrame({"x": [1.5, np.nan, -np.inf]}, index=idx)
    atomic_write(df, tmp_path / "ns.parquet")
    assert_frame_equal(atomic_read(tmp_path / "ns.parquet"), df)
    named = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["a", "b"], name="k"))
    atomic_write(named, tmp_path / "named.parquet")
    assert_frame_equal(atomic_read_frame(tmp_path / "named.parquet"), named)


@pytest.mark.parametrize("compression", ["zstd", "snappy", "gzip", "lz4", "brotli", "none", None])
def test_every_parquet_codec_round_trips(tmp_path: Path, compression: str | None) -> None:
    df = ohlcv(50)
    atomic_write(df, tmp_path / "c.parquet", compression=compression)
    assert_frame_equal(atomic_read(tmp_path / "c.parquet"), df)


def test_csv_round_trip(tmp_path: Path) -> None:
    df = ohlcv(100).drop(columns=["final"])
    atomic_write(df, tmp_path / "btc.csv")
    back = atomic_read(tmp_path / "btc.csv")
    assert isinstance(back.index, pd.DatetimeIndex)
    assert str(back.index.tz) == "UTC"
    assert_frame_equal(back, df, check_freq=False)


def test_json_round_trip_of_a_dataframe(tmp_path: Path) -> None:
    df = ohlcv(100, tz="Europe/Berlin")
    atomic_write(df, tmp_path / "btc.json")
    back = atomic_read(tmp_path / "btc.json")
    # table-orient JSON keeps nanoseconds, whatever unit the index had in memory
    expected = df.set_axis(pd.DatetimeIndex(df.index).as_unit("ns"))
    assert_frame_equal(back, expected, check_freq=False, rtol=1e-14)
    assert str(back.index.tz) == "Europe/Berlin"


@pytest.mark.parametrize(
    "obj",
    [{"symbol": "BTC/USDT", "rows": 3, "nested": {"ok": True, "xs": [1, 2.5, None]}}, [1, "ü", {}]],
)
def test_json_round_trip_of_dicts_and_lists(tmp_path: Path, obj: Any) -> None:
    path = tmp_path / "meta.json"
    result = atomic_write(obj, path)
    assert result.rows is None
    assert atomic_read(path) == obj


@pytest.mark.parametrize("make", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("name", ["blob.bin", "noext", "looks-like.parquet"])
def test_bytes_round_trip_with_any_suffix(tmp_path: Path, make: Any, name: str) -> None:
    raw = os.urandom(3000) + b"\x00" * 10
    result = atomic_write(make(raw), tmp_path / name)
    assert result.size == len(raw)
    assert result.rows is None
    assert atomic_read(tmp_path / name, format="bytes") == raw
    if name != "looks-like.parquet":
        assert atomic_read(tmp_path / name) == raw  # unknown suffix reads as bytes


def test_format_overrides_the_suffix(tmp_path: Path) -> None:
    df = ohlcv(20)
    atomic_write(df, tmp_path / "frame.dat", format="parquet")
    assert_frame_equal(atomic_read(tmp_path / "frame.dat", format="parquet"), df)
    atomic_write({"a": 1}, tmp_path / "meta.txt", format="json")
    assert atomic_read(tmp_path / "meta.txt", format="json") == {"a": 1}


@given(st.binary(max_size=5000))
@settings(max_examples=30)
def test_digest_is_sha256_of_the_bytes(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = tmp_path_factory.mktemp("h") / "x.bin"
    assert atomic_write_bytes(path, raw, checksum=True) == hashlib.sha256(raw).hexdigest()
    assert atomic_read(path) == raw


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=0, max_size=50))
@settings(max_examples=30)
def test_parquet_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, values: list[float]
) -> None:
    idx = pd.date_range("2024-01-01", periods=len(values), freq="min", tz="UTC")
    df = pd.DataFrame({"close": pd.Series(values, dtype="float64")}).set_axis(idx)
    path = tmp_path_factory.mktemp("p") / "x.parquet"
    atomic_write(df, path)
    assert_frame_equal(atomic_read(path), df)


# --- refusals -------------------------------------------------------------------------


def test_dataframe_with_unknown_suffix_names_the_supported_formats(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        atomic_write(ohlcv(5), tmp_path / "btc.xlsx")
    assert "parquet" in str(info.value)
    assert "csv" in str(info.value)
    assert "json" in str(info.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("obj", "name", "kwargs"),
    [
        ({"a": 1}, "meta.parquet", {}),
        (42, "x.json", {}),
        (b"raw", "x.bin", {"format": "parquet"}),
        (pd.DataFrame({"a": [1]}), "x.parquet", {"format": "bytes"}),
        (pd.DataFrame({"a": [1]}), "x.parquet", {"format": "feather"}),
        (pd.DataFrame({"a": [1]}), "x.parquet", {"compression": "lzma"}),
    ],
)
def test_unsupported_combinations_are_invalid_arguments(
    tmp_path: Path, obj: Any, name: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        atomic_write(obj, tmp_path / name, **kwargs)
    assert not list(tmp_path.iterdir())


def test_unknown_read_format_is_an_invalid_argument(tmp_path: Path) -> None:
    atomic_write(b"x", tmp_path / "x.bin")
    with pytest.raises(InvalidArgumentError):
        atomic_read(tmp_path / "x.bin", format="xml")  # type: ignore[arg-type]


# --- checksums and corruption ------------------------------------------------------------


def test_sidecar_is_sha256sum_compatible(tmp_path: Path) -> None:
    path = tmp_path / "btc.parquet"
    result = atomic_write(ohlcv(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.sha256 == digest
    assert sidecar_path(path).read_text() == f"{digest}  btc.parquet\n"
    assert read_sidecar(path) == digest
    sha256sum = shutil.which("sha256sum")
    assert sha256sum is not None
    ok = subprocess.run([sha256sum, "-c", "btc.parquet.sha256"], cwd=tmp_path, check=False)
    assert ok.returncode == 0
    _flip_byte(path, 100)
    bad = subprocess.run(
        [sha256sum, "-c", "btc.parquet.sha256"], cwd=tmp_path, check=False, capture_output=True
    )
    assert bad.returncode != 0


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["btc.parquet", "btc.csv", "meta.json", "blob.bin"])
def test_a_flipped_byte_is_reported_with_both_digests(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    obj: Any = {"k": list(range(100))} if name.endswith(".json") else ohlcv(50)
    if name.endswith(".bin"):
        obj = os.urandom(500)
    result = atomic_write(obj, path)
    _flip_byte(path, 40)
    with pytest.raises(CacheCorruptionError) as info:
        atomic_read(path)
    ctx = info.value.context
    assert ctx["path"] == str(path)
    assert ctx["expected"] == result.sha256
    assert ctx["actual"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ctx["actual"] != ctx["expected"]


def test_missing_sidecar_is_corruption_unless_verification_is_off(tmp_path: Path) -> None:
    path = tmp_path / "btc.parquet"
    df = ohlcv(30)
    atomic_write(df, path)
    sidecar_path(path).unlink()
    with pytest.raises(CacheCorruptionError) as info:
        atomic_read(path)
    assert "verify_checksum=False" in (info.value.hint or "")
    assert_frame_equal(atomic_read(path, verify_checksum=False), df)


def test_writing_without_checksum_removes_a_stale_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "btc.parquet"
    atomic_write(ohlcv(30), path)
    result = atomic_write(ohlcv(40), path, checksum=False)
    assert result.sha256 is None
    assert not sidecar_path(path).exists()
    assert len(atomic_read(path, verify_checksum=False)) == 40
    with pytest.raises(CacheCorruptionError):
        atomic_read(path)


@pytest.mark.parametrize(
    "content", [b"", b"not a digest\n", b"ab" * 32 + b"\nzz\n", b"\xff\xfe" * 40, b"0" * 63]
)
def test_malformed_sidecar_is_corruption(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.bin"
    atomic_write(b"payload", path)
    sidecar_path(path).write_bytes(content)
    with pytest.raises(CacheCorruptionError):
        atomic_read(path)


def test_transition_sidecar_accepts_either_recorded_digest(tmp_path: Path) -> None:
    """What a writer killed between the renames leaves behind still reads correctly."""
    path = tmp_path / "x.bin"
    old, new = b"old content", b"new content"
    atomic_write(old, path)
    digests = [hashlib.sha256(v).hexdigest() for v in (new, old)]
    sidecar_path(path).write_bytes(_fs.sidecar_text(digests, path))
    assert read_sidecar_digests(path) == tuple(digests)
    assert read_sidecar(path) == digests[0]
    assert atomic_read(path) == old
    atomic_write_bytes(path, new)  # the data rename happened, the final sidecar did not
    sidecar_path(path).write_bytes(_fs.sidecar_text(digests, path))
    assert atomic_read(path) == new
    path.write_bytes(b"third content")
    with pytest.raises(CacheCorruptionError) as info:
        atomic_read(path)
    assert info.value.context["accepted"] == digests


def test_replacement_leaves_a_single_line_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    for content in (b"one", b"two", b"two", b"three"):
        digest = atomic_write_bytes(path, content, checksum=True)
        assert sidecar_path(path).read_text() == f"{digest}  x.bin\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin", "x.bin.sha256"]


def test_garbled_parquet_without_checksum_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "btc.parquet"
    atomic_write(b"PAR1 this is not parquet at all PAR1", path, checksum=False)
    with pytest.raises(CacheCorruptionError) as info:
        atomic_read(path, verify_checksum=False)
    assert isinstance(info.value.__cause__, pa.ArrowException | OSError | ValueError)


def test_truncated_parquet_with_a_matching_sidecar_is_still_corruption(tmp_path: Path) -> None:
    path = tmp_path / "btc.parquet"
    atomic_write(ohlcv(), path)
    atomic_write_bytes(path, path.read_bytes()[:-200], checksum=True)  # digest of the damage
    with pytest.raises(CacheCorruptionError):
        atomic_read(path)


def test_reading_a_frame_from_a_non_frame_file_is_corruption(tmp_path: Path) -> None:
    atomic_write({"a": 1}, tmp_path / "m.json")
    with pytest.raises(CacheCorruptionError):
        atomic_read_frame(tmp_path / "m.json")


def test_missing_file_is_a_clear_not_found_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.parquet"
    for verify in (True, False):
        with pytest.raises(PeakTradeError) as info:
            atomic_read(path, verify_checksum=verify)
        assert not isinstance(info.value, CacheCorruptionError)
        assert isinstance(info.value, CacheFileNotFoundError)
        assert info.value.context == {"path": str(path), "reason": "not_found"}
        assert isinstance(info.value.__cause__, FileNotFoundError)


def test_reader_retries_when_a_live_writer_swaps_the_sidecar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sidecar read before a concurrent replacement, data read after it: read again."""
    import peak_trade.data.atomic as atomic_mod

    path = tmp_path / "x.bin"
    atomic_write(b"old", path)
    stale = read_sidecar_digests(path)
    atomic_write(b"new", path)
    calls = iter([stale, read_sidecar_digests(path), read_sidecar_digests(path)])
    monkeypatch.setattr(atomic_mod, "read_sidecar_digests", lambda _p: next(calls))
    assert atomic_read(path) == b"new"


# --- failure injection: the target is untouched, no temp files remain -----------------


class _Unserialisable:
    pass


def _assert_untouched(path: Path, content: bytes, sidecar: bytes) -> None:
    assert path.read_bytes() == content
    assert sidecar_path(path).read_bytes() == sidecar
    assert temp_files(path.parent) == []


@pytest.fixture
def existing(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    path = tmp_path / "target.json"
    atomic_write({"version": 1}, path)
    return path, path.read_bytes(), sidecar_path(path).read_bytes()


def test_json_that_fails_mid_stream_leaves_the_target_untouched(
    existing: tuple[Path, bytes, bytes],
) -> None:
    path, content, sidecar = existing
    # Megabytes are streamed into the temp file before the bad value is reached.
    obj = {"rows": list(range(400_000)), "zz_bad": _Unserialisable()}
    with pytest.raises(InvalidArgumentError) as info:
        atomic_write(obj, path)
    assert isinstance(info.value.__cause__, TypeError)
    _assert_untouched(path, content, sidecar)


def test_nan_in_json_is_refused(existing: tuple[Path, bytes, bytes]) -> None:
    path, content, sidecar = existing
    with pytest.raises(InvalidArgumentError):
        atomic_write({"x": float("nan")}, path)
    _assert_untouched(path, content, sidecar)


def test_chunk_iterable_failing_mid_write_leaves_the_target_untouched(
    existing: tuple[Path, bytes, bytes],
) -> None:
    path, content, sidecar = existing
    written: list[int] = []

    def chunks() -> Any:
        for i in range(3):
            written.append(i)
            yield os.urandom(1 << 20)
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError, match="producer died"):
        atomic_write_bytes(path, chunks(), checksum=True)
    assert written == [0, 1, 2]
    _assert_untouched(path, content, sidecar)


def test_unconvertible_dataframe_leaves_the_target_untouched(tmp_path: Path) -> None:
    path = tmp_path / "btc.parquet"
    atomic_write(ohlcv(10), path)
    content, sidecar = path.read_bytes(), sidecar_path(path).read_bytes()
    bad = pd.DataFrame({"x": [1, _Unserialisable()]})
    with pytest.raises(InvalidArgumentError):
        atomic_write(bad, path)
    _assert_untouched(path, content, sidecar)


def test_parent_that_is_a_file_is_an_io_error_with_a_hint(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_bytes(b"i am a file")
    with pytest.raises(PeakTradeError) as info:
        atomic_write(ohlcv(5), blocker / "btc.parquet")
    assert not isinstance(info.value, InvalidArgumentError | CacheCorruptionError)
    assert "not a directory" in (info.value.hint or "")
    assert info.value.context["errno"] == "ENOTDIR"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


@pytest.mark.parametrize("what", ["chunks", "dataframe"])
def test_disk_full_mid_write_is_an_io_error_and_leaves_the_target_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    path = tmp_path / "target.parquet"
    atomic_write(ohlcv(10), path)
    content, sidecar = path.read_bytes(), sidecar_path(path).read_bytes()
    real_write = os.write
    calls = {"n": 0}

    def failing_write(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    frame = ohlcv(200_000, freq="min")  # ~10 MB through pyarrow
    chunks = [os.urandom(1 << 20)] * 4

    def write() -> object:
        if what == "chunks":
            return atomic_write_bytes(path, chunks, checksum=True)
        return atomic_write(frame, path)

    monkeypatch.setattr(_fs.os, "write", failing_write)
    with pytest.raises(PeakTradeError) as info:
        write()
    monkeypatch.undo()
    assert not isinstance(info.value, InvalidArgumentError | CacheCorruptionError)
    assert "disk is full" in (info.value.hint or "")
    assert info.value.context["errno"] == "ENOSPC"
    assert info.value.context["path"] == str(path)
    assert isinstance(info.value.__cause__, OSError)
    _assert_untouched(path, content, sidecar)


def test_hashing_writer_digest_covers_mixed_writes_and_copies_mutable_buffers(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(3)
    pieces: list[bytes] = []
    with _fs.open_atomic(tmp_path / "x.bin", checksum=True) as writer:
        for size in [10, 5000, 3 << 20, 7, 1 << 20, 900_000, 2 << 20, 1, 0, 4 << 20]:
            piece = rng.bytes(size)
            pieces.append(piece)
            mutable = bytearray(piece)
            assert writer.write(memoryview(mutable) if size % 2 else mutable) == size
            mutable[:] = b"\x00" * size  # the caller reuses its buffer at once
    expected = b"".join(pieces)
    assert writer.size == len(expected)
    assert writer.hexdigest() == hashlib.sha256(expected).hexdigest()
    assert (tmp_path / "x.bin").read_bytes() == expected
    assert read_sidecar(tmp_path / "x.bin") == hashlib.sha256(expected).hexdigest()


def test_failed_data_rename_never_leaves_a_digest_for_data_that_is_not_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.bin"
    atomic_write(b"old", path)
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(dst) == path:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_replace(src, dst)

    monkeypatch.setattr(_fs.os, "replace", replace)
    with pytest.raises(PeakTradeError):
        atomic_write(b"new", path)
    monkeypatch.undo()
    assert atomic_read(path) == b"old"  # the transition sidecar still accepts the old digest
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("syscall", ["fsync", "replace", "write"])
def test_ctrl_c_at_any_step_leaves_no_temp_file_and_a_readable_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syscall: str
) -> None:
    """A KeyboardInterrupt at the n-th syscall of a replacement, for every n."""
    path = tmp_path / "x.parquet"
    old, new = ohlcv(50), ohlcv(60)
    atomic_write(old, path)
    real = getattr(os, syscall)
    for n in range(1, 50):
        calls = {"n": 0}

        def interrupted(*args: Any, _n: int = n, _c: dict[str, int] = calls) -> Any:
            _c["n"] += 1
            if _c["n"] == _n:
                raise KeyboardInterrupt
            return real(*args)

        monkeypatch.setattr(os, syscall, interrupted)
        try:
            atomic_write(new, path)
        except KeyboardInterrupt:
            pass
        else:
            break  # n passed the last call: the write completed
        finally:
            monkeypatch.undo()
        assert temp_files(tmp_path) == [], (syscall, n)
        assert len(atomic_read(path)) in (50, 60), (syscall, n)  # old or new, verified
        atomic_write(old, path)
    else:
        pytest.fail("the write never completed")
    assert n > 1  # the interrupt did land inside the write at least once
    assert_frame_equal(atomic_read(path), new, check_freq=False)


# --- temp files and stale-temp cleanup ---------------------------------------------------


def test_temp_path_shape() -> None:
    target = Path("/cache/btc.parquet")
    a, b = temp_path_for(target), temp_path_for(target)
    assert a != b
    assert a.parent == target.parent
    assert a.name.startswith(".btc.parquet.")
    assert a.name.endswith(".tmp")
    assert is_temp_name(a.name)
    assert not is_temp_name("btc.parquet")
    assert not is_temp_name(".editor-swap.tmp")


def _hold(target: Path) -> tuple[subprocess.Popen[str], Path]:
    """Start a writer that keeps its temp file locked mid-write until stdin gets a line."""
    proc = subprocess.Popen(
        [sys.executable, "-S", str(WRITER), "hold", str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line[0] == "HOLD", line
    (name,) = line[1:]
    return proc, target.parent / name


def test_cleanup_spares_a_live_writer_and_removes_a_dead_ones(tmp_path: Path) -> None:
    target = tmp_path / "btc.bin"
    atomic_write(b"old", target)
    unrelated = [tmp_path / ".editor.tmp", tmp_path / "notes.tmp"]
    for p in unrelated:
        p.write_bytes(b"keep me")

    live, live_tmp = _hold(target)
    try:
        assert clean_stale_temp_files(tmp_path) == []
        assert live_tmp.exists()
        out, _ = live.communicate("go\n")  # let it finish its write
    finally:
        if live.poll() is None:
            live.kill()
            live.communicate()
    assert out.strip() == "E 0"
    assert live.returncode == 0
    assert not live_tmp.exists()  # committed normally
    assert atomic_read(target).startswith(b"partial content")

    dead, dead_tmp = _hold(target)
    dead.send_signal(signal.SIGKILL)
    dead.communicate()
    assert dead.returncode == -signal.SIGKILL
    assert dead_tmp.exists()
    assert clean_stale_temp_files(tmp_path) == [dead_tmp]
    assert not dead_tmp.exists()
    assert all(p.exists() for p in unrelated)
    assert atomic_read(target).startswith(b"partial content")


def test_cleanup_descends_into_subdirectories(tmp_path: Path) -> None:
    deep = tmp_path / "binance" / "BTC%2FUSDT" / "1m"
    deep.mkdir(parents=True)
    stale = [temp_path_for(tmp_path / "manifest.json"), temp_path_for(deep / "2026-01.parquet")]
    for p in stale:
        p.write_bytes(b"left by a crashed writer")
    keep = deep / "notes.tmp"
    keep.write_bytes(b"not ours")
    assert sorted(clean_stale_temp_files(tmp_path)) == sorted(stale)
    assert not any(p.exists() for p in stale)
    assert keep.exists()


def test_cleanup_honours_older_than(tmp_path: Path) -> None:
    stale = temp_path_for(tmp_path / "x.bin")
    stale.write_bytes(b"left by a crashed writer")
    mtime = stale.stat().st_mtime
    clock = ManualClock(start=mtime + 10)
    assert clean_stale_temp_files(tmp_path, older_than=60, clock=clock) == []
    clock.advance(60)
    assert clean_stale_temp_files(tmp_path, older_than=60, clock=clock) == [stale]
    assert clean_stale_temp_files(tmp_path / "missing") == []


class DirFsyncs:
    """Records the directories passed to ``os.fsync`` (the real call still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dirs: list[Path] = []
        real = os.fsync

        def fsync(fd: int) -> None:
            target = Path(os.readlink(f"/proc/self/fd/{fd}"))
            if target.is_dir():
                self.dirs.append(target)
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)


def test_every_new_directory_is_fsynced_in_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs = DirFsyncs(monkeypatch)
    atomic_write(b"x", tmp_path / "a" / "b" / "c" / "file.bin")
    a = tmp_path / "a"
    # a's entry in tmp_path, b's in a, c's in b, then file.bin's (and its sidecar's) in c
    assert set(fsyncs.dirs) == {tmp_path, a, a / "b", a / "b" / "c"}
    fsyncs.dirs.clear()
    atomic_write(b"y", tmp_path / "a" / "b" / "c" / "other.bin")
    assert fsyncs.dirs == [a / "b" / "c"]  # directories that existed cost no fsync


def test_fs_module_imports_no_heavy_libraries() -> None:
    code = (
        "import sys, peak_trade.data._fs\n"
        "heavy = {'pandas', 'numpy', 'pyarrow'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_read_file_returns_the_bytes_and_hashes_like_hashlib(tmp_path: Path) -> None:
    raw = os.urandom((8 << 20) * 2 + 12345)
    path = tmp_path / "big.bin"
    path.write_bytes(raw)
    data = _fs.read_file(path)
    assert data == raw
    assert _fs.sha256_of(data) == hashlib.sha256(raw).hexdigest() == sha256_file(path)
    (tmp_path / "empty").write_bytes(b"")
    empty = _fs.read_file(tmp_path / "empty")
    assert bytes(empty) == b""
    assert _fs.sha256_of(empty) == hashlib.sha256().hexdigest()


@pytest.mark.parametrize("size", [1000, (1 << 20) + 1])  # hashed inline, and on a helper thread
def test_a_flipped_byte_is_a_mismatch_not_a_parse_error(tmp_path: Path, size: int) -> None:
    """Parsing and hashing run at once; a digest mismatch wins over what parsing found."""
    path = tmp_path / "blob.bin"
    atomic_write(os.urandom(size), path)
    raw = bytearray(path.read_bytes())
    raw[size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CacheCorruptionError, match="Checksum mismatch"):
        atomic_read(path)


def test_a_damaged_parquet_file_with_a_matching_digest_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1 not really parquet PAR1")
    (tmp_path / "x.parquet.sha256").write_text(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  x.parquet\n"
    )
    with pytest.raises(CacheCorruptionError, match="not readable as parquet"):
        atomic_read(path)
