"""The whole conformance suite against real redis servers.

Conformance runs on a leader-only LOCATION: reads from replicas lag behind
writes, so routing to replicas is tested on its own (test_redis_topology.py).
Expiry is kept by the server, so the suite sleeps rather than moving a fake
clock.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cachemere import CacheHandler
from cachemere.backends.redis import RedisCache
from helpers.redis import RedisConformance
from servers.redis import redis_servers, shared_servers

__all__ = ["redis_servers"]


class TestRedisCache(RedisConformance):
    pass


class TestRedisCacheAuthenticated(RedisConformance):
    """A server whose only user is an ACL user: credentials come from the URL."""

    def server_url(self) -> str:
        return shared_servers().acl.url


def django_docs_caches() -> dict[str, Any]:
    """Django's backend path with the OPTIONS examples of Django's docs, verbatim, next to ours on db 10."""
    url = shared_servers().leader.url
    return {
        "django": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {
                "db": "10",
                "parser_class": "redis.connection.PythonParser",
                "pool_class": "redis.BlockingConnectionPool",
            },
        },
        "ours": {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": url, "OPTIONS": {"db": 10}},
        "db0": {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": url},
    }


def test_django_docs_options_build_our_backend_on_db_10() -> None:
    handler = CacheHandler(django_docs_caches())
    django, ours, db0 = handler["django"], handler["ours"], handler["db0"]
    assert type(django) is RedisCache
    django.clear()
    django.set("k", {"v": [1]}, 30)
    assert django.set_many({"n": 41, "b": b"\x00bytes"}) == []
    assert django.incr("n") == 42
    assert django.get_many(["k", "n", "b", "missing"]) == {"k": {"v": [1]}, "n": 42, "b": b"\x00bytes"}
    assert ours.get("k") == {"v": [1]}
    assert db0.get("k") is None  # db 10 is its own keyspace
    django.clear()


def test_django_docs_options_async_round_trip() -> None:
    django = CacheHandler(django_docs_caches())["django"]

    async def scenario() -> list[Any]:
        await django.aset("a", "async", 30)
        found = [await django.aget("a"), await django.aincr_version("a"), await django.aget("a", version=2)]
        await django.aclear()
        return found

    assert asyncio.run(scenario()) == ["async", 2, "async"]
