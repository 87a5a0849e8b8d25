"""The page cache for WSGI apps: ``UpdateCacheMiddleware``, ``FetchFromCacheMiddleware``, ``CacheMiddleware``.

Stack them as Django's: Update outermost, Fetch innermost, the app's other
middleware between them::

    app = UpdateCacheMiddleware(SessionMiddleware(LocaleMiddleware(FetchFromCacheMiddleware(app))))

Update sees the response last, so it learns every ``Vary`` the layers inside
it added; Fetch runs last on the way in, after whatever sets the language or
time zone that is part of the key.  ``CacheMiddleware(app)`` is both in one,
for a stack where nothing else touches the key or ``Vary``.  Every decision is
in :mod:`.core`; this module only translates WSGI and calls the app.
"""

from __future__ import annotations

import http
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

from ..backends.base import drive
from . import core
from .core import Config, Hit, Miss
from .messages import Headers, Request

__all__ = ["CacheMiddleware", "FetchFromCacheMiddleware", "UpdateCacheMiddleware"]

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_STATUS_LINES: Final[dict[int, str]] = {
    status.value: f"{status.value} {status.phrase}" for status in http.HTTPStatus
}
_BAD_HOST: Final = b"Bad Request (invalid host)"
_KNOWN_NAMES: Final = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}
# environ key -> header name, or None for a key that is not a header (most of an environ).
# Clients choose header names, so the memo is bounded: past the limit it starts again.
_NAMES: dict[str, str | None] = dict(_KNOWN_NAMES)
_NAMES_LIMIT: Final = 1024
_CLIENT_CONDITIONS: Final = frozenset({"HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE"})
_SURROGATE: Final = re.compile("[\udc80-\udcff]")


def _status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    return f"{status} Unknown" if line is None else line


def _header_name(key: str) -> str | None:
    try:
        return _NAMES[key]
    except KeyError:
        pass
    name = key[5:].replace("_", "-").title() if key.startswith("HTTP_") else None
    if len(_NAMES) >= _NAMES_LIMIT:
        _NAMES.clear()
        _NAMES.update(_KNOWN_NAMES)
    _NAMES[key] = name
    return name


def _path(environ: Environ) -> str:
    text = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        # Not PEP 3333 (a server that put decoded text in the environ): key the path the app sees.
        return text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # As Django: bytes that are not UTF-8 stay percent-encoded, so distinct paths stay distinct.
        text = raw.decode("utf-8", "surrogateescape")
        return _SURROGATE.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}", text)


def request_of(environ: Environ, allowed_hosts: Sequence[str] | None = None) -> Request | None:
    """The request as the app sees it, or None when its host is not in ``allowed_hosts``.

    ``allowed_hosts`` None means the ``ALLOWED_HOSTS`` setting.  The host is
    the Host header (else SERVER_NAME and SERVER_PORT), never a forwarding
    header: a proxy that rewrites hosts must do it in the environ.
    """
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "")
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != ("443" if scheme == "https" else "80"):
            host = f"{host}:{port}"
    if not core.host_allowed(host, core.allowed_hosts() if allowed_hosts is None else allowed_hosts):
        return None
    headers = Headers(
        (name, value) for key, value in environ.items() if (name := _header_name(key)) is not None
    )
    length = environ.get("CONTENT_LENGTH") or "0"
    has_body = (length.strip() not in ("", "0")) or "chunked" in environ.get(
        "HTTP_TRANSFER_ENCODING", ""
    ).lower()
    return Request(
        environ.get("REQUEST_METHOD", "GET"),  # case-sensitive (RFC 9110 §9.1): "get" is not GET
        scheme,
        host,
        _path(environ),
        environ.get("QUERY_STRING", ""),
        headers,
        has_body,
        conditional="HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ,
    )


def _status_of(line: str) -> int:
    try:
        return int(line.split(" ", 1)[0])
    except ValueError:
        return 0


def _close(result: Iterable[bytes]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


class _Capture:
    """Holds the app's start_response until the body is known; passes it through when not ours."""

    __slots__ = ("headers", "hold", "real", "status", "streaming", "writer")

    def __init__(self, real: StartResponse, hold: Callable[[], bool]) -> None:
        self.real = real
        self.hold = hold
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.streaming = False
        self.writer: Callable[[bytes], object] | None = None

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None or self.streaming or not self.hold():
            self.streaming = True
            self.writer = self.real(status, headers, exc_info)
            return self.writer
        self.status, self.headers = status, headers
        return self.write

    def write(self, data: bytes) -> None:
        # The legacy write() callable means the app streams: send what was held, never store.
        if self.writer is None:
            self.streaming = True
            self.writer = self.real(self.status, self.headers)
        self.writer(data)


def _passed_on(first: list[bytes], iterator: Iterator[bytes], result: Iterable[bytes]) -> Iterator[bytes]:
    try:
        yield from first
        yield from iterator
    finally:
        _close(result)


def _serve(hit: Hit, start_response: StartResponse) -> list[bytes]:
    start_response(_status_line(hit.status), hit.headers)
    return [hit.body]


class _Fetch:
    """The request phase, shared by FetchFromCacheMiddleware and CacheMiddleware."""

    config: Config
    app: WSGIApp

    def _lookup(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes] | Miss | None:
        config = self.config
        request = request_of(environ, config.allowed_hosts)
        if request is None:
            start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", "26")])
            return [_BAD_HOST]
        logic = core.fetch(
            request, config.key_prefix, config.cache_timeout, config.page_timeout,
            cdn_cache_control=config.cdn_cache_control, settings=config.settings,
        )  # fmt: skip
        decision = drive(config.get_cache(), logic)
        if isinstance(decision, Hit):
            return _serve(decision, start_response)
        return decision

    def _call_app(
        self, environ: Environ, start_response: StartResponse, miss: Miss | None
    ) -> Iterable[bytes]:
        if miss is None or miss.stale is None:
            return self.app(environ, start_response)
        return self._revalidate(environ, start_response, miss, miss.stale)

    def _revalidate(
        self, environ: Environ, start_response: StartResponse, miss: Miss, stale: core.Page
    ) -> Iterable[bytes]:
        # The app sees the stored validators instead of the client's own conditions.
        inner = {k: v for k, v in environ.items() if k not in _CLIENT_CONDITIONS}
        for name, value in miss.conditions:
            inner["HTTP_" + name.upper().replace("-", "_")] = value
        answer: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is None and _status_of(status) == 304:
                answer.append(headers)
                return lambda data: None
            return start_response(status, headers, exc_info)

        result = self.app(inner, capture)
        if not answer:
            iterator = iter(result)
            try:
                first = [next(iterator)]
            except StopIteration:
                first = []
            except BaseException:
                _close(result)
                raise
            if not answer:
                return _passed_on(first, iterator, result)
        _close(result)
        status, headers, body = core.refreshed_page(stale, Headers(answer[0]))
        miss.revalidated = True
        start_response(_status_line(status), headers.items())
        return [body]


class _Update:
    """The response phase, shared by UpdateCacheMiddleware and CacheMiddleware."""

    config: Config

    def _respond(
        self,
        get_miss: Callable[[], Miss | None],
        start_response: StartResponse,
        call: Callable[[StartResponse], Iterable[bytes]],
    ) -> Iterable[bytes]:
        capture = _Capture(start_response, lambda: get_miss() is not None)
        result = call(capture.start_response)
        miss = get_miss()
        if capture.streaming or miss is None:
            return result
        limit = self.config.max_body_size
        iterator = iter(result)
        chunks: list[bytes] = []
        size = 0
        try:
            length = Headers(capture.headers).get("Content-Length") if capture.status else None
            bounded = isinstance(result, (list, tuple)) or length is not None
            for chunk in iterator:
                chunks.append(chunk)
                size += len(chunk)
                if capture.status is None:
                    continue
                if length is None and not bounded:
                    length = Headers(capture.headers).get("Content-Length")
                    bounded = length is not None
                if capture.streaming or size > limit or (not bounded and len(chunks) > 1):
                    break
            else:
                iterator = iter(())
        except BaseException:
            _close(result)
            raise
        if capture.streaming or size > limit or capture.status is None or (not bounded and len(chunks) > 1):
            if not capture.streaming and capture.status is not None:
                capture.streaming = True
                start_response(capture.status, capture.headers)
            return _passed_on(chunks, iterator, result)
        _close(result)
        body = b"".join(chunks)
        status = _status_of(capture.status)
        headers = Headers(capture.headers)
        config = self.config
        drive(
            config.get_cache(),
            core.update(
                miss.request, status, headers, body, config.key_prefix,
                config.cache_timeout, config.page_timeout, miss.store, config.store_set_cookie,
                cdn_cache_control=config.cdn_cache_control, settings=config.settings,
                generation=miss.generation,
            ),
        )  # fmt: skip
        answer_status, answer_headers, answer_body = core.client_answer(miss, status, headers, body)
        line = capture.status if answer_status == status else _status_line(answer_status)
        start_response(line, answer_headers.items())
        return [answer_body]


class UpdateCacheMiddleware(core.StoringLayer[WSGIApp], _Update):
    """Stores the app's responses that FetchFromCacheMiddleware (inside it) did not answer.

    Arguments and defaults: :class:`cachemere.http.core.StoringLayer`.
    """

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        holder: list[Miss] = []
        token = core.pending.set(holder)
        try:
            # The inner Fetch appends its Miss during this call, before the app's start_response.
            return self._respond(
                lambda: holder[0] if holder else None, start_response, lambda inner: self.app(environ, inner)
            )
        finally:
            core.pending.reset(token)


class FetchFromCacheMiddleware(core.FetchingLayer[WSGIApp], _Fetch):
    """Answers GET and HEAD from stored pages; leaves storing to UpdateCacheMiddleware outside it."""

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        decision = self._lookup(environ, start_response)
        if decision is None or isinstance(decision, Miss):
            holder = core.pending.get()
            if holder is not None and decision is not None:
                holder.append(decision)
            return self._call_app(environ, start_response, decision)
        return decision


class CacheMiddleware(core.StoringLayer[WSGIApp], _Fetch, _Update):
    """Fetch and Update in one layer (``cache_page`` is this around one view).

    Arguments and defaults: :class:`cachemere.http.core.StoringLayer`.
    """

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        decision = self._lookup(environ, start_response)
        if decision is not None and not isinstance(decision, Miss):
            return decision
        miss = decision
        return self._respond(lambda: miss, start_response, lambda inner: self._call_app(environ, inner, miss))
