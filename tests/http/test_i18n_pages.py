"""Pages per language (USE_I18N) and per time zone (USE_TZ) on one URL, over WSGI and ASGI.

The app renders in the active language / time zone of :mod:`cachemere.http.i18n`;
a locale layer activates it from the request's cookie with ``override``, as an
app's locale middleware would.  Nothing in the response varies on the cookie,
so only the key's language / time-zone suffix keeps the pages apart.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

import cachemere
from cachemere import CacheHandler
from cachemere.http import i18n
from helpers.http import Site

_names = itertools.count()

# (split, outside): CacheMiddleware inside the locale layer; Update and Fetch around it; the
# documented stack Update(locale(Fetch(app))).
STACKS = {
    "one-layer": (False, False),
    "split-locale-outside": (True, True),
    "split-locale-between": (True, False),
}


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=list(STACKS))
def stack(request: pytest.FixtureRequest) -> tuple[bool, bool]:
    return STACKS[str(request.param)]


@pytest.fixture
def cache() -> Any:
    settings = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": f"i18n-pages-{next(_names)}"}
    return CacheHandler({"pages": settings}, SECRET_KEY="test-secret")["pages"]


@pytest.fixture
def sites() -> Iterator[list[Site]]:
    made: list[Site] = []
    yield made
    for site in made:
        site.close()


def cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def language_layer(headers: dict[str, str]) -> AbstractContextManager[None]:
    return i18n.override(cookie(headers, "lang"))


def timezone_layer(headers: dict[str, str]) -> AbstractContextManager[None]:
    return i18n.override_timezone(cookie(headers, "tz"))


def rendered(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    body = f"{i18n.get_language()} {i18n.get_current_timezone_name()} {len(request['path'])}".encode()
    return 200, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))], body


def site_for(kind: str, cache: Any, stack: tuple[bool, bool], layer: Any, sites: list[Site]) -> Site:
    split, outside = stack
    site = Site(kind, cache, rendered, split=split, around=layer, outside=outside)
    sites.append(site)
    return site


def test_two_languages_on_one_url_are_cached_separately(
    kind: str, cache: Any, stack: tuple[bool, bool], sites: list[Site], fresh_settings: None
) -> None:
    cachemere.configure(USE_I18N=True, LANGUAGE_CODE="en-us")
    site = site_for(kind, cache, stack, language_layer, sites)
    assert site(headers={"Cookie": "lang=fr"})[2].startswith(b"fr ")
    assert site(headers={"Cookie": "lang=de"})[2].startswith(b"de ")
    assert site()[2].startswith(b"en-us ")
    assert site.calls == 3
    # Each is now a hit in its own language.
    assert site(headers={"Cookie": "lang=de"})[2].startswith(b"de ")
    assert site(headers={"Cookie": "lang=fr"})[2].startswith(b"fr ")
    assert site()[2].startswith(b"en-us ")
    assert site.calls == 3


def test_vary_accept_language_under_i18n_still_keys_on_the_active_language(
    kind: str, cache: Any, sites: list[Site], fresh_settings: None
) -> None:
    # Under USE_I18N the header list drops Accept-Language (the language is in the key already):
    # the same Accept-Language with two active languages must still be two pages.
    cachemere.configure(USE_I18N=True)

    def view(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        status, headers, body = rendered(request)
        return status, [*headers, ("Vary", "Accept-Language")], body

    site = Site(kind, cache, view, around=language_layer)
    sites.append(site)
    same = {"Accept-Language": "fr"}
    assert site(headers={**same, "Cookie": "lang=fr"})[2].startswith(b"fr ")
    assert site(headers={**same, "Cookie": "lang=de"})[2].startswith(b"de ")
    assert site(headers={**same, "Cookie": "lang=fr"})[2].startswith(b"fr ") and site.calls == 2


def test_without_use_i18n_the_language_is_not_in_the_key(
    kind: str, cache: Any, sites: list[Site], fresh_settings: None
) -> None:
    # The control for the tests above: with USE_I18N off, the second language gets the first's page.
    cachemere.configure(USE_I18N=False)
    site = site_for(kind, cache, (False, False), language_layer, sites)
    assert site(headers={"Cookie": "lang=fr"})[2].startswith(b"fr ")
    assert site(headers={"Cookie": "lang=de"})[2].startswith(b"fr ") and site.calls == 1


def test_two_time_zones_on_one_url_are_cached_separately(
    kind: str, cache: Any, stack: tuple[bool, bool], sites: list[Site], fresh_settings: None
) -> None:
    cachemere.configure(USE_TZ=True, TIME_ZONE="America/Chicago")
    site = site_for(kind, cache, stack, timezone_layer, sites)
    assert site(headers={"Cookie": "tz=Europe/Paris"})[2].split()[1] == b"Europe/Paris"
    assert site(headers={"Cookie": "tz=Asia/Tokyo"})[2].split()[1] == b"Asia/Tokyo"
    assert site()[2].split()[1] == b"America/Chicago"
    assert site(headers={"Cookie": "tz=Asia/Tokyo"})[2].split()[1] == b"Asia/Tokyo"
    assert site(headers={"Cookie": "tz=Europe/Paris"})[2].split()[1] == b"Europe/Paris"
    assert site.calls == 3


def test_language_and_time_zone_together_make_four_pages(
    kind: str, cache: Any, sites: list[Site], fresh_settings: None
) -> None:
    cachemere.configure(USE_I18N=True, USE_TZ=True)

    class both:
        def __init__(self, headers: dict[str, str]) -> None:
            self.contexts = [language_layer(headers), timezone_layer(headers)]

        def __enter__(self) -> None:
            for context in self.contexts:
                context.__enter__()

        def __exit__(self, *exc: object) -> None:
            for context in reversed(self.contexts):
                context.__exit__(None, None, None)

    site = Site(kind, cache, rendered, around=both)
    sites.append(site)
    combos = [(lang, tz) for lang in ("fr", "de") for tz in ("Europe/Paris", "Asia/Tokyo")]
    for _ in range(2):
        for lang, tz in combos:
            body = site(headers={"Cookie": f"lang={lang}; tz={tz}"})[2].split()
            assert body[:2] == [lang.encode(), tz.encode()]
    assert site.calls == 4
