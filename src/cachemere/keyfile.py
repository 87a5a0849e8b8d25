"""Generated signing secrets kept in files: the file cache's and a SQLite cache database's.

Used only when neither ``OPTIONS["SIGNING_KEY"]`` nor ``SECRET_KEY`` is set.
A key file is created once, atomically (the first creator wins), 0o600 and
fsynced; one owned by another user, readable by others or of the wrong size
is refused, never used.  docs/filebased.md and docs/db.md say when to
configure a secret instead.
"""

from __future__ import annotations

import os
import secrets
import stat

from .exceptions import ImproperlyConfigured

KEY_SIZE = 32
SUFFIX = ".cachemere-key"
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
)


def key_path(database_file: str) -> str:
    """Where the key of SQLite database file ``database_file`` is kept."""
    return database_file + SUFFIX


def load_or_create(path: str) -> bytes:
    """The secret in ``path``, created (0o600, atomically: the first creator wins) if missing."""
    return load_or_create_with_identity(path)[0]


def load_or_create_with_identity(path: str) -> tuple[bytes, tuple[int, int]]:
    """:func:`load_or_create`, with the file's ``(st_dev, st_ino)`` to notice a replaced file later."""
    try:
        try:
            data, info = _read(path)
        except FileNotFoundError:
            _create(path)
            data, info = _read(path)
    except OSError as exc:
        raise ImproperlyConfigured(f"the signing key file {path!r} cannot be used: {exc}") from exc
    problem = _problem(info, data)
    if problem:
        raise ImproperlyConfigured(f"the signing key file {path!r} {problem}; remove it")
    return data, (info.st_dev, info.st_ino)


def _read(path: str) -> tuple[bytes, os.stat_result]:
    fd = os.open(path, _READ_FLAGS)
    try:
        return os.read(fd, 4096), os.fstat(fd)
    finally:
        os.close(fd)


def _create(path: str) -> None:
    # Written in full to a private temp file, then hard-linked into place: no
    # reader ever sees a partial key, and of two concurrent creators one wins.
    directory = os.path.dirname(path) or "."
    temp = f"{path}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temp, _CREATE_FLAGS, 0o600)
    try:
        try:
            os.write(fd, secrets.token_bytes(KEY_SIZE))
            # Losing the key in a crash would turn every stored value into a miss.
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            return
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        os.unlink(temp)


def _problem(info: os.stat_result, data: bytes) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_uid != os.geteuid():
        return f"belongs to uid {info.st_uid}, not to this process (uid {os.geteuid()})"
    if info.st_mode & 0o077:
        return f"is readable or writable by others (mode {stat.S_IMODE(info.st_mode):o}, expected 600)"
    if len(data) != KEY_SIZE:
        return f"holds {len(data)} bytes instead of {KEY_SIZE}"
    return None
