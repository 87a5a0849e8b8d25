"""The backends under test, built on servers of their own, and the faults injected into them.

:class:`Backends` starts one redis, one memcached and one PostgreSQL cluster
(stopped by PID at the end) and makes a :class:`~load.Target` for every
backend: ``target("redis", degrade=True)``.  ``Backends.crash`` makes an
injector for :func:`load.run_load` that SIGKILLs a server and starts it again
on the same port, ``Backends.hang`` one that freezes it (SIGSTOP, SIGCONT).
:func:`kill_writers_repeatedly` SIGKILLs forked writers of a file or SQLite
cache at random moments; :func:`tmpfs` mounts a small file system to fill up
(``mount -t tmpfs``: the tests run as root, as scripts/test does).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cachemere import CacheHandler
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
QUICK_RETRY = {
    "retry_attempts": 1, "retry_timeout": 0.05, "dead_timeout": 0.1, "connect_timeout": 1, "timeout": 1,
}  # fmt: skip
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
            self.postgres = start_postgres(durable=True)  # a commit survives a SIGKILL
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
                     "LOCATION": str(self.dir / unique),
                     "OPTIONS": {"MAX_ENTRIES": ROOMY, **options}}  # fmt: skip
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
                     "LOCATION": self.memcached.location,
                     "KEY_PREFIX": unique, "OPTIONS": mc_options}  # fmt: skip
            settle = 0.3 if name == "pymemcache" else PYLIBMC_BEHAVIORS["retry_timeout"] + 0.3
            return Target(name, entry, fault_errors=errors, settle=settle)
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


    def hang(self, name: str, times: int = 1) -> Callable[[float], list[Fault]]:
        """An injector that freezes ``name``'s server (SIGSTOP) for a while, then lets it go on (SIGCONT).

        Connections stay open and nothing answers: callers wait for their
        socket timeout instead of being refused.
        """
        if name == "redis":
            assert self.redis is not None and self.redis.pid is not None
            pid = self.redis.pid
        else:
            assert self.memcached is not None
            pid = int(self.memcached.pidfile.read_text())
        return crash(lambda: os.kill(pid, signal.SIGSTOP), lambda: os.kill(pid, signal.SIGCONT), times)


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
        # A file cache keeps its metadata files open for the life of the process
        # (they are per directory, shared by every instance): detach lazily, and
        # the kernel frees the file system once they are closed.
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=True, capture_output=True)
        os.rmdir(mountpoint)


def checked_value(key: str, rng: random.Random) -> dict[str, Any]:
    """A value that carries its key and a checksum of itself, so a reader can tell it is whole and its own."""
    size = rng.choice((10, 300, 5000, 70_000, 300_000))
    payload = os.urandom(size) if rng.random() < 0.5 else bytes([rng.randrange(256)]) * size
    return {"key": key, "payload": payload, "sha": hashlib.sha256(key.encode() + payload).hexdigest()}


def check_value(key: str, value: Any) -> str | None:
    """What is wrong with a value read under ``key`` (None: nothing; a miss is fine)."""
    if value is None or isinstance(value, int):
        return None
    if not isinstance(value, dict) or value.get("key") != key:
        return f"{key!r} holds a value of another key: {value!r:.100}"
    if hashlib.sha256(key.encode() + value["payload"]).hexdigest() != value["sha"]:
        return f"{key!r} holds a torn value"
    return None


def writer(handler: CacheHandler, alias: str, keys: list[str], seed: int) -> None:
    """Write, add, increment, delete and read forever (until killed): culls happen as the cache fills."""
    cache = handler[alias]
    rng = random.Random(seed)
    while True:
        key = rng.choice(keys)
        roll = rng.random()
        if roll < 0.45:
            cache.set(key, checked_value(key, rng), rng.choice((None, 300, 0.05)))
        elif roll < 0.55:
            cache.add(key, checked_value(key, rng), 300)
        elif roll < 0.65:
            cache.set_many({k: checked_value(k, rng) for k in rng.sample(keys, 3)}, 300)
        elif roll < 0.75:
            try:
                cache.incr(f"counter-{seed % 3}")
            except ValueError:
                cache.add(f"counter-{seed % 3}", 1, None)
        elif roll < 0.85:
            cache.delete(key)
        elif roll < 0.9:
            cache.touch(key, 300)
        else:
            problem = check_value(key, cache.get(key))
            assert problem is None, problem


def fork_writer(handler: CacheHandler, alias: str, keys: list[str], seed: int) -> int:
    """Fork a process running :func:`writer`; it never returns into the caller's code."""
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            writer(handler, alias, keys, seed)
        except BaseException:
            traceback.print_exc()
            status = 3
        finally:
            os._exit(status)
    return pid


def kill_writers_repeatedly(handler: CacheHandler, alias: str, keys: list[str], seconds: float,
                            processes: int = 4) -> int:  # fmt: skip
    """Run writers for ``seconds``, SIGKILLing one at a random moment and forking a replacement; return kills.

    A writer that stopped by itself (an exception: a torn value it read)
    fails with its exit status.
    """
    rng = random.Random(seconds)
    seeds = itertools.count()
    pids = [fork_writer(handler, alias, keys, next(seeds)) for _ in range(processes)]
    kills = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.02, 0.15))
            victim = pids.pop(rng.randrange(len(pids)))
            _kill_child(victim)
            kills += 1
            pids.append(fork_writer(handler, alias, keys, next(seeds)))
    finally:
        for pid in pids:
            _kill_child(pid)
    return kills


def _kill_child(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status):  # it stopped before the signal: its own failure
        raise AssertionError(f"writer {pid} stopped by itself with status {os.WEXITSTATUS(status)}")
