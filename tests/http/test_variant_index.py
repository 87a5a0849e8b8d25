"""Invalidation reaches every stored variant, and ASGI messages other than body pass through in order."""

from __future__ import annotations

import itertools
from typing import Any

from cachemere import CacheHandler
from cachemere.http import asgi, core
from helpers.middleware import Site, asgi_get

_names = itertools.count()


def locmem() -> Any:
    location = f"variants-{next(_names)}"
    return CacheHandler({"pages": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": location,
                                   "OPTIONS": {"MAX_ENTRIES": 10_000}}})["pages"]  # fmt: skip


def per_user_page(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
    version = per_user_page.version  # type: ignore[attr-defined]
    body = f"page for {request['headers'].get('x-user')} v{version}".encode()
    headers = [("Cache-Control", "max-age=600"), ("Vary", "X-User"), ("Content-Length", str(len(body)))]
    return 200, headers, body


FRESH = [(b"cache-control", b"max-age=60")]


def test_no_variant_outlives_an_invalidation_when_there_are_more_than_the_index_holds() -> None:
    per_user_page.version = 1  # type: ignore[attr-defined]
    site = Site("wsgi", locmem(), per_user_page)
    users = [f"u{i}" for i in range(core.MAX_VARIANTS + 5)]
    for user in users:
        site(headers={"X-User": user})
    stored_calls = site.calls
    for user in users[: core.MAX_VARIANTS]:
        assert site(headers={"X-User": user})[2].endswith(b"v1")
    assert site.calls == stored_calls  # the first MAX_VARIANTS variants were stored and served
    site(headers={"X-User": users[-1]})
    assert site.calls == stored_calls + 1  # variants past the index's size are served, not stored
    per_user_page.version = 2  # type: ignore[attr-defined]
    site(method="POST")  # invalidates the URL
    site(headers={"X-User": "someone new"})  # a store after the invalidation re-learns the header list
    for user in users:
        assert site(headers={"X-User": user})[2].endswith(b"v2"), user


def test_a_message_after_a_held_start_sends_the_start_first() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": FRESH})
        await send({"type": "http.response.pathsend", "path": "/tmp/file"})

    middleware = asgi.CacheMiddleware(app, cache=locmem())
    for _ in range(2):  # nothing is stored: the app answers both times
        assert [m["type"] for m in asgi_get(middleware, "/f")] == [
            "http.response.start",
            "http.response.pathsend",
        ]


def test_a_response_with_trailers_is_not_stored() -> None:
    calls = itertools.count()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        next(calls)
        await send({"type": "http.response.start", "status": 200, "trailers": True, "headers": FRESH})
        await send({"type": "http.response.body", "body": b"x"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"1")]})

    middleware = asgi.CacheMiddleware(app, cache=locmem())
    asgi_get(middleware, "/t")
    sent = asgi_get(middleware, "/t")
    assert next(calls) == 2  # both requests reached the app
    assert sent[0]["trailers"] is True and sent[-1]["type"] == "http.response.trailers"
