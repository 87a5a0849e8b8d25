"""Conformance: every async twin behaves as its sync method."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ..backends.base import API_METHODS, BaseCache
from .fixtures import CacheFixture


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())  # type: ignore[arg-type]


class AsyncTests(CacheFixture):
    def test_every_method_has_an_async_twin(self, cache: BaseCache) -> None:
        for name in API_METHODS:
            assert asyncio.iscoroutinefunction(getattr(cache, "a" + name)), name

    def test_async_basic(self, cache: BaseCache) -> None:
        async def scenario() -> None:
            assert await cache.aset("key", "value") is None
            assert await cache.aget("key") == "value"
            assert await cache.aget("missing", "default") == "default"
            assert await cache.aadd("key", "other") is False
            assert await cache.aadd("new", {"a": [1]}) is True
            assert await cache.aget("new") == {"a": [1]}
            assert await cache.ahas_key("key") is True
            assert await cache.ahas_key("missing") is False
            assert await cache.atouch("key", 100) is True
            assert await cache.atouch("missing") is False
            assert await cache.adelete("key") is True
            assert await cache.adelete("key") is False
            assert cache.get("new") == {"a": [1]}  # the sync side sees the same store

        run(scenario)

    def test_async_many(self, cache: BaseCache) -> None:
        async def scenario() -> None:
            assert await cache.aset_many({"a": 1, "b": 2, "c": None}) == []
            assert await cache.aget_many(iter(["a", "b", "c", "d"])) == {"a": 1, "b": 2, "c": None}
            assert await cache.adelete_many(["a", "b"]) is None
            assert await cache.aget_many(["a", "b", "c"]) == {"c": None}
            await cache.aclear()
            assert await cache.aget_many(["c"]) == {}

        run(scenario)

    def test_async_incr_and_versions(self, cache: BaseCache) -> None:
        async def scenario() -> None:
            await cache.aset("n", 10)
            assert await cache.aincr("n") == 11
            assert await cache.aincr("n", 5) == 16
            assert await cache.adecr("n", 6) == 10
            with pytest.raises(ValueError):
                await cache.aincr("missing")
            with pytest.raises(ValueError):
                await cache.adecr("missing")
            assert await cache.aincr_version("n") == 2
            assert await cache.aget("n", version=2) == 10
            assert await cache.adecr_version("n", version=2) == 1
            assert await cache.aget("n") == 10
            with pytest.raises(ValueError):
                await cache.aincr_version("missing")

        run(scenario)

    def test_async_get_or_set_and_expiry(self, cache: BaseCache) -> None:
        async def scenario() -> None:
            assert await cache.aget_or_set("k", lambda: "made") == "made"
            assert await cache.aget_or_set("k", "other") == "made"
            assert await cache.aget_or_set("none", None) is None
            assert await cache.ahas_key("none") is True
            await cache.aset("zero", "v", 0)
            assert await cache.aget("zero") is None
            assert await cache.aadd("forever", "v", None) is True
            await cache.aclose()

        run(scenario)

    def test_async_key_versions(self, cache: BaseCache) -> None:
        async def scenario() -> None:
            await cache.aset("answer", 42, version=2)
            assert await cache.aget("answer") is None
            assert await cache.aget("answer", version=2) == 42
            assert await cache.aget_many(["answer"], version=2) == {"answer": 42}

        run(scenario)
