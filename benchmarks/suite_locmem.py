"""Local memory: cachemere's LocMemCache against Django's, cachetools.LRUCache and a plain dict.

Every system is called directly (a backend instance, not a proxy).  Django's
LocMemCache pickles every value, so the dict and the LRUCache pickle too
(``pickle.HIGHEST_PROTOCOL``, on set and on get) to compare like with like; they
use the caller's key as is, with no prefix, version or key check and no expiry.
Needs the ``[bench]`` extra (Django, cachetools).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

from harness import Case, measure, table

from cachemere import CacheHandler

SYSTEMS = ["cachemere", "django", "cachetools LRU+pickle", "dict+pickle"]
MAX_ENTRIES = 1000
PROTOCOL = pickle.HIGHEST_PROTOCOL

#: 100-byte string.
STR_VALUE = "s" * 100
#: A flat record: 20 str keys, half short str values, half ints; about 1 KB pickled.
DICT_VALUE: dict[str, Any] = {
    f"field_{i:02d}": (f"value {i:02d} " + "v" * 62) if i % 2 else i * 1_000_003 for i in range(20)
}


def _django_cache() -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            CACHES={
                "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                "bench": {
                    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": "bench-django",
                    "OPTIONS": {"MAX_ENTRIES": MAX_ENTRIES},
                },
            },
        )
        django.setup()
    from django.core.cache import caches

    return caches["bench"]


def _ours() -> Any:
    handler = CacheHandler(
        {
            "bench": {
                "BACKEND": "cachemere.backends.locmem.LocMemCache",
                "LOCATION": "bench-cachemere",
                "OPTIONS": {"MAX_ENTRIES": MAX_ENTRIES},
            }
        }
    )
    return handler["bench"]


class PickledMapping:
    """The same API over a mutable mapping, pickling values as Django does."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.store.get(key)
        return default if raw is None else pickle.loads(raw)

    def set(self, key: str, value: Any) -> None:
        self.store[key] = pickle.dumps(value, PROTOCOL)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        store, found = self.store, {}
        for key in keys:
            raw = store.get(key)
            if raw is not None:
                found[key] = pickle.loads(raw)
        return found

    def set_many(self, data: dict[str, Any]) -> list[str]:
        store = self.store
        for key, value in data.items():
            store[key] = pickle.dumps(value, PROTOCOL)
        return []

    def incr(self, key: str, delta: int = 1) -> int:
        raw = self.store.get(key)
        if raw is None:
            raise ValueError(f"Key {key!r} not found")
        value = pickle.loads(raw) + delta
        self.store[key] = pickle.dumps(value, PROTOCOL)
        return value


def _systems() -> dict[str, Any]:
    import cachetools

    return {
        "cachemere": _ours(),
        "django": _django_cache(),
        "cachetools LRU+pickle": PickledMapping(cachetools.LRUCache(maxsize=MAX_ENTRIES)),
        "dict+pickle": PickledMapping({}),
    }


def _bind(method: Callable[..., object], *args: Any) -> Callable[[], object]:
    return lambda: method(*args)


def _cases(systems: dict[str, Any], label: str, value: Any) -> list[Case]:
    slug = label.replace(" ", "_")  # keys must not draw a CacheKeyWarning
    keys = [f"{slug}-many-{i}" for i in range(100)]
    many = dict.fromkeys(keys, value)
    for cache in systems.values():
        cache.set(f"{slug}-hit", value)
        cache.set_many(many)

    def calls(make: Callable[[Any], Callable[[], object]]) -> dict[str, Callable[[], object] | None]:
        return {name: make(cache) for name, cache in systems.items()}

    return [
        Case(f"get hit, {label}", calls(lambda c: lambda: c.get(f"{slug}-hit")), number=20_000),
        Case(f"get miss, {label}", calls(lambda c: lambda: c.get(f"{slug}-miss")), number=20_000),
        Case(f"set, {label}", calls(lambda c: lambda: c.set(f"{slug}-set", value)), number=20_000),
        Case(f"get_many(100), {label}", calls(lambda c: lambda: c.get_many(keys)), number=300),
        Case(f"set_many(100), {label}", calls(lambda c: lambda: c.set_many(many)), number=300),
    ]


def main(rounds: int = 7) -> str:
    systems = _systems()
    cases = _cases(systems, "100 B str", STR_VALUE)
    cases += _cases(systems, "1 KB dict", DICT_VALUE)
    for cache in systems.values():
        cache.set("counter", 0)
    incr = {name: _bind(cache.incr, "counter") for name, cache in systems.items()}
    cases.append(Case("incr (int)", incr, number=20_000))
    # Keep each system honest: every one must hand back what was stored.
    for name, cache in systems.items():
        assert cache.get("1_KB_dict-hit") == DICT_VALUE, name
        assert cache.get("100_B_str-hit") == STR_VALUE, name
    measure(cases, rounds)
    size = len(pickle.dumps(DICT_VALUE, PROTOCOL))
    notes = (
        f"Median (best) calls/s over {rounds} interleaved rounds; get_many/set_many count one call "
        f"per 100 keys.  1 KB dict = 20 str keys with short str / int values, {size} bytes pickled.  "
        "The dict and LRUCache pickle values as Django does and skip key making and expiry."
    )
    return notes + "\n\n" + table(cases, SYSTEMS, baseline="django", subject="cachemere")


if __name__ == "__main__":
    import sys

    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
