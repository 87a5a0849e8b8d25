"""What the redis backend stores and sends: raw integers, expiries, one command per bulk call, clear()."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.backends.redis import RedisCache
from servers.redis import RedisServer, Servers, redis_servers

__all__ = ["redis_servers"]


@pytest.fixture
def server(redis_servers: Servers) -> Iterator[RedisServer]:
    redis_servers.leader.admin.flushall()
    yield redis_servers.leader
    redis_servers.leader.admin.flushall()


def make(server: RedisServer, **entry: Any) -> RedisCache:
    settings = {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": server.url, **entry}
    cache = CacheHandler({"redis": settings})["redis"]
    assert isinstance(cache, RedisCache)
    return cache


@pytest.fixture
def cache(server: RedisServer) -> RedisCache:
    return make(server)


# -- stored format -----------------------------------------------------------------


def test_integers_are_stored_raw_everything_else_pickled(cache: RedisCache, server: RedisServer) -> None:
    cache.set("int", -5)
    cache.set("bool", True)
    cache.set("str", "5")
    assert server.admin.get(":1:int") == b"-5"
    assert server.admin.get(":1:bool")[:1] == b"\x80"
    assert server.admin.get(":1:str")[:1] == b"\x80"
    assert cache.get("bool") is True
    assert cache.get("str") == "5"
    server.admin.incrby(":1:int", 10)  # another client counting on the same key
    assert cache.get("int") == 5


# -- expiry ----------------------------------------------------------------------------


def expiry_after(server: RedisServer, key: str, before_ms: int) -> int:
    """Milliseconds from ``before_ms`` (taken before the write) to the key's absolute expiry.

    PEXPIRETIME does not shrink while the machine stalls, unlike PTTL.
    """
    return int(server.admin.execute_command("PEXPIRETIME", key)) - before_ms


def test_timeouts_become_milliseconds(cache: RedisCache, server: RedisServer) -> None:
    before = time.time_ns() // 1_000_000
    sets = server.command_calls("set")
    cache.set("half", "v", 0.5)  # Django truncates 0.5 to 0 and stores nothing
    assert server.command_calls("set") == sets + 1
    cache.set("fraction", "v", 3600.5)
    cache.set("default", "v")
    cache.set_many({"many": 1}, 3600.25)
    assert cache.add("added", 1, 3600.75)
    after = time.time_ns() // 1_000_000
    for key, timeout_ms in ((":1:fraction", 3_600_500), (":1:default", 300_000),
                            (":1:many", 3_600_250), (":1:added", 3_600_750)):  # fmt: skip
        assert timeout_ms <= expiry_after(server, key, before) <= timeout_ms + (after - before), key


def test_none_persists_and_zero_deletes(cache: RedisCache, server: RedisServer) -> None:
    cache.set("forever", 1, None)
    assert server.admin.ttl(":1:forever") == -1
    cache.set("forever", 2, 0)
    assert server.admin.exists(":1:forever") == 0
    cache.set("short", 1, 60)
    assert cache.touch("short", None) is True
    assert server.admin.ttl(":1:short") == -1
    assert cache.touch("short", None) is True  # already persistent: still there
    assert cache.touch("short", 0) is True
    assert server.admin.exists(":1:short") == 0
    assert cache.add("never", 1, 0) is True  # the key was free; nothing is kept
    assert server.admin.exists(":1:never") == 0
    cache.set("taken", 1)
    assert cache.add("taken", 2, 0) is False


# -- incr / decr -------------------------------------------------------------------------


def test_incr_is_atomic_across_threads(server: RedisServer) -> None:
    handler = CacheHandler(
        {"default": {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": server.url}}
    )
    handler["default"].set("counter", 0)

    def work() -> None:
        cache = handler["default"]  # each thread's own instance, one shared pool
        for _ in range(200):
            cache.incr("counter")
            cache.decr("counter", 2)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert handler["default"].get("counter") == -1600


def test_incr_of_a_missing_key_never_creates_it(cache: RedisCache, server: RedisServer) -> None:
    with pytest.raises(ValueError, match="Key 'ghost' not found"):
        cache.incr("ghost")
    with pytest.raises(ValueError):
        asyncio.run(cache.adecr("ghost"))
    assert server.admin.exists(":1:ghost") == 0
    cache.set("expiring", 1, 0.1)
    time.sleep(0.6)  # well past the expiry
    with pytest.raises(ValueError):
        cache.incr("expiring")
    assert server.admin.exists(":1:expiring") == 0  # no persistent counter left behind


def test_incr_keeps_the_expiry_and_is_one_script_call(cache: RedisCache, server: RedisServer) -> None:
    cache.set("n", 1, 60)
    evalsha = server.command_calls("evalsha")
    assert cache.incr("n", 41) == 42
    assert server.command_calls("evalsha") == evalsha + 1  # check and INCRBY in one call
    assert 0 < server.admin.ttl(":1:n") <= 60


def test_incr_of_a_non_integer_is_a_type_error(cache: RedisCache) -> None:
    cache.set("text", "abc")
    with pytest.raises(TypeError, match="Key 'text' cannot be incremented"):
        cache.incr("text")
    cache.set("big", 2**63 - 1)
    with pytest.raises(TypeError, match="overflow"):
        cache.incr("big")
    assert cache.get("text") == "abc"


def test_incr_loads_its_script_after_a_script_flush(cache: RedisCache, server: RedisServer) -> None:
    cache.set("n", 1)
    server.admin.script_flush()
    assert cache.incr("n") == 2
    server.admin.script_flush()
    assert asyncio.run(cache.aincr("n")) == 3


def test_incr_version_moves_atomically_and_keeps_the_expiry(cache: RedisCache, server: RedisServer) -> None:
    cache.set("v", "value", 60)
    assert cache.incr_version("v") == 2
    assert server.admin.exists(":1:v") == 0
    assert 0 < server.admin.ttl(":2:v") <= 60  # Django resets it to the default TIMEOUT
    assert asyncio.run(cache.adecr_version("v", version=2)) == 1
    assert cache.get("v") == "value"
    with pytest.raises(ValueError):
        cache.incr_version("missing")


# -- bulk calls are one command --------------------------------------------------------


def test_get_many_is_one_mget(cache: RedisCache, server: RedisServer) -> None:
    cache.set_many({f"k{i}": i for i in range(100)})
    gets, mgets = server.command_calls("get"), server.command_calls("mget")
    found = cache.get_many([f"k{i}" for i in range(105)])
    assert found == {f"k{i}": i for i in range(100)}
    assert asyncio.run(cache.aget_many(["k1", "k2"])) == {"k1": 1, "k2": 2}
    assert server.command_calls("mget") == mgets + 2
    assert server.command_calls("get") == gets


def test_set_many_is_one_command_or_one_transaction(cache: RedisCache, server: RedisServer) -> None:
    mset, multi, exe = (server.command_calls(name) for name in ("mset", "multi", "exec"))
    cache.set_many({f"k{i}": i for i in range(50)}, None)  # no expiry: a single MSET
    assert server.command_calls("mset") == mset + 1
    cache.set_many({f"t{i}": i for i in range(50)}, 30)  # SET ... PX in one MULTI/EXEC
    assert asyncio.run(cache.aset_many({"a": 1, "b": 2}, 30)) == []
    assert server.command_calls("multi") == multi + 2
    assert server.command_calls("exec") == exe + 2
    assert all(0 < server.admin.ttl(f":1:t{i}") <= 30 for i in range(50))


def test_delete_many_is_one_del(cache: RedisCache, server: RedisServer) -> None:
    cache.set_many({f"k{i}": i for i in range(20)})
    dels = server.command_calls("del")
    cache.delete_many([f"k{i}" for i in range(20)])
    assert server.command_calls("del") == dels + 1
    assert cache.get_many([f"k{i}" for i in range(20)]) == {}


# -- clear -----------------------------------------------------------------------------------


def test_clear_without_a_prefix_flushes_the_database(cache: RedisCache, server: RedisServer) -> None:
    server.admin.set("someone-else", 1)
    cache.set("mine", 1)
    assert cache.clear() is True
    assert server.admin.dbsize() == 0


def test_clear_with_a_prefix_removes_only_that_prefix(server: RedisServer) -> None:
    mine = make(server, KEY_PREFIX="app*1")
    other = make(server, KEY_PREFIX="app")
    mine.set_many({f"k{i}": i for i in range(2500)})  # several SCAN batches
    mine.set("old", 1, version=7)
    other.set("kept", 1)
    server.admin.set("app-1:foreign", 1)  # would match an unescaped 'app*1' glob
    server.admin.set("unrelated", 1)
    assert mine.clear() is True
    assert mine.get_many(["k0", "k2499"]) == {}
    assert mine.get("old", version=7) is None
    assert other.get("kept") == 1
    assert server.admin.get("app-1:foreign") == b"1"
    assert server.admin.get("unrelated") == b"1"
    assert server.admin.dbsize() == 3
    asyncio.run(other.aclear())
    assert server.admin.dbsize() == 2


# -- sharing a store with Django's backend ----------------------------------------------


def test_values_round_trip_with_djangos_redis_backend(cache: RedisCache, server: RedisServer) -> None:
    from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

    django_cache = DjangoRedisCache(server.url, {})
    cache.set("from-cachemere", {"a": [1, 2]})
    cache.set("number", 7)
    assert django_cache.get("from-cachemere") == {"a": [1, 2]}
    assert django_cache.incr("number") == 8
    django_cache.set("from-django", ("t", 1))
    assert cache.get("from-django") == ("t", 1)
    assert cache.get("number") == 8


@pytest.mark.parametrize("asynchronous", [False, True])
def test_clear_leaves_a_cache_whose_prefix_extends_this_one(server: RedisServer, asynchronous: bool) -> None:
    app, app_v2 = make(server, KEY_PREFIX="app"), make(server, KEY_PREFIX="app:v2")
    for version in (1, 2, -3):
        app.set("k", "app", version=version)
        app_v2.set("k", "app:v2", version=version)

    def clear(cache: RedisCache) -> None:
        assert (asyncio.run(cache.aclear()) if asynchronous else cache.clear()) is True

    clear(app)
    assert [app.get("k", version=v) for v in (1, 2, -3)] == [None, None, None]
    assert [app_v2.get("k", version=v) for v in (1, 2, -3)] == ["app:v2"] * 3
    app.set("k", "app")
    clear(app_v2)
    assert app_v2.get("k") is None
    assert app.get("k") == "app"
    assert server.admin.keys() == [b"app:1:k"]


def test_clear_removes_a_non_integer_version_of_its_own(server: RedisServer) -> None:
    beta, other = make(server, KEY_PREFIX="p", VERSION="beta"), make(server, KEY_PREFIX="p:x")
    beta.set("k", 1)
    other.set("k", 2)
    beta.clear()
    assert beta.get("k") is None
    assert other.get("k") == 2
