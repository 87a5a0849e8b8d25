"""Conformance: MAX_ENTRIES and CULL_FREQUENCY."""

from __future__ import annotations

import pytest

from ..backends.base import BaseCache
from .fixtures import CacheFixture


class CullingTests(CacheFixture):
    def _survivors(self, cache: BaseCache, **options: int) -> int:
        culled = self.make_cache(OPTIONS=options)
        for i in range(1, 50):
            culled.set(f"cull{i}", "value", 1000)
        return sum(culled.has_key(f"cull{i}") for i in range(1, 50))

    def test_cull(self, cache: BaseCache) -> None:
        if not self.supports_culling:
            pytest.skip("MAX_ENTRIES is the server's business for this backend")
        assert self._survivors(cache, MAX_ENTRIES=30) == self.cull_survivors

    def test_zero_cull(self, cache: BaseCache) -> None:
        if not self.supports_culling:
            pytest.skip("MAX_ENTRIES is the server's business for this backend")
        survivors = self._survivors(cache, MAX_ENTRIES=30, CULL_FREQUENCY=0)
        assert survivors == self.zero_cull_survivors

    def test_cull_delete_when_store_empty(self, cache: BaseCache) -> None:
        if not self.supports_culling:
            pytest.skip("MAX_ENTRIES is the server's business for this backend")
        culled = self.make_cache(OPTIONS={"MAX_ENTRIES": -1})
        culled.set("force_cull_delete", "value", 1000)
        assert culled.has_key("force_cull_delete")
