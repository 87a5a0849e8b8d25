"""cachemere.contrib.flask's view decorators through Flask's test client: return types, MethodView, HTTP."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cachemere.contrib.flask import Cache, cache_page
from helpers.flask_app import create_app, locmem


@pytest.fixture
def app() -> Flask:
    return create_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def renders(app: Flask, name: str) -> int:
    return int(app.extensions["renders"][name])


@pytest.mark.parametrize(
    ("path", "body", "content_type", "extra"),
    [
        ("/str", b"str 1", "text/html; charset=utf-8", {}),
        ("/bytes", b"bytes 1", "text/html; charset=utf-8", {}),
        ("/tuple-headers", b"headers 1", "text/html; charset=utf-8", {"X-Kind": "tuple"}),
        ("/tuple-full", b"full 1", "text/html; charset=utf-8", {"X-Kind": "full", "Content-Language": "en"}),
        ("/response", b"response 1", "text/csv; charset=utf-8", {"X-Kind": "object"}),
        ("/dict", b'{"render":1}\n', "application/json", {}),
        ("/list", b'["render",1]\n', "application/json", {}),
        ("/async", b"async 1", "text/html; charset=utf-8", {}),
        ("/item/7", b"item 7 render 1", "text/html; charset=utf-8", {}),
    ],
)
def test_each_return_type_is_cached_and_served_as_rendered(
    app: Flask, client: FlaskClient, path: str, body: bytes, content_type: str, extra: dict[str, str]
) -> None:
    first, second = client.get(path), client.get(path)
    for response in (first, second):
        assert response.status_code == 200 and response.data == body
        assert response.headers["Content-Type"] == content_type
        assert response.headers["Cache-Control"] == "max-age=60" and "Expires" in response.headers
        assert response.headers["Content-Length"] == str(len(body))
        for name, value in extra.items():
            assert response.headers[name] == value
    assert "Age" not in first.headers and second.headers["Age"] == "0"  # the second is the hit
    assert sum(app.extensions["renders"].values()) == 1


def test_a_status_from_a_tuple_is_kept_on_the_hit(app: Flask, client: FlaskClient) -> None:
    answers = [client.get("/tuple-status") for _ in range(2)]
    assert [(r.status_code, r.data) for r in answers] == [(410, b"gone 1"), (410, b"gone 1")]
    assert renders(app, "tuple-status") == 1


def test_view_arguments_key_their_own_pages(app: Flask, client: FlaskClient) -> None:
    assert client.get("/item/1").data == b"item 1 render 1"
    assert client.get("/item/2").data == b"item 2 render 2"
    assert client.get("/item/1").data == b"item 1 render 1"
    assert client.get("/item/2").data == b"item 2 render 2"
    assert client.get("/item/1?page=2").data == b"item 1 render 3"  # each query string is a page
    assert renders(app, "item") == 3


@pytest.mark.parametrize("path", ["/stream", "/stream-one"])
def test_a_streamed_response_passes_through_unstored(app: Flask, client: FlaskClient, path: str) -> None:
    # /stream-one yields a single chunk: it is still a stream, never stored.
    bodies = [client.get(path).data for _ in range(2)]
    name = path.strip("/")
    assert renders(app, name) == 2
    assert bodies[0] != bodies[1] and bodies[1].endswith(b"2")


def test_method_view_with_decorators_is_cached_and_post_invalidates(app: Flask, client: FlaskClient) -> None:
    assert client.get("/items/5").data == b"item 5 render 1"
    assert client.get("/items/5").data == b"item 5 render 1"
    assert client.post("/items/5").data == b"changed"  # an unsafe method's 2xx forgets the URL's pages
    assert client.get("/items/5").data == b"item 5 render 2"
    assert renders(app, "items") == 2 and renders(app, "items-post") == 1


def test_method_view_wrapped_around_as_view_keeps_its_methods(app: Flask, client: FlaskClient) -> None:
    assert client.get("/plain").json == {"render": 1}
    assert client.get("/plain").json == {"render": 1}
    assert client.post("/plain").status_code == 405  # Plain has only get: as_view's methods survive
    assert app.view_functions["plain"].view_class.__name__ == "Plain"  # type: ignore[attr-defined]


def test_head_is_answered_from_the_get_page(app: Flask, client: FlaskClient) -> None:
    client.get("/str")
    head = client.head("/str")
    assert head.status_code == 200 and head.data == b"" and head.headers["Content-Length"] == "5"
    assert head.headers["Age"] == "0" and renders(app, "str") == 1


def test_conditional_requests_get_a_304_from_the_cache(app: Flask, client: FlaskClient) -> None:
    assert client.get("/etag").headers["ETag"] == '"v1"'
    not_modified = client.get("/etag", headers={"If-None-Match": '"v1"'})
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert client.get("/etag", headers={"If-None-Match": '"v2"'}).data == b"etag 1"
    assert renders(app, "etag") == 1


def test_responses_setting_cookies_are_never_stored(app: Flask, client: FlaskClient) -> None:
    first, second = client.get("/cookie"), client.get("/cookie")
    assert first.headers["Set-Cookie"].startswith("visitor=1")
    assert second.headers["Set-Cookie"].startswith("visitor=2")
    assert renders(app, "cookie") == 2


def test_a_view_reading_the_session_varies_on_cookie(app: Flask) -> None:
    # Flask adds Vary: Cookie only when it saves the session, after the view: the page cache must
    # see it before storing, or one visitor's page would be served to all.
    anonymous, bob = app.test_client(), app.test_client()
    assert anonymous.get("/session").data == b"hello anonymous 1"
    bob.post("/login/bob")
    assert bob.get("/session").data == b"hello bob 2"
    assert anonymous.get("/session").data == b"hello anonymous 1"
    assert bob.get("/session").headers["Vary"] == "Cookie"
    assert renders(app, "session") == 2


def test_a_view_not_reading_the_session_does_not_vary_on_cookie(client: FlaskClient) -> None:
    # The canary for how the session's "accessed" flag is read (Flask 3.1 sets it on any read).
    client.post("/login/alice")
    assert "Vary" not in client.get("/str").headers


def test_never_cache_is_never_stored_and_says_so(app: Flask, client: FlaskClient) -> None:
    first, second = client.get("/never"), client.get("/never")
    assert (first.data, second.data) == (b"never 1", b"never 2")
    directives = set(second.headers["Cache-Control"].split(", "))
    assert directives >= {"no-cache", "no-store", "must-revalidate", "private"}


def test_cache_control_reaches_the_client_and_the_hit(app: Flask, client: FlaskClient) -> None:
    for response in (client.get("/control"), client.get("/control")):
        assert response.headers["Cache-Control"] == "max-age=30, public"
    assert renders(app, "control") == 1
    assert client.get("/control-only").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("path", "header"), [("/vary", "Accept-Language"), ("/vary-cookie", "Cookie")])
def test_vary_decorators_key_pages_on_their_header(app: Flask, path: str, header: str) -> None:
    client = app.test_client(use_cookies=False)  # the Cookie header as given, not a cookie jar's
    name = path.strip("/")
    assert client.get(path, headers={header: "fr"}).data.endswith(b" 1")
    assert client.get(path, headers={header: "de"}).data.endswith(b" 2")
    assert client.get(path, headers={header: "fr"}).data.endswith(b" 1")
    assert header in client.get(path).headers["Vary"]
    assert renders(app, name) == 3


def test_an_aborted_view_is_flasks_to_answer_and_not_stored(app: Flask, client: FlaskClient) -> None:
    assert [client.get("/missing").status_code for _ in range(2)] == [404, 404]
    assert renders(app, "missing") == 2


def test_after_request_hooks_run_on_hits(client: FlaskClient) -> None:
    client.get("/str")
    assert "X-Worker" in client.get("/str").headers


def test_a_disallowed_host_gets_a_400_and_no_render() -> None:
    app = create_app({"ALLOWED_HOSTS": ["shop.test"]})
    client = app.test_client()
    assert client.get("/str", headers={"Host": "evil.test"}).status_code == 400
    assert client.get("/str", headers={"Host": "shop.test"}).data == b"str 1"
    assert renders(app, "str") == 1


def test_a_broken_backend_serves_uncached_never_a_500(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app({"CACHES": {"default": {"BACKEND": "helpers.middleware.Broken"}}})
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="cachemere.http"):
        answers = [client.get("/str") for _ in range(3)]
    assert [(r.status_code, r.data) for r in answers] == [(200, b"str 1"), (200, b"str 2"), (200, b"str 3")]
    assert any("page cache" in record.getMessage() for record in caplog.records)


def test_cache_page_names_an_alias_and_a_prefix() -> None:
    pages = locmem()["default"]
    app = Flask("aliased")
    app.config.update(CACHES={**locmem(), "pages": pages})
    Cache(app)
    calls: list[int] = []

    @app.route("/")
    @cache_page(60, cache="pages", key_prefix="front")
    def index() -> str:
        calls.append(1)
        return "index"

    client = app.test_client()
    client.get("/")
    client.get("/")
    assert len(calls) == 1
    with app.app_context():
        from cachemere.http import Request, get_cache_key

        cache = app.extensions["cachemere"].caches["pages"]
        key = get_cache_key(Request("GET", "http", "localhost", "/"), key_prefix="front", cache=cache)
        assert key is not None and cache.get(key)[2] == b"index"


def test_a_view_on_an_app_without_the_extension_names_the_app() -> None:
    app = Flask("bare")

    @app.route("/")
    @cache_page(60)
    def index() -> str:
        return "x"

    app.testing = True
    with pytest.raises(RuntimeError, match="'bare' has no cachemere extension"):
        app.test_client().get("/")


def test_decorated_views_keep_their_names(app: Flask) -> None:
    rules: dict[str, Any] = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    assert rules["/str"] == "text" and app.view_functions["text"].__name__ == "text"


def test_a_stale_page_is_revalidated_with_the_view(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from flask import Response, request

    now = [1_800_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    app = Flask("revalidated")
    app.config["CACHES"] = locmem()
    Cache(app)
    seen: list[str | None] = []
    after: list[str | None] = []

    @app.route("/")
    @cache_page(10)
    def page() -> Response:
        seen.append(request.headers.get("If-None-Match"))
        # Already 5 s old when it leaves (as from an upstream): stale here after 5 s more, while
        # the backend keeps it cache_page's 10 s, so the cache asks the view to revalidate it.
        response = Response(f"version {len(seen)}", headers={"Age": "5"})
        response.set_etag("v1")
        return response.make_conditional(request)  # a 304 when asked with the ETag

    @app.after_request
    def record(response: Response) -> Response:
        after.append(request.headers.get("If-None-Match"))
        return response

    client = app.test_client()
    assert client.get("/").data == b"version 1"
    now[0] += 6
    refreshed = client.get("/", headers={"If-None-Match": '"other"'})
    assert refreshed.status_code == 200 and refreshed.data == b"version 1"  # the stored body, refreshed
    assert seen == [None, '"v1"']  # the view was asked with the stored ETag, not the client's
    assert after == [None, '"other"']  # and the request has the client's conditions again after it
