"""A streamed ASGI answer passes through the page cache whole: one ``http.response.start``, every chunk.

On a cacheable miss the ASGI layer holds the start message until it knows
whether the body can be stored; a streamed body (``more_body``) is passed on as
it comes.  Were the held start sent again with a later chunk (as it once was),
uvicorn would abort the response ("Expected ASGI message 'http.response.body',
but got 'http.response.start'") and the client would get a truncated body:
under load, every streamed page through uvicorn broke.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.http.asgi import CacheMiddleware
from helpers.page_load import LoadProcess, PageServer


async def streaming(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"one ", "more_body": True})
    await send({"type": "http.response.body", "body": b"two ", "more_body": True})
    await send({"type": "http.response.body", "body": b"three", "more_body": False})


def test_in_process_a_stream_gets_one_start_and_every_chunk() -> None:
    settings = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": "page-asgi-stream"}
    cache = CacheHandler({"default": settings})["default"]
    app = CacheMiddleware(streaming, cache=cache)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "GET", "path": "/", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"example.com")], "scheme": "http",
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start"] + ["http.response.body"] * 3
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"one two three"


@pytest.fixture(scope="module")
def uvicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    directory = tmp_path_factory.mktemp("page-asgi-stream")
    with PageServer("uvicorn", "file", str(directory / "pages"), directory=directory) as site:
        yield site


def test_through_uvicorn_streamed_pages_under_load_arrive_whole_and_unstored(uvicorn: PageServer) -> None:
    result = LoadProcess(uvicorn.url, 3.0, stream=20).result()
    assert result["kinds"].get("stream", 0) > 0
    assert result["errors"] == result["leaks"] == result["corrupt"] == 0, result["samples"]
    assert result["kind_hits"].get("stream", 0) == 0
