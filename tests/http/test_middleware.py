"""The page-cache middleware, WSGI and ASGI through one fixture, on real backends (locmem, files)."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.http.headers import http_date
from helpers.middleware import Body, Broken, Site, page

_names = itertools.count()

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
