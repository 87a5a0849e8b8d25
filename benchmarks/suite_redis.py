"""Redis: cachemere's RedisCache against Django's RedisCache and raw redis-py calls.

Starts its own redis-server on a free port (with the test helpers) and stops
it at the end.  Every system talks to the same server over TCP on 127.0.0.1;
the raw redis-py calls do the same commands with no key making and no
serialization, so they are the floor any cache on redis-py can reach.
"""

from __future__ import annotations

import pickle
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import Case, measure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SYSTEMS = ["cachemere", "django", "redis-py"]
VALUE = "x" * 100
MANY = 100


def _django_cache(url: str) -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(CACHES={})
        django.setup()
    from django.core.cache.backends.redis import RedisCache

    return RedisCache(url, {})


def _cases(url: str) -> list[Case]:
    import redis

    from cachemere import CacheHandler

    ours = CacheHandler({"default": {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": url}})[
        "default"
    ]
    theirs = _django_cache(url)
    raw = redis.Redis.from_url(url)

    keys = [f"k{i}" for i in range(MANY)]
    made = [f":1:{key}" for key in keys]
    data = dict.fromkeys(keys, VALUE)
    pickled = pickle.dumps(VALUE, pickle.HIGHEST_PROTOCOL)
    ours.set("key", VALUE, None)
    ours.set_many(data, None)
    ours.set("counter", 0, None)

    def raw_set_many() -> None:
        pipe = raw.pipeline()
        for key in made:
            pipe.set(key, pickled, px=300_000)
        pipe.execute()

    def hundred_gets(get: Any, key: str = "key") -> Any:
        return lambda: [get(key) for _ in range(MANY)]

    return [
        Case("get", {"cachemere": lambda: ours.get("key"), "django": lambda: theirs.get("key"),
                     "redis-py": lambda: raw.get(":1:key")}),
        Case("set", {"cachemere": lambda: ours.set("key", VALUE), "django": lambda: theirs.set("key", VALUE),
                     "redis-py": lambda: raw.set(":1:key", pickled, px=300_000)}),
        Case(f"get_many({MANY})", {"cachemere": lambda: ours.get_many(keys),
                                   "django": lambda: theirs.get_many(keys),
                                   "redis-py": lambda: raw.mget(made)}, number=500),
        Case(f"set_many({MANY})", {"cachemere": lambda: ours.set_many(data),
                                   "django": lambda: theirs.set_many(data),
                                   "redis-py": raw_set_many}, number=200),
        Case("incr", {"cachemere": lambda: ours.incr("counter"), "django": lambda: theirs.incr("counter"),
                      "redis-py": lambda: raw.incrby(":1:counter", 1)}),
        Case(f"{MANY} single gets", {"cachemere": hundred_gets(ours.get), "django": hundred_gets(theirs.get),
                                     "redis-py": hundred_gets(raw.get, ":1:key")}, number=20),
    ]  # fmt: skip


def _fmt(ops: float) -> str:
    if ops >= 1e6:
        return f"{ops / 1e6:.2f}M"
    if ops >= 1e3:
        return f"{ops / 1e3:.1f}k"
    return f"{ops:.0f}"


def _table(cases: list[Case]) -> str:
    median = {case.name: {s: statistics.median(case.results[s]) for s in SYSTEMS} for case in cases}
    lines = [
        "| case | cachemere | Django RedisCache | redis-py (raw) "
        "| cachemere time / redis-py time | cachemere / Django (speed) |",
        "|---|---|---|---|---|---|",
    ]
    for case in cases:
        runs = case.results
        cells = [f"{_fmt(statistics.median(runs[s]))} ({_fmt(max(runs[s]))})" for s in SYSTEMS]
        ours, django, raw = (median[case.name][s] for s in SYSTEMS)
        lines.append(f"| {case.name} | {' | '.join(cells)} | {raw / ours:.2f}x | {ours / django:.2f}x |")
    many, single = median[f"get_many({MANY})"], median[f"{MANY} single gets"]
    lines.append("")
    lines.append(
        f"get_many({MANY}) vs {MANY} single gets (median, speed-up): "
        + ", ".join(f"{s} {many[s] / single[s]:.1f}x" for s in SYSTEMS)
    )
    lines.append("")
    lines.append("ops/s: median (best) of the rounds; one get_many/set_many call counts as one op.")
    return "\n".join(lines)


def main(rounds: int = 7) -> str:
    from servers.redis import RedisServer

    server = RedisServer(Path(tempfile.mkdtemp(prefix="cachemere-bench-redis-"))).start()
    try:
        cases = _cases(server.url)
        measure(cases, rounds)
        return _table(cases)
    finally:
        server.stop()


if __name__ == "__main__":
    print(main())
