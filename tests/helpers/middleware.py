"""One app behind the page-cache middleware, called in-process over WSGI or ASGI (shared by tests/http)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

from cachemere.backends.locmem import LocMemCache
from cachemere.http import asgi, wsgi
from cachemere.http.messages import Headers

View = Callable[[dict[str, Any]], tuple[int, list[tuple[str, str]], Any]]


class Broken(LocMemCache):
    """A backend whose every call fails, as a server that went away."""

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("backend down")

    def set(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("backend down")


class Body:
    """A WSGI body iterable that records close() and may raise mid-way."""

    def __init__(self, chunks: list[bytes], fail_after: int | None = None) -> None:
        self.chunks, self.fail_after, self.closed = chunks, fail_after, False

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if self.fail_after is not None and index >= self.fail_after:
                raise RuntimeError("body failed")
            yield chunk

    def close(self) -> None:
        self.closed = True


class Site:
    """One app behind the middleware, called in-process over WSGI or ASGI."""

    def __init__(self, kind: str, cache: Any, view: View, split: bool = False, **options: Any) -> None:
        self.kind, self.view, self.calls, self.seen = kind, view, 0, []
        module = wsgi if kind == "wsgi" else asgi
        inner = self._wsgi_app if kind == "wsgi" else self._asgi_app
        if split:
            fetch = module.FetchFromCacheMiddleware(inner, cache=cache)
            self.app: Any = module.UpdateCacheMiddleware(fetch, cache=cache, **options)
        else:
            self.app = module.CacheMiddleware(inner, cache=cache, **options)

    def _info(self, request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
        self.calls += 1
        self.seen.append(request)
        return self.view(request)

    def _wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        status, response_headers, body = self._info(
            {"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"], "headers": headers}
        )
        start_response(f"{status} Whatever", response_headers)
        return body if not isinstance(body, bytes) else [body]

    async def _asgi_app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, response_headers, body = self._info(
            {"method": scope["method"], "path": scope["path"], "headers": headers}
        )
        await send(
            {"type": "http.response.start", "status": status,
             "headers": [(k.encode(), v.encode()) for k, v in response_headers]}
        )  # fmt: skip
        if isinstance(body, Body):
            try:
                chunks = list(body)
            finally:
                body.close()
            for index, chunk in enumerate(chunks):
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": index < len(chunks) - 1}
                )
            return
        await send(
            {"type": "http.response.body", "body": body if isinstance(body, bytes) else b"".join(body)}
        )

    def __call__(
        self, path: str = "/page", method: str = "GET", headers: dict[str, str] | None = None, query: str = ""
    ) -> tuple[int, Headers, bytes]:
        headers = {"Host": "testserver", **(headers or {})}
        if self.kind == "wsgi":
            environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}
            for name, value in headers.items():
                key = name.upper().replace("-", "_")
                environ[key if key in ("CONTENT_LENGTH", "CONTENT_TYPE") else "HTTP_" + key] = value
            setup_testing_defaults(environ)
            started: list[Any] = []
            result = self.app(environ, lambda status, h, exc=None: started.append((status, h)))
            try:
                body = b"".join(result)
            finally:
                getattr(result, "close", lambda: None)()
            return int(started[0][0].split()[0]), Headers(started[0][1]), body
        scope = {
            "type": "http", "method": method, "path": path, "scheme": "http", "root_path": "",
            "query_string": query.encode(), "server": ("testserver", 80),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }  # fmt: skip
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        asyncio.run(self.app(scope, receive, send))
        start = messages[0]
        body = b"".join(m.get("body", b"") for m in messages[1:])
        return start["status"], Headers((k.decode(), v.decode()) for k, v in start["headers"]), body


def page(body: bytes = b"hello", headers: list[tuple[str, str]] | None = None, status: int = 200) -> View:
    counter = itertools.count()

    def view(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
        content = body + b" %d" % next(counter)
        return (
            status,
            [("Content-Type", "text/plain"), ("Content-Length", str(len(content))), *(headers or [])],
            content,
        )

    return view


def asgi_get(app: Any, path: str = "/page") -> list[dict[str, Any]]:
    """One GET for ``path`` through an ASGI app; every message the server received, in order."""
    scope = {
        "type": "http", "method": "GET", "path": path, "scheme": "http", "root_path": "",
        "query_string": b"", "server": ("testserver", 80), "headers": [(b"host", b"testserver")],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent
