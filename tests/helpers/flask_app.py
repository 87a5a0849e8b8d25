"""A Flask site using cachemere.contrib.flask, for the Flask tests (test client and gunicorn).

``create_app`` builds one app with a view per return type Flask accepts, each
counting its renders in ``app.renders`` (and, for the real-server test, in a
file shared by every worker).  ``server_app()`` is the gunicorn entry point:
its settings come from environment variables set by the test.
"""

from __future__ import annotations

import collections
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, render_template_string, session, stream_with_context
from flask.views import MethodView

from cachemere.backends.locmem import LocMemCache
from cachemere.contrib.flask import (
    Cache,
    cache_control,
    cache_page,
    never_cache,
    vary_on_cookie,
    vary_on_headers,
)

FRAGMENT = "{% cache 60 sidebar %}sidebar {{ render('fragment') }}{% endcache %} page {{ render('around') }}"


class CountingCloses(LocMemCache):
    """A local-memory cache counting its close() calls per LOCATION (in ``CLOSES``)."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(location, params)
        self.location = location

    def close(self, **kwargs: Any) -> None:
        CLOSES[self.location] += 1


CLOSES: collections.Counter[str] = collections.Counter()


def locmem() -> dict[str, Any]:
    """A CACHES dict with a local-memory default of its own (locmem stores are per LOCATION)."""
    return {"default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}}


class Items(MethodView):
    """A class-based view cached with ``decorators``: GET is cached, POST invalidates the URL."""

    decorators = [cache_page(60)]

    def get(self, item: int) -> str:
        return f"item {item} render {render('items')}"

    def post(self, item: int) -> tuple[str, int]:
        render("items-post")
        return "changed", 200


class Plain(MethodView):
    def get(self) -> dict[str, Any]:
        return {"render": render("plain-view")}


def render(name: str) -> int:
    """Count one render of ``name`` for the current app; the count is the page's content."""
    from flask import current_app

    counts: collections.Counter[str] = current_app.extensions["renders"]
    counts[name] += 1
    counter_dir = current_app.config.get("RENDER_COUNTER_DIR")
    if counter_dir:
        with open(Path(counter_dir) / name, "a") as file:  # O_APPEND: one line per render, any worker
            file.write(f"{os.getpid()}\n")
    return counts[name]


def create_app(
    config: dict[str, Any] | None = None, *, name: str = "site", middleware: bool = False
) -> Flask:
    app = Flask(name)
    app.config.update(SECRET_KEY="test-secret-key", CACHES=locmem())
    app.config.update(config or {})
    app.extensions["renders"] = collections.Counter()
    Cache(app, middleware=middleware)
    app.jinja_env.globals["render"] = render

    @app.after_request
    def worker(response: Response) -> Response:
        response.headers["X-Worker"] = str(os.getpid())
        return response

    @app.route("/str")
    @cache_page(60)
    def text() -> str:
        return f"str {render('str')}"

    @app.route("/bytes")
    @cache_page(60)
    def raw() -> bytes:
        return b"bytes %d" % render("bytes")

    @app.route("/tuple-status")
    @cache_page(60)
    def with_status() -> tuple[str, int, dict[str, str]]:
        return f"gone {render('tuple-status')}", 410, {"Cache-Control": "max-age=60"}

    @app.route("/tuple-headers")
    @cache_page(60)
    def with_headers() -> tuple[str, dict[str, str]]:
        return f"headers {render('tuple-headers')}", {"X-Kind": "tuple"}

    @app.route("/tuple-full")
    @cache_page(60)
    def full() -> tuple[str, int, list[tuple[str, str]]]:
        return f"full {render('tuple-full')}", 200, [("X-Kind", "full"), ("Content-Language", "en")]

    @app.route("/response")
    @cache_page(60)
    def response_object() -> Response:
        return Response(f"response {render('response')}", mimetype="text/csv", headers={"X-Kind": "object"})

    @app.route("/dict")
    @cache_page(60)
    def as_dict() -> dict[str, Any]:
        return {"render": render("dict")}

    @app.route("/list")
    @cache_page(60)
    def as_list() -> list[Any]:
        return ["render", render("list")]

    @app.route("/stream")
    @cache_page(60)
    def stream() -> Any:
        count = render("stream")

        def chunks() -> Iterator[str]:
            yield "chunk one "
            yield f"render {count}"

        return chunks()

    @app.route("/stream-one")
    @cache_page(60)
    def stream_one() -> Any:
        count = render("stream-one")
        return stream_with_context(iter([f"one chunk {count}"]))

    @app.route("/item/<int:number>")
    @cache_page(60)
    def item(number: int) -> str:
        return f"item {number} render {render('item')}"

    @app.route("/async")
    @cache_page(60)
    async def asynchronous() -> str:
        return f"async {render('async')}"

    @app.route("/cookie")
    @cache_page(60)
    def cookie() -> Response:
        response = Response(f"cookie {render('cookie')}")
        response.set_cookie("visitor", str(render("cookie-value")))
        return response

    @app.route("/session")
    @cache_page(60)
    def session_page() -> str:
        return f"hello {session.get('user', 'anonymous')} {render('session')}"

    @app.route("/login/<user>", methods=["POST"])
    def login(user: str) -> str:
        session["user"] = user
        return "ok"

    @app.route("/never")
    @cache_page(60)
    @never_cache
    def never() -> str:
        return f"never {render('never')}"

    @app.route("/control")
    @cache_page(60)
    @cache_control(max_age=30, public=True)
    def control() -> str:
        return f"control {render('control')}"

    @app.route("/control-only")
    @cache_control(no_store=True)
    def control_only() -> tuple[str, int]:
        return f"control only {render('control-only')}", 200

    @app.route("/vary")
    @cache_page(60)
    @vary_on_headers("Accept-Language")
    def vary() -> str:
        return f"vary {render('vary')}"

    @app.route("/vary-cookie")
    @cache_page(60)
    @vary_on_cookie
    def vary_cookie() -> str:
        return f"vary cookie {render('vary-cookie')}"

    @app.route("/etag")
    @cache_page(60)
    def etag() -> Response:
        response = Response(f"etag {render('etag')}")
        response.set_etag("v1")
        return response

    @app.route("/missing")
    @cache_page(60)
    def missing() -> str:
        render("missing")
        abort(404)

    @app.route("/fragment")
    def fragment() -> str:
        return render_template_string(FRAGMENT)

    @app.route("/uncached")
    def uncached() -> str:
        return f"uncached {render('uncached')}"

    app.add_url_rule("/items/<int:item>", view_func=Items.as_view("items"))
    app.add_url_rule("/plain", view_func=cache_page(60)(Plain.as_view("plain")))
    return app


def server_app() -> Flask:
    """The app gunicorn serves: file caches shared by its workers, renders counted in files, a /hold view.

    ``FLASK_TEST_SITE_CACHE`` set: the per-site cache too (``Cache(app, middleware=True)``).
    """
    counter_dir = os.environ["FLASK_TEST_COUNTER_DIR"]
    app = create_app(
        {
            "CACHES": {
                "default": {
                    "BACKEND": "cachemere.backends.filebased.FileBasedCache",
                    "LOCATION": os.environ["FLASK_TEST_CACHE_DIR"],
                }
            },
            "RENDER_COUNTER_DIR": counter_dir,
            "ALLOWED_HOSTS": ["127.0.0.1"],
        },
        name="served",
        middleware=bool(os.environ.get("FLASK_TEST_SITE_CACHE")),
    )

    @app.route("/hold/<name>")
    def hold(name: str) -> str:
        # Keeps this worker busy until the test releases it, so the next request goes to another.
        held = Path(counter_dir, f"held-{name}")
        held.with_suffix(".tmp").write_text(str(os.getpid()))
        held.with_suffix(".tmp").rename(held)  # whole, or not there at all
        release = Path(counter_dir, f"release-{name}")
        deadline = time.monotonic() + 30
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return str(os.getpid())

    return app
