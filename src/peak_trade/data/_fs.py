"""Low-level crash-safe file primitives: temp file, hash while writing, fsync, rename.

Everything here works on bytes and imports nothing heavy (no pandas, no
pyarrow), so a tiny process (the crash tests' writer, the cache manifest) can
use it cheaply. :mod:`peak_trade.data.atomic` builds the DataFrame formats on
top of :func:`open_atomic`.

The write protocol (:func:`open_atomic`, :func:`atomic_write_bytes`):

1. Create a unique temp file next to the target (``.<name>.<pid>.<random>.tmp``,
   same directory so the final rename never crosses a filesystem) and take an
   exclusive ``flock`` on it. The lock tells :func:`try_remove_stale_temp` that
   a live writer owns the file; the kernel drops it when the writer dies, so a
   crashed writer's leftovers are recognisable without trusting PIDs.
2. Stream the bytes out through :class:`HashingWriter`: every byte is hashed on
   its way to the file, so the digest describes exactly what was written and
   the file is never re-read.
3. ``fsync`` the file. With ``checksum``, write and ``fsync`` the sidecar temp
   file (``"<hexdigest>  <name>\\n"``, the ``sha256sum -c`` format) too.
4. ``os.replace`` the data file onto the target, then the sidecar onto
   ``<target>.sha256``, back to back, then ``fsync`` the directory once.

Why data first, then sidecar: the reader accepts data only when its SHA-256
equals the sidecar's digest, so any state between or after the two renames
(including after a power loss that persisted only one of them) is either
consistent or a digest mismatch / missing sidecar, which is a loud
:class:`~peak_trade.errors.CacheCorruptionError`, never silently wrong data.
Renaming data first also means the target never vanishes: a crash between
the renames leaves the complete new file with the old (or no) sidecar, which
verification rejects, and the cache simply refetches. Preparing both temp
files before either rename keeps that window to two back-to-back syscalls.

Writing *without* checksum removes an existing sidecar first (before the
rename), so a stale digest can never vouch for, or falsely reject, new data.

On any failure before the renames the temp files are removed and the target
and its sidecar are untouched.

OS errors are wrapped: integrity problems raise ``CacheCorruptionError``; I/O
problems (permission denied, disk full, a path component that is a file) raise
a :class:`~peak_trade.errors.PeakTradeError` with a hint chosen by ``errno``
(see :func:`io_error`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from peak_trade.errors import CacheCorruptionError, PeakTradeError

__all__ = [
    "SIDECAR_SUFFIX",
    "HashingWriter",
    "atomic_write_bytes",
    "fsync_dir",
    "io_error",
    "is_temp_name",
    "open_atomic",
    "read_sidecar",
    "sha256_file",
    "sidecar_path",
    "temp_path_for",
    "try_remove_stale_temp",
]

SIDECAR_SUFFIX = ".sha256"

# Writes smaller than this are gathered before hashing and writing: pyarrow
# and the text encoders emit many small pieces, and one syscall plus one hash
# update per MiB is far cheaper than one per piece.
_BUFFER_SIZE = 1 << 20

# ".<name>.<pid>.<16 hex>.tmp" -- specific enough that cleanup never touches a
# user's own dot-files that merely end in ".tmp".
_TEMP_RE = re.compile(r"^\..+\.\d+\.[0-9a-f]{16}\.tmp$")

# "<64 hex>  <name>" (text mode) or "<64 hex> *<name>" (binary mode), or a bare digest.
_SIDECAR_RE = re.compile(r"^([0-9a-fA-F]{64})(?:(?: \*|  )(.+))?\n?$")

_ERRNO_HINTS: dict[int, str] = {
    errno.ENOSPC: "The disk is full: free space (or point the cache at a bigger volume).",
    errno.EDQUOT: "The disk quota is exhausted: free space or raise the quota.",
    errno.EACCES: "Permission denied: check the owner and mode of the file and its directory.",
    errno.EPERM: "Operation not permitted: check the owner and mode of the file and directory.",
    errno.EROFS: "The filesystem is read-only: write the cache somewhere writable.",
    errno.ENOTDIR: "A component of the path is a file, not a directory: fix the path.",
    errno.EISDIR: "The path is a directory: give a file name.",
    errno.ENOENT: "The file or its directory does not exist: check the path.",
    errno.ENAMETOOLONG: "The file name is too long for the filesystem: shorten it.",
    errno.EXDEV: "Temp file and target are on different filesystems (should not happen).",
}


def io_error(exc: OSError, operation: str, path: Path) -> PeakTradeError:
    """Wrap an ``OSError`` in a ``PeakTradeError`` with a hint chosen by ``errno``.

    One place decides the wrapping, so when :mod:`peak_trade.errors` gains a
    dedicated filesystem error class only this function changes. The caller
    raises the result ``from exc``.
    """
    code = exc.errno if exc.errno is not None else 0
    hint = _ERRNO_HINTS.get(code, "Check that the path is valid, writable and on a healthy disk.")
    return PeakTradeError(
        f"Could not {operation} {str(path)!r}: {exc.strerror or exc}",
        hint=hint,
        context={
            "path": str(path),
            "operation": operation,
            "errno": errno.errorcode.get(code, code),
        },
    )


def fsync_dir(directory: Path) -> None:
    """``fsync`` a directory so renames and creations inside it survive a power loss."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise io_error(exc, "open directory", directory) from exc
    try:
        os.fsync(fd)
    except OSError as exc:
        raise io_error(exc, "fsync directory", directory) from exc
    finally:
        os.close(fd)


def temp_path_for(path: Path) -> Path:
    """A fresh temp path next to ``path``: ``.<name>.<pid>.<16 hex>.tmp``.

    Same directory, so ``os.replace`` is an atomic rename on one filesystem;
    leading dot, so directory listings and globs like ``*.parquet`` skip it;
    pid plus 64 random bits, so concurrent writers never collide.
    """
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")


def is_temp_name(name: str) -> bool:
    """Whether ``name`` has the shape :func:`temp_path_for` produces."""
    return _TEMP_RE.match(name) is not None


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in ``chunk_size`` pieces (constant memory)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb", buffering=0) as fh:
            buf = bytearray(chunk_size)
            view = memoryview(buf)
            while n := fh.readinto(buf):
                digest.update(view[:n])
    except OSError as exc:
        raise io_error(exc, "read", path) from exc
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    """The checksum sidecar of ``path``: ``<path>.sha256``."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def sidecar_text(digest: str, path: Path) -> bytes:
    """Sidecar content for ``path``, in the format ``sha256sum -c`` checks."""
    return f"{digest}  {path.name}\n".encode()


def read_sidecar(path: Path) -> str | None:
    """The lowercase hex digest recorded for ``path``, or ``None`` without a sidecar.

    The file name after the digest is not compared with ``path.name``: a file
    moved together with its sidecar still verifies (``sha256sum -c`` would look
    for the old name, but the digest is what vouches for the bytes).

    Raises:
        CacheCorruptionError: the sidecar exists but is not one digest line.
    """
    side = sidecar_path(path)
    try:
        raw = side.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise io_error(exc, "read checksum sidecar", side) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    match = _SIDECAR_RE.match(text)
    if match is None:
        raise CacheCorruptionError(
            f"Checksum sidecar {str(side)!r} is malformed",
            hint="Delete the file and its .sha256 sidecar and write or fetch the data again.",
            context={"path": str(path), "sidecar": str(side), "content": raw[:200]},
        )
    return match.group(1).lower()


class HashingWriter:
    """A binary, write-only file object that SHA-256-hashes every byte it writes.

    Small writes are gathered into a 1 MiB buffer (hash and ``os.write`` once
    per MiB); large ones go straight through. ``tell()`` counts bytes accepted,
    which is what pyarrow's ``PythonFile`` asks for. ``close()`` only flushes:
    the file descriptor belongs to :func:`open_atomic`, which must still
    ``fsync`` and rename it after a serialiser has "closed" its sink.
    """

    def __init__(self, fd: int, path: Path, *, hashing: bool = True) -> None:
        self._fd = fd
        self._path = path
        self._hash = hashlib.sha256() if hashing else None
        self._buf = bytearray()
        self._size = 0
        self._closed = False

    # --- the io.RawIOBase-like surface serialisers use -----------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def mode(self) -> str:
        return "wb"

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = 0, /) -> int:
        raise io.UnsupportedOperation("HashingWriter is write-once and not seekable")

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed HashingWriter")
        view = memoryview(data).cast("B")
        n = view.nbytes
        if n >= _BUFFER_SIZE:
            self._drain()
            self._emit(view)
        else:
            self._buf += view
            if len(self._buf) >= _BUFFER_SIZE:
                self._drain()
        self._size += n
        return n

    def flush(self) -> None:
        self._drain()

    def close(self) -> None:
        if not self._closed:
            self._drain()
            self._closed = True

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- results ----------------------------------------------------------------
    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def hexdigest(self) -> str | None:
        """Hex SHA-256 of everything written (after a flush), or ``None`` if not hashing."""
        self._drain()
        return None if self._hash is None else self._hash.hexdigest()

    # --- internals -----------------------------------------------------------
    def _drain(self) -> None:
        if self._buf:
            self._emit(memoryview(self._buf))
            self._buf = bytearray()

    def _emit(self, view: memoryview) -> None:
        if self._hash is not None:
            self._hash.update(view)  # releases the GIL for large chunks
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            raise io_error(exc, "write temp file for", self._path) from exc


def _create_locked_temp(path: Path) -> tuple[int, Path]:
    """Create a fresh temp file next to ``path`` and hold an exclusive ``flock`` on it.

    A cleaner may lock and unlink a just-created file in the instant before we
    lock it; we lock (blocking, the cleaner holds it only briefly), then check
    the file still has a link. If not, we try again with a new name.
    """
    while True:
        tmp = temp_path_for(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise io_error(exc, "create temp file for", path) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink > 0:
                return fd, tmp
        except OSError as exc:
            os.close(fd)
            _unlink_quietly(tmp)
            raise io_error(exc, "lock temp file for", path) from exc
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _ensure_parent(path: Path) -> None:
    """Create missing parent directories (and make their creation durable)."""
    parent = path.parent
    if parent.is_dir():
        return
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # some component is a file, not a directory
        err = NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(parent))
        raise io_error(err, "create directory for", path) from exc
    except OSError as exc:
        raise io_error(exc, "create directory for", path) from exc
    fsync_dir(parent.parent)


def _write_all_fsync(path: Path, payload: bytes, *, fsync: bool) -> Path:
    """Write ``payload`` to a locked temp file next to ``path``; return the temp path."""
    fd, tmp = _create_locked_temp(path)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise io_error(exc, "write temp file for", path) from exc
    finally:
        os.close(fd)
    return tmp


@contextlib.contextmanager
def open_atomic(
    path: Path, *, checksum: bool = True, fsync: bool = True
) -> Iterator[HashingWriter]:
    """Context manager: write ``path`` crash-safely through a :class:`HashingWriter`.

    Everything written inside the ``with`` block goes to a locked temp file; on
    a clean exit the file (and, with ``checksum``, its sidecar) is fsynced and
    renamed into place as described in the module docstring. On an exception
    the temp file is removed and the target is untouched. After the block,
    ``writer.hexdigest()`` and ``writer.size`` describe the committed file.
    """
    path = Path(path)
    _ensure_parent(path)
    fd, tmp = _create_locked_temp(path)
    side_tmp: Path | None = None
    writer = HashingWriter(fd, tmp, hashing=checksum)
    try:
        try:
            yield writer
            writer.close()
            if fsync:
                os.fsync(fd)
        except OSError as exc:
            raise io_error(exc, "write temp file for", path) from exc
        digest = writer.hexdigest()
        side = sidecar_path(path)
        if digest is not None:
            side_tmp = _write_all_fsync(side, sidecar_text(digest, path), fsync=fsync)
        else:
            try:
                os.unlink(side)  # a stale digest must not outlive the data it describes
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise io_error(exc, "remove stale checksum sidecar", side) from exc
        _commit(tmp, path, side_tmp, side, fsync=fsync)
    except BaseException:
        _unlink_quietly(tmp)
        if side_tmp is not None:
            _unlink_quietly(side_tmp)
        raise
    finally:
        os.close(fd)  # releases the flock only now: the temp name is gone or removed


def _commit(tmp: Path, path: Path, side_tmp: Path | None, side: Path, *, fsync: bool) -> None:
    """Rename data then sidecar into place, then make both renames durable."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise io_error(exc, "rename temp file onto", path) from exc
    if side_tmp is not None:
        try:
            os.replace(side_tmp, side)
        except OSError as exc:
            # The new data is in place but its digest is not: readers that verify
            # will see a mismatch (or no sidecar), never accept it silently.
            _unlink_quietly(side)
            err = io_error(exc, "rename checksum sidecar onto", side)
            err.context["data_replaced"] = True
            raise err from exc
    if fsync:
        fsync_dir(path.parent)


def atomic_write_bytes(
    path: Path,
    data: bytes | bytearray | memoryview | Iterable[bytes],
    *,
    checksum: bool = False,
    fsync: bool = True,
) -> str | None:
    """Write ``data`` (bytes, or an iterable of chunks) to ``path`` crash-safely.

    Returns the hex SHA-256 when ``checksum`` (the sidecar holds the same
    digest), else ``None``. If the iterable raises mid-way the temp file is
    removed and the target is untouched; the exception propagates unchanged.
    """
    with open_atomic(Path(path), checksum=checksum, fsync=fsync) as writer:
        if isinstance(data, bytes | bytearray | memoryview):
            writer.write(data)
        else:
            for chunk in data:
                writer.write(chunk)
    return writer.hexdigest()


def try_remove_stale_temp(path: Path) -> bool:
    """Remove ``path`` if no live writer holds its ``flock``; ``True`` if removed.

    The lock is taken non-blocking: a live writer keeps its lock for the whole
    write, so its file is skipped whatever happened to PIDs. A dead writer's
    lock is gone, so we can lock, then unlink while still holding the lock (a
    writer racing on a just-created file notices the unlink and starts over).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise io_error(exc, "open stale temp file", path) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            raise io_error(exc, "lock stale temp file", path) from exc
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise io_error(exc, "remove stale temp file", path) from exc
        return True
    finally:
        os.close(fd)
