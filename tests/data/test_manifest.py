"""CacheManifest: recording, queries, verify, the file format, corruption, concurrency; FileLock."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from peak_trade.clock import ManualClock
from peak_trade.data import _fs
from peak_trade.data import manifest as manifest_module
from peak_trade.data._lock import FileLock
from peak_trade.data.atomic import atomic_write
from peak_trade.data.manifest import (
    FORMAT_VERSION,
    CacheManifest,
    ChangedFile,
    ManifestEntry,
    VerifyReport,
)
from peak_trade.errors import CacheCorruptionError, InvalidArgumentError, OperationTimeoutError

CLOCK_START = 1_700_000_000.0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


@pytest.fixture
def manifest(root: Path) -> CacheManifest:
    return CacheManifest(root, clock=ManualClock(CLOCK_START))


def _write(root: Path, rel: str, data: bytes = b"payload") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _write_parquet(root: Path, rel: str, rows: int) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"close": list(range(rows))}), path)
    return path


# --------------------------------------------------------------------------- record


def test_record_computes_checksum_size_and_metadata(root: Path, manifest: CacheManifest) -> None:
    _write(root, "btc/1h.csv", b"a,b\n1,2\n")
    entry = manifest.record(
        "btc/1h.csv",
        run_id="run-1",
        schema_version=3,
        git_sha="abc123",
        config_hash="0123456789abcdef",
        extra={"symbol": "BTC/USDT", "tags": ("x", "y")},
    )
    assert entry == ManifestEntry(
        path="btc/1h.csv",
        sha256=hashlib.sha256(b"a,b\n1,2\n").hexdigest(),
        size=8,
        rows=None,
        schema_version=3,
        run_id="run-1",
        git_sha="abc123",
        config_hash="0123456789abcdef",
        recorded_at="2023-11-14T22:13:20+00:00",
        extra={"symbol": "BTC/USDT", "tags": ["x", "y"]},  # stored as JSON round-trips it
    )
    assert manifest.entry("btc/1h.csv") == entry
    assert manifest.entry(root / "btc" / "1h.csv") == entry  # absolute paths work too
    assert manifest.entries() == [entry]
    assert entry.to_dict()["path"] == "btc/1h.csv"


def test_parquet_rows_come_from_the_footer(root: Path, manifest: CacheManifest) -> None:
    _write_parquet(root, "eth.parquet", rows=37)
    assert manifest.record("eth.parquet", run_id="r").rows == 37
    assert manifest.record("eth.parquet", run_id="r", rows=5).rows == 5  # explicit wins


def test_corrupt_parquet_cannot_be_recorded(root: Path, manifest: CacheManifest) -> None:
    _write(root, "bad.parquet", b"definitely not parquet")
    with pytest.raises(CacheCorruptionError, match="not a readable Parquet file"):
        manifest.record("bad.parquet", run_id="r")
    assert manifest.entries() == []
    # With rows given there is nothing to read from the footer.
    assert manifest.record("bad.parquet", run_id="r", rows=0).rows == 0


def test_rerecording_replaces_the_entry(root: Path, manifest: CacheManifest) -> None:
    _write(root, "f.csv", b"one")
    manifest.record("f.csv", run_id="run-1")
    _write(root, "f.csv", b"two!")
    latest = manifest.record("f.csv", run_id="run-2", schema_version=2)
    assert manifest.entries() == [latest]
    assert latest.size == 4
    assert manifest.files_for_run("run-1") == []
    assert manifest.files_for_run("run-2") == [latest]


def test_given_sha256_is_trusted_and_normalised(root: Path, manifest: CacheManifest) -> None:
    _write(root, "f.bin", b"x")
    digest = hashlib.sha256(b"x").hexdigest()
    assert manifest.record("f.bin", run_id="r", sha256=digest.upper()).sha256 == digest
    wrong = "0" * 64
    manifest.record("f.bin", run_id="r", sha256=wrong)  # not re-read: verify catches the lie
    report = manifest.verify()
    assert report.changed == (ChangedFile("f.bin", wrong, digest, 1, 1),)


def test_record_many_is_one_batch(
    root: Path, manifest: CacheManifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[Path] = []
    real_write = _fs.atomic_write_bytes

    def counting_write(path: Path, data: bytes, **kwargs: Any) -> str | None:
        writes.append(path)
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(manifest_module, "atomic_write_bytes", counting_write)
    _write(root, "a.csv")
    _write_parquet(root, "sub/b.parquet", rows=4)
    entries = manifest.record_many(
        ["a.csv", root / "sub" / "b.parquet"], run_id="batch", git_sha="g"
    )
    assert [e.path for e in entries] == ["a.csv", "sub/b.parquet"]
    assert [e.rows for e in entries] == [None, 4]
    assert [e.path for e in manifest.files_for_run("batch")] == ["a.csv", "sub/b.parquet"]
    assert manifest.record_many([], run_id="batch") == []
    assert writes == [manifest.path]  # two files, one manifest write; none for an empty batch


def test_record_many_records_nothing_if_one_path_is_bad(
    root: Path, manifest: CacheManifest
) -> None:
    _write(root, "a.csv")
    with pytest.raises(InvalidArgumentError, match="no such file"):
        manifest.record_many(["a.csv", "missing.csv"], run_id="r")
    assert manifest.entries() == []
    assert not manifest.path.exists()


def test_queries_runs_remove(root: Path, manifest: CacheManifest) -> None:
    for rel, run in [("b.csv", "run-2"), ("a.csv", "run-1"), ("c.csv", "run-2")]:
        _write(root, rel)
        manifest.record(rel, run_id=run)
    runs = manifest.runs()
    assert list(runs) == ["run-1", "run-2"]
    assert [e.path for e in runs["run-2"]] == ["b.csv", "c.csv"]
    assert len(manifest) == 3
    assert "a.csv" in manifest
    assert 42 not in manifest
    assert manifest.files_for_run("nope") == []
    assert manifest.remove("b.csv") is True
    assert manifest.remove("b.csv") is False
    assert (root / "b.csv").exists()  # remove only untracks
    assert manifest.entry("b.csv") is None
    assert [e.path for e in manifest.entries()] == ["a.csv", "c.csv"]
    assert manifest.remove("a.csv")
    assert manifest.remove(root / "c.csv")
    assert manifest.entries() == []
    assert json.loads(manifest.path.read_text()) == {"entries": {}, "format_version": 1}


def test_empty_manifest_needs_no_file(tmp_path: Path) -> None:
    m = CacheManifest(tmp_path / "does" / "not" / "exist")
    assert m.entries() == []
    assert m.runs() == {}
    report = m.verify()
    assert report.ok
    assert report.checked == 0
    assert m.remove("x.csv") is False
    assert not m.path.exists()


def test_root_is_created_on_first_write(tmp_path: Path) -> None:
    # Relative root paths are resolved once, at construction.
    m = CacheManifest(tmp_path / "new")
    _write(tmp_path / "new", "f.csv")
    m.record("f.csv", run_id="r")
    assert m.path.is_file()


# --------------------------------------------------------------------------- paths


def test_paths_outside_root_are_refused(root: Path, manifest: CacheManifest) -> None:
    outside = _write(root.parent, "outside.csv")
    bad_paths: list[str | Path] = [outside, "../outside.csv", "sub/../../outside.csv", "/etc/x"]
    for bad in bad_paths:
        with pytest.raises(InvalidArgumentError, match="outside the manifest root") as info:
            manifest.record(bad, run_id="r")
        assert info.value.context["root"] == str(root.resolve())
    with pytest.raises(InvalidArgumentError, match="outside"):
        manifest.entry("../outside.csv")


def test_symlink_escaping_root_is_refused(root: Path, manifest: CacheManifest) -> None:
    target = _write(root.parent, "secret.csv")
    (root / "link.csv").symlink_to(target)
    with pytest.raises(InvalidArgumentError, match="outside"):
        manifest.record("link.csv", run_id="r")


def test_relative_paths_are_relative_to_root_not_cwd(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    m = CacheManifest("cache")  # relative root: resolved against the cwd once
    assert m.root == root.resolve()
    _write(root, "x/y.csv")
    assert m.record("x/./y.csv", run_id="r").path == "x/y.csv"
    with pytest.raises(InvalidArgumentError, match="no such file"):
        m.record("cache/x/y.csv", run_id="r")


def test_manifest_root_and_non_files_are_refused(root: Path, manifest: CacheManifest) -> None:
    _write(root, "a.csv")
    manifest.record("a.csv", run_id="r")
    for bad in ["manifest.json", "manifest.json.lock", ".", ""]:
        with pytest.raises(InvalidArgumentError):
            manifest.record(bad, run_id="r")
    (root / "dir").mkdir()
    with pytest.raises(InvalidArgumentError, match="not a regular file"):
        manifest.record("dir", run_id="r")
    with pytest.raises(InvalidArgumentError, match=r"str or os\.PathLike"):
        manifest.record(123, run_id="r")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"run_id": ""}, "run_id"),
        ({"run_id": "r", "schema_version": 0}, "schema_version"),
        ({"run_id": "r", "schema_version": True}, "schema_version"),
        ({"run_id": "r", "rows": -1}, "rows"),
        ({"run_id": "r", "git_sha": 5}, "git_sha"),
        ({"run_id": "r", "sha256": "xyz"}, "64 hex"),
        ({"run_id": "r", "extra": {"when": object()}}, "JSON"),
        ({"run_id": "r", "extra": {"x": float("nan")}}, "JSON"),
        ({"run_id": "r", "extra": {1: "x"}}, "non-string keys"),
        ({"run_id": "r", "extra": [1]}, "mapping"),
    ],
)
def test_invalid_metadata_is_refused(
    root: Path, manifest: CacheManifest, kwargs: dict[str, Any], fragment: str
) -> None:
    _write(root, "a.csv")
    with pytest.raises(InvalidArgumentError, match=fragment) as info:
        manifest.record("a.csv", **kwargs)
    assert info.value.hint
    assert manifest.entries() == []


def test_constructor_validation(tmp_path: Path) -> None:
    for name in ["", "a/b.json", "..", "."]:
        with pytest.raises(InvalidArgumentError, match="plain file name"):
            CacheManifest(tmp_path, name=name)
    with pytest.raises(InvalidArgumentError, match="timeout"):
        CacheManifest(tmp_path, lock_timeout=-1)


# --------------------------------------------------------------------------- verify


def test_verify_round_trip_ok(root: Path, manifest: CacheManifest) -> None:
    _write_parquet(root, "a.parquet", rows=3)
    _write(root, "deep/er/b.csv", b"x,y\n")
    manifest.record_many(["a.parquet", "deep/er/b.csv"], run_id="r")
    report = manifest.verify()
    assert report.ok
    assert report.checked == 2
    assert (report.missing, report.changed, report.untracked) == ((), (), ())
    assert manifest.verify(raise_on_error=True).ok
    assert "OK: 2 tracked file(s)" in str(report)


def test_verify_detects_missing_changed_and_untracked(root: Path, manifest: CacheManifest) -> None:
    for rel in ["gone.csv", "same_size.csv", "grown.csv", "fine.csv"]:
        _write(root, rel, b"abcd")
    manifest.record_many(["gone.csv", "same_size.csv", "grown.csv", "fine.csv"], run_id="r")
    (root / "gone.csv").unlink()
    _write(root, "same_size.csv", b"abce")
    _write(root, "grown.csv", b"abcdef")
    _write_parquet(root, "sub/new.parquet", rows=1)
    _write(root, "new.csv")
    report = manifest.verify()
    assert not report.ok
    assert report.checked == 4
    assert report.missing == ("gone.csv",)
    old = hashlib.sha256(b"abcd").hexdigest()
    assert report.changed == (
        ChangedFile("grown.csv", old, None, 4, 6),  # size differs: not hashed
        ChangedFile("same_size.csv", old, hashlib.sha256(b"abce").hexdigest(), 4, 4),
    )
    assert report.untracked == ("new.csv", "sub/new.parquet")
    text = str(report)
    for fragment in ["PROBLEMS", "missing   gone.csv", "grown.csv (size 4 -> 6)", "sub/new"]:
        assert fragment in text
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["ok"] is False
    assert as_dict["changed"][0]["expected_size"] == 4
    with pytest.raises(CacheCorruptionError) as info:
        manifest.verify(raise_on_error=True)
    assert info.value.context["report"] == report.to_dict()
    assert "1 missing, 2 changed, 2 untracked" in info.value.message
    assert info.value.hint


def test_a_directory_where_a_file_was_counts_as_missing(
    root: Path, manifest: CacheManifest
) -> None:
    _write(root, "a.csv")
    manifest.record("a.csv", run_id="r")
    (root / "a.csv").unlink()
    (root / "a.csv").mkdir()
    assert manifest.verify().missing == ("a.csv",)


def test_untracked_ignores_manifest_lock_sidecars_and_temp_files(
    root: Path, manifest: CacheManifest
) -> None:
    _write(root, "a.csv")
    manifest.record("a.csv", run_id="r")  # creates manifest.json and manifest.json.lock
    _write(root, "a.csv.sha256", b"0" * 64)
    _write(root, ".a.csv.123.0123456789abcdef.tmp")
    _write(root, "notes.txt")  # not a data pattern
    (root / "dir.parquet").mkdir()  # a directory, not a file
    report = manifest.verify(patterns=("**/*",))
    assert report.untracked == ("notes.txt",)
    assert manifest.verify().ok  # default patterns: only data files


def test_verify_pattern_options(root: Path, manifest: CacheManifest) -> None:
    _write(root, "x.json")
    _write(root, "y.parquet", b"not even parquet")
    assert manifest.verify(patterns="*.json").untracked == ("x.json",)
    assert manifest.verify().untracked == ("y.parquet",)
    skipped = manifest.verify(check_untracked=False)
    assert skipped.ok
    assert not skipped.checked_untracked
    assert "untracked not checked" in str(skipped)
    for bad in ["/abs/*.csv", "../*.csv", ""]:
        with pytest.raises(InvalidArgumentError, match="pattern"):
            manifest.verify(patterns=(bad,))


# --------------------------------------------------------------------------- file format


def test_file_format_is_sorted_versioned_json(root: Path, manifest: CacheManifest) -> None:
    _write(root, "b.csv")
    _write(root, "a.csv")
    manifest.record("b.csv", run_id="r")
    manifest.record("a.csv", run_id="r")
    text = manifest.path.read_text(encoding="ascii")
    doc = json.loads(text)
    assert doc["format_version"] == FORMAT_VERSION == 1
    assert list(doc["entries"]) == ["a.csv", "b.csv"]
    assert set(doc["entries"]["a.csv"]) == {
        "sha256",
        "size",
        "rows",
        "schema_version",
        "run_id",
        "git_sha",
        "config_hash",
        "recorded_at",
        "extra",
    }
    # Sorted keys at every level, one entry per line (diff- and grep-friendly).
    lines = text.splitlines()
    assert lines[0] == '{"entries":{'
    assert lines[1].startswith('"a.csv":{"config_hash":null,')
    assert lines[2].startswith('"b.csv":{')
    assert lines[3:] == ['},"format_version":1}']
    assert json.loads("".join(lines)) == doc
    assert text.endswith("\n")
    assert text.replace("\n", "") == json.dumps(doc, sort_keys=True, separators=(",", ":"))
    assert not (root / "manifest.json.sha256").exists()  # checksum=False
    # A second manifest object reads the same entries.
    assert CacheManifest(root).entries() == manifest.entries()


def test_custom_manifest_name(root: Path) -> None:
    m = CacheManifest(root, name="runs.json")
    _write(root, "a.csv")
    m.record("a.csv", run_id="r")
    assert (root / "runs.json").is_file()
    assert (root / "runs.json.lock").is_file()
    assert m.verify(patterns=("**/*.json", "**/*.csv")).ok


def _good_doc(root: Path) -> dict[str, Any]:
    _write(root, "a.csv")
    CacheManifest(root).record("a.csv", run_id="r")
    doc: dict[str, Any] = json.loads((root / "manifest.json").read_text())
    return doc


def _break(doc: dict[str, Any], how: str) -> bytes:
    entry = doc["entries"]["a.csv"]
    if how == "garbage":
        return b"{not json"
    if how == "binary":
        return b"\xff\xfe\x00garbage"
    if how == "list":
        return b"[]"
    if how == "no_version":
        del doc["format_version"]
    elif how == "string_version":
        doc["format_version"] = "1"
    elif how == "zero_version":
        doc["format_version"] = 0
    elif how == "no_entries":
        del doc["entries"]
    elif how == "extra_top_key":
        doc["surprise"] = 1
    elif how == "missing_field":
        del entry["sha256"]
    elif how == "bad_sha":
        entry["sha256"] = "abc"
    elif how == "negative_size":
        entry["size"] = -1
    elif how == "escaping_key":
        doc["entries"]["../../etc/passwd"] = entry
    elif how == "absolute_key":
        doc["entries"]["/etc/passwd"] = entry
    elif how == "entry_not_object":
        doc["entries"]["a.csv"] = 5
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "how",
    [
        "garbage",
        "binary",
        "list",
        "no_version",
        "string_version",
        "zero_version",
        "no_entries",
        "extra_top_key",
        "missing_field",
        "bad_sha",
        "negative_size",
        "escaping_key",
        "absolute_key",
        "entry_not_object",
    ],
)
def test_corrupt_manifest_is_reported_and_never_overwritten(root: Path, how: str) -> None:
    bad = _break(_good_doc(root), how)
    (root / "manifest.json").write_bytes(bad)
    m = CacheManifest(root)
    with pytest.raises(CacheCorruptionError, match="corrupt") as info:
        m.entries()
    assert info.value.context["manifest"] == str(root.resolve() / "manifest.json")
    assert "Restore the manifest" in (info.value.hint or "")
    with pytest.raises(CacheCorruptionError):
        m.verify()
    _write(root, "b.csv")
    with pytest.raises(CacheCorruptionError):
        m.record("b.csv", run_id="r")
    assert (root / "manifest.json").read_bytes() == bad  # a failed write lost nothing


def test_newer_format_version_asks_for_an_upgrade(root: Path) -> None:
    doc = _good_doc(root)
    doc["format_version"] = FORMAT_VERSION + 1
    (root / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(CacheCorruptionError, match="format_version 2") as info:
        CacheManifest(root).entries()
    assert "upgrade" in (info.value.hint or "")
    assert info.value.context["format_version"] == 2


def test_lazy_export_from_data_package() -> None:
    data = importlib.import_module("peak_trade.data")  # module-level __getattr__

    assert data.CacheManifest is CacheManifest
    assert data.ManifestEntry is ManifestEntry
    assert data.VerifyReport is VerifyReport


def test_importing_the_manifest_is_light() -> None:
    code = "import json, sys, peak_trade.data.manifest; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    )
    loaded = {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}
    assert not loaded & {"pandas", "pyarrow", "numpy"}


# --------------------------------------------------------------------------- FileLock


def test_file_lock_times_out_on_the_injected_clock(tmp_path: Path) -> None:
    lock_path = tmp_path / "x.lock"
    clock = ManualClock()
    with FileLock(lock_path, timeout=1.0):
        waiter = FileLock(lock_path, timeout=1.0, clock=clock)
        with pytest.raises(OperationTimeoutError, match="waiting for the lock") as info:
            waiter.acquire()
        assert not waiter.locked
    assert clock.sleeps[:3] == [0.001, 0.002, 0.004]  # exponential back-off ...
    assert max(clock.sleeps) == 0.05  # ... capped
    assert sum(clock.sleeps) == pytest.approx(1.0)  # never sleeps past the deadline
    assert info.value.context["path"] == str(lock_path)
    assert info.value.context["attempts"] == len(clock.sleeps) + 1
    assert isinstance(info.value, TimeoutError)
    # Released: a zero-timeout attempt now succeeds at once.
    with FileLock(lock_path, timeout=0, clock=clock) as lock:
        assert lock.locked
    assert not lock.locked


def test_file_lock_is_not_reentrant_and_validates(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "x.lock", timeout=0)
    with lock:
        with pytest.raises(InvalidArgumentError, match="not reentrant"):
            lock.acquire()
        assert lock.locked
    lock.release()  # releasing twice is harmless
    for bad in [-1, float("nan"), "1", True]:
        with pytest.raises(InvalidArgumentError):
            FileLock(tmp_path / "x.lock", timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="open lock file"):
        FileLock(tmp_path / "no" / "dir" / "x.lock", timeout=0).acquire()
    assert "locked=False" in repr(lock)


def test_manifest_write_times_out_while_another_writer_holds_the_lock(root: Path) -> None:
    clock = ManualClock()
    m = CacheManifest(root, lock_timeout=0.5, clock=clock)
    _write(root, "a.csv")
    with FileLock(m.lock_path, timeout=0), pytest.raises(OperationTimeoutError):
        m.record("a.csv", run_id="r")
    assert m.entries() == []
    m.record("a.csv", run_id="r")
    assert len(m) == 1


_HOLDER = textwrap.dedent(
    """
    import sys
    from peak_trade.data._lock import FileLock
    lock = FileLock(sys.argv[1], timeout=10)
    lock.acquire()
    print("locked", flush=True)
    sys.stdin.readline()
    lock.release()
    print("released", flush=True)
    """
)


def _start_holder(lock_path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(lock_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_file_lock_excludes_other_processes_and_dies_with_them(tmp_path: Path) -> None:
    lock_path = tmp_path / "x.lock"
    holder = _start_holder(lock_path)
    try:
        with pytest.raises(OperationTimeoutError):
            FileLock(lock_path, timeout=0).acquire()
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "released"
        with FileLock(lock_path, timeout=0):
            pass
    finally:
        holder.communicate(timeout=30)
    crashed = _start_holder(lock_path)
    crashed.send_signal(signal.SIGKILL)
    crashed.communicate(timeout=30)
    with FileLock(lock_path, timeout=0) as lock:  # the kernel dropped the dead holder's lock
        assert lock.locked


# --------------------------------------------------------------------------- concurrency

_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from peak_trade.data.manifest import CacheManifest

    root, worker, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    manifest = CacheManifest(root, lock_timeout=120)
    for i in range(count):
        path = root / f"w{worker}" / f"f{i:03d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{worker},{i}\\n".encode())
    print("ready", flush=True)
    sys.stdin.readline()  # start all workers together, for maximum contention
    for i in range(count):
        manifest.record(f"w{worker}/f{i:03d}.csv", run_id=f"run-{worker}", extra={"i": i})
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_concurrent_processes_never_lose_entries(root: Path) -> None:
    workers, per_worker = 8, 50
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(root), str(w), str(per_worker)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [proc.communicate(timeout=240) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.splitlines()[-1] == "done"
    manifest = CacheManifest(root)
    entries = manifest.entries()
    assert len(entries) == workers * per_worker
    runs = manifest.runs()
    assert sorted(runs) == [f"run-{w}" for w in range(workers)]
    for w in range(workers):
        assert [e.extra["i"] for e in runs[f"run-{w}"]] == list(range(per_worker))
    assert manifest.verify(patterns=("**/*.csv",)).ok
    leftovers = [p.name for p in root.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_write_result_can_be_recorded_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/data.md's chain: atomic_write to a relative path, then record ``result.path``."""
    monkeypatch.chdir(tmp_path)
    result = atomic_write(b"candles", "var/cache/btc.bin")
    assert result.path == tmp_path / "var" / "cache" / "btc.bin"
    entry = CacheManifest("var/cache").record(result.path, run_id="r", sha256=result.sha256)
    assert entry.path == "btc.bin"
