"""An exclusive inter-process lock on a file (``fcntl.flock``) with a timeout.

Used by :class:`~peak_trade.data.manifest.CacheManifest` so that processes
recording files at the same time serialise their read-modify-write cycles.

Why ``flock`` and a separate lock file:

* ``flock`` locks belong to the open file description, so two :class:`FileLock`
  objects contend even inside one process (threads included), and the kernel
  drops the lock when the holder dies: a crashed writer never leaves a stale lock.
* The manifest itself is replaced by rename on every write, so locking it would
  lock an inode that is about to disappear; the lock file is never replaced or
  deleted (deleting it would let two processes lock two different inodes).

Waiting uses non-blocking attempts with exponential back-off, so the timeout is
honoured exactly and tests can drive it with a
:class:`~peak_trade.clock.ManualClock` instead of sleeping. POSIX only.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
from pathlib import Path
from types import TracebackType

from peak_trade.clock import Clock, system_clock
from peak_trade.data._fs import io_error
from peak_trade.errors import InvalidArgumentError, OperationTimeoutError, PeakTradeError

__all__ = ["FileLock"]

_FIRST_DELAY_S = 0.001
_MAX_DELAY_S = 0.05


class FileLock:
    """Exclusive lock on ``path`` (created if missing), as a context manager.

    ::

        with FileLock(root / "manifest.json.lock", timeout=30.0):
            ...  # read, modify, write

    Not reentrant: acquiring a lock this object already holds is an error.

    Args:
        path: the lock file. Its directory must exist.
        timeout: seconds to wait for the lock (``0`` tries once, ``math.inf`` waits forever).
        clock: time source for the deadline and the back-off sleeps.

    Raises:
        OperationTimeoutError: (on acquire) the lock was not free within ``timeout``.
        PeakTradeError: (on acquire) the lock file cannot be opened or locked.
    """

    __slots__ = ("_clock", "_fd", "path", "timeout")

    def __init__(
        self, path: str | os.PathLike[str], timeout: float = 30.0, *, clock: Clock | None = None
    ) -> None:
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or math.isnan(timeout)
            or timeout < 0
        ):
            raise InvalidArgumentError(
                f"Lock timeout must be a number >= 0, got {timeout!r}.",
                hint="Pass the seconds to wait, e.g. timeout=30.0 (math.inf waits forever).",
                context={"timeout": repr(timeout), "path": str(path)},
            )
        self.path = Path(path)
        self.timeout = float(timeout)
        self._clock: Clock = clock or system_clock
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout`` seconds."""
        if self._fd is not None:
            raise InvalidArgumentError(
                f"FileLock on {self.path} is already held by this object (it is not reentrant).",
                hint="Release it before acquiring it again, or use one `with` block.",
                context={"path": str(self.path)},
            )
        fd = self._open()
        try:
            self._wait_for_lock(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (no-op if not held). The lock file stays (see module docs)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)  # closing releases the lock even if LOCK_UN failed

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"FileLock({str(self.path)!r}, timeout={self.timeout!r}, locked={self.locked})"

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise io_error(exc, "open lock file", self.path) from exc

    def _wait_for_lock(self, fd: int) -> None:
        start = self._clock.monotonic()
        delay = _FIRST_DELAY_S
        attempts = 0
        while True:
            attempts += 1
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise PeakTradeError(
                        f"Cannot lock {self.path}: {exc.strerror or exc}",
                        hint="The file system may not support flock (some network mounts); "
                        "keep the cache on a local disk.",
                        context={"path": str(self.path), "errno": exc.errno},
                    ) from exc
            waited = self._clock.monotonic() - start
            remaining = self.timeout - waited
            if remaining <= 0:
                raise OperationTimeoutError(
                    f"Timed out after {waited:.3f}s waiting for the lock on {self.path}.",
                    hint="Another process holds it (a long write, or a hung process: check "
                    "`fuser` / `lsof` on the file); raise lock_timeout if writes are slow.",
                    context={
                        "path": str(self.path),
                        "timeout": self.timeout,
                        "attempts": attempts,
                    },
                )
            self._clock.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_DELAY_S)
