"""A body that does not match its Content-Length is an incomplete message: never stored, never served.

A render that stops half-way (an upstream cut off, an error swallowed inside
the body's iterator) gives a body shorter than its Content-Length.  The client
that got it sees a broken page once; were it stored (as it once was), every
client would get it from the cache for the page's lifetime.  RFC 9111 §3.4: a
cache MUST NOT use an incomplete response to answer requests (RFC 9112 §8: a
message whose body is shorter than its Content-Length is incomplete).
``/short/<n>`` pages are such renders, every time.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.http.asgi import CacheMiddleware as ASGICacheMiddleware
from cachemere.http.wsgi import CacheMiddleware as WSGICacheMiddleware
from helpers.page_load import PageServer, raw_exchange


@pytest.fixture(scope="module", params=["gunicorn", "uvicorn"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    directory = tmp_path_factory.mktemp(f"page-incomplete-{request.param}")
    with PageServer(str(request.param), "file", str(directory / "pages"), directory=directory) as server:
        yield server


def test_through_a_server_an_incomplete_render_is_never_served_from_the_cache(site: PageServer) -> None:
    ask = b"GET /short/3 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % site.port
    first = raw_exchange(site.port, ask)
    assert first.status == 200 and len(first.body) < int(first.header("Content-Length") or 0)
    again = raw_exchange(site.port, ask)
    assert again.header("Age") is None, "the incomplete page was stored and served from the cache"


@pytest.mark.parametrize("body", [b"12345", b"1234567890abc", b"1234567890"], ids=["short", "long", "whole"])
@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_in_process_a_body_unlike_its_content_length_is_not_stored(kind: str, body: bytes) -> None:
    # A store of this test's own (locmem stores are shared per LOCATION).
    settings = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": f"incomplete-{kind}-{body!r}"}
    cache = CacheHandler({"default": settings})["default"]
    renders: list[int] = []
    headers = [("Content-Length", "10"), ("Cache-Control", "max-age=60")]
    if kind == "wsgi":

        def view(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            renders.append(1)
            start_response("200 OK", headers)
            return [body]

        app = WSGICacheMiddleware(view, cache=cache)
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": "/page", "HTTP_HOST": "example.com",
            "SERVER_NAME": "example.com", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
        }  # fmt: skip

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            return lambda data: None

        for _ in range(2):
            b"".join(app({**environ, "wsgi.input": io.BytesIO()}, start_response))
    else:

        async def aview(scope: Any, receive: Any, send: Any) -> None:
            renders.append(1)
            encoded = [(name.lower().encode(), value.encode()) for name, value in headers]
            await send({"type": "http.response.start", "status": 200, "headers": encoded})
            await send({"type": "http.response.body", "body": body})

        asgi_app = ASGICacheMiddleware(aview, cache=cache)
        scope = {
            "type": "http", "method": "GET", "path": "/page", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"example.com")], "scheme": "http",
        }  # fmt: skip

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            pass

        async def twice() -> None:
            for _ in range(2):
                await asgi_app(scope, receive, send)

        asyncio.run(twice())
    if len(body) == 10:
        assert len(renders) == 1, "a whole page was not stored"
    else:
        assert len(renders) == 2, "the page whose body is not its Content-Length was served from the cache"
