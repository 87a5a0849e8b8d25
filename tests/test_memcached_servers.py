"""Memcached backends against real servers: placement, LOCATION forms, OPTIONS, keys, timeouts."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.backends.memcached import BaseMemcachedCache
from cachemere.exceptions import ImproperlyConfigured, InvalidCacheKey
from cachemere.testing.keys import key_calls
from servers.memcached import (
    SASL_PASSWORD,
    SASL_USER,
    MemcachedServer,
    Servers,
    memcached_servers,  # noqa: F401
)

PYMEMCACHE = "cachemere.backends.memcached.PyMemcacheCache"
PYLIBMC = "cachemere.backends.memcached.PyLibMCCache"
#: Every way of talking to memcached under test: backend and OPTIONS.
FLAVOURS = {
    "pymemcache": (PYMEMCACHE, {}),
    "pylibmc": (PYLIBMC, {}),
    "pylibmc-binary": (PYLIBMC, {"binary": True}),
}
THIRTY_ONE_DAYS = 31 * 24 * 3600
BIG = "x" * (2**20 + 1)  # over memcached's default 1 MB item size


@pytest.fixture
def servers(memcached_servers: Servers) -> Iterator[Servers]:  # noqa: F811
    for server in memcached_servers.all:
        server.client().flush_all()
    yield memcached_servers


def make(backend: str, location: Any, **options: Any) -> BaseMemcachedCache:
    handler = CacheHandler({"mc": {"BACKEND": backend, "LOCATION": location, "OPTIONS": options}})
    return handler["mc"]  # type: ignore[return-value]


@pytest.fixture(params=list(FLAVOURS))
def flavour(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return FLAVOURS[request.param]


def test_each_key_lands_on_exactly_one_server(servers: Servers, flavour: tuple[str, dict[str, Any]]) -> None:
    backend, options = flavour
    cache = make(backend, servers.ring, **options)
    data = {f"key-{i}": i for i in range(60)}
    assert cache.set_many(data) == []
    cache.set("single", "value")
    made = [cache.make_key(key) for key in [*data, "single"]]
    holders = {key: [s for s in servers.tcp if key in s.keys_present(made)] for key in made}
    assert all(len(found) == 1 for found in holders.values()), holders
    assert {server.port for found in holders.values() for server in found} == {
        server.port for server in servers.tcp
    }  # spread over all three
    assert cache.get_many(data) == data
    assert cache.get("single") == "value"


def test_pymemcache_places_keys_as_djangos_pymemcache_does(servers: Servers) -> None:
    from django.core.cache.backends.memcached import PyMemcacheCache as DjangoPyMemcache

    ours = make(PYMEMCACHE, servers.ring)
    django = DjangoPyMemcache(servers.ring, {})
    values: dict[str, Any] = {f"d{i}": v for i, v in enumerate(["text", b"bytes", 12, 2.5, [1, {"a": None}]])}
    django.set_many(values)
    assert ours.get_many(values) == values
    ours.set("from-ours", {"n": 1})
    ours.set("count", 1)
    assert django.get("from-ours") == {"n": 1}
    assert django.incr("count") == 2 and ours.get("count") == 2


@pytest.mark.parametrize("form", ["list", "semicolons", "commas"])
def test_location_forms_make_one_cache(
    servers: Servers, flavour: tuple[str, dict[str, Any]], form: str
) -> None:
    backend, options = flavour
    location = {
        "list": servers.ring,
        "semicolons": ";".join(servers.ring),
        "commas": " , ".join(servers.ring),
    }[form]
    cache = make(backend, location, **options)
    reference = make(backend, servers.ring, **options)
    for i in range(10):
        cache.set(f"k{i}", i)
        assert reference.get(f"k{i}") == i  # the same key on the same server, whatever the form


def test_unix_socket_location(servers: Servers, flavour: tuple[str, dict[str, Any]]) -> None:
    backend, options = flavour
    cache = make(backend, servers.unix.location, **options)
    cache.set("over-the-socket", "yes")
    assert servers.unix.keys_present([":1:over-the-socket"]) == {":1:over-the-socket"}
    assert cache.get("over-the-socket") == "yes"
    mixed = [servers.unix.location, *servers.ring]
    if backend == PYLIBMC:  # a libmemcached limitation, reported when the cache is made
        with pytest.raises(ImproperlyConfigured, match="can't mix transport types"):
            make(backend, mixed, **options)
        return
    ring = make(backend, mixed, **options)
    ring.set_many({f"m{i}": i for i in range(40)})
    assert servers.unix.keys_present([f":1:m{i}" for i in range(40)])  # the socket server takes its share


def test_option_examples_work(servers: Servers) -> None:
    pooled = make(PYMEMCACHE, servers.ring, no_delay=True, ignore_exc=True, max_pool_size=4, use_pooling=True)
    pooled.set_many({"a": 1, "b": 2})
    assert pooled.get_many(["a", "b"]) == {"a": 1, "b": 2}
    elsewhere: list[Any] = []
    thread = threading.Thread(target=lambda: elsewhere.append(pooled._local.client))
    thread.start()
    thread.join()
    assert elsewhere == [pooled._local.client]  # pooled clients are shared by every thread
    binary = make(PYLIBMC, servers.ring, binary=True, behaviors={"ketama": True, "tcp_nodelay": True})
    binary.set_many({"c": 3, "d": "four"})
    assert binary.get_many(["c", "d"]) == {"c": 3, "d": "four"}
    assert make(PYLIBMC, servers.ring).get_many(["c", "d"]) == {"c": 3, "d": "four"}  # text protocol


def test_pylibmc_sasl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pylibmc

    plugins = Path("/usr/lib/x86_64-linux-gnu/sasl2")
    if plugins.is_dir():  # where the PyPI wheel's own libsasl2 would not look
        monkeypatch.setenv("SASL_PATH", str(plugins))
    server = MemcachedServer(tmp_path / "sasl", sasl=True).start()
    try:
        cache = make(PYLIBMC, server.location, binary=True, username=SASL_USER, password=SASL_PASSWORD)
        cache.set("secret", "kept")
        assert cache.get("secret") == "kept"
        intruder = make(PYLIBMC, server.location, binary=True, username=SASL_USER, password="wrong")
        with pytest.raises(pylibmc.Error, match="AUTHENTICATION FAILURE"):
            intruder.set("secret", "stolen")
        assert cache.get("secret") == "kept"
    finally:
        server.kill()


COUNTERS = ("cmd_get", "cmd_set", "cmd_touch", "cmd_flush", "delete_misses", "delete_hits",
            "incr_misses", "decr_misses", "incr_hits", "decr_hits", "total_items")  # fmt: skip


@pytest.mark.parametrize(
    "key",
    ["with space", "inject\r\nset evil 0 0 4\r\nboom", "nul\x00", "tab\tkey", "a" * 251, "中" * 100],
    ids=["space", "injection", "nul", "tab", "long", "long-utf8"],
)
def test_invalid_keys_raise_before_anything_is_sent(
    servers: Servers, flavour: tuple[str, dict[str, Any]], key: str
) -> None:
    backend, options = flavour
    server = servers.unix
    cache = make(backend, server.location, **options)
    cache.set("b", "untouched")
    before = {name: server.stat(name) for name in COUNTERS}
    for name, args, _ in key_calls(key):
        with pytest.raises(InvalidCacheKey):
            getattr(cache, name)(*args)
        assert {n: server.stat(n) for n in COUNTERS} == before, f"{name} reached the server"
    assert server.keys_present(["evil", ":1:b"]) == {":1:b"}
    assert cache.get("b") == "untouched"


def _ttl(server: MemcachedServer, key: str) -> int:
    """Seconds left before ``key`` expires (-1: never), from memcached's meta get."""
    reply = server.client().raw_command(f"mg {key} t".encode(), b"\r\n")
    assert reply.startswith(b"HD"), reply
    return int(reply.split(b" t")[1])


def test_timeouts_on_the_server(servers: Servers, flavour: tuple[str, dict[str, Any]]) -> None:
    backend, options = flavour
    server = servers.unix
    cache = make(backend, server.location, **options)
    cache.set("month", "v", THIRTY_ONE_DAYS)  # sent as a Unix time
    assert cache.get("month") == "v"
    assert THIRTY_ONE_DAYS - 5 <= _ttl(server, ":1:month") <= THIRTY_ONE_DAYS + 2  # clocks tick apart
    assert cache.add("month-add", "v", THIRTY_ONE_DAYS) is True
    assert THIRTY_ONE_DAYS - 5 <= _ttl(server, ":1:month-add") <= THIRTY_ONE_DAYS + 2
    cache.set_many({"many": 1}, THIRTY_ONE_DAYS)
    assert THIRTY_ONE_DAYS - 5 <= _ttl(server, ":1:many") <= THIRTY_ONE_DAYS + 2
    assert cache.touch("many", 60) is True
    assert 55 <= _ttl(server, ":1:many") <= 60
    cache.set("century", "v", 100 * 365 * 24 * 3600)  # capped at 2038, still stored
    assert cache.get("century") == "v" and _ttl(server, ":1:century") > THIRTY_ONE_DAYS
    cache.set("forever", "v", None)
    assert _ttl(server, ":1:forever") == -1
    cache.set("forever", "v", 0)  # zero: do not cache, and drop the old value
    assert cache.get("forever") is None
    assert cache.add("zero", "v", 0) is True and cache.get("zero") is None
    cache.set("touched", "v")
    assert cache.touch("touched", 0) is True and cache.get("touched") is None


def test_integers_are_stored_plain_and_counted_on_the_server(
    servers: Servers, flavour: tuple[str, dict[str, Any]]
) -> None:
    backend, options = flavour
    server = servers.unix
    cache = make(backend, server.location, **options)
    cache.set("n", 41, 60)
    raw = server.client()
    assert raw.get(":1:n") == b"41"
    assert cache.incr("n") == 42
    raw.incr(":1:n", 8)  # another client, same counter
    assert cache.get("n") == 50
    assert 55 <= _ttl(server, ":1:n") <= 60  # incr keeps the expiry
    assert cache.decr("n", 100) == 0  # memcached floors at zero
    cache.set("text", "abc")
    with pytest.raises(TypeError, match="cannot increment"):  # as None + 1 would
        cache.incr("text")
    cache.set("none", None)
    with pytest.raises(TypeError):
        cache.decr("none")
    for flag in (True, False):
        cache.set("flag", flag)
        assert cache.get("flag") is flag
        assert cache.get_many(["flag"])["flag"] is flag
    cache.set_many({"t": True, "i": 1})
    assert cache.get_many(["t", "i"]) == {"t": True, "i": 1} and cache.get("t") is True


def test_set_many_returns_failed_keys_and_failed_set_drops_old_value(
    servers: Servers, flavour: tuple[str, dict[str, Any]]
) -> None:
    backend, options = flavour
    cache = make(backend, servers.ring, **options)
    cache.set_many({"big": "old", "small": "old"})
    assert cache.set_many({"a": 1, "big": BIG, "c": 3, "small": "new"}) == ["big"]
    assert cache.get_many(["a", "big", "c", "small"]) == {"a": 1, "c": 3, "small": "new"}
    cache.set("k", "old")
    with pytest.raises(type(cache)._refused):  # the library's error: MemcacheServerError, TooBig
        cache.set("k", BIG)
    assert cache.get("k") is None


def test_multi_key_calls_make_one_round_trip_per_server(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cachemere.backends.memcached.pymemcache import Connection

    calls: dict[str, list[Any]] = {"get_many": [], "delete_many": [], "set_many": [], "delete": [], "get": []}
    for name in calls:
        original = getattr(Connection, name)

        def spy(self: Any, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name].append(self.server)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Connection, name, spy)
    cache = make(PYMEMCACHE, servers.ring)
    keys = [f"k{i}" for i in range(50)]
    cache.set_many(dict.fromkeys(keys, 1))
    assert len(cache.get_many(keys)) == 50
    cache.delete_many(keys)
    for name in ("set_many", "get_many", "delete_many"):
        assert sorted(calls[name]) == sorted(("127.0.0.1", s.port) for s in servers.tcp), name
    assert calls["delete"] == calls["get"] == []


def test_close_keeps_connections(servers: Servers, flavour: tuple[str, dict[str, Any]]) -> None:
    backend, options = flavour
    server = servers.unix
    cache = make(backend, server.location, **options)
    cache.set("k", 1)
    before = server.stat("total_connections")
    for _ in range(20):
        assert cache.get("k") == 1
        cache.close()
    assert server.stat("total_connections") - before <= 1  # our stats client's own connection


def test_async_twins_run_concurrently_with_a_client_per_thread(
    servers: Servers, flavour: tuple[str, dict[str, Any]]
) -> None:
    backend, options = flavour
    cache = make(backend, servers.ring, **options)
    assert cache.blocking is True

    async def scenario() -> list[Any]:
        await asyncio.gather(*(cache.aset(f"a{i}", {"i": i}) for i in range(60)))
        return await asyncio.gather(*(cache.aget(f"a{i}") for i in range(60)))

    assert asyncio.run(scenario()) == [{"i": i} for i in range(60)]
    # The clients themselves are kept, not their id()s: a freed client's id is reused.
    seen: list[Any] = [cache._local.client]
    threads = [threading.Thread(target=lambda: seen.append(cache._local.client)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in seen}) == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_its_own_connections(servers: Servers, flavour: tuple[str, dict[str, Any]]) -> None:
    backend, options = flavour
    cache = make(backend, servers.unix.location, **options)
    cache.set("parent", 1)
    parent_client = cache._local.client
    pid = os.fork()
    if pid == 0:  # the child: exit at once, reporting by status
        ok = False
        try:
            ok = cache._local.client is not parent_client
            cache.set("child", 2)
            ok = ok and cache.get("parent") == 1 and cache.get("child") == 2
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache._local.client is parent_client
    assert cache.get_many(["parent", "child"]) == {"parent": 1, "child": 2}


def test_replies_spanning_many_packets(servers: Servers, flavour: tuple[str, dict[str, Any]]) -> None:
    backend, options = flavour
    cache = make(backend, servers.ring, **options)
    tricky = {
        "big": b"\r\nEND\r\n" * 130_000,  # 910 KB that looks like the end of a reply
        "text": "VALUE x 0 5\r\nEND\r\n" * 1000,
        "empty": b"",
        "ünïcode-kéy": "ü" * 70_000,
        **{f"small-{i}": i for i in range(200)},
    }
    assert cache.set_many(tricky) == []
    assert cache.get_many(["missing", *tricky, "absent"]) == tricky
    for key, value in tricky.items():
        assert cache.get(key) == value


def test_unreadable_value_raises_instead_of_reading_as_none(servers: Servers) -> None:
    import pickle

    cache = make(PYMEMCACHE, servers.unix.location)
    servers.unix.client().set(":1:broken", b"\x80\x05not a pickle", flags=1)  # 1: pickled
    with pytest.raises(pickle.UnpicklingError):
        cache.get("broken")
    cache.set("fine", "still")  # the connection recovers
    assert cache.get("fine") == "still"
