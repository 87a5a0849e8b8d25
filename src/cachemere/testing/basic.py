"""Conformance: the low-level API's basic contract (values, many-key calls, incr, get_or_set)."""

# The tests assert that methods typed "-> None" really answer None.
# mypy: disable-error-code="func-returns-value"

from __future__ import annotations

import pickle
from typing import Any

import pytest

from ..backends.base import BaseCache
from .fixtures import CacheFixture


class Unpicklable:
    def __getstate__(self) -> Any:
        raise pickle.PickleError("not picklable")


class Record:
    """A model-like object: attributes, equality by value."""

    def __init__(self, name: str, tags: list[str]) -> None:
        self.name, self.tags = name, tags

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]


def module_function() -> str:
    return "called"


class BasicTests(CacheFixture):
    def test_simple(self, cache: BaseCache) -> None:
        assert cache.set("key", "value") is None
        assert cache.get("key") == "value"
        assert cache.get("key", "default") == "value"

    def test_non_existent(self, cache: BaseCache) -> None:
        assert cache.get("does_not_exist") is None
        assert cache.get("does_not_exist", "default") == "default"

    def test_stored_none_beats_default(self, cache: BaseCache) -> None:
        cache.set("key", None)
        assert cache.get("key", "default") is None
        assert cache.has_key("key")
        assert "key" in cache

    def test_add(self, cache: BaseCache) -> None:
        assert cache.add("addkey", "value") is True
        assert cache.add("addkey", "newvalue") is False
        assert cache.get("addkey") == "value"

    def test_delete(self, cache: BaseCache) -> None:
        cache.set_many({"key1": "one", "key2": "two"})
        assert cache.delete("key1") is True
        assert cache.get("key1") is None
        assert cache.get("key2") == "two"
        assert cache.delete("key1") is False
        assert cache.delete("never-set") is False

    def test_has_key_and_in(self, cache: BaseCache) -> None:
        cache.set("hello", "goodbye")
        assert cache.has_key("hello")
        assert not cache.has_key("goodbye")
        assert "hello" in cache
        assert "goodbye" not in cache
        cache.set("no_expiry", "here", None)
        assert cache.has_key("no_expiry")

    @pytest.mark.parametrize(
        "value",
        [
            "a string",
            "unicode ø ü ẞ 中文 😀",
            42,
            -7,
            2**70,
            3.5,
            True,
            False,
            None,
            b"\x00\xffbytes",
            [1, "two", 3.0],
            (1, (2, 3)),
            {"a": 1, "b": [1, 2], "c": {"d": None}},
            {1, 2, 3},
            frozenset({"x"}),
            module_function,
            Record,
        ],
        ids=repr,
    )
    def test_data_types(self, cache: BaseCache, value: Any) -> None:
        cache.set("value", value)
        assert cache.get("value") == value
        assert cache.get_many(["value"]) == {"value": value}

    def test_object_round_trip(self, cache: BaseCache) -> None:
        record = Record("r", ["a", "b"])
        cache.set("record", record)
        got = cache.get("record")
        assert got == record and got is not record

    def test_stored_value_is_isolated(self, cache: BaseCache) -> None:
        value: dict[str, Any] = {"list": [1, 2], "n": 1}
        cache.set("key", value)
        value["list"].append(3)
        value["n"] = 2
        first = cache.get("key")
        assert first == {"list": [1, 2], "n": 1}
        first["list"].append(4)
        first["n"] = 3
        assert cache.get("key") == {"list": [1, 2], "n": 1}
        flat = [1, 2, 3]
        cache.set("flat", flat)
        flat.append(4)
        got = cache.get("flat")
        got.append(5)
        assert cache.get("flat") == [1, 2, 3]

    def test_unicode_keys(self, cache: BaseCache) -> None:
        data = {
            "ascii": "ascii_value",
            "unicode_ascii": "Iñtërnâtiônàlizætiøn1",
            "Iñtërnâtiônàlizætiøn": "x",
        }
        for key, value in data.items():
            cache.delete(key)
            cache.set(key, value)
            assert cache.get(key) == value
            cache.delete(key)
            assert cache.add(key, value)
            assert cache.get(key) == value
        cache.delete_many(data)
        cache.set_many(data)
        assert cache.get_many(data) == data

    def test_non_string_keys(self, cache: BaseCache) -> None:
        cache.set(5, "five")
        cache.set("5", "string five")
        assert cache.get(5) == "string five"  # both make the key ':1:5', as in Django
        cache.set(1, "one")
        cache.set(True, "true")
        assert cache.get(1) == "one"
        assert cache.get(True) == "true"

    def test_binary_string(self, cache: BaseCache) -> None:
        value = bytes(range(256)) * 4
        cache.set("binary", value)
        assert cache.get("binary") == value
        cache.add("binary2", value)
        assert cache.get("binary2") == value

    def test_get_many(self, cache: BaseCache) -> None:
        cache.set_many({"a": "a", "b": "b", "c": "c", "d": "d", "n": None})
        assert cache.get_many(["a", "c", "d"]) == {"a": "a", "c": "c", "d": "d"}
        assert cache.get_many(["a", "b", "e"]) == {"a": "a", "b": "b"}
        assert cache.get_many(iter(["a", "b", "e"])) == {"a": "a", "b": "b"}
        assert cache.get_many(["n", "zz"]) == {"n": None}
        assert cache.get_many([]) == {}

    def test_set_many(self, cache: BaseCache) -> None:
        assert cache.set_many({"key1": "spam", "key2": "eggs"}) == []
        assert cache.get("key1") == "spam"
        assert cache.get("key2") == "eggs"
        assert cache.set_many({}) == []

    def test_delete_many(self, cache: BaseCache) -> None:
        cache.set_many({"key1": "spam", "key2": "eggs", "key3": "ham"})
        assert cache.delete_many(["key1", "key2"]) is None
        assert cache.get("key1") is None
        assert cache.get("key2") is None
        assert cache.get("key3") == "ham"
        assert cache.delete_many([]) is None

    def test_clear(self, cache: BaseCache) -> None:
        cache.set_many({"key1": "spam", "key2": "eggs"})
        cache.clear()
        assert cache.get("key1") is None
        assert cache.get("key2") is None

    def test_incr_decr(self, cache: BaseCache) -> None:
        cache.set("answer", 41)
        assert cache.incr("answer") == 42
        assert cache.get("answer") == 42
        assert cache.incr("answer", 10) == 52
        assert cache.decr("answer") == 51
        assert cache.decr("answer", 10) == 41
        assert cache.get("answer") == 41
        assert cache.incr("answer", -10) == 31
        with pytest.raises(ValueError):
            cache.incr("does_not_exist")
        with pytest.raises(ValueError):
            cache.incr("does_not_exist", -1)
        with pytest.raises(ValueError):
            cache.decr("does_not_exist")
        cache.set("null", None)
        with pytest.raises(TypeError):
            cache.incr("null")
        assert cache.get("null", "default") is None

    def test_close(self, cache: BaseCache) -> None:
        cache.set("key", "value")
        assert cache.close() is None
        assert cache.get("key") == "value"
        cache.set("after", "close")
        assert cache.get_many(["key", "after"]) == {"key": "value", "after": "close"}
        cache.close()
        assert cache.add("n", 1) is True
        assert cache.incr("n") == 2
        assert cache.get("n") == 2

    def test_get_or_set(self, cache: BaseCache) -> None:
        assert cache.get("projector") is None
        assert cache.get_or_set("projector", 42) == 42
        assert cache.get("projector") == 42
        assert cache.get_or_set("projector", 43) == 42
        assert cache.get_or_set("null", None) is None
        assert cache.has_key("null")  # None is stored as a real value
        with pytest.raises(TypeError, match="default"):
            cache.get_or_set("key")  # type: ignore[call-arg]

    def test_get_or_set_callable(self, cache: BaseCache) -> None:
        calls = []

        def make() -> str:
            calls.append(1)
            return "value"

        assert cache.get_or_set("key", make) == "value"
        assert cache.get_or_set("key", make) == "value"
        assert calls == [1]
        assert cache.get_or_set("none", lambda: None) is None

    def test_get_or_set_version(self, cache: BaseCache) -> None:
        assert cache.get_or_set("brian", 1979, version=2) == 1979
        assert cache.get("brian", version=1) is None
        assert cache.get_or_set("brian", 42, version=1) == 42
        assert cache.get_or_set("brian", 1979, version=2) == 1979

    def test_unpicklable_value_raises(self, cache: BaseCache) -> None:
        if not self.pickles_values:
            # Values are kept as they are (or dropped): any object is accepted.
            cache.set("unpicklable", Unpicklable())
            assert cache.add("fresh", Unpicklable()) is True
            return
        with pytest.raises(pickle.PickleError):
            cache.set("unpicklable", Unpicklable())
        with pytest.raises(pickle.PickleError):
            cache.add("unpicklable", Unpicklable())
        assert cache.get("unpicklable") is None

    @pytest.mark.parametrize("value", [0, 0.0, False, "", b"", [], {}, (), set(), frozenset()], ids=repr)
    def test_falsy_values(self, cache: BaseCache, value: Any) -> None:
        cache.set("set", value)
        assert cache.add("add", value) is True
        assert cache.set_many({"many": value}) == []
        for key in ("set", "add", "many"):
            got = cache.get(key, "default")
            assert got == value and type(got) is type(value), key
            assert cache.has_key(key), key
        assert cache.get_many(["set", "add", "many"]) == {"set": value, "add": value, "many": value}
        assert cache.get_or_set("set", "default") == value
        assert cache.add("set", "other") is False
        assert cache.get_or_set("made", lambda: value) == value
        assert cache.get("made", "default") == value

    def test_large_value(self, cache: BaseCache) -> None:
        big = bytes(range(256)) * (8 * 1024)  # 2 MiB
        if self.max_value_size is None:
            cache.set("big", big)
            assert cache.get("big") == big
            assert cache.set_many({"big2": big, "small": 1}) == []
            assert cache.get_many(["big", "big2", "small"]) == {"big": big, "big2": big, "small": 1}
            return
        fits = big[: self.max_value_size // 2]
        cache.set("fits", fits)
        assert cache.get("fits") == fits
        cache.set("big", "old")
        with pytest.raises(self.too_big_errors):
            cache.set("big", big)
        assert cache.get("big") is None  # a failed set must not leave the old value
        cache.set("big", "old")
        assert cache.set_many({"big": big, "small": 1}) == ["big"]
        assert cache.get_many(["big", "small"]) == {"small": 1}

    def test_many_with_duplicates_and_non_str_keys(self, cache: BaseCache) -> None:
        data = {1: "one", 2.5: "float", None: "none", "s": "str"}
        assert cache.set_many(data) == []
        assert cache.get(1) == "one"
        assert cache.get("2.5") == "float"
        assert cache.get_many([1, 2.5, None, "s", 1, "s"]) == data
        assert cache.get_many(iter([1, 1, 1])) == {1: "one"}
        assert cache.get_many(["missing", "missing"]) == {}
        cache.delete_many([1, 1, "s"])
        assert cache.get_many([1, 2.5, None, "s"]) == {2.5: "float", None: "none"}
        # 7 and "7" make the same key (":1:7"): the later item wins, as with two sets.
        assert cache.set_many({7: "int", "7": "str"}) == []
        assert cache.get(7) == "str"

    def test_delete_many_with_missing_keys(self, cache: BaseCache) -> None:
        cache.set_many({"present": 1, "kept": 2})
        assert cache.delete_many(["missing", "present", "also-missing"]) is None
        assert cache.get_many(["present", "kept"]) == {"kept": 2}
        assert cache.delete_many(["missing"]) is None

    def test_clear_every_version(self, cache: BaseCache) -> None:
        cache.set("k", 1)
        cache.set("k", 2, version=2)
        cache.set("other", 3, version=7)
        cache.clear()
        assert cache.get_many(["k", "other"]) == {}
        assert cache.get("k", version=2) is None
        assert cache.get("other", version=7) is None

    def test_clear_without_prefix_clears_every_prefix(self, cache: BaseCache) -> None:
        prefixed = self.make_cache(KEY_PREFIX="clearprefix")
        prefixed.set("k", "prefixed")
        prefixed.set("k", "prefixed v2", version=2)
        cache.clear()
        if self.instances_share_store:
            assert prefixed.get("k") is None
            assert prefixed.get("k", version=2) is None
        else:
            assert prefixed.get("k") == "prefixed"
