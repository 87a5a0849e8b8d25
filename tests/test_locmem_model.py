"""LocMemCache against a simple model (dict + LRU order + expiry) under random operation sequences.

The clock is fake: ``time.time``, the one clock the backend reads, is replaced by one
that only moves when a rule says so, so expiry is exercised without sleeping.
Small MAX_ENTRIES and every kind of CULL_FREQUENCY (including 0) make culling
and the LRU order matter on almost every step.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cachemere.backends.base import DEFAULT_TIMEOUT
from cachemere.backends.copying import thaw
from cachemere.backends.locmem import LocMemCache

DEFAULT = 5.0  # the cache's TIMEOUT
_locations = itertools.count()

names = st.sampled_from("abcdefg")
versions = st.sampled_from([None, None, 2])
keys = st.tuples(names, versions)
values = st.one_of(
    st.integers(-5, 5),
    st.text(max_size=3),
    st.none(),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from("xy"), st.lists(st.integers(0, 3), max_size=2), max_size=2),
    st.tuples(st.integers(0, 3), st.lists(st.integers(0, 3), max_size=2)),
)
timeouts = st.sampled_from([DEFAULT_TIMEOUT, DEFAULT_TIMEOUT, None, 0, -1, 0.5, 1, 2.5, 10])
steps = st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 5.0, 11.0])
MISS = object()


def made(key: tuple[str, int | None]) -> str:
    name, version = key
    return f":{version or 1}:{name}"


def mutate(value: Any) -> None:
    """Change a value handed out by the cache; the cache must not notice."""
    if isinstance(value, list):
        value.append("mutated")
    elif isinstance(value, dict):
        value["mutated"] = ["yes"]
    elif isinstance(value, tuple) and len(value) > 1 and isinstance(value[1], list):
        value[1].append("mutated")


class Model:
    """The expected state: made key -> (value, expiry), least recently used first."""

    def __init__(self, max_entries: int, cull_frequency: int, clock: Clock) -> None:
        self.data: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()
        self.max_entries, self.cull_frequency, self.clock = max_entries, cull_frequency, clock

    def expiry(self, timeout: Any) -> float | None:
        if timeout is DEFAULT_TIMEOUT:
            return self.clock.now + DEFAULT
        if timeout is None:
            return None
        return self.clock.now + (-1 if timeout == 0 else timeout)

    def alive(self, key: str) -> bool:
        entry = self.data.get(key)
        return entry is not None and (entry[1] is None or entry[1] > self.clock.now)

    def put(self, key: str, value: Any, expiry: float | None) -> None:
        if len(self.data) >= self.max_entries:
            if self.cull_frequency == 0:
                self.data.clear()
            else:
                for _ in range(len(self.data) // self.cull_frequency):
                    self.data.popitem(last=False)
        self.data[key] = (copy.deepcopy(value), expiry)
        self.data.move_to_end(key)

    def get(self, key: str) -> Any:
        if not self.alive(key):
            self.data.pop(key, None)
            return MISS
        self.data.move_to_end(key)
        return self.data[key][0]

    def add(self, key: str, value: Any, timeout: Any) -> bool:
        if self.alive(key):
            return False
        self.put(key, value, self.expiry(timeout))
        return True

    def has_key(self, key: str) -> bool:
        if not self.alive(key):
            self.data.pop(key, None)
            return False
        return True

    def touch(self, key: str, timeout: Any) -> bool:
        if not self.alive(key):
            return False
        self.data[key] = (self.data[key][0], self.expiry(timeout))
        return True

    def incr(self, key: str, delta: int) -> Any:
        """The new value, or the exception type expected."""
        if not self.alive(key):
            self.data.pop(key, None)
            return ValueError
        value, expiry = self.data[key]
        if type(value) is not int:
            return TypeError
        self.data[key] = (value + delta, expiry)
        self.data.move_to_end(key)
        return value + delta


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class LocMemMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self._saved = time.time
        time.time = self.clock  # type: ignore[assignment]

    def teardown(self) -> None:
        time.time = self._saved  # type: ignore[method-assign]

    @initialize(max_entries=st.integers(1, 7), cull_frequency=st.sampled_from([0, 1, 2, 3, 4]))
    def start(self, max_entries: int, cull_frequency: int) -> None:
        options = {"MAX_ENTRIES": max_entries, "CULL_FREQUENCY": cull_frequency}
        self.cache = LocMemCache(f"model-{next(_locations)}", {"TIMEOUT": DEFAULT, "OPTIONS": options})
        self.model = Model(max_entries, cull_frequency, self.clock)

    # -- the clock ---------------------------------------------------------------------

    @rule(seconds=steps)
    def advance(self, seconds: float) -> None:
        self.clock.now += seconds

    # -- single-key operations ---------------------------------------------------------

    @rule(key=keys)
    def get(self, key: tuple[str, int | None]) -> None:
        expected = self.model.get(made(key))
        got = self.cache.get(key[0], MISS, version=key[1])
        if expected is MISS:
            assert got is MISS
        else:
            assert got == expected
            mutate(got)

    @rule(key=keys, value=values, timeout=timeouts)
    def set(self, key: tuple[str, int | None], value: Any, timeout: Any) -> None:
        assert self.cache.set(key[0], value, timeout, version=key[1]) is None
        self.model.put(made(key), value, self.model.expiry(timeout))
        mutate(value)

    @rule(key=keys, value=values, timeout=timeouts)
    def add(self, key: tuple[str, int | None], value: Any, timeout: Any) -> None:
        assert self.cache.add(key[0], value, timeout, version=key[1]) is self.model.add(
            made(key), value, timeout
        )
        mutate(value)

    @rule(key=keys)
    def delete(self, key: tuple[str, int | None]) -> None:
        expected = self.model.data.pop(made(key), None) is not None
        assert self.cache.delete(key[0], version=key[1]) is expected

    @rule(key=keys, timeout=timeouts)
    def touch(self, key: tuple[str, int | None], timeout: Any) -> None:
        assert self.cache.touch(key[0], timeout, version=key[1]) is self.model.touch(made(key), timeout)

    @rule(key=keys, delta=st.integers(-3, 3))
    def incr(self, key: tuple[str, int | None], delta: int) -> None:
        expected = self.model.incr(made(key), delta)
        if isinstance(expected, type):
            with pytest.raises(expected):
                self.cache.incr(key[0], delta, version=key[1])
        else:
            assert self.cache.incr(key[0], delta, version=key[1]) == expected

    @rule(key=keys)
    def has_key(self, key: tuple[str, int | None]) -> None:
        assert self.cache.has_key(key[0], version=key[1]) is self.model.has_key(made(key))

    @rule(key=keys, value=values, timeout=timeouts)
    def get_or_set(self, key: tuple[str, int | None], value: Any, timeout: Any) -> None:
        current = self.model.get(made(key))
        if current is MISS:
            self.model.add(made(key), value, timeout)
            current = self.model.get(made(key))
            if current is MISS:  # stored already expired: the default is handed back
                current = value
        assert self.cache.get_or_set(key[0], value, timeout, version=key[1]) == current

    # -- many-key operations -----------------------------------------------------------

    @rule(names_=st.lists(names, max_size=5), version=versions)
    def get_many(self, names_: list[str], version: int | None) -> None:
        expected = {}
        for name in names_:
            value = self.model.get(made((name, version)))
            if value is not MISS:
                expected[name] = value
        got = self.cache.get_many(names_, version=version)
        assert got == expected
        for value in got.values():
            mutate(value)

    @rule(data=st.dictionaries(names, values, max_size=5), version=versions, timeout=timeouts)
    def set_many(self, data: dict[str, Any], version: int | None, timeout: Any) -> None:
        assert self.cache.set_many(data, timeout, version=version) == []
        for name, value in data.items():
            self.model.put(made((name, version)), value, self.model.expiry(timeout))

    @rule(names_=st.lists(names, max_size=5), version=versions)
    def delete_many(self, names_: list[str], version: int | None) -> None:
        assert self.cache.delete_many(names_, version=version) is None
        for name in names_:
            self.model.data.pop(made((name, version)), None)

    @precondition(lambda self: len(self.model.data) > 0)
    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self.model.data.clear()

    # -- what must hold after every step -----------------------------------------------

    @invariant()
    def same_entries_in_the_same_lru_order(self) -> None:
        store = self.cache._data  # type: ignore[attr-defined]
        assert list(store) == list(self.model.data)
        for key, (expiry, kind, payload) in store.items():
            value, expected_expiry = self.model.data[key]
            assert expiry == expected_expiry, key
            assert thaw(kind, payload) == value, key


LocMemMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLocMemModel = LocMemMachine.TestCase
