"""File-system cache: one signed file per key, shared by every process on the host.

Design (see docs/filebased.md):

* A key's file is ``LOCATION/<2 hex>/<md5 of made key>.cache``: a 13-byte
  header (magic, flags, expiry), the pickled (maybe zlib-compressed) value and
  an HMAC-SHA256 over the made key, the header and the value.  A file whose
  signature does not verify is never unpickled: it is a miss and is removed.
* Writes go to a temp file (a new one, or a recycled "spare": see
  spares) and are renamed into place, so a reader sees the old value, the
  new one or nothing, never a partial write.
* Renames and unlinks happen under a per-stripe lock (a thread lock plus
  ``flock``), which also guards that stripe's entry count in a shared mapped
  file; ``set`` therefore knows the cache's size without listing a directory.
  A scan of the shards happens only when culling.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import pickle
import struct
import time
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from ...exceptions import ImproperlyConfigured
from ...signing import SIGNATURE_SIZE, configured_secret, derive_key, sign, verify
from ..base import DEFAULT_TIMEOUT, BaseCache, Timeout, bool_option, reject_unknown_options
from . import spares as filespares
from . import store as filestore
from .owners import Owners
from .store import SUFFIX, DirState, ScanEntry, is_cache_name, make_dirs, scan

MAGIC: Final = b"CMF1"
HEADER: Final = struct.Struct("<4sBd")  # magic, flags, expiry (epoch seconds; inf: never)
FLAG_ZLIB: Final = 1
#: Pickles at least this large are zlib-compressed when that makes them smaller.
COMPRESS_MIN_SIZE: Final = 4096
OPTIONS: Final = frozenset({"MAX_ENTRIES", "CULL_FREQUENCY", "SIGNING_KEY", "FSYNC"})

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_MIN_SIZE = HEADER.size + SIGNATURE_SIZE
_EXPIRY = struct.Struct("<d")
_KEY_LENGTH = struct.Struct("<I")
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
_READ_SIZE = 65536
_SLOT_MEMO_SIZE = 4096
_WRITE_ATTEMPTS = 8
_INF = math.inf

# (path, shard directory, stripe, key part of the signed message).  A plain
# tuple, not a NamedTuple: on CPython 3.11 a tuple subclass loses the
# specialised index, and a field costs about 6 ns more to read, on every get/set.
Slot = tuple[str, str, int, bytes]


def expiry_of(header: bytes) -> float | None:
    """The expiry in a file's header; None when it is not one of our headers."""
    if len(header) < HEADER.size or not header.startswith(MAGIC):
        return None
    expiry: float = _EXPIRY.unpack_from(header, 5)[0]
    return expiry


def _dumps(value: Any) -> tuple[int, bytes]:
    data = pickle.dumps(value, _PROTOCOL)
    if len(data) >= COMPRESS_MIN_SIZE:
        packed = zlib.compress(data, 1)
        if len(packed) < len(data):
            return FLAG_ZLIB, packed
    return 0, data


def _loads(record: bytes) -> Any:
    payload = memoryview(record)[HEADER.size : -SIGNATURE_SIZE]
    if record[4] & FLAG_ZLIB:
        return pickle.loads(zlib.decompress(payload))
    return pickle.loads(payload)


def _read_file(path: str) -> bytes | None:
    """The content of ``path``; None if missing, b"" (never valid) for a symlink."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink planted in the directory: not ours
            return b""
        raise
    try:
        return _read_fd(fd)
    finally:
        os.close(fd)


def _read_fd(fd: int) -> bytes:
    data = os.read(fd, _READ_SIZE)
    if len(data) < _READ_SIZE:
        return data
    chunks = [data]
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


class _TempVanished(Exception):
    """Our temp file was removed before it was renamed into place."""


def _rename_into(temp: str, path: str, shard: str) -> None:
    try:
        os.rename(temp, path)
    except FileNotFoundError:
        if not os.path.exists(temp):
            raise _TempVanished(temp) from None
        # A spare from another shard, and this shard does not exist (yet, or
        # since a clear()): make it.  The caller's stripe lock keeps clear() out.
        make_dirs(shard)
        os.rename(temp, path)


def _directory(location: Any) -> str:
    try:
        path = os.fspath(location)
    except TypeError:
        path = None
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ImproperlyConfigured(f"LOCATION must be an absolute directory path, got {location!r}")
    return os.path.normpath(path)


class FileBasedCache(BaseCache):
    """Django's file-based cache: signed values, atomic writes, culling without listing.

    ``OPTIONS``: ``MAX_ENTRIES`` and ``CULL_FREQUENCY`` as in Django;
    ``SIGNING_KEY`` (str or bytes; default: the ``SECRET_KEY`` setting, else a
    key generated and kept in the directory); ``FSYNC`` (default False) to
    flush each value to disk before it is renamed into place.
    """

    def __init__(self, location: Any, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        options = params.get("OPTIONS") or {}
        reject_unknown_options(options, OPTIONS)
        self._fsync = bool_option(options, "FSYNC", False)
        self._dir = _directory(location)
        self._state: DirState = filestore.state_for(self._dir)
        self._generated_key = False
        try:
            make_dirs(self._dir)
            filestore.check_private(self._dir)
            self._state.handles()
            secret = self._secret(options)
        except OSError as exc:
            raise ImproperlyConfigured(
                f"LOCATION {self._dir!r} cannot be used as a cache directory: {exc}"
            ) from exc
        self._key = derive_key(secret, "filebased")
        self._slots: dict[str, Slot] = {}

    def _secret(self, options: Mapping[str, Any]) -> bytes:
        secret = configured_secret(options, self.settings)
        if secret is not None:
            return secret
        self._generated_key = True
        return self._state.generated_key()

    @property
    def directory(self) -> str:
        """The cache directory (absolute, normalised)."""
        return self._dir

    # -- files ----------------------------------------------------------------

    def _slot(self, made: str) -> Slot:
        slot = self._slots.get(made)
        if slot is None:
            raw = made.encode("utf-8", "surrogatepass")
            digest = hashlib.md5(raw, usedforsecurity=False).hexdigest()
            shard = f"{self._dir}/{digest[:2]}"
            slot = (f"{shard}/{digest}{SUFFIX}", shard, int(digest[0], 16), _KEY_LENGTH.pack(len(raw)) + raw)
            if len(self._slots) >= _SLOT_MEMO_SIZE:
                self._slots.clear()
            self._slots[made] = slot
        return slot

    def _valid(self, record: bytes, key_part: bytes, now: float) -> bool:
        """True if ``record`` is one of ours, signed for this key and not expired."""
        if len(record) < _MIN_SIZE or not record.startswith(MAGIC):
            return False
        if _EXPIRY.unpack_from(record, 5)[0] <= now:
            return False
        view = memoryview(record)
        signed = key_part + view[:-SIGNATURE_SIZE]
        if verify(self._key, signed, record[-SIGNATURE_SIZE:]):
            return True
        if self._generated_key and self._state.key_changed():
            # The directory was wiped and another process made a new key: adopt it.
            self._key = derive_key(self._state.generated_key(refresh=True), "filebased")
            return self._valid(record, key_part, now)
        return False

    def _read(self, slot: Slot) -> bytes | None:
        """The verified record of ``slot``, or None; a dead file (expired, foreign, forged) is removed."""
        record = _read_file(slot[0])
        if record is None:
            return None
        if self._valid(record, slot[3], time.time()):
            return record
        # Dead, or a retired file being rewritten while we read it: decide
        # under the lock, where the file at this path cannot change.
        with self._state.locks[slot[2]] as handles:
            return self._read_locked(slot, handles)

    def _read_locked(self, slot: Slot, handles: filestore.Handles) -> bytes | None:
        """:meth:`_read` for a caller holding the slot's stripe lock."""
        record = _read_file(slot[0])
        if record is None:
            return None
        if self._valid(record, slot[3], time.time()):
            return record
        self._drop(slot, handles)
        return None

    def _drop(self, slot: Slot, handles: filestore.Handles) -> bool:
        """Remove the slot's file (stripe lock held); False if there was none."""
        if self._retire(slot[0], slot[1], handles.uid):
            handles.slots[slot[2]] -= 1
            return True
        return False

    def _retire(
        self, path: str, shard: str, uid: int, limit: int = filespares.CAPACITY, size: int | None = None
    ) -> bool:
        """Remove ``path`` (stripe lock held), keeping a small file of ours as a spare; False if missing.

        ``size``: the file's :func:`~.store.recyclable_size`, when the caller has just looked.
        """
        spares = self._state.spares
        try:
            if spares.has_room(limit):
                if size is None:
                    size = filestore.recyclable_size(path, uid)
                if 0 <= size <= filespares.MAX_SIZE:
                    spare = filestore.temp_name(shard)
                    os.rename(path, spare)
                    spares.give(spare, size)
                    return True
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    def _write_temp(
        self, slot: Slot, flags: int, expiry: float | None, payload: bytes | memoryview, spares: bool = True
    ) -> str:
        """Write a signed record to a spare or a new temp file; return its path."""
        body = HEADER.pack(MAGIC, flags, _INF if expiry is None else expiry) + payload
        chunks = (body, sign(self._key, slot[3] + body))
        pool = self._state.spares
        while spares and (spare := pool.take()) is not None:
            if filestore.rewrite_spare(spare[0], spare[1], chunks, self._fsync):
                return spare[0]
        for _ in range(_WRITE_ATTEMPTS):
            try:
                return self._new_temp(slot[1], chunks)
            except FileNotFoundError:
                pass
            # The shard does not exist yet, or a concurrent clear() just removed it.
            try:
                make_dirs(slot[1])
            except FileNotFoundError:
                continue
            if self._state.revalidate() and self._generated_key:
                # The whole directory was removed: a new key goes with the new metadata.
                self._key = derive_key(self._state.generated_key(refresh=True), "filebased")
                return self._write_temp(slot, flags, expiry, payload, spares)
        return self._new_temp(slot[1], chunks)

    def _new_temp(self, directory: str, chunks: tuple[bytes | memoryview, ...]) -> str:
        """A new temp file holding ``chunks``; on a full disk, after giving the spares' space back."""
        try:
            return filestore.write_temp(directory, chunks, self._fsync)
        except OSError as exc:
            pool = self._state.spares
            if exc.errno != errno.ENOSPC or not len(pool):
                raise
        # Deleted entries' files may still be held as spares (resting before
        # reuse): free them, so that deleting makes room for this write.
        pool.drain()
        return filestore.write_temp(directory, chunks, self._fsync)

    def _put(
        self, temp: str, slot: Slot, handles: filestore.Handles, record: tuple[int, float | None, Any]
    ) -> None:
        """Rename ``temp`` over the slot's file (stripe lock held), keeping the old file as a spare.

        ``record`` (flags, expiry, payload) is what ``temp`` holds: written
        again should someone's orphan clean-up have taken ``temp`` meanwhile
        (a spare's age is that of its old content, so it can look abandoned).
        """
        try:
            self._rename_over(temp, slot, handles)
        except _TempVanished:
            self._rename_over(self._write_temp(slot, *record, spares=False), slot, handles)

    def _rename_over(self, temp: str, slot: Slot, handles: filestore.Handles) -> None:
        path, spares = slot[0], self._state.spares
        spare = None
        try:
            size = filestore.recyclable_size(path, handles.uid)
            if 0 <= size <= filespares.MAX_SIZE and spares.has_room():
                spare = filestore.temp_name(slot[1])
                try:
                    # Keeps the old inode for the next write; never a symlink's target.
                    os.link(path, spare, follow_symlinks=False)
                except FileNotFoundError:
                    spare, size = None, -1
            _rename_into(temp, path, slot[1])
        except BaseException:
            filestore.unlink_quietly(temp)
            if spare is not None:
                filestore.unlink_quietly(spare)
            raise
        if size == -1:
            handles.slots[slot[2]] += 1
        if spare is not None:
            spares.give(spare, size)

    def _store(self, slot: Slot, value: Any, expiry: float | None, only_new: bool) -> bool:
        flags, payload = _dumps(value)  # before touching the disk: a PickleError changes nothing
        if expiry is not None and expiry <= time.time():
            return self._remove(slot, only_new)
        if self._state.total() >= self._max_entries:
            self._cull()
        temp = self._write_temp(slot, flags, expiry, payload)
        with self._state.locks[slot[2]] as handles:
            if only_new and self._read_locked(slot, handles) is not None:
                filestore.unlink_quietly(temp)
                return False
            self._put(temp, slot, handles, (flags, expiry, payload))
            return True

    def _remove(self, slot: Slot, only_if_dead: bool) -> bool:
        """Store-with-expired-timeout: the key simply goes (for add, only if it was not live)."""
        with self._state.locks[slot[2]] as handles:
            if only_if_dead and self._read_locked(slot, handles) is not None:
                return False
            self._drop(slot, handles)
            return True

    # -- culling ---------------------------------------------------------------

    def _cull(self) -> None:
        if self._cull_frequency == 0:
            self.clear()  # CULL_FREQUENCY 0 empties the cache, as in Django
            return
        state = self._state
        if not state.try_cull_lock():
            return  # another thread or process is at it
        try:
            total = state.total()
            if total < self._max_entries:
                return  # culled by someone else meanwhile
            quota = max(1, total // self._cull_frequency)
            removed = self._evict_queued(quota)
            if removed < quota:
                self._sweep(quota - removed)
        finally:
            state.release_cull_lock()

    def _evict_queued(self, quota: int) -> int:
        """Retire up to ``quota`` of the oldest entries the last scan saw; return how many went.

        Entries written since that scan are younger than every queued one, so
        the queue still lists the oldest entries first; a queued file that was
        rewritten or removed meanwhile is skipped.
        """
        queue = self._state.victims
        removed = 0
        while removed < quota and queue:
            batch = [queue.popleft() for _ in range(min(len(queue), quota - removed))]
            removed += self._retire_scanned(batch, quota, recount=False)
        return removed

    def _sweep(self, quota: int) -> None:
        """Scan every shard: remove the dead files, then the oldest live ones until ``quota`` are gone.

        The rest of the live entries, oldest first, are queued for the next
        culls.  Call with the culling lock held.
        """
        with Owners(self._state.meta) as owners:
            found = scan(self._dir, time.time(), expiry_of, HEADER.size, owners)
        victims = found.dead
        live = sorted(found.live, key=lambda entry: (entry.mtime_ns, entry.path))
        if quota > 0 and len(live) + len(victims) >= self._max_entries:
            extra = max(0, quota - len(victims))
            victims, live = victims + live[:extra], live[extra:]
        self._retire_scanned(victims, len(victims), recount=True)
        self._state.victims = deque(live[: filestore.QUEUE_SIZE])

    def _retire_scanned(self, entries: list[ScanEntry], expected: int, recount: bool) -> int:
        """Retire the entries a scan found, one lock per stripe; return how many went.

        With ``recount``, each stripe's count is then set from its shards,
        which corrects any drift.
        """
        # These files will be needed again as soon as new keys arrive: keep
        # the small ones as spares rather than freeing them.
        limit = min(filespares.CULL_CAPACITY, max(filespares.CAPACITY, expected))
        by_stripe: list[list[ScanEntry]] = [[] for _ in range(filestore.STRIPES)]
        for entry in entries:
            by_stripe[entry.stripe].append(entry)
        retired = 0
        for stripe, group in enumerate(by_stripe):
            if not group and not recount:
                continue
            with self._state.locks[stripe] as handles:
                gone = 0
                for entry in group:
                    size = filestore.scanned_file_size(entry, handles.uid)
                    if size != -1 and self._retire(
                        entry.path, os.path.dirname(entry.path), handles.uid, limit, size
                    ):
                        gone += 1
                if recount:
                    handles.slots[stripe] = self._count_stripe(stripe)
                else:
                    handles.slots[stripe] -= gone
                retired += gone
        return retired

    def _count_stripe(self, stripe: int) -> int:
        count = 0
        for _, shard in filestore.shard_dirs(self._dir, stripe):
            try:
                with os.scandir(shard) as entries:
                    count += sum(1 for entry in entries if is_cache_name(entry.name))
            except FileNotFoundError:
                pass
        return count

    def prune(self) -> None:
        """Remove expired and damaged files and orphaned temp files; fix the entry count.

        Culling does this too; call it (e.g. from a cron job) for a cache that
        rarely fills up.
        """
        if self._state.try_cull_lock():
            try:
                self._sweep(0)
            finally:
                self._state.release_cull_lock()

    # -- the API ---------------------------------------------------------------

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        record = self._read(self._slot(self.make_and_validate_key(key, version)))
        return default if record is None else _loads(record)

    def has_key(self, key: Any, version: Any = None) -> bool:
        return self._read(self._slot(self.make_and_validate_key(key, version))) is not None

    def set(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> None:
        slot = self._slot(self.make_and_validate_key(key, version))
        self._store(slot, value, self.get_backend_timeout(timeout), only_new=False)

    def add(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        slot = self._slot(self.make_and_validate_key(key, version))
        if self._read(slot) is not None:  # the usual "already there": no write at all
            return False
        return self._store(slot, value, self.get_backend_timeout(timeout), only_new=True)

    def touch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        slot = self._slot(self.make_and_validate_key(key, version))
        expiry = self.get_backend_timeout(timeout)
        with self._state.locks[slot[2]] as handles:
            record = self._read_locked(slot, handles)
            if record is None:
                return False
            if expiry is not None and expiry <= time.time():
                self._drop(slot, handles)
                return True
            kept = (record[4], expiry, memoryview(record)[HEADER.size : -SIGNATURE_SIZE])
            self._put(self._write_temp(slot, *kept), slot, handles, kept)
            return True

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        slot = self._slot(self.make_and_validate_key(key, version))
        with self._state.locks[slot[2]] as handles:
            record = self._read_locked(slot, handles)
            if record is None:
                raise ValueError(f"Key '{key}' not found")
            value = _loads(record) + delta
            flags, payload = _dumps(value)
            # The expiry is kept, as memcached and redis keep it.
            expiry = _EXPIRY.unpack_from(record, 5)[0]
            kept = (flags, None if expiry == _INF else expiry, payload)
            self._put(self._write_temp(slot, *kept), slot, handles, kept)
        return value

    def delete(self, key: Any, version: Any = None) -> bool:
        slot = self._slot(self.make_and_validate_key(key, version))
        with self._state.locks[slot[2]] as handles:
            return self._drop(slot, handles)

    def clear(self) -> None:
        """Remove every cache file and empty shard; other files and the directory stay."""
        self._state.spares.drain()
        self._state.victims.clear()
        with Owners(self._state.meta) as owners:
            self._clear_shards(owners, time.time())

    def _clear_shards(self, owners: Owners, now: float) -> None:
        for stripe in range(filestore.STRIPES):
            with self._state.locks[stripe] as handles:
                for _, shard in filestore.shard_dirs(self._dir, stripe):
                    try:
                        entries = list(os.scandir(shard))
                    except FileNotFoundError:
                        continue
                    for entry in entries:
                        if is_cache_name(entry.name):
                            filestore.unlink_quietly(entry.path)
                        elif filestore.is_temp_name(entry.name):
                            filestore.remove_if_stale(owners, entry.path, entry.name, now)
                    try:
                        os.rmdir(shard)
                    except OSError:
                        pass  # foreign files or a writer's temp file: the shard stays
                handles.slots[stripe] = self._count_stripe(stripe)
