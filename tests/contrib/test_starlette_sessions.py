"""A cached Starlette endpoint reading a session is its visitor's; one changing it is kept for no one."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cachemere import CacheHandler
from cachemere.contrib.starlette import cache_page


def _app(location: str) -> tuple[Starlette, list[int]]:
    cache = CacheHandler({"p": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": location}})[
        "p"
    ]
    renders = [0]

    @cache_page(60, cache=cache)
    async def me(request: Any) -> PlainTextResponse:
        renders[0] += 1
        user = request.query_params.get("login")
        if user:
            request.session["user"] = user
        return PlainTextResponse(f"hello {request.session.get('user', 'anon')}")

    middleware = [Middleware(SessionMiddleware, secret_key="test-secret")]
    return Starlette(routes=[Route("/me", me)], middleware=middleware), renders


def test_a_logged_in_page_is_never_served_to_another_visitor() -> None:
    app, renders = _app("starlette-sessions-a")
    alice, bob = TestClient(app), TestClient(app)
    login = alice.get("/me", params={"login": "alice"})
    assert login.text == "hello alice" and "private" in login.headers["cache-control"]
    mine = [alice.get("/me").text for _ in range(2)]
    assert mine == ["hello alice", "hello alice"] and renders[0] == 2  # her page, cached for her cookie
    assert bob.get("/me").text == "hello anon"  # not alice's page


def test_an_anonymous_page_is_shared_by_visitors_without_a_session() -> None:
    app, renders = _app("starlette-sessions-b")
    pages = [TestClient(app).get("/me").text for _ in range(3)]
    assert pages == ["hello anon"] * 3 and renders[0] == 1
