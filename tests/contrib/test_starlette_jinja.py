"""The ``{% cache %}`` tag in Starlette's Jinja2Templates, sync and async environments."""

from __future__ import annotations

import pytest
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.testclient import TestClient

from cachemere import make_template_fragment_key
from cachemere.contrib.starlette import render_template, use_cache_tag
from cachemere.templates.jinja import CacheExtension
from helpers.starlette_apps import TEMPLATES, Renders, local_caches, starlette_app


@pytest.mark.parametrize("is_async", [False, True], ids=["sync-env", "async-env"])
def test_the_fragment_is_cached_and_the_page_around_it_is_not(is_async: bool) -> None:
    renders = Renders()
    caches = local_caches()
    env = Environment(loader=DictLoader(TEMPLATES), autoescape=True, enable_async=is_async)
    templates = use_cache_tag(Jinja2Templates(env=env), caches=caches)

    async def page(request: Request) -> Response:
        user = request.query_params["user"]
        return await render_template(templates, request, "fragment.html", {"user": user, "renders": renders})

    with TestClient(Starlette(routes=[Route("/", page)])) as client:
        assert client.get("/?user=ann").text == "<p>page 1</p><aside>ann 1</aside>"
        assert client.get("/?user=ann").text == "<p>page 2</p><aside>ann 1</aside>"
        assert client.get("/?user=bob").text == "<p>page 3</p><aside>bob 2</aside>"
    # Stored in the given handler's cache, under Django's fragment key.
    assert caches["default"].get(make_template_fragment_key("sidebar", ["ann"])) == "<aside>ann 1</aside>"


def test_render_template_is_template_response_for_a_sync_environment() -> None:
    env = Environment(loader=DictLoader({"t.html": "{{ greeting }} {{ extra }}"}))
    templates = use_cache_tag(
        Jinja2Templates(env=env, context_processors=[lambda request: {"extra": request.url.path}])
    )

    async def page(request: Request) -> Response:
        return await render_template(templates, request, "t.html", {"greeting": "hi"}, status_code=203)

    with TestClient(Starlette(routes=[Route("/here", page)])) as client:
        answer = client.get("/here")
    assert (answer.status_code, answer.text) == (203, "hi /here")
    assert answer.template.name == "t.html"  # type: ignore[attr-defined]


def test_an_async_environment_renders_with_context_processors_and_url_for() -> None:
    env = Environment(
        loader=DictLoader({"t.html": "{{ extra }} {{ url_for('page') }} {{ request.method }}"}),
        enable_async=True,
    )
    templates = use_cache_tag(
        Jinja2Templates(env=env, context_processors=[lambda request: {"extra": "processed"}])
    )

    async def page(request: Request) -> Response:
        return await render_template(templates, request, "t.html", headers={"X-Rendered": "async"})

    with TestClient(Starlette(routes=[Route("/p", page, name="page")])) as client:
        answer = client.get("/p")
    assert answer.text == "processed http://testserver/p GET"
    assert answer.headers["x-rendered"] == "async" and answer.headers["content-type"].startswith("text/html")


def test_use_cache_tag_adds_the_extension_once() -> None:
    templates = Jinja2Templates(env=Environment(loader=DictLoader({})))
    use_cache_tag(use_cache_tag(templates))
    found = [ext for ext in templates.env.extensions.values() if isinstance(ext, CacheExtension)]
    assert len(found) == 1
    assert templates.env.fragment_caches is None  # type: ignore[attr-defined]  # the global caches


def test_the_served_apps_fragment_page() -> None:
    """The page the uvicorn tests serve: an async environment behind a plain endpoint."""
    counts = Renders()
    with TestClient(starlette_app(local_caches(), counts)) as client:
        assert client.get("/fragment?user=ann").text == "<p>page 1</p><aside>ann 1</aside>"
        assert client.get("/fragment?user=ann").text == "<p>page 2</p><aside>ann 1</aside>"
    assert counts["sidebar"] == 1
