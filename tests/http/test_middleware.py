"""The page-cache middleware, WSGI and ASGI through one fixture, on real backends (locmem, files)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from cachemere import CacheHandler
from cachemere.backends.locmem import LocMemCache
from cachemere.http import asgi, wsgi
from cachemere.http.headers import http_date
from cachemere.http.messages import Headers

_names = itertools.count()

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


@pytest.fixture(params=["locmem", "files"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "locmem":
        settings = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": f"mw-{next(_names)}"}
    else:
        settings = {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "c")}
    return CacheHandler({"pages": settings}, SECRET_KEY="test-secret")["pages"]


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


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


def test_second_get_is_a_hit_with_downstream_headers_and_age(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page(), cache_timeout=30)
    first = site()
    second = site()
    assert site.calls == 1
    assert first[2] == second[2] == b"hello 0"
    assert "max-age=30" in first[1]["Cache-Control"] and "Expires" in first[1]
    assert second[1]["Age"] == "0"
    assert "Age" not in first[1]


@pytest.mark.parametrize("split", [False, True])
def test_update_and_fetch_stacked_work_as_one(kind: str, cache: Any, split: bool) -> None:
    site = Site(kind, cache, page(), split=split)
    site()
    assert site()[2] == b"hello 0" and site.calls == 1


def test_head_is_served_from_the_get_entry_never_the_reverse(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page())
    site(method="HEAD")
    status, _, body = site()
    assert site.calls == 2 and body == b"hello 1"  # GET not answered from the HEAD entry
    status, _headers, body = site(method="HEAD")
    assert site.calls == 2 and status == 200 and body == b""


def test_query_strings_are_separate_pages(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page())
    assert site(query="a=1")[2] == b"hello 0"
    assert site(query="a=2")[2] == b"hello 1"
    assert site(query="a=1")[2] == b"hello 0"


def test_vary_is_learned_and_absent_is_not_empty(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page(headers=[("Vary", "Accept-Language")]))
    assert site(headers={"Accept-Language": "fr"})[2] == b"hello 0"
    assert site(headers={"Accept-Language": "de"})[2] == b"hello 1"
    assert site(headers={"Accept-Language": "fr"})[2] == b"hello 0"
    assert site()[2] == b"hello 2"
    assert site(headers={"Accept-Language": ""})[2] == b"hello 3"


def test_authorization_requests_vary_on_authorization(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page())
    _status, headers, _body = site(headers={"Authorization": "Bearer alice"})
    assert "Authorization" in headers["Vary"]
    assert site(headers={"Authorization": "Bearer bob"})[2] == b"hello 1"
    assert site(headers={"Authorization": "Bearer alice"})[2] == b"hello 0"


@pytest.mark.parametrize(
    "header",
    [
        ("Set-Cookie", "session=abc"),
        ("Cache-Control", "private"),
        ("Cache-Control", "No-Store"),
        ("Cache-Control", "no-cache"),
        ("Vary", "Foo, *"),
        ("Expires", "0"),
        ("Cache-Control", 'max-age="5"'),
    ],
)
def test_responses_that_forbid_storing_are_not_stored(kind: str, cache: Any, header: tuple[str, str]) -> None:
    site = Site(kind, cache, page(headers=[header]))
    site()
    assert site()[2] == b"hello 1"


def test_private_responses_get_no_downstream_headers(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page(headers=[("Cache-Control", "private")]))
    _, headers, _ = site()
    assert headers["Cache-Control"] == "private" and "Expires" not in headers


@pytest.mark.parametrize("status", [404, 500, 400, 302])
def test_error_and_redirect_responses_without_freshness_are_not_stored(
    kind: str, cache: Any, status: int
) -> None:
    site = Site(kind, cache, page(status=status))
    site()
    assert site()[2] == b"hello 1"


def test_request_no_store_and_fat_get_are_not_stored(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page())
    site(headers={"Cache-Control": "no-store"})
    site(headers={"Content-Length": "5"})
    assert site()[2] == b"hello 2"


def test_if_none_match_and_if_modified_since_get_304_from_the_cache(kind: str, cache: Any) -> None:
    modified = http_date(1_000_000_000)
    site = Site(kind, cache, page(headers=[("ETag", '"v1"'), ("Last-Modified", modified)]))
    site()
    status, headers, body = site(headers={"If-None-Match": 'W/"v1"'})
    assert (status, body, headers["ETag"]) == (304, b"", '"v1"')
    status, _, body = site(headers={"If-Modified-Since": modified})
    assert (status, body) == (304, b"")
    status, _, body = site(headers={"If-None-Match": '"v2"', "If-Modified-Since": modified})
    assert (status, body) == (200, b"hello 0")
    assert site.calls == 1


def test_unsafe_methods_invalidate_every_variant(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page(headers=[("Vary", "Accept-Encoding")]))
    site(headers={"Accept-Encoding": "gzip"})
    site()
    site(method="HEAD", headers={"Accept-Encoding": "br"})  # a HEAD entry of its own
    site(method="POST")
    assert site.calls == 4
    assert site()[2] == b"hello 4"
    assert site(headers={"Accept-Encoding": "gzip"})[2] == b"hello 5"
    site(method="HEAD", headers={"Accept-Encoding": "br"})
    assert site.calls == 7


def test_failed_unsafe_method_does_not_invalidate(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page(status=200))
    site()
    site.view = page(status=403)
    site(method="DELETE")
    assert site()[2] == b"hello 0"


def test_streaming_bodies_pass_through_unstored_and_are_closed(kind: str, cache: Any) -> None:
    bodies: list[Body] = []

    def view(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
        bodies.append(Body([b"a", b"b", b"c"]))
        return 200, [("Content-Type", "text/plain")], bodies[-1]

    site = Site(kind, cache, view)
    assert site()[2] == b"abc"
    assert site()[2] == b"abc" and site.calls == 2
    assert all(body.closed for body in bodies)


def test_bodies_over_the_size_limit_are_not_stored(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page(body=b"x" * 100), max_body_size=50)
    site()
    assert site()[2].endswith(b" 1")


def test_a_body_that_raises_is_never_stored_and_is_closed(kind: str, cache: Any) -> None:
    bodies: list[Body] = []

    def view(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
        bodies.append(Body([b"a", b"b"], fail_after=1 if len(bodies) == 0 else None))
        return 200, [("Content-Type", "text/plain"), ("Content-Length", "2")], bodies[-1]

    site = Site(kind, cache, view)
    with pytest.raises(RuntimeError):
        site()
    assert site()[2] == b"ab" and site.calls == 2
    assert bodies[0].closed


def test_a_failing_backend_is_a_miss_never_a_500(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    broken = Broken("broken", {})
    site = Site(kind, broken, page())
    with caplog.at_level(logging.WARNING, logger="cachemere.http"):
        answers = [site(), site()]
    assert [status for status, _, _ in answers] == [200, 200] and site.calls == 2
    assert any("page cache" in record.getMessage() for record in caplog.records)


def test_a_disallowed_host_is_rejected_before_caching(kind: str, cache: Any, fresh_settings: None) -> None:
    import cachemere

    cachemere.configure(ALLOWED_HOSTS=["example.com"])
    site = Site(kind, cache, page())
    status, _, _ = site(headers={"Host": "evil.test"})
    assert status == 400 and site.calls == 0
    assert site(headers={"Host": "example.com"})[0] == 200


def test_forwarded_host_never_keys_nor_poisons(kind: str, cache: Any) -> None:
    def view(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
        reflected = request["headers"].get("x-forwarded-host", "none").encode()
        return 200, [("Content-Type", "text/plain"), ("Content-Length", str(len(reflected)))], reflected

    site = Site(kind, cache, view)
    site()
    assert site(headers={"X-Forwarded-Host": "evil.test"})[2] == b"none"


def test_stale_page_with_validator_is_revalidated_and_refreshed(
    kind: str, cache: Any, monkeypatch: Any
) -> None:
    import time

    now = [1_700_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])

    def view(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
        if request["headers"].get("if-none-match") == '"v1"':
            return 304, [("ETag", '"v1"'), ("Cache-Control", "max-age=10"), ("X-Fresh", "yes")], b""
        return 200, [("ETag", '"v1"'), ("Cache-Control", "max-age=10"), ("Content-Length", "4")], b"body"

    site = Site(kind, cache, view)
    site()
    now[0] += 15
    status, headers, body = site()
    assert (status, body, headers.get("X-Fresh")) == (200, b"body", "yes") and site.calls == 2
    assert site.seen[-1]["headers"]["if-none-match"] == '"v1"'
    status, headers, body = site()
    assert (body, headers.get("X-Fresh"), site.calls) == (b"body", "yes", 2)
    now[0] += 15
    status, _, body = site(headers={"If-None-Match": '"v1"'})
    assert (status, body, site.calls) == (304, b"", 3)


@pytest.mark.parametrize(
    "other", ["/account;x.css", "/account/x.css", "/account%2Fx.css", "/account/../x.css"]
)
def test_path_confusion_keys_follow_the_routers_path(kind: str, cache: Any, other: str) -> None:
    site = Site(kind, cache, page())
    assert site(path="/account")[2] == b"hello 0"
    assert site(path=other)[2] == b"hello 1"
    assert site(path="/account")[2] == b"hello 0"
