"""Reliability report: every backend under load, servers and writers killed, then the page cache.

``python benchmarks/reliability.py [--seconds N] [--http-seconds M]`` runs a
longer version of tests/reliability/test_backend_load.py and
test_backend_faults.py (the same code: tests/helpers/load.py and faults.py)
and prints one table row per run:

* operations done by every worker (3 forked processes x 2 threads + 2 asyncio
  tasks), errors callers saw (with the degrade option on, the target is 0; with
  it off, each is of the one documented type), faults injected, the worst time
  from a server's return to a worker's first successful probe;
* misses and stale reads of a worker's own keys during faults (a write dropped
  by a failing client leaves the old value: see docs/reliability.md);
* values lost beyond the documented eviction rules (a private key that did
  not read back what its worker last wrote, after the backend had recovered:
  target 0), foreign values (read under a key they were never stored under:
  target 0), and whether increments summed exactly.

For the file and SQLite caches, writers are SIGKILLed in the middle of writes
and culls instead, and every value is then read back and checked.  Then the
page-cache table of benchmarks/reliability_http.py.  Every server is started
here on a free port and stopped by PID.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from harness import markdown  # noqa: E402

HEADER = ["backend", "run", "operations", "errors seen by callers", "faults injected",
          "worst recovery (s)", "misses / stale reads during faults", "values lost", "foreign values",
          "incr exact"]  # fmt: skip


def _load_rows(backends: Any, seconds: float) -> list[list[str]]:
    from helpers.faults import NAMES
    from helpers.load import LoadReport, run_load

    def row(name: str, run: str, report: LoadReport, exact: str) -> list[str]:
        worst = report.worst_recovery
        errors = str(report.caller_errors)
        if report.fault_errors:
            errors += " (" + ", ".join(f"{n} {kind}" for kind, n in sorted(report.fault_errors.items())) + ")"
        if report.error_count:
            errors += f" ({report.error_count} unexpected: {report.errors[0][:60]})"
        recovery = "n/a" if worst is None else f"{worst:.2f}"
        if report.unrecovered:
            recovery = f"never, for {len(report.unrecovered)} workers"
        during = f"{report.lost_during_faults} / {report.stale_during_faults}" if report.faults else "n/a"
        return [name, run, f"{report.ops:,}", errors, str(len(report.faults)), recovery, during,
                str(len(report.lost) + len(report.stale)), str(len(report.foreign)), exact]  # fmt: skip

    rows = []
    for name in NAMES:
        report = run_load(backends.target(name), seconds)
        rows.append(row(name, "load", report, "yes" if not report.incr_problems else "NO"))
        _progress(rows[-1])
    # The checker's own check: BaseCache's generic incr (get, then set) on the same server.
    generic = backends.target("redis")
    generic.caches["BACKEND"] = _generic_incr_redis()
    report = run_load(generic, seconds)
    rows.append(row("redis", "BaseCache's generic incr (a custom backend's default)", report,
                    "yes" if not report.incr_problems else "NO: " + report.incr_problems[-1]))  # fmt: skip
    _progress(rows[-1])
    crashes = max(2, int(seconds // 4))
    for name, degrade in [("redis", True), ("redis", False), ("pymemcache", True), ("pymemcache", False),
                          ("pylibmc", False), ("postgres", False)]:  # fmt: skip
        times = 1 if name in ("pylibmc", "postgres") else crashes
        label = "server SIGKILLed, " + ("degrade option on" if degrade else "no degrade option")
        report = run_load(backends.target(name, degrade=degrade), seconds, inject=backends.crash(name, times))
        rows.append(row(name, label, report, "n/a (counter lost)" if not degrade and name != "postgres"
                        else "n/a"))  # fmt: skip
        _progress(rows[-1])
    for name, degrade in [("redis", True), ("redis", False), ("pymemcache", True), ("pymemcache", False)]:
        timeouts = {"socket_timeout": 0.3} if name == "redis" else {"timeout": 0.3}
        label = "server frozen (SIGSTOP), 0.3 s timeouts, " + ("degrade option on" if degrade else
                                                                "no degrade option")  # fmt: skip
        report = run_load(backends.target(name, degrade=degrade, **timeouts), seconds,
                          inject=backends.hang(name, crashes))  # fmt: skip
        rows.append(row(name, label, report, "n/a"))
        _progress(rows[-1])
    return rows


def _generic_incr_redis() -> type:
    from cachemere.backends.base import BaseCache
    from cachemere.backends.redis import RedisCache

    class GenericIncrRedisCache(RedisCache):
        """RedisCache with BaseCache's incr: a get and a set, as a custom backend gets by default."""

        incr = BaseCache.incr
        aincr = BaseCache.aincr

    return GenericIncrRedisCache


def _kill_rows(backends: Any, seconds: float) -> list[list[str]]:
    from cachemere import CacheHandler
    from helpers.faults import SECRET, check_value, kill_writers_repeatedly, make_table

    keys = [f"key-{i}" for i in range(150)]
    rows = []
    for name in ("filebased", "sqlite"):
        if name == "filebased":
            caches = {"k": {"BACKEND": "cachemere.backends.filebased.FileBasedCache",
                            "LOCATION": str(backends.dir / "killed-files"),
                            "OPTIONS": {"MAX_ENTRIES": 60}}}  # fmt: skip
            settings: dict[str, Any] = {"SECRET_KEY": SECRET}
        else:
            databases = {"default": {"URL": f"sqlite:///{backends.dir / 'killed.sqlite3'}"}}
            make_table(databases, "cache")
            caches = {"k": {"BACKEND": "cachemere.backends.db.DatabaseCache", "LOCATION": "cache",
                            "OPTIONS": {"MAX_ENTRIES": 60}}}  # fmt: skip
            settings = {"SECRET_KEY": SECRET, "DATABASES": databases}
        handler = CacheHandler(caches, **settings)
        handler["k"].set("warm", 1)
        errors = 0
        try:
            kills = kill_writers_repeatedly(handler, "k", keys, seconds)
        except AssertionError:
            kills, errors = 0, 1
        started = time.monotonic()
        reader = CacheHandler(caches, **settings)["k"]
        reads = 0
        recovered = None
        bad = 0
        while reads < 20 * len(keys):  # read everything a few times, as later readers would
            bad += sum(check_value(key, reader.get(key)) is not None for key in keys)
            reads += len(keys)
            if recovered is None:
                reader.set("after", 1)
                recovered = time.monotonic() - started if reader.get("after") == 1 else None
        rows.append([name, "writers SIGKILLed mid-write and mid-cull", f"{reads:,} reads checked",
                     str(errors), f"{kills} processes killed",
                     "n/a" if recovered is None else f"{recovered:.3f}", "n/a", "n/a", str(bad),
                     "n/a"])  # fmt: skip
        _progress(rows[-1])
    return rows


def _progress(row: list[str]) -> None:
    print("  " + " | ".join(row), file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each backend run (default 8)")
    parser.add_argument("--http-seconds", type=float, default=60.0,
                        help="time budget of the page-cache runs in all (default 60)")  # fmt: skip
    args = parser.parse_args()
    from helpers.faults import Backends

    # The degrade options log every failed call at ERROR: counted in the table, not printed.
    logging.getLogger("cachemere").addHandler(logging.NullHandler())
    logging.getLogger("cachemere").propagate = False
    started = time.monotonic()
    backends = Backends().start()
    try:
        rows = _load_rows(backends, args.seconds) + _kill_rows(backends, args.seconds)
    finally:
        backends.stop()
    print("## Storage backends\n")
    print(markdown(HEADER, rows))
    print(f"\n{args.seconds:g} s per run; {time.monotonic() - started:.0f} s in all.\n", flush=True)
    print("## Page cache\n")
    try:
        import reliability_http
    except ImportError as exc:
        print(f"benchmarks/reliability_http.py is not there yet ({exc}): no page-cache table.")
    else:
        print(reliability_http.run(args.http_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
