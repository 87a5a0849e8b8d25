"""Conformance: a context-dependent KEY_FUNCTION (the current tenant) isolates tenants.

A made key may depend on more than the caller's key, prefix and version, so
no backend may reuse a key made for one context in another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from ..backends.base import BaseCache
from .fixtures import CacheFixture, current_tenant

TENANT_KEY_FUNCTION = "cachemere.testing.fixtures.tenant_key_func"


@contextmanager
def tenant(name: str) -> Iterator[None]:
    """Run the block as tenant ``name``."""
    token = current_tenant.set(name)
    try:
        yield
    finally:
        current_tenant.reset(token)


class KeyFunctionTests(CacheFixture):
    def test_tenant_key_function_isolates_tenants(self, cache: BaseCache) -> None:
        tenants = self.make_cache(KEY_FUNCTION=TENANT_KEY_FUNCTION)
        with tenant("a"):
            assert tenants.make_key("k") == "a::1:k"
            tenants.set("k", "a's")
            assert tenants.get("k") == "a's"
            assert tenants.set_many({"m1": "a1", "m2": "a2"}) == []
            tenants.set("n", 10)
        with tenant("b"):
            assert tenants.make_key("k") == "b::1:k"
            assert tenants.get("k") is None
            assert tenants.get("k", "default") == "default"
            assert not tenants.has_key("k")
            assert "k" not in tenants
            assert tenants.get_many(["k", "m1", "m2"]) == {}
            assert tenants.delete("m2") is False
            assert tenants.touch("k") is False
            assert tenants.add("k", "b's") is True
            assert tenants.get("k") == "b's"
            assert tenants.set_many({"m1": "b1"}) == []
            assert tenants.get_many(["k", "m1", "m2"]) == {"k": "b's", "m1": "b1"}
            assert tenants.get_or_set("n", 100) == 100
            assert tenants.incr("n") == 101
        with tenant("a"):
            assert tenants.get("k") == "a's"
            assert tenants.get_many(["k", "m1", "m2"]) == {"k": "a's", "m1": "a1", "m2": "a2"}
            assert tenants.has_key("m2")
            assert tenants.get("n") == 10
            assert tenants.delete("k") is True
            tenants.delete_many(["m1"])
            assert tenants.get_many(["k", "m1", "m2"]) == {"m2": "a2"}
        with tenant("b"):
            assert tenants.get_many(["k", "m1", "m2", "n"]) == {"k": "b's", "m1": "b1", "n": 101}

    def test_tenant_key_function_isolates_tenants_async(self, cache: BaseCache) -> None:
        tenants = self.make_cache(KEY_FUNCTION=TENANT_KEY_FUNCTION)

        async def scenario() -> None:
            with tenant("a"):
                await tenants.aset("k", "a's")
                assert await tenants.aget("k") == "a's"
                assert await tenants.aset_many({"m1": "a1", "m2": "a2"}) == []
            with tenant("b"):
                assert await tenants.aget("k") is None
                assert await tenants.ahas_key("k") is False
                assert await tenants.aget_many(["k", "m1", "m2"]) == {}
                assert await tenants.adelete("m2") is False
                assert await tenants.aadd("k", "b's") is True
                assert await tenants.aget("k") == "b's"
                assert await tenants.aget_or_set("m1", "b1") == "b1"
            with tenant("a"):
                assert await tenants.aget_many(["k", "m1", "m2"]) == {"k": "a's", "m1": "a1", "m2": "a2"}
                assert await tenants.adelete("k") is True
                await tenants.adelete_many(["m1"])
                assert await tenants.ahas_key("m2") is True
            with tenant("b"):
                assert await tenants.aget_many(["k", "m1", "m2"]) == {"k": "b's", "m1": "b1"}

        asyncio.run(scenario())

    def test_concurrent_tasks_keep_their_own_tenant(self, cache: BaseCache) -> None:
        tenants = self.make_cache(KEY_FUNCTION=TENANT_KEY_FUNCTION)

        async def as_tenant(name: str) -> list[object]:
            # Each task runs in its own copy of the context.
            current_tenant.set(name)
            await tenants.aset("k", name)
            await asyncio.sleep(0)
            return [await tenants.aget("k"), await tenants.aget_many(["k"])]

        async def scenario() -> list[list[object]]:
            return list(await asyncio.gather(*(as_tenant(name) for name in ("a", "b", "c"))))

        assert asyncio.run(scenario()) == [[name, {"k": name}] for name in ("a", "b", "c")]
        with tenant("b"):
            assert tenants.get("k") == "b"
