"""The cache manifest: which run wrote which file, with what content, schema and code.

Seed B1: "Tracks run_id → files mapping; SHA256 checksums for all files; schema
versioning per file; Git SHA + config hash tracking; atomic manifest writes
(temp + rename)". ::

    from peak_trade.data import CacheManifest
    from peak_trade.repro import ReproContext

    ctx = ReproContext.create(seed=42, config_dict=config)
    manifest = CacheManifest("cache")
    manifest.record("btc/1h.parquet", run_id=ctx.run_id,
                    git_sha=ctx.git_sha, config_hash=ctx.config_hash)
    manifest.files_for_run(ctx.run_id)        # [ManifestEntry(path='btc/1h.parquet', ...)]
    report = manifest.verify()                # missing / changed / untracked files
    manifest.verify(raise_on_error=True)      # CacheCorruptionError unless report.ok

Paths are stored relative to ``root`` (POSIX separators), so a cache
directory can be moved or restored from a backup and still verify. A relative
path given to any method is taken **relative to root**, not to the current
directory; an absolute path must lie under root.

The file (``<root>/manifest.json`` by default) is sorted, indented JSON::

    {"entries": {"btc/1h.parquet": {"config_hash": ..., "rows": 8760,
                 "run_id": ..., "schema_version": 1, "sha256": ..., "size": ...}},
     "format_version": 1}

Concurrency: every change is a read-modify-write of the whole file done under
an exclusive ``flock`` on ``<name>.lock`` (:class:`~peak_trade.data._lock.FileLock`),
always re-reading the file *inside* the lock, and the new file replaces the old
one atomically (temp file, fsync, rename: ``atomic_write_bytes``). So processes
recording at the same time never lose each other's entries, and readers (the
query methods and :meth:`CacheManifest.verify`) need no lock: they always see a
complete old or new file. Each write rewrites the whole manifest; record
batches with :meth:`CacheManifest.record_many` to take the lock and write once.
Hashing the data files happens *before* taking the lock, so a slow hash of a
large file never blocks other writers.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from peak_trade.clock import Clock, system_clock
from peak_trade.data._fs import (
    SIDECAR_SUFFIX,
    atomic_write_bytes,
    io_error,
    make_dirs,
    sha256_file,
)
from peak_trade.data._lock import FileLock
from peak_trade.errors import CacheCorruptionError, InvalidArgumentError
from peak_trade.logging import get_logger

__all__ = [
    "DEFAULT_PATTERNS",
    "FORMAT_VERSION",
    "CacheManifest",
    "ChangedFile",
    "ManifestEntry",
    "VerifyReport",
]

FORMAT_VERSION = 1
"""Version of the manifest file layout this code reads and writes."""

DEFAULT_PATTERNS: tuple[str, ...] = (
    "**/*.parquet",
    "**/*.feather",
    "**/*.arrow",
    "**/*.csv",
    "**/*.csv.gz",
)
"""Globs (relative to root) of the data files :meth:`CacheManifest.verify` reports as untracked."""

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_FIELDS = frozenset(
    {
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
)

_log = get_logger("peak_trade.data.manifest")


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One tracked file.

    Attributes:
        path: relative to the manifest root, POSIX separators (``"btc/1h.parquet"``).
        sha256: hex SHA-256 of the file's bytes when it was recorded.
        size: size in bytes when recorded.
        rows: row count (read from the Parquet footer for ``.parquet`` files), or ``None``.
        schema_version: the data schema version the writer declared (>= 1).
        run_id: the run that wrote the file (e.g. ``ReproContext.run_id``).
        git_sha: commit of the code that wrote it, if given.
        config_hash: ``stable_hash_dict`` of the writer's config, if given.
        recorded_at: when it was recorded, UTC ISO 8601.
        extra: any further JSON-serialisable metadata.
    """

    path: str
    sha256: str
    size: int
    rows: int | None
    schema_version: int
    run_id: str
    git_sha: str | None
    config_hash: str | None
    recorded_at: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict (``extra`` copied)."""
        return {"path": self.path, **self._stored_fields(copy_extra=True)}

    def _stored_fields(self, *, copy_extra: bool) -> dict[str, Any]:
        """The fields as stored in the file (the path is the key there)."""
        return {
            "sha256": self.sha256,
            "size": self.size,
            "rows": self.rows,
            "schema_version": self.schema_version,
            "run_id": self.run_id,
            "git_sha": self.git_sha,
            "config_hash": self.config_hash,
            "recorded_at": self.recorded_at,
            "extra": json.loads(json.dumps(self.extra)) if copy_extra else self.extra,
        }


@dataclass(frozen=True, slots=True)
class ChangedFile:
    """A tracked file whose size or content differs from its manifest entry.

    ``actual_sha256`` is ``None`` when the sizes already differ (the file is not
    hashed then: a different size is proof enough, and hashing is the slow part).
    """

    path: str
    expected_sha256: str
    actual_sha256: str | None
    expected_size: int
    actual_size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "expected_sha256": self.expected_sha256,
            "actual_sha256": self.actual_sha256,
            "expected_size": self.expected_size,
            "actual_size": self.actual_size,
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :meth:`CacheManifest.verify` found.

    Attributes:
        root: the manifest root.
        checked: how many manifest entries were checked.
        missing: tracked paths with no regular file on disk.
        changed: tracked files whose size or SHA-256 differ.
        untracked: data files under root (matching the patterns) not in the manifest.
        checked_untracked: whether untracked files were looked for.
    """

    root: str
    checked: int
    missing: tuple[str, ...]
    changed: tuple[ChangedFile, ...]
    untracked: tuple[str, ...]
    checked_untracked: bool = True

    @property
    def ok(self) -> bool:
        """True if nothing is missing, changed or untracked."""
        return not (self.missing or self.changed or self.untracked)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "ok": self.ok,
            "checked": self.checked,
            "missing": list(self.missing),
            "changed": [c.to_dict() for c in self.changed],
            "untracked": list(self.untracked),
            "checked_untracked": self.checked_untracked,
        }

    def __str__(self) -> str:
        status = "OK" if self.ok else "PROBLEMS"
        lines = [
            f"Cache manifest {status}: {self.checked} tracked file(s) checked under {self.root}; "
            f"{len(self.missing)} missing, {len(self.changed)} changed, "
            + (
                f"{len(self.untracked)} untracked"
                if self.checked_untracked
                else "untracked not checked"
            )
        ]
        lines.extend(f"  missing   {p}" for p in self.missing)
        for c in self.changed:
            if c.actual_sha256 is None:
                what = f"size {c.expected_size} -> {c.actual_size}"
            else:
                what = f"sha256 {c.expected_sha256[:12]} -> {c.actual_sha256[:12]}"
            lines.append(f"  changed   {c.path} ({what})")
        lines.extend(f"  untracked {p}" for p in self.untracked)
        return "\n".join(lines)


# --------------------------------------------------------------------------- the manifest


class CacheManifest:
    """A JSON manifest of the data files under ``root``, safe for concurrent writers.

    Args:
        root: the cache directory (created on the first write if missing).
        name: file name of the manifest inside root; the lock is ``<name>.lock``.
        lock_timeout: seconds a write waits for other writers before
            :class:`~peak_trade.errors.OperationTimeoutError`.
        clock: time source for ``recorded_at`` and lock back-off.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        name: str = "manifest.json",
        lock_timeout: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(name, str) or name in {"", ".", ".."} or "/" in name or "\0" in name:
            raise InvalidArgumentError(
                f"Manifest name must be a plain file name, got {name!r}.",
                hint="Pass a name such as 'manifest.json'; the manifest always lives in root.",
                context={"name": repr(name)},
            )
        try:
            self.root = Path(root).expanduser().resolve()
        except (OSError, RuntimeError) as exc:
            raise InvalidArgumentError(
                f"Cannot resolve cache root {str(root)!r}: {exc}",
                hint="Pass an existing directory, or a path whose parents you can create.",
                context={"root": str(root)},
            ) from exc
        self.name = name
        self.path = self.root / name
        self.lock_path = self.root / f"{name}.lock"
        self._clock: Clock = clock or system_clock
        FileLock(self.lock_path, lock_timeout)  # validates the timeout now, not at first write
        self._lock_timeout = float(lock_timeout)

    def __repr__(self) -> str:
        return f"CacheManifest({str(self.root)!r}, name={self.name!r})"

    # ------------------------------------------------------------------ writes

    def record(
        self,
        path: str | os.PathLike[str],
        *,
        run_id: str,
        schema_version: int = 1,
        rows: int | None = None,
        git_sha: str | None = None,
        config_hash: str | None = None,
        sha256: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ManifestEntry:
        """Track ``path`` (replacing any earlier entry for it: the latest write wins).

        Args:
            path: a file under root (relative paths are relative to root).
            run_id: the run that wrote it.
            schema_version: the data schema version (>= 1).
            rows: row count; for ``.parquet`` files it is read from the footer when omitted.
            git_sha: commit of the writing code (``ReproContext.git_sha``).
            config_hash: hash of the writer's config (``ReproContext.config_hash``).
            sha256: the file's digest if already known (e.g. returned by the
                atomic write), to avoid reading the file again; else computed.
            extra: more JSON-serialisable metadata.

        Raises:
            InvalidArgumentError: a path outside root, a missing file, or bad metadata.
            CacheCorruptionError: the manifest file is unreadable, or a
                ``.parquet`` file has no valid footer.
            OperationTimeoutError: other writers held the lock past ``lock_timeout``.
        """
        entry = self._build_entry(
            path,
            run_id=run_id,
            schema_version=schema_version,
            rows=rows,
            git_sha=git_sha,
            config_hash=config_hash,
            sha256=sha256,
            extra=extra,
        )
        self._update(lambda entries: entries.__setitem__(entry.path, entry))
        return entry

    def record_many(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        run_id: str,
        schema_version: int = 1,
        git_sha: str | None = None,
        config_hash: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> list[ManifestEntry]:
        """Track several files of one run with one lock and one manifest write.

        Every file is hashed (and Parquet rows counted) before the lock is
        taken. If any path is invalid nothing is recorded. Arguments as in
        :meth:`record`.
        """
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        built = [
            self._build_entry(
                p,
                run_id=run_id,
                schema_version=schema_version,
                rows=None,
                git_sha=git_sha,
                config_hash=config_hash,
                sha256=None,
                extra=extra,
            )
            for p in paths
        ]
        if built:

            def apply(entries: dict[str, ManifestEntry]) -> None:
                for entry in built:
                    entries[entry.path] = entry

            self._update(apply)
        return built

    def remove(self, path: str | os.PathLike[str]) -> bool:
        """Stop tracking ``path`` (the file itself is not touched). True if it was tracked."""
        rel = self._relative(path)
        removed: list[ManifestEntry] = []

        def apply(entries: dict[str, ManifestEntry]) -> None:
            entry = entries.pop(rel, None)
            if entry is not None:
                removed.append(entry)

        self._update(apply, write_if=lambda: bool(removed))
        return bool(removed)

    # ------------------------------------------------------------------ queries

    def entries(self) -> list[ManifestEntry]:
        """Every entry, sorted by path."""
        data = self._read()
        return [data[p] for p in sorted(data)]

    def entry(self, path: str | os.PathLike[str]) -> ManifestEntry | None:
        """The entry for ``path``, or ``None`` if it is not tracked."""
        return self._read().get(self._relative(path))

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str | os.PathLike):
            return False
        return self.entry(path) is not None

    def __len__(self) -> int:
        return len(self._read())

    def runs(self) -> dict[str, list[ManifestEntry]]:
        """``run_id`` → its entries (sorted by path); runs in ``run_id`` order
        (``ReproContext`` run ids sort by creation time)."""
        grouped: dict[str, list[ManifestEntry]] = {}
        for entry in self.entries():
            grouped.setdefault(entry.run_id, []).append(entry)
        return {run: grouped[run] for run in sorted(grouped)}

    def files_for_run(self, run_id: str) -> list[ManifestEntry]:
        """The entries recorded by ``run_id`` (sorted by path; empty if none)."""
        return [e for e in self.entries() if e.run_id == run_id]

    # ------------------------------------------------------------------ verify

    def verify(
        self,
        *,
        check_untracked: bool = True,
        patterns: Iterable[str] | str = DEFAULT_PATTERNS,
        raise_on_error: bool = False,
    ) -> VerifyReport:
        """Compare the manifest with the files on disk.

        Each tracked file must exist with the recorded size and SHA-256 (the
        file is hashed only if its size matches). With ``check_untracked``,
        files under root matching ``patterns`` that the manifest does not know
        are reported too; the manifest, its lock, ``.sha256`` sidecars and temp
        files (``.*.tmp``) are never reported. Untracked files make the report
        not ``ok``; pass ``check_untracked=False`` to check tracked files only.

        Raises:
            CacheCorruptionError: the manifest file is unreadable, or (with
                ``raise_on_error``) the report is not ok; ``context["report"]``
                holds :meth:`VerifyReport.to_dict`.
            InvalidArgumentError: a pattern is absolute or contains ``..``.
        """
        globs = self._check_patterns(patterns) if check_untracked else ()
        data = self._read()
        missing: list[str] = []
        changed: list[ChangedFile] = []
        for rel in sorted(data):
            entry = data[rel]
            problem = self._check_file(entry)
            if problem is None:
                continue
            if isinstance(problem, ChangedFile):
                changed.append(problem)
            else:
                missing.append(rel)
        untracked = self._untracked(data, globs) if check_untracked else []
        report = VerifyReport(
            root=str(self.root),
            checked=len(data),
            missing=tuple(missing),
            changed=tuple(changed),
            untracked=tuple(untracked),
            checked_untracked=check_untracked,
        )
        if not report.ok:
            _log.warning(
                "manifest_verify_failed",
                manifest=str(self.path),
                missing=len(missing),
                changed=len(changed),
                untracked=len(untracked),
            )
            if raise_on_error:
                raise CacheCorruptionError(
                    f"Cache under {self.root} does not match its manifest: {len(missing)} "
                    f"missing, {len(changed)} changed, {len(untracked)} untracked file(s).",
                    hint=(
                        "Fetch missing or changed files again (or `remove()` them from the "
                        "manifest); `record()` untracked files or delete them. "
                        "str(report) lists every file."
                    ),
                    context={"manifest": str(self.path), "report": report.to_dict()},
                )
        return report

    # ------------------------------------------------------------------ internals

    def _relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` as a normalised POSIX path relative to root; refuse anything outside."""
        if not isinstance(path, str | os.PathLike):
            raise InvalidArgumentError(
                f"A path must be a str or os.PathLike, got {type(path).__name__}.",
                hint="Pass the file's path, absolute or relative to the manifest root.",
                context={"type": type(path).__name__},
            )
        raw = Path(path).expanduser()
        candidate = raw if raw.is_absolute() else self.root / raw
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError) as exc:  # symlink loops
            raise InvalidArgumentError(
                f"Cannot resolve path {str(path)!r}: {exc}",
                hint="Check for symlink loops in the path.",
                context={"path": str(path), "root": str(self.root)},
            ) from exc
        try:
            rel = resolved.relative_to(self.root)
        except ValueError as exc:
            raise InvalidArgumentError(
                f"Path {str(path)!r} is outside the manifest root {str(self.root)!r}.",
                hint=(
                    "Only files under root can be tracked; relative paths are taken relative "
                    "to root, not to the current directory."
                ),
                context={"path": str(path), "resolved": str(resolved), "root": str(self.root)},
            ) from exc
        posix = rel.as_posix()
        if posix == "." or posix in {self.name, self.lock_path.name}:
            raise InvalidArgumentError(
                f"Path {str(path)!r} is the manifest root or the manifest's own file.",
                hint="Track data files under root, not the root or the manifest itself.",
                context={"path": str(path), "root": str(self.root)},
            )
        return posix

    def _build_entry(
        self,
        path: str | os.PathLike[str],
        *,
        run_id: str,
        schema_version: int,
        rows: int | None,
        git_sha: str | None,
        config_hash: str | None,
        sha256: str | None,
        extra: Mapping[str, Any] | None,
    ) -> ManifestEntry:
        rel = self._relative(path)
        full = self.root / rel
        _check_metadata(run_id, schema_version, rows, git_sha, config_hash)
        try:
            st = full.stat()
        except FileNotFoundError as exc:
            raise InvalidArgumentError(
                f"Cannot record {rel!r}: no such file under {self.root}.",
                hint="Write the file first, then record it.",
                context={"path": rel, "root": str(self.root)},
            ) from exc
        except OSError as exc:
            raise io_error(exc, "stat", full) from exc
        if not stat.S_ISREG(st.st_mode):
            raise InvalidArgumentError(
                f"Cannot record {rel!r}: it is not a regular file.",
                hint="Record data files, not directories or devices.",
                context={"path": rel, "root": str(self.root)},
            )
        if sha256 is None:
            digest = sha256_file(full)
        elif isinstance(sha256, str) and _SHA256_RE.match(sha256.lower()):
            digest = sha256.lower()
        else:
            raise InvalidArgumentError(
                f"sha256 must be 64 hex characters, got {sha256!r}.",
                hint="Pass the hex digest returned by the atomic write, or omit it.",
                context={"path": rel, "sha256": repr(sha256)},
            )
        if rows is None and full.suffix.lower() == ".parquet":
            rows = _parquet_rows(full, rel)
        return ManifestEntry(
            path=rel,
            sha256=digest,
            size=st.st_size,
            rows=rows,
            schema_version=schema_version,
            run_id=run_id,
            git_sha=git_sha,
            config_hash=config_hash,
            recorded_at=datetime.fromtimestamp(self._clock.time(), tz=UTC).isoformat(),
            extra=_json_copy(extra, rel),
        )

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if not self.root.is_dir():
            make_dirs(self.root)
        with FileLock(self.lock_path, self._lock_timeout, clock=self._clock):
            yield

    def _update(
        self,
        mutate: Callable[[dict[str, ManifestEntry]], None],
        write_if: Callable[[], bool] | None = None,
    ) -> None:
        """Read, mutate and write the manifest, all under the lock (never check-then-act)."""
        with self._locked():
            entries = self._read()
            mutate(entries)
            if write_if is None or write_if():
                self._write(entries)

    def _read(self) -> dict[str, ManifestEntry]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise io_error(exc, "read manifest", self.path) from exc
        return _parse_manifest(raw, self.path)

    def _write(self, entries: Mapping[str, ManifestEntry]) -> None:
        atomic_write_bytes(self.path, _render(entries), checksum=False)

    def _check_file(self, entry: ManifestEntry) -> ChangedFile | str | None:
        """``None`` if the file matches, ``"missing"``, or the :class:`ChangedFile`."""
        full = self.root / entry.path
        try:
            st = full.stat()
        except (FileNotFoundError, NotADirectoryError):
            return "missing"
        except OSError as exc:
            raise io_error(exc, "stat", full) from exc
        if not stat.S_ISREG(st.st_mode):
            return "missing"
        if st.st_size != entry.size:
            return ChangedFile(entry.path, entry.sha256, None, entry.size, st.st_size)
        actual = sha256_file(full)
        if actual != entry.sha256:
            return ChangedFile(entry.path, entry.sha256, actual, entry.size, st.st_size)
        return None

    def _check_patterns(self, patterns: Iterable[str] | str) -> tuple[str, ...]:
        globs = (patterns,) if isinstance(patterns, str) else tuple(patterns)
        for pattern in globs:
            if (
                not isinstance(pattern, str)
                or not pattern
                or pattern.startswith("/")
                or ".." in PurePosixPath(pattern).parts
            ):
                raise InvalidArgumentError(
                    f"Invalid untracked-file pattern {pattern!r}.",
                    hint="Use globs relative to root without '..', e.g. '**/*.parquet'.",
                    context={"pattern": repr(pattern)},
                )
        return globs

    def _untracked(self, tracked: Mapping[str, ManifestEntry], globs: tuple[str, ...]) -> list[str]:
        if not self.root.is_dir():
            return []
        found: set[str] = set()
        for pattern in globs:
            for candidate in self.root.glob(pattern):
                name = candidate.name
                if (
                    name in {self.name, self.lock_path.name}
                    or name.endswith(SIDECAR_SUFFIX)
                    or (name.startswith(".") and name.endswith(".tmp"))
                    or not candidate.is_file()
                ):
                    continue
                rel = candidate.relative_to(self.root).as_posix()
                if rel not in tracked:
                    found.add(rel)
        return sorted(found)


# --------------------------------------------------------------------------- helpers


def _check_metadata(
    run_id: object,
    schema_version: object,
    rows: object,
    git_sha: object,
    config_hash: object,
) -> None:
    problems: list[str] = []
    if not isinstance(run_id, str) or not run_id.strip():
        problems.append(f"run_id must be a non-empty string (got {run_id!r})")
    if (
        isinstance(schema_version, bool)
        or not isinstance(schema_version, int)
        or schema_version < 1
    ):
        problems.append(f"schema_version must be an int >= 1 (got {schema_version!r})")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
        problems.append(f"rows must be an int >= 0 or None (got {rows!r})")
    for label, value in (("git_sha", git_sha), ("config_hash", config_hash)):
        if value is not None and not isinstance(value, str):
            problems.append(f"{label} must be a string or None (got {value!r})")
    if problems:
        raise InvalidArgumentError(
            "Invalid manifest metadata: " + "; ".join(problems) + ".",
            hint="Pass run_id=ctx.run_id, git_sha=ctx.git_sha, config_hash=ctx.config_hash "
            "from a ReproContext.",
            context={"problems": problems},
        )


def _json_copy(extra: Mapping[str, Any] | None, rel: str) -> dict[str, Any]:
    """A JSON round-tripped copy of ``extra``, so the entry equals what is read back later."""
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise InvalidArgumentError(
            f"extra must be a mapping, got {type(extra).__name__}.",
            hint="Pass a dict of JSON-serialisable metadata.",
            context={"path": rel},
        )
    if not all(isinstance(k, str) for k in extra):
        raise InvalidArgumentError(
            f"extra metadata for {rel!r} has non-string keys.",
            hint="JSON object keys are strings; convert the keys first.",
            context={"path": rel, "keys": [repr(k) for k in extra]},
        )
    try:
        copied: dict[str, Any] = json.loads(json.dumps(dict(extra), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"extra metadata for {rel!r} is not JSON-serialisable: {exc}",
            hint="Use str/int/float/bool/None/list/dict values with string keys (no NaN).",
            context={"path": rel},
        ) from exc
    return copied


def _parquet_rows(full: Path, rel: str) -> int:
    """Row count from the Parquet footer (no data pages are read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return int(pq.read_metadata(full).num_rows)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise CacheCorruptionError(
            f"{rel!r} is not a readable Parquet file: {exc}",
            hint="Rewrite the file (or pass rows= explicitly if it is not Parquet).",
            context={"path": rel, "file": str(full)},
        ) from exc


def _render(entries: Mapping[str, ManifestEntry]) -> bytes:
    """The manifest file: sorted keys everywhere, one entry per line.

    Equivalent to ``json.dumps(doc, sort_keys=True)`` but with a line per entry,
    so diffs and ``grep`` show one file per line. Each line is encoded by the C
    JSON encoder; ``indent=`` would switch ``json`` to its pure-Python encoder,
    several times slower on every write of a large manifest.
    """
    lines = [
        _compact(path) + ":" + _compact(entries[path]._stored_fields(copy_extra=False))
        for path in sorted(entries)
    ]
    body = ",\n".join(lines)
    text = f'{{"entries":{{\n{body}\n}},"format_version":{FORMAT_VERSION}}}\n'
    return text.encode("ascii")


def _compact(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def _corrupt(manifest: Path, problem: str, **context: Any) -> CacheCorruptionError:
    return CacheCorruptionError(
        f"Cache manifest {str(manifest)!r} is corrupt: {problem}",
        hint=(
            "Restore the manifest from a backup, or move it aside and re-record the cache "
            "files (CacheManifest.record_many); then run verify()."
        ),
        context={"manifest": str(manifest), **context},
    )


def _parse_manifest(raw: bytes, manifest: Path) -> dict[str, ManifestEntry]:
    try:
        doc = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise _corrupt(manifest, f"not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise _corrupt(manifest, f"top level is a {type(doc).__name__}, not an object")
    version = doc.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _corrupt(manifest, f"missing or invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CacheCorruptionError(
            f"Cache manifest {str(manifest)!r} has format_version {version}; this peak-trade "
            f"reads only format_version <= {FORMAT_VERSION}.",
            hint="It was written by a newer peak-trade: upgrade peak-trade to read it "
            "(do not edit or delete it, older code would lose information).",
            context={"manifest": str(manifest), "format_version": version},
        )
    entries = doc.get("entries")
    if not isinstance(entries, dict):
        raise _corrupt(manifest, "'entries' is missing or not an object")
    unknown = sorted(set(doc) - {"format_version", "entries"})
    if unknown:
        raise _corrupt(manifest, f"unknown top-level keys {unknown}")
    return {key: _parse_entry(key, value, manifest) for key, value in entries.items()}


def _valid_key(key: str) -> bool:
    """A normalised relative POSIX path with no '..' (so verify never reads outside root)."""
    return (
        isinstance(key, str)
        and not key.startswith("/")
        and "\0" not in key
        and all(part not in {"", ".", ".."} for part in key.split("/"))
    )


def _parse_entry(key: str, value: Any, manifest: Path) -> ManifestEntry:
    if not _valid_key(key):
        raise _corrupt(manifest, f"entry key {key!r} is not a relative path under root", key=key)
    if not isinstance(value, dict) or set(value) != _ENTRY_FIELDS:
        fields = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise _corrupt(
            manifest,
            f"entry {key!r} must have exactly the fields {sorted(_ENTRY_FIELDS)}",
            key=key,
            found=fields,
        )

    def is_int(v: Any, minimum: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= minimum

    bad = [
        name
        for name, ok in (
            ("sha256", isinstance(value["sha256"], str) and _SHA256_RE.match(value["sha256"])),
            ("size", is_int(value["size"], 0)),
            ("rows", value["rows"] is None or is_int(value["rows"], 0)),
            ("schema_version", is_int(value["schema_version"], 1)),
            ("run_id", isinstance(value["run_id"], str) and value["run_id"]),
            ("git_sha", value["git_sha"] is None or isinstance(value["git_sha"], str)),
            ("config_hash", value["config_hash"] is None or isinstance(value["config_hash"], str)),
            ("recorded_at", isinstance(value["recorded_at"], str)),
            ("extra", isinstance(value["extra"], dict)),
        )
        if not ok
    ]
    if bad:
        raise _corrupt(
            manifest,
            f"entry {key!r} has invalid field(s) {bad}",
            key=key,
            values={name: value[name] for name in bad},
        )
    return ManifestEntry(path=key, **value)
