"""The ASGI page cache never blocks the event loop: proved against a real redis behind a gated proxy.

Every byte the app's process sends to redis goes through a proxy that holds it
until a ticker coroutine in the app's event loop has ticked since the byte
arrived.  A cache call that waits for redis without giving the loop back (a sync
call in the loop) therefore waits forever: the proxy waits for the loop, the loop
for redis, until the client's socket timeout gives up, the lookup fails open and
nothing is stored.  So a page served twice with one render proves every redis
round trip of the lookup and the store let other coroutines run.  The control
(a backend whose async methods call its sync ones) shows the proof catches a
blocking backend.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cachemere import CacheHandler
from cachemere.backends.base import DEFAULT_TIMEOUT
from cachemere.backends.redis import RedisCache
from cachemere.contrib.starlette import CacheMiddleware, cache_page
from helpers.starlette_apps import Renders, page_size
from servers.common import free_port
from servers.redis import RedisServer


class LoopBlockingRedis(RedisCache):
    """The control: async methods that run the sync ones in the event loop (what must never happen)."""

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self.get(key, default, version)

    async def aset(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self.set(key, value, timeout, version)

    async def aget_many(self, keys: Any, version: Any = None) -> Any:
        return self.get_many(keys, version)


class GatedProxy:
    """A TCP proxy to redis that forwards each client chunk only after ``ticks`` has moved on."""

    def __init__(self, target: int, ticks: list[int]) -> None:
        self.target, self.ticks = target, ticks
        self.held = 0  # chunks that had to wait for a tick
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = [self._listener]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, gated: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if gated:
                    arrived = self.ticks[0]
                    self.held += 1
                    # Waits for the loop, however long: only the client's own timeout ends a block.
                    while self.ticks[0] == arrived and not self._closed.is_set():
                        time.sleep(0.0005)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed.set()
        for sock in self._sockets:
            sock.close()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(Path(tmp_path_factory.mktemp("loop-redis"))).start()
    yield server
    server.stop()


def _apps(cache: RedisCache, renders: Renders) -> dict[str, Any]:
    async def page(request: Request) -> Response:
        return PlainTextResponse(f"page {renders.bump('page')}")

    site = Starlette(routes=[Route("/page", page)])
    site.add_middleware(CacheMiddleware, cache=cache)
    api = FastAPI()

    @api.get("/page")
    @cache_page(60, cache=cache)
    async def item(size: int = Depends(page_size)) -> dict[str, int]:
        return {"size": size, "renders": renders.bump("page")}

    return {"starlette-middleware": site, "fastapi-decorator": api}


async def _serve_twice(app: Any, ticks: list[int]) -> list[bytes]:
    async def tick() -> None:
        while True:
            ticks[0] += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return [(await client.get("/page")).content for _ in range(2)]
    finally:
        ticker.cancel()


def _cache(backend: type[RedisCache], proxy: GatedProxy, name: str) -> RedisCache:
    handler = CacheHandler(
        {
            "default": {
                "BACKEND": f"{backend.__module__}.{backend.__qualname__}",
                "LOCATION": f"redis://127.0.0.1:{proxy.port}",
                "KEY_PREFIX": name,
                "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
            }
        }
    )
    cache = handler["default"]
    assert isinstance(cache, RedisCache)
    return cache


@pytest.mark.parametrize("stack", ["starlette-middleware", "fastapi-decorator"])
def test_every_redis_round_trip_lets_the_loop_run(redis_server: RedisServer, stack: str) -> None:
    ticks = [0]
    proxy = GatedProxy(redis_server.port, ticks)
    renders = Renders()
    try:
        cache = _cache(RedisCache, proxy, stack)
        first, second = asyncio.run(_serve_twice(_apps(cache, renders)[stack], ticks))
    finally:
        proxy.close()
    assert first == second
    assert renders["page"] == 1  # looked up, stored, then served from redis
    assert proxy.held >= 3  # the lookups and the store all went through the gate


def test_the_proof_catches_a_backend_that_blocks_the_loop(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    ticks = [0]
    proxy = GatedProxy(redis_server.port, ticks)
    renders = Renders()
    try:
        cache = _cache(LoopBlockingRedis, proxy, "control")
        with caplog.at_level(logging.WARNING, logger="cachemere.http"):
            first, second = asyncio.run(_serve_twice(_apps(cache, renders)["starlette-middleware"], ticks))
    finally:
        proxy.close()
    assert first != second and renders["page"] == 2  # each lookup timed out: served uncached
    assert any("page cache lookup failed" in record.getMessage() for record in caplog.records)
