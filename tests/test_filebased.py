"""FileBasedCache beyond the conformance suite: directory, signing, format, culling, clear, touch."""

from __future__ import annotations

import builtins
import hashlib
import math
import os
import pickle
import stat
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cachemere
from cachemere import CacheHandler
from cachemere.backends.filebased import spares as filespares
from cachemere.backends.filebased import store as filestore
from cachemere.backends.filebased.backend import HEADER, MAGIC, FileBasedCache
from cachemere.conf import settings
from cachemere.exceptions import ImproperlyConfigured
from cachemere.signing import SIGNATURE_SIZE, derive_key, sign

BACKEND = "cachemere.backends.filebased.FileBasedCache"


@pytest.fixture(autouse=True)
def no_secret_key() -> Iterator[None]:
    settings.reset()
    yield
    settings.reset()


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "cache"


class Clock:
    """A fake ``time.time``: starts at the real time and moves only when told."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Expiry without sleeping: the backend reads ``time.time`` at call time."""
    fake = Clock()
    monkeypatch.setattr(time, "time", fake)
    return fake


def make(directory: Path | str, **options: Any) -> FileBasedCache:
    return FileBasedCache(directory, {"OPTIONS": options})


def key_file(directory: Path, key: str, version: int = 1) -> Path:
    """Where the documented layout puts a key: <shard>/<md5 of the made key>.cache."""
    digest = hashlib.md5(f":{version}:{key}".encode()).hexdigest()
    return directory / digest[:2] / f"{digest}.cache"


def cache_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("??/*.cache"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- LOCATION -------------------------------------------------------------------


class TestLocation:
    def test_relative_or_empty_location_is_an_error(self) -> None:
        for bad in ("relative/dir", "", None, 42):
            with pytest.raises(ImproperlyConfigured, match="LOCATION must be an absolute directory path"):
                FileBasedCache(bad, {})

    def test_error_names_the_alias(self) -> None:
        handler = CacheHandler({"files": {"BACKEND": BACKEND, "LOCATION": "cache-here"}})
        with pytest.raises(ImproperlyConfigured, match=r"CACHES\['files'\].*'cache-here'"):
            handler["files"]

    def test_created_with_mode_0700_at_every_level(self, tmp_path: Path) -> None:
        tmp_path.chmod(0o755)
        directory = tmp_path / "a" / "b" / "c"
        old = os.umask(0o000)  # a permissive umask must not leak into the modes
        try:
            cache = make(directory)
            cache.set("key", "value")
        finally:
            os.umask(old)
        for level in (tmp_path / "a", tmp_path / "a" / "b", directory):
            assert mode(level) == 0o700, level
        assert mode(tmp_path) == 0o755  # an existing parent is left alone
        shard = key_file(directory, "key").parent
        assert mode(shard) == 0o700
        assert mode(directory / ".cachemere") == 0o700

    def test_trailing_slash_and_path_objects_mean_the_same_directory(self, directory: Path) -> None:
        make(str(directory) + "/").set("key", "value")
        assert make(directory).get("key") == "value"
        assert make(str(directory) + "//").directory == str(directory)

    def test_location_under_a_regular_file(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        for location in (blocker, blocker / "cache"):
            with pytest.raises(ImproperlyConfigured, match="cannot be used as a cache directory") as info:
                make(location)
            assert str(location) in str(info.value)

    def test_directory_without_write_permission(self, tmp_path: Path) -> None:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        tmp_path.chmod(0o755)
        if os.geteuid() != 0:
            with pytest.raises(ImproperlyConfigured, match="cannot be used as a cache directory"):
                make(locked / "cache")
            return
        # root may write anywhere: try as an unprivileged user in a forked child.
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            message = b"no error"
            try:
                os.setgid(65534)
                os.setuid(65534)
                make(locked / "cache")
            except ImproperlyConfigured as exc:
                message = str(exc).encode()
            except BaseException as exc:
                message = repr(exc).encode()
            os.write(write, message)
            os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read, "rb") as pipe:
            message = pipe.read().decode()
        assert os.waitstatus_to_exitcode(status) == 0
        assert "cannot be used as a cache directory" in message
        assert str(locked / "cache") in message
        assert "Permission denied" in message

    def test_unknown_and_bad_options(self, directory: Path) -> None:
        with pytest.raises(ImproperlyConfigured, match="unknown OPTIONS key 'MAX_ENTRYS'"):
            make(directory, MAX_ENTRYS=3)
        with pytest.raises(ImproperlyConfigured, match=r"OPTIONS\['FSYNC'\] must be True or False"):
            make(directory, FSYNC="yes")
        for bad in ("", b"", 42):
            with pytest.raises(ImproperlyConfigured, match="SIGNING_KEY"):
                make(directory, SIGNING_KEY=bad)

    def test_misspelt_option_is_named_with_a_suggestion(self, directory: Path) -> None:
        handler = CacheHandler(
            {"files": {"BACKEND": BACKEND, "LOCATION": directory, "OPTIONS": {"MAX_ENTRIE": 5}}}
        )
        with pytest.raises(ImproperlyConfigured) as info:
            handler["files"]
        message = str(info.value)
        assert message.startswith("CACHES['files']: ")
        assert "'MAX_ENTRIE' (did you mean 'MAX_ENTRIES'?)" in message
        assert not directory.exists()  # refused before anything was created

    def test_django_backend_path_is_mapped(self, directory: Path) -> None:
        django_path = "django.core.cache.backends.filebased.FileBasedCache"
        handler = CacheHandler({"default": {"BACKEND": django_path, "LOCATION": directory}})
        assert isinstance(handler["default"], FileBasedCache)

    def test_directory_removed_while_in_use(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("before", 1)
        for path in sorted(directory.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        directory.rmdir()
        cache.set("after", 2)
        assert cache.get("after") == 2
        assert cache.get("before") is None
        assert mode(directory) == 0o700
        assert cache._state.total() == 1
        assert make(directory).get("after") == 2  # a new instance reads the new key file


# -- the file format and signatures --------------------------------------------------


def incr_fails(cache: FileBasedCache) -> bool:
    with pytest.raises(ValueError):
        cache.incr("key")
    return True


class Marker:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (builtins.open, (str(self.path), "w"))


class TestSigning:
    def plant(self, target: Path, content: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)

    def forged_files(self, marker: Path) -> dict[str, bytes]:
        evil = pickle.dumps(Marker(marker))
        header = HEADER.pack(MAGIC, 0, math.inf)
        return {
            "our format, bogus signature": header + evil + os.urandom(32),
            "our format, no signature": header + evil,
            "Django's format": pickle.dumps(None) + zlib.compress(evil),
            "bare pickle": evil,
            "empty": b"",
        }

    def test_forged_pickles_are_never_loaded(self, directory: Path, tmp_path: Path) -> None:
        cache = make(directory)
        marker = tmp_path / "pwned"
        target = key_file(directory, "key")
        for name, content in self.forged_files(marker).items():
            for operation in (
                lambda: cache.get("key", "default") == "default",
                lambda: cache.get_many(["key"]) == {},
                lambda: cache.has_key("key") is False,
                lambda: cache.touch("key") is False,
                lambda: cache.add("key", "mine") is True and cache.get("key") == "mine",
                lambda: incr_fails(cache),
            ):
                self.plant(target, content)
                assert operation(), name
                assert not marker.exists(), name
                if target.exists():  # only add() puts a real value there
                    assert cache.get("key") == "mine"
                    cache.delete("key")
                assert not target.exists(), name

    def test_value_signed_with_another_key_is_a_miss_and_removed(self, directory: Path) -> None:
        make(directory, SIGNING_KEY="one").set("key", "value")
        other = make(directory, SIGNING_KEY="two")
        assert other.get("key") is None
        assert not key_file(directory, "key").exists()

    def test_signature_covers_the_key(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("a", "value of a")
        os.makedirs(key_file(directory, "b").parent, exist_ok=True)
        os.replace(key_file(directory, "a"), key_file(directory, "b"))
        assert cache.get("b") is None

    def test_signature_covers_the_expiry(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("key", "value", 100)
        target = key_file(directory, "key")
        data = bytearray(target.read_bytes())
        struct.pack_into("<d", data, 5, math.inf)  # try to make it live forever
        target.write_bytes(bytes(data))
        assert cache.get("key") is None

    def test_signing_key_option_beats_secret_key_setting(self, directory: Path) -> None:
        cachemere.configure(SECRET_KEY="from settings")
        make(directory).set("by-secret", 1)
        make(directory, SIGNING_KEY=b"from options").set("by-option", 2)
        assert make(directory).get("by-secret") == 1
        assert make(directory, SIGNING_KEY="from options").get("by-option") == 2
        assert make(directory, SIGNING_KEY="another").get("by-secret") is None
        assert not (directory / ".cachemere" / "key").exists()  # nothing generated
        settings.reset()
        assert make(directory).get("by-option") is None  # generated key now: a different one

    def test_handler_secret_key_signs(self, directory: Path) -> None:
        def handler(secret: str) -> Any:
            return CacheHandler({"default": {"BACKEND": BACKEND, "LOCATION": directory}}, SECRET_KEY=secret)

        cachemere.configure(SECRET_KEY="the global one")  # must not be the one used
        handler("k")["default"].set("key", "value")
        data = key_file(directory, "key").read_bytes()
        raw = b":1:key"
        signed = struct.pack("<I", len(raw)) + raw + data[:-SIGNATURE_SIZE]
        assert data[-SIGNATURE_SIZE:] == sign(derive_key(b"k", "filebased"), signed)
        assert handler("other")["default"].get("key") is None  # another key: a miss (and removed)
        handler("k")["default"].set("key", "value")
        assert make(directory).get("key") is None  # the global SECRET_KEY cannot read it either
        handler("k")["default"].set("key", "value")
        assert handler("k")["default"].get("key") == "value"
        assert not (directory / ".cachemere" / "key").exists()  # nothing generated

    def test_secret_key_setting_must_not_be_empty(self, directory: Path) -> None:
        cachemere.configure(SECRET_KEY="")
        with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
            make(directory)

    def test_generated_key_file(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("key", "value")
        key = directory / ".cachemere" / "key"
        assert mode(key) == 0o600
        assert key.stat().st_uid == os.geteuid()
        assert len(key.read_bytes()) == 32
        assert FileBasedCache(directory, {}).get("key") == "value"
        cache.clear()
        assert key.exists()  # clear() keeps the metadata

    def test_generated_key_file_readable_by_others_is_refused(self, directory: Path) -> None:
        make(directory)
        key = directory / ".cachemere" / "key"
        key.chmod(0o644)
        filestore.state_for(str(directory))._key = None
        with pytest.raises(ImproperlyConfigured, match=r"signing key file .* readable or writable by others"):
            make(directory)

    def test_generated_key_file_damaged(self, directory: Path) -> None:
        make(directory)
        key = directory / ".cachemere" / "key"
        key.write_bytes(b"short")
        filestore.state_for(str(directory))._key = None
        with pytest.raises(ImproperlyConfigured, match="holds 5 bytes"):
            make(directory)

    def test_file_layout(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("key", {"a": 1}, None)
        data = key_file(directory, "key").read_bytes()
        magic, flags, expiry = HEADER.unpack_from(data)
        assert (magic, flags, expiry) == (MAGIC, 0, math.inf)
        assert pickle.loads(data[HEADER.size : -32]) == {"a": 1}
        assert mode(key_file(directory, "key")) == 0o600

    def test_large_values_are_compressed(self, directory: Path) -> None:
        cache = make(directory)
        value = "abc" * 100_000
        cache.set("big", value)
        assert key_file(directory, "big").stat().st_size < 10_000
        assert cache.get("big") == value
        noise = os.urandom(100_000)  # incompressible: stored as it is
        cache.set("noise", noise)
        assert key_file(directory, "noise").stat().st_size > 100_000
        assert cache.get("noise") == noise


# -- reads ------------------------------------------------------------------------


class TestReads:
    def test_get_ignores_missing_file_race(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        cache = make(directory)
        cache.set("key", "value")
        calls = []

        def vanished(path: str, *args: Any) -> int:
            calls.append(path)
            raise FileNotFoundError(path)

        monkeypatch.setattr(os, "open", vanished)
        assert cache.has_key("key") is False
        assert cache.get("key", "default") == "default"
        assert len(calls) == 2

    def test_get_does_not_hide_other_errors(self, directory: Path) -> None:
        cache = make(directory)
        target = key_file(directory, "key")
        target.mkdir(parents=True)
        with pytest.raises(IsADirectoryError):
            cache.get("key")

    def test_empty_or_truncated_file_is_a_miss_and_removed(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("key", "value" * 100)
        target = key_file(directory, "key")
        full = target.read_bytes()
        for content in (b"", full[:10], full[:-1], full[: len(full) // 2]):
            cache.set("key", "value" * 100)
            target.write_bytes(content)
            assert cache.get("key", "miss") == "miss"
            assert not target.exists()
        assert cache._state.total() == 0

    def test_expired_file_removed_on_read(self, directory: Path, clock: Clock) -> None:
        cache = make(directory)
        cache.set("key", "value", 10)
        clock.advance(9.9)
        assert cache.get("key") == "value"
        clock.advance(0.1)  # expiry <= now: expired
        assert cache.get("key") is None
        assert not key_file(directory, "key").exists()
        assert cache._state.total() == 0

    def test_foreign_files_are_ignored(self, directory: Path) -> None:
        cache = make(directory, MAX_ENTRIES=3)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "notes.txt").write_text("mine")
        shard = key_file(directory, "x").parent
        shard.mkdir(parents=True, exist_ok=True)
        (shard / "README").write_text("also mine")
        for i in range(10):
            cache.set(f"k{i}", i)
        cache.clear()
        assert (directory / "notes.txt").read_text() == "mine"
        assert (shard / "README").read_text() == "also mine"


# -- writes: add, touch, incr -------------------------------------------------------


class TestWrites:
    def test_touch_on_expired_file_returns_false(self, directory: Path, clock: Clock) -> None:
        cache = make(directory)
        cache.set("key", "value", 10)
        clock.advance(11)
        assert cache.touch("key") is False
        assert not key_file(directory, "key").exists()

    def test_touch_keeps_value_and_sets_expiry(self, directory: Path, clock: Clock) -> None:
        cache = make(directory)
        cache.set("key", {"v": 1}, 10)
        assert cache.touch("key", None) is True
        assert HEADER.unpack_from(key_file(directory, "key").read_bytes())[2] == math.inf
        clock.advance(11)
        assert cache.get("key") == {"v": 1}
        assert cache.touch("key", 100) is True
        assert HEADER.unpack_from(key_file(directory, "key").read_bytes())[2] == clock.now + 100
        assert cache.touch("key", 0) is True
        assert not key_file(directory, "key").exists()
        assert cache._state.total() == 0

    def test_incr_keeps_expiry_and_is_exact(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("n", 10, 100)
        before = HEADER.unpack_from(key_file(directory, "n").read_bytes())[2]
        assert cache.incr("n", 5) == 15
        assert cache.decr("n", 20) == -5
        assert HEADER.unpack_from(key_file(directory, "n").read_bytes())[2] == before
        with pytest.raises(ValueError, match="Key 'missing' not found"):
            cache.incr("missing")
        cache.set("big", 2**64)
        assert cache.incr("big") == 2**64 + 1

    def test_add_replaces_expired_and_counts_once(self, directory: Path, clock: Clock) -> None:
        cache = make(directory)
        assert cache.add("key", "one", 10) is True
        assert cache.add("key", "two") is False
        clock.advance(11)
        assert cache.add("key", "three") is True
        assert cache.get("key") == "three"
        assert cache._state.total() == 1
        assert cache.add("key", "four", 0) is False  # live value: add with timeout 0 changes nothing
        assert cache.get("key") == "three"

    def test_set_with_expired_timeout_removes_the_key(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("key", "value")
        cache.set("key", "other", -1)
        assert not key_file(directory, "key").exists()
        assert cache._state.total() == 0

    def test_unpicklable_value_leaves_old_value(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("key", "old")
        with pytest.raises(pickle.PickleError):
            cache.set("key", Unpicklable())
        assert cache.get("key") == "old"
        assert not list(directory.glob("??/*.tmp"))

    def test_fsync_option(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        synced: list[int] = []
        real = os.fsync
        cache = make(directory)
        monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
        cache.set("key", 1)
        assert synced == []
        make(directory, FSYNC=True).set("key", 2)
        assert len(synced) == 1

    def test_async_incr_uses_the_atomic_incr(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        import asyncio

        cache = make(directory)
        cache.set("n", 1)
        used = []
        real = FileBasedCache.incr
        monkeypatch.setattr(FileBasedCache, "incr", lambda self, *a: used.append(a) or real(self, *a))
        assert asyncio.run(cache.aincr("n", 2)) == 3
        assert asyncio.run(cache.adecr("n")) == 2
        assert len(used) == 2


class Unpicklable:
    def __getstate__(self) -> Any:
        raise pickle.PickleError("no")


# -- counting, culling, clear ------------------------------------------------------


class TestCulling:
    def test_set_lists_no_directory_below_max_entries(
        self, directory: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cache = make(directory, MAX_ENTRIES=1000)
        cache.set("warm-up", 0)

        def forbidden(*args: Any) -> Any:
            raise AssertionError("listed a directory")

        monkeypatch.setattr(os, "scandir", forbidden)
        monkeypatch.setattr(os, "listdir", forbidden)
        for i in range(300):
            cache.set(f"key{i}", i)
            cache.add(f"new{i}", i)
        for i in range(300):
            cache.set(f"key{i}", -i)  # overwrites are not new entries
        assert cache._state.total() == 601
        monkeypatch.undo()
        assert len(cache_files(directory)) == 601

    def test_count_is_shared_between_instances_and_exact(self, directory: Path) -> None:
        one, two = make(directory), make(directory)
        for i in range(20):
            one.set(f"k{i}", i)
        two.delete("k0")
        two.delete("k0")
        two.delete_many(["k1", "k2"])
        assert one._state.total() == two._state.total() == 17 == len(cache_files(directory))

    def test_cull_removes_expired_first_then_oldest(self, directory: Path, clock: Clock) -> None:
        cache = make(directory, MAX_ENTRIES=10, CULL_FREQUENCY=3)
        for i in range(2):
            cache.set(f"expiring{i}", i, 10)
        for i in range(8):
            cache.set(f"live{i}", i)
        for i in range(8):  # live0 is the oldest, live7 the newest
            os.utime(key_file(directory, f"live{i}"), (clock.now - 100 + i, clock.now - 100 + i))
        clock.advance(11)
        cache.set("trigger", "x")  # 10 >= MAX_ENTRIES: cull 10 // 3 = 3 files
        assert not cache.has_key("expiring0") and not cache.has_key("expiring1")
        assert not cache.has_key("live0")
        assert all(cache.has_key(f"live{i}") for i in range(1, 8))
        assert cache.get("trigger") == "x"
        assert cache._state.total() == 8 == len(cache_files(directory))

    def test_cull_fixes_a_drifted_count(self, directory: Path) -> None:
        cache = make(directory, MAX_ENTRIES=10)
        for i in range(9):
            cache.set(f"k{i}", i)
        for path in cache_files(directory)[:5]:  # removed behind the cache's back
            path.unlink()
        cache.set("k9", 9)  # the count says 9 -> 10: no cull yet
        cache.set("k10", 10)  # says 10: the scan finds 5 and culls nothing
        assert len(cache_files(directory)) == 6
        assert cache._state.total() == 6

    def test_zero_frequency_empties_the_cache(self, directory: Path) -> None:
        cache = make(directory, MAX_ENTRIES=5, CULL_FREQUENCY=0)
        for i in range(5):
            cache.set(f"k{i}", i)
        cache.set("last", 1)
        assert [p.name for p in cache_files(directory)] == [key_file(directory, "last").name]

    def test_small_max_entries_still_culls(self, directory: Path) -> None:
        # Django computes int(2 / 3) == 0 victims and grows forever.
        cache = make(directory, MAX_ENTRIES=2, CULL_FREQUENCY=3)
        for i in range(10):
            cache.set(f"k{i}", i)
        assert len(cache_files(directory)) == 2

    def test_orphaned_temp_files_are_removed_when_old(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("key", 1)
        shard = key_file(directory, "key").parent
        old, young = shard / ".dead-1.tmp", shard / ".busy-2.tmp"
        old.write_bytes(b"partial")
        young.write_bytes(b"partial")
        past = time.time() - filestore.ORPHAN_AGE - 10
        os.utime(old, (past, past))
        cache.prune()
        assert not old.exists() and young.exists()
        assert cache.get("key") == 1
        old.write_bytes(b"partial")
        os.utime(old, (past, past))
        cache.clear()
        assert not old.exists() and young.exists()

    def test_prune_removes_expired_and_damaged(self, directory: Path, clock: Clock) -> None:
        cache = make(directory)
        cache.set("short", 1, 10)
        cache.set("long", 2)
        cache.set("damaged", 3)
        key_file(directory, "damaged").write_bytes(b"garbage")
        clock.advance(11)
        cache.prune()
        assert [p.name for p in cache_files(directory)] == [key_file(directory, "long").name]
        assert cache._state.total() == 1

    def test_clear_removes_cache_files_and_shards_only(self, directory: Path) -> None:
        cache = make(directory)
        for i in range(50):
            cache.set(f"k{i}", i)
        (directory / "foreign.txt").write_text("keep")
        cache.clear()
        assert directory.is_dir()
        assert sorted(p.name for p in directory.iterdir()) == [".cachemere", "foreign.txt"]
        assert cache._state.total() == 0
        cache.set("again", 1)
        assert cache.get("again") == 1


# -- recycled files (spares) and the cull queue --------------------------------------


def temp_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("??/*.tmp"))


class TestSpares:
    def test_overwrites_reuse_files(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        cache = make(directory)
        for i in range(10):
            cache.set(f"k{i}", i)
        created = []
        real = filestore.write_temp
        monkeypatch.setattr(filestore, "write_temp", lambda *a: created.append(a) or real(*a))
        for round_ in range(20):
            for i in range(10):
                cache.set(f"k{i}", (round_, i))
            time.sleep(filespares.QUARANTINE * 2)
        assert len(created) <= 10  # the first overwrites only; then old files are rewritten
        assert all(cache.get(f"k{i}") == (19, i) for i in range(10))
        assert cache._state.total() == 10 == len(cache_files(directory))
        inodes = {p.stat().st_ino for p in cache_files(directory) + temp_files(directory)}
        assert len(inodes) <= 10 + filespares.CAPACITY

    def test_large_files_are_not_kept(self, directory: Path) -> None:
        cache = make(directory)
        big = os.urandom(filespares.MAX_SIZE + 1)
        cache.set("big", big)
        cache.set("big", big[::-1])
        cache.delete("big")
        assert temp_files(directory) == []

    def test_torn_read_is_read_again_under_the_lock(
        self, directory: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cache = make(directory)
        cache.set("key", {"v": 1})
        from cachemere.backends.filebased import backend as filebased

        real = filebased._read_fd
        torn = [True]

        def read_once_torn(fd: int) -> bytes:
            data = real(fd)
            if torn:
                torn.pop()
                return data[: len(data) // 2] + bytes(len(data) - len(data) // 2)
            return data

        monkeypatch.setattr(filebased, "_read_fd", read_once_torn)
        assert cache.get("key") == {"v": 1}
        assert key_file(directory, "key").exists()

    def test_vanished_spare_is_replaced(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("key", 1)
        cache.set("key", 2)  # the first file is now a spare
        time.sleep(filespares.QUARANTINE * 2)
        for spare in temp_files(directory):
            spare.unlink()  # e.g. taken for an orphan by another process's clear()
        cache.set("key", 3)
        assert cache.get("key") == 3

    def test_spare_taken_between_write_and_rename(
        self, directory: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cache = make(directory)
        cache.set("key", 1)
        real = filestore.rewrite_spare

        def rewrite_then_lose(path: str, *args: Any) -> bool:
            done = real(path, *args)
            os.unlink(path)  # an orphan clean-up fooled by the spare's old mtime
            return done

        monkeypatch.setattr(filestore, "rewrite_spare", rewrite_then_lose)
        cache.set("key", 2)
        time.sleep(filespares.QUARANTINE * 2)
        cache.set("key", 3)
        assert cache.get("key") == 3
        assert cache._state.total() == 1

    def test_spares_are_removed_at_exit_and_by_clear(self, directory: Path) -> None:
        script = (
            "import sys, time\n"
            "from cachemere.backends.filebased import FileBasedCache\n"
            "cache = FileBasedCache(sys.argv[1], {})\n"
            "for n in range(3):\n"
            "    for i in range(20):\n"
            "        cache.set(f'k{i}', n)\n"
            "assert cache._state.spares._items\n"
        )
        subprocess.run([sys.executable, "-c", script, str(directory)], check=True)
        assert temp_files(directory) == []
        cache = make(directory)
        for i in range(20):
            cache.set(f"k{i}", "again")
        assert temp_files(directory)
        cache.clear()
        assert temp_files(directory) == []
        assert sorted(p.name for p in directory.iterdir()) == [".cachemere"]

    def test_forked_child_does_not_touch_parent_spares(self, directory: Path) -> None:
        cache = make(directory)
        cache.set("key", "one")
        cache.set("key", "two")
        spares = {str(p): p.read_bytes() for p in temp_files(directory)}
        assert spares
        time.sleep(filespares.QUARANTINE * 2)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                make(directory).set("other", "child")
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert {str(p): p.read_bytes() for p in temp_files(directory) if str(p) in spares} == spares
        assert cache.get("other") == "child"
        cache.set("key", "three")  # the parent's spare is still its own
        assert cache.get("key") == "three"


def fork_and_exit(body: Any) -> tuple[int, int]:
    """Run ``body()`` (returning a small int) in an os.fork child that ends through os._exit,
    as multiprocessing and preforking servers end their workers: no atexit hook runs."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 255
        try:
            code = body()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return pid, os.waitstatus_to_exitcode(status)


def spares_of(pid: int, directory: Path) -> list[Path]:
    return [p for p in temp_files(directory) if p.name.startswith(f".{pid:x}-")]


def write_spares(directory: Path) -> int:
    worker = make(directory)
    for n in range(3):
        for i in range(10):
            worker.set(f"k{i}", n)
    return min(len(worker._state.spares._items), 200)


class TestForkedWorkers:
    def test_spares_of_a_worker_that_ended_with_os_exit_are_removed_by_the_next_one(
        self, directory: Path
    ) -> None:
        make(directory).set("parent", 1)
        first, kept = fork_and_exit(lambda: write_spares(directory))
        assert kept > 0  # the worker had spares when it ended
        assert len(spares_of(first, directory)) == kept  # os._exit ran no clean-up
        assert (directory / ".cachemere" / f"live-{first:x}").exists()
        _, code = fork_and_exit(lambda: make(directory).get("k0"))  # a new worker starts
        assert code == 2
        assert spares_of(first, directory) == []
        assert not (directory / ".cachemere" / f"live-{first:x}").exists()
        assert [make(directory).get(f"k{i}") for i in range(10)] == [2] * 10

    def test_the_parent_removes_them_when_it_culls_prunes_or_clears(self, directory: Path) -> None:
        cache = make(directory)
        for cleanup in (cache.prune, cache.clear, lambda: [cache.set(f"n{i}", i) for i in range(400)]):
            pid, kept = fork_and_exit(lambda: write_spares(directory))
            assert kept > 0 and len(spares_of(pid, directory)) == kept
            cleanup()
            assert spares_of(pid, directory) == []

    def test_live_processes_keep_their_spares_however_old_they_look(
        self, directory: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cache = make(directory)
        for n in range(2):
            for i in range(10):
                cache.set(f"k{i}", n)
        mine = {str(p) for p in temp_files(directory)}
        assert mine
        read, write = os.pipe()

        def alive_worker() -> int:
            write_spares(directory)
            os.write(write, b"!")
            time.sleep(3600)  # until killed
            return 0

        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                alive_worker()
            finally:
                os._exit(0)
        try:
            assert os.read(read, 1) == b"!"
            theirs = {str(p) for p in spares_of(pid, directory)}
            assert theirs
            later = time.time() + filestore.ORPHAN_AGE * 10
            monkeypatch.setattr(time, "time", lambda: later)  # every temp file now looks abandoned
            cache.prune()
            assert mine | theirs <= {str(p) for p in temp_files(directory)}
        finally:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            os.close(read)
            os.close(write)
        cache.prune()  # and once it is gone, its files go
        assert spares_of(pid, directory) == []
        assert mine <= {str(p) for p in temp_files(directory)}


class TestCullQueue:
    def test_consecutive_culls_scan_once(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from cachemere.backends.filebased import backend as filebased

        scans = []
        real = filebased.scan
        monkeypatch.setattr(filebased, "scan", lambda *a: scans.append(a) or real(*a))
        cache = make(directory, MAX_ENTRIES=30)
        past = time.time_ns() - 10**12
        for i in range(49):
            cache.set(f"k{i}", i)
            # Distinct mtimes, k0 the oldest: consecutive writes often share one
            # (the file system's clock ticks every few milliseconds).
            os.utime(key_file(directory, f"k{i}"), ns=(past + i * 10**9, past + i * 10**9))
        assert len(scans) == 1  # the second cull took the oldest entries the first one queued
        assert len(cache_files(directory)) == 29 == cache._state.total()
        assert not cache.has_key("k0") and not cache.has_key("k19")
        assert all(cache.has_key(f"k{i}") for i in range(20, 49))

    def test_queued_entry_rewritten_since_is_spared(self, directory: Path) -> None:
        cache = make(directory, MAX_ENTRIES=10, CULL_FREQUENCY=2)
        past = time.time_ns() - 10**12
        for i in range(10):
            cache.set(f"k{i}", i)
            os.utime(key_file(directory, f"k{i}"), ns=(past + i * 10**9, past + i * 10**9))  # k0 oldest
        cache.set("k10", 10)  # cull: scan, remove k0-k4, queue k5-k9
        cache.set("k5", "rewritten")  # no longer the oldest: its mtime is now
        for i in range(11, 16):  # at k15 the cull takes the queue: k5 was rewritten and is skipped
            cache.set(f"k{i}", i)
        assert cache.get("k5") == "rewritten"
        assert not any(cache.has_key(f"k{i}") for i in range(10) if i != 5)

    def test_equal_mtimes_are_culled_in_file_name_order(self, directory: Path) -> None:
        cache = make(directory, MAX_ENTRIES=12, CULL_FREQUENCY=4)
        keys = [f"k{i}" for i in range(12)]
        same = time.time_ns() - 10**12
        for key in keys:
            cache.set(key, key)
            os.utime(key_file(directory, key), ns=(same, same))
        by_name = sorted(keys, key=lambda key: key_file(directory, key).name)
        cache.set("trigger", 1)  # 12 entries: cull 3 by scan, queue the other 9 in the same order
        assert [cache.has_key(key) for key in by_name] == [False] * 3 + [True] * 9
        for i in range(3):  # back to 12; the next cull takes the queue's first 3
            cache.set(f"n{i}", i)
        assert [cache.has_key(key) for key in by_name] == [False] * 6 + [True] * 6


# -- files and directories the cache did not make ---------------------------------------

SECRET = "another key's secret value"


class TestPlantedFiles:
    """A file planted at a key's path must never be written with anyone's value."""

    @pytest.fixture(params=["other owner", "loose mode", "second name"])
    def planted(self, request: pytest.FixtureRequest, directory: Path, tmp_path: Path) -> Iterator[int]:
        """Plant a file at key "a"'s path; yield the planter's open descriptor on it."""
        make(directory)
        target = key_file(directory, "a")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"planted" * 10)
        target.chmod(0o600)
        if request.param == "other owner":
            os.chown(target, 65534, 65534)
        elif request.param == "loose mode":
            target.chmod(0o666)
        else:
            os.link(target, tmp_path / "planter's own name")
        fd = os.open(target, os.O_RDONLY)
        yield fd
        os.close(fd)

    def assert_never_written(self, cache: FileBasedCache, directory: Path, fd: int) -> None:
        time.sleep(filespares.QUARANTINE * 2)
        for i in range(filespares.CAPACITY + 8):  # uses up every spare there is
            cache.set(f"s{i}", SECRET)
        assert os.pread(fd, 1000, 0) == b"planted" * 10
        inode = os.fstat(fd).st_ino
        assert inode not in {p.stat().st_ino for p in directory.glob("??/*")}

    def test_read(self, directory: Path, planted: int) -> None:
        cache = make(directory)
        assert cache.get("a") is None
        self.assert_never_written(cache, directory, planted)

    def test_delete(self, directory: Path, planted: int) -> None:
        cache = make(directory)
        cache.delete("a")
        self.assert_never_written(cache, directory, planted)

    def test_overwrite(self, directory: Path, planted: int) -> None:
        cache = make(directory)
        cache.set("a", "mine")
        assert cache.get("a") == "mine"
        self.assert_never_written(cache, directory, planted)

    def test_cull(self, directory: Path, planted: int) -> None:
        cache = make(directory, MAX_ENTRIES=3)
        for i in range(6):
            cache.set(f"k{i}", i)
        assert not key_file(directory, "a").exists()  # the scan found it dead
        self.assert_never_written(cache, directory, planted)


class TestPrivateDirectory:
    """LOCATION, its metadata and its shards must be this user's only: others could plant files."""

    def test_a_shard_removed_while_the_directory_is_checked_is_skipped(
        self, directory: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make(directory).set("k", 1)
        shard = next(name for name in os.listdir(directory) if name != ".cachemere")
        real_scandir, removed = os.scandir, []

        class RemovingAsListed:
            """os.scandir whose listed shard is removed (another process's clear()) before its stat."""

            def __init__(self, path: Any) -> None:
                self.entries = real_scandir(path)

            def __enter__(self) -> Iterator[Any]:
                for entry in self.entries:
                    if entry.name == shard and not removed:
                        removed.append(shard)
                        for name in os.listdir(entry.path):
                            os.unlink(os.path.join(entry.path, name))
                        os.rmdir(entry.path)
                    yield entry

            def __exit__(self, *exc: object) -> None:
                self.entries.close()

        def scandir_then_remove(path: Any) -> Any:
            return RemovingAsListed(path)

        monkeypatch.setattr(filestore.os, "scandir", scandir_then_remove)
        filestore.check_private(str(directory))  # the vanished shard is skipped, not an error
        assert removed == [shard] and not (directory / shard).exists()

    def test_location_of_another_user_is_refused(self, directory: Path) -> None:
        directory.mkdir(mode=0o700)
        os.chown(directory, 65534, 65534)
        with pytest.raises(ImproperlyConfigured, match="belongs to uid 65534") as info:
            make(directory)
        assert repr(str(directory)) in str(info.value)
        assert os.listdir(directory) == []  # refused before anything was made in it

    @pytest.mark.parametrize("loose", [0o777, 0o770, 0o1777, 0o702])
    def test_location_writable_by_others_is_refused(self, directory: Path, loose: int) -> None:
        directory.mkdir()
        directory.chmod(loose)
        with pytest.raises(ImproperlyConfigured, match=f"writable by group or others .mode {loose:o}"):
            make(directory)

    def test_readable_location_is_fine(self, directory: Path) -> None:
        directory.mkdir()
        directory.chmod(0o755)
        make(directory).set("key", 1)
        assert make(directory).get("key") == 1

    @pytest.mark.parametrize("name", [".cachemere", "3f"])
    def test_planted_metadata_or_shard_directory_is_refused(self, directory: Path, name: str) -> None:
        make(directory).set("key", 1)
        planted = directory / name
        planted.mkdir(exist_ok=True)
        os.chown(planted, 65534, 65534)
        refused = f"{name}' in the cache directory belongs to uid 65534"
        with pytest.raises(ImproperlyConfigured, match=refused):
            make(directory)
        os.chown(planted, os.geteuid(), os.getegid())
        planted.chmod(0o777)
        with pytest.raises(ImproperlyConfigured, match="writable by group or others"):
            make(directory)

    def test_shard_that_is_a_symlink_is_refused(self, directory: Path, tmp_path: Path) -> None:
        make(directory)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        (directory / "ab").symlink_to(elsewhere)
        with pytest.raises(ImproperlyConfigured, match="is not a directory"):
            make(directory)

    def test_refusal_through_the_handler_names_the_alias(self, directory: Path) -> None:
        directory.mkdir()
        directory.chmod(0o777)
        handler = CacheHandler({"files": {"BACKEND": BACKEND, "LOCATION": directory}})
        with pytest.raises(ImproperlyConfigured, match=r"^CACHES\['files'\]: LOCATION .* writable"):
            handler["files"]


def test_planted_symlink_is_never_followed(directory: Path, tmp_path: Path) -> None:
    cache = make(directory, MAX_ENTRIES=2)
    cache.set("key", "value")
    target = tmp_path / "precious"
    target.write_bytes(b"do not touch")
    path = key_file(directory, "key")
    path.unlink()
    path.symlink_to(target)
    assert cache.get("key") is None
    assert not path.is_symlink() and not path.exists()
    path.symlink_to(target)
    cache.set("key", "new")  # replaces the link itself
    assert cache.get("key") == "new"
    other = key_file(directory, "other")
    other.parent.mkdir(parents=True, exist_ok=True)
    other.symlink_to(target)
    for i in range(5):  # culls scan the symlink and remove it
        cache.set(f"k{i}", i)
    assert not other.is_symlink()
    assert target.read_bytes() == b"do not touch"
    assert temp_files(directory) == [] or all(not p.is_symlink() for p in temp_files(directory))


def test_on_a_full_disk_deleting_entries_makes_room_for_the_next_write() -> None:
    """Deleted small files are kept as spares that rest before reuse: a write that meets ENOSPC frees
    them and tries again, so the room a delete made is there at once."""
    import os

    from cachemere import CacheHandler
    from helpers.faults import tmpfs

    with tmpfs("1m") as mount:
        cache = CacheHandler({"f": {"BACKEND": "cachemere.backends.filebased.FileBasedCache",
                                    "LOCATION": str(mount / "cache")}}, SECRET_KEY="s")["f"]  # fmt: skip
        filled = []
        with pytest.raises(OSError):  # fill the disk to the last byte
            for i in range(100):
                cache.set(f"fill-{i}", os.urandom(40_000))
                filled.append(f"fill-{i}")
        with pytest.raises(OSError):
            for i in range(1000):
                cache.set(f"small-{i}", os.urandom(200))
        cache.delete_many(filled[:10])  # about 400 kB, kept as spares
        cache.set("after", b"back")
        assert cache.get("after") == b"back"
        assert cache.get(filled[10]) is not None  # the rest are intact
