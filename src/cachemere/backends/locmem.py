"""Local-memory cache: a per-process LRU store, shared by every cache with the same LOCATION."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .base import DEFAULT_TIMEOUT, BaseCache, Timeout
from .copying import AS_IS, SCALARS, freeze, thaw

# An entry is (expiry or None, copy kind, payload); see copying.freeze.
Entry = tuple[float | None, int, Any]


class _Store:
    """One LOCATION's data: least recently used first, most recently used last."""

    __slots__ = ("data", "lock")

    def __init__(self) -> None:
        self.data: OrderedDict[str, Entry] = OrderedDict()
        self.lock = threading.Lock()


_stores: dict[str, _Store] = {}
_stores_lock = threading.Lock()


def _release_inherited_locks() -> None:
    # A forked child has only the thread that forked: a lock some other parent
    # thread held at that moment would never be released, and the child's
    # next write would hang.  No thread of the child holds any of these locks
    # (the forking thread never forks while holding one), so releasing them is
    # safe; every entry is replaced whole, so the data itself is consistent.
    for lock in (_stores_lock, *(store.lock for store in _stores.values())):
        if lock.locked():
            lock.release()


os.register_at_fork(after_in_child=_release_inherited_locks)


def _store_for(name: str) -> _Store:
    with _stores_lock:
        store = _stores.get(name)
        if store is None:
            store = _stores[name] = _Store()
        return store


class _ExpiryView(Mapping[str, "float | None"]):
    """Made key -> expiry of one store: what Django's ``LocMemCache._expire_info`` holds (read-only)."""

    __slots__ = ("store",)

    def __init__(self, store: _Store) -> None:
        self.store = store

    def __getitem__(self, key: str) -> float | None:
        return self.store.data[key][0]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.store.data))

    def __len__(self) -> int:
        return len(self.store.data)


class LocMemCache(BaseCache):
    """Thread-safe LRU cache in this process's memory.

    Reads take no lock: single dict operations are atomic, and an entry is
    replaced as a whole, never changed in place.  Writes hold the store's lock
    only for the dict operations; values are copied before it is taken.
    """

    blocking = False
    known_options = frozenset({"MAX_ENTRIES", "CULL_FREQUENCY"})

    def __init__(self, name: str, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self._use(_store_for(str(name)))
        # get/set compute the default expiry inline unless a subclass changes the rule.
        self._inline_timeout = type(self).get_backend_timeout is BaseCache.get_backend_timeout

    def _use(self, store: _Store) -> None:
        self._store = store
        self._data = store.data
        self._lock = store.lock

    # Django's LocMemCache has ``_cache`` (the data) and ``_expire_info`` (key ->
    # expiry); code written for it (Django's own tests among it) reads them,
    # and assigns another cache's to share its store.
    @property
    def _cache(self) -> _Store:
        return self._store

    @_cache.setter
    def _cache(self, store: _Store) -> None:
        self._use(store)

    @property
    def _expire_info(self) -> _ExpiryView:
        return _ExpiryView(self._store)

    @_expire_info.setter
    def _expire_info(self, view: _ExpiryView) -> None:
        self._use(view.store)

    # Callers must hold the lock.
    def _cull(self) -> None:
        data = self._data
        if self._cull_frequency == 0:
            data.clear()
            return
        for _ in range(len(data) // self._cull_frequency):
            data.popitem(last=False)

    def _put(self, key: str, entry: Entry) -> None:
        data = self._data
        if len(data) >= self._max_entries:
            self._cull()
        data[key] = entry
        data.move_to_end(key)

    def _live(self, key: str) -> Entry | None:
        """The entry for ``key``; an expired one is dropped and None returned."""
        entry = self._data.get(key)
        if entry is None:
            return None
        expiry = entry[0]
        if expiry is not None and expiry <= time.time():
            with self._lock:
                if self._data.get(key) is entry:
                    del self._data[key]
            return None
        return entry

    # get and set are the hot paths: set computes the default expiry inline,
    # saving a method call.
    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version)
        entry = self._data.get(key)
        if entry is None:
            return default
        expiry = entry[0]
        if expiry is not None and expiry <= time.time():
            self._live(key)
            return default
        try:
            self._data.move_to_end(key)
        except KeyError:  # deleted by another thread meanwhile: still a hit for us
            pass
        return entry[2] if entry[1] == AS_IS else thaw(entry[1], entry[2])

    def set(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> None:
        key = self.make_and_validate_key(key, version)
        if timeout is DEFAULT_TIMEOUT and self._inline_timeout:
            timeout = self.default_timeout
            expiry = None if timeout is None else time.time() + timeout
        else:
            expiry = self.get_backend_timeout(timeout)
        entry = (expiry, AS_IS, value) if type(value) in SCALARS else (expiry, *freeze(value))
        data, lock = self._data, self._lock
        lock.acquire()  # cheaper than a with-statement on this path
        try:
            if len(data) >= self._max_entries:
                self._cull()
            data[key] = entry
            data.move_to_end(key)
        finally:
            lock.release()

    def add(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version)
        entry = (self.get_backend_timeout(timeout), *freeze(value))
        with self._lock:
            current = self._data.get(key)
            if current is not None and (current[0] is None or current[0] > time.time()):
                return False
            self._put(key, entry)
            return True

    def touch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version)
        expiry = self.get_backend_timeout(timeout)
        with self._lock:
            entry = self._data.get(key)
            if entry is None or (entry[0] is not None and entry[0] <= time.time()):
                return False
            self._data[key] = (expiry, entry[1], entry[2])
            return True

    def delete(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            return self._data.pop(key, None) is not None

    def has_key(self, key: Any, version: Any = None) -> bool:
        return self._live(self.make_and_validate_key(key, version)) is not None

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            entry = self._data.get(key)
            if entry is None or (entry[0] is not None and entry[0] <= time.time()):
                self._data.pop(key, None)
                raise ValueError(f"Key '{key}' not found")
            new_value = thaw(entry[1], entry[2]) + delta
            # The expiry is kept, as memcached and redis keep it.
            self._data[key] = (entry[0], *freeze(new_value))
            self._data.move_to_end(key)
            return new_value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        data, now = self._data, time.time()
        found = {}
        raws = list(keys)
        for raw, key in zip(raws, self.make_and_validate_keys(raws, version)):
            entry = data.get(key)
            if entry is None:
                continue
            if entry[0] is not None and entry[0] <= now:
                self._live(key)
                continue
            try:
                data.move_to_end(key)
            except KeyError:
                pass
            found[raw] = entry[2] if entry[1] == AS_IS else thaw(entry[1], entry[2])
        return found

    def set_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        expiry = self.get_backend_timeout(timeout)
        make_key = self.make_and_validate_key
        entries = [(make_key(key, version), (expiry, *freeze(value))) for key, value in data.items()]
        with self._lock:
            for key, entry in entries:
                self._put(key, entry)
        return []

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        made = [self.make_and_validate_key(key, version) for key in keys]
        with self._lock:
            for key in made:
                self._data.pop(key, None)
