"""LocMemCache specifics: LRU vectors, stores per LOCATION, incr and expiry, locking, copying, threads."""

from __future__ import annotations

import datetime
import itertools
import os
import pickle
import signal
import sys
import threading
import time
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest

from cachemere import CacheHandler, ImproperlyConfigured
from cachemere.backends import base, locmem
from cachemere.backends.copying import AS_IS, PICKLED, SHALLOW
from cachemere.backends.locmem import LocMemCache

_locations = itertools.count()


def make(location: str | None = None, **options: Any) -> LocMemCache:
    """A LocMemCache on a fresh store (or the one named)."""
    name = location if location is not None else f"locmem-test-{next(_locations)}"
    params: dict[str, Any] = {"OPTIONS": options}
    cache = LocMemCache(name, params)
    if location is None:
        cache.clear()
    return cache


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Replace ``time.time``, the one clock the backend reads (as users' tests patch it)."""
    fake = Clock()
    monkeypatch.setattr(time, "time", fake)
    return fake


# -- LRU (reference §2.2: MAX_ENTRIES 9, CULL_FREQUENCY 3) --------------------------


@pytest.mark.parametrize("touch_with", ["get", "set", "incr", "add after expiry"])
def test_lru_vectors(touch_with: str) -> None:
    cache = make(MAX_ENTRIES=9, CULL_FREQUENCY=3)
    for key in range(9):
        cache.set(key, key, timeout=None)
    for key in range(6):
        if touch_with == "get":
            assert cache.get(key) == key
        elif touch_with == "set":
            cache.set(key, -key, timeout=None)
        elif touch_with == "incr":
            assert cache.incr(key) == key + 1
        else:
            cache.delete(key)
            assert cache.add(key, key, timeout=None) is True
    cache.set(9, 9, timeout=None)  # 9 entries >= MAX_ENTRIES: the 3 least recently used go
    for key in range(6):
        assert cache.has_key(key), key
    for key in (6, 7, 8):
        assert not cache.has_key(key), key
    assert cache.get(9) == 9


def test_has_key_touch_delete_and_failed_add_keep_the_lru_order() -> None:
    cache = make(MAX_ENTRIES=4, CULL_FREQUENCY=4)
    for key in "abcd":
        cache.set(key, key)
    assert cache.has_key("a")
    assert cache.touch("a", 100)
    assert cache.add("a", "again") is False
    assert cache.delete("zz") is False
    cache.set("e", "e")  # culls exactly one: still "a", the least recently used
    assert not cache.has_key("a")
    assert [cache.has_key(k) for k in "bcde"] == [True] * 4


def test_overwriting_a_key_when_full_still_culls() -> None:
    cache = make(MAX_ENTRIES=9, CULL_FREQUENCY=3)
    for key in range(9):
        cache.set(key, key)
    cache.set(8, "new")  # as in Django: the size check comes before the write
    assert len(cache._data) == 6
    assert [cache.has_key(k) for k in range(9)] == [False] * 3 + [True] * 6


def test_fewer_entries_than_the_cull_frequency() -> None:
    cache = make(MAX_ENTRIES=2, CULL_FREQUENCY=3)
    for key in range(10):
        cache.set(key, key)
    assert len(cache._data) == 3  # len // 3 is 0 until there are 3 (Django's behaviour)


def test_zero_cull_frequency_empties_the_store() -> None:
    cache = make(MAX_ENTRIES=5, CULL_FREQUENCY=0)
    for key in range(5):
        cache.set(key, key)
    cache.set("new", 1)
    assert list(cache._data) == [":1:new"]


# -- stores per LOCATION ------------------------------------------------------------


def test_same_location_shares_one_store_across_aliases() -> None:
    handler = CacheHandler(
        {
            "a": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": "shared-store"},
            "b": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "shared-store"},
            "c": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": "other-store"},
        }
    )
    a, b, c = handler["a"], handler["b"], handler["c"]
    a.clear()
    c.clear()
    a.set("k", "from a")
    assert b.get("k") == "from a"
    assert c.get("k") is None
    c.set("k", "from c")
    assert a.get("k") == "from a"
    b.clear()
    assert a.get("k") is None
    assert c.get("k") == "from c"


def test_unnamed_caches_share_the_empty_location() -> None:
    handler = CacheHandler(
        {"x": {"BACKEND": "cachemere.backends.locmem.LocMemCache"}, "y": {"BACKEND": LocMemCache}}
    )
    handler["x"].set("unnamed-shared", 1)
    assert handler["y"].get("unnamed-shared") == 1
    handler["x"].delete("unnamed-shared")


def test_stores_are_per_location_even_across_threads() -> None:
    cache = make()
    cache.set("k", "v")
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(make(cache_location(cache)).get("k")))
    thread.start()
    thread.join()
    assert seen == ["v"]


def cache_location(cache: LocMemCache) -> str:
    return next(name for name, store in locmem._stores.items() if store.data is cache._data)


# -- incr and expiry ---------------------------------------------------------------


def test_incr_keeps_the_expiry(clock: Clock) -> None:
    cache = make()
    cache.set("n", 1, timeout=10)
    expiry = cache._data[":1:n"][0]
    clock.now += 5
    assert cache.incr("n", 2) == 3
    assert cache.decr("n") == 2
    assert cache._data[":1:n"][0] == expiry
    clock.now += 5
    assert cache.get("n") is None


def test_incr_missing_or_expired_names_the_made_key(clock: Clock) -> None:
    cache = make()
    with pytest.raises(ValueError, match=r"^Key ':1:missing' not found$"):
        cache.incr("missing")
    cache.set("old", 1, timeout=1)
    clock.now += 1
    with pytest.raises(ValueError, match="':1:old'"):
        cache.incr("old")
    assert ":1:old" not in cache._data  # an expired entry is dropped on the way


def test_expiry_is_lazy_and_exact(clock: Clock) -> None:
    cache = make()
    cache.set("k", "v", timeout=2)
    clock.now += 1.999
    assert cache.get("k") == "v"
    clock.now += 0.001  # expiry <= now: gone
    assert ":1:k" in cache._data  # nothing removed it yet
    assert cache.touch("k") is False
    assert ":1:k" in cache._data  # touch does not delete (as Django)
    assert cache.delete("k") is True  # an expired entry still counts as deleted (as Django)
    cache.set("k", "v", timeout=2)
    clock.now += 2
    assert cache.has_key("k") is False
    assert ":1:k" not in cache._data


def test_zero_default_timeout_stores_nothing_visible(clock: Clock) -> None:
    cache = LocMemCache(f"zero-{next(_locations)}", {"TIMEOUT": 0})
    cache.set("k", "v")
    assert cache.get("k") is None
    assert cache.add("k", "v") is True
    assert cache.get("k") is None


def test_add_over_an_expired_entry(clock: Clock) -> None:
    cache = make()
    cache.set("k", "old", timeout=1)
    clock.now += 1
    assert cache.add("k", "new", timeout=None) is True
    assert cache.get("k") == "new"
    assert cache._data[":1:k"][0] is None


def test_subclass_with_its_own_timeout_rule_is_honoured(clock: Clock) -> None:
    class Doubling(LocMemCache):
        def get_backend_timeout(self, timeout: Any = base.DEFAULT_TIMEOUT) -> float | None:
            expiry = super().get_backend_timeout(timeout)
            return None if expiry is None else clock.now + 2 * (expiry - clock.now)

    cache = Doubling(f"doubling-{next(_locations)}", {"TIMEOUT": 10})
    cache.set("k", "v")
    assert cache._data[":1:k"][0] == clock.now + 20


# -- copying and locking -----------------------------------------------------------


class Record:
    def __init__(self, tags: list[str]) -> None:
        self.tags = tags
        self.meta = {"seen": [1]}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]


MUTABLES = [
    {"nested": {"list": [1, 2]}, "n": 1},
    [[1, 2], {"a": [3]}],
    (1, [2, 3]),
    {1, 2, 3},
    bytearray(b"abc"),
    Record(["a", "b"]),
    [Record(["x"])],
]


def mutate(value: Any) -> None:
    """Change every mutable part of ``value`` reachable from the outside."""
    if isinstance(value, dict):
        for item in list(value.values()):
            mutate(item)
        value["added"] = True
    elif isinstance(value, list):
        for item in value:
            mutate(item)
        value.append("added")
    elif isinstance(value, tuple):
        for item in value:
            mutate(item)
    elif isinstance(value, set | bytearray):
        value.clear()
    elif isinstance(value, Record):
        value.tags.append("added")
        value.meta["seen"].append(2)


@pytest.mark.parametrize("value", MUTABLES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("store_with", ["set", "add", "set_many"])
def test_stored_values_are_isolated_from_mutation(value: Any, store_with: str) -> None:
    cache = make()
    original = pickle.loads(pickle.dumps(value))
    if store_with == "set":
        cache.set("k", value)
    elif store_with == "add":
        cache.add("k", value)
    else:
        cache.set_many({"k": value})
    mutate(value)  # the caller's object changes after storing
    first = cache.get("k")
    assert first == original
    mutate(first)  # and what the cache handed out changes too
    assert cache.get("k") == original
    assert cache.get_many(["k"]) == {"k": original}
    mutate(cache.get_many(["k"])["k"])
    assert cache.get("k") == original


def test_immutable_values_are_not_pickled() -> None:
    cache = make()
    text, number, frozen = "x" * 100, 10**30, (1, "a", (2.5, None), frozenset({b"b"}))
    cache.set_many({"text": text, "number": number, "frozen": frozen})
    for key, value in [("text", text), ("number", number), ("frozen", frozen)]:
        entry = cache._data[f":1:{key}"]
        assert entry[1] == AS_IS and entry[2] is value
        assert cache.get(key) is value
    record = {f"field{i}": i for i in range(20)}
    cache.set("flat", record)
    assert cache._data[":1:flat"][1] == SHALLOW
    got = cache.get("flat")
    assert got == record and got is not record
    cache.set("nested", {"a": [1]})
    assert cache._data[":1:nested"][1] == PICKLED


class LockWatcher:
    """Records, while being pickled and unpickled, whether the store's lock is held."""

    cache: LocMemCache | None = None
    seen: list[tuple[str, bool]] = []

    def __reduce__(self) -> Any:
        assert LockWatcher.cache is not None
        LockWatcher.seen.append(("pickle", LockWatcher.cache._lock.locked()))
        return (_unpickle_watcher, ())


def _unpickle_watcher() -> LockWatcher:
    assert LockWatcher.cache is not None
    LockWatcher.seen.append(("unpickle", LockWatcher.cache._lock.locked()))
    return LockWatcher()


def test_lock_not_held_while_pickling_or_unpickling() -> None:
    cache = make()
    LockWatcher.cache, LockWatcher.seen = cache, []
    cache.set("set", LockWatcher())
    cache.add("add", LockWatcher())
    cache.set_many({"many": LockWatcher()})
    cache.get("set")
    cache.get_many(["add", "many"])
    assert len(LockWatcher.seen) == 6
    assert all(held is False for _, held in LockWatcher.seen), LockWatcher.seen


def test_unpicklable_value_leaves_the_old_one() -> None:
    class Unpicklable:
        def __reduce__(self) -> Any:
            raise pickle.PickleError("no")

    cache = make()
    cache.set("k", "old")
    with pytest.raises(pickle.PickleError):
        cache.set("k", Unpicklable())
    with pytest.raises(pickle.PickleError):
        cache.set_many({"a": 1, "k": Unpicklable()})
    assert cache.get("k") == "old"
    assert cache.get("a") is None  # set_many copies everything before storing anything
    assert not cache._lock.locked()


# -- threads -----------------------------------------------------------------------


@pytest.fixture
def frequent_switches() -> Iterator[None]:
    """Make the interpreter switch threads very often, so races show up."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def hammer(threads: int, work: Any) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def run(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


def test_threads_lose_no_increment(frequent_switches: None) -> None:
    location = f"threads-{next(_locations)}"
    make(location).clear()
    make(location, MAX_ENTRIES=100_000).set("counter", 0, timeout=None)
    n = 2_000

    def work(index: int) -> None:
        cache = make(location, MAX_ENTRIES=100_000)  # one instance per thread, as caches[] gives
        for i in range(n):
            cache.incr("counter")
            cache.set(f"t{index}-{i}", (index, i))
            if i % 7 == 0:
                cache.decr("counter", -1)  # another increment, the other way round

    assert hammer(8, work) == []
    cache = make(location)
    assert cache.get("counter") == 8 * (n + len(range(0, n, 7)))
    for index in range(8):
        assert cache.get_many([f"t{index}-0", f"t{index}-{n - 1}"]) == {
            f"t{index}-0": (index, 0),
            f"t{index}-{n - 1}": (index, n - 1),
        }


def test_threads_with_culling_raise_nothing(frequent_switches: None) -> None:
    location = f"threads-cull-{next(_locations)}"
    make(location).clear()

    def owned_by(key: str, value: Any) -> bool:
        """A value read under ``key`` must be one some thread stored under that key."""
        if key.startswith("k"):
            writer, i = value
            return f"k{(writer * 31 + i) % 120}" == key
        return key.startswith("a") and value % 90 == int(key[1:])

    def work(index: int) -> None:
        cache = make(location, MAX_ENTRIES=50, CULL_FREQUENCY=3)
        for i in range(1_500):
            key = f"k{(index * 31 + i) % 120}"
            cache.set(key, [index, i])
            value = cache.get(key)
            assert value is None or owned_by(key, value), (key, value)
            cache.add(f"a{i % 90}", i, timeout=0 if i % 5 == 0 else None)
            found = cache.get_many([key, f"a{i % 90}", "nothing"])
            assert "nothing" not in found
            assert all(owned_by(k, v) for k, v in found.items()), found
            cache.has_key(f"a{i % 90}")
            cache.touch(key, 100)
            if i % 3 == 0:
                cache.delete(key)
            if i % 11 == 0:
                cache.set_many({f"m{j}": j for j in range(5)})
            if i % 13 == 0:
                cache.delete_many([f"m{j}" for j in range(3)])

    assert hammer(8, work) == []
    assert len(make(location)._data) <= 50


# -- fork, time zones, options ------------------------------------------------


def test_forked_child_does_not_deadlock_on_a_lock_a_parent_thread_held() -> None:
    cache = make(f"fork-{next(_locations)}")
    cache.set("before", 1)
    held, release = threading.Event(), threading.Event()

    def hold_the_store_lock() -> None:
        with cache._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_store_lock)
    holder.start()
    try:
        assert held.wait(10)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: without the at-fork reset, set() blocks forever
            try:
                signal.alarm(5)
                cache.set("child", 2)
                os.write(write_fd, b"ok" if cache.get("child") == 2 and cache.get("before") == 1 else b"bad")
            finally:
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            answer = pipe.read()
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert answer == b"ok", f"child exit status {status}"
    assert cache.get("child") is None  # the child's write stayed in the child


class MutableZone(datetime.tzinfo):
    def __init__(self, hours: int) -> None:
        self.hours = hours

    def __reduce__(self) -> tuple[type, tuple[int]]:
        return MutableZone, (self.hours,)

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(hours=self.hours)

    def dst(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(0)


@pytest.mark.parametrize("make_value", [
    lambda zone: datetime.datetime(2026, 1, 2, 3, 4, tzinfo=zone),
    lambda zone: datetime.time(3, 4, tzinfo=zone),
    lambda zone: (datetime.datetime(2026, 1, 2, tzinfo=zone), 1),
])  # fmt: skip
def test_values_with_a_mutable_tzinfo_do_not_share_it(make_value: Any) -> None:
    cache = make()
    zone = MutableZone(2)
    value = make_value(zone)
    cache.set("when", value)
    zone.hours = 5  # the caller changes its own zone object afterwards
    stored = cache.get("when")
    stored_zone = stored[0].tzinfo if isinstance(stored, tuple) else stored.tzinfo
    assert stored_zone is not zone
    assert stored_zone.hours == 2


def test_values_with_immutable_zones_are_kept_as_they_are() -> None:
    cache = make()
    for zone in (None, datetime.UTC, zoneinfo.ZoneInfo("UTC")):
        value = datetime.datetime(2026, 1, 2, tzinfo=zone)
        cache.set("when", value)
        assert cache.get("when") is value


def test_misspelt_option_is_rejected_naming_it() -> None:
    entry = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIE": 5}}
    handler = CacheHandler({"x": entry})
    expected = r"CACHES\['x'\].*'MAX_ENTRIE'.*did you mean 'MAX_ENTRIES'"
    with pytest.raises(ImproperlyConfigured, match=expected):
        handler["x"]
