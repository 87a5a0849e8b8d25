"""The whole conformance suite against real redis servers.

Conformance runs on a leader-only LOCATION: reads from replicas lag behind
writes, so routing to replicas is tested on its own (test_redis_topology.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from cachemere.testing import CacheConformance
from servers.redis import redis_servers, shared_servers

__all__ = ["redis_servers"]


@pytest.fixture(autouse=True)
def _servers_stop_at_session_end(redis_servers: Any) -> None:
    """Ties the shared servers to the session, so they are stopped at its end."""


class RedisConformance(CacheConformance):
    backend = "cachemere.backends.redis.RedisCache"
    # Expiry is sent in milliseconds, so sub-second timeouts are honoured.
    short_timeout = 0.3
    supports_culling = False

    def server_url(self) -> str:
        return shared_servers().leader.url

    def cache_params(self) -> dict[str, Any]:
        return {"BACKEND": self.backend, "LOCATION": self.server_url(), "OPTIONS": dict(self.options)}


class TestRedisCache(RedisConformance):
    pass


class TestRedisCacheDjangoDocsOptions(RedisConformance):
    """The OPTIONS examples of Django's docs, verbatim, under Django's backend path."""

    backend = "django.core.cache.backends.redis.RedisCache"
    options = {
        "db": "10",
        "parser_class": "redis.connection.PythonParser",
        "pool_class": "redis.BlockingConnectionPool",
    }


class TestRedisCacheAuthenticated(RedisConformance):
    """A server whose only user is an ACL user: credentials come from the URL."""

    def server_url(self) -> str:
        return shared_servers().acl.url
