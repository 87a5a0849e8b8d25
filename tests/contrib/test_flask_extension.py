"""The Flask extension: settings from app.config, two apps in one process, the Jinja tag, the site cache."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, render_template_string, request

import cachemere
from cachemere import ImproperlyConfigured, InvalidCacheBackendError
from cachemere.contrib.flask import Cache, CacheMiddleware, cache_page, current_cache, current_caches
from cachemere.http import i18n
from helpers.flask_app import CLOSES, FRAGMENT, create_app, locmem


def renders(app: Flask, name: str) -> int:
    return int(app.extensions["renders"][name])


@pytest.fixture(autouse=True)
def no_active_language() -> Iterator[None]:
    yield
    i18n.deactivate()  # what a before_request hook activated stays in this thread's context


def localised(app: Flask) -> Flask:
    # What a locale layer does: activate the request's language around the view.
    @app.before_request
    def activate() -> None:
        language = request.headers.get("Accept-Language")
        if language:
            i18n.activate(language)
        else:
            i18n.deactivate()

    return app


def test_two_apps_in_one_process_keep_their_own_settings(fresh_settings: None) -> None:
    shared_store = uuid.uuid4().hex  # one locmem store under both: only the key prefix separates them
    a = localised(create_app(
        {"CACHES": {"default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": shared_store,
                                "KEY_PREFIX": "a"}},
         "ALLOWED_HOSTS": ["a.test"], "USE_I18N": False},
        name="a",
    ))  # fmt: skip
    b = localised(create_app(
        {"CACHES": {"default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": shared_store,
                                "KEY_PREFIX": "b"}},
         "ALLOWED_HOSTS": ["b.test"], "USE_I18N": True, "LANGUAGE_CODE": "de"},
        name="b",
    ))  # fmt: skip
    client_a, client_b = a.test_client(), b.test_client()
    for _ in range(2):  # interleaved, twice: the second round is all hits
        assert client_a.get("/str", headers={"Host": "a.test"}).data == b"str 1"
        assert client_b.get("/str", headers={"Host": "b.test"}).data == b"str 1"
        assert client_a.get("/str", headers={"Host": "a.test", "Accept-Language": "fr"}).data == b"str 1"
        assert client_b.get("/str", headers={"Host": "b.test", "Accept-Language": "fr"}).data == b"str 2"
        assert client_a.get("/str", headers={"Host": "b.test"}).status_code == 400
        assert client_b.get("/str", headers={"Host": "a.test"}).status_code == 400
    assert renders(a, "str") == 1 and renders(b, "str") == 2  # b keys by language (USE_I18N), a does not
    # No global setting was read, let alone changed.
    assert not cachemere.settings.configured


def test_settings_come_from_app_config_and_are_read_once() -> None:
    app = create_app({"CACHE_MIDDLEWARE_SECONDS": 42, "CACHE_MIDDLEWARE_KEY_PREFIX": "site"}, middleware=True)
    app.config["CACHE_MIDDLEWARE_SECONDS"] = 7  # after Cache(app): not seen
    client = app.test_client()
    first, second = client.get("/uncached"), client.get("/uncached")
    assert first.headers["Cache-Control"] == "max-age=42" and second.data == first.data == b"uncached 1"
    state = app.extensions["cachemere"]
    assert state.settings.CACHE_MIDDLEWARE_KEY_PREFIX == "site"
    assert state.settings.SECRET_KEY == "test-secret-key"


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"CACHES": {"default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "TIMEOUTS": 5}}},
         ImproperlyConfigured, r"CACHES\['default'\] has an unknown key 'TIMEOUTS'.*'TIMEOUT'"),
        ({"CACHES": {"default": {"BACKEND": "nowhere.Cache"}}},
         InvalidCacheBackendError, "Could not find backend 'nowhere.Cache' for cache 'default'"),
        ({"CACHES": {"default": {"BACKEND": "cachemere.backends.locmem.LocMemCache",
                                 "OPTIONS": {"MAX_ENTRIE": 5}}}},
         ImproperlyConfigured, "unknown OPTIONS key 'MAX_ENTRIE'"),
        ({"USE_I18N": "yes"}, ImproperlyConfigured, "USE_I18N must be True or False, got 'yes'"),
        ({"ALLOWED_HOSTS": "example.com"}, ImproperlyConfigured, "ALLOWED_HOSTS must be a list"),
        ({"CACHE_MIDDLEWARE_SECONDS": "600"}, ImproperlyConfigured, "_SECONDS must be a number"),
        ({"TIME_ZONE": "Europe/Nowhere"}, ImproperlyConfigured, "unknown time zone 'Europe/Nowhere'"),
    ],
)  # fmt: skip
def test_bad_configuration_is_an_error_naming_the_key(
    config: dict[str, Any], error: type[Exception], message: str
) -> None:
    app = Flask("misconfigured")
    app.config.update(config)
    with pytest.raises(error, match=message) as raised:
        Cache(app)
    assert str(raised.value).startswith("app.config of Flask app 'misconfigured': ")


def test_a_secret_key_is_never_in_an_error() -> None:
    app = Flask("secretive")
    app.config.update(SECRET_KEY="hunter2-do-not-print", USE_TZ="no")
    with pytest.raises(ImproperlyConfigured) as raised:
        Cache(app)
    assert "hunter2" not in str(raised.value)


def test_init_app_pattern_and_the_cache_proxies() -> None:
    ext = Cache()
    apps = [Flask("one"), Flask("two")]
    for app in apps:
        app.config["CACHES"] = locmem()
        ext.init_app(app)

        @app.route("/")
        def show() -> str:
            return str(current_cache.get("who"))

        @app.route("/alias")
        def alias() -> str:
            return str(current_caches["default"].get("who"))

    for app in apps:
        with app.app_context():
            ext.cache.set("who", app.name)
            assert ext.caches["default"].get("who") == app.name
    assert [app.test_client().get("/").data for app in apps] == [b"one", b"two"]
    assert [app.test_client().get("/alias").data for app in apps] == [b"one", b"two"]
    with pytest.raises(RuntimeError, match="outside an app context"):
        ext.caches  # noqa: B018 - two apps and no app context: which one is ambiguous


def test_cache_bound_to_one_app_works_outside_a_context() -> None:
    app = Flask("bound")
    app.config["CACHES"] = locmem()
    ext = Cache(app)
    ext.cache.set("k", "v")
    with app.app_context():
        assert current_cache.get("k") == "v"
    with pytest.raises(RuntimeError, match="Working outside of application context"):
        current_cache.get("k")


def test_registering_twice_is_an_error() -> None:
    app = create_app()
    with pytest.raises(RuntimeError, match="already has a cachemere extension"):
        Cache(app)


def test_caches_are_closed_when_the_app_context_ends() -> None:
    location = uuid.uuid4().hex
    counting = {"BACKEND": "helpers.flask_app.CountingCloses", "LOCATION": location}
    app = create_app({"CACHES": {"default": counting}})
    before = CLOSES[location]
    client = app.test_client()
    client.get("/str")
    client.get("/str")
    assert CLOSES[location] - before == 2


def test_the_jinja_tag_uses_the_apps_own_caches() -> None:
    a, b = create_app(name="a"), create_app(name="b")
    for app in (a, b):
        client = app.test_client()
        assert client.get("/fragment").data == b"sidebar 1 page 1"
        assert client.get("/fragment").data == b"sidebar 1 page 2"  # the fragment is a hit, the page is not
    assert renders(a, "fragment") == 1 and renders(b, "fragment") == 1  # b did not see a's fragment
    with a.app_context():
        assert "sidebar 1" in str(current_caches["default"].get(_fragment_key()))


def _fragment_key() -> str:
    return cachemere.make_template_fragment_key("sidebar")


def test_the_jinja_tag_takes_an_alias_of_the_app() -> None:
    app = create_app({"CACHES": {**locmem(), "fragments": locmem()["default"]}})

    @app.route("/using")
    def using() -> str:
        return render_template_string('{% cache 60 box using="fragments" %}box{% endcache %}')

    app.test_client().get("/using")
    with app.app_context():
        assert current_caches["fragments"].get(cachemere.make_template_fragment_key("box")) == "box"
        assert current_caches["default"].get(cachemere.make_template_fragment_key("box")) is None
    assert FRAGMENT.startswith("{% cache")


def test_the_per_site_option_caches_every_page() -> None:
    app = create_app({"CACHE_MIDDLEWARE_SECONDS": 120}, middleware=True)
    client = app.test_client()
    answers = [client.get("/uncached") for _ in range(2)]
    assert [r.data for r in answers] == [b"uncached 1", b"uncached 1"]
    assert answers[1].headers["Cache-Control"] == "max-age=120" and answers[1].headers["Age"] == "0"


def test_the_per_site_one_line_with_the_apps_settings() -> None:
    app = Flask("one_line")
    app.config.update(CACHES=locmem(), CACHE_MIDDLEWARE_SECONDS=90, ALLOWED_HOSTS=["site.test"])
    cache = Cache(app)
    app.wsgi_app = CacheMiddleware(app.wsgi_app, settings=cache.settings, caches=cache.caches)  # type: ignore
    calls: list[int] = []

    @app.route("/")
    def index() -> str:
        calls.append(1)
        return "index"

    client = app.test_client()
    assert client.get("/", headers={"Host": "site.test"}).headers["Cache-Control"] == "max-age=90"
    assert client.get("/", headers={"Host": "site.test"}).data == b"index" and len(calls) == 1
    assert client.get("/", headers={"Host": "other.test"}).status_code == 400 and len(calls) == 1


def test_per_site_cache_and_decorated_view_together() -> None:
    app = create_app({"CACHE_MIDDLEWARE_SECONDS": 120}, middleware=True)
    client = app.test_client()
    client.get("/str")
    # cache_page's timeout beats the site's for its own page (its max-age), and one render serves both.
    assert client.get("/str").headers["Cache-Control"] == "max-age=60" and renders(app, "str") == 1


def test_a_decorated_view_in_two_apps_builds_one_layer_per_app() -> None:
    view_calls: list[str] = []

    @cache_page(60)
    def shared() -> str:
        view_calls.append(request.host)
        return f"shared for {request.host}"

    apps = []
    for name in ("x", "y"):
        app = Flask(name)
        app.config["CACHES"] = locmem()
        Cache(app)
        app.add_url_rule("/", view_func=shared)
        apps.append(app)
    for _ in range(2):
        for app in apps:
            assert app.test_client().get("/").data == b"shared for localhost"
    assert len(view_calls) == 2
    assert all(len(app.extensions["cachemere"].views) == 1 for app in apps)
