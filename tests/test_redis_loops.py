"""Per-loop async state leaves with its loop, however the loop ends (asyncio.run, or loop.close() alone)."""

from __future__ import annotations

import asyncio
import gc
import warnings
import weakref
from typing import Any

from cachemere import CacheHandler
from cachemere.backends.redis import RedisCache, pools
from servers.common import wait_until
from servers.redis import Servers, redis_servers

__all__ = ["redis_servers"]

LOOPS = 50


def make(servers: Servers, name: str) -> RedisCache:
    entry = {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": servers.leader.url,
             "OPTIONS": {"client_name": name}}  # fmt: skip
    cache = CacheHandler({"default": entry})["default"]
    assert isinstance(cache, RedisCache)
    return cache


def connected(servers: Servers, name: str) -> int:
    return sum(1 for client in servers.leader.admin.client_list() if client["name"] == name)


def collect() -> None:
    with warnings.catch_warnings():
        # asyncio's own "unclosed transport" for a loop closed without cleanup.
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_loops_closed_without_shutting_down_asyncgens_are_released(redis_servers: Servers) -> None:
    cache = make(redis_servers, "sloppy-loops")
    cache.set("k", "v")
    baseline = connected(redis_servers, "sloppy-loops")  # the sync pool's connection
    refs: list[weakref.ref[Any]] = []
    for _ in range(LOOPS):  # what async_to_sync-style code does on every call
        loop = asyncio.new_event_loop()
        assert loop.run_until_complete(cache.aget("k")) == "v"
        loop.close()
        refs.append(weakref.ref(loop))
        del loop
    collect()
    assert len(pools._loop_states) <= 1  # the last loop waits for the next one to register
    assert sum(ref() is not None for ref in refs) <= 1
    wait_until(
        lambda: connected(redis_servers, "sloppy-loops") <= baseline + 1, "closed loops' connections to go"
    )

    assert asyncio.run(cache.aget("k")) == "v"  # a well-behaved loop releases itself and the last one
    collect()
    assert pools._loop_states == {}
    assert [ref for ref in refs if ref() is not None] == []
    wait_until(lambda: connected(redis_servers, "sloppy-loops") == baseline, "every async connection to go")


def test_a_loop_that_keeps_running_keeps_its_pool(redis_servers: Servers) -> None:
    cache = make(redis_servers, "one-loop")
    received = redis_servers.leader.connections_received()

    async def calls() -> None:
        for _ in range(20):
            await cache.aset("k", 1)
            await asyncio.sleep(0)

    asyncio.run(calls())
    assert redis_servers.leader.connections_received() - received == 1
