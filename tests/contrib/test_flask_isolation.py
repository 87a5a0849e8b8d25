"""A Flask page that starts a session is served to no one else; apps without CACHES share nothing."""

from __future__ import annotations

import secrets

from flask import Flask, session

from cachemere.contrib.flask import Cache, cache_page, current_cache


def _form_app(name: str) -> Flask:
    app = Flask(name)
    app.config["SECRET_KEY"] = "test-secret"
    Cache(app)

    @app.route("/form")
    @cache_page(60)
    def form() -> str:
        if "csrf" not in session:
            session["csrf"] = secrets.token_hex(8)
        return f"token={session['csrf']}"

    return app


def test_a_page_whose_view_changed_the_session_is_never_served_to_another_visitor() -> None:
    app = _form_app("session-form")
    alice, bob = app.test_client(), app.test_client()
    first = alice.get("/form")
    assert "Set-Cookie" in first.headers and "private" in first.headers["Cache-Control"]
    second = bob.get("/form")  # no cookie, like alice's first visit
    assert second.data != first.data  # bob got his own token, not alice's
    assert "Set-Cookie" in second.headers
    # alice, now with her cookie, reads her session without changing it: her page may be cached for her
    again = [alice.get("/form").data for _ in range(2)]
    assert again == [first.data, first.data]


def test_two_apps_without_caches_keep_their_own_default_cache() -> None:
    apps = []
    for name in ("isolated-a", "isolated-b"):
        app = Flask(name)
        Cache(app)

        @app.route("/")
        @cache_page(60)
        def home(name: str = name) -> str:
            return f"I am {name}"

        apps.append(app)
    assert apps[0].test_client().get("/").data == b"I am isolated-a"
    assert apps[1].test_client().get("/").data == b"I am isolated-b"
    with apps[0].app_context():
        current_cache.set("x", "from a")
    with apps[1].app_context():
        assert current_cache.get("x") is None
