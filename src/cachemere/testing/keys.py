"""Conformance: prefixes, versions, key functions and memcached-unsafe keys.

:class:`KeyValidationTests` needs no storage (DummyCache runs it too);
:class:`KeyTests` checks that keys name the right entries.
"""

# The tests assert that methods typed "-> None" really answer None.
# mypy: disable-error-code="func-returns-value"

from __future__ import annotations

import asyncio
import re
import warnings
from typing import Any

import pytest

from ..backends.base import BaseCache
from ..backends.keys import default_key_func
from ..exceptions import CacheKeyWarning, InvalidCacheKey
from .fixtures import CacheFixture, custom_key_func

SPACES_MESSAGE = "Cache key contains characters that will cause errors if used with memcached"


def key_calls(key: Any) -> list[tuple[str, tuple[Any, ...], Any]]:
    """Every API method that takes a key, its arguments, and its answer when ``key`` is missing."""
    return [
        ("add", (key, 1), True),
        ("get", (key,), None),
        ("set", (key, 1), None),
        ("touch", (key,), False),
        ("delete", (key,), False),
        ("has_key", (key,), False),
        ("get_many", ([key],), {}),
        ("set_many", ({key: 1},), []),
        ("delete_many", ([key],), None),
        ("get_or_set", (key, 1), 1),
        ("incr", (key,), ValueError),
        ("decr", (key,), ValueError),
        ("incr_version", (key,), ValueError),
        ("decr_version", (key,), ValueError),
    ]


def call(cache: BaseCache, name: str, args: tuple[Any, ...], asynchronous: bool, **kwargs: Any) -> Any:
    """``cache.<name>(*args, **kwargs)``, or its async twin run to completion."""
    if asynchronous:
        return asyncio.run(getattr(cache, "a" + name)(*args, **kwargs))
    return getattr(cache, name)(*args, **kwargs)


def key_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, CacheKeyWarning)]


ASYNC = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])


class KeyValidationTests(CacheFixture):
    """Made keys and their validation: the same whether or not the backend stores anything."""

    def test_make_key_format(self, cache: BaseCache) -> None:
        assert cache.make_key("foo") == ":1:foo"
        assert cache.make_key("foo", version=3) == ":3:foo"
        assert cache.make_key(5) == ":1:5"
        assert cache.make_and_validate_key("foo", 2) == ":2:foo"

    def test_validate_key(self, cache: BaseCache) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert cache.validate_key(":1:fine-key") is None
        long_and_spaced = ":1:" + "a b" * 100
        if self.invalid_key_raises:
            with pytest.raises(InvalidCacheKey, match="longer than 250"):
                cache.validate_key(long_and_spaced)
            with pytest.raises(InvalidCacheKey, match=SPACES_MESSAGE):
                cache.validate_key(":1:a b")
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cache.validate_key(long_and_spaced)
        messages = key_warnings(caught)
        assert len(messages) == 2
        assert "longer than 250" in messages[0]
        assert messages[1].startswith(SPACES_MESSAGE)

    def _check_invalid_key(self, cache: BaseCache, key: str, fragment: str, asynchronous: bool) -> None:
        for name, args, missing in key_calls(key):
            cache.clear()  # the key is missing, so incr and friends must raise ValueError
            if self.invalid_key_raises:
                with pytest.raises(InvalidCacheKey, match=re.escape(fragment)):
                    call(cache, name, args, asynchronous)
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if missing is ValueError:
                    with pytest.raises(ValueError, match="not found") as info:
                        call(cache, name, args, asynchronous)
                    assert not isinstance(info.value, InvalidCacheKey), name
                else:
                    assert call(cache, name, args, asynchronous) == missing, name
            messages = key_warnings(caught)
            assert messages, f"{name} gave no CacheKeyWarning for {key!r}"
            assert fragment in messages[0], (name, messages)

    @ASYNC
    def test_invalid_key_characters(self, cache: BaseCache, asynchronous: bool) -> None:
        self._check_invalid_key(cache, "key with spaces and 清", SPACES_MESSAGE, asynchronous)

    @ASYNC
    def test_invalid_key_length(self, cache: BaseCache, asynchronous: bool) -> None:
        self._check_invalid_key(cache, "a" * 251, "longer than 250", asynchronous)

    @ASYNC
    def test_invalid_key_length_with_version(self, cache: BaseCache, asynchronous: bool) -> None:
        # The made key counts: 247 characters fit at version 1, not at version 10.
        for name, args, missing in key_calls("a" * 247):
            cache.clear()
            if self.invalid_key_raises:
                with pytest.raises(InvalidCacheKey, match="longer than 250"):
                    call(cache, name, args, asynchronous, version=10)
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if missing is ValueError:
                    with pytest.raises(ValueError, match="not found"):
                        call(cache, name, args, asynchronous, version=10)
                else:
                    assert call(cache, name, args, asynchronous, version=10) == missing, name
            messages = key_warnings(caught)
            assert messages and "longer than 250" in messages[0], (name, messages)

    def test_key_warning_message_is_exact(self, cache: BaseCache) -> None:
        if self.invalid_key_raises:
            with pytest.raises(InvalidCacheKey) as info:
                cache.get("key with spaces")
            message = str(info.value)
        else:
            with pytest.warns(CacheKeyWarning) as caught:
                cache.get("key with spaces")
            message = str(caught[0].message)
        assert message == f"{SPACES_MESSAGE}: ':1:key with spaces'"

    @ASYNC
    def test_bad_key_reported_on_every_call(self, cache: BaseCache, asynchronous: bool) -> None:
        for _ in range(3):
            if self.invalid_key_raises:
                with pytest.raises(InvalidCacheKey):
                    call(cache, "set", ("a key with spaces", 1), asynchronous)
            else:
                with pytest.warns(CacheKeyWarning):
                    call(cache, "set", ("a key with spaces", 1), asynchronous)

    @ASYNC
    def test_key_function_called_on_every_operation(self, cache: BaseCache, asynchronous: bool) -> None:
        calls: list[Any] = []

        def counting(key: Any, key_prefix: str, version: Any) -> str:
            calls.append(key)
            return default_key_func(key, key_prefix, version)

        counted = self.make_cache(KEY_FUNCTION=counting)
        for _ in range(2):
            for name, args, _missing in key_calls("k"):
                before = len(calls)
                try:
                    call(counted, name, args, asynchronous)
                except ValueError:
                    assert name in ("incr", "decr", "incr_version", "decr_version"), name
                assert len(calls) > before, f"{name} did not call KEY_FUNCTION"
                assert set(calls[before:]) == {"k"}, name


class KeyTests(CacheFixture):
    """Prefixes, versions and key functions name distinct entries."""

    def shared(self, value: Any, otherwise: Any = None) -> Any:
        """What another instance on the same LOCATION reads back: ``value`` if the store is shared."""
        return value if self.instances_share_store else otherwise

    def test_prefix(self, cache: BaseCache) -> None:
        prefixed = self.make_cache(KEY_PREFIX="cacheprefix")
        assert prefixed.make_key("somekey") == "cacheprefix:1:somekey"
        assert cache.make_key("somekey") == ":1:somekey"
        cache.set("somekey", "value")
        assert not prefixed.has_key("somekey")
        prefixed.set("somekey", "value2")
        assert cache.get("somekey") == "value"
        assert prefixed.get("somekey") == "value2"

    def test_instances_share_store(self, cache: BaseCache) -> None:
        other = self.make_cache()
        cache.set("shared", "value")
        assert other.get("shared") == self.shared("value")
        other.set("other", "value")
        assert cache.get("other") == self.shared("value")

    def test_custom_key_func(self, cache: BaseCache) -> None:
        by_callable = self.make_cache(KEY_FUNCTION=custom_key_func)
        by_path = self.make_cache(KEY_FUNCTION="cachemere.testing.fixtures.custom_key_func")
        assert by_path.make_key("k") == by_callable.make_key("k") == "CUSTOM--1-k"
        cache.set("answer1", 42)
        assert cache.get("answer1") == 42
        assert by_callable.get("answer1") is None
        assert by_path.get("answer1") is None
        by_callable.set("answer2", 42)
        assert cache.get("answer2") is None
        assert by_callable.get("answer2") == 42
        assert by_path.get("answer2") == self.shared(42)

    def test_key_prefix_setter_forgets_made_keys(self, cache: BaseCache) -> None:
        cache.set("k", "unprefixed")
        assert cache.get("k") == "unprefixed"
        cache.key_prefix = "other"
        assert cache.key_prefix == "other"
        assert cache.make_key("k") == "other:1:k"
        assert cache.get("k") is None
        assert not cache.has_key("k")
        cache.set("k", "prefixed")
        assert cache.get_many(["k"]) == {"k": "prefixed"}
        cache.key_prefix = ""
        assert cache.get("k") == "unprefixed"

    def test_version_setter_forgets_made_keys(self, cache: BaseCache) -> None:
        cache.set("k", "v1")
        assert cache.get("k") == "v1"
        cache.version = 2
        assert cache.make_key("k") == ":2:k"
        assert cache.get("k") is None
        cache.set("k", "v2")
        assert cache.get("k", version=1) == "v1"
        cache.version = 1
        assert cache.get("k") == "v1"
        assert cache.get("k", version=2) == "v2"

    def test_key_func_setter_forgets_made_keys(self, cache: BaseCache) -> None:
        cache.set("k", "default")
        assert cache.get("k") == "default"
        cache.key_func = custom_key_func
        assert cache.make_key("k") == "CUSTOM--1-k"
        assert cache.get("k") is None
        cache.set("k", "custom")
        cache.key_func = "cachemere.testing.fixtures.custom_key_func"
        assert cache.get("k") == "custom"
        cache.key_func = None
        assert cache.make_key("k") == ":1:k"
        assert cache.get("k") == "default"

    def test_versioning_get_set(self, cache: BaseCache) -> None:
        v2 = self.make_cache(VERSION=2)
        cache.set("answer1", 42)
        assert cache.get("answer1") == 42
        assert cache.get("answer1", version=1) == 42
        assert cache.get("answer1", version=2) is None
        assert v2.get("answer1") is None
        assert v2.get("answer1", version=1) == self.shared(42)
        cache.set("answer2", 42, version=2)
        assert cache.get("answer2") is None
        assert cache.get("answer2", version=2) == 42
        assert v2.get("answer2") == self.shared(42)
        v2.set("answer3", 42)
        assert v2.get("answer3") == 42
        assert v2.get("answer3", version=1) is None
        assert cache.get("answer3") is None
        assert cache.get("answer3", version=2) == self.shared(42)
        v2.set("answer4", 42, version=1)
        assert v2.get("answer4") is None
        assert v2.get("answer4", version=1) == 42
        assert cache.get("answer4") == self.shared(42)

    def test_versioning_add_has_delete(self, cache: BaseCache) -> None:
        v2 = self.make_cache(VERSION=2)
        assert cache.add("answer1", 42, version=2) is True
        assert cache.add("answer1", 37, version=2) is False
        assert cache.add("answer1", 37, version=1) is True
        assert cache.get("answer1", version=1) == 37
        assert cache.get("answer1", version=2) == 42
        assert v2.get("answer1") == self.shared(42)
        assert v2.has_key("answer1") is self.shared(True, False)
        assert cache.has_key("answer1", version=2)
        assert not cache.has_key("answer1", version=3)
        assert cache.delete("answer1", version=2) is True
        assert cache.get("answer1", version=2) is None
        assert v2.get("answer1") is None
        assert cache.get("answer1") == 37

    def test_versioning_incr_decr(self, cache: BaseCache) -> None:
        cache.set("answer1", 37, version=1)
        cache.set("answer1", 42, version=2)
        assert cache.incr("answer1", version=2) == 43
        assert cache.get("answer1", version=1) == 37
        assert cache.decr("answer1", version=2) == 42
        assert cache.get("answer1", version=1) == 37
        assert cache.get("answer1", version=2) == 42

    def test_versioning_many(self, cache: BaseCache) -> None:
        v2 = self.make_cache(VERSION=2)
        cache.set_many({"ford1": 37, "arthur1": 42})
        assert cache.get_many(["ford1", "arthur1"]) == {"ford1": 37, "arthur1": 42}
        assert cache.get_many(["ford1", "arthur1"], version=2) == {}
        assert v2.get_many(["ford1", "arthur1"], version=1) == self.shared({"ford1": 37, "arthur1": 42}, {})
        cache.set_many({"ford2": 37, "arthur2": 42}, version=2)
        assert cache.get_many(["ford2", "arthur2"]) == {}
        assert cache.get_many(["ford2", "arthur2"], version=2) == {"ford2": 37, "arthur2": 42}
        assert v2.get_many(["ford2", "arthur2"]) == self.shared({"ford2": 37, "arthur2": 42}, {})
        cache.delete_many(["ford2"], version=2)
        assert cache.get_many(["ford2", "arthur2"], version=2) == {"arthur2": 42}

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
        assert cache.get("null", "default", version=1) == "default"

    def test_decr_version(self, cache: BaseCache) -> None:
        cache.set("answer", 42, version=2)
        assert cache.decr_version("answer", version=2) == 1
        assert cache.get("answer", version=1) == 42
        assert cache.get("answer", version=2) is None
        with pytest.raises(ValueError):
            cache.decr_version("does_not_exist", version=2)

    @ASYNC
    def test_invalid_key_on_stored_counter(self, cache: BaseCache, asynchronous: bool) -> None:
        key = "counter with spaces"
        if self.invalid_key_raises:
            for name in ("incr", "decr", "incr_version"):
                with pytest.raises(InvalidCacheKey, match=SPACES_MESSAGE):
                    call(cache, name, (key,), asynchronous)
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CacheKeyWarning)
            cache.set(key, 1)
        for name, answer in (("incr", 2), ("decr", 1), ("incr_version", 2)):
            with pytest.warns(CacheKeyWarning, match=SPACES_MESSAGE):
                assert call(cache, name, (key,), asynchronous) == answer
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CacheKeyWarning)
            assert cache.get(key, version=2) == 1
