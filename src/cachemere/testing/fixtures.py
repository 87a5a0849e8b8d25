"""The fixture every conformance mixin builds on: how to make the cache under test, and its clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, ClassVar

import pytest

from ..backends.base import BaseCache
from ..handler import CacheHandler

#: The tenant :func:`tenant_key_func` puts into every key (tests switch it).
current_tenant: ContextVar[str] = ContextVar("cachemere_testing_tenant", default="nobody")


def custom_key_func(key: Any, key_prefix: str, version: Any) -> str:
    """A KEY_FUNCTION for tests, importable by dotted path."""
    return "CUSTOM-" + "-".join([key_prefix, str(version), str(key)])


def tenant_key_func(key: Any, key_prefix: str, version: Any) -> str:
    """A context-dependent KEY_FUNCTION: the same key names a different entry per tenant."""
    return f"{current_tenant.get()}:{key_prefix}:{version}:{key}"


class Clock:
    """The time expiry tests see.

    A fake clock replaces ``time.time`` (backends look it up at call time) and
    :meth:`advance` moves it without sleeping; a real clock sleeps.
    """

    def __init__(self, fake: bool) -> None:
        self.fake = fake
        self._now = time.time()

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        if self.fake:
            self._now += seconds
        else:
            time.sleep(seconds)


class CacheFixture:
    """Describe the backend under test; the mixins supply the tests.

    Set ``backend`` (dotted path or class) and ``location``, or override
    :meth:`cache_params`.  The class attributes below describe what a backend
    legitimately does differently; each default is what a plain
    :class:`~cachemere.backends.base.BaseCache` subclass does with the generic
    methods.  docs/testing.md explains every flag.
    """

    backend: ClassVar[Any] = None
    location: ClassVar[Any] = ""
    options: ClassVar[dict[str, Any]] = {}

    #: Expiry is computed from ``time.time()`` looked up at call time (as
    #: ``BaseCache.get_backend_timeout`` does), so the suite patches it and moves
    #: the clock instead of sleeping.  False for expiry kept by a server.
    fake_clock: ClassVar[bool] = True
    #: A timeout (seconds) surely still alive right after a set; expiry tests
    #: wait past it (sleeping only when ``fake_clock`` is False).
    short_timeout: ClassVar[float] = 2.0
    #: ``get_backend_timeout`` answers an absolute time (epoch seconds), as
    #: BaseCache's does; False when it answers seconds from now.
    absolute_backend_timeout: ClassVar[bool] = True
    #: Backends whose keys cannot hold the characters raise instead of warning.
    invalid_key_raises: ClassVar[bool] = False
    #: MAX_ENTRIES / CULL_FREQUENCY are honoured; False: they are refused.
    supports_culling: ClassVar[bool] = True
    #: Survivors after 49 sets with MAX_ENTRIES 30 (CULL_FREQUENCY 3, then 0).
    cull_survivors: ClassVar[int] = 29
    zero_cull_survivors: ClassVar[int] = 19
    #: incr/decr keep the key's expiry; False: they re-set it with the default
    #: TIMEOUT, as BaseCache's generic incr does.
    incr_keeps_ttl: ClassVar[bool] = False
    #: incr_version/decr_version keep the key's expiry; False: the new version
    #: gets the default TIMEOUT, as BaseCache's generic incr_version does.
    incr_version_keeps_ttl: ClassVar[bool] = False
    #: Two cache instances with the same LOCATION (and different KEY_PREFIX,
    #: VERSION or KEY_FUNCTION) read and write one store.
    instances_share_store: ClassVar[bool] = False
    #: Unpicklable values raise pickle.PickleError from set/add.
    pickles_values: ClassVar[bool] = True
    #: Largest value (pickled bytes) the backend stores; None: no limit below 2 MB.
    max_value_size: ClassVar[int | None] = None
    #: What ``set`` of a value over ``max_value_size`` raises.
    too_big_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    clock: Clock

    def cache_params(self) -> dict[str, Any]:
        """The CACHES entry of the cache under test."""
        return {"BACKEND": self.backend, "LOCATION": self.location, "OPTIONS": dict(self.options)}

    def handler_settings(self) -> dict[str, Any]:
        """Other settings of the handler that builds the cache (``SECRET_KEY``, ``DATABASES``, ...)."""
        return {}

    def make_cache(self, **overrides: Any) -> BaseCache:
        """A cache on the same LOCATION as ``cache``, with some settings changed."""
        params = self.cache_params()
        options = {**params.get("OPTIONS", {}), **overrides.pop("OPTIONS", {})}
        params.update(overrides, OPTIONS=options)
        return CacheHandler({"under-test": params}, **self.handler_settings())["under-test"]

    @pytest.fixture
    def fake_or_real_clock(self, monkeypatch: pytest.MonkeyPatch) -> Clock:
        """The clock of this test: fake (``time.time`` patched) when ``fake_clock``."""
        clock = Clock(self.fake_clock)
        if clock.fake:
            monkeypatch.setattr(time, "time", clock.time)
        self.clock = clock
        return clock

    @pytest.fixture
    def cache(self, fake_or_real_clock: Clock) -> Iterator[BaseCache]:
        cache = self.make_cache()
        cache.clear()
        yield cache
        cache.clear()
        cache.close()

    def sleep_past(self, timeout: float) -> None:
        """Let time pass until an entry stored with ``timeout`` has surely expired."""
        if self.clock.fake:
            self.clock.advance(timeout + 1)
        else:
            # Servers count in whole seconds or check expiry lazily: a wide margin.
            self.clock.advance(timeout + 1.5)
