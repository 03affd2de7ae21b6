"""Writing into an output folder that other people can also write to: never through a planted link.

Every file mlmon writes in an output folder goes through here. Temporary files get unique names and
are created with O_EXCL | O_NOFOLLOW (a link planted under the name makes the open fail instead of
writing through it), then renamed over their target, which replaces a link rather than following it;
lock files are opened without truncating and without following links; and a link where mlmon would
write is refused with an error that names it.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Iterator

from stores.db import StoreError

# The suffixes SQLite adds next to a database file; a link planted there would be written through too.
SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


class LinkRefused(StoreError):
    """A symbolic link sits where mlmon would write."""


def refuse_link(path: Path) -> None:
    if os.path.islink(path):
        raise LinkRefused(f"{path} is a symbolic link; mlmon does not write through links (remove it)")


def refuse_links(folder: Path, names) -> None:
    for name in names:
        refuse_link(Path(folder) / name)


def refuse_database_links(path: Path) -> None:
    """A SQLite file and its side files (-wal, -shm, -journal) must not be links."""
    refuse_links(Path(path).parent, (Path(path).name + suffix for suffix in SQLITE_SIDE_FILES))


def open_lock(path: Path) -> int:
    """A file descriptor for flock: created if missing, never truncated, never a followed link."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        if os.path.islink(path):
            raise LinkRefused(f"{path} is a symbolic link; mlmon does not write through links (remove it)") from None
        raise


def write_lock_note(fd: int, note: str) -> None:
    """Say who holds a lock (read by whoever waits for it); only the holder writes it."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, note.encode(), 0)


def read_lock_note(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        return os.read(fd, 500).decode(errors="replace").strip()
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Write `path` all or nothing: yields a fresh temporary file beside it, renamed over it on success.

    On any failure (disk full, an interrupt) the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    refuse_link(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    with atomic_file(path) as handle:
        handle.write(data)


def copy_atomic(source: Path, target: Path) -> None:
    """Copy `source` to `target` all or nothing, reading the source without following a link."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as src, atomic_file(target) as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
