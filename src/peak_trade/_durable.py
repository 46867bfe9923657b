"""Directories that survive a power loss: :func:`make_dirs_durably` and :func:`fsync_dir`.

A new file or directory is only durable once the directory that *holds its
name* has been fsynced: fsyncing the file itself persists its bytes, not its
entry. So creating ``a/b/c`` under an existing ``root`` needs ``root`` fsynced
(for ``a``), then ``a`` (for ``b``), then ``b`` (for ``c``); whoever then
renames a file into ``c`` fsyncs ``c``. Skip one and a crash can lose a whole
subtree whose files were each fsynced.

Every place in the package that creates a directory goes through
:func:`make_dirs_durably` (the data files and manifest, the OHLCV cache, the
SQLite store). A directory that already exists costs one ``stat`` and no
fsync. Both functions raise the ``OSError`` unwrapped: each caller wraps it
in its own :class:`~peak_trade.errors.PeakTradeError`.

Base layer: imports nothing from peak_trade.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["fsync_dir", "make_dirs_durably"]


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """``fsync`` a directory, so the creations and renames inside it are durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs_durably(directory: str | os.PathLike[str]) -> list[Path]:
    """Create ``directory`` and its missing parents, top-down, each one durably.

    After each directory is created its parent is fsynced. Returns the
    directories created (empty if ``directory`` existed). A directory that
    another process creates at the same moment counts as created here too (its
    parent is fsynced again: the other process may die before it does).

    Raises:
        NotADirectoryError: a component of the path is a file.
        OSError: permission denied, read-only filesystem, and the like.
    """
    path = Path(directory)
    if path.is_dir():
        return []
    missing: list[Path] = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:  # pragma: no cover - the root always exists
            break
        probe = probe.parent
    created: list[Path] = []
    for new in reversed(missing):
        try:
            os.mkdir(new)
        except FileExistsError:
            if not new.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(new)
                ) from None
        created.append(new)
        fsync_dir(new.parent)
    return created
