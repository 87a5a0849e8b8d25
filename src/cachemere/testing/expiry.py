"""Conformance: timeouts (default, None, zero, negative, float, long) and touch."""

from __future__ import annotations

from ..backends.base import BaseCache
from .fixtures import CacheFixture


class ExpiryTests(CacheFixture):
    def test_expiration(self, cache: BaseCache) -> None:
        t = self.short_timeout
        cache.set("expire1", "very quickly", t)
        cache.set("expire2", "very quickly", t)
        cache.set("expire3", "very quickly", t)
        self.sleep_past(t)
        assert cache.get("expire1") is None
        assert cache.add("expire2", "newvalue") is True
        assert cache.get("expire2") == "newvalue"
        assert not cache.has_key("expire3")
        assert cache.touch("expire3") is False

    def test_touch(self, cache: BaseCache) -> None:
        t = self.short_timeout
        cache.set("expire1", "very quickly", timeout=t)
        assert cache.touch("expire1", timeout=t + 60) is True
        self.sleep_past(t)
        assert cache.has_key("expire1")
        assert cache.get("expire1") == "very quickly"
        cache.set("expire2", "very quickly", timeout=t)
        assert cache.touch("expire2", timeout=None) is True
        self.sleep_past(t)
        assert cache.has_key("expire2")
        assert cache.touch("nonexistent") is False
        assert cache.touch("nonexistent", timeout=None) is False

    def test_touch_default_timeout(self, cache: BaseCache) -> None:
        short = self.make_cache(TIMEOUT=max(1, int(self.short_timeout)))
        short.set("key", "value", timeout=None)
        assert short.touch("key") is True  # back to the default TIMEOUT
        self.sleep_past(short.default_timeout)  # type: ignore[arg-type]
        assert short.get("key") is None

    def test_default_timeout_setting(self, cache: BaseCache) -> None:
        assert cache.default_timeout == 300
        never = self.make_cache(TIMEOUT=None)
        assert never.default_timeout is None
        never.set("forever", "value")
        assert never.get("forever") == "value"
        assert self.make_cache(TIMEOUT="12").default_timeout == 12

    def test_forever_timeout(self, cache: BaseCache) -> None:
        cache.set("key1", "eggs", None)
        assert cache.get("key1") == "eggs"
        assert cache.add("key2", "ham", None) is True
        assert cache.get("key2") == "ham"
        assert cache.add("key1", "new eggs", None) is False
        assert cache.get("key1") == "eggs"
        cache.set_many({"key3": "sausage", "key4": "lobster bisque"}, None)
        assert cache.get("key3") == "sausage"
        assert cache.get("key4") == "lobster bisque"
        cache.set("key5", "belgian fries", timeout=self.short_timeout)
        assert cache.touch("key5", timeout=None) is True
        self.sleep_past(self.short_timeout)
        assert cache.get("key5") == "belgian fries"

    def test_long_timeout(self, cache: BaseCache) -> None:
        # Over 30 days: memcached's absolute-time boundary must not break it.
        long = 60 * 60 * 24 * 30 + 1
        cache.set("key1", "eggs", long)
        assert cache.get("key1") == "eggs"
        assert cache.add("key2", "ham", long) is True
        assert cache.get("key2") == "ham"
        cache.set_many({"key3": "sausage", "key4": "lobster bisque"}, long)
        assert cache.get("key3") == "sausage"
        assert cache.get("key4") == "lobster bisque"

    def test_zero_timeout(self, cache: BaseCache) -> None:
        cache.set("key1", "eggs", 0)
        assert cache.get("key1") is None
        assert cache.add("key2", "ham", 0) is True
        assert cache.get("key2") is None
        cache.set_many({"key3": "sausage", "key4": "lobster bisque"}, 0)
        assert cache.get("key3") is None
        assert cache.get("key4") is None
        cache.set("key5", "belgian fries", timeout=5)
        assert cache.touch("key5", timeout=0) is True
        assert cache.get("key5") is None

    def test_negative_timeout(self, cache: BaseCache) -> None:
        cache.set("key", "value", -1)
        assert cache.get("key") is None
        assert not cache.has_key("key")

    def test_float_timeout(self, cache: BaseCache) -> None:
        cache.set("key1", "spam", 100.2)
        assert cache.get("key1") == "spam"

    def test_set_many_expiration(self, cache: BaseCache) -> None:
        t = self.short_timeout
        cache.set_many({"key1": "spam", "key2": "eggs"}, t)
        self.sleep_past(t)
        assert cache.get("key1") is None
        assert cache.get("key2") is None

    def test_incr_expiry(self, cache: BaseCache) -> None:
        t = self.short_timeout
        cache.set("counter", 1, t)
        assert cache.incr("counter") == 2
        self.sleep_past(t)
        if self.incr_keeps_ttl:
            assert cache.get("counter") is None
        else:  # Django's base incr re-sets with the default timeout
            assert cache.get("counter") == 2
