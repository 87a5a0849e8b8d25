"""The page cache for ASGI apps: ``UpdateCacheMiddleware``, ``FetchFromCacheMiddleware``, ``CacheMiddleware``.

The same three names and the same stacking as :mod:`.wsgi` (Update
outermost, Fetch innermost, for the same reasons).  Cache calls go through
the backends' async methods (:func:`~cachemere.backends.base.adrive`), so a
redis or database round trip never blocks the event loop.  Every decision is
in :mod:`.core`; this module only translates ASGI messages and calls the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Final

from ..backends.base import adrive
from . import core
from .core import Config, Hit, Miss
from .messages import Headers, Request

__all__ = ["CacheMiddleware", "FetchFromCacheMiddleware", "UpdateCacheMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BAD_HOST: Final = b"Bad Request (invalid host)"
_CONDITIONS: Final = frozenset({b"if-none-match", b"if-modified-since"})
_NOTED: Final = frozenset({b"host", b"content-length", b"transfer-encoding", *_CONDITIONS})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def request_of(scope: Scope, allowed_hosts: Sequence[str] | None = None) -> Request | None:
    """The request as the app sees it, or None when its host is not in ``allowed_hosts``.

    ``allowed_hosts`` None means the ``ALLOWED_HOSTS`` setting.  The host is
    the Host header (else the scope's ``server``), never a forwarding header.
    """
    # One pass over the headers notes what the cache needs of them (ASGI names are lower-case).
    pairs: list[tuple[str, str]] = []
    found: dict[bytes, list[str]] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        pairs.append((name, value))
        lowered = raw_name.lower()
        if lowered in _NOTED:
            found.setdefault(lowered, []).append(value)
    headers = Headers(pairs)
    scheme = scope.get("scheme", "http")
    hosts = found.get(b"host")
    host = ", ".join(hosts) if hosts else None  # two Host fields: one invalid host, refused below
    if not host:
        server = scope.get("server")
        host = ""
        if server:
            name, port = server[0], server[1]
            host = name if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{name}:{port}"
    if not core.host_allowed(host, core.allowed_hosts() if allowed_hosts is None else allowed_hosts):
        return None
    length = ", ".join(found.get(b"content-length", ())) or "0"
    has_body = (
        length.strip() not in ("", "0") or "chunked" in ", ".join(found.get(b"transfer-encoding", ())).lower()
    )
    root, path = scope.get("root_path", ""), scope.get("path", "/")
    if root and not path.startswith(root):
        path = root + path
    query = scope.get("query_string", b"")
    conditional = b"if-none-match" in found or b"if-modified-since" in found
    return Request(
        scope.get("method", "GET"), scheme, host, path, query.decode("latin-1"), headers, has_body,
        conditional=conditional,
    )  # fmt: skip


def _encoded(headers: Any) -> list[tuple[bytes, bytes]]:
    # ASGI header names are lower-case (and HTTP/2 requires it): middleware outside compares raw names.
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def _send_page(send: Send, status: int, headers: Any, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _encoded(headers)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _Fetch:
    """The request phase, shared by FetchFromCacheMiddleware and CacheMiddleware."""

    config: Config
    app: ASGIApp

    async def _lookup(self, scope: Scope, send: Send) -> Miss | bool | None:
        """A Miss or None (the app answers), or True when this layer already answered."""
        config = self.config
        request = request_of(scope, config.allowed_hosts)
        if request is None:
            await _send_page(send, 400, [("Content-Type", "text/plain")], _BAD_HOST)
            return True
        logic = core.fetch(
            request, config.key_prefix, config.cache_timeout, config.page_timeout,
            cdn_cache_control=config.cdn_cache_control, settings=config.settings,
        )  # fmt: skip
        decision = await adrive(config.get_cache(), logic)
        if isinstance(decision, Hit):
            await _send_page(send, decision.status, decision.headers, decision.body)
            return True
        return decision

    async def _call_app(self, scope: Scope, receive: Receive, send: Send, miss: Miss | None) -> None:
        if miss is None or miss.stale is None:
            await self.app(scope, receive, send)
            return
        stale = miss.stale
        # The app sees the stored validators instead of the client's own conditions.
        headers = [pair for pair in scope.get("headers") or () if pair[0].lower() not in _CONDITIONS]
        headers.extend(_encoded(miss.conditions))
        inner = {**scope, "headers": headers}
        started: list[Message] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 304:
                started.append(message)
                return
            if started:  # the 304's (empty) body
                return
            await send(message)

        await self.app(inner, receive, capture)
        if started:
            not_modified = Headers(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in started[0].get("headers", ())
            )
            status, refreshed, body = core.refreshed_page(stale, not_modified)
            miss.revalidated = True
            await _send_page(send, status, refreshed.items(), body)


class _Update:
    """The response phase, shared by UpdateCacheMiddleware and CacheMiddleware."""

    config: Config

    async def _respond(
        self, get_miss: Callable[[], Miss | None], send: Send, call: Callable[[Send], Awaitable[None]]
    ) -> None:
        config = self.config
        held: list[Message] = []
        passing = False

        async def capture(message: Message) -> None:
            nonlocal passing
            kind = message["type"]
            if kind == "http.response.debug":
                # Starlette's TestClient extension (the template and its context): not part of the page.
                await send(message)
                return
            if passing or kind not in ("http.response.start", "http.response.body"):
                # Another kind of message (pathsend, trailers, ...) after a held start: the
                # start goes first, and the response passes through unstored.
                passing = True
                for item in held:
                    await send(item)
                held.clear()
                await send(message)
                return
            miss = get_miss()
            if kind == "http.response.start":
                if miss is None or message.get("trailers") or _too_long(message, config.max_body_size):
                    passing = True
                    await send(message)
                else:
                    held.append(message)
                return
            if not held or miss is None:
                passing = True
                for item in held:
                    await send(item)
                held.clear()
                await send(message)
                return
            body = message.get("body", b"")
            if message.get("more_body", False) or len(body) > config.max_body_size:
                # A streamed body passes through as it comes and is never stored.
                passing = True
                await send(held.pop())
                await send(message)
                return
            start = held[0]
            status = int(start["status"])
            headers = Headers(
                (name.decode("latin-1"), value.decode("latin-1")) for name, value in start.get("headers", ())
            )
            await adrive(
                config.get_cache(),
                core.update(
                    miss.request, status, headers, body, config.key_prefix,
                    config.cache_timeout, config.page_timeout, miss.store, config.store_set_cookie,
                    cdn_cache_control=config.cdn_cache_control, settings=config.settings,
                    generation=miss.generation,
                ),
            )  # fmt: skip
            passing = True
            answer_status, answer_headers, answer_body = core.client_answer(miss, status, headers, body)
            await _send_page(send, answer_status, answer_headers.items(), answer_body)

        await call(capture)


def _too_long(start: Message, limit: int) -> bool:
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value) > limit
            except ValueError:
                return True
    return False


class UpdateCacheMiddleware(core.StoringLayer[ASGIApp], _Update):
    """Stores the app's responses that FetchFromCacheMiddleware (inside it) did not answer.

    Arguments and defaults: :class:`cachemere.http.core.StoringLayer`.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        holder: list[Miss] = []
        token = core.pending.set(holder)
        try:
            await self._respond(
                lambda: holder[0] if holder else None, send, lambda inner: self.app(scope, receive, inner)
            )
        finally:
            core.pending.reset(token)


class FetchFromCacheMiddleware(core.FetchingLayer[ASGIApp], _Fetch):
    """Answers GET and HEAD from stored pages; leaves storing to UpdateCacheMiddleware outside it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        decision = await self._lookup(scope, send)
        if decision is True:
            return
        miss = decision if isinstance(decision, Miss) else None
        holder = core.pending.get()
        if holder is not None and miss is not None:
            holder.append(miss)
        await self._call_app(scope, receive, send, miss)


class CacheMiddleware(core.StoringLayer[ASGIApp], _Fetch, _Update):
    """Fetch and Update in one layer (``cache_page`` is this around one view).

    Arguments and defaults: :class:`cachemere.http.core.StoringLayer`.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        decision = await self._lookup(scope, send)
        if decision is True:
            return
        miss = decision if isinstance(decision, Miss) else None
        await self._respond(lambda: miss, send, lambda inner: self._call_app(scope, receive, inner, miss))
