"""A memcached server dies mid-test and comes back on the same port: the cache carries on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.backends.memcached import BaseMemcachedCache
from servers.common import wait_until
from servers.memcached import MemcachedServer

#: Retry a failed server after 50 ms, give up on it after one retry, try it again 100 ms later.
QUICK_RETRY = {
    "retry_attempts": 1, "retry_timeout": 0.05, "dead_timeout": 0.1, "connect_timeout": 1, "timeout": 1,
}  # fmt: skip


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MemcachedServer]:
    server = MemcachedServer(tmp_path / "mc").start()
    yield server
    server.kill()


def make(backend: str, location: Any, **options: Any) -> BaseMemcachedCache:
    return CacheHandler({"mc": {"BACKEND": f"cachemere.backends.memcached.{backend}",
                                "LOCATION": location, "OPTIONS": options}})["mc"]  # type: ignore[return-value]  # fmt: skip


def recovers(cache: BaseMemcachedCache) -> bool:
    try:
        cache.set("probe", "back")
        return cache.get("probe") == "back"
    except Exception:
        return False


def test_ignore_exc_turns_a_dead_server_into_misses_and_no_ops(server: MemcachedServer) -> None:
    cache = make("PyMemcacheCache", server.location, ignore_exc=True, **QUICK_RETRY)
    cache.set_many({"k": 1, "n": 5})
    server.kill()  # a crash
    for _ in range(3):  # first failure, retry window, server marked dead
        assert cache.get("k") is None
        assert cache.get("k", "default") == "default"
        assert cache.get_many(["k", "n"]) == {}
        assert cache.has_key("k") is False
        assert cache.set("k", 2) is None
        assert cache.add("other", 1) is False
        assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
        assert cache.touch("k") is False
        assert cache.delete("k") is False
        assert cache.delete_many(["k", "n"]) is None
        assert cache.get_or_set("k", "computed") == "computed"
        with pytest.raises(ValueError, match="not found"):  # a miss, as for any absent key
            cache.incr("n")
        cache.clear()
    server.start()  # same port, empty
    wait_until(lambda: recovers(cache), "the cache after the server restarted")
    cache.set("k", 3)
    assert cache.get_many(["k", "n", "probe"]) == {"k": 3, "probe": "back"}


def test_ring_keeps_serving_the_live_servers(tmp_path: Path) -> None:
    servers = [MemcachedServer(tmp_path / f"mc{i}").start() for i in range(3)]
    try:
        cache = make("PyMemcacheCache", [s.location for s in servers], ignore_exc=True, **QUICK_RETRY)
        data = {f"key-{i}": i for i in range(30)}
        cache.set_many(data)
        dead = servers[0]
        on_dead = {key for key in data if dead.keys_present([cache.make_key(key)])}
        assert on_dead and len(on_dead) < len(data)
        dead.kill()  # a crash
        survivors = {key: value for key, value in data.items() if key not in on_dead}
        for _ in range(3):
            assert cache.get_many(data) == survivors  # the dead server's keys are misses
        dead.start()
        wait_until(lambda: recovers(cache), "the ring after the server restarted")
        cache.set_many(data)
        wait_until(lambda: bool(dead.keys_present([cache.make_key(k) for k in on_dead])), "keys back home")
        assert cache.get_many(data) == data
    finally:
        for server in servers:
            server.kill()


def test_without_ignore_exc_a_dead_server_raises(server: MemcachedServer) -> None:
    from pymemcache.exceptions import MemcacheError

    cache = make("PyMemcacheCache", server.location, **QUICK_RETRY)
    cache.set("k", 1)
    server.kill()  # a crash
    with pytest.raises((OSError, MemcacheError)):
        cache.get("k")
    server.start()
    wait_until(lambda: recovers(cache), "the cache after the server restarted")


def test_pylibmc_raises_while_down_and_recovers(server: MemcachedServer) -> None:
    import pylibmc

    cache = make("PyLibMCCache", server.location, behaviors={"retry_timeout": 1, "connect_timeout": 1000})
    cache.set("k", 1)
    server.kill()  # a crash
    with pytest.raises(pylibmc.Error):
        cache.get("k")
    with pytest.raises(pylibmc.Error):
        cache.set("k", 2)
    server.start()
    wait_until(lambda: recovers(cache), "the cache after the server restarted")
    assert cache.get("k") is None  # a new, empty server


def _message(exc: BaseException) -> str:
    return str(exc)


def test_pymemcache_error_names_a_server_nobody_listens_on() -> None:
    from servers.common import free_port

    port = free_port()  # nothing listens there
    where = f"127.0.0.1:{port}"
    cache = make("PyMemcacheCache", where, **QUICK_RETRY)
    with pytest.raises(ConnectionRefusedError) as info:  # the library's own type, kept
        cache.get("k")
    assert where in _message(info.value) and info.value.errno is not None
    wait_until(lambda: not _fails_quietly(cache), "pymemcache to retry the server")
    ring = [where, f"127.0.0.1:{free_port()}"]
    # Fresh caches: a server that failed a moment ago is skipped, not tried again.
    with pytest.raises(ConnectionRefusedError, match=r"memcached server 127\.0\.0\.1:\d+"):
        make("PyMemcacheCache", ring, **QUICK_RETRY).get_many(["a", "b", "c", "d"])
    with pytest.raises(ConnectionRefusedError, match=r"memcached server 127\.0\.0\.1:\d+"):
        make("PyMemcacheCache", ring, **QUICK_RETRY).set_many({"a": 1, "b": 2, "c": 3})


def _fails_quietly(cache: BaseMemcachedCache) -> bool:
    """True while HashClient skips a failed server (its retry_timeout): a miss, no error."""
    try:
        return cache.get("k", "skipped") == "skipped"
    except Exception:
        return False


def test_pymemcache_error_names_a_server_stopped_mid_test(server: MemcachedServer) -> None:
    from pymemcache.exceptions import MemcacheError

    where = server.location
    cache = make("PyMemcacheCache", where, **QUICK_RETRY)
    cache.set("k", 1)
    server.kill()  # a crash, with our connection open
    errors: list[BaseException] = []
    for operation in (lambda: cache.get("k"), lambda: cache.set("k", 2), lambda: cache.get_many(["k"])):
        def attempt(operation: Any = operation) -> bool:
            try:
                operation()
            except (OSError, MemcacheError) as exc:
                errors.append(exc)
                return True
            return False

        wait_until(attempt, "an error from the stopped server")
    assert errors and all(where in _message(exc) for exc in errors), [repr(e) for e in errors]
    # Once HashClient has given up on it, its "all down" error names it too.
    def all_down() -> bool:
        try:
            cache.get("k")
        except MemcacheError as exc:
            return "All servers seem to be down" in str(exc) and where in str(exc)
        except OSError:
            pass
        return False

    wait_until(all_down, "the all-servers-down error")
    server.start()
    wait_until(lambda: recovers(cache), "the cache after the server restarted")


def test_without_ignore_exc_writes_to_a_server_in_its_retry_window_raise(server: MemcachedServer) -> None:
    """HashClient skips a failed server until retry_timeout, answering None/False: that must not pass
    for a stored set or a done delete (the frozen server kept the old value)."""
    import os
    import signal

    from pymemcache.exceptions import MemcacheError

    cache = make("PyMemcacheCache", server.location, timeout=0.3, connect_timeout=0.3, retry_timeout=30)
    cache.set("k", "old")
    pid = int(server.pidfile.read_text())
    os.kill(pid, signal.SIGSTOP)  # frozen: it keeps its data
    try:
        with pytest.raises(OSError):
            cache.get("k")  # the timeout
        for write in (lambda: cache.set("k", "new"), lambda: cache.delete("k"), lambda: cache.get("k"),
                      lambda: cache.set_many({"k": "new"})):  # fmt: skip
            with pytest.raises(MemcacheError, match=r"skipped: .*retry_timeout \(30 s\).*127\.0\.0\.1"):
                write()
    finally:
        os.kill(pid, signal.SIGCONT)
    # With ignore_exc, the same window is misses and no-ops, as configured.
    quiet = make("PyMemcacheCache", server.location, timeout=0.3, retry_timeout=30, ignore_exc=True)
    assert quiet.get("k") == "old"
