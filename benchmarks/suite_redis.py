"""Redis: cachemere's RedisCache against Django's RedisCache and raw redis-py calls.

Starts its own redis-server on a free port (with the test helpers) and stops
it at the end.  Every system talks to the same server over TCP on 127.0.0.1;
the raw redis-py calls do the same commands with no key making and no
serialization, so they are the floor any cache on redis-py can reach.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from pickle import HIGHEST_PROTOCOL as PROTOCOL
from pickle import dumps, loads
from typing import Any

from harness import Case, fmt, measure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SYSTEMS = ["cachemere", "django", "redis-py", "redis-py + pickle", "cachemere signed"]
VALUE = "x" * 100
MANY = 100
PAIR = f"get_many({MANY}) and {MANY} single gets"


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
    signed = CacheHandler({"default": {
        "BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": "signed",
        "OPTIONS": {"SIGN_VALUES": True, "SIGNING_KEY": "benchmark"},
    }})["default"]  # fmt: skip
    theirs = _django_cache(url)
    raw = redis.Redis.from_url(url)

    keys = [f"k{i}" for i in range(MANY)]
    made = [f":1:{key}" for key in keys]
    data = dict.fromkeys(keys, VALUE)
    pickled = dumps(VALUE, PROTOCOL)
    ours.set("key", VALUE, None)
    ours.set_many(data, None)
    ours.set("counter", 0, None)
    signed.set("key", VALUE, None)
    signed.set_many(data, None)
    signed.set("counter", 0, None)

    def raw_set_many() -> None:
        pipe = raw.pipeline()
        for key in made:
            pipe.set(key, pickled, px=300_000)
        pipe.execute()

    def pickling_set_many() -> None:
        pipe = raw.pipeline()
        for key, value in zip(made, data.values()):
            pipe.set(key, dumps(value, PROTOCOL), px=300_000)
        pipe.execute()

    def pickling_get_many() -> dict[str, Any]:
        return {key: loads(value) for key, value in zip(keys, raw.mget(made)) if value is not None}

    def hundred(get: Any) -> Any:
        return lambda: [get() for _ in range(MANY)]

    def case(name: str, number: int, *calls: Any) -> Case:
        return Case(name, dict(zip(SYSTEMS, calls)), number)

    get = (
        lambda: ours.get("key"), lambda: theirs.get("key"),
        lambda: raw.get(":1:key"), lambda: loads(raw.get(":1:key")), lambda: signed.get("key"),
    )
    get_many = (
        lambda: ours.get_many(keys), lambda: theirs.get_many(keys), lambda: raw.mget(made), pickling_get_many,
        lambda: signed.get_many(keys),
    )
    return [
        case("get", 500, *get),
        case(
            "set", 500,
            lambda: ours.set("key", VALUE), lambda: theirs.set("key", VALUE),
            lambda: raw.set(":1:key", pickled, px=300_000),
            lambda: raw.set(":1:key", dumps(VALUE, PROTOCOL), px=300_000),
            lambda: signed.set("key", VALUE),
        ),
        case(f"get_many({MANY})", 150, *get_many),
        case(
            f"set_many({MANY})", 50,
            lambda: ours.set_many(data), lambda: theirs.set_many(data), raw_set_many, pickling_set_many,
            lambda: signed.set_many(data),
        ),
        case(
            "incr", 500,
            lambda: ours.incr("counter"), lambda: theirs.incr("counter"),
            lambda: raw.incrby(":1:counter", 1), lambda: raw.incrby(":1:counter", 1),
            lambda: signed.incr("counter"),
        ),
        # One call of get_many(100) and 100 single gets, interleaved in the same
        # rounds so that the speed-up compares like with like.
        Case(PAIR, {
            **{f"{system}|many": call for system, call in zip(SYSTEMS, get_many)},
            **{f"{system}|single": hundred(call) for system, call in zip(SYSTEMS, get)},
        }, number=10),
    ]  # fmt: skip


def _table(cases: list[Case]) -> str:
    pair = next(case for case in cases if case.name == PAIR)
    pair_median = {system: statistics.median(runs) for system, runs in pair.results.items()}
    cases = [case for case in cases if case is not pair]
    cases.append(Case(f"{MANY} single gets", {}, results={
        system: pair.results[f"{system}|single"] for system in SYSTEMS
    }))  # fmt: skip
    median = {case.name: {s: statistics.median(case.results[s]) for s in SYSTEMS} for case in cases}
    lines = [
        "| case | cachemere | Django RedisCache | redis-py | redis-py + pickle | cachemere signed "
        "| cachemere time / redis-py time | cachemere time / redis-py + pickle time "
        "| cachemere speed / Django speed | signed time / cachemere time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        runs = case.results
        cells = [f"{fmt(statistics.median(runs[s]))} ({fmt(max(runs[s]))})" for s in SYSTEMS]
        ours, django, raw, pickling, signing = (median[case.name][s] for s in SYSTEMS)
        ratios = f"{raw / ours:.2f}x | {pickling / ours:.2f}x | {ours / django:.2f}x | {ours / signing:.2f}x"
        lines.append(f"| {case.name} | {' | '.join(cells)} | {ratios} |")
    lines.append("")
    lines.append(
        f"get_many({MANY}) vs {MANY} single gets, measured in the same rounds (median speed-up): "
        + ", ".join(f"{s} {pair_median[s + '|many'] / pair_median[s + '|single']:.1f}x" for s in SYSTEMS)
    )
    lines.append("")
    lines.append(
        "ops/s: median (best) of the rounds; one get_many/set_many call counts as one op. "
        "redis-py: the bare client calls (values stay bytes); redis-py + pickle: the same calls "
        "with the pickling any cache of Python objects does. cachemere signed: OPTIONS['SIGN_VALUES'] "
        "(an HMAC-SHA256 per value written or read; incr stays unsigned)."
    )
    return "\n".join(lines)


def main(rounds: int = 7) -> str:
    from servers.redis import RedisServer

    directory = Path(tempfile.mkdtemp(prefix="cachemere-bench-redis-"))
    server = RedisServer(directory).start()
    try:
        cases = _cases(server.url)
        # Many short rounds: the median then shrugs off bursts of load from other work.
        measure(cases, rounds * 4)
        return _table(cases)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    print(main())
