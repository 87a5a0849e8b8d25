"""The page-cache middleware on a real redis, over WSGI and ASGI: pages, an outage, a restart, the loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cachemere import CacheHandler
from helpers.http import Site, View, counting_page
from servers.common import wait_until
from servers.redis import RedisServer, Servers, redis_servers

__all__ = ["redis_servers"]


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(redis_servers: Servers) -> Iterator[RedisServer]:
    redis_servers.leader.admin.flushall()
    yield redis_servers.leader
    redis_servers.leader.admin.flushall()


def redis_cache(server: RedisServer, **options: Any) -> Any:
    settings = {
        "BACKEND": "cachemere.backends.redis.RedisCache",
        "LOCATION": server.url,
        # An outage must fail fast, not hang the request.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2, **options},
    }
    return CacheHandler({"pages": settings}, SECRET_KEY="test-secret")["pages"]


@pytest.fixture
def sites() -> Iterator[list[Site]]:
    made: list[Site] = []
    yield made
    for site in made:
        site.close()


def make(kind: str, cache: Any, view: View, sites: list[Site], **options: Any) -> Site:
    site = Site(kind, cache, view, **options)
    sites.append(site)
    return site


def page_keys(server: RedisServer) -> list[bytes]:
    return sorted(k for k in server.admin.keys("*") if b"cache_page" in k)


# -- the page cache's behaviour, on redis ----------------------------------------------------------


@pytest.mark.parametrize("split", [False, True])
def test_a_hit_is_served_from_redis(kind: str, server: RedisServer, sites: list[Site], split: bool) -> None:
    site = make(kind, redis_cache(server), counting_page(), sites, split=split, cache_timeout=30)
    first = site()
    assert page_keys(server), "nothing was stored in redis"
    second = site()
    assert site.calls == 1 and first[2] == second[2] == b"hello 0"
    assert second[1]["Age"].isdigit() and "Age" not in first[1] and "max-age=30" in first[1]["Cache-Control"]
    # A second process's middleware (a new cache instance, same server) sees the same page.
    other = make(kind, redis_cache(server), counting_page(b"other"), sites)
    assert other()[2] == b"hello 0" and other.calls == 0


def test_vary_keys_each_variant_in_redis(kind: str, server: RedisServer, sites: list[Site]) -> None:
    site = make(kind, redis_cache(server), counting_page(headers=[("Vary", "Accept-Language")]), sites)
    assert site(headers={"Accept-Language": "fr"})[2] == b"hello 0"
    assert site(headers={"Accept-Language": "de"})[2] == b"hello 1"
    assert site(headers={"Accept-Language": "fr"})[2] == b"hello 0"
    assert site()[2] == b"hello 2"
    assert site(headers={"Accept-Language": ""})[2] == b"hello 3"
    assert site(headers={"Accept-Language": "de"})[2] == b"hello 1"
    assert len(page_keys(server)) == 4


def test_head_is_answered_from_the_get_entry_in_redis(
    kind: str, server: RedisServer, sites: list[Site]
) -> None:
    site = make(kind, redis_cache(server), counting_page(), sites)
    site(method="HEAD")
    assert site()[2] == b"hello 1"  # a GET is never answered from the HEAD entry
    status, headers, body = site(method="HEAD")
    assert (status, body, site.calls) == (200, b"", 2)
    assert headers["Content-Length"] == str(len(b"hello 1"))


def test_an_unsafe_method_invalidates_every_variant_in_redis(
    kind: str, server: RedisServer, sites: list[Site]
) -> None:
    site = make(kind, redis_cache(server), counting_page(headers=[("Vary", "Accept-Encoding")]), sites)
    site(headers={"Accept-Encoding": "gzip"})
    site()
    site(method="HEAD", headers={"Accept-Encoding": "br"})
    assert page_keys(server)
    site(method="POST")
    assert page_keys(server) == []
    calls = site.calls
    assert site()[2] == b"hello %d" % calls
    assert site(headers={"Accept-Encoding": "gzip"})[2] == b"hello %d" % (calls + 1)


# -- a redis of its own, stopped and restarted ------------------------------------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def test_an_outage_is_served_uncached_and_a_restart_brings_caching_back(
    kind: str, own_server: RedisServer, sites: list[Site], caplog: pytest.LogCaptureFixture
) -> None:
    site = make(kind, redis_cache(own_server), counting_page(), sites)
    site()
    assert site()[2] == b"hello 0" and site.calls == 1  # connections are pooled and in use

    own_server.stop()
    with caplog.at_level(logging.WARNING, logger="cachemere.http"):
        down = [site(), site(), site(method="POST")]
    assert [status for status, _, _ in down] == [200, 200, 200]
    assert [body for _, _, body in down[:2]] == [b"hello 1", b"hello 2"]  # the app answered each
    assert site.calls == 4
    assert any(r.name == "cachemere.http" and r.levelno >= logging.WARNING for r in caplog.records)

    own_server.start()  # same port, same directory, an empty server
    stored: list[bytes] = []

    def caching_again() -> bool:
        first, second = site(), site()
        stored.append(second[2])
        return first[0] == second[0] == 200 and first[2] == second[2]

    # No process restart: the pool's stale connections are replaced as they are handed out.
    wait_until(caching_again, "the page cache to work again after the restart", timeout=10)
    calls = site.calls
    assert site()[2] == stored[-1] and site.calls == calls
    assert page_keys(own_server)


# -- ASGI: the event loop keeps running during redis round trips --------------------------------


def test_asgi_requests_never_block_the_event_loop(server: RedisServer, sites: list[Site]) -> None:
    site = make("asgi", redis_cache(server, socket_timeout=30), counting_page(), sites)
    site()  # warm: the loop's pool has a connection

    async def scenario() -> list[str]:
        events: list[str] = []
        paused = threading.Event()

        async def ticker() -> None:
            # Runs only if the loop is free while the request waits on the paused server;
            # it then ends the pause itself, so a blocked loop would wait out the full pause.
            while not paused.is_set():
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            events.append("ticked during the request")
            server.client().execute_command("CLIENT", "UNPAUSE")

        # Every client's commands wait until UNPAUSE (or 20 s); the middleware's GET is one of them.
        server.admin.execute_command("CLIENT", "PAUSE", "20000", "ALL")
        paused.set()
        task = asyncio.create_task(ticker())
        answer = await site.arequest()
        events.append(f"answered {answer[0]} {answer[2]!r}")
        await task
        return events

    try:
        events = site.run(scenario())
    finally:
        server.client().execute_command("CLIENT", "UNPAUSE")
    assert events == ["ticked during the request", "answered 200 b'hello 0'"]
