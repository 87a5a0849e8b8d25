"""A small site for the page cache's reliability tests: the same pages over WSGI and ASGI (no tests here).

Every page says in its body whom it was rendered for and what request it
answered (method, host, path, query), and carries ``Content-Length``, a
``X-Body-Sha256`` checksum of the body and ``X-Rendered-For``, so a client can
tell a page meant for someone else, a truncated body and headers mixed with
another page's body.  Bodies have different sizes (a few hundred bytes to
tens of kilobytes), so they span several TCP segments.

The pages (``<n>`` is any number; it picks the body size):

==================  ================================================  ==========================
path                what it answers                                   the page cache must
==================  ================================================  ==========================
/shared/<n>         the same page for everyone, ``max-age=60``        store it, serve it to all
/cookie/<n>         the cookie's user, ``Vary: Cookie``               store one copy per cookie
/private/<n>        the cookie's user, ``private, max-age=60``        never store it
/setcookie/<n>      the cookie's user, a ``Set-Cookie`` for them      never store it
/auth/<n>           the Authorization's user, ``max-age=60``          key it by Authorization
/public-auth/<n>    the same for all authorized users, ``public``     store it, share it
/strict/<n>         as /shared; a method but GET, HEAD and POST       never store its answer
                    (``get`` too) is a 404 with max-age=60            under GET's key
/stream/<n>         the cookie's user, ``max-age=60`` but no Vary,    never store it (streamed)
                    streamed: no Content-Length, in 3 chunks
/etag/<n>           the cookie's user, ``Vary: Cookie``, ``max-age=1``  revalidate it when stale,
                    and an ETag per user: If-None-Match gets a 304    refresh it on the 304
/short/<n>          as /shared, but the body stops half-way short     never store it (incomplete)
                    of its Content-Length
/health             ``ok``, ``no-store``                              pass it through
==================  ================================================  ==========================

Any other path is a 404 naming the request, GET and HEAD are the only methods
that render pages, POST answers 200 (so it invalidates the URL) and any other
method is a 405.  A user is named by the cookie ``session=<user>.<secret>`` or
by ``Authorization: Bearer <user>.<secret>``; anything unreadable is the user
``-``.

Run by a server, the module builds its site from the environment:
``PAGE_CACHE_BACKEND`` (``redis``, ``file`` or ``none``) and
``PAGE_CACHE_LOCATION`` (the redis URL or the directory), and ``PAGE_RENDER_MS``
(how long each request the app answers waits, default 0); ``wsgi_app`` and
``asgi_app`` are the two entry points (``helpers.page_apps:wsgi_app``).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final

__all__ = [
    "ANYONE",
    "KINDS",
    "PER_USER",
    "asgi_app",
    "body_size",
    "cache_settings",
    "etag_of",
    "make_asgi",
    "make_wsgi",
    "parse_body",
    "render",
    "wsgi_app",
]

ANYONE: Final = "anyone"
#: Page kinds whose body is the requesting user's.
PER_USER: Final = frozenset({"cookie", "private", "setcookie", "auth", "stream", "etag"})
#: Every page kind, as in the table above.
KINDS: Final = (
    "shared", "cookie", "private", "setcookie", "auth", "public-auth", "strict", "stream", "etag", "short",
)  # fmt: skip
_CACHE_CONTROL: Final = {
    "shared": "max-age=60",
    "cookie": "max-age=60",
    "private": "private, max-age=60",
    "setcookie": "max-age=60",
    "auth": "max-age=60",
    "public-auth": "public, max-age=60",
    "strict": "max-age=60",
    "stream": "max-age=60",
    "etag": "max-age=1",
    "short": "max-age=60",
}
_renders = itertools.count()
#: Seconds each page render waits, as a page doing its queries would (``PAGE_RENDER_MS``; default 0).
RENDER_WAIT: Final = float(os.environ.get("PAGE_RENDER_MS", "0")) / 1000

Answer = tuple[int, list[tuple[str, str]], bytes]


def body_size(number: int) -> int:
    """The length of page ``number``'s body: from about 300 bytes to about 40 KB."""
    return 300 + (number * 7919) % 40_000


def _user_of_token(token: str) -> str:
    user, dot, secret = token.strip().partition(".")
    return user if dot and secret and user.isascii() and user.replace("-", "").isalnum() else "-"


def _cookie_user(cookie: str) -> str:
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "session":
            return _user_of_token(value)
    return "-"


def _auth_user(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    return _user_of_token(token) if scheme.lower() == "bearer" else "-"


def _page(status: int, lines: list[str], number: int, headers: list[tuple[str, str]]) -> Answer:
    text = "\n".join(lines) + "\n"
    size = body_size(number)
    # Padding that differs per page, so a body spliced from two pages fails the checksum.
    filler = (hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest() * (size // 64 + 1))[:size]
    body = (text + filler + "\n").encode("utf-8", "backslashreplace")
    return (
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("X-Body-Sha256", hashlib.sha256(body).hexdigest()),
            *headers,
        ],
        body,
    )


def render(method: str, host: str, path: str, query: str, headers: dict[str, str]) -> Answer:
    """The site's answer; ``headers`` has lower-case names (several occurrences joined by ``, ``).

    Never raises for any input: a malformed request gets a page naming what was seen.
    """
    seen = [f"method={method!r}", f"host={host!r}", f"path={path!r}", f"query={query!r}"]
    if path == "/health":
        return (
            200,
            [("Content-Type", "text/plain"), ("Content-Length", "2"), ("Cache-Control", "no-store")],
            b"ok",
        )
    kind, _, tail = path[1:].partition("/")
    number = int(tail) if tail.isascii() and tail.isdigit() and len(tail) < 6 else -1
    render_id = f"render={os.getpid()}.{next(_renders)}"
    # Which process rendered the page, and when (a client tells a refreshed copy by it).
    stamp = [render_id, f"at={time.time():.3f}"]
    if kind not in _CACHE_CONTROL or number < 0:
        # Storable (404 with max-age): a malformed request's 404 kept under a normal key shows.
        return _page(404, ["page=none", f"for={ANYONE}", *seen, *stamp], 0, [
            ("Cache-Control", "max-age=60"), ("X-Rendered-For", ANYONE),
        ])  # fmt: skip
    if method == "POST":
        return _page(
            200, [f"page={kind}/{number}", "posted", *seen, *stamp], 0, [("Cache-Control", "no-store")]
        )
    if kind == "strict" and method not in ("GET", "HEAD"):
        # A router keyed on (method, path), case-sensitive as methods are (RFC 9110 §9.1): no
        # route, so the site's usual storable 404.
        return _page(404, ["page=none", f"for={ANYONE}", *seen, *stamp], 0, [
            ("Cache-Control", "max-age=60"), ("X-Rendered-For", ANYONE),
        ])  # fmt: skip
    if method not in ("GET", "HEAD"):
        return _page(405, ["page=none", f"for={ANYONE}", *seen, *stamp], 0, [
            ("Allow", "GET, HEAD, POST"), ("Cache-Control", "max-age=60"), ("X-Rendered-For", ANYONE),
        ])  # fmt: skip
    extra = [("Cache-Control", _CACHE_CONTROL[kind])]
    if kind in ("cookie", "private", "setcookie", "stream", "etag"):
        user = _cookie_user(headers.get("cookie", ""))
    elif kind == "auth":
        user = _auth_user(headers.get("authorization", ""))
    else:
        user = ANYONE
    if kind == "etag":
        tag = etag_of(user, number)
        extra += [("Vary", "Cookie"), ("ETag", tag)]
        if tag in [value.strip() for value in headers.get("if-none-match", "").split(",")]:
            # Only what a 304 may update: a stored page keeps its own body, length and checksum.
            return 304, [*extra, ("X-Rendered-For", user)], b""
    if kind == "cookie":
        extra.append(("Vary", "Cookie"))
    elif kind == "setcookie":
        extra.append(("Set-Cookie", f"token={user}.{render_id[7:]}; Path=/; HttpOnly"))
    extra.append(("X-Rendered-For", user))
    status, pairs, body = _page(200, [f"page={kind}/{number}", f"for={user}", *seen, *stamp], number, extra)
    if kind == "short":
        # A render that stopped half-way (an upstream cut off, a swallowed error): the body is
        # shorter than its Content-Length, an incomplete message (RFC 9112 §8).
        body = body[: len(body) // 2]
    return status, pairs, body


def etag_of(user: str, number: int) -> str:
    """The ETag of ``/etag/<number>`` for ``user``: the same for every render of that page."""
    return f'"{user}-{number}"'


def parse_body(body: bytes) -> dict[str, str]:
    """The ``name=value`` lines at the top of a page's body (``page``, ``for``, ``method``, ...)."""
    fields: dict[str, str] = {}
    for line in body.split(b"\n")[:8]:
        name, eq, value = line.decode("utf-8", "replace").partition("=")
        if eq and name.isalpha():
            fields.setdefault(name, value)
    return fields


# -- the two protocols ---------------------------------------------------------------------------

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _streamed(path: str, status: int) -> bool:
    return status == 200 and path.startswith("/stream/")


def _unsized(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in pairs if name != "Content-Length"]


def _chunks(body: bytes) -> list[bytes]:
    third = len(body) // 3 + 1
    return [body[i : i + third] for i in range(0, len(body), third)]


def _server_host(name: str, port: str, scheme: object) -> str:
    # Without a Host header, the host a framework reconstructs (PEP 3333's URL reconstruction).
    default = "443" if scheme == "https" else "80"
    return name if port in ("", default) else f"{name}:{port}"


def _wsgi_view(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    host = headers.get("host") or _server_host(
        str(environ.get("SERVER_NAME", "")),
        str(environ.get("SERVER_PORT", "")),
        environ.get("wsgi.url_scheme"),
    )
    if RENDER_WAIT:
        time.sleep(RENDER_WAIT)
    status, pairs, body = render(
        str(environ.get("REQUEST_METHOD", "")), host, path,
        str(environ.get("QUERY_STRING", "")), headers,
    )  # fmt: skip
    if _streamed(path, status):
        start_response("200 OK", _unsized(pairs))
        return iter(_chunks(body))  # no length and several chunks: a stream (PEP 3333)
    start_response(f"{status} {'OK' if status == 200 else 'Other'}", pairs)
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


async def _asgi_view(
    scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers: dict[str, str] = {}
    for name, value in scope.get("headers") or ():
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    if RENDER_WAIT:
        await asyncio.sleep(RENDER_WAIT)
    query = scope.get("query_string", b"")
    server = scope.get("server") or ("", None)
    host = headers.get("host") or _server_host(str(server[0]), str(server[1] or ""), scope.get("scheme"))
    status, pairs, body = render(
        str(scope.get("method", "")), host, str(scope.get("root_path", "")) + scope["path"],
        query.decode("latin-1"), headers,
    )  # fmt: skip
    encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]
    if _streamed(str(scope["path"]), status):
        unsized = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in _unsized(pairs)]
        await send({"type": "http.response.start", "status": status, "headers": unsized})
        for chunk in _chunks(body):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send({"type": "http.response.start", "status": status, "headers": encoded})
    await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


def _stamped_wsgi(app: WSGIApp) -> WSGIApp:
    # Outside the cache: which worker process answered, so a client sees pages shared across them.
    def stamped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("X-Served-By", str(os.getpid()))], exc_info)

        return app(environ, start)

    return stamped


def _stamped_asgi(app: ASGIApp) -> ASGIApp:
    async def stamped(
        scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        async def stamping(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), (b"x-served-by", str(os.getpid()).encode())],
                }
            await send(message)

        await app(scope, receive, stamping)

    return stamped


def make_wsgi(cache: Any) -> WSGIApp:
    """The WSGI site behind ``CacheMiddleware`` on ``cache`` (an instance or an alias); None: uncached.

    Every answer carries ``X-Served-By``, the PID of the process that answered (added outside the cache).
    """
    if cache is None:
        return _stamped_wsgi(_wsgi_view)
    from cachemere.http.wsgi import CacheMiddleware

    return _stamped_wsgi(CacheMiddleware(_wsgi_view, cache=cache, cache_timeout=60))


def make_asgi(cache: Any) -> ASGIApp:
    """The ASGI site behind ``CacheMiddleware`` on ``cache`` (an instance or an alias); None: uncached."""
    if cache is None:
        return _stamped_asgi(_asgi_view)
    from cachemere.http.asgi import CacheMiddleware

    return _stamped_asgi(CacheMiddleware(_asgi_view, cache=cache, cache_timeout=60))


def cache_settings(backend: str, location: str) -> dict[str, Any]:
    """The ``CACHES`` entry of the page cache on ``backend`` (``redis`` or ``file``) at ``location``."""
    if backend == "redis":
        return {
            "BACKEND": "cachemere.backends.redis.RedisCache",
            "LOCATION": location,
            # A dead server must fail fast, not hold requests (the page cache then serves uncached).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    if backend == "file":
        return {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": location}
    raise ValueError(f"PAGE_CACHE_BACKEND must be redis, file or none, got {backend!r}")


def _from_environment() -> tuple[WSGIApp, ASGIApp]:
    backend = os.environ.get("PAGE_CACHE_BACKEND")
    if backend is None:  # imported by a test, not by a server
        return _wsgi_view, _asgi_view
    if backend == "none":
        return make_wsgi(None), make_asgi(None)
    import cachemere
    from cachemere import caches

    cachemere.configure(
        CACHES={"default": cache_settings(backend, os.environ["PAGE_CACHE_LOCATION"])},
        SECRET_KEY="page-load-secret",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    )
    # Used before a preforking server forks (gunicorn --preload), as a real site's warm-up would.
    caches["default"].get("warm-up")
    return make_wsgi("default"), make_asgi("default")


wsgi_app, asgi_app = _from_environment()
