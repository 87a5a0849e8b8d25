"""cachemere.contrib.starlette's decorators on Starlette endpoints, through Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from cachemere.contrib.starlette import (
    cache_control,
    cache_page,
    never_cache,
    vary_on_cookie,
    vary_on_headers,
)
from helpers.starlette_apps import Renders, local_caches, starlette_app


@pytest.fixture
def renders() -> Renders:
    return Renders()


@pytest.fixture
def client(renders: Renders) -> Iterator[TestClient]:
    with TestClient(starlette_app(local_caches(), renders)) as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "name"), [("/page", "page"), ("/sync", "sync"), ("/class", "class")])
def test_async_sync_and_class_endpoints_are_served_from_the_cache(
    client: TestClient, renders: Renders, path: str, name: str
) -> None:
    first = client.get(path)
    second = client.get(path)
    assert first.status_code == second.status_code == 200
    assert first.text == second.text == f"{name} 1"
    assert renders[name] == 1
    assert "age" not in first.headers and second.headers["age"] == "0"
    assert second.headers["cache-control"] == "max-age=60"
    assert client.get(f"{path}?other=1").text == f"{name} 2"  # another URL, another page


def test_each_query_is_its_own_page_and_head_is_answered_from_get(
    client: TestClient, renders: Renders
) -> None:
    assert client.get("/page?q=a").text == "page 1 a"
    assert client.get("/page?q=b").text == "page 2 b"
    assert client.get("/page?q=a").text == "page 1 a"
    head = client.head("/page?q=a")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "8"
    assert renders["page"] == 2


def test_never_cache_cache_control_and_vary(client: TestClient, renders: Renders) -> None:
    counts = client.get("/renders")
    assert counts.headers["cache-control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert "expires" in counts.headers
    shared = client.get("/shared")
    assert shared.headers["vary"] == "Cookie"
    assert sorted(shared.headers["cache-control"].split(", ")) == ["max-age=30", "public"]
    client.get("/shared")
    assert renders["shared"] == 2  # patching decorators alone store nothing


def test_background_tasks_run_when_the_endpoint_runs_only() -> None:
    renders = Renders()

    @cache_page(60, cache=local_caches()["default"])
    async def endpoint(request: Request) -> Response:
        task = BackgroundTask(renders.bump, "task")
        return PlainTextResponse(f"page {renders.bump('page')}", background=task)

    with TestClient(Starlette(routes=[Route("/", endpoint)])) as client:
        assert client.get("/").text == client.get("/").text == "page 1"
    assert renders["task"] == 1


def test_a_streamed_response_goes_out_whole_and_is_never_stored() -> None:
    renders = Renders()

    @cache_page(60, cache=local_caches()["default"])
    async def endpoint(request: Request) -> Response:
        number = renders.bump("stream")

        async def chunks() -> Any:
            for part in ("one ", "two ", str(number)):
                yield part

        return StreamingResponse(chunks(), media_type="text/plain")

    with TestClient(Starlette(routes=[Route("/", endpoint)])) as client:
        assert client.get("/").text == "one two 1"
        assert client.get("/").text == "one two 2"


def test_an_http_exception_is_handled_by_starlette_and_not_stored() -> None:
    from starlette.exceptions import HTTPException

    renders = Renders()

    @cache_page(60, cache=local_caches()["default"])
    async def endpoint(request: Request) -> Response:
        renders.bump("missing")
        raise HTTPException(404, "no such thing")

    with TestClient(Starlette(routes=[Route("/", endpoint)])) as client:
        assert client.get("/").status_code == client.get("/").status_code == 404
    assert renders["missing"] == 2


def test_stacked_decorators_on_a_class_and_a_function() -> None:
    renders = Renders()
    cache = local_caches()["default"]

    @cache_page(60, cache=cache)
    @vary_on_headers("X-Team")
    class Team(HTTPEndpoint):
        def get(self, request: Request) -> Response:
            return PlainTextResponse(f"team {request.headers.get('x-team')} {renders.bump('team')}")

    @vary_on_cookie
    @cache_page(60, cache=cache)
    @cache_control(private=True)
    async def mine(request: Request) -> Response:
        return PlainTextResponse(f"mine {renders.bump('mine')}")

    assert issubclass(Team, HTTPEndpoint) and Team.__name__ == "Team"
    with TestClient(Starlette(routes=[Route("/team", Team), Route("/mine", mine)])) as client:
        red = client.get("/team", headers={"X-Team": "red"})
        assert red.headers["vary"] == "X-Team"
        assert client.get("/team", headers={"X-Team": "red"}).text == red.text == "team red 1"
        assert client.get("/team", headers={"X-Team": "blue"}).text == "team blue 2"
        assert client.post("/team").status_code == 405  # the class still answers its methods
        mine_page = client.get("/mine")
        assert mine_page.headers["cache-control"] == "private" and mine_page.headers["vary"] == "Cookie"
        assert client.get("/mine").text == "mine 2"  # private: never stored
    assert renders["team"] == 2


def test_an_asgi_app_object_is_cached_as_the_plain_asgi_decorator_does() -> None:
    renders = Renders()

    class App:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await PlainTextResponse(f"app {renders.bump('app')}")(scope, receive, send)

    cached = cache_page(60, cache=local_caches()["default"])(App())
    with TestClient(Starlette(routes=[Mount("/app", app=cached)])) as client:
        assert client.get("/app/x").text == client.get("/app/x").text == "app 1"


def test_what_cannot_be_decorated_says_so() -> None:
    def stream(request: Request) -> Iterator[bytes]:
        yield b"x"

    with pytest.raises(TypeError, match="generator endpoint streams"):
        cache_page(60)(stream)
    with pytest.raises(TypeError, match="never_cache decorates a Starlette endpoint"):
        never_cache(42)  # type: ignore[type-var]

    @cache_page(60, cache=local_caches()["default"])
    async def not_a_response(request: Request) -> Any:
        return {"a": 1}

    client = TestClient(Starlette(routes=[Route("/", not_a_response)]))
    with client, pytest.raises(TypeError, match="returned dict, not a Response"):
        client.get("/")
    with pytest.raises(TypeError, match="the framework calls it"):
        import asyncio

        asyncio.run(not_a_response(1, 2))


def test_a_json_endpoint_keeps_its_headers_through_the_cache() -> None:
    @cache_page(60, cache=local_caches()["default"])
    async def endpoint(request: Request) -> Response:
        response = JSONResponse({"ok": True}, headers={"X-Kind": "json"})
        response.set_cookie("seen", "1")  # a cookie: served, never stored
        return response

    with TestClient(Starlette(routes=[Route("/", endpoint)])) as client:
        first = client.get("/")
        assert first.json() == {"ok": True}
        assert first.headers["x-kind"] == "json" and first.headers["content-type"] == "application/json"
        assert "seen=1" in first.headers["set-cookie"]
        assert "age" not in client.get("/").headers
