"""Where :func:`read_ohlcv`'s bytes come from, and what they are.

* a path: read whole; when a ``.sha256`` sidecar sits next to it, through
  :func:`atomic_read` so the checksum is verified first;
* bytes, a binary or a text buffer;
* compression recognised from the first bytes, whatever the name says: gzip,
  bzip2, xz, zstd, or a zip archive holding exactly one file;
* the format from the first bytes too: ``PAR1`` Parquet, ``ARROW1``/``FEA1``
  Feather, ``[``/``{`` JSON, other text CSV. ``format=`` overrides the guess.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from peak_trade.errors import CacheFileNotFoundError, CacheIOError

__all__ = ["FORMATS", "Source", "load"]

FORMATS: Final[tuple[str, ...]] = ("csv", "json", "parquet", "feather")

_SUPPORTED: Final[str] = (
    "CSV (any delimiter), JSON (ccxt rows, records, columns), Parquet or Feather, "
    "plain or compressed (gzip, bzip2, xz, zstd, a zip with one file)"
)
_MAX_NESTING: Final[int] = 3  # a .zip holding a .csv.gz is fine; deeper is not a data file


@dataclass(frozen=True, slots=True)
class Source:
    """The decompressed bytes of one input and what is known about them."""

    data: bytes
    label: str  # the path, or "<buffer>"
    name: str  # file name inside a zip, else the path's name ("" for buffers)
    compression: str | None  # "gzip", "zip+gzip", ... or None
    checksum: str  # "verified", "no sidecar", "not checked" or "buffer"
    format: str  # one of FORMATS


def load(source: Any, *, verify_checksum: bool | None, format: str | None) -> Source:
    """Read ``source`` (path, bytes or buffer) into a :class:`Source`.

    Raises:
        CacheFileNotFoundError: the path does not exist.
        CacheIOError: a directory, an unreadable, empty, damaged or unknown file.
        CacheCorruptionError: the file does not match its ``.sha256`` sidecar (or,
            with ``verify_checksum=True``, has none).
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        data, checksum = _read_path(path, verify_checksum)
        label, name = str(path), path.name
    else:
        data, checksum = _read_buffer(source), "buffer"
        label, name = "<buffer>", ""
    if not data:
        raise CacheIOError(
            f"{label!r} is empty",
            hint="check that the download or export finished",
            context={"path": label, "reason": "empty"},
        )
    data, name, compression = _decompress(data, name, label)
    return Source(data, label, name, compression, checksum, format or _sniff(data, label))


def _read_path(path: Path, verify_checksum: bool | None) -> tuple[bytes, str]:
    from peak_trade.data._fs import io_error, sidecar_path

    label = str(path)
    if "\n" in label:  # file contents passed as a str
        raise CacheFileNotFoundError(
            f"{label[:60]!r}... is not a file name (it has line breaks)",
            hint="a str is read as a file name: pass file contents as bytes or io.StringIO",
            context={"path": label[:200], "reason": "not_found"},
        )
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise CacheFileNotFoundError(
            f"{label!r} does not exist",
            hint="check the path (a relative path starts from the current directory)",
            context={"path": label, "reason": "not_found"},
        ) from exc
    except OSError as exc:
        raise io_error(exc, "read", path) from exc
    if stat.S_ISDIR(mode):
        raise CacheIOError(
            f"{label!r} is a directory, not a file",
            hint="pass the OHLCV files inside it",
            context={"path": label, "reason": "is_directory"},
        )
    has_sidecar = sidecar_path(path).exists()
    if verify_checksum if verify_checksum is not None else has_sidecar:
        from peak_trade.data.atomic import atomic_read

        return bytes(atomic_read(path, verify_checksum=True, format="bytes")), "verified"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise io_error(exc, "read", path) from exc
    return data, "not checked" if has_sidecar else "no sidecar"


def _read_buffer(source: Any) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    read = getattr(source, "read", None)
    if not callable(read):
        from peak_trade.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"read_ohlcv reads a path, bytes or a file object, got {type(source).__name__}",
            hint="pass a file name, a pathlib.Path, bytes, or an open file",
            context={"option": "source", "type": type(source).__name__},
        )
    data = read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


# --------------------------------------------------------------------------- compression


def _unzip(data: bytes, label: str) -> tuple[bytes, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            names = [m.filename for m in members]
            raise CacheIOError(
                f"{label!r} is a zip archive with {len(names)} files; "
                "exactly one OHLCV file per archive is read",
                hint="unpack it and check the files one by one",
                context={"path": label, "members": names, "reason": "format"},
            )
        return archive.read(members[0]), members[0].filename


def _zstd(data: bytes) -> bytes:
    import pyarrow as pa

    with pa.input_stream(pa.py_buffer(data), compression="zstd") as stream:
        return bytes(stream.read())


_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
)


def _compression(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:3] == b"BZh" and data[3:4].isdigit():
        return "bz2"
    return None


def _decompress(data: bytes, name: str, label: str) -> tuple[bytes, str, str | None]:
    import pyarrow as pa

    layers: list[str] = []
    while (kind := _compression(data)) is not None and len(layers) < _MAX_NESTING:
        try:
            if kind == "zip":
                data, name = _unzip(data, label)
            elif kind == "gzip":
                data = gzip.decompress(data)
            elif kind == "bz2":
                data = bz2.decompress(data)
            elif kind == "xz":
                data = lzma.decompress(data)
            else:
                data = _zstd(data)
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zipfile.BadZipFile,
                pa.ArrowException) as exc:  # fmt: skip
            raise CacheIOError(
                f"{label!r} looks {kind}-compressed but does not decompress: {exc}",
                hint="the file is truncated or damaged: download or export it again",
                context={"path": label, "compression": kind, "reason": "corrupt"},
            ) from exc
        layers.append(kind)
        for suffix in (".gz", ".bz2", ".xz", ".zst", ".zstd"):
            name = name.removesuffix(suffix)
    return data, name, "+".join(layers) or None


# --------------------------------------------------------------------------- format


_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\f\v") + b"\x7f"


def _control_share(head: bytes) -> float:
    """The share of C0 control bytes: near 0 in text of any encoding, ~11 % in random bytes."""
    return (len(head) - len(head.translate(None, _CONTROL))) / len(head) if head else 0.0


def _sniff(data: bytes, label: str) -> str:
    if data.startswith(b"PAR1"):
        return "parquet"
    if data.startswith((b"ARROW1", b"FEA1")):
        return "feather"
    head = data[:8192]
    if b"\x00" in head or _control_share(head) > 0.05:
        raise CacheIOError(
            f"{label!r} is not an OHLCV file this reader knows (binary content)",
            hint=f"supported: {_SUPPORTED}",
            context={"path": label, "reason": "format", "first_bytes": head[:16].hex()},
        )
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if text[:1] in (b"[", b"{") else "csv"
