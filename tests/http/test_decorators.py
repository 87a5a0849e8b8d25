"""cache_page, cache_control, never_cache, vary_on_headers and vary_on_cookie on WSGI and ASGI views."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from cachemere import CacheHandler
from cachemere.http.decorators import cache_control, cache_page, never_cache, vary_on_cookie, vary_on_headers
from cachemere.http.messages import Headers

_names = itertools.count()


def make_view(kind: str, headers: list[tuple[str, str]] | None = None) -> Any:
    """A view answering "<path> <n>", n counting its calls."""
    counter = itertools.count()
    extra = headers or []

    if kind == "wsgi":

        def wsgi_view(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            body = f"{environ['PATH_INFO']} {next(counter)}".encode()
            start_response(
                "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *extra]
            )
            return [body]

        return wsgi_view

    async def asgi_view(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = f"{scope['path']} {next(counter)}".encode()
        pairs = [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *extra]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.encode(), v.encode()) for k, v in pairs],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return asgi_view


def call(app: Any, path: str = "/v") -> tuple[Headers, bytes]:
    if not asyncio.iscoroutinefunction(app) and not asyncio.iscoroutinefunction(type(app).__call__):
        environ: dict[str, Any] = {"PATH_INFO": path, "HTTP_HOST": "testserver"}
        setup_testing_defaults(environ)
        started: list[Any] = []
        body = b"".join(app(environ, lambda status, headers, exc=None: started.append(headers)))
        return Headers(started[0]), body
    messages: list[Any] = []

    async def send(message: Any) -> None:
        messages.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": path, "scheme": "http", "query_string": b"",
             "headers": [(b"host", b"testserver")], "server": ("testserver", 80)}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    headers = Headers((k.decode(), v.decode()) for k, v in messages[0]["headers"])
    return headers, b"".join(m.get("body", b"") for m in messages[1:])


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def handler() -> CacheHandler:
    location = f"deco-{next(_names)}"
    return CacheHandler(
        {
            "default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": location},
            "other": {
                "BACKEND": "cachemere.backends.locmem.LocMemCache",
                "LOCATION": location + "o",
                "KEY_PREFIX": "site",
            },
        }
    )


def test_cache_page_timeout_beats_the_views_max_age(kind: str, handler: CacheHandler) -> None:
    app = cache_page(30, cache=handler["default"])(make_view(kind, [("Cache-Control", "max-age=600")]))
    headers, body = call(app)
    assert "max-age=30" in headers["Cache-Control"]
    assert call(app)[1] == body == b"/v 0"


def test_cache_page_names_an_alias_and_key_prefixes_isolate(kind: str, fresh_settings: None) -> None:
    import cachemere
    from cachemere.http.keys import cache_header_key
    from cachemere.http.messages import Request

    location = f"deco-{next(_names)}"
    cachemere.configure(
        CACHES={
            "default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": location},
            "other": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": location + "o",
                      "KEY_PREFIX": "site"},
        }
    )  # fmt: skip
    view = make_view(kind)
    first, second = (
        cache_page(30, cache="other", key_prefix="p1")(view),
        cache_page(30, cache="other", key_prefix="p2")(view),
    )
    assert call(first)[1] == b"/v 0"
    assert call(second)[1] == b"/v 1"  # another prefix: another page
    assert call(first)[1] == b"/v 0"
    request = Request("GET", "http", "testserver", "/v")
    assert cachemere.caches["other"].get(cache_header_key(request, "p1")) == []
    assert cachemere.caches["default"].get(cache_header_key(request, "p1")) is None


def test_two_urls_to_one_view_are_cached_separately_and_the_view_stays_uncached(
    kind: str, handler: CacheHandler
) -> None:
    view = make_view(kind)
    cached = cache_page(30, cache=handler["default"])
    routes = {"/a": cached(view), "/b": cached(view), "/raw": view}
    assert call(routes["/a"], "/a")[1] == b"/a 0"
    assert call(routes["/b"], "/b")[1] == b"/b 1"
    assert call(routes["/a"], "/a")[1] == b"/a 0"
    assert call(routes["/raw"], "/raw")[1] == b"/raw 2"
    assert call(routes["/raw"], "/raw")[1] == b"/raw 3"


def test_cache_control_merges_directives(kind: str) -> None:
    app = cache_control(max_age=10, public=True)(make_view(kind, [("Cache-Control", "private, max-age=60")]))
    headers, _ = call(app)
    assert headers["Cache-Control"] == "max-age=10, public"


def test_never_cache_gives_djangos_exact_header(kind: str) -> None:
    headers, _ = call(never_cache(make_view(kind)))
    assert headers["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert "Expires" in headers


def test_vary_on_headers_and_cookie(kind: str) -> None:
    headers, _ = call(vary_on_headers("Accept-Language", "X-Thing")(make_view(kind, [("Vary", "Cookie")])))
    assert headers["Vary"] == "Cookie, Accept-Language, X-Thing"
    headers, _ = call(vary_on_cookie(make_view(kind)))
    assert headers["Vary"] == "Cookie"


def test_decorators_stack_under_cache_page(kind: str, handler: CacheHandler) -> None:
    app = cache_page(30, cache=handler["default"])(vary_on_cookie(make_view(kind)))
    headers, body = call(app)
    assert headers["Vary"] == "Cookie" and call(app)[1] == body
