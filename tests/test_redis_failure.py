"""A redis server that goes away and comes back: clear errors by default, or misses and no-ops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cachemere import CacheHandler
from cachemere.backends.redis import RedisCache
from servers.redis import RedisServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, as the test stops and restarts it."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def make(server: RedisServer, **options: Any) -> RedisCache:
    settings = {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": server.url, "OPTIONS": options}
    cache = CacheHandler({"redis": settings})["redis"]
    assert isinstance(cache, RedisCache)
    return cache


def test_an_unreachable_server_is_a_clear_error_and_the_cache_recovers(server: RedisServer) -> None:
    cache = make(server)
    cache.set("key", "value")
    server.stop()
    with pytest.raises(redis.ConnectionError) as info:
        cache.get("key")
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "cannot reach redis" in notes and f"127.0.0.1:{server.port}" in notes
    assert "IGNORE_EXCEPTIONS" in notes
    with pytest.raises(redis.ConnectionError):
        cache.set("key", "value")
    with pytest.raises(redis.ConnectionError):
        asyncio.run(cache.aget("key"))
    server.start()  # same port, empty (no persistence)
    # The same instance, with connections from before the outage in its pool.
    assert cache.get("key") is None
    cache.set("key", "again")
    assert cache.get("key") == "again"
    assert asyncio.run(cache.aget("key")) == "again"


def test_a_restart_between_calls_is_invisible(server: RedisServer) -> None:
    cache = make(server)
    cache.set("before", 1)  # leaves an idle pooled connection
    server.stop()
    server.start()
    # The stale connection fails and is replaced within the same call.
    cache.set("after", 2)
    assert cache.get("after") == 2


def test_ignore_exceptions_turns_an_outage_into_misses_and_no_ops(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    cache = make(server, IGNORE_EXCEPTIONS=True)
    cache.set("key", "value")
    cache.set("n", 1)
    server.stop()
    with caplog.at_level(logging.ERROR, logger="cachemere.backends.redis"):
        assert cache.get("key") is None
        assert cache.get("key", "default") == "default"
        assert cache.set("key", "new") is None
        assert cache.add("key", "new") is False
        assert cache.touch("key") is False
        assert cache.delete("key") is False
        assert cache.has_key("key") is False
        assert "key" not in cache
        assert cache.get_many(["key", "n"]) == {}
        assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]  # reported as not stored
        assert cache.delete_many(["a", "b"]) is None
        assert cache.get_or_set("computed", lambda: 42) == 42
        with pytest.raises(ValueError, match="Key 'n' not found"):
            cache.incr("n")
        with pytest.raises(ValueError):
            cache.incr_version("n")
        assert cache.clear() is False

        async def scenario() -> None:
            assert await cache.aget("key", "default") == "default"
            assert await cache.aset("key", "new") is None
            assert await cache.aget_many(["key"]) == {}
            with pytest.raises(ValueError):
                await cache.aincr("n")

        asyncio.run(scenario())
    failures = [r for r in caplog.records if r.name == "cachemere.backends.redis"]
    assert len(failures) >= 15
    assert f"127.0.0.1:{server.port}" in failures[0].getMessage()
    server.start()
    cache.set("key", "back")
    assert cache.get("key") == "back"
    assert asyncio.run(cache.aget("key")) == "back"


def test_ignore_exceptions_still_raises_for_bad_data(server: RedisServer) -> None:
    cache = make(server, IGNORE_EXCEPTIONS=True)
    cache.set("text", "abc")
    with pytest.raises(TypeError):
        cache.incr("text")


def test_a_restart_within_one_event_loop_is_invisible(server: RedisServer) -> None:
    cache = make(server)

    def restart() -> None:
        server.stop()
        server.start()

    async def scenario() -> Any:
        await cache.aset("before", 1)  # leaves an idle pooled connection
        await asyncio.to_thread(restart)  # the loop runs on meanwhile, as in an app
        await cache.aset("after", 2)
        return await cache.aget("after")

    assert asyncio.run(scenario()) == 2
