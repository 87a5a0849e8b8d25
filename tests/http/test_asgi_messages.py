"""The ASGI adapter sends lower-case header names, and passes Starlette's debug message through."""

from __future__ import annotations

import itertools
from typing import Any

from cachemere import CacheHandler
from cachemere.http import asgi
from helpers.middleware import asgi_get

_names = itertools.count()


def _cache() -> Any:
    location = f"asgi-messages-{next(_names)}"
    return CacheHandler({"p": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": location}})[
        "p"
    ]


async def view(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.debug", "info": {"template": "page.html"}})
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2"), (b"Content-Type", b"text/plain")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"ok"})


def test_header_names_are_lower_case_on_a_miss_and_on_a_hit() -> None:
    app = asgi.CacheMiddleware(view, cache=_cache(), cache_timeout=60)
    for answer in (asgi_get(app), asgi_get(app)):
        start = next(m for m in answer if m["type"] == "http.response.start")
        names = [name for name, _ in start["headers"]]
        assert names == [name.lower() for name in names]
        assert b"cache-control" in names and b"expires" in names
    assert any(name == b"age" for name, _ in start["headers"])  # the second answer was a hit


def test_the_debug_message_passes_through_and_the_page_is_still_stored() -> None:
    calls = [0]

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        calls[0] += 1
        await view(scope, receive, send)

    app = asgi.CacheMiddleware(counted, cache=_cache(), cache_timeout=60)
    first = asgi_get(app)
    assert [m["type"] for m in first] == ["http.response.debug", "http.response.start", "http.response.body"]
    second = asgi_get(app)
    assert calls[0] == 1 and second[-1]["body"] == b"ok"  # stored despite the debug message


def test_a_streamed_answer_on_a_miss_sends_one_start() -> None:
    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        for chunk in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": chunk, "more_body": chunk != b"three"})

    app = asgi.CacheMiddleware(streaming, cache=_cache(), cache_timeout=60)
    for _ in range(2):  # never stored: the second answer streams again
        sent = asgi_get(app)
        assert [m["type"] for m in sent] == ["http.response.start"] + ["http.response.body"] * 3
        assert b"".join(m["body"] for m in sent[1:]) == b"one two three"
