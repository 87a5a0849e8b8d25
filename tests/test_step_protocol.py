"""The published step protocol: ``drive`` and ``adrive`` run one piece of logic sync and async."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.backends.base import BaseCache, Logic, adrive, drive
from cachemere.backends.locmem import LocMemCache


def hits_and_misses(keys: list[str]) -> Logic[tuple[int, int]]:
    found = yield "get_many", (keys,)
    return len(found), len(keys) - len(found)


def fail_open(key: str) -> Logic[Any]:
    """Treat a failing read as a miss, then store a fallback."""
    try:
        value = yield "get", (key,)
    except ConnectionError:
        value = None
    if value is None:
        yield "set", (key, "fallback", None)
        value = "fallback"
    return value


class Broken(LocMemCache):
    """Reads fail as an unreachable server's would; writes work."""

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        raise ConnectionError("server gone")

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        raise ConnectionError("server gone (async)")


def make(backend: type[BaseCache] = LocMemCache) -> BaseCache:
    cache = CacheHandler({"x": {"BACKEND": backend, "LOCATION": f"steps-{backend.__name__}"}})["x"]
    cache.clear()
    return cache


def test_drive_and_adrive_run_the_same_logic() -> None:
    cache = make()
    cache.set_many({"a": 1, "b": 2})
    assert drive(cache, hits_and_misses(["a", "b", "c"])) == (2, 1)
    assert asyncio.run(adrive(cache, hits_and_misses(["a", "z"]))) == (1, 1)


def test_adrive_calls_the_async_twins() -> None:
    calls: list[str] = []

    class Watching(LocMemCache):
        async def aget_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
            calls.append("aget_many")
            return await super().aget_many(keys, version)

    cache = make(Watching)
    assert asyncio.run(adrive(cache, hits_and_misses(["a"]))) == (0, 1)
    assert calls == ["aget_many"]
    assert drive(cache, hits_and_misses(["a"])) == (0, 1)
    assert calls == ["aget_many"]  # the sync driver used the sync method


@pytest.mark.parametrize("use_async", [False, True])
def test_a_failing_step_is_thrown_into_the_logic(use_async: bool) -> None:
    cache = make(Broken)
    result = asyncio.run(adrive(cache, fail_open("k"))) if use_async else drive(cache, fail_open("k"))
    assert result == "fallback"
    assert LocMemCache.get(cache, "k") == "fallback"  # the set step after the failure ran


@pytest.mark.parametrize("use_async", [False, True])
def test_an_unhandled_failure_reaches_the_caller(use_async: bool) -> None:
    cache = make(Broken)
    with pytest.raises(ConnectionError, match="server gone"):
        if use_async:
            asyncio.run(adrive(cache, hits_and_misses_via_get("k")))
        else:
            drive(cache, hits_and_misses_via_get("k"))


def hits_and_misses_via_get(key: str) -> Logic[bool]:
    value = yield "get", (key,)
    return value is not None


def test_logic_with_no_steps_returns_at_once() -> None:
    def nothing() -> Logic[int]:
        return 7
        yield  # pragma: no cover - makes this a generator

    assert drive(make(), nothing()) == 7
    assert asyncio.run(adrive(make(), nothing())) == 7
