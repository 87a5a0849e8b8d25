"""Custom backends: how a third-party backend plugs in, and what it gets for free.

``DictCache`` below is what the author of a custom backend writes: a subclass of
``BaseCache`` with only the six sync primitives.  It gets every composite method
and every async twin from ``BaseCache``, and proves it by running the whole
conformance suite with a few lines (``TestDictCacheConformance``), exactly as an
author would in their own test suite.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from cachemere import CacheHandler
from cachemere.backends.base import API_METHODS, DEFAULT_TIMEOUT, BaseCache
from cachemere.backends.locmem import LocMemCache
from cachemere.testing import CacheConformance

_stores: dict[str, dict[str, tuple[float | None, bytes]]] = {}
_stores_lock = threading.Lock()


class DictCache(BaseCache):
    """A minimal third-party backend: a pickling dict per LOCATION, sync primitives only."""

    def __init__(self, location: str, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        with _stores_lock:
            self._data = _stores.setdefault(location, {})
        self._lock = threading.Lock()

    def _alive(self, entry: tuple[float | None, bytes] | None) -> bool:
        return entry is not None and (entry[0] is None or entry[0] > time.time())

    def _store(self, key: str, value: Any, timeout: Any) -> None:
        payload = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        if len(self._data) >= self._max_entries:
            if self._cull_frequency == 0:
                self._data.clear()
            else:
                for old in list(self._data)[: len(self._data) // self._cull_frequency]:
                    del self._data[old]
        self._data[key] = (self.get_backend_timeout(timeout), payload)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            if self._alive(self._data.get(key)):
                return False
            self._store(key, value, timeout)
            return True

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version)
        entry = self._data.get(key)
        if not self._alive(entry):
            return default
        return pickle.loads(entry[1])  # type: ignore[index]

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            self._store(key, value, timeout)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            entry = self._data.get(key)
            if not self._alive(entry):
                return False
            self._data[key] = (self.get_backend_timeout(timeout), entry[1])  # type: ignore[index]
            return True

    def delete(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version)
        with self._lock:
            return self._data.pop(key, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class TestDictCacheConformance(CacheConformance):
    """The whole conformance suite against the minimal backend, by dotted path."""

    backend = f"{__name__}.DictCache"
    location = "dict-conformance"
    #: One dict per LOCATION, so a second instance sees the first one's entries.
    instances_share_store = True


class PerInstanceCache(DictCache):
    """A backend whose store belongs to the instance: the flags' defaults fit it as they are."""

    def __init__(self, location: str, params: Mapping[str, Any]) -> None:
        super().__init__(location, params)
        self._data = {}


class TestPerInstanceCacheConformance(CacheConformance):
    """Only ``backend`` set: every default flag describes plain BaseCache behaviour."""

    backend = PerInstanceCache


# -- construction ------------------------------------------------------------------


class RecordingCache(DictCache):
    received: ClassVar[list[tuple[Any, dict[str, Any]]]] = []

    def __init__(self, location: Any, params: Mapping[str, Any]) -> None:
        RecordingCache.received.append((location, dict(params)))
        super().__init__(location, params)


class RecordingLocMem(LocMemCache):
    received: ClassVar[list[tuple[Any, dict[str, Any]]]] = []

    def __init__(self, location: Any, params: Mapping[str, Any]) -> None:
        RecordingLocMem.received.append((location, dict(params)))
        super().__init__(location, params)


def test_custom_backend_receives_location_and_params_as_builtins_do() -> None:
    entry = {
        "LOCATION": "custom-params",
        "TIMEOUT": 42,
        "KEY_PREFIX": "app",
        "VERSION": 7,
        "KEY_FUNCTION": "cachemere.testing.fixtures.custom_key_func",
        "OPTIONS": {"MAX_ENTRIES": 5, "CULL_FREQUENCY": 2},
    }
    # OPTIONS the backend's own code reads reach it untouched (built-ins refuse unknown ones).
    custom_entry = {**entry, "OPTIONS": {**entry["OPTIONS"], "extra": "for the backend"}}  # type: ignore[dict-item]
    handler = CacheHandler(
        {
            "custom": {"BACKEND": f"{__name__}.RecordingCache", **custom_entry},
            "builtin": {"BACKEND": f"{__name__}.RecordingLocMem", **entry},
        }
    )
    custom, builtin = handler["custom"], handler["builtin"]
    location, params = RecordingCache.received[-1]
    assert (location, params["OPTIONS"]) == ("custom-params", custom_entry["OPTIONS"])
    assert RecordingLocMem.received[-1][0] == location
    for received in (RecordingCache.received[-1][1], RecordingLocMem.received[-1][1]):
        params = dict(received)
        assert params.pop("SETTINGS").CACHES is handler.settings
        params.pop("OPTIONS")
        assert params == {k: v for k, v in entry.items() if k not in ("LOCATION", "OPTIONS")}
    assert RecordingLocMem.received[-1][1]["OPTIONS"] == entry["OPTIONS"]
    for cache in (custom, builtin):
        assert cache.default_timeout == 42
        assert cache.key_prefix == "app"
        assert cache.version == 7
        assert cache.make_key("k") == "CUSTOM-app-7-k"
        assert (cache._max_entries, cache._cull_frequency) == (5, 2)  # type: ignore[attr-defined]


def test_custom_backend_by_class_object() -> None:
    cache = CacheHandler({"c": {"BACKEND": DictCache, "LOCATION": "by-class"}})["c"]
    assert type(cache) is DictCache
    cache.set("k", [1])
    assert cache.get("k") == [1]


def test_a_backend_missing_a_primitive_says_which() -> None:
    class Partial(BaseCache):
        def __init__(self, location: Any, params: Mapping[str, Any]) -> None:
            super().__init__(params)

    cache = Partial("", {})
    with pytest.raises(NotImplementedError, match=r"must provide a get\(\) method"):
        cache.get("k")
    with pytest.raises(NotImplementedError, match=r"must provide a get\(\) method"):
        cache.get_many(["k"])
    with pytest.raises(NotImplementedError, match=r"must provide a set\(\) method"):
        asyncio.run(cache.aset("k", 1))


# -- async twins ---------------------------------------------------------------------


def test_sync_only_backend_gets_every_async_twin() -> None:
    for name in API_METHODS:
        assert asyncio.iscoroutinefunction(getattr(DictCache, "a" + name)), name


def test_blocking_backend_runs_async_twins_in_a_worker_thread() -> None:
    threads: list[int] = []

    class Watching(DictCache):
        def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
            threads.append(threading.get_ident())
            return super().get(key, default, version)

    class NonBlocking(Watching):
        blocking = False

    asyncio.run(Watching("watch", {}).aget("k"))
    asyncio.run(NonBlocking("watch", {}).aget("k"))
    assert threads[0] != threading.get_ident()  # blocking: off the event loop
    assert threads[1] == threading.get_ident()  # never blocks: inline


def make_counting_backend(name: str, calls: list[str]) -> type[DictCache]:
    """A DictCache subclass with a specialised sync ``name`` that records its use."""

    def specialised(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return getattr(DictCache, name)(self, *args, **kwargs)

    return type(f"Specialised_{name}", (DictCache,), {name: specialised})


SPECIALISED_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("get_many", (["a", "b"],)),
    ("set_many", ({"a": 1, "b": 2},)),
    ("delete_many", (["a", "b"],)),
    ("get_or_set", ("a", 1)),
    ("has_key", ("a",)),
    ("incr", ("n",)),
    ("decr", ("n",)),
    ("incr_version", ("n",)),
    ("decr_version", ("n",)),
    ("close", ()),
]


@pytest.mark.parametrize(("name", "args"), SPECIALISED_CALLS, ids=[n for n, _ in SPECIALISED_CALLS])
def test_async_twin_uses_a_specialised_sync_method(name: str, args: tuple[Any, ...]) -> None:
    calls: list[str] = []
    cache = make_counting_backend(name, calls)("specialised", {})
    cache.clear()
    cache.set("n", 1, version=2 if name == "decr_version" else None)
    if name == "decr_version":
        args = (*args, 1, 2)
    asyncio.run(getattr(cache, "a" + name)(*args))
    assert calls == [name]


def test_aget_many_uses_the_sync_get_many_override_not_single_gets() -> None:
    gets: list[Any] = []
    bulk: list[list[Any]] = []

    class Bulk(DictCache):
        def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
            gets.append(key)
            return super().get(key, default, version)

        def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
            keys = list(keys)
            bulk.append(keys)
            made = {self.make_and_validate_key(k, version): k for k in keys}
            found = {}
            for made_key, key in made.items():
                entry = self._data.get(made_key)
                if self._alive(entry):
                    found[key] = pickle.loads(entry[1])  # type: ignore[index]
            return found

    cache = Bulk("bulk", {})
    cache.set_many({"a": 1, "b": 2})
    assert asyncio.run(cache.aget_many(["a", "b", "c"])) == {"a": 1, "b": 2}
    assert bulk == [["a", "b", "c"]]
    assert gets == []


def test_a_native_async_twin_is_kept_and_a_later_sync_override_wins() -> None:
    class NativeAsync(DictCache):
        async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
            return "native"

    class SyncOverride(NativeAsync):
        def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
            return "sync override"

    assert asyncio.run(NativeAsync("native", {}).aget("k")) == "native"
    assert asyncio.run(SyncOverride("native", {}).aget("k")) == "sync override"


def test_key_warnings_and_validate_key_override() -> None:
    class Liberal(DictCache):
        def validate_key(self, key: str) -> None:
            pass  # accepts anything, as Django's docs suggest for custom key rules

    cache = Liberal("liberal", {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.set("a key with spaces " + "x" * 300, "v")
        assert cache.get("a key with spaces " + "x" * 300) == "v"


# -- the suite in someone else's repository ---------------------------------------------

BROKEN_BACKEND_TESTS = """
from cachemere.backends.locmem import LocMemCache
from cachemere.testing import CacheConformance


class Tampering(LocMemCache):
    def get(self, key, default=None, version=None):
        value = super().get(key, default, version)
        return "tampered" if value == "value" else value


class TestTampering(CacheConformance):
    backend = Tampering
    location = "tampering"
"""


def test_failures_outside_this_repository_show_the_compared_values(tmp_path: Path) -> None:
    (tmp_path / "test_tampering.py").write_text(textwrap.dedent(BROKEN_BACKEND_TESTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "test_tampering.py::TestTampering::test_simple"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert str(Path(__file__).parent) not in result.stdout  # no conftest of this repository took part
    assert "assert 'tampered' == 'value'" in result.stdout, result.stdout
