"""The fixture every conformance mixin builds on: how to make the cache under test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from ..backends.base import BaseCache
from ..handler import CacheHandler


def custom_key_func(key: Any, key_prefix: str, version: Any) -> str:
    """A KEY_FUNCTION for tests, importable by dotted path."""
    return "CUSTOM-" + "-".join([key_prefix, str(version), str(key)])


class CacheFixture:
    """Describe the backend under test; the mixins supply the tests.

    Set ``backend`` (dotted path or class) and ``location``, or override
    :meth:`cache_params`.  The class attributes below describe what a backend
    legitimately does differently; the defaults are Django's base semantics.
    """

    backend: ClassVar[Any] = None
    location: ClassVar[Any] = ""
    options: ClassVar[dict[str, Any]] = {}

    #: Shortest timeout (seconds) the backend honours; expiry tests sleep past it.
    short_timeout: ClassVar[float] = 1.0
    #: Backends whose keys cannot hold the characters raise instead of warning.
    invalid_key_raises: ClassVar[bool] = False
    #: MAX_ENTRIES / CULL_FREQUENCY are honoured (not by memcached or redis).
    supports_culling: ClassVar[bool] = True
    #: Survivors after 49 sets with MAX_ENTRIES 30 (CULL_FREQUENCY 3, then 0).
    cull_survivors: ClassVar[int] = 29
    zero_cull_survivors: ClassVar[int] = 19
    #: incr/decr keep the key's expiry rather than resetting it to TIMEOUT.
    incr_keeps_ttl: ClassVar[bool] = True
    #: Unpicklable values raise pickle.PickleError from set/add.
    pickles_values: ClassVar[bool] = True

    def cache_params(self) -> dict[str, Any]:
        """The CACHES entry of the cache under test."""
        return {"BACKEND": self.backend, "LOCATION": self.location, "OPTIONS": dict(self.options)}

    def make_cache(self, **overrides: Any) -> BaseCache:
        """A cache on the same store as ``cache``, with some settings changed."""
        params = self.cache_params()
        options = {**params.get("OPTIONS", {}), **overrides.pop("OPTIONS", {})}
        params.update(overrides, OPTIONS=options)
        return CacheHandler({"under-test": params})["under-test"]

    @pytest.fixture
    def cache(self) -> Iterator[BaseCache]:
        cache = self.make_cache()
        cache.clear()
        yield cache
        cache.clear()
        cache.close()

    def sleep_past(self, timeout: float) -> None:
        """Sleep until an entry stored with ``timeout`` has surely expired."""
        time.sleep(timeout + 0.2 if timeout < 1 else timeout + 1.1)
