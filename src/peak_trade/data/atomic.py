"""Crash-safe, checksummed cache files: :func:`atomic_write` and :func:`atomic_read`.

::

    atomic_write(df, "cache/btc.parquet", checksum=True)  # temp file, fsync, rename, .sha256
    df = atomic_read("cache/btc.parquet", verify_checksum=True)

Formats, chosen by ``format=`` or else by the suffix:

- ``parquet`` (``.parquet``, ``.pq``): a DataFrame through pyarrow, index kept
  (a tz-aware ``DatetimeIndex`` round-trips exactly, ``freq`` included),
  ``compression`` (default zstd). The exact format: use it for market data.
- ``csv`` (``.csv``): a DataFrame with its index as the first column. Text:
  dtypes and time zones other than UTC are not preserved.
- ``json`` (``.json``): a DataFrame (pandas "table" orient, dtypes kept,
  floats to 15 significant digits) or a JSON-able ``dict`` / ``list`` (strict
  JSON: NaN and infinities are refused).
- ``bytes`` (any suffix): ``bytes``, ``bytearray`` or ``memoryview`` written
  verbatim; reading a file with an unknown suffix returns its bytes.

How a write works (details and the crash analysis in :mod:`peak_trade.data._fs`):
the serialiser streams into a locked temp file in the target's directory
through a writer that SHA-256-hashes every byte on its way out (the file is
never re-read); the file is fsynced; the sidecar ``<name>.sha256``
(``"<hexdigest>  <name>\n"``, checkable with ``sha256sum -c``) is prepared as
fsynced temp files too; then the renames, under an exclusive lock on the
directory so that concurrent writers of one path never mix one's data with
another's sidecar (the last writer wins, whole), and one directory fsync.
Missing parent directories are created first, each new one's parent fsynced.

**Rename order: sidecar first, through a transition.** When replacing a file
that has a digest, the sidecar is first renamed to a two-line version that
accepts the new *and* the old digest, then the data file is renamed, then
the sidecar is renamed to the new digest alone. What a verifying reader sees
if the writer dies (SIGKILL) at any point:

- before the first rename: the old content (plus a temp file that
  :func:`clean_stale_temp_files` removes);
- after the transition sidecar: the old content before the data rename, the
  new content after it (both digests are accepted; the sidecar keeps its
  second line until the next write, or ``OhlcvCache.verify(repair=True)``);
- after the last rename: the new content.

On a first write (no old digest) a kill between the sidecar and the data
rename reads as "file not found", i.e. the old state. A
:class:`~peak_trade.errors.CacheCorruptionError` therefore means real damage
(or a power loss that persisted only some renames), never a half-finished
write, and a verified read never returns bytes whose digest was not recorded.
A reader racing a *live* writer may read the sidecar before and the data after
a rename; it notices that the sidecar changed and reads again.

Reading with ``verify_checksum=True`` reads the file into memory once, hashes
that buffer and parses the same buffer.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from peak_trade.clock import Clock, system_clock
from peak_trade.data._fs import (
    find_temp_files,
    io_error,
    open_atomic,
    read_file,
    read_sidecar_digests,
    sha256_of,
    sidecar_accepts,
    sidecar_path,
    try_remove_stale_temp,
)
from peak_trade.errors import (
    CacheCorruptionError,
    CacheFileNotFoundError,
    InvalidArgumentError,
    PeakTradeError,
)
from peak_trade.logging import get_logger

__all__ = [
    "SUPPORTED_FORMATS",
    "FileFormat",
    "WriteResult",
    "atomic_read",
    "atomic_read_frame",
    "atomic_write",
    "clean_stale_temp_files",
]

_log = get_logger("peak_trade.data")

FileFormat = Literal["parquet", "csv", "json", "bytes"]
SUPPORTED_FORMATS: tuple[FileFormat, ...] = ("parquet", "csv", "json", "bytes")
_SUFFIX_FORMATS: dict[str, FileFormat] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".json": "json",
}
_FRAME_FORMATS_TEXT = "parquet (.parquet, .pq), csv (.csv), json (.json)"
_COMPRESSIONS = frozenset({"zstd", "snappy", "gzip", "brotli", "lz4", "none"})
# Schema metadata key for what pandas' own metadata drops (the index freq).
_META_KEY = b"peak_trade"
# A verified read retries when the sidecar changed under it (a live writer
# renamed data and sidecar between our two reads); more than this is a bug.
_READ_ATTEMPTS = 3
_HASH_THREAD_MIN = 1 << 20  # below this a helper thread costs more than it overlaps


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What :func:`atomic_write` committed.

    Attributes:
        path: the target file, made absolute (it stays right if the working
            directory changes, and ``CacheManifest.record(result.path)`` finds it).
        sha256: hex digest of the file (also in the sidecar), ``None`` without checksum.
        size: bytes in the file.
        rows: rows of a DataFrame, else ``None``.
    """

    path: Path
    sha256: str | None
    size: int
    rows: int | None


# --- writing ----------------------------------------------------------------------


def atomic_write(
    obj: pd.DataFrame | bytes | bytearray | memoryview | Mapping[str, Any] | list[Any],
    path: str | os.PathLike[str],
    checksum: bool = True,
    *,
    format: FileFormat | None = None,
    fsync: bool = True,
    compression: str | None = "zstd",
) -> WriteResult:
    """Write ``obj`` to ``path`` crash-safely, with a ``.sha256`` sidecar if ``checksum``.

    Args:
        obj: a DataFrame, raw bytes, or a JSON-able dict/list (``json`` only).
        path: the target; missing parent directories are created (durably).
        checksum: record the SHA-256 in ``<path>.sha256``. Without it an existing
            sidecar is removed, so it cannot contradict the new data.
        format: overrides the suffix (see the module docstring).
        fsync: fsync file and directory (turn off only for scratch data).
        compression: parquet codec: zstd, snappy, gzip, brotli, lz4 or none/None.

    Raises:
        InvalidArgumentError: unsupported object/format/compression, or the
            object cannot be serialised (the target is then untouched).
        PeakTradeError: an I/O failure (permission, disk full, bad path); the
            target is untouched.
    """
    target = Path(path)
    fmt = _write_format(obj, target, format)
    codec = _check_compression(compression)
    rows = len(obj) if isinstance(obj, pd.DataFrame) else None
    table = _to_arrow(obj, target) if fmt == "parquet" else None
    with open_atomic(target, checksum=checksum, fsync=fsync) as writer:
        _serialise(obj, fmt, writer, target, table=table, codec=codec)
    return WriteResult(
        path=target.absolute(), sha256=writer.hexdigest(), size=writer.size, rows=rows
    )


def _write_format(obj: object, path: Path, format: FileFormat | None) -> FileFormat:
    """Decide the on-disk format; refuse combinations that cannot work."""
    if format is not None and format not in SUPPORTED_FORMATS:
        raise InvalidArgumentError(
            f"Unknown format {format!r}",
            hint=f"Use one of {', '.join(SUPPORTED_FORMATS)} (or omit it to use the suffix).",
            context={"path": str(path), "format": format},
        )
    suffix_fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if isinstance(obj, bytes | bytearray | memoryview):
        if format not in (None, "bytes"):
            raise InvalidArgumentError(
                f"Raw bytes are written verbatim; format={format!r} does not apply",
                hint="Omit format (or pass format='bytes') to write bytes to any suffix.",
                context={"path": str(path), "format": format},
            )
        return "bytes"
    if isinstance(obj, pd.DataFrame):
        fmt = format or suffix_fmt
        if fmt is None or fmt == "bytes":
            raise InvalidArgumentError(
                f"Cannot tell how to write a DataFrame to {path.name!r}",
                hint=f"Use a supported suffix or format=: {_FRAME_FORMATS_TEXT}.",
                context={"path": str(path), "suffix": path.suffix, "format": format},
            )
        return fmt
    if isinstance(obj, Mapping | list):
        fmt = format or suffix_fmt
        if fmt != "json":
            raise InvalidArgumentError(
                f"A {type(obj).__name__} can only be written as JSON",
                hint="Use a .json path or format='json'.",
                context={"path": str(path), "format": format},
            )
        return "json"
    raise InvalidArgumentError(
        f"Cannot write an object of type {type(obj).__name__}",
        hint="Pass a pandas DataFrame, bytes, or a JSON-able dict/list.",
        context={"path": str(path), "type": type(obj).__name__},
    )


def _check_compression(compression: str | None) -> str:
    codec = "none" if compression is None else compression.lower()
    if codec not in _COMPRESSIONS:
        raise InvalidArgumentError(
            f"Unknown parquet compression {compression!r}",
            hint=f"Use one of {', '.join(sorted(_COMPRESSIONS))} or None.",
            context={"compression": compression},
        )
    return codec


def _to_arrow(obj: object, path: Path) -> pa.Table:
    """Convert before the temp file exists: most serialisation errors happen here."""
    df = cast(pd.DataFrame, obj)
    try:
        table = pa.Table.from_pandas(df, preserve_index=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"DataFrame cannot be written as parquet: {exc}",
            hint="Convert object columns to plain types (numbers, strings, timestamps).",
            context={"path": str(path), "columns": [str(c) for c in df.columns]},
        ) from exc
    freq = getattr(df.index, "freqstr", None)
    if freq is not None:
        meta = dict(table.schema.metadata or {})
        meta[_META_KEY] = json.dumps({"index_freq": freq}).encode()
        table = table.replace_schema_metadata(meta)
    return table


def _serialise(
    obj: object,
    fmt: FileFormat,
    writer: Any,
    path: Path,
    *,
    table: pa.Table | None,
    codec: str,
) -> None:
    """Stream ``obj`` into ``writer``; serialiser errors become InvalidArgumentError."""
    try:
        if fmt == "bytes":
            writer.write(cast(bytes, obj))
        elif fmt == "parquet":
            pq.write_table(table, writer, compression=codec)
        elif fmt == "csv":
            cast(pd.DataFrame, obj).to_csv(writer, encoding="utf-8")
        elif isinstance(obj, pd.DataFrame):
            obj.to_json(writer, orient="table", date_unit="ns", double_precision=15)
        else:
            text = io.TextIOWrapper(cast(BinaryIO, writer), encoding="utf-8", newline="\n")
            json.dump(obj, text, ensure_ascii=False, allow_nan=False)
            text.flush()
            text.detach()
    except PeakTradeError:
        raise
    except OSError:
        raise  # open_atomic wraps it as an I/O error
    except (pa.ArrowException, TypeError, ValueError, RecursionError) as exc:
        raise InvalidArgumentError(
            f"Could not serialise the object as {fmt}: {exc}",
            hint="Make the object serialisable (JSON: plain dicts, lists, str, numbers, "
            "no NaN); the target file was left untouched.",
            context={"path": str(path), "format": fmt, "type": type(obj).__name__},
        ) from exc


# --- reading ----------------------------------------------------------------------


def atomic_read(
    path: str | os.PathLike[str],
    verify_checksum: bool = True,
    *,
    format: FileFormat | None = None,
) -> Any:
    """Read a file written by :func:`atomic_write`, verifying its SHA-256 first.

    Returns a DataFrame (parquet, csv, table-orient json), a dict/list (other
    json) or ``bytes`` (``format='bytes'`` or an unknown suffix).

    Raises:
        CacheCorruptionError: no sidecar (when verifying), digest mismatch
            (``context`` has ``path``, ``expected``, ``actual``), a malformed
            sidecar, or bytes that do not parse as the format.
        PeakTradeError: the file does not exist (``context['reason'] ==
            'not_found'``) or cannot be read.
        InvalidArgumentError: unknown ``format``.
    """
    target = Path(path)
    fmt = _read_format(target, format)
    if verify_checksum:
        return _read_verified(target, fmt)
    return _parse(_read_bytes(target), fmt, target)


def atomic_read_frame(
    path: str | os.PathLike[str],
    verify_checksum: bool = True,
    *,
    format: FileFormat | None = None,
) -> pd.DataFrame:
    """:func:`atomic_read` for callers that need a DataFrame (typed).

    Raises:
        CacheCorruptionError: as :func:`atomic_read`, and when the file holds
            something other than a DataFrame.
    """
    value = atomic_read(path, verify_checksum, format=format)
    if not isinstance(value, pd.DataFrame):
        raise CacheCorruptionError(
            f"{str(path)!r} does not hold a DataFrame",
            hint="Read it with atomic_read(), or rewrite it from a DataFrame.",
            context={"path": str(path), "type": type(value).__name__},
        )
    return value


def _read_format(path: Path, format: FileFormat | None) -> FileFormat:
    if format is None:
        return _SUFFIX_FORMATS.get(path.suffix.lower(), "bytes")
    if format not in SUPPORTED_FORMATS:
        raise InvalidArgumentError(
            f"Unknown format {format!r}",
            hint=f"Use one of {', '.join(SUPPORTED_FORMATS)} (or omit it to use the suffix).",
            context={"path": str(path), "format": format},
        )
    return format


def _read_bytes(path: Path) -> memoryview:
    try:
        return read_file(path)
    except FileNotFoundError as exc:
        raise CacheFileNotFoundError(
            f"Cache file {str(path)!r} does not exist",
            hint="Write it first (atomic_write), or check the path.",
            context={"path": str(path), "reason": "not_found"},
        ) from exc
    except OSError as exc:
        raise io_error(exc, "read", path) from exc


def _parse_and_hash(data: memoryview, fmt: FileFormat, path: Path) -> tuple[Callable[[], Any], str]:
    """Parse ``data`` while a helper thread hashes the same bytes.

    Returns the digest and a thunk giving the parsed value, or raising the parse
    error: the caller decides which to believe once it has compared the digest
    (a parse error of bytes whose digest is wrong is a checksum mismatch). The
    bytes are immutable here, so what was hashed is exactly what was parsed.
    """
    if len(data) < _HASH_THREAD_MIN:
        digest = sha256_of(data)
        return _outcome(lambda: _parse(data, fmt, path)), digest
    found: list[str] = []
    hasher = threading.Thread(target=lambda: found.append(sha256_of(data)), daemon=True)
    hasher.start()
    try:
        outcome = _outcome(lambda: _parse(data, fmt, path))
    finally:
        hasher.join()
    return outcome, found[0]


def _outcome(parse: Callable[[], Any]) -> Callable[[], Any]:
    try:
        value = parse()
    except CacheCorruptionError as exc:
        error = exc

        def fail() -> Any:
            raise error

        return fail
    return lambda: value


def _read_verified(path: Path, fmt: FileFormat) -> Any:
    """Read sidecar then data; parse and hash the same buffer at once; retry if a live
    writer swapped the sidecar in between."""
    accepted = read_sidecar_digests(path)
    for _ in range(_READ_ATTEMPTS):
        data = _read_bytes(path)
        if accepted is None:
            raise CacheCorruptionError(
                f"No checksum sidecar for {str(path)!r}",
                hint="Re-create the file with atomic_write(..., checksum=True), or read it "
                "with verify_checksum=False if you trust it.",
                context={"path": str(path), "sidecar": str(sidecar_path(path))},
            )
        parsed, actual = _parse_and_hash(data, fmt, path)
        if sidecar_accepts(accepted, actual):
            return parsed()
        again = read_sidecar_digests(path)
        if again == accepted:
            break
        accepted = again
    context: dict[str, Any] = {
        "path": str(path),
        "expected": accepted[0] if accepted else None,
        "actual": actual,
        "size": len(data),
    }
    if accepted and len(accepted) > 1:
        context["accepted"] = list(accepted)
    raise CacheCorruptionError(
        f"Checksum mismatch for {str(path)!r}: the file is corrupt or was half-replaced",
        context=context,
    )


def _parse(data: memoryview, fmt: FileFormat, path: Path) -> Any:
    """Parse bytes already read (and verified); garbled bytes are cache corruption."""
    if fmt == "bytes":
        return bytes(data)
    try:
        if fmt == "parquet":
            return _parse_parquet(data)
        if fmt == "csv":
            return pd.read_csv(io.BytesIO(data), index_col=0, parse_dates=True)
        value = json.loads(bytes(data))
        if _is_table_json(value):
            return pd.read_json(io.BytesIO(data), orient="table", precise_float=True)
        return value
    except (pa.ArrowException, OSError, ValueError, KeyError, TypeError) as exc:
        raise CacheCorruptionError(
            f"{str(path)!r} is not readable as {fmt}: {exc}",
            context={"path": str(path), "format": fmt, "size": len(data)},
        ) from exc


def _parse_parquet(data: memoryview) -> pd.DataFrame:
    table = pq.read_table(pa.BufferReader(pa.py_buffer(data)))  # no copy
    df: pd.DataFrame = table.to_pandas()
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is not None:
        freq = json.loads(raw).get("index_freq")
        if freq is not None and isinstance(df.index, pd.DatetimeIndex):
            df.index = _with_freq(df.index, freq)
    return df


def _with_freq(index: pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex:
    """``index`` with its ``freq`` back (parquet does not keep it).

    For a fixed step (minutes, hours, days) the regular index is generated and
    compared as integers, about 4x cheaper than pandas' own check of every step.
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    if isinstance(offset, pd.offsets.Tick) and len(index) > 0:
        regular = pd.date_range(index[0], periods=len(index), freq=offset, name=index.name).as_unit(
            index.unit
        )
        if regular.dtype == index.dtype and np.array_equal(regular.asi8, index.asi8):
            return regular
    return pd.DatetimeIndex(index, freq=freq)


def _is_table_json(value: object) -> bool:
    """Whether parsed JSON is pandas' table orient (what atomic_write makes of a DataFrame)."""
    if not isinstance(value, dict) or set(value) != {"schema", "data"}:
        return False
    schema = value["schema"]
    return isinstance(schema, dict) and "pandas_version" in schema and "fields" in schema


# --- cleanup ----------------------------------------------------------------------


def clean_stale_temp_files(
    directory: str | os.PathLike[str],
    *,
    older_than: float = 0.0,
    clock: Clock | None = None,
    recursive: bool = True,
) -> list[Path]:
    """Remove temp files left under ``directory`` by writers that died mid-write.

    Only files named like our temp files (``.<name>.<pid>.<16 hex>.tmp``) are
    considered, and only those whose ``flock`` can be taken without waiting: a
    live writer holds its lock for the whole write, so its file is never
    removed (PID reuse cannot fool this). ``older_than`` (seconds, by
    ``clock.time()`` against the file's mtime) additionally spares recent
    files. Subdirectories are searched too (symlinks are not followed) unless
    ``recursive=False``. Returns the removed paths. A missing directory has
    nothing to clean.
    """
    root = Path(directory)
    now = (clock or system_clock).time()
    removed: list[Path] = []
    for candidate in find_temp_files(root, recursive=recursive):
        if older_than > 0:
            try:
                mtime = candidate.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
            if now - mtime < older_than:
                continue
        if try_remove_stale_temp(candidate):
            removed.append(candidate)
    if removed:
        _log.info("removed stale temp files", directory=str(root), count=len(removed))
    return removed
