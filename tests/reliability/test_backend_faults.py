"""Servers SIGKILLed under load and started again on the same port.

With the degrade option on (redis ``IGNORE_EXCEPTIONS``, pymemcache
``ignore_exc``) callers see misses and no-ops only; without it (and for
pylibmc and PostgreSQL, which have none) every exception is of the one
documented type (docs/reliability.md).  Either way every worker process sees
the backend work again before the run ends, with no restart and no new cache
object, and no value is ever read under another key.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cachemere import CacheHandler, ImproperlyConfigured
from cachemere.backends.base import BaseCache
from cachemere.backends.filebased import FileBasedCache
from helpers.faults import SECRET, Backends, check_value, kill_writers_repeatedly, make_table, tmpfs
from helpers.load import run_load


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    backends = Backends().start()
    yield backends
    backends.stop()


@pytest.mark.parametrize("name", ["redis", "pymemcache"])
def test_with_the_degrade_option_a_crash_is_only_misses(backends: Backends, name: str) -> None:
    report = run_load(backends.target(name, degrade=True), seconds=2.0, inject=backends.crash(name))
    assert len(report.faults) == 2
    assert report.problems() == []
    assert report.caller_errors == 0  # not one exception reached a caller
    assert report.lost_during_faults + report.incr_misses > 0  # the outages were seen: as misses
    assert report.recovery  # every worker saw the backend work after each restart


@pytest.mark.parametrize(
    ("name", "seconds", "crashes"),
    [("redis", 2.0, 2), ("pymemcache", 2.0, 2), ("pylibmc", 3.0, 1), ("postgres", 5.0, 1)],
)
def test_without_it_a_crash_raises_the_documented_type(
    backends: Backends, name: str, seconds: float, crashes: int
) -> None:
    report = run_load(backends.target(name), seconds=seconds, inject=backends.crash(name, crashes))
    assert len(report.faults) == crashes
    assert report.problems() == []  # problems() counts any exception of another type
    assert sum(report.fault_errors.values()) > 0, "the crash was never seen"
    assert report.recovery


@pytest.mark.parametrize("degrade", [True, False], ids=["degrade", "raise"])
@pytest.mark.parametrize("name", ["redis", "pymemcache"])
def test_a_frozen_server_is_a_timeout(backends: Backends, name: str, degrade: bool) -> None:
    """SIGSTOP: the server keeps its connections but answers nothing until SIGCONT."""
    timeouts = {"socket_timeout": 0.3} if name == "redis" else {"timeout": 0.3}
    target = backends.target(name, degrade=degrade, **timeouts)
    report = run_load(target, seconds=2.5, inject=backends.hang(name))
    assert report.problems() == []
    assert report.recovery
    if degrade:
        assert report.caller_errors == 0 and report.lost_during_faults > 0
    else:
        assert sum(report.fault_errors.values()) > 0


# -- processes killed mid-write --------------------------------------------------

KEYS = [f"key-{i}" for i in range(150)]
LIMIT = 60  # MAX_ENTRIES: far below the keys written, so culls run all the time


def _read_everything(cache: BaseCache) -> list[str]:
    problems = [check_value(key, cache.get(key)) for key in KEYS]
    problems += [check_value(key, value) for key, value in cache.get_many(KEYS).items()]
    return [problem for problem in problems if problem]


def _temp_files(directory: Path) -> list[Path]:
    return [path for path in directory.glob("[0-9a-f][0-9a-f]/.*.tmp")]


def test_file_cache_writers_killed_mid_write_and_mid_cull(tmp_path: Path) -> None:
    settings = {"f": {"BACKEND": "cachemere.backends.filebased.FileBasedCache",
                      "LOCATION": str(tmp_path / "c"), "OPTIONS": {"MAX_ENTRIES": LIMIT}}}  # fmt: skip
    handler = CacheHandler(settings, SECRET_KEY=SECRET)
    handler["f"].set("warm", 1)  # used before the fork
    kills = kill_writers_repeatedly(handler, "f", KEYS, seconds=2.5)
    assert kills >= 10
    reader = CacheHandler(settings, SECRET_KEY=SECRET)["f"]
    assert isinstance(reader, FileBasedCache)
    assert _read_everything(reader) == []
    # The count recovers: a prune (as every cull) recounts, and the dead writers' temp files go.
    reader.prune()
    files = list((tmp_path / "c").glob("[0-9a-f][0-9a-f]/*.cache"))
    counts = struct.unpack("<16q", (tmp_path / "c" / ".cachemere" / "count").read_bytes())
    assert sum(counts) == len(files)
    ours = f".{os.getpid():x}-"  # temp names hold the writer's pid in hex
    assert [path for path in _temp_files(tmp_path / "c") if not path.name.startswith(ours)] == []
    for key in KEYS:  # culls keep the cache at its bound
        reader.set(key, {"key": key, "payload": b"", "sha": hashlib.sha256(key.encode()).hexdigest()})
    files = list((tmp_path / "c").glob("[0-9a-f][0-9a-f]/*.cache"))
    assert len(files) <= LIMIT
    assert sum(struct.unpack("<16q", (tmp_path / "c" / ".cachemere" / "count").read_bytes())) == len(files)
    assert _read_everything(reader) == []


def test_sqlite_writers_killed_mid_write_and_mid_cull(tmp_path: Path) -> None:
    databases = {"default": {"URL": f"sqlite:///{tmp_path / 'cache.sqlite3'}"}}
    make_table(databases, "cache")
    settings = {"d": {"BACKEND": "cachemere.backends.db.DatabaseCache", "LOCATION": "cache",
                      "OPTIONS": {"MAX_ENTRIES": LIMIT}}}  # fmt: skip
    handler = CacheHandler(settings, SECRET_KEY=SECRET, DATABASES=databases)
    handler["d"].set("warm", 1)  # used before the fork
    kills = kill_writers_repeatedly(handler, "d", KEYS, seconds=2.5)
    assert kills >= 10
    with sqlite3.connect(tmp_path / "cache.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    reader = CacheHandler(settings, SECRET_KEY=SECRET, DATABASES=databases)["d"]
    assert _read_everything(reader) == []
    for key in KEYS:  # the first writes of a new process check the table, and culls keep it bounded
        reader.set(key, {"key": key, "payload": b"", "sha": hashlib.sha256(key.encode()).hexdigest()})
    with sqlite3.connect(tmp_path / "cache.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM cache").fetchone()[0] <= LIMIT
    assert _read_everything(reader) == []


# -- a full disk -------------------------------------------------------------------


def _incompressible(size: int) -> bytes:
    return os.urandom(size)


def test_a_full_disk_fails_file_cache_writes_cleanly_and_reads_go_on() -> None:
    with tmpfs("1m") as mount:
        cache = CacheHandler({"f": {"BACKEND": "cachemere.backends.filebased.FileBasedCache",
                                    "LOCATION": str(mount / "cache")}}, SECRET_KEY=SECRET)["f"]  # fmt: skip
        kept = _incompressible(1000)
        cache.set("kept", kept)
        cache.set("counter", 5)
        stored: dict[str, bytes] = {}
        with pytest.raises(OSError) as info:
            for i in range(100):
                value = _incompressible(40_000)
                cache.set(f"fill-{i}", value)
                stored[f"fill-{i}"] = value
        assert info.value.errno == errno.ENOSPC
        assert 5 < len(stored) < 100
        assert cache.get(f"fill-{len(stored)}") is None  # the write that failed left nothing
        assert cache.get_many(list(stored)) == stored  # reads go on
        with pytest.raises(OSError):
            cache.set("kept", _incompressible(500_000))  # an overwrite that does not fit ...
        assert cache.get("kept") == kept  # ... keeps the old value
        try:  # take the last bytes too: now even a tiny record does not fit
            for i in range(1000):
                cache.set(f"small-{i}", _incompressible(200))
        except OSError:
            pass
        for write in (lambda: cache.incr("counter"), lambda: cache.touch("kept", 60),
                      lambda: cache.add("new", _incompressible(5000)), lambda: cache.set("kept", b"x" * 100),
                      lambda: cache.get_or_set("computed", _incompressible(5000))):  # fmt: skip
            with pytest.raises(OSError) as full:
                write()
            assert full.value.errno == errno.ENOSPC
        assert cache.get("counter") == 5 and cache.get("kept") == kept and cache.get("new") is None
        with pytest.raises(ImproperlyConfigured, match="other"):  # no room for a new cache's metadata
            CacheHandler({"g": {"BACKEND": "cachemere.backends.filebased.FileBasedCache",
                                "LOCATION": str(mount / "other")}}, SECRET_KEY=SECRET)["g"]  # fmt: skip
        cache.delete_many(list(stored)[:10])  # room again: the same cache object writes again
        time.sleep(0.01)  # deleted files are kept as spares, reused once they have rested 1 ms (filebased.md)
        cache.set("after", b"back")
        assert cache.get("after") == b"back"
        cache.clear()  # removes every file of ours: anything left is a half-written leftover
        assert _temp_files(mount / "cache") == []
        assert list((mount / "cache").glob("[0-9a-f][0-9a-f]/*")) == []


def test_a_full_disk_fails_sqlite_writes_cleanly_and_reads_go_on() -> None:
    with tmpfs("1m") as mount:
        databases = {"default": {"URL": f"sqlite:///{mount / 'cache.sqlite3'}"}}
        make_table(databases, "cache")
        cache = CacheHandler({"d": {"BACKEND": "cachemere.backends.db.DatabaseCache", "LOCATION": "cache"}},
                             SECRET_KEY=SECRET, DATABASES=databases)["d"]  # fmt: skip
        kept = _incompressible(1000)
        cache.set("kept", kept)
        stored: dict[str, bytes] = {}
        with pytest.raises(sqlite3.OperationalError, match="full"):
            for i in range(100):
                value = _incompressible(40_000)
                cache.set(f"fill-{i}", value)
                stored[f"fill-{i}"] = value
        assert 5 < len(stored) < 100
        assert cache.get(f"fill-{len(stored)}") is None
        assert cache.get_many(list(stored)) == stored
        assert cache.get("kept") == kept
        with sqlite3.connect(mount / "cache.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        from cachemere.backends.db.engines import dispose_all

        dispose_all()  # the tmpfs is unmounted next: no connection may hold its files
