"""One app behind the page-cache middleware, called in-process over WSGI or ASGI (no tests here).

The app's view gets a plain dict of what its router saw (method, path, query,
lower-cased headers, body, scheme, host) and answers ``(status, headers, body)``;
:class:`Site` runs it over either adapter, so a test parametrized over
``"wsgi"``/``"asgi"`` checks both.  The ASGI side keeps one event loop per site
(:meth:`Site.close` ends it), as a server does: async redis pools are per loop.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any
from wsgiref.util import setup_testing_defaults

from cachemere.http import asgi, wsgi
from cachemere.http.messages import Headers

__all__ = ["Answer", "Site", "View", "counting_page"]

View = Callable[[dict[str, Any]], tuple[int, list[tuple[str, str]], bytes]]
Answer = tuple[int, Headers, bytes]
#: Wraps the whole request (as a locale middleware would): given what the app will see, a context.
Around = Callable[[dict[str, str]], AbstractContextManager[None]]


def counting_page(body: bytes = b"hello", headers: list[tuple[str, str]] | None = None) -> View:
    """A view answering ``body`` plus a call counter, with a Content-Length."""
    counter = itertools.count()

    def view(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        content = body + b" %d" % next(counter)
        extra = headers or []
        return 200, [("Content-Type", "text/plain"), ("Content-Length", str(len(content))), *extra], content

    return view


class Site:
    """``view`` behind the middleware (``CacheMiddleware``, or Update and Fetch when ``split``).

    ``around`` (optional) is entered around the inner layers: outermost for one
    CacheMiddleware, between Update and Fetch when ``split`` (the documented
    place of a locale middleware); ``outside`` puts it around everything instead.
    """

    def __init__(
        self,
        kind: str,
        cache: Any,
        view: View,
        *,
        split: bool = False,
        around: Around | None = None,
        outside: bool = False,
        **options: Any,
    ) -> None:
        self.kind, self.view, self.calls, self.seen = kind, view, 0, []
        module = wsgi if kind == "wsgi" else asgi
        inner: Any = self._wsgi_app if kind == "wsgi" else self._asgi_app
        if split:
            fetch = module.FetchFromCacheMiddleware(inner, cache=cache)
            middle = fetch if around is None or outside else self._wrap(fetch, around)
            app: Any = module.UpdateCacheMiddleware(middle, cache=cache, **options)
        else:
            app = module.CacheMiddleware(inner, cache=cache, **options)
        self.app = self._wrap(app, around) if around is not None and (outside or not split) else app
        self._runner: asyncio.Runner | None = None

    def _wrap(self, app: Any, around: Around) -> Any:
        if self.kind == "wsgi":

            def wsgi_layer(environ: dict[str, Any], start_response: Any) -> Any:
                with around(_wsgi_headers(environ)):
                    result = app(environ, start_response)
                    # The body is produced inside the context too, as a real locale middleware's would be.
                    try:
                        return [b"".join(result)]
                    finally:
                        getattr(result, "close", lambda: None)()

            return wsgi_layer

        async def asgi_layer(scope: dict[str, Any], receive: Any, send: Any) -> None:
            with around({k.decode().lower(): v.decode() for k, v in scope["headers"]}):
                await app(scope, receive, send)

        return asgi_layer

    # -- the app ------------------------------------------------------------------------------

    def _answer(self, request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        self.calls += 1
        self.seen.append(request)
        return self.view(request)

    def _wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        status, headers, content = self._answer(
            {
                "method": environ["REQUEST_METHOD"],
                "path": environ.get("SCRIPT_NAME", "") + environ["PATH_INFO"],
                "query": environ.get("QUERY_STRING", ""), "headers": _wsgi_headers(environ), "body": body,
                "scheme": environ["wsgi.url_scheme"], "host": environ.get("HTTP_HOST", ""),
            }
        )  # fmt: skip
        start_response(f"{status} Whatever", headers)
        return [content]

    async def _asgi_app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, response_headers, content = self._answer(
            {
                "method": scope["method"], "path": scope["root_path"] + scope["path"],
                "query": scope["query_string"].decode(), "headers": headers, "body": body,
                "scheme": scope["scheme"], "host": headers.get("host", ""),
            }
        )  # fmt: skip
        await send(
            {"type": "http.response.start", "status": status,
             "headers": [(k.encode(), v.encode()) for k, v in response_headers]}
        )  # fmt: skip
        await send({"type": "http.response.body", "body": content})

    # -- requests -----------------------------------------------------------------------------

    def __call__(
        self,
        path: str = "/page",
        method: str = "GET",
        headers: dict[str, str] | None = None,
        query: str = "",
        body: bytes = b"",
    ) -> Answer:
        if self.kind == "wsgi":
            return self._wsgi_request(path, method, headers, query, body)
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(self.arequest(path, method, headers, query, body))

    def run(self, coroutine: Awaitable[Any]) -> Any:
        """Run ``coroutine`` on this site's event loop (ASGI sites only)."""
        if self._runner is None:
            self._runner = asyncio.Runner()

        async def wrapper() -> Any:
            return await coroutine

        return self._runner.run(wrapper())

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def _wsgi_request(
        self, path: str, method: str, headers: dict[str, str] | None, query: str, body: bytes
    ) -> Answer:
        import io

        headers = {"Host": "testserver", **(headers or {})}
        environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_LENGTH", "CONTENT_TYPE") else "HTTP_" + key] = value
        if body:
            environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
        setup_testing_defaults(environ)
        started: list[Any] = []
        result = self.app(environ, lambda status, h, exc=None: started.append((status, h)))
        try:
            content = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        return int(started[-1][0].split()[0]), Headers(started[-1][1]), content

    async def arequest(
        self,
        path: str = "/page",
        method: str = "GET",
        headers: dict[str, str] | None = None,
        query: str = "",
        body: bytes = b"",
    ) -> Answer:
        """One request through the ASGI stack, on the running loop."""
        headers = {"Host": "testserver", **(headers or {})}
        if body:
            headers["Content-Length"] = str(len(body))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "path": path, "raw_path": path.encode("utf-8", "surrogateescape"), "scheme": "http",
            "root_path": "", "query_string": query.encode(), "server": ("testserver", 80),
            "client": ("127.0.0.1", 5000),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }  # fmt: skip
        messages: list[dict[str, Any]] = []
        bodies = iter([{"type": "http.request", "body": body, "more_body": False}])

        async def receive() -> dict[str, Any]:
            return next(bodies, {"type": "http.disconnect"})

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await self.app(scope, receive, send)
        start = messages[0]
        content = b"".join(m.get("body", b"") for m in messages[1:])
        return start["status"], Headers((k.decode(), v.decode()) for k, v in start["headers"]), content


def _wsgi_headers(environ: dict[str, Any]) -> dict[str, str]:
    return {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}

