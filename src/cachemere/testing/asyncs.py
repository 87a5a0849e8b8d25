"""Conformance: every async twin behaves as its sync method."""

# The tests assert that methods typed "-> None" really answer None.
# mypy: disable-error-code="func-returns-value"

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
            assert await cache.aget("forever") == "v"
            assert await cache.aclose() is None
            assert await cache.aget("k") == "made"
            await cache.aset("after", "aclose")
            assert await cache.aget_many(["forever", "after"]) == {"forever": "v", "after": "aclose"}

        run(scenario)

    def test_async_key_versions(self, cache: BaseCache) -> None:
        async def scenario() -> None:
            await cache.aset("answer", 42, version=2)
            assert await cache.aget("answer") is None
            assert await cache.aget("answer", version=2) == 42
            assert await cache.aget_many(["answer"], version=2) == {"answer": 42}

        run(scenario)

    def test_async_expiry(self, cache: BaseCache) -> None:
        t = self.short_timeout

        async def stored() -> None:
            await cache.aset("set", "value", t)
            assert await cache.aadd("add", "value", t) is True
            assert await cache.aset_many({"many": "value"}, t) == []
            await cache.aset("touched", "value", t)
            assert await cache.atouch("touched", None) is True
            assert await cache.aget_or_set("got", "value", t) == "value"

        async def after() -> None:
            assert await cache.aget_many(["set", "add", "many", "got"]) == {}
            assert await cache.aget("touched") == "value"
            assert await cache.ahas_key("set") is False
            assert await cache.atouch("set") is False
            assert await cache.aadd("add", "new") is True
            assert await cache.aget("add") == "new"

        asyncio.run(stored())
        self.sleep_past(t)
        asyncio.run(after())

    def test_async_errors_inside_composites(self, cache: BaseCache) -> None:
        class Refused(Exception):
            pass

        def refuse() -> Any:
            raise Refused("no value")

        async def scenario() -> None:
            with pytest.raises(ValueError, match="not found"):
                await cache.aincr("missing")
            with pytest.raises(ValueError, match="not found"):
                await cache.adecr("missing", 3)
            with pytest.raises(ValueError, match="not found"):
                await cache.adecr_version("missing", version=2)
            with pytest.raises(Refused):
                await cache.aget_or_set("computed", refuse)
            assert await cache.ahas_key("computed") is False
            await cache.aset("null", None)
            with pytest.raises(TypeError):
                await cache.aincr("null")
            assert await cache.aget("null", "default") is None
            assert await cache.aget_or_set("computed", lambda: "made") == "made"

        run(scenario)
        assert cache.get("missing", "absent") == "absent"  # a failed incr creates nothing
