"""File-system caches: cachemere's FileBasedCache against Django's and ``diskcache.Cache``.

For N = 0, 1,000 and 10,000 stored entries, each system gets a fresh
directory holding N entries; then ``set`` is timed (keys cycling over the N
stored ones, so the cache stays at N while MAX_ENTRIES is above it and culls
run while it is below), and ``get`` of one stored key.  All values are 100-byte
strings with the default 300 s timeout (``expire=300`` for diskcache).

Filling Django's directory through its ``set`` would list the directory for
every entry (O(N^2)); the fill therefore goes through a Django instance whose
``_cull`` is replaced by a no-op, and the timed calls use a second, unmodified
instance on the same directory.  After each fill ``os.sync()`` writes the
dirty pages out, so no system's rounds pay for the fill's writeback.
diskcache has no entry limit (it culls by size, 1 GB by default), so its rows
below MAX_ENTRIES do no culling.

Django manages only tens of sets per second at 10,000 entries, so rounds are
timed, not counted: in each round every system repeats the call for
``ROUND_SECONDS`` (at least once); rounds alternate between systems.  The
directories live under ``$CACHEMERE_BENCH_DIR`` (default: the temp directory).
Needs the ``[bench]`` extra (Django, diskcache).
"""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from harness import Case, table

SYSTEMS = ["cachemere", "django", "diskcache"]
VALUE = "v" * 100
TIMEOUT = 300
#: (entries stored, MAX_ENTRIES): above the count, then below it; same entries share a fill.
SCENARIOS = [(0, 300), (1_000, 2_000), (1_000, 500), (10_000, 20_000), (10_000, 5_000)]
ROUND_SECONDS = 0.25
WARM_UP = 200
HOT_KEY = "hot"


def _django_class() -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure()  # the file cache reads no setting; Django wants them configured
    from django.core.cache.backends.filebased import FileBasedCache

    return FileBasedCache


class Systems:
    """One directory per system for one N; instances with any MAX_ENTRIES on it."""

    def __init__(self, base: str, entries: int) -> None:
        import diskcache

        self.entries = entries
        self.dirs = {name: os.path.join(base, f"{name}-{entries}") for name in SYSTEMS}
        self.disk = diskcache.Cache(self.dirs["diskcache"])
        self._fill()

    def _fill(self) -> None:
        ours = self.cachemere(10**9)
        django = _django_class()(self.dirs["django"], {"OPTIONS": {"MAX_ENTRIES": 10**9}})
        django._cull = lambda: None  # see the module docstring: the fill must not list the directory
        for i in range(self.entries):
            key = f"k{i}"
            ours.set(key, VALUE)
            django.set(key, VALUE)
            self.disk.set(key, VALUE, expire=TIMEOUT)
        # Flush the fill now: its writeback would otherwise land in (and stall) the timed rounds.
        os.sync()

    def cachemere(self, max_entries: int) -> Any:
        from cachemere.backends.filebased import FileBasedCache

        return FileBasedCache(self.dirs["cachemere"], {"OPTIONS": {"MAX_ENTRIES": max_entries}})

    def with_limit(self, max_entries: int) -> dict[str, Any]:
        django = _django_class()(self.dirs["django"], {"OPTIONS": {"MAX_ENTRIES": max_entries}})
        return {"cachemere": self.cachemere(max_entries), "django": django, "diskcache": self.disk}


def _setter(name: str, cache: Any, entries: int) -> Callable[[], object]:
    keys = [f"k{i}" for i in range(entries)] or ["k0"]
    cycle = itertools.cycle(keys)
    if name == "diskcache":
        return lambda: cache.set(next(cycle), VALUE, expire=TIMEOUT)
    return lambda: cache.set(next(cycle), VALUE)


def _getter(name: str, cache: Any) -> Callable[[], object]:
    def setup() -> None:
        # Written just before the get rounds: the set rounds may have culled anything older.
        if name == "diskcache":
            cache.set(HOT_KEY, VALUE, expire=TIMEOUT)
        else:
            cache.set(HOT_KEY, VALUE)

    setup()
    return lambda: cache.get(HOT_KEY)


def measure_timed(case: Case, rounds: int) -> None:
    """Fill ``case.results``: ops/s per round, each system repeating its call for ROUND_SECONDS."""
    clock = time.perf_counter
    for fn in case.calls.values():  # warm-up: up to WARM_UP calls or ROUND_SECONDS
        if fn is not None:
            deadline = clock() + ROUND_SECONDS
            for _ in range(WARM_UP):
                fn()
                if clock() >= deadline:
                    break
    for _ in range(rounds):
        for system, fn in case.calls.items():
            if fn is None:
                continue
            done = 0
            start = clock()
            deadline = start + ROUND_SECONDS
            while True:
                fn()
                done += 1
                now = clock()
                if now >= deadline:
                    break
            case.results.setdefault(system, []).append(done / (now - start))


def _with_diskcache_ratio(markdown: str, cases: list[Case]) -> str:
    lines = markdown.splitlines()
    lines[0] += " cachemere / diskcache (median) |"
    lines[1] += "---|"
    for index, case in enumerate(cases, start=2):
        ours, theirs = case.results["cachemere"], case.results["diskcache"]
        lines[index] += f" {statistics.median(ours) / statistics.median(theirs):.2f}x |"
    return "\n".join(lines)


def main(rounds: int = 7) -> str:
    base = tempfile.mkdtemp(prefix="cachemere-bench-files-", dir=os.environ.get("CACHEMERE_BENCH_DIR"))
    cases: list[Case] = []
    fills: dict[int, Systems] = {}
    try:
        for entries, max_entries in SCENARIOS:
            if entries not in fills:
                fills[entries] = Systems(base, entries)
            systems = fills[entries].with_limit(max_entries)
            label = f"{entries:,} entries, MAX_ENTRIES {max_entries:,}"
            setters = {name: _setter(name, cache, entries) for name, cache in systems.items()}
            set_case = Case(f"set, {label}", setters)
            measure_timed(set_case, rounds)
            get_case = Case(f"get hit, {label}", {n: _getter(n, c) for n, c in systems.items()})
            measure_timed(get_case, rounds)
            for name, cache in systems.items():  # every get was a hit
                assert cache.get(HOT_KEY) == VALUE, name
            cases += [set_case, get_case]
        for fill in fills.values():
            fill.disk.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    notes = (
        f"Median (best) calls/s over {rounds} interleaved rounds of {ROUND_SECONDS} s each, in "
        f"{os.path.dirname(base)}.  `set` cycles over the N stored keys; `get` reads one stored "
        "100-byte string.  diskcache has no entry limit: its rows below MAX_ENTRIES do not cull."
    )
    return notes + "\n\n" + _with_diskcache_ratio(table(cases, SYSTEMS, "django", "cachemere"), cases)


if __name__ == "__main__":
    import sys

    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
