"""Conformance: prefixes, versions, key functions and memcached-unsafe keys."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from ..backends.base import BaseCache
from ..exceptions import CacheKeyWarning, InvalidCacheKey
from .fixtures import CacheFixture, custom_key_func

KEY_OPERATIONS: list[tuple[str, Callable[[BaseCache, str], Any]]] = [
    ("add", lambda c, k: c.add(k, 1)),
    ("get", lambda c, k: c.get(k)),
    ("set", lambda c, k: c.set(k, 1)),
    ("incr", lambda c, k: c.incr(k)),
    ("decr", lambda c, k: c.decr(k)),
    ("touch", lambda c, k: c.touch(k)),
    ("delete", lambda c, k: c.delete(k)),
    ("get_many", lambda c, k: c.get_many([k, "b"])),
    ("set_many", lambda c, k: c.set_many({k: 1, "b": 2})),
    ("delete_many", lambda c, k: c.delete_many([k, "b"])),
    ("has_key", lambda c, k: c.has_key(k)),
]


class KeyTests(CacheFixture):
    def test_prefix(self, cache: BaseCache) -> None:
        prefixed = self.make_cache(KEY_PREFIX="cacheprefix")
        cache.set("somekey", "value")
        assert not prefixed.has_key("somekey")
        prefixed.set("somekey", "value2")
        assert cache.get("somekey") == "value"
        assert prefixed.get("somekey") == "value2"
        assert prefixed.make_key("somekey") == "cacheprefix:1:somekey"
        assert cache.make_key("somekey") == ":1:somekey"

    def test_make_key_format(self, cache: BaseCache) -> None:
        assert cache.make_key("foo") == ":1:foo"
        assert cache.make_key("foo", version=3) == ":3:foo"
        assert cache.make_key(5) == ":1:5"

    def test_custom_key_func(self, cache: BaseCache) -> None:
        by_callable = self.make_cache(KEY_FUNCTION=custom_key_func)
        by_path = self.make_cache(KEY_FUNCTION="cachemere.testing.fixtures.custom_key_func")
        cache.set("answer1", 42)
        assert cache.get("answer1") == 42
        assert by_callable.get("answer1") is None
        assert by_path.get("answer1") is None
        by_callable.set("answer2", 42)
        assert cache.get("answer2") is None
        assert by_callable.get("answer2") == 42
        assert by_path.get("answer2") == 42
        assert by_path.make_key("k") == "CUSTOM--1-k"

    def test_versioning_get_set(self, cache: BaseCache) -> None:
        v2 = self.make_cache(VERSION=2)
        cache.set("answer1", 42)
        assert cache.get("answer1") == 42
        assert cache.get("answer1", version=1) == 42
        assert cache.get("answer1", version=2) is None
        assert v2.get("answer1") is None
        assert v2.get("answer1", version=1) == 42
        cache.set("answer2", 42, version=2)
        assert cache.get("answer2") is None
        assert cache.get("answer2", version=2) == 42
        assert v2.get("answer2") == 42
        v2.set("answer3", 42)
        assert cache.get("answer3") is None
        assert cache.get("answer3", version=2) == 42
        v2.set("answer4", 42, version=1)
        assert cache.get("answer4") == 42
        assert v2.get("answer4") is None

    def test_versioning_add_has_delete(self, cache: BaseCache) -> None:
        v2 = self.make_cache(VERSION=2)
        assert cache.add("answer1", 42, version=2) is True
        assert cache.add("answer1", 37, version=2) is False
        assert cache.add("answer1", 37, version=1) is True
        assert cache.get("answer1", version=1) == 37
        assert v2.get("answer1") == 42
        assert v2.has_key("answer1")
        assert cache.has_key("answer1", version=2)
        assert not cache.has_key("answer1", version=3)
        assert cache.delete("answer1", version=2) is True
        assert v2.get("answer1") is None
        assert cache.get("answer1") == 37

    def test_versioning_incr_decr(self, cache: BaseCache) -> None:
        cache.set("answer1", 37, version=1)
        cache.set("answer1", 42, version=2)
        assert cache.incr("answer1", version=2) == 43
        assert cache.get("answer1", version=1) == 37
        assert cache.decr("answer1", version=2) == 42
        assert cache.get("answer1", version=1) == 37

    def test_versioning_many(self, cache: BaseCache) -> None:
        v2 = self.make_cache(VERSION=2)
        cache.set_many({"ford1": 37, "arthur1": 42})
        assert cache.get_many(["ford1", "arthur1"]) == {"ford1": 37, "arthur1": 42}
        assert cache.get_many(["ford1", "arthur1"], version=2) == {}
        assert v2.get_many(["ford1", "arthur1"], version=1) == {"ford1": 37, "arthur1": 42}
        cache.set_many({"ford2": 37, "arthur2": 42}, version=2)
        assert cache.get_many(["ford2", "arthur2"]) == {}
        assert v2.get_many(["ford2", "arthur2"]) == {"ford2": 37, "arthur2": 42}
        cache.delete_many(["ford2"], version=2)
        assert v2.get_many(["ford2", "arthur2"]) == {"arthur2": 42}

    def test_incr_version(self, cache: BaseCache) -> None:
        v2 = self.make_cache(VERSION=2)
        cache.set("answer", 42, version=2)
        assert cache.incr_version("answer", version=2) == 3
        assert cache.get("answer", version=2) is None
        assert cache.get("answer", version=3) == 42
        v2.set("answer2", 42)
        assert v2.incr_version("answer2") == 3
        assert v2.get("answer2") is None
        assert v2.get("answer2", version=3) == 42
        assert v2.incr_version("answer2", delta=10, version=3) == 13
        assert v2.get("answer2", version=13) == 42
        with pytest.raises(ValueError):
            cache.incr_version("does_not_exist")
        cache.set("null", None)
        assert cache.incr_version("null") == 2
        assert cache.get("null", "default", version=2) is None

    def test_decr_version(self, cache: BaseCache) -> None:
        cache.set("answer", 42, version=2)
        assert cache.decr_version("answer", version=2) == 1
        assert cache.get("answer", version=1) == 42
        assert cache.get("answer", version=2) is None
        with pytest.raises(ValueError):
            cache.decr_version("does_not_exist", version=2)

    def _check_invalid_key(self, cache: BaseCache, key: str, fragment: str) -> None:
        for name, operation in KEY_OPERATIONS:
            if self.invalid_key_raises:
                with pytest.raises(InvalidCacheKey, match=fragment):
                    operation(cache, key)
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    operation(cache, key)
                except ValueError:
                    pass  # incr/decr of a missing key
            messages = [str(w.message) for w in caught if issubclass(w.category, CacheKeyWarning)]
            assert messages, f"{name} gave no CacheKeyWarning for {key!r}"
            assert fragment in messages[0], (name, messages)

    def test_invalid_key_characters(self, cache: BaseCache) -> None:
        self._check_invalid_key(
            cache,
            "key with spaces and 清",
            "Cache key contains characters that will cause errors if used with memcached",
        )

    def test_invalid_key_length(self, cache: BaseCache) -> None:
        self._check_invalid_key(cache, "a" * 251, "longer than 250")

    def test_key_warning_message_is_exact(self, cache: BaseCache) -> None:
        if self.invalid_key_raises:
            with pytest.raises(InvalidCacheKey) as info:
                cache.get("key with spaces")
            message = str(info.value)
        else:
            with pytest.warns(CacheKeyWarning) as caught:
                cache.get("key with spaces")
            message = str(caught[0].message)
        assert message == (
            "Cache key contains characters that will cause errors if used with "
            "memcached: ':1:key with spaces'"
        )

    def test_bad_key_reported_on_every_call(self, cache: BaseCache) -> None:
        for _ in range(3):
            if self.invalid_key_raises:
                with pytest.raises(InvalidCacheKey):
                    cache.set("a key with spaces", 1)
            else:
                with pytest.warns(CacheKeyWarning):
                    cache.set("a key with spaces", 1)
