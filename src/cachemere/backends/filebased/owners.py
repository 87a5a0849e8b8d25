"""Which process a temp file belongs to, and whether that process is gone.

Temp files (writes in progress and spares, see spares) are named
``.<pid>-<n>.tmp``.  A process removes its spares when it exits normally, but
one that ends through ``os._exit`` (a forked worker of multiprocessing or of
a preforking server) or a signal runs no clean-up.  So each process using a
directory holds a *shared* ``flock`` on ``.cachemere/live-<pid>`` for as long
as it has the directory open; the kernel drops it however the process ends.

A clean-up pass (:class:`Owners`) tries each live file *exclusively* without
waiting: if that succeeds, no process with that pid uses the directory any
more, and its temp files are removed at once, whatever their age.  The
exclusive locks are kept until the pass ends, then the live files are
unlinked; a new process that got the same pid meanwhile waits for them and
checks that the file it locked is still the one in the directory.

Temp files of live processes are kept however old they look (a spare's mtime
is that of its old content, and a test may move ``time.time()`` ahead); only
those of unknown owners fall back on the age rule (:data:`ORPHAN_AGE`).
"""

from __future__ import annotations

import fcntl
import os

#: A temp file of unknown owner untouched this long belongs to a writer that died.
ORPHAN_AGE = 600.0
LIVE_PREFIX = "live-"

_OPEN_FLAGS = os.O_RDWR | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


def live_path(meta: str, pid: int) -> str:
    return f"{meta}/{LIVE_PREFIX}{pid:x}"


def hold(meta: str) -> int:
    """Take this process's shared lock on its live file in ``meta``; return the descriptor."""
    path = live_path(meta, os.getpid())
    while True:
        fd = os.open(path, _OPEN_FLAGS | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            mine, there = os.fstat(fd), os.stat(path)
            if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                return fd
        except FileNotFoundError:
            pass  # a clean-up pass unlinked it while we waited: make a new one
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def temp_owner(name: str) -> int | None:
    """The pid in a temp file's name ``.<pid>-<n>.tmp``, or None."""
    dash = name.find("-")
    if dash < 2:
        return None
    try:
        return int(name[1:dash], 16)
    except ValueError:
        return None


class Owners:
    """One clean-up pass's view of the processes that use a directory (a context manager)."""

    __slots__ = ("_dead", "_meta", "alive")

    def __init__(self, meta: str) -> None:
        self._meta = meta
        #: pid -> descriptor holding its live file exclusively
        self._dead: dict[int, int] = {}
        self.alive: set[int] = set()

    @property
    def dead(self) -> frozenset[int]:
        return frozenset(self._dead)

    def __enter__(self) -> Owners:
        try:
            names = os.listdir(self._meta)
        except FileNotFoundError:
            return self
        for name in names:
            if not name.startswith(LIVE_PREFIX):
                continue
            try:
                pid = int(name[len(LIVE_PREFIX) :], 16)
                fd = os.open(f"{self._meta}/{name}", _OPEN_FLAGS)
            except (ValueError, FileNotFoundError):  # not ours, or another pass took it
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self.alive.add(pid)
                continue
            except BaseException:
                os.close(fd)
                raise
            self._dead[pid] = fd
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        dead, self._dead = self._dead, {}
        for pid, fd in dead.items():
            if exc_type is None:  # their temp files are gone: the live file may go too
                try:
                    os.unlink(live_path(self._meta, pid))
                except FileNotFoundError:
                    pass
            os.close(fd)

    def stale(self, path: str, name: str, now: float | None) -> bool:
        """True if the temp file ``path`` (named ``name``) is left over and may be removed.

        Its process is gone; or nothing says whose it is and it is older than
        :data:`ORPHAN_AGE` at ``now`` (None: never by age).
        """
        owner = temp_owner(name)
        if owner in self._dead:
            return True
        if owner in self.alive or now is None:
            return False
        try:
            return os.stat(path, follow_symlinks=False).st_mtime < now - ORPHAN_AGE
        except FileNotFoundError:
            return False
