"""Conformance: timeouts (default, None, zero, negative, fractional, long), touch and TTLs.

Waiting for expiry moves the fixture's clock (see ``CacheFixture.fake_clock``):
no test needs a short timeout to be alive after a stall.
"""

from __future__ import annotations

import time

from ..backends.base import BaseCache
from .fixtures import CacheFixture


class ExpiryTests(CacheFixture):
    def test_expiration(self, cache: BaseCache) -> None:
        t = self.short_timeout
        cache.set("expire1", "very quickly", t)
        cache.set("expire2", "very quickly", t)
        cache.set("expire3", "very quickly", t)
        assert cache.get("expire1") == "very quickly"
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
        cache.set("expire2", "very quickly", timeout=t)
        assert cache.touch("expire2", timeout=None) is True
        cache.set("expire3", "very quickly", timeout=t + 60)
        assert cache.touch("expire3", timeout=t) is True
        self.sleep_past(t)
        assert cache.has_key("expire1")
        assert cache.get("expire1") == "very quickly"
        assert cache.get("expire2") == "very quickly"
        assert cache.get("expire3") is None
        assert cache.touch("nonexistent") is False
        assert cache.touch("nonexistent", timeout=None) is False

    def test_touch_version(self, cache: BaseCache) -> None:
        t = self.short_timeout
        cache.set("k", "v1", t)
        cache.set("k", "v2", t, version=2)
        assert cache.touch("k", None, version=2) is True
        assert cache.touch("k", None, version=3) is False
        assert cache.touch("missing", None, version=2) is False
        self.sleep_past(t)
        assert cache.get("k") is None
        assert cache.get("k", version=2) == "v2"

    def test_touch_default_timeout(self, cache: BaseCache) -> None:
        short = self.make_cache(TIMEOUT=max(2, int(self.short_timeout)))
        short.set("key", "value", timeout=None)
        assert short.touch("key") is True  # back to the default TIMEOUT
        assert short.get("key") == "value"
        self.sleep_past(short.default_timeout)  # type: ignore[arg-type]
        assert short.get("key") is None

    def test_default_timeout_setting(self, cache: BaseCache) -> None:
        assert cache.default_timeout == 300
        never = self.make_cache(TIMEOUT=None)
        assert never.default_timeout is None
        never.set("forever", "value")
        assert never.get("forever") == "value"
        assert self.make_cache(TIMEOUT="12").default_timeout == 12

    def test_default_timeout_used(self, cache: BaseCache) -> None:
        short = self.make_cache(TIMEOUT=max(2, int(self.short_timeout)))
        short.set("set", "value")
        assert short.add("add", "value") is True
        short.set_many({"many": "value"})
        assert short.get_many(["set", "add", "many"]) == {"set": "value", "add": "value", "many": "value"}
        self.sleep_past(short.default_timeout)  # type: ignore[arg-type]
        assert short.get_many(["set", "add", "many"]) == {}

    def test_zero_default_timeout(self, cache: BaseCache) -> None:
        zero = self.make_cache(TIMEOUT=0)
        assert zero.default_timeout == 0
        zero.set("set", "value")
        assert zero.get("set") is None
        assert zero.add("add", "value") is True
        assert zero.get("add") is None
        assert zero.set_many({"many": "value"}) == []
        assert zero.get_many(["set", "add", "many"]) == {}
        assert zero.get_or_set("get_or_set", "made") == "made"
        assert not zero.has_key("get_or_set")
        zero.set("touched", "value", 60)
        assert zero.touch("touched") is True
        assert zero.get("touched") is None

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
        assert cache.get_many(["key1", "key2", "key3", "key4", "key5"]) == {
            "key1": "eggs",
            "key2": "ham",
            "key3": "sausage",
            "key4": "lobster bisque",
            "key5": "belgian fries",
        }

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
        assert cache.touch("key1", long) is True
        assert cache.get("key1") == "eggs"

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
        cache.set("replaced", "old")
        cache.set("replaced", "new", -5)
        assert cache.get("replaced") is None
        assert cache.add("added", "value", -1) is True
        assert cache.get("added") is None
        cache.set("many1", "old")
        assert cache.set_many({"many1": "new", "many2": "new"}, -1) == []
        assert cache.get_many(["many1", "many2"]) == {}
        cache.set("touched", "value")
        assert cache.touch("touched", -1) is True
        assert cache.get("touched") is None
        assert cache.touch("touched", 60) is False

    def test_float_timeout(self, cache: BaseCache) -> None:
        cache.set("key1", "spam", 100.2)
        assert cache.get("key1") == "spam"
        assert cache.add("key2", "eggs", 100.2) is True
        assert cache.touch("key2", 200.5) is True
        assert cache.get("key2") == "eggs"

    def test_subsecond_timeout(self, cache: BaseCache) -> None:
        cache.set("set", "value", 0.5)
        assert cache.add("add", "value", 0.5) is True
        cache.set_many({"many": "value"}, 0.5)
        cache.set("touched", "value")
        assert cache.touch("touched", 0.5) is True
        keys = ["set", "add", "many", "touched"]
        if self.clock.fake:
            # Only a frozen clock guarantees half a second has not passed yet.
            assert cache.get_many(keys) == dict.fromkeys(keys, "value")
        self.sleep_past(0.5)
        assert cache.get_many(keys) == {}

    def test_set_many_expiration(self, cache: BaseCache) -> None:
        t = self.short_timeout
        cache.set_many({"key1": "spam", "key2": "eggs"}, t)
        assert cache.get_many(["key1", "key2"]) == {"key1": "spam", "key2": "eggs"}
        self.sleep_past(t)
        assert cache.get("key1") is None
        assert cache.get("key2") is None

    def test_incr_expiry(self, cache: BaseCache) -> None:
        t = self.short_timeout
        cache.set("counter", 1, t)
        assert cache.incr("counter", 2) == 3
        assert cache.decr("counter") == 2
        self.sleep_past(t)
        if self.incr_keeps_ttl:
            assert cache.get("counter") is None
        else:  # BaseCache's incr re-sets with the default timeout
            assert cache.get("counter") == 2

    def test_incr_version_expiry(self, cache: BaseCache) -> None:
        t = self.short_timeout
        cache.set("moved", "value", t)
        assert cache.incr_version("moved") == 2
        cache.set("back", "value", t, version=2)
        assert cache.decr_version("back", version=2) == 1
        self.sleep_past(t)
        if self.incr_version_keeps_ttl:
            assert cache.get("moved", version=2) is None
            assert cache.get("back") is None
        else:  # BaseCache's incr_version stores the new version with the default timeout
            assert cache.get("moved", version=2) == "value"
            assert cache.get("back") == "value"

    def test_get_backend_timeout(self, cache: BaseCache) -> None:
        if not self.absolute_backend_timeout:
            assert cache.get_backend_timeout(10) == 10
            assert cache.get_backend_timeout() == cache.default_timeout
            assert cache.get_backend_timeout(60) > cache.get_backend_timeout(10)  # type: ignore[operator]
            return
        before = time.time()
        assert cache.get_backend_timeout(None) is None
        got = {
            "default": cache.get_backend_timeout(),
            "ten": cache.get_backend_timeout(10),
            "fraction": cache.get_backend_timeout(0.5),
            "zero": cache.get_backend_timeout(0),
            "negative": cache.get_backend_timeout(-5),
        }
        after = time.time()
        for name, offset in {"default": 300, "ten": 10, "fraction": 0.5, "negative": -5}.items():
            assert before + offset <= got[name] <= after + offset, (name, got[name])  # type: ignore[operator]
        assert got["zero"] < before  # type: ignore[operator]
        never = self.make_cache(TIMEOUT=None)
        assert never.get_backend_timeout() is None
