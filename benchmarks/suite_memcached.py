"""Memcached: cachemere's PyMemcacheCache and PyLibMCCache against Django's and the raw clients.

Starts its own memcached on a free port (stopped by its PID afterwards).  The raw
clients are ``pymemcache.Client`` (one server, no hashing, ``pickle_serde``)
and ``pylibmc.Client``, called with ready-made keys: no prefix, version or key
check.  Django runs with minimal settings.  Needs the ``[memcached]`` and
``[bench]`` extras and the memcached binary.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import Case, measure

from cachemere import CacheHandler

LIBRARIES = {
    "pymemcache": ("PyMemcacheCache", "raw pymemcache"),
    "pylibmc": ("PyLibMCCache", "raw pylibmc"),
}
VALUE = "s" * 100  # a 100-byte str
KEYS = [f"many-{i}" for i in range(100)]
ROUNDS_PER_ROUND = 4  # each of run.py's rounds is split in four shorter ones


class Memcached:
    """A memcached process of our own on a free port; stopped by the PID it recorded."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="cachemere-bench-memcached-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.pidfile = self.directory / "memcached.pid"
        binary = shutil.which("memcached") or "/usr/bin/memcached"
        user = ["-u", "root"] if os.geteuid() == 0 else []
        subprocess.run(
            [binary, *user, "-l", "127.0.0.1", "-p", str(self.port), "-m", "256", "-d",
             "-P", str(self.pidfile)],
            check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                if self.pidfile.exists():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"memcached on port {self.port} did not start")

    def stop(self) -> None:
        try:
            pid = int(self.pidfile.read_text())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


def _django_caches(location: str) -> dict[str, Any]:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            CACHES={
                "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                **{
                    library: {
                        "BACKEND": f"django.core.cache.backends.memcached.{backend}",
                        "LOCATION": location,
                    }
                    for library, (backend, _) in LIBRARIES.items()
                },
            }
        )
        django.setup()
    from django.core.cache import caches

    return {library: caches[library] for library in LIBRARIES}


def _systems(location: str) -> dict[str, dict[str, Any]]:
    """Per library: system name -> an object with get/set/get_many/set_many/incr."""
    import pylibmc
    from pymemcache.client.base import Client
    from pymemcache.serde import pickle_serde

    ours = CacheHandler(
        {
            **{
                library: {"BACKEND": f"cachemere.backends.memcached.{backend}", "LOCATION": location}
                for library, (backend, _) in LIBRARIES.items()
            },
            **{  # OPTIONS["SIGN_VALUES"]: the cost of an HMAC per value
                f"{library}-signed": {
                    "BACKEND": f"cachemere.backends.memcached.{backend}",
                    "LOCATION": location,
                    "KEY_PREFIX": "signed",
                    "OPTIONS": {"SIGN_VALUES": True, "SIGNING_KEY": "benchmark"},
                }
                for library, (backend, _) in LIBRARIES.items()
            },
        }
    )
    django = _django_caches(location)
    host, port = location.split(":")
    raw = {
        "pymemcache": Client((host, int(port)), serde=pickle_serde, default_noreply=False),
        "pylibmc": pylibmc.Client([location]),
    }
    return {
        library: {
            "cachemere": ours[library], "cachemere signed": ours[f"{library}-signed"],
            "django": django[library], raw_name: raw[library],
        }
        for library, (_, raw_name) in LIBRARIES.items()
    }


def _cases(systems: dict[str, Any]) -> list[Case]:
    makes_keys = {name: not name.startswith("raw") for name in systems}
    key = {name: (lambda k: k) if makes_keys[name] else (lambda k: f":1:{k}") for name in systems}
    keys = {name: [key[name](k) for k in KEYS] for name in systems}
    many = {name: dict.fromkeys(keys[name], VALUE) for name in systems}
    for name, cache in systems.items():
        cache.set(key[name]("hit"), VALUE)
        cache.set(key[name]("counter"), 0)
        (cache.set_many if makes_keys[name] else cache.set_multi)(many[name])

    def calls(make: Callable[[str, Any], Callable[[], object]]) -> dict[str, Callable[[], object] | None]:
        return {name: make(name, cache) for name, cache in systems.items()}

    def get_many(name: str, cache: Any) -> Callable[[], object]:
        method, batch = (cache.get_many if makes_keys[name] else cache.get_multi), keys[name]
        return lambda: method(batch)

    def set_many(name: str, cache: Any) -> Callable[[], object]:
        method, batch = (cache.set_many if makes_keys[name] else cache.set_multi), many[name]
        return lambda: method(batch)

    def gets(name: str, cache: Any) -> Callable[[], object]:
        get, batch = cache.get, keys[name]
        return lambda: [get(k) for k in batch]

    def one(method: str, *args: Any) -> Callable[[str, Any], Callable[[], object]]:
        def make(name: str, cache: Any) -> Callable[[], object]:
            bound, k = getattr(cache, method), key[name](args[0])
            rest = args[1:]
            return lambda: bound(k, *rest)

        return make

    # Short rounds, many of them: the machine's noise then hits every system alike.
    return [
        Case("get hit, 100 B str", calls(one("get", "hit")), number=500),
        Case("get miss", calls(one("get", "miss")), number=500),
        Case("set, 100 B str", calls(one("set", "set", VALUE)), number=500),
        Case("incr", calls(one("incr", "counter", 1)), number=500),
        Case("get_many(100)", calls(get_many), number=60),
        Case("set_many(100)", calls(set_many), number=20),
        Case("100 single gets", calls(gets), number=5),
    ]


def _table(cases: list[Case], systems: list[str]) -> str:
    ours, signed, django, raw = systems
    header = [
        "case", *systems, f"{ours} time / {raw} time", f"{ours} / {django} ops", f"{signed} / {ours} ops",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case in cases:
        medians = {name: statistics.median(case.results[name]) for name in systems}
        cells = [
            f"{medians[name]:,.0f} ({max(case.results[name]):,.0f})" for name in systems
        ]
        lines.append(
            "| " + " | ".join([
                case.name, *cells,
                f"{medians[raw] / medians[ours]:.2f}x", f"{medians[ours] / medians[django]:.2f}x",
                f"{medians[signed] / medians[ours]:.2f}x",
            ]) + " |"
        )  # fmt: skip
    many = next(c for c in cases if c.name == "get_many(100)")
    single = next(c for c in cases if c.name == "100 single gets")
    median = statistics.median(many.results[ours]) / statistics.median(single.results[ours])
    best = max(many.results[ours]) / max(single.results[ours])
    lines.append("")
    lines.append(
        f"{ours}: get_many(100) is {median:.0f}x faster than 100 single gets "
        f"({best:.0f}x best against best)."
    )
    return "\n".join(lines)


def main(rounds: int = 7) -> str:
    server = Memcached()
    try:
        by_library = _systems(f"127.0.0.1:{server.port}")
        tables = []
        for library, systems in by_library.items():
            cases = _cases(systems)
            for name, cache in systems.items():  # every system hands back what was stored
                hit = "hit" if not name.startswith("raw") else ":1:hit"
                assert cache.get(hit) == VALUE, name
            measure(cases, ROUNDS_PER_ROUND * rounds)
            names = ["cachemere", "cachemere signed", "django", LIBRARIES[library][1]]
            tables.append(f"### {library}\n\n" + _table(cases, names))
    finally:
        server.stop()
    notes = (
        f"Median (best) calls/s over {ROUNDS_PER_ROUND * rounds} interleaved rounds, one memcached "
        "on localhost; "
        "get_many/set_many count one call per 100 keys, '100 single gets' one call per 100 gets.  "
        "Time ratio: cachemere's time per call over the raw client's (lower is better).  "
        "'cachemere signed' has OPTIONS['SIGN_VALUES'] on (an HMAC-SHA256 per value written "
        "and read; integers stay unsigned, so incr costs the same)."
    )
    return notes + "\n\n" + "\n\n".join(tables)


if __name__ == "__main__":
    import sys

    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
