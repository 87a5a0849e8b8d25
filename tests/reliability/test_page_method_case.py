"""A request method in another case (``get``) is another method: its answer never lands under GET's key.

RFC 9110 §9.1 makes methods case-sensitive.  uvicorn passes ``get`` on; an app
routing on (method, path) answers it with its storable 404.  Were the method
upper-cased for the cache (as it once was), that 404 would be stored as GET's
page and every later GET would get it: a cache-poisoned denial of service.
(gunicorn refuses lower-case methods, so WSGI is shown in-process.)
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cachemere import CacheHandler
from helpers.page_apps import make_asgi, make_wsgi, parse_body
from helpers.page_load import PageServer, raw_exchange


@pytest.fixture(scope="module")
def uvicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    directory = tmp_path_factory.mktemp("page-method-case")
    with PageServer("uvicorn", "file", str(directory / "pages"), directory=directory) as site:
        yield site


def request(method: bytes, path: bytes, port: int) -> bytes:
    return b"%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (method, path, port)


@pytest.mark.parametrize(("odd", "normal"), [(b"get", b"GET"), (b"hEaD", b"HEAD")])
def test_through_uvicorn_an_odd_case_method_never_poisons_the_page(
    odd: bytes, normal: bytes, uvicorn: PageServer
) -> None:
    path = b"/strict/%d" % len(odd + normal)
    assert raw_exchange(uvicorn.port, request(odd, path, uvicorn.port)).status == 404
    answer = raw_exchange(uvicorn.port, request(normal, path, uvicorn.port))
    assert answer.status == 200, (answer.status, answer.body[:200])


def _wsgi_call(app: Any, method: str, path: str) -> tuple[int, bytes]:
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": io.StringIO(),
    }  # fmt: skip
    started: list[str] = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: started.append(status)))
    return int(started[-1].split()[0]), body


async def _asgi_call(app: Any, method: str, path: str) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": method, "path": path, "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")], "scheme": "http", "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    await app(scope, receive, send)
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_in_process_get_in_lower_case_never_poisons_the_page(kind: str, tmp_path: Path) -> None:
    settings = {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    cache = CacheHandler({"default": settings}, SECRET_KEY="method-case")["default"]
    if kind == "wsgi":
        wsgi_app = make_wsgi(cache)
        odd, normal = _wsgi_call(wsgi_app, "get", "/strict/1"), _wsgi_call(wsgi_app, "GET", "/strict/1")
    else:
        asgi_app = make_asgi(cache)

        async def both() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
            return await _asgi_call(asgi_app, "get", "/strict/1"), await _asgi_call(
                asgi_app, "GET", "/strict/1"
            )

        odd, normal = asyncio.run(both())
    assert odd[0] == 404
    assert normal[0] == 200 and parse_body(normal[1])["page"] == "strict/1", (normal[0], normal[1][:200])
