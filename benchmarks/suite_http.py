"""The page cache: requests/s through WSGI and ASGI stacks, called in-process, for a 1 KB page.

Systems, each serving the same 1 KB HTML page to the same GET request:

- ``view uncached``: the plain WSGI/ASGI view that builds the page, no cache;
- ``cachemere locmem (hit)`` / ``cachemere redis (hit)``: that view behind
  ``cachemere.http``'s ``CacheMiddleware`` on a LocMemCache / a RedisCache
  (a redis-server of its own, started with the test helpers, stopped at the end);
- ``django (hit)``: a minimal Django app (``settings.configure``, one URL, the
  ``UpdateCacheMiddleware``/``FetchFromCacheMiddleware`` pair, LocMemCache)
  through Django's own WSGI and ASGI handlers;
- ``django uncached``: the same Django app's view with no middleware at all;
- ``bare app``: an app that sends the stored status, headers and bytes as they
  are, with no lookup: the limit any page cache can reach.

WSGI: each request is a fresh copy of one prepared environ, a start_response,
the iterable consumed and closed.  ASGI: each timed call runs ``BATCH``
requests in one ``run_until_complete`` of a loop kept for the whole suite.
The cached systems are warmed (page stored) before timing, and the suite
checks that none of their views ran during the timed rounds (every timed
request was a hit) and that every system sent the same body.
Needs the ``[redis]`` and ``[bench]`` extras.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness import Case, fmt, measure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SYSTEMS = ["view uncached", "cachemere locmem (hit)", "cachemere redis (hit)", "django (hit)",
           "django uncached", "bare app"]  # fmt: skip
#: Requests per timed ASGI call, all in one run of the event loop.
BATCH = 100

#: 1 KB of HTML, exactly.
_SHELL = "<!doctype html><html><head><title>Report</title></head><body><h1>Report</h1><p>{}</p></body></html>"
PAGE = _SHELL.format("x" * (1024 - len(_SHELL) + 2)).encode()
assert len(PAGE) == 1024
CONTENT_TYPE = "text/html; charset=utf-8"

#: A browser-like GET as a server would hand it over.
REQUEST_HEADERS = [
    ("host", "bench.example"),
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("accept-language", "en-US,en;q=0.5"),
    ("accept-encoding", "gzip, deflate, br"),
    ("connection", "keep-alive"),
    ("upgrade-insecure-requests", "1"),
]
ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/page", "QUERY_STRING": "",
    "SERVER_NAME": "bench.example", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
    "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": False,
    "wsgi.multiprocess": False, "wsgi.run_once": False,
    **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in REQUEST_HEADERS},
}  # fmt: skip
SCOPE: dict[str, Any] = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
    "scheme": "http", "path": "/apage", "raw_path": b"/apage", "root_path": "", "query_string": b"",
    "headers": [(name.encode(), value.encode()) for name, value in REQUEST_HEADERS],
    "client": ("127.0.0.1", 50000), "server": ("bench.example", 80),
}  # fmt: skip

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
ASGIApp = Callable[[dict[str, Any], Any, Any], Any]

#: Views run by each system (name -> count), to prove the timed requests were hits.
view_calls: dict[str, int] = {}


def _render(title: str) -> bytes:
    # What a trivial view does: format a template and encode it.
    return _SHELL.format(title * ((1024 - len(_SHELL) + 2) // len(title))).encode()


# -- the views and the bare app --------------------------------------------------------------


def wsgi_view(counter: str) -> WSGIApp:
    def view(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        view_calls[counter] = view_calls.get(counter, 0) + 1
        body = _render("x")
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    return view


def asgi_view(counter: str) -> ASGIApp:
    async def view(scope: dict[str, Any], receive: Any, send: Any) -> None:
        view_calls[counter] = view_calls.get(counter, 0) + 1
        body = _render("x")
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return view


def _stored_headers() -> list[tuple[str, str]]:
    # What a cache hit sends: the view's headers plus those the middleware adds.
    return [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(PAGE))),
            ("Expires", "Sun, 06 Nov 2033 08:49:37 GMT"), ("Cache-Control", "max-age=600"),
            ("Age", "0")]  # fmt: skip


def bare_wsgi() -> WSGIApp:
    headers = _stored_headers()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", headers)
        return [PAGE]

    return app


def bare_asgi() -> ASGIApp:
    headers = [(name.encode(), value.encode()) for name, value in _stored_headers()]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PAGE, "more_body": False})

    return app


# -- Django ----------------------------------------------------------------------------------


def _django_sync_view(request: Any) -> Any:
    from django.http import HttpResponse

    counter = "django " + request.path
    view_calls[counter] = view_calls.get(counter, 0) + 1
    return HttpResponse(_render("x"), content_type=CONTENT_TYPE)


async def _django_async_view(request: Any) -> Any:
    return _django_sync_view(request)


def _django_urlpatterns() -> list[Any]:
    from django.urls import path

    # The uncached handler gets URLs of its own so that the cached views' counts stay apart.
    return [path("page", _django_sync_view), path("apage", _django_async_view),
            path("plain", _django_sync_view), path("aplain", _django_async_view)]  # fmt: skip


#: ROOT_URLCONF is this module; filled in by _django_apps before Django resolves a URL.
urlpatterns: list[Any] = []


def _django_apps() -> dict[str, Any]:
    """(cached, uncached) handlers for WSGI and ASGI, one Django settings for all."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",
        ALLOWED_HOSTS=["bench.example"],
        ROOT_URLCONF=__name__,
        USE_I18N=False,  # as cachemere's defaults: no language or time zone in the key
        USE_TZ=False,
        MIDDLEWARE=[
            "django.middleware.cache.UpdateCacheMiddleware",
            "django.middleware.cache.FetchFromCacheMiddleware",
        ],
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "bench-http"}
        },
        CACHE_MIDDLEWARE_SECONDS=600,
    )
    django.setup()
    urlpatterns[:] = _django_urlpatterns()
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler

    wsgi, asgi = WSGIHandler(), ASGIHandler()
    # The same app with no middleware: load_middleware reads settings.MIDDLEWARE.
    with _middleware([]):
        plain_wsgi, plain_asgi = WSGIHandler(), ASGIHandler()
    return {"wsgi": wsgi, "asgi": asgi, "plain wsgi": plain_wsgi, "plain asgi": plain_asgi}


class _middleware:
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def __enter__(self) -> None:
        from django.conf import settings

        self.saved = settings.MIDDLEWARE
        settings.MIDDLEWARE = self.names

    def __exit__(self, *exc: object) -> None:
        from django.conf import settings

        settings.MIDDLEWARE = self.saved


# -- calling the apps in-process -------------------------------------------------------------


class Sent:
    """The last response each caller saw: status and body, checked after the run."""

    def __init__(self) -> None:
        self.status: object = None
        self.headers: list[Any] = []
        self.body = b""


def wsgi_caller(app: WSGIApp, environ: dict[str, Any], sent: Sent) -> Callable[[], object]:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        sent.status, sent.headers = status, headers
        return _discard

    def one() -> object:
        result = app(dict(environ), start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        sent.body = body
        return body

    return one


def _discard(data: bytes) -> None:
    pass


def asgi_caller(
    loop: asyncio.AbstractEventLoop, app: ASGIApp, scope: dict[str, Any], sent: Sent
) -> Callable[[], object]:
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def one() -> None:
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return request
            # Django listens for a disconnect while the view runs: the client never leaves.
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        parts: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent.status, sent.headers = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await app(dict(scope), receive, send)
        sent.body = b"".join(parts)

    async def batch() -> None:
        for _ in range(BATCH):
            await one()

    return lambda: loop.run_until_complete(batch())


# -- the suite -------------------------------------------------------------------------------


def _cases(loop: asyncio.AbstractEventLoop, redis_url: str) -> tuple[list[Case], dict[str, Sent]]:
    from cachemere import CacheHandler
    from cachemere.http import asgi as casgi
    from cachemere.http import wsgi as cwsgi

    handler = CacheHandler({
        "locmem": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": "bench-http"},
        "redis": {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": redis_url},
    })  # fmt: skip
    locmem, redis = handler["locmem"], handler["redis"]
    django_apps = _django_apps()
    # Django's uncached app gets URLs of its own (its view counts stay apart from the cached ones).
    paths = {"django uncached": ({**ENVIRON, "PATH_INFO": "/plain"},
                                 {**SCOPE, "path": "/aplain", "raw_path": b"/aplain"})}  # fmt: skip

    wsgi_apps: dict[str, WSGIApp] = {
        "view uncached": wsgi_view("wsgi view"),
        "cachemere locmem (hit)": cwsgi.CacheMiddleware(wsgi_view("wsgi locmem"), cache=locmem),
        "cachemere redis (hit)": cwsgi.CacheMiddleware(wsgi_view("wsgi redis"), cache=redis),
        "django (hit)": django_apps["wsgi"],
        "django uncached": django_apps["plain wsgi"],
        "bare app": bare_wsgi(),
    }
    asgi_apps: dict[str, ASGIApp] = {
        "view uncached": asgi_view("asgi view"),
        "cachemere locmem (hit)": casgi.CacheMiddleware(asgi_view("asgi locmem"), cache=locmem),
        "cachemere redis (hit)": casgi.CacheMiddleware(asgi_view("asgi redis"), cache=redis),
        "django (hit)": django_apps["asgi"],
        "django uncached": django_apps["plain asgi"],
        "bare app": bare_asgi(),
    }
    sent: dict[str, Sent] = {}
    wsgi_calls: dict[str, Callable[[], object] | None] = {}
    asgi_calls: dict[str, Callable[[], object] | None] = {}
    for system in SYSTEMS:
        sent["WSGI " + system] = Sent()
        # ASGI requests go to /a...: Django's async view, and pages of their own in shared caches.
        environ, scope = paths.get(system, (ENVIRON, SCOPE))
        wsgi_calls[system] = wsgi_caller(wsgi_apps[system], environ, sent["WSGI " + system])
        sent["ASGI " + system] = Sent()
        asgi_calls[system] = asgi_caller(loop, asgi_apps[system], scope, sent["ASGI " + system])
    return [
        Case("WSGI", wsgi_calls, number=1000),
        Case("ASGI", asgi_calls, number=10),  # x BATCH requests each
    ], sent


def _check(cases: list[Case], sent: dict[str, Sent], views_before: dict[str, int]) -> None:
    for name, response in sent.items():
        status = response.status
        assert status in (200, "200 OK"), f"{name}: status {status!r}"
        assert response.body == PAGE, f"{name}: sent a different page"
    for name, response in sent.items():
        if "(hit)" in name:
            header_names = {(n.decode() if isinstance(n, bytes) else n).lower() for n, _ in response.headers}
            assert "expires" in header_names, f"{name}: no Expires, not a cached response"
    # Every timed request of a cached system was a hit: its view did not run again.
    cached = ("wsgi locmem", "wsgi redis", "asgi locmem", "asgi redis", "django /page", "django /apage")
    for counter in cached:
        assert view_calls[counter] == views_before[counter] == 1, f"{counter}: view ran while timed"
    # ... and the uncached systems' views ran for every request.
    for counter in ("wsgi view", "asgi view", "django /plain", "django /aplain"):
        assert view_calls[counter] > views_before[counter], f"{counter}: view did not run"


def _table(cases: list[Case]) -> str:
    median = {case.name: {s: statistics.median(case.results[s]) for s in SYSTEMS} for case in cases}
    head = ["stack", *SYSTEMS, "locmem / django", "redis / django", "locmem / bare", "django hit µs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in cases:
        m = median[case.name]
        cells = [f"{fmt(m[s])} ({fmt(max(case.results[s]))})" for s in SYSTEMS]
        ratios = [
            f"{m['cachemere locmem (hit)'] / m['django (hit)']:.2f}x",
            f"{m['cachemere redis (hit)'] / m['django (hit)']:.2f}x",
            f"{m['cachemere locmem (hit)'] / m['bare app']:.2f}",
            f"{1e6 / m['django (hit)']:.0f}",
        ]
        lines.append(f"| {case.name} | {' | '.join(cells + ratios)} |")
    return "\n".join(lines)


def main(rounds: int = 7) -> str:
    from servers.redis import RedisServer

    directory = Path(tempfile.mkdtemp(prefix="bench-http-"))
    server = RedisServer(directory).start()
    loop = asyncio.new_event_loop()
    try:
        cases, sent = _cases(loop, server.url)
        # Store every cached system's page (the first request is the miss), then time hits only.
        for case in cases:
            for fn in case.calls.values():
                if fn is not None:
                    fn()
        views_before = dict(view_calls)
        measure(cases, rounds)
        asgi = next(case for case in cases if case.name == "ASGI")
        # One timed ASGI call is BATCH requests.
        asgi.results = {system: [ops * BATCH for ops in runs] for system, runs in asgi.results.items()}
        _check(cases, sent, views_before)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    notes = (
        f"Requests/s, median (best) of {rounds} interleaved rounds, a 1 KB HTML page, GET with "
        f"{len(REQUEST_HEADERS)} browser-like headers, apps called in-process (WSGI: one environ copy "
        f"per request; ASGI: {BATCH} requests per event-loop run). Hits only for the cached systems "
        "(checked: their views did not run while timed). Django: 5.x handlers, cache middleware pair, "
        "LocMemCache, USE_I18N/USE_TZ off as cachemere's defaults; its ASGI view is async. bare app: "
        "the stored bytes sent with no lookup. Ratios are of medians."
    )
    return notes + "\n\n" + _table(cases)


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
