"""The backends under test, built on servers of their own, and the faults injected into them.

:class:`Backends` starts one redis, one memcached and one PostgreSQL cluster
(stopped by PID at the end) and makes a :class:`~load.Target` for every
backend: ``target("redis", IGNORE_EXCEPTIONS=True)``.  :func:`crash` makes an
injector for :func:`load.run_load` that SIGKILLs a server and starts it again
on the same port.  :func:`tmpfs` mounts a small file system to fill up.
"""

from __future__ import annotations

import io
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cachemere.conf import Settings
from helpers.load import Fault, Target
from servers.memcached import MemcachedServer
from servers.postgres import PostgresServer, start_postgres
from servers.redis import RedisServer

SECRET = "reliability tests"
#: Every backend the load runs on.
NAMES = ["locmem", "filebased", "sqlite", "postgres", "redis", "pymemcache", "pylibmc"]
#: The backends with a server to kill.
SERVERS = ["redis", "pymemcache", "pylibmc", "postgres"]
#: pymemcache: retry a failed server after 50 ms, give up on it after one retry, try again 100 ms later.
QUICK_RETRY = {"retry_attempts": 1, "retry_timeout": 0.05, "dead_timeout": 0.1, "connect_timeout": 1, "timeout": 1}
#: pylibmc: try a failed server again after a second.
PYLIBMC_BEHAVIORS = {"retry_timeout": 1, "connect_timeout": 1000, "tcp_nodelay": True}
#: Far above the keys the load uses, so that no entry is culled by the documented rules.
ROOMY = 100_000
_names = itertools.count()


def fault_errors(name: str) -> tuple[type[BaseException], ...]:
    """The documented exception types a caller sees while this backend's server is down."""
    if name == "redis":
        import redis

        return (redis.ConnectionError, redis.TimeoutError)
    if name == "pymemcache":
        from pymemcache.exceptions import MemcacheError

        return (OSError, MemcacheError)
    if name == "pylibmc":
        import pylibmc

        return (pylibmc.Error,)
    if name == "postgres":
        import psycopg

        return (psycopg.Error,)
    return ()


class Backends:
    """Servers of one test module, and a Target for each backend on them."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cachemere-reliability-"))
        self.redis: RedisServer | None = None
        self.memcached: MemcachedServer | None = None
        self.postgres: PostgresServer | None = None

    def start(self, names: list[str] = SERVERS) -> Backends:
        if "redis" in names:
            self.redis = RedisServer(self.dir / "redis").start()
        if "pymemcache" in names or "pylibmc" in names:
            self.memcached = MemcachedServer(self.dir / "memcached").start()
        if "postgres" in names:
            self.postgres = start_postgres()
        return self

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.memcached is not None:
            self.memcached.kill()
        if self.postgres is not None:
            from cachemere.backends.db.engines import dispose_all

            dispose_all()
            self.postgres.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def target(self, name: str, degrade: bool = False, **options: Any) -> Target:
        """A fresh cache (its own prefix, directory or table) on backend ``name``.

        ``degrade``: the backend's degrade option on (redis ``IGNORE_EXCEPTIONS``,
        pymemcache ``ignore_exc``): faults must then be invisible to callers.
        """
        unique = f"r{next(_names)}"
        errors = () if degrade else fault_errors(name)
        if name == "locmem":
            entry = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": unique,
                     "OPTIONS": {"MAX_ENTRIES": ROOMY, **options}}  # fmt: skip
            return Target(name, entry, shared=False)
        if name == "filebased":
            entry = {"BACKEND": "cachemere.backends.filebased.FileBasedCache",
                     "LOCATION": str(self.dir / unique), "OPTIONS": {"MAX_ENTRIES": ROOMY, **options}}  # fmt: skip
            return Target(name, entry, {"SECRET_KEY": SECRET})
        if name in ("sqlite", "postgres"):
            url = f"sqlite:///{self.dir / unique}.sqlite3"
            if name == "postgres":
                assert self.postgres is not None
                self.postgres.create_database(unique)
                url = self.postgres.url(unique)
            databases = {"default": {"URL": url}}
            make_table(databases, "cache")
            entry = {"BACKEND": "cachemere.backends.db.DatabaseCache", "LOCATION": "cache",
                     "OPTIONS": {"MAX_ENTRIES": ROOMY, **options}}  # fmt: skip
            return Target(name, entry, {"SECRET_KEY": SECRET, "DATABASES": databases},
                          fault_errors=errors, durable=True)  # fmt: skip
        if name == "redis":
            assert self.redis is not None
            redis_options = {"socket_timeout": 2, "socket_connect_timeout": 1, **options}
            if degrade:
                redis_options["IGNORE_EXCEPTIONS"] = True
            entry = {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": self.redis.url,
                     "KEY_PREFIX": unique, "OPTIONS": redis_options}  # fmt: skip
            return Target(name, entry, fault_errors=errors)
        if name in ("pymemcache", "pylibmc"):
            assert self.memcached is not None
            if name == "pymemcache":
                backend = "PyMemcacheCache"
                mc_options: dict[str, Any] = {**QUICK_RETRY, **options}
                if degrade:
                    mc_options["ignore_exc"] = True
            else:
                assert not degrade, "pylibmc has no option that turns failures into misses"
                backend = "PyLibMCCache"
                mc_options = {"behaviors": PYLIBMC_BEHAVIORS, **options}
            entry = {"BACKEND": f"cachemere.backends.memcached.{backend}",
                     "LOCATION": self.memcached.location, "KEY_PREFIX": unique, "OPTIONS": mc_options}  # fmt: skip
            return Target(name, entry, fault_errors=errors)
        raise ValueError(f"unknown backend {name!r}")

    def crash(self, name: str, times: int = 2) -> Callable[[float], list[Fault]]:
        """An injector that SIGKILLs ``name``'s server ``times`` times and starts it on the same port."""
        if name == "redis":
            assert self.redis is not None
            server = self.redis
            return crash(server.kill, server.start, times)
        if name in ("pymemcache", "pylibmc"):
            assert self.memcached is not None
            mc = self.memcached
            return crash(mc.kill, mc.start, times)
        if name == "postgres":
            assert self.postgres is not None
            pg = self.postgres
            return crash(pg.kill, pg.resume, times)
        raise ValueError(f"{name!r} has no server")


def make_table(databases: dict[str, Any], table: str) -> None:
    from cachemere.cli.createcachetable import create_table

    create_table("default", table, out=io.StringIO(), source=Settings({"DATABASES": databases, "CACHES": {}},
                                                                      require_default=False))  # fmt: skip


def crash(kill: Callable[[], None], start: Callable[[], Any], times: int) -> Callable[[float], list[Fault]]:
    """Kill and restart a server ``times`` times in the first 60% of a run of ``seconds``."""

    def inject(seconds: float) -> list[Fault]:
        begin = time.monotonic()
        slot = seconds * 0.6 / times
        faults = []
        for index in range(times):
            _sleep_until(begin + slot * (index + 0.3))
            killed_at = time.monotonic()
            kill()
            _sleep_until(killed_at + slot * 0.3)  # down for a moment, under load
            start()
            faults.append(Fault(killed_at, time.monotonic()))
        return faults

    return inject


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


@contextmanager
def tmpfs(size: str = "1m") -> Iterator[Path]:
    """A fresh tmpfs of ``size`` (``mount -t tmpfs``, as root), unmounted afterwards."""
    mountpoint = Path(tempfile.mkdtemp(prefix="cachemere-tmpfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mountpoint)],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True, capture_output=True)
        os.rmdir(mountpoint)
