"""Keys every store cannot keep (NUL, lone surrogates) are refused with InvalidCacheKey naming them;
str values with a lone surrogate round-trip on memcached as elsewhere (pickled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cachemere import CacheHandler, InvalidCacheKey
from servers.memcached import Servers as MemcachedServers
from servers.memcached import memcached_servers
from servers.postgres import PostgresServer, postgres_server
from servers.redis import Servers as RedisServers
from servers.redis import redis_servers

__all__ = ["memcached_servers", "postgres_server", "redis_servers"]

SURROGATE = "lone\ud800surrogate"
NUL = "nul\x00key"


def _refuses_everywhere(cache: Any, key: str) -> None:
    for call in (
        lambda: cache.set(key, 1),
        lambda: cache.add(key, 1),
        lambda: cache.get(key),
        lambda: cache.delete(key),
        lambda: cache.has_key(key),
        lambda: cache.get_many([key, "other"]),
        lambda: cache.set_many({key: 1}),
    ):
        with pytest.raises(InvalidCacheKey) as caught:
            call()
        assert repr(key)[1:-1] in str(caught.value)


def _refuses_writes_reads_miss(cache: Any, key: str) -> None:
    """The database cache's rule for a key it cannot store (as for one over 255 characters)."""
    for write in (lambda: cache.set(key, 1), lambda: cache.add(key, 1), lambda: cache.set_many({key: 1})):
        with pytest.raises(InvalidCacheKey) as caught:
            write()
        assert repr(key)[1:-1] in str(caught.value)
    cache.set("other", 2)
    assert cache.get(key, "miss") == "miss"
    assert cache.get_many([key, "other"]) == {"other": 2}
    assert cache.has_key(key) is False and cache.delete(key) is False and cache.touch(key) is False
    cache.delete_many([key, "other"])
    assert cache.get("other") is None
    with pytest.raises(ValueError, match="not found"):
        cache.incr(key)


def _db(url: str) -> Any:
    from cachemere.cli.createcachetable import create_table

    handler = CacheHandler(
        {"d": {"BACKEND": "cachemere.backends.db.DatabaseCache", "LOCATION": "text_keys"}},
        DATABASES={"default": {"URL": url}},
        SECRET_KEY="s",
    )
    create_table("default", "text_keys", source=handler["d"].settings)
    return handler["d"]


def test_database_cache_and_keys_a_database_cannot_hold(
    tmp_path: Path,
    postgres_server: PostgresServer,
) -> None:
    postgres_server.create_database("text_keys")
    sqlite, postgres = _db(f"sqlite:///{tmp_path / 'c.sqlite3'}"), _db(postgres_server.url("text_keys"))
    for cache in (sqlite, postgres):
        _refuses_writes_reads_miss(cache, SURROGATE)  # no UTF-8 form: no database holds it
        cache.set("fine", "é and 😀")
        assert cache.get("fine") == "é and 😀"
    _refuses_writes_reads_miss(postgres, NUL)  # PostgreSQL text cannot hold NUL
    with pytest.warns(Warning):  # SQLite can (with the memcached-compatibility warning)
        sqlite.set(NUL, "kept")
    with pytest.warns(Warning):
        assert sqlite.get(NUL) == "kept"


def test_redis_refuses_a_lone_surrogate_and_keeps_nul(redis_servers: RedisServers) -> None:
    entry = {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": redis_servers.leader.url}
    cache = CacheHandler({"r": {**entry, "KEY_PREFIX": "textkeys"}})["r"]
    _refuses_everywhere(cache, SURROGATE)
    with pytest.warns(Warning):  # the memcached-compatibility warning every backend gives
        cache.set(NUL, "kept")
    with pytest.warns(Warning):
        assert cache.get(NUL) == "kept"


@pytest.mark.parametrize("backend", ["PyMemcacheCache", "PyLibMCCache"])
@pytest.mark.parametrize("signed", [False, True])
def test_memcached_surrogates(backend: str, signed: bool, memcached_servers: MemcachedServers) -> None:
    options = {"SIGN_VALUES": True, "SIGNING_KEY": "k"} if signed else {}
    cache = CacheHandler({"m": {"BACKEND": f"cachemere.backends.memcached.{backend}",
                                "LOCATION": memcached_servers.ring, "OPTIONS": options}})["m"]  # fmt: skip
    _refuses_everywhere(cache, SURROGATE)
    cache.set("text", "a\ud800b")
    assert cache.get("text") == "a\ud800b"
    cache.set_many({"t1": "\udfff", "t2": "plain é"})
    assert cache.get_many(["t1", "t2"]) == {"t1": "\udfff", "t2": "plain é"}
