"""The conformance suite against the in-process backends."""

from __future__ import annotations

from cachemere import CacheHandler
from cachemere.backends.locmem import LocMemCache
from cachemere.testing import CacheConformance


class TestLocMemCache(CacheConformance):
    backend = "cachemere.backends.locmem.LocMemCache"
    location = "conformance"
    incr_keeps_ttl = True
    instances_share_store = True


def test_django_path_builds_the_same_backend() -> None:
    handler = CacheHandler(
        {
            "django": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "by-path"},
            "ours": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": "by-path"},
        }
    )
    django, ours = handler["django"], handler["ours"]
    assert type(django) is LocMemCache
    django.clear()
    django.set("k", {"v": [1]}, 30)
    assert django.get("k") == {"v": [1]}
    assert ours.get("k") == {"v": [1]}  # same LOCATION, same store, whatever the spelling
    django.clear()
