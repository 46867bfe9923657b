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
   its way to the file (on a helper thread, overlapping the serialiser), so
   the digest describes exactly what was written and the file is never re-read.
3. ``fsync`` the file. With ``checksum``, write and ``fsync`` the sidecar temp
   file(s) too (``"<hexdigest>  <name>\n"``, the ``sha256sum -c`` format).
4. Take an exclusive ``flock`` on the target's directory (:func:`_directory_lock`),
   re-read the old digest, and rename, sidecar before data; release; ``fsync``
   the directory once:

   - first write (no old digest): sidecar := new; data := new.
   - replacement: sidecar := "new, old" (two lines); data := new; sidecar := new.

   The lock serialises the renames of writers of the same path (several
   processes refreshing one file): without it their renames interleave and
   one writer's data ends up beside another's sidecar, failing verification
   for good. Last writer wins, always with its own sidecar. Only the renames
   are serialised: writers still encode, hash and fsync in parallel.

Why this order: the reader accepts data only when its SHA-256 is one the
sidecar lists, and a digest is only ever listed for bytes that were completely
written and fsynced. A writer killed at any point leaves:

- before the first rename: old data, old sidecar: the **old content** (and a
  temp file that ``try_remove_stale_temp`` can remove);
- after the transition sidecar, before or after the data rename: old or new
  data, both accepted: the **old or the new content**;
- after the last rename: the **new content**.

Renames that follow an fsync wait for the filesystem journal and take
milliseconds, so "between two renames" is not a negligible window: with a
plain data-then-sidecar order the crash tests saw a digest mismatch in about
5% of random SIGKILLs; with the transition sidecar they see none. On a first
write a kill between the renames leaves a sidecar without data, which reads
as "not found" (the old state). After a power loss, which may persist any
subset of the renames, the outcome is one of the above or a digest mismatch
(a loud ``CacheCorruptionError``), never silently wrong data.

A transition sidecar left by a crash makes ``sha256sum -c`` report one of its
two lines as FAILED until the next write; our reader accepts it.

Writing *without* checksum removes an existing sidecar first (before the
rename), so a stale digest can never vouch for, or falsely reject, new data.

On any failure before the renames the temp files are removed and the target
and its sidecar are untouched; that includes ``KeyboardInterrupt`` and other
``BaseException`` (cleanup never depends on the exception type, and the
exception propagates unchanged). If the data rename itself fails after the
transition sidecar is in place, the sidecar still accepts the old data.

Missing parent directories are created top-down, each new one's parent
fsynced (:func:`make_dirs`, see :mod:`peak_trade._durable`), so a file is
never durable inside a directory that is not; directories that already
exist cost no fsync.

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
import queue
import re
import secrets
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from peak_trade import _durable
from peak_trade.errors import CacheCorruptionError, CacheIOError, PeakTradeError

__all__ = [
    "SIDECAR_SUFFIX",
    "HashingWriter",
    "atomic_write_bytes",
    "find_temp_files",
    "finish_transition",
    "fsync_dir",
    "io_error",
    "is_temp_name",
    "make_dirs",
    "open_atomic",
    "read_file",
    "sha256_of",
    "read_sidecar",
    "read_sidecar_digests",
    "sidecar_accepts",
    "sidecar_text",
    "sha256_file",
    "sidecar_path",
    "temp_file_in_use",
    "temp_path_for",
    "try_remove_stale_temp",
]

SIDECAR_SUFFIX = ".sha256"

# Writes smaller than this are gathered before hashing and writing: pyarrow
# and the text encoders emit many small pieces, and one syscall plus one hash
# update per MiB is far cheaper than one per piece.
_BUFFER_SIZE = 1 << 20
_QUEUE_CHUNKS = 8

# ".<name>.<pid>.<16 hex>.tmp" -- specific enough that cleanup never touches a
# user's own dot-files that merely end in ".tmp".
_TEMP_RE = re.compile(r"^\..+\.\d+\.[0-9a-f]{16}\.tmp$")

# "<64 hex>  <name>" (text mode) or "<64 hex> *<name>" (binary mode), or a bare digest.
_SIDECAR_RE = re.compile(r"^([0-9a-fA-F]{64})(?:(?: \*|  )(.+))?$")
_MAX_SIDECAR_LINES = 4

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


def io_error(exc: OSError, operation: str, path: Path) -> CacheIOError:
    """Wrap an ``OSError`` in a ``PeakTradeError`` with a hint chosen by ``errno``.

    One place decides the wrapping, so when :mod:`peak_trade.errors` gains a
    dedicated filesystem error class only this function changes. The caller
    raises the result ``from exc``.
    """
    code = exc.errno if exc.errno is not None else 0
    hint = _ERRNO_HINTS.get(code, "Check that the path is valid, writable and on a healthy disk.")
    return CacheIOError(
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
        _durable.fsync_dir(directory)
    except OSError as exc:
        raise io_error(exc, "fsync directory", directory) from exc


def make_dirs(directory: Path, *, for_path: Path | None = None) -> None:
    """Create ``directory`` and its missing parents durably (each new one's parent fsynced).

    See :mod:`peak_trade._durable`. ``for_path`` names the file the directory
    is created for in the error message.
    """
    try:
        _durable.make_dirs_durably(directory)
    except OSError as exc:
        raise io_error(exc, "create directory for", for_path or directory) from exc


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


def find_temp_files(directory: Path, *, recursive: bool = True) -> list[Path]:
    """Our temp files under ``directory`` (sorted; symlinks not followed; none if missing)."""
    found: list[Path] = []
    pending = [Path(directory)]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone meanwhile, or not a directory at all
        except OSError as exc:
            raise io_error(exc, "list directory", current) from exc
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    pending.append(current / entry.name)
            elif is_temp_name(entry.name) and entry.is_file(follow_symlinks=False):
                found.append(current / entry.name)
    return sorted(found)


def temp_file_in_use(path: Path) -> bool:
    """Whether a live writer holds ``path``'s lock (its temp file is still being written).

    Probes with a non-blocking ``flock`` and releases at once; a vanished file
    is not in use.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise io_error(exc, "open temp file", path) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError as exc:
        raise io_error(exc, "lock temp file", path) from exc
    finally:
        os.close(fd)
    return False


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


def read_file(path: Path) -> memoryview:
    """Read a whole file into memory once, into one buffer from pyarrow's allocator.

    The buffer is not zero-filled first and its pages are reused from one read
    to the next (a fresh ``bytearray`` of a 200 MB file cost more than the read
    itself). Parse it in place: ``pa.py_buffer``, ``pa.BufferReader`` and
    ``io.BytesIO`` take the view; hash it with :func:`sha256_of`. The view
    keeps the buffer alive.

    Raises the ``OSError`` unwrapped: a missing file means different things to
    different callers (a cache miss, a corrupt manifest).
    """
    import pyarrow as pa

    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        view = memoryview(pa.allocate_buffer(size)).cast("B")
        pos = 0
        while pos < size:
            n = fh.readinto(view[pos:])
            if not n:
                break  # shrank meanwhile (not our writers: they never modify in place)
            pos += n
        extra = fh.read()  # empty unless the file grew while we read it
    if extra:
        return memoryview(bytes(view[:pos]) + extra)
    return view[:pos] if pos < size else view


def sha256_of(data: memoryview | bytes) -> str:
    """Hex SHA-256 of a buffer (``hashlib`` releases the GIL while it hashes)."""
    return hashlib.sha256(data).hexdigest()


def sidecar_path(path: Path) -> Path:
    """The checksum sidecar of ``path``: ``<path>.sha256``."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def sidecar_text(digests: str | Iterable[str], path: Path) -> bytes:
    """Sidecar content for ``path``: one ``sha256sum -c`` line per digest (newest first)."""
    lines = [digests] if isinstance(digests, str) else list(digests)
    return "".join(f"{digest}  {path.name}\n" for digest in lines).encode()


def read_sidecar(path: Path) -> str | None:
    """The lowercase hex digest recorded for ``path``, or ``None`` without a sidecar.

    The newest digest, when a crashed writer left a transition sidecar (see
    :func:`read_sidecar_digests`).

    Raises:
        CacheCorruptionError: the sidecar exists but is malformed.
    """
    digests = read_sidecar_digests(path)
    return None if digests is None else digests[0]


def read_sidecar_digests(path: Path) -> tuple[str, ...] | None:
    """Every digest the sidecar of ``path`` accepts (newest first), ``None`` without one.

    Normally one. During a replacement the writer briefly records the new and
    the old digest, so that a crash between renaming the data and finishing
    the sidecar leaves a file that is exactly one of the two (module docstring).
    The file name after each digest is not compared with ``path.name``: a file
    moved together with its sidecar still verifies.

    Raises:
        CacheCorruptionError: the sidecar exists but is not 1-4 digest lines.
    """
    side = sidecar_path(path)
    try:
        raw = side.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise io_error(exc, "read checksum sidecar", side) from exc
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        lines = []
    matches = [_SIDECAR_RE.match(line) for line in lines]
    if not 1 <= len(matches) <= _MAX_SIDECAR_LINES or any(m is None for m in matches):
        raise CacheCorruptionError(
            f"Checksum sidecar {str(side)!r} is malformed",
            hint="Delete the file and its .sha256 sidecar and write or fetch the data again.",
            context={"path": str(path), "sidecar": str(side), "content": raw[:300]},
        )
    return tuple(m.group(1).lower() for m in matches if m is not None)


def sidecar_accepts(accepted: tuple[str, ...] | None, actual: str | None) -> bool:
    """Whether a file whose SHA-256 is ``actual`` verifies against its sidecar's digests.

    The one rule, used by the verified read (:func:`peak_trade.data.atomic_read`)
    and by :meth:`peak_trade.data.OhlcvCache.verify`, so verify never calls a
    file bad that a read accepts, or the other way round: the digest must be
    one the sidecar lists (``accepted``, from :func:`read_sidecar_digests`:
    one line normally, two after a writer died mid-replacement). No sidecar
    accepts nothing.
    """
    return accepted is not None and actual is not None and actual in accepted


def finish_transition(path: Path) -> bool:
    """Rewrite a transition sidecar left by a dead writer to the data's own digest.

    A writer killed mid-replacement may leave a sidecar listing two digests
    (module docstring). The file is intact (it is one of them) and reads
    fine, but ``sha256sum -c`` reports the other line as FAILED. Under the
    directory lock (no writer of the path is mid-rename) the data is hashed
    again and, if the sidecar still accepts it, the sidecar is replaced by one
    line with that digest. The data file is never touched. Returns whether the
    sidecar was rewritten (``False``: nothing to finish, or the data matches
    no line: that is damage, not an unfinished write).
    """
    path = Path(path)
    side = sidecar_path(path)
    with _directory_lock(path):
        accepted = read_sidecar_digests(path)
        if accepted is None or len(accepted) < 2 or not path.is_file():
            return False
        actual = sha256_file(path)
        if not sidecar_accepts(accepted, actual):
            return False
        tmp = _write_all_fsync(side, sidecar_text(actual, path), fsync=True)
        try:
            _replace(tmp, side)
        except BaseException:
            _unlink_quietly(tmp)
            raise
    fsync_dir(path.parent)
    return True


class HashingWriter:
    """A binary, write-only file object that SHA-256-hashes every byte it writes.

    Small writes are gathered into 1 MiB chunks (hash and ``os.write`` once
    per MiB). Chunks go to a helper thread that hashes and writes them while
    the caller (pyarrow compressing the next pages, say) carries on: both
    ``hashlib`` and ``os.write`` release the GIL, so on two cores the digest
    costs almost no wall time. Only immutable ``bytes`` or our own buffers are
    handed over; other large buffers are copied first, since the caller may
    reuse them. The thread starts at the first full chunk, so small files
    never start one, and at most ``_QUEUE_CHUNKS`` chunks are in flight.

    An error in the helper (disk full) is raised by the next ``write`` or by
    ``flush``/``close``. ``tell()`` counts bytes accepted, which is what
    pyarrow's ``PythonFile`` asks for. ``close()`` flushes and waits but does
    not close the descriptor: that belongs to :func:`open_atomic`, which must
    still ``fsync`` and rename the file after a serialiser "closed" its sink.
    """

    def __init__(self, fd: int, path: Path, *, hashing: bool = True) -> None:
        self._fd = fd
        self._path = path
        self._hash = hashlib.sha256() if hashing else None
        self._buf = bytearray()
        self._size = 0
        self._closed = False
        self._queue: queue.Queue[bytes | bytearray | None] = queue.Queue(_QUEUE_CHUNKS)
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None

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
        self._raise_helper_error()
        view = memoryview(data).cast("B")
        n = view.nbytes
        if n >= _BUFFER_SIZE:
            self._hand_over_buffer()
            self._submit(data if isinstance(data, bytes) else view.tobytes())
        else:
            self._buf += view
            if len(self._buf) >= _BUFFER_SIZE:
                self._hand_over_buffer()
        self._size += n
        return n

    def flush(self) -> None:
        """Write out everything accepted so far and wait until it is written."""
        if self._worker is None:
            if self._buf:
                chunk, self._buf = self._buf, bytearray()
                self._process(chunk)
            return
        self._hand_over_buffer()
        self._queue.join()
        self._raise_helper_error()

    def close(self) -> None:
        if not self._closed:
            try:
                self.flush()
            finally:
                self._closed = True
                self._stop()

    def abort(self) -> None:
        """Stop the helper thread without writing what is still queued."""
        self._closed = True
        if self._error is None:
            self._error = _Aborted()
        self._stop()

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # --- results ----------------------------------------------------------------
    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def hexdigest(self) -> str | None:
        """Hex SHA-256 of everything written, or ``None`` if not hashing."""
        if not self._closed:
            self.flush()
        return None if self._hash is None else self._hash.hexdigest()

    # --- internals -----------------------------------------------------------
    def _hand_over_buffer(self) -> None:
        if self._buf:
            chunk, self._buf = self._buf, bytearray()
            self._submit(chunk)

    def _submit(self, chunk: bytes | bytearray) -> None:
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._run, name="peak-trade-hashing-writer", daemon=True
            )
            self._worker.start()
        self._queue.put(chunk)
        self._raise_helper_error()

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            try:
                if chunk is None:
                    return
                if self._error is None:
                    self._process(chunk)
            except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread
                self._error = exc
            finally:
                self._queue.task_done()

    def _stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join()

    def _raise_helper_error(self) -> None:
        if self._error is not None and not isinstance(self._error, _Aborted):
            raise self._error

    def _process(self, chunk: bytes | bytearray) -> None:
        view = memoryview(chunk)
        if self._hash is not None:
            self._hash.update(view)  # releases the GIL for large chunks
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            raise io_error(exc, "write temp file for", self._path) from exc


class _Aborted(Exception):
    """Marks a writer stopped by :meth:`HashingWriter.abort` (never raised)."""


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
        except BaseException as exc:  # Ctrl-C included: never leave the file behind
            _unlink_quietly(tmp)
            os.close(fd)
            if isinstance(exc, OSError):
                raise io_error(exc, "lock temp file for", path) from exc
            raise
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _write_all_fsync(path: Path, payload: bytes, *, fsync: bool) -> Path:
    """Write ``payload`` to a locked temp file next to ``path``; return the temp path."""
    fd, tmp = _create_locked_temp(path)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    except BaseException as exc:  # Ctrl-C included: remove it while still holding the lock
        _unlink_quietly(tmp)
        if isinstance(exc, OSError):
            raise io_error(exc, "write temp file for", path) from exc
        raise
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
    if not path.parent.is_dir():
        make_dirs(path.parent, for_path=path)
    fd, tmp = _create_locked_temp(path)
    side_temps: list[Path] = []
    writer = HashingWriter(fd, path, hashing=checksum)
    try:
        try:
            yield writer
            writer.close()
            if fsync:
                os.fsync(fd)
        except OSError as exc:
            raise io_error(exc, "write temp file for", path) from exc
        digest = writer.hexdigest()
        if digest is None:
            with _directory_lock(path):
                _remove_sidecar(path)
                _replace(tmp, path)
        else:
            _commit_with_sidecar(tmp, path, digest, side_temps, fsync=fsync)
        if fsync:
            fsync_dir(path.parent)
    except BaseException:
        writer.abort()  # the helper thread must be gone before the descriptor is
        for leftover in (tmp, *side_temps):
            _unlink_quietly(leftover)
        raise
    finally:
        os.close(fd)  # releases the flock only now: the temp name is gone or removed


@contextlib.contextmanager
def _directory_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``'s directory while renaming into it.

    Writers of one path must not interleave their renames, or the data of one
    and the sidecar of another end up side by side (and fail verification for
    good). The directory itself is the lock: no lock file is left next to every
    data file, and the kernel drops the lock when a holder dies. It guards the
    renames only (and reading the sidecar they depend on), never the slow
    serialising, hashing and fsyncing of the data, which writers of one path or
    directory still do in parallel. The wait is the kernel's (no polling): the
    holder keeps it for a few renames.
    """
    directory = path.parent
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise io_error(exc, "open directory of", path) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise io_error(exc, "lock directory of", path) from exc
        yield
    finally:
        os.close(fd)  # releases the lock


def _remove_sidecar(path: Path) -> None:
    """Without checksum: a stale digest must not outlive the data it describes."""
    side = sidecar_path(path)
    try:
        os.unlink(side)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise io_error(exc, "remove stale checksum sidecar", side) from exc


def _replace(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError as exc:
        raise io_error(exc, "rename temp file onto", dst) from exc


def _previous_digests(path: Path, digest: str) -> list[str]:
    """Digests the current sidecar accepts, other than ``digest`` (none if unreadable)."""
    try:
        old = read_sidecar_digests(path)
    except PeakTradeError:
        return []  # malformed or unreadable: the old state already fails verification
    if old is None or not path.exists():
        return []
    return [d for d in old if d != digest][: _MAX_SIDECAR_LINES - 1]


def _commit_with_sidecar(
    tmp: Path, path: Path, digest: str, side_temps: list[Path], *, fsync: bool
) -> None:
    """Rename data and sidecar into place so that no kill can leave a mismatch.

    Renames after an fsync wait for the filesystem journal and take
    milliseconds; the crash tests killed writers between two renames in
    several percent of trials. So when the target already has a digest, the
    sidecar goes through a transition state that accepts both::

        sidecar := "new, old"   (old data still verifies)
        data    := new          (new data verifies)
        sidecar := "new"

    Both sidecar temp files are written and fsynced before the first rename,
    the transition one from the digests read before taking the directory lock.
    Under the lock the sidecar is read again: if another writer of the same
    path committed meanwhile, the transition file is written afresh, so it
    always names the data that is really there. Temp paths are appended to
    ``side_temps`` for the caller's cleanup.
    """
    side = sidecar_path(path)
    final = _write_all_fsync(side, sidecar_text(digest, path), fsync=fsync)
    side_temps.append(final)
    previous = _previous_digests(path, digest)
    transition = _transition_temp(path, digest, previous, side_temps, fsync=fsync)
    with _directory_lock(path):
        current = _previous_digests(path, digest)
        if current != previous:  # another writer of this path committed meanwhile
            if transition is not None:
                _unlink_quietly(transition)
            transition = _transition_temp(path, digest, current, side_temps, fsync=fsync)
        if transition is not None:
            _replace(transition, side)
            _replace(tmp, path)
            _replace(final, side)
        else:
            # No old digest to keep: a kill between these renames leaves either no
            # data (first write: reads as "not found") or data the digest rejects.
            _replace(final, side)
            _replace(tmp, path)


def _transition_temp(
    path: Path, digest: str, previous: list[str], side_temps: list[Path], *, fsync: bool
) -> Path | None:
    """A fsynced temp sidecar accepting ``digest`` and ``previous`` (None if no previous)."""
    if not previous:
        return None
    side = sidecar_path(path)
    transition = _write_all_fsync(side, sidecar_text([digest, *previous], path), fsync=fsync)
    side_temps.append(transition)
    return transition


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
