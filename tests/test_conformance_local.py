"""The conformance suite against the in-process backends."""

from __future__ import annotations

from cachemere.testing import CacheConformance


class TestLocMemCache(CacheConformance):
    backend = "cachemere.backends.locmem.LocMemCache"
    location = "conformance"
    short_timeout = 0.3


class TestLocMemCacheByDjangoPath(CacheConformance):
    backend = "django.core.cache.backends.locmem.LocMemCache"
    location = "conformance-django-path"
    short_timeout = 0.3
