"""The on-disk layout of a file-based cache, and the state its processes share.

Layout of a cache directory (``LOCATION``)::

    .cachemere/          metadata (mode 0o700)
        key              the generated signing key (0o600), when none is configured
        count            live entries per lock stripe: 16 little-endian int64
        lock-0 .. lock-f flock files, one per stripe
        cull             flock taken (without waiting) by the process that culls
        live-<pid>       flock held (shared) by each process using the directory: see owners
    00/ .. ff/           shards: ``<md5 of made key>.cache`` files, and ``.<pid>-<n>.tmp``
                         temp files (being written, or spares kept for reuse: see filespares)

A key's shard is the first two hex digits of its hash, its stripe the first
one, so a stripe covers 16 shards.  Every change to a cache file (replace,
unlink) happens under its stripe's lock, which also guards the stripe's slot
in the ``count`` file: the entry count is exact across processes without
listing a directory.  The counts are mapped into memory, so keeping them costs
no system call beyond the lock itself.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import mmap
import os
import stat
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ... import keyfile
from ...exceptions import ImproperlyConfigured
from .owners import ORPHAN_AGE as ORPHAN_AGE  # re-exported: the age rule lives with the owners
from .owners import Owners, hold
from .spares import SparePool

STRIPES = 16
SHARDS = tuple(f"{i:02x}" for i in range(256))
_SHARD_NAMES = frozenset(SHARDS)
META = ".cachemere"
SUFFIX = ".cache"
TEMP_SUFFIX = ".tmp"
#: Entries a scan queues for the next culls (per process and directory).
QUEUE_SIZE = 100_000

_HEX = frozenset("0123456789abcdef")
_NAME_LENGTH = 32 + len(SUFFIX)
_COUNTS = struct.Struct(f"<{STRIPES}q")
_OPEN_FLAGS = os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS

# Unique temp names without a random call per write: pid plus a counter
# (itertools.count is atomic under the GIL).  A leftover name from an earlier
# process with the same pid is skipped by O_EXCL.
_temp_names = itertools.count(int.from_bytes(os.urandom(3), "big"))
_pid = os.getpid()


def is_cache_name(name: str) -> bool:
    """True for the name of a cache file (``<32 hex digits>.cache``)."""
    return len(name) == _NAME_LENGTH and name.endswith(SUFFIX) and _HEX.issuperset(name[:32])


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def make_dirs(path: str) -> None:
    """Create ``path`` and its missing parents, each with mode 0o700 whatever the umask.

    The mode is set by ``chmod`` after ``mkdir`` instead of by changing the
    process umask, which would race with other threads (CVE-2020-24584,
    CVE-2026-25674).  An existing directory keeps its mode.
    """
    missing = []
    current = path
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for level in reversed(missing):
        try:
            os.mkdir(level, 0o700)
        except FileExistsError:
            if not os.path.isdir(level):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), level) from None
            continue  # another process made it (and set its mode)
        os.chmod(level, 0o700)


def temp_name(directory: str) -> str:
    """A new name for a temp file in ``directory`` (unique to this process)."""
    return f"{directory}/.{_pid:x}-{next(_temp_names):x}{TEMP_SUFFIX}"


def write_chunks(fd: int, chunks: tuple[bytes | memoryview, ...]) -> int:
    """Write ``chunks`` at the file position; return the bytes written."""
    total = sum(map(len, chunks))
    written = os.writev(fd, chunks)
    if written < total:
        view = memoryview(b"".join(chunks))[written:]
        while view:
            view = view[os.write(fd, view) :]
    return total


def write_temp(directory: str, chunks: tuple[bytes | memoryview, ...], fsync: bool = False) -> str:
    """Write ``chunks`` to a new temp file (mode 0o600) in ``directory``; return its path.

    FileNotFoundError when ``directory`` does not exist (the caller creates it).
    """
    while True:
        path = temp_name(directory)
        try:
            fd = os.open(path, _CREATE_FLAGS, 0o600)
        except FileExistsError:
            continue
        break
    _fill(fd, path, chunks, fsync)
    return path


def _made_by_us(info: os.stat_result, uid: int) -> bool:
    # The cache makes only regular files of its own user, mode 0o600, under
    # one name.  Anything else was planted, and whoever planted it could read
    # what we wrote into it: such a file is never recycled as a spare.
    return (
        stat.S_ISREG(info.st_mode)
        and info.st_uid == uid
        and not info.st_mode & 0o077
        and info.st_nlink == 1
    )


def recyclable_size(path: str, uid: int) -> int:
    """Size of ``path`` if the cache (running as ``uid``) may rewrite it as a spare.

    -1 if missing; -2 for anything else: a symlink, a directory, or a file
    the cache did not make (another owner, a looser mode, a second name).
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return -1
    return info.st_size if _made_by_us(info, uid) else -2


def check_private(directory: str) -> None:
    """Refuse a cache directory that other users could plant files in.

    ``directory`` itself, its metadata directory and every shard must be
    directories of this process's user, not writable by group or others.
    """
    uid = os.geteuid()
    problem = _dir_problem(os.stat(directory), uid)
    if problem:
        raise ImproperlyConfigured(
            f"LOCATION {directory!r} {problem}: other users could plant files in it; "
            f"use a directory only this user can write to (mode 700)"
        )
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name == META or entry.name in _SHARD_NAMES:
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed meanwhile by another process's clear()
                    continue
                problem = _dir_problem(info, uid)
                if problem:
                    raise ImproperlyConfigured(
                        f"{entry.path!r} in the cache directory {problem}; remove it"
                    )


def _dir_problem(info: os.stat_result, uid: int) -> str | None:
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    if info.st_uid != uid:
        return f"belongs to uid {info.st_uid}, not to this process (uid {uid})"
    if info.st_mode & 0o022:
        return f"is writable by group or others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def rewrite_spare(path: str, size: int, chunks: tuple[bytes | memoryview, ...], fsync: bool = False) -> bool:
    """Write ``chunks`` over the spare file ``path`` (``size`` bytes long); False if it is gone."""
    try:
        fd = os.open(path, os.O_WRONLY | _OPEN_FLAGS)
    except FileNotFoundError:  # removed as an orphan by someone's clear() or cull
        return False
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        unlink_quietly(path)  # a symlink in its place: never written through
        return False
    _fill(fd, path, chunks, fsync, size)
    return True


def _fill(fd: int, path: str, chunks: tuple[bytes | memoryview, ...], fsync: bool, size: int = 0) -> None:
    """Write ``chunks`` from the start of temp file ``fd`` (cut to them if it was ``size`` long)
    and close it; on any failure the temp file is removed, never left half-written."""
    try:
        total = write_chunks(fd, chunks)
        if total < size:
            os.ftruncate(fd, total)
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quietly(path)
        raise
    os.close(fd)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def create_once(path: str, data: bytes, fsync: bool = False) -> None:
    """Create ``path`` holding ``data`` (0o600) unless it exists; concurrent creators agree.

    The content is written to a temp file and hard-linked into place, so the
    file is never seen partly written and the first creator wins.
    """
    temp = write_temp(os.path.dirname(path), (data,), fsync)
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        unlink_quietly(temp)


def read_small(path: str, limit: int = 4096) -> tuple[bytes, os.stat_result]:
    fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    try:
        return os.read(fd, limit), os.fstat(fd)
    finally:
        os.close(fd)


# -- the state one directory's users share in this process --------------------


class Handles:
    """This process's open metadata files for one directory: the count mapping and lock files."""

    def __init__(self, meta: str) -> None:
        self.meta = meta
        #: The user the cache's files are made by (taken again after a fork, which may change it).
        self.uid = os.geteuid()
        self.lock_fds: list[int | None] = [None] * STRIPES
        self.cull_fd: int | None = None
        self.live_fd: int | None = None
        path = f"{meta}/count"
        fd = os.open(path, os.O_RDWR | _OPEN_FLAGS)
        try:
            info = os.fstat(fd)
            if info.st_size != _COUNTS.size:
                raise ImproperlyConfigured(
                    f"the entry count file {path!r} is damaged (size {info.st_size}); remove it"
                )
            self.count_id = (info.st_dev, info.st_ino)
            self._map = mmap.mmap(fd, _COUNTS.size)
        finally:
            os.close(fd)
        self.slots = memoryview(self._map).cast("q")
        # Before any temp file is made: from now on they are known to be ours.
        self.live_fd = hold(meta)

    def lock_fd(self, stripe: int) -> int:
        fd = self.lock_fds[stripe]
        if fd is None:
            fd = self.lock_fds[stripe] = os.open(
                f"{self.meta}/lock-{stripe:x}", os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600
            )
        return fd

    def close(self) -> None:
        self.slots.release()
        self._map.close()
        for fd in (*self.lock_fds, self.cull_fd, self.live_fd):
            if fd is not None:
                os.close(fd)
        self.lock_fds = [None] * STRIPES
        self.cull_fd = self.live_fd = None

    def __del__(self) -> None:
        try:
            self.close()
        except (OSError, ValueError, AttributeError):
            pass


class StripeLock:
    """Exclusive access to one stripe, across threads (a lock) and processes (flock).

    Held only around metadata changes (rename, unlink) and the count update,
    except by the read-modify-write operations (incr, touch).
    """

    __slots__ = ("_fd", "_handles", "_index", "_state", "_thread_lock")

    def __init__(self, state: DirState, index: int) -> None:
        self._state = state
        self._index = index
        self._thread_lock = threading.Lock()
        self._fd = -1
        self._handles: Handles | None = None

    def __enter__(self) -> Handles:
        self._thread_lock.acquire()
        try:
            handles = self._state.handles()
            fd = handles.lock_fd(self._index)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        self._fd, self._handles = fd, handles
        return handles

    def __exit__(self, *exc_info: object) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._handles = None
            self._thread_lock.release()

    def _after_fork(self) -> None:
        self._thread_lock = threading.Lock()
        self._handles = None


@dataclass(slots=True)
class ScanEntry:
    path: str
    inode: int
    stripe: int
    mtime_ns: int


@dataclass
class Scan:
    """What a walk over every shard found."""

    live: list[ScanEntry] = field(default_factory=list)
    #: expired or malformed cache files
    dead: list[ScanEntry] = field(default_factory=list)
    counts: list[int] = field(default_factory=lambda: [0] * STRIPES)


class DirState:
    """Locks, entry counts and the generated signing key of one cache directory, per process."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.meta = f"{directory}/{META}"
        self._guard = threading.Lock()
        self._handles: Handles | None = None
        self.locks = [StripeLock(self, i) for i in range(STRIPES)]
        self._cull_lock = threading.Lock()
        self._key: tuple[tuple[int, int], bytes] | None = None
        self.spares = SparePool()
        #: Live entries from the last scan, oldest first: the next culls' victims.
        self.victims: deque[ScanEntry] = deque()

    # -- metadata files ----------------------------------------------------

    def handles(self) -> Handles:
        handles = self._handles
        if handles is None:
            with self._guard:
                handles = self._handles
                if handles is None:
                    handles = self._handles = self._open_handles()
        return handles

    def _open_handles(self) -> Handles:
        make_dirs(self.meta)
        path = f"{self.meta}/count"
        if not os.path.exists(path):
            # Counts are derived data: start from what is on disk (nothing, for a new cache).
            create_once(path, _COUNTS.pack(*scan(self.directory, None).counts))
        handles = Handles(self.meta)
        # A process starting (a preforking server's new worker, say) removes
        # what processes that ended without clean-up left behind.
        with Owners(self.meta) as owners:
            if owners.dead:
                remove_stale_temps(self.directory, owners)
        return handles

    def revalidate(self) -> bool:
        """Drop the metadata files if the directory was removed meanwhile; True if it was."""
        handles = self._handles
        if handles is None:
            return False
        try:
            info = os.stat(f"{self.meta}/count")
            current = (info.st_dev, info.st_ino)
        except FileNotFoundError:
            current = None
        if current == handles.count_id:
            return False
        with self._guard:
            if self._handles is handles:
                # The old handles are closed when the last user drops them.
                self._handles = None
        return True

    def total(self) -> int:
        """Live entries in the whole cache (exact unless something else changed the files)."""
        return sum(self.handles().slots)

    # -- culling lock ----------------------------------------------------------

    def try_cull_lock(self) -> bool:
        """Take the culling lock without waiting; False if someone else is culling."""
        if not self._cull_lock.acquire(blocking=False):
            return False
        try:
            handles = self.handles()
            if handles.cull_fd is None:
                handles.cull_fd = os.open(f"{self.meta}/cull", os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600)
            fcntl.flock(handles.cull_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._cull_lock.release()
            return False
        except BaseException:
            self._cull_lock.release()
            raise
        return True

    def release_cull_lock(self) -> None:
        try:
            handles = self._handles
            if handles is not None and handles.cull_fd is not None:
                fcntl.flock(handles.cull_fd, fcntl.LOCK_UN)
        finally:
            self._cull_lock.release()

    # -- the generated signing key ----------------------------------------------

    def generated_key(self, refresh: bool = False) -> bytes:
        """The secret kept in ``.cachemere/key``, made (once, by whoever comes first) if missing.

        With ``refresh``, re-read it if the file changed (the directory was
        wiped and another process made a new one); otherwise cached.
        """
        cached = self._key
        if cached is not None and not refresh:
            return cached[1]
        with self._guard:
            make_dirs(self.meta)
            data, identity = keyfile.load_or_create_with_identity(f"{self.meta}/key")
            self._key = (identity, data)
            return data

    def key_changed(self) -> bool:
        """True if the key file is no longer the one this process read."""
        cached = self._key
        if cached is None:
            return False
        try:
            info = os.stat(f"{self.meta}/key")
        except FileNotFoundError:
            return False
        return (info.st_dev, info.st_ino) != cached[0]

    def _after_fork(self) -> None:
        # flock belongs to the open file description, which a forked child
        # shares with its parent: the child must open its own.  Closing the
        # inherited descriptors leaves the parent's locks as they are.
        handles = self._handles
        if handles is not None:
            try:
                handles.close()
            except (OSError, ValueError, BufferError):
                pass
        self._guard = threading.Lock()
        self._cull_lock = threading.Lock()
        self._handles = None
        self.spares.forget()
        self.victims = deque()
        for lock in self.locks:
            lock._after_fork()


# Kept for the life of the process, like the directories' metadata files they hold open.
_states: dict[str, DirState] = {}
_states_lock = threading.Lock()


def state_for(directory: str) -> DirState:
    """The process-wide state of ``directory`` (an absolute, normalised path)."""
    state = _states.get(directory)
    if state is None:
        with _states_lock:
            state = _states.get(directory)
            if state is None:
                state = _states[directory] = DirState(directory)
    return state


def _after_fork_in_child() -> None:
    global _pid, _states_lock
    _pid = os.getpid()
    _states_lock = threading.Lock()
    for state in list(_states.values()):
        state._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- walking the shards ---------------------------------------------------------


def shard_dirs(directory: str, stripe: int | None = None) -> Iterator[tuple[int, str]]:
    for name in SHARDS:
        index = int(name[0], 16)
        if stripe is None or index == stripe:
            yield index, f"{directory}/{name}"


def remove_if_stale(owners: Owners, path: str, name: str, now: float | None) -> None:
    """Remove the temp file ``path`` if ``owners`` say it is left over (see :meth:`Owners.stale`)."""
    if owners.stale(path, name, now):
        unlink_quietly(path)


def remove_stale_temps(directory: str, owners: Owners) -> None:
    """Remove, from every shard, the temp files of the processes ``owners`` found gone."""
    for _, shard in shard_dirs(directory):
        try:
            entries = list(os.scandir(shard))
        except FileNotFoundError:
            continue
        for entry in entries:
            if is_temp_name(entry.name):
                remove_if_stale(owners, entry.path, entry.name, None)


def scan(
    directory: str,
    now: float | None,
    expiry_of: Callable[[bytes], float | None] | None = None,
    header_size: int = 0,
    owners: Owners | None = None,
) -> Scan:
    """Walk every shard: count the cache files and sort them into live and dead.

    Without ``expiry_of`` only the counts are filled.  With it, each file's
    header is read; a file whose header ``expiry_of`` rejects (None) or that
    has expired by ``now`` is dead.  With ``owners``, left-over temp files
    (:meth:`Owners.stale`) are removed on the way.
    """
    result = Scan()
    for stripe, shard in shard_dirs(directory):
        try:
            entries = list(os.scandir(shard))
        except FileNotFoundError:
            continue
        for entry in entries:
            name = entry.name
            if not is_cache_name(name):
                if owners is not None and is_temp_name(name):
                    remove_if_stale(owners, entry.path, name, now)
                continue
            result.counts[stripe] += 1
            if expiry_of is None:
                continue
            try:
                header, info = read_small(entry.path, header_size)
            except FileNotFoundError:
                result.counts[stripe] -= 1
                continue
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                header, info = b"", entry.stat(follow_symlinks=False)  # a symlink: dead
            found = ScanEntry(entry.path, info.st_ino, stripe, info.st_mtime_ns)
            expiry = expiry_of(header)
            if expiry is None or (now is not None and expiry <= now):
                result.dead.append(found)
            else:
                result.live.append(found)
    return result


def scanned_file_size(entry: ScanEntry, uid: int) -> int:
    """:func:`recyclable_size` of ``entry``'s file, or -1 if it is not the one the scan saw
    (rewritten or removed since)."""
    try:
        info = os.lstat(entry.path)
    except FileNotFoundError:
        return -1
    if info.st_ino != entry.inode or info.st_mtime_ns != entry.mtime_ns:
        return -1
    return info.st_size if _made_by_us(info, uid) else -2
