"""Regression tests for what the reliability load and bad-input runs found in the backends.

Keys a store cannot keep (NUL, lone surrogates) are stored or refused with
InvalidCacheKey naming them; any str value round-trips on memcached; deleting
on a full disk makes room for the next write; pymemcache without ignore_exc
never drops a write silently.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cachemere import InvalidCacheKey
from helpers.faults import NAMES, Backends
from helpers.load import ALIAS


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    backends = Backends().start()
    yield backends
    backends.stop()


@pytest.mark.filterwarnings("ignore::cachemere.CacheKeyWarning")  # the memcached-safety warning is expected
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("key", ["nul\x00key", "lone\ud800surrogate"])
def test_a_key_is_stored_or_refused_with_invalid_cache_key(backends: Backends, name: str, key: str) -> None:
    """Each backend stores the key, or refuses it with InvalidCacheKey naming it, for every operation."""
    cache = backends.target(name).handler()[ALIAS]
    try:
        cache.set(key, "value")
    except InvalidCacheKey as exc:
        assert repr(key)[1:-1] in str(exc)
        for call in (lambda: cache.get(key), lambda: cache.delete(key), lambda: cache.get_many([key])):
            try:
                assert call() in (None, False, {})  # a miss, or the same refusal
            except InvalidCacheKey:
                pass
    else:
        assert cache.get(key) == "value"
        assert cache.get_many([key]) == {key: "value"}
        assert cache.delete(key) is True


@pytest.mark.parametrize("name", NAMES)
def test_any_str_value_round_trips(backends: Backends, name: str) -> None:
    """A str holding a lone surrogate is a valid str: pickle keeps it, memcached's UTF-8 flag cannot."""
    cache = backends.target(name).handler()[ALIAS]
    cache.set("text", "a\ud800b")
    assert cache.get("text") == "a\ud800b"


def test_deleting_on_a_full_disk_makes_room_for_the_next_write() -> None:
    """Deleted files of 64 KiB or less are kept as spares (not freed) and rest 1 ms before reuse.

    On a full disk, a write right after deleting entries therefore finds
    neither free space nor a usable spare, and fails with ENOSPC.
    """
    import os

    from cachemere import CacheHandler
    from helpers.faults import SECRET, tmpfs

    with tmpfs("1m") as mount:
        cache = CacheHandler({"f": {"BACKEND": "cachemere.backends.filebased.FileBasedCache",
                                    "LOCATION": str(mount / "cache")}}, SECRET_KEY=SECRET)["f"]  # fmt: skip
        written = []
        try:
            for i in range(100):
                cache.set(f"fill-{i}", os.urandom(40_000))
                written.append(f"fill-{i}")
        except OSError:
            pass
        try:
            for i in range(1000):
                cache.set(f"small-{i}", os.urandom(200))
        except OSError:
            pass
        cache.delete_many(written[:10])  # 400 kB of entries gone
        cache.set("after", b"back")  # fails: ENOSPC
        assert cache.get("after") == b"back"


def test_without_ignore_exc_a_write_to_a_failing_memcached_is_never_silently_dropped(
    backends: Backends,
) -> None:
    """After one failure, pymemcache's HashClient skips the server for retry_timeout: without ignore_exc
    a set there returns None as if stored and a delete returns False, and the old value is served later."""
    import os
    import signal
    import time

    from cachemere import CacheHandler

    assert backends.memcached is not None
    server = backends.memcached
    cache = CacheHandler({"m": {"BACKEND": "cachemere.backends.memcached.PyMemcacheCache",
                                "LOCATION": server.location,
                                "OPTIONS": {"timeout": 0.3, "connect_timeout": 0.3}}})["m"]  # fmt: skip
    cache.set("k", "old")
    pid = int(server.pidfile.read_text())
    os.kill(pid, signal.SIGSTOP)  # the server hangs
    try:
        with pytest.raises(OSError):
            cache.get("k")  # a timeout: the documented error
        outcome = []
        for write in (lambda: cache.set("k", "new"), lambda: cache.delete("k")):
            try:
                outcome.append(write())
            except Exception as exc:  # the documented behaviour without ignore_exc: an error
                outcome.append(type(exc))
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(1.2)  # pymemcache's default retry_timeout is 1 s
    stored = cache.get("k")
    # Either the writes raised, or they happened: never "success" with the old value still served.
    assert all(isinstance(o, type) for o in outcome) or stored != "old", (outcome, stored)
