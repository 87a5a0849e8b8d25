"""The conformance suite against real memcached servers, through both client libraries.

Expiry is kept by the server (in whole seconds), so the suite sleeps rather
than moving a fake clock.
"""

from __future__ import annotations

from typing import Any

import pylibmc
import pytest
from pymemcache.exceptions import MemcacheServerError

from cachemere import CacheHandler
from cachemere.backends.memcached import PyLibMCCache
from cachemere.testing import CacheConformance
from servers.memcached import Servers, memcached_servers  # noqa: F401


class MemcachedConformance(CacheConformance):
    fake_clock = False
    absolute_backend_timeout = False
    invalid_key_raises = True
    supports_culling = False
    incr_keeps_ttl = True
    instances_share_store = True
    max_value_size = 1024 * 1024  # memcached's default item size (-I)

    @pytest.fixture(autouse=True)
    def _servers(self, memcached_servers: Servers) -> None:  # noqa: F811
        self.servers = memcached_servers

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "LOCATION": self.servers.ring}


class TestPyMemcacheCache(MemcachedConformance):
    backend = "cachemere.backends.memcached.PyMemcacheCache"
    too_big_errors = (MemcacheServerError,)


class TestPyLibMCCache(MemcachedConformance):
    backend = "cachemere.backends.memcached.PyLibMCCache"
    too_big_errors = (pylibmc.TooBig,)


class TestPyLibMCCacheBinaryOnUnixSocket(MemcachedConformance):
    """The binary protocol reads expiry times differently: the whole suite runs on it."""

    backend = "cachemere.backends.memcached.PyLibMCCache"
    options = {"binary": True}
    too_big_errors = (pylibmc.TooBig,)

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "LOCATION": self.servers.unix.location}


def test_django_path_builds_the_same_backend(memcached_servers: Servers) -> None:  # noqa: F811
    location = memcached_servers.unix.location
    handler = CacheHandler(
        {
            "django": {"BACKEND": "django.core.cache.backends.memcached.PyLibMCCache", "LOCATION": location},
            "ours": {"BACKEND": "cachemere.backends.memcached.PyLibMCCache", "LOCATION": location},
        }
    )
    django, ours = handler["django"], handler["ours"]
    assert type(django) is PyLibMCCache
    django.set("k", {"v": [1]}, 30)
    assert django.get("k") == {"v": [1]}
    assert ours.get("k") == {"v": [1]}
    ours.delete("k")
    assert django.get("k") is None
