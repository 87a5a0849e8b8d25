"""Conformance: MAX_ENTRIES and CULL_FREQUENCY.

Backends whose server evicts by itself (``supports_culling = False``) must
refuse the options with a clear error rather than ignore them.
"""

from __future__ import annotations

import pytest

from ..backends.base import BaseCache
from ..exceptions import ImproperlyConfigured
from .fixtures import CacheFixture


class CullingTests(CacheFixture):
    def _survivors(self, **options: int) -> int:
        if not self.supports_culling:
            with pytest.raises(ImproperlyConfigured, match=r"MAX_ENTRIES|CULL_FREQUENCY"):
                self.make_cache(OPTIONS=options)
            return -1
        culled = self.make_cache(OPTIONS=options)
        for i in range(1, 50):
            culled.set(f"cull{i}", "value", 1000)
        return sum(culled.has_key(f"cull{i}") for i in range(1, 50))

    def test_cull(self, cache: BaseCache) -> None:
        survivors = self._survivors(MAX_ENTRIES=30)
        assert survivors == (self.cull_survivors if self.supports_culling else -1)

    def test_zero_cull(self, cache: BaseCache) -> None:
        survivors = self._survivors(MAX_ENTRIES=30, CULL_FREQUENCY=0)
        assert survivors == (self.zero_cull_survivors if self.supports_culling else -1)

    def test_cull_delete_when_store_empty(self, cache: BaseCache) -> None:
        if not self.supports_culling:
            self._survivors(MAX_ENTRIES=-1)
            return
        culled = self.make_cache(OPTIONS={"MAX_ENTRIES": -1})
        culled.set("force_cull_delete", "value", 1000)
        assert culled.has_key("force_cull_delete")
