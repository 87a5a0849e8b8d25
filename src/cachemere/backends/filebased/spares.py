"""Recycling the files a cache replaces or deletes, instead of creating a new one per write.

An atomic write renames a new file over the old one: each overwrite allocates
one inode and frees another, and on some file systems (ext4 without a journal
in particular) allocating after many frees is slow.  So a process keeps a few
small retired files, *spares*, under temp names, and writes its next value
into one of them before renaming it into place.  A spare is written only while
it is under its temp name, never while a key's name points at it, so the
rename still makes every write atomic.

A reader that opened a file just before it was retired may see it being
rewritten; it then fails the signature check and re-reads under the stripe
lock (see ``FileBasedCache._read``), so it never returns a torn value.  Spares
wait :data:`QUARANTINE` seconds before reuse, which makes that rare.
"""

from __future__ import annotations

import atexit
import os
from collections import deque

# The rest period is measured on the monotonic clock, this module's only one:
# it is not an expiry, so it must not move when a test patches time.time()
# (the clock every expiry in backend.py is computed and compared with).
from time import monotonic

#: Spares kept per process and directory from overwrites and deletes.
CAPACITY = 64
#: A cull may keep up to this many (its victims are the next writes' files).
CULL_CAPACITY = 4096
#: Only files this small are kept (they are rewritten in place).
MAX_SIZE = 64 * 1024
#: Seconds a retired file rests before it is written again.
QUARANTINE = 0.001


class SparePool:
    """This process's spares for one cache directory: (retired at, path, size), oldest first."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque[tuple[float, str, int]] = deque()
        _pools.append(self)

    def __len__(self) -> int:
        return len(self._items)

    def has_room(self, limit: int = CAPACITY) -> bool:
        return len(self._items) < limit

    def give(self, path: str, size: int) -> None:
        self._items.append((monotonic(), path, size))

    def take(self) -> tuple[str, int] | None:
        """A spare that has rested long enough, or None."""
        items = self._items
        if not items or monotonic() - items[0][0] < QUARANTINE:
            return None
        try:
            _, path, size = items.popleft()
        except IndexError:  # another thread took it
            return None
        return path, size

    def forget(self) -> None:
        """Drop the spares without removing them (a forked child: they are the parent's)."""
        self._items = deque()

    def drain(self) -> None:
        """Remove every spare file."""
        items, self._items = self._items, deque()
        for _, path, _ in items:
            try:
                os.unlink(path)
            except OSError:
                pass


# Pools live as long as the process (one per cache directory it uses).
_pools: list[SparePool] = []


@atexit.register
def _drain_all() -> None:
    for pool in _pools:
        pool.drain()
