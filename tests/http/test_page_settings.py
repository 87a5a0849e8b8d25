"""``settings=`` and ``caches=`` on the page-cache layers: each reads its own settings, no global one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import cachemere
from cachemere import CacheHandler, ImproperlyConfigured
from cachemere.conf import Settings
from cachemere.http import Request, cache_page, get_cache_key, i18n
from cachemere.http import wsgi as wsgi_layer
from cachemere.http.core import Config, page_settings
from helpers.middleware import Site, page


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def locmem(prefix: str = "") -> dict[str, Any]:
    # A store of its own per test: locmem stores are shared per LOCATION in the process.
    entry = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    if prefix:
        entry["KEY_PREFIX"] = prefix
    return {"default": entry}


def stored_in(cache: Any, prefix: str) -> bool:
    key = get_cache_key(Request("GET", "http", "testserver", "/page"), key_prefix=prefix, cache=cache)
    return key is not None and cache.get(key) is not None


def test_own_allowed_hosts_beat_the_global_ones(kind: str, fresh_settings: None) -> None:
    cachemere.configure(ALLOWED_HOSTS=["*"])
    site = Site(kind, None, page(), settings={"CACHES": locmem(), "ALLOWED_HOSTS": ["shop.test"]})
    assert site(headers={"Host": "other.test"})[0] == 400 and site.calls == 0
    assert site(headers={"Host": "shop.test"})[0] == 200
    assert site(headers={"Host": "shop.test"})[2] == b"hello 0" and site.calls == 1
    # The global setting is untouched, and a layer without settings= still follows it.
    assert Site(kind, None, page())(headers={"Host": "other.test"})[0] == 200


def test_without_settings_the_global_hosts_are_read_per_request(kind: str, fresh_settings: None) -> None:
    site = Site(kind, None, page())
    assert site(headers={"Host": "late.test"})[0] == 200
    cachemere.configure(ALLOWED_HOSTS=["example.com"])
    assert site(headers={"Host": "late.test"})[0] == 400


def test_two_layers_with_different_i18n_settings_key_pages_their_own_way(kind: str) -> None:
    shared = locmem()
    plain = Site(kind, None, page(), settings={"CACHES": shared})
    localised = Site(kind, None, page(), settings={"CACHES": shared, "USE_I18N": True, "LANGUAGE_CODE": "fr"})
    assert plain()[2] == b"hello 0"
    assert localised()[2] == b"hello 0" and localised.calls == 1  # its own key: ".fr" added
    with i18n.override("de"):
        assert localised()[2] == b"hello 1" and localised.calls == 2
        assert plain()[2] == b"hello 0" and plain.calls == 1  # USE_I18N off there: one page
    assert localised()[2] == b"hello 0" and localised.calls == 2


def test_time_zone_from_own_settings_keys_the_page(kind: str) -> None:
    shared = locmem()
    chicago = Site(kind, None, page(b"chicago"), settings={"CACHES": shared, "USE_TZ": True})
    tokyo_settings = {"CACHES": shared, "USE_TZ": True, "TIME_ZONE": "Asia/Tokyo"}
    tokyo = Site(kind, None, page(b"tokyo"), settings=tokyo_settings)
    assert chicago()[2] == b"chicago 0"
    assert tokyo()[2] == b"tokyo 0"  # another time zone, another key: not chicago's page
    assert chicago()[2] == b"chicago 0" and tokyo()[2] == b"tokyo 0"
    assert chicago.calls == 1 and tokyo.calls == 1


def test_middleware_settings_come_from_the_source(kind: str) -> None:
    handler = CacheHandler(locmem())
    site = Site(
        kind, None, page(), caches=handler,
        settings={"CACHES": locmem(), "CACHE_MIDDLEWARE_SECONDS": 30, "CACHE_MIDDLEWARE_KEY_PREFIX": "p"},
    )  # fmt: skip
    status, headers, _ = site()
    assert status == 200 and headers["Cache-Control"] == "max-age=30"
    site()
    assert site.calls == 1
    # caches= decides where the alias is found: the page is in that handler's default cache.
    assert stored_in(handler["default"], "p")


def test_caches_alone_resolve_aliases_in_that_handler(kind: str) -> None:
    handler = CacheHandler({"pages": locmem()["default"]})
    site = Site(kind, None, page(), caches=handler, cache_alias="pages")
    site()
    site()
    assert site.calls == 1
    assert stored_in(handler["pages"], "")


def test_an_alias_missing_from_the_handler_is_an_error() -> None:
    with pytest.raises(cachemere.InvalidCacheBackendError, match="'pages'"):
        Config(cache_alias="pages", settings={"CACHES": locmem()})


def test_a_settings_object_is_accepted_as_it_is() -> None:
    source = Settings({"CACHES": locmem(), "ALLOWED_HOSTS": ["a.test", ".b.test"], "USE_TZ": True})
    config = Config(settings=source)
    assert config.settings is source and config.allowed_hosts == ("a.test", ".b.test")
    assert Config().settings is None and Config().allowed_hosts is None  # the global settings


def test_cache_page_takes_settings() -> None:
    calls: list[int] = []

    def view(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(1)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    cached = cache_page(60, settings={"CACHES": locmem(), "ALLOWED_HOSTS": ["only.test"]})(view)
    statuses: list[str] = []
    for host in ("only.test", "only.test", "else.test"):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_HOST": host, "wsgi.url_scheme": "http"}
        b"".join(cached(environ, lambda status, headers, exc=None: statuses.append(status[:3])))
    assert statuses == ["200", "200", "400"] and len(calls) == 1


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"CACHE_MIDDLEWARE_SECOND": 5}, "unknown setting 'CACHE_MIDDLEWARE_SECOND'.*_SECONDS'"),
        ({"CACHES": {"default": {"BACKEND": "x", "TIMEOUTS": 1}}}, r"CACHES\['default'\].*'TIMEOUTS'"),
        ({"CACHE_MIDDLEWARE_SECONDS": "600"}, "CACHE_MIDDLEWARE_SECONDS must be a number"),
        ({"CACHE_MIDDLEWARE_SECONDS": -1}, "CACHE_MIDDLEWARE_SECONDS must be a number >= 0"),
        ({"CACHE_MIDDLEWARE_KEY_PREFIX": 3}, "CACHE_MIDDLEWARE_KEY_PREFIX must be a str"),
        ({"USE_I18N": "yes"}, "USE_I18N must be True or False, got 'yes'"),
        ({"USE_TZ": 1}, "USE_TZ must be True or False"),
        ({"ALLOWED_HOSTS": "example.com"}, "ALLOWED_HOSTS must be a list"),
        ({"ALLOWED_HOSTS": ["ok", 3]}, "ALLOWED_HOSTS must be a list"),
        ({"LANGUAGE_CODE": "en us"}, "invalid language code 'en us'"),
        ({"TIME_ZONE": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        (
            {"CACHE_MIDDLEWARE_CDN_CACHE_CONTROL": "off"},
            "_CDN_CACHE_CONTROL must be 'stricter', True or False",
        ),
    ],
)
def test_bad_settings_are_errors_naming_the_setting(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message) as raised:
        page_settings(values, "myapp")
    assert str(raised.value).startswith("myapp: ")


def test_settings_of_the_wrong_kind_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="settings must be"):
        Config(settings="ALLOWED_HOSTS=*")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="caches must be a CacheHandler"):
        Config(caches={"default": {}})  # type: ignore[arg-type]


def test_request_of_takes_the_hosts_to_allow() -> None:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_HOST": "a.test", "wsgi.url_scheme": "http"}
    assert wsgi_layer.request_of(environ, ("b.test",)) is None
    request = wsgi_layer.request_of(environ, (".a.test",))
    assert request is not None and request.host == "a.test"
