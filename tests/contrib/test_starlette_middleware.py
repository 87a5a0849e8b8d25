"""The per-site page cache in Starlette's and FastAPI's middleware stacks, and failing open there.

A broken backend is a real one that cannot work: redis on a port where nothing listens.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.testclient import TestClient

import cachemere
from cachemere import CacheHandler
from cachemere.backends.base import BaseCache
from cachemere.contrib.starlette import (
    CacheMiddleware,
    FetchFromCacheMiddleware,
    UpdateCacheMiddleware,
    cache_page,
    use_cache_tag,
)
from helpers.starlette_apps import Renders, local_caches
from servers.common import free_port


def _starlette(renders: Renders, middleware: list[Middleware] | None = None) -> Starlette:
    async def page(request: Request) -> Response:
        return PlainTextResponse(f"page {renders.bump('page')}")

    return Starlette(routes=[Route("/page", page)], middleware=middleware)


def _fastapi(renders: Renders) -> FastAPI:
    app = FastAPI()

    @app.get("/page")
    def page(size: int = Depends(lambda size=1: size)) -> dict[str, int]:
        return {"size": size, "renders": renders.bump("page")}

    return app


def _stacks(cache: BaseCache) -> dict[str, Callable[[Renders], Any]]:
    def add_middleware(renders: Renders) -> Starlette:
        app = _starlette(renders)
        app.add_middleware(CacheMiddleware, cache=cache)
        return app

    def middleware_list(renders: Renders) -> Starlette:
        return _starlette(renders, [Middleware(CacheMiddleware, cache=cache, cache_timeout=30)])

    def split(renders: Renders) -> Starlette:
        # Update outermost, Fetch innermost: Starlette's list runs the first entry outermost.
        return _starlette(
            renders,
            [
                Middleware(UpdateCacheMiddleware, cache=cache),
                Middleware(FetchFromCacheMiddleware, cache=cache),
            ],
        )

    def fastapi(renders: Renders) -> FastAPI:
        app = _fastapi(renders)
        app.add_middleware(CacheMiddleware, cache=cache)
        return app

    return {
        "add_middleware": add_middleware,
        "Middleware": middleware_list,
        "split": split,
        "fastapi": fastapi,
    }


@pytest.mark.parametrize("stack", ["add_middleware", "Middleware", "split", "fastapi"])
def test_the_middleware_serves_repeats_from_the_cache(stack: str) -> None:
    renders = Renders()
    app = _stacks(local_caches()["default"])[stack](renders)
    with TestClient(app) as client:
        first, second = client.get("/page"), client.get("/page")
        assert first.content == second.content and second.headers["age"] == "0"
        assert first.headers["cache-control"] == ("max-age=30" if stack == "Middleware" else "max-age=600")
        assert client.post("/page").status_code == 405  # not a cached method: goes to the app
    assert renders["page"] == 1


def test_settings_come_from_the_global_settings_unless_given(fresh_settings: None) -> None:
    cachemere.configure(
        CACHES={
            "default": {"BACKEND": "cachemere.backends.dummy.DummyCache"},
            "pages": {
                "BACKEND": "cachemere.backends.locmem.LocMemCache",
                "LOCATION": f"starlette-pages-{uuid.uuid4().hex}",
            },
        },
        CACHE_MIDDLEWARE_ALIAS="pages",
        CACHE_MIDDLEWARE_SECONDS=45,
    )
    from_settings, given = Renders(), Renders()
    app = _starlette(from_settings)
    app.add_middleware(CacheMiddleware)
    other = _starlette(given)
    other.add_middleware(CacheMiddleware, cache_alias="default", cache_timeout=5)
    with TestClient(app) as client, TestClient(other) as other_client:
        assert client.get("/page").headers["cache-control"] == "max-age=45"
        client.get("/page")
        assert other_client.get("/page").headers["cache-control"] == "max-age=5"
        other_client.get("/page")
    assert from_settings["page"] == 1  # stored in "pages"
    assert given["page"] == 2  # the dummy cache stores nothing


@pytest.mark.parametrize("split", [False, True], ids=["CacheMiddleware", "Update+Fetch"])
def test_a_template_response_is_cached_under_the_test_client_too(split: bool) -> None:
    """TestClient's debug message (the template and context) goes around the cache, which still stores."""
    renders = Renders()
    caches = local_caches()
    env = Environment(loader=DictLoader({"t.html": "<p>{{ renders.bump('t') }}</p>"}), autoescape=True)
    templates = use_cache_tag(Jinja2Templates(env=env), caches=caches)

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, "t.html", {"renders": renders})

    cache = caches["default"]
    stack = (
        [Middleware(UpdateCacheMiddleware, cache=cache), Middleware(FetchFromCacheMiddleware, cache=cache)]
        if split
        else [Middleware(CacheMiddleware, cache=cache)]
    )
    with TestClient(Starlette(routes=[Route("/", page)], middleware=stack)) as client:
        first = client.get("/")
        assert first.template.name == "t.html"  # type: ignore[attr-defined]
        second = client.get("/")
        assert second.text == first.text == "<p>1</p>" and second.headers["age"] == "0"
    assert renders["t"] == 1


def _broken_caches() -> CacheHandler:
    return CacheHandler(
        {
            "default": {
                "BACKEND": "cachemere.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{free_port()}",
            }
        }
    )


@pytest.mark.parametrize("stack", ["add_middleware", "split", "fastapi"])
def test_a_broken_backend_is_logged_and_the_page_served_uncached(
    stack: str, caplog: pytest.LogCaptureFixture
) -> None:
    renders = Renders()
    app = _stacks(_broken_caches()["default"])[stack](renders)
    with caplog.at_level(logging.WARNING, logger="cachemere.http"), TestClient(app) as client:
        for _ in range(2):
            answer = client.get("/page")
            assert answer.status_code == 200
    assert renders["page"] == 2
    assert any("page cache lookup failed" in record.getMessage() for record in caplog.records)


def test_a_broken_backend_under_the_decorators_is_no_500(caplog: pytest.LogCaptureFixture) -> None:
    renders = Renders()
    cache = _broken_caches()["default"]

    @cache_page(60, cache=cache)
    async def page(request: Request) -> Response:
        return PlainTextResponse(f"page {renders.bump('starlette')}")

    api = FastAPI()

    @api.get("/items/{n}")
    @cache_page(60, cache=cache)
    def item(n: int) -> dict[str, int]:
        return {"n": n, "renders": renders.bump("fastapi")}

    with (
        caplog.at_level(logging.DEBUG, logger="cachemere.http"),
        TestClient(Starlette(routes=[Route("/", page)])) as starlette_client,
        TestClient(api) as fastapi_client,
    ):
        assert [starlette_client.get("/").text for _ in range(2)] == ["page 1", "page 2"]
        assert [fastapi_client.get("/items/3").json() for _ in range(2)] == [
            {"n": 3, "renders": 1},
            {"n": 3, "renders": 2},
        ]
    failures = [record for record in caplog.records if "page cache lookup failed" in record.getMessage()]
    assert len(failures) == 4  # every failure is logged, one traceback per interval (core._log_failure)
    assert [record.levelno for record in failures] == [logging.WARNING] + [logging.DEBUG] * 3
    assert failures[0].exc_info is not None
