"""Redis LOCATION and OPTIONS: leader and replicas, authentication, pool and parser classes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
from redis import _parsers

from cachemere import CacheHandler
from cachemere.backends.redis import RedisCache, pools
from cachemere.exceptions import ImproperlyConfigured
from servers.common import wait_until
from servers.redis import ACL_USER, RedisServer, Servers, make_tls_files, redis_servers

__all__ = ["redis_servers"]

BACKEND = "cachemere.backends.redis.RedisCache"


def make(location: Any, alias: str = "redis", **entry: Any) -> RedisCache:
    cache = CacheHandler({alias: {"BACKEND": BACKEND, "LOCATION": location, **entry}})[alias]
    assert isinstance(cache, RedisCache)
    return cache


@pytest.fixture
def servers(redis_servers: Servers) -> Iterator[Servers]:
    redis_servers.leader.client().flushall()
    redis_servers.leader.client().wait(2, 5000)
    yield redis_servers
    redis_servers.leader.client().flushall()


def replicated(servers: Servers, **options: Any) -> RedisCache:
    # As a ';'/',' string: the first server is the leader.
    location = f"{servers.leader.url};{servers.replicas[0].url}, {servers.replicas[1].url}"
    return make(location, OPTIONS=options)


def sync_replicas(servers: Servers) -> None:
    assert servers.leader.client().wait(2, 5000) == 2


# -- where commands go -----------------------------------------------------------


def test_location_forms_are_split_into_leader_and_replicas(servers: Servers) -> None:
    leader, one, two = servers.leader.url, servers.replicas[0].url, servers.replicas[1].url
    for location in (f"{leader};{one};{two}", f"{leader},{one},{two}", [leader, one, two]):
        assert make(location).servers == [leader, one, two]
    assert make(leader).servers == [leader]


def test_writes_reach_only_the_leader(servers: Servers) -> None:
    # A pool of its own (client_name makes the OPTIONS distinct) so that any
    # connection this cache opens shows up in the servers' counters.
    cache = replicated(servers, client_name="writes-only")
    replica_connections = [replica.connections_received() for replica in servers.replicas]
    leader_sets = servers.leader.command_calls("set")
    # The replicas are read-only: a write sent to one would raise ReadOnlyError.
    cache.set("a", "value")
    cache.add("b", 1)
    cache.set_many({"c": 1, "d": 2}, 30)
    cache.incr("b")
    cache.touch("a", 60)
    cache.delete("c")
    cache.delete_many(["d"])
    cache.incr_version("a")
    asyncio.run(cache.aset("e", "value"))
    asyncio.run(cache.aincr("b"))
    assert servers.leader.command_calls("set") >= leader_sets + 5
    assert [replica.connections_received() for replica in servers.replicas] == replica_connections
    assert servers.leader.client().get(":2:a") is not None
    assert servers.leader.client().get(":1:b") == b"3"


def test_reads_hit_the_replicas_not_the_leader(servers: Servers) -> None:
    cache = replicated(servers)
    cache.set("key", "value")
    cache.set_many({"m1": 1, "m2": 2})
    sync_replicas(servers)
    reads = ("get", "mget", "exists")
    leader_before = {name: servers.leader.command_calls(name) for name in reads}
    replica_gets = [replica.command_calls("get") for replica in servers.replicas]
    replica_mgets = [replica.command_calls("mget") for replica in servers.replicas]
    for _ in range(200):
        assert cache.get("key") == "value"
    for _ in range(20):
        assert cache.get_many(["m1", "m2"]) == {"m1": 1, "m2": 2}
        assert cache.has_key("key")

    async def async_reads() -> None:
        for _ in range(20):
            assert await cache.aget("key") == "value"
            assert await cache.aget_many(["m1"]) == {"m1": 1}

    asyncio.run(async_reads())
    assert {name: servers.leader.command_calls(name) for name in reads} == leader_before
    gets = [r.command_calls("get") - before for r, before in zip(servers.replicas, replica_gets)]
    mgets = [r.command_calls("mget") - before for r, before in zip(servers.replicas, replica_mgets)]
    assert sum(gets) == 220 and sum(mgets) == 40
    assert all(count > 0 for count in gets), f"a replica got no reads: {gets}"


def test_a_key_present_only_on_the_replicas_is_read(servers: Servers) -> None:
    cache = replicated(servers)
    replicas = [replica.client() for replica in servers.replicas]
    for client in replicas:
        client.config_set("replica-read-only", "no")
    try:
        for client in replicas:
            client.set(":1:only-on-replicas", b"7")
        assert servers.leader.client().exists(":1:only-on-replicas") == 0
        for _ in range(20):
            assert cache.get("only-on-replicas") == 7
    finally:
        for client in replicas:
            client.delete(":1:only-on-replicas")
            client.config_set("replica-read-only", "yes")


def test_a_single_server_serves_reads_too(servers: Servers) -> None:
    cache = make(servers.leader.url)
    cache.set("key", 1)
    assert cache.get("key") == 1
    assert cache.has_key("key")


def test_unix_socket_location(servers: Servers) -> None:
    cache = make(f"unix://{servers.leader.socket}?db=4")
    cache.set("over-the-socket", "value")
    assert cache.get("over-the-socket") == "value"
    assert servers.leader.client(db=4).get(":1:over-the-socket") is not None


def test_db_option_selects_the_database(servers: Servers) -> None:
    cache = make(servers.leader.url, OPTIONS={"db": 3})
    cache.set("in-db-3", 1)
    assert servers.leader.client(db=3).get(":1:in-db-3") == b"1"
    assert servers.leader.client(db=0).get(":1:in-db-3") is None


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    directory = tmp_path_factory.mktemp("tls-redis")
    server = RedisServer(directory, tls=make_tls_files(directory / "certs")).start()
    yield server
    server.stop()


def test_rediss_round_trip_verified_by_the_ca(tls_server: RedisServer) -> None:
    assert tls_server.tls is not None
    cache = make(f"{tls_server.url}/0", OPTIONS={"ssl_ca_certs": str(tls_server.tls.ca)})
    cache.set("over-tls", {"a": 1})
    assert cache.get("over-tls") == {"a": 1}
    assert asyncio.run(cache.aget("over-tls")) == {"a": 1}
    assert tls_server.admin.get(":1:over-tls") is not None


def test_rediss_with_the_wrong_ca_is_refused(tls_server: RedisServer, tmp_path: Path) -> None:
    other = make_tls_files(tmp_path, "other")
    cache = make(f"{tls_server.url}/0", OPTIONS={"ssl_ca_certs": str(other.ca)})
    with pytest.raises(redis.ConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        cache.set("never", 1)
    with pytest.raises(redis.ConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        asyncio.run(cache.aget("never"))
    assert tls_server.admin.exists(":1:never") == 0


# -- authentication ----------------------------------------------------------------


def test_acl_user_from_the_url(servers: Servers) -> None:
    cache = make(servers.acl.url)
    cache.set("secret", {"a": 1})
    assert cache.get("secret") == {"a": 1}
    assert asyncio.run(cache.aget("secret")) == {"a": 1}
    assert servers.acl.client().get(":1:secret") is not None


@pytest.mark.parametrize("ignore", [False, True])
def test_wrong_password_is_a_clear_error(servers: Servers, ignore: bool) -> None:
    url = f"redis://{ACL_USER}:wrong-password@127.0.0.1:{servers.acl.port}"
    cache = make(url, OPTIONS={"IGNORE_EXCEPTIONS": ignore})
    with pytest.raises(redis.AuthenticationError) as info:
        cache.get("key")
    text = str(info.value) + " ".join(getattr(info.value, "__notes__", []))
    assert "invalid username-password pair" in text
    assert f"redis://{ACL_USER}:***@127.0.0.1:{servers.acl.port}" in text
    assert "wrong-password" not in text
    with pytest.raises(redis.AuthenticationError):
        asyncio.run(cache.aget("key"))


def test_missing_credentials_are_refused(servers: Servers) -> None:
    cache = make(f"redis://127.0.0.1:{servers.acl.port}")
    with pytest.raises(redis.AuthenticationError):
        cache.set("key", 1)


# -- OPTIONS --------------------------------------------------------------------------


def test_django_docs_options_load_and_work(servers: Servers) -> None:
    cache = CacheHandler(
        {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": servers.leader.url,
                "OPTIONS": {
                    "db": "10",
                    "parser_class": "redis.connection.PythonParser",
                    "pool_class": "redis.BlockingConnectionPool",
                    "max_connections": 5,
                },
            }
        }
    )["default"]
    assert isinstance(cache, RedisCache)
    pool = cache._leader.connection_pool
    assert type(pool) is redis.BlockingConnectionPool
    assert pool.max_connections == 5
    assert pool.connection_kwargs["parser_class"] is _parsers._RESP2Parser
    cache.set("docs", [1, 2])
    assert cache.get("docs") == [1, 2]
    assert servers.leader.client(db=10).get(":1:docs") is not None

    async def scenario() -> Any:
        await cache.aset("docs-async", 5)
        state = pools._loop_states[id(asyncio.get_running_loop())]
        _, async_pool, _ = state.topologies[cache._topology_key]
        assert type(async_pool) is aredis.BlockingConnectionPool
        assert async_pool.connection_kwargs["parser_class"] is _parsers._AsyncRESP2Parser
        return await cache.aget("docs-async")

    assert asyncio.run(scenario()) == 5


def test_hiredis_is_the_default_parser(servers: Servers) -> None:
    cache = make(servers.leader.url)
    cache.set("parsed", 1)
    connection = cache._leader.connection_pool.get_connection()
    try:
        assert isinstance(connection._parser, _parsers._HiredisParser)
    finally:
        cache._leader.connection_pool.release(connection)


def test_other_options_go_to_the_pool(servers: Servers) -> None:
    cache = make(servers.leader.url, OPTIONS={"socket_timeout": 7, "client_name": "named"})
    kwargs = cache._leader.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 7 and kwargs["client_name"] == "named"
    cache.set("named", 1)
    names = [client["name"] for client in servers.leader.client().client_list()]
    assert "named" in names


class JSONSerializer:
    def dumps(self, obj: Any) -> bytes:
        import json

        return json.dumps(obj).encode()

    def loads(self, data: bytes) -> Any:
        import json

        return json.loads(data)


def test_serializer_option(servers: Servers) -> None:
    cache = make(servers.leader.url, OPTIONS={"serializer": "test_redis_topology.JSONSerializer"})
    cache.set("json", {"a": [1, 2]})
    assert servers.leader.client().get(":1:json") == b'{"a": [1, 2]}'
    assert cache.get("json") == {"a": [1, 2]}


def test_pools_are_shared_by_every_thread(servers: Servers) -> None:
    handler = CacheHandler({"default": {"BACKEND": BACKEND, "LOCATION": servers.leader.url}})
    here = handler["default"]
    there: list[Any] = []
    thread = threading.Thread(target=lambda: there.append(handler["default"]))
    thread.start()
    thread.join()
    assert there[0] is not here  # one backend instance per thread, as Django
    assert there[0]._leader is here._leader  # but one client and pool per server


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"LOCATION": "127.0.0.1:6379"}, "is not a redis URL"),
        ({"LOCATION": ""}, "at least one redis server"),
        ({"LOCATION": 6379}, "must be a redis URL or a list"),
        ({"LOCATION": "redis://u:hunter2;x@h:1"}, "percent-encoded"),
        ({"OPTIONS": {"MAX_ENTRIES": 10}}, "OPTIONS['MAX_ENTRIES'] is not supported"),
        ({"OPTIONS": {"IGNORE_EXCEPTIONS": "yes"}}, "must be True or False"),
        ({"OPTIONS": {"socket_timeot": 1}}, "OPTIONS['socket_timeot'] is neither"),
        ({"OPTIONS": {"socket_timeot": 1}}, "(did you mean 'socket_timeout'?)"),
        ({"OPTIONS": {"SIGN_VALUE": True}}, "(did you mean 'SIGN_VALUES'?)"),
        ({"OPTIONS": {"parser_class": "redis.connection.NoSuchParser"}}, "cannot be imported"),
        ({"OPTIONS": {"pool_class": "builtins.dict"}}, "must be a redis.ConnectionPool subclass"),
        ({"OPTIONS": {"serializer": "builtins.object"}}, "must provide dumps() and loads()"),
    ],
)
def test_bad_settings_are_clear_errors(entry: dict[str, Any], message: str) -> None:
    settings = {"BACKEND": BACKEND, "LOCATION": "redis://127.0.0.1:1", **entry}
    with pytest.raises(ImproperlyConfigured) as info:
        CacheHandler({"broken": settings})["broken"]
    assert "CACHES['broken']" in str(info.value)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value) and "x@" not in str(info.value)


def test_async_needs_asyncio_capable_options(servers: Servers) -> None:
    class CustomPool(redis.ConnectionPool):
        pass

    cache = make(servers.leader.url, OPTIONS={"pool_class": CustomPool})
    cache.set("sync-works", 1)
    assert cache.get("sync-works") == 1
    with pytest.raises(ImproperlyConfigured, match="CustomPool has no asyncio twin"):
        asyncio.run(cache.aget("sync-works"))


def test_async_connections_close_when_the_loop_shuts_down(servers: Servers) -> None:
    cache = make(servers.leader.url, OPTIONS={"client_name": "per-loop"})
    admin = servers.leader.client()

    def open_connections() -> int:
        return sum(1 for client in admin.client_list() if client["name"] == "per-loop")

    async def use() -> None:
        await cache.aset("k", 1)
        assert await cache.aget("k") == 1
        assert open_connections() >= 1

    loops_before = len(pools._loop_states)
    asyncio.run(use())
    asyncio.run(use())  # a new loop gets clients of its own
    assert len(pools._loop_states) == loops_before
    wait_until(lambda: open_connections() == 0, "the loops' connections to close")
