"""DummyCache stores nothing and answers every call exactly as Django's DummyCache does."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from cachemere import CacheHandler, CacheKeyWarning
from cachemere.backends.base import API_METHODS, BaseCache
from cachemere.backends.dummy import DummyCache
from cachemere.testing import KeyValidationTests


@pytest.fixture
def cache() -> BaseCache:
    return CacheHandler({"d": {"BACKEND": "cachemere.backends.dummy.DummyCache"}})["d"]


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", result) or ("raise", (type name, message)), whatever the call does."""
    try:
        return "ok", call()
    except Exception as exc:
        return "raise", (type(exc).__name__, str(exc))


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def made_default(n: int = 0) -> str:
    return f"made {n}"


# Every call and what Django's DummyCache returns for it (reference §2.1, §8.1).
# Each is run as given, after a set() of the same key (which must change nothing).
EXPECTED: list[tuple[str, tuple[Any, ...], dict[str, Any], tuple[str, Any]]] = [
    ("add", ("k", "v"), {}, ("ok", True)),
    ("add", ("k", "v", None), {"version": 2}, ("ok", True)),
    ("get", ("k",), {}, ("ok", None)),
    ("get", ("k", "default"), {}, ("ok", "default")),
    ("get", ("k",), {"default": 0, "version": 3}, ("ok", 0)),
    ("set", ("k", "v"), {}, ("ok", None)),
    ("set", ("k", "v", 0), {}, ("ok", None)),
    ("touch", ("k",), {}, ("ok", False)),
    ("touch", ("k", None), {}, ("ok", False)),
    ("delete", ("k",), {}, ("ok", False)),
    ("has_key", ("k",), {}, ("ok", False)),
    ("clear", (), {}, ("ok", None)),
    ("close", (), {}, ("ok", None)),
    ("get_many", (["k", "other"],), {}, ("ok", {})),
    ("get_many", (("k",),), {"version": 2}, ("ok", {})),
    ("set_many", ({"k": "v", "other": 2},), {}, ("ok", [])),
    ("set_many", ({"k": "v"}, 100), {"version": 2}, ("ok", [])),
    ("set_many", ({},), {}, ("ok", [])),
    ("delete_many", (["k", "other"],), {}, ("ok", None)),
    ("delete_many", ([],), {}, ("ok", None)),
    ("incr", ("k",), {}, ("raise", ("ValueError", "Key 'k' not found"))),
    ("incr", ("k", 5), {}, ("raise", ("ValueError", "Key 'k' not found"))),
    ("decr", ("k",), {}, ("raise", ("ValueError", "Key 'k' not found"))),
    ("incr_version", ("k",), {}, ("raise", ("ValueError", "Key 'k' not found"))),
    ("decr_version", ("k",), {"version": 2}, ("raise", ("ValueError", "Key 'k' not found"))),
    ("get_or_set", ("k", "fallback"), {}, ("ok", "fallback")),
    ("get_or_set", ("k", None), {}, ("ok", None)),
    ("get_or_set", ("k", made_default), {}, ("ok", "made 0")),
    ("get_or_set", ("k", "x", 10), {"version": 2}, ("ok", "x")),
]
IDS = [f"{name}{args!r}{kwargs or ''}" for name, args, kwargs, _ in EXPECTED]


@pytest.mark.parametrize(("name", "args", "kwargs", "expected"), EXPECTED, ids=IDS)
def test_sync(
    cache: BaseCache, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], expected: Any
) -> None:
    cache.set("k", "stored?")
    assert outcome(lambda: getattr(cache, name)(*args, **kwargs)) == expected


@pytest.mark.parametrize(("name", "args", "kwargs", "expected"), EXPECTED, ids=IDS)
def test_async(
    cache: BaseCache, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], expected: Any
) -> None:
    run(cache.aset("k", "stored?"))
    assert outcome(lambda: run(getattr(cache, "a" + name)(*args, **kwargs))) == expected


def test_every_api_method_is_covered() -> None:
    assert {name for name, *_ in EXPECTED} == set(API_METHODS)


def test_in_and_callable_default(cache: BaseCache) -> None:
    cache.set("k", 1)
    assert "k" not in cache
    calls = []
    assert cache.get_or_set("k", lambda: calls.append(1) or "computed") == "computed"
    assert cache.get_or_set("k", lambda: calls.append(1) or "computed") == "computed"
    assert calls == [1, 1]  # nothing kept, so computed every time


def test_data_types_and_unicode_are_accepted_and_dropped(cache: BaseCache) -> None:
    for value in ["Iñtërnâtiônàlizætiøn", 1, 2.5, None, b"bytes", [1], {"a": (1,)}, object()]:
        cache.set("Iñtërnâtiônàlizætiøn", value)
        assert cache.get("Iñtërnâtiônàlizætiøn", "missing") == "missing"


K = "key with spaces"
KEY_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("add", (K, 1)),
    ("get", (K,)),
    ("set", (K, 1)),
    ("touch", (K,)),
    ("delete", (K,)),
    ("has_key", (K,)),
    ("get_many", ([K],)),
    ("set_many", ({K: 1},)),
    ("delete_many", ([K],)),
    ("incr", (K,)),
    ("decr", (K,)),
    ("get_or_set", (K, 1)),
    ("incr_version", (K,)),
    ("decr_version", (K,)),
]


@pytest.mark.parametrize(("name", "args"), KEY_CALLS, ids=[name for name, _ in KEY_CALLS])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_key_warnings_still_fire(
    cache: BaseCache, name: str, args: tuple[Any, ...], asynchronous: bool
) -> None:
    if asynchronous:
        perform = lambda: run(getattr(cache, "a" + name)(*args))  # noqa: E731
    else:
        perform = lambda: getattr(cache, name)(*args)  # noqa: E731
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome(perform)
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheKeyWarning)]
    assert messages, name
    assert messages[0] == (
        "Cache key contains characters that will cause errors if used with memcached: ':1:key with spaces'"
    )


def test_long_key_warning(cache: BaseCache) -> None:
    with pytest.warns(CacheKeyWarning, match="longer than 250"):
        cache.get("a" * 251)


def test_dummy_is_not_blocking() -> None:
    assert DummyCache.blocking is False


def test_same_answers_as_django() -> None:
    """Differential check against Django's own DummyCache (installed with the dev extra)."""
    from django.core.cache.backends.dummy import DummyCache as DjangoDummy

    ours = DummyCache("", {})
    theirs = DjangoDummy("", {})

    def observe(target: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = outcome(lambda: getattr(target, name)(*args, **kwargs))
        return result, [str(w.message) for w in caught]

    for name, args, kwargs, _ in EXPECTED:
        for key in ("k", "key with spaces"):
            swapped = tuple(key if a == "k" else a for a in args)
            assert observe(ours, name, swapped, kwargs) == observe(theirs, name, swapped, kwargs), name


class TestDummyKeyConformance(KeyValidationTests):
    """The conformance tests that need no storage: made keys, their validation, KEY_FUNCTION calls."""

    backend = "cachemere.backends.dummy.DummyCache"
