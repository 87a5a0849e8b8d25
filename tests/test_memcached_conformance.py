"""The conformance suite against real memcached servers, through both client libraries."""

from __future__ import annotations

from typing import Any

import pytest

from cachemere.testing import CacheConformance
from servers.memcached import Servers, memcached_servers  # noqa: F401


class MemcachedConformance(CacheConformance):
    short_timeout = 1  # memcached counts whole seconds
    invalid_key_raises = True
    supports_culling = False

    @pytest.fixture(autouse=True)
    def _servers(self, memcached_servers: Servers) -> None:  # noqa: F811
        self.servers = memcached_servers

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "LOCATION": self.servers.ring}


class TestPyMemcacheCache(MemcachedConformance):
    backend = "cachemere.backends.memcached.PyMemcacheCache"


class TestPyLibMCCache(MemcachedConformance):
    backend = "cachemere.backends.memcached.PyLibMCCache"


class TestPyLibMCCacheBinaryOnUnixSocket(MemcachedConformance):
    backend = "django.core.cache.backends.memcached.PyLibMCCache"
    options = {"binary": True}

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "LOCATION": self.servers.unix.location}

