"""Page-cache keys: Django 6.1's exact scheme, the header list per URL on real caches, nothing unkeyed."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from cachemere import CacheHandler, configure
from cachemere.backends.base import BaseCache, adrive, drive
from cachemere.backends.redis import RedisCache
from cachemere.conf import Settings
from cachemere.http import i18n
from cachemere.http.keys import (
    aget_cache_key,
    alearn_cache_key,
    cache_header_key,
    cache_page_key,
    generation_key,
    get_cache_key,
    get_cache_key_logic,
    header_list_for,
    learn_cache_key,
    learn_cache_key_logic,
)
from cachemere.http.messages import Headers, Request
from servers.redis import RedisServer

PLAIN = Settings({})
I18N = Settings({"USE_I18N": True})
TZ = Settings({"USE_TZ": True})
BOTH = Settings({"USE_I18N": True, "USE_TZ": True})

URL_HASH = "18a03f9c9649f7d684af5db3524f5c99"  # md5("http://www.example.com/cache/test/")
NOTHING = "d41d8cd98f00b204e9800998ecf8427e"  # md5(b"")
ABSENT_ONE = "4792b9bac48c3f0441b0d9b0d7af8f2c"  # md5(b"-,")


def req(path: str = "/cache/test/", query: str = "", method: str = "GET", **headers: str) -> Request:
    pairs = [(name.replace("_", "-"), value) for name, value in headers.items()]
    return Request(method, "http", "www.example.com", path, query, Headers(pairs))


def locmem(location: str) -> BaseCache:
    return CacheHandler({"k": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": location}})[
        "k"
    ]


def netstrings(*values: str | None) -> str:
    """The spec's header digest (section 4.1): a netstring per present value, ``-,`` per absent one."""
    md5 = hashlib.md5(usedforsecurity=False)
    for value in values:
        md5.update(b"-," if value is None else b"%d:%s," % (len(value.encode()), value.encode()))
    return md5.hexdigest()


# -- the spec's vectors --------------------------------------------------------


def test_page_key_without_vary_is_djangos_vector() -> None:
    assert cache_page_key(req(), "GET", [], "settingsprefix", settings=PLAIN) == (
        "views.decorators.cache.cache_page.settingsprefix.GET."
        "18a03f9c9649f7d684af5db3524f5c99.d41d8cd98f00b204e9800998ecf8427e"
    )


def test_header_key_is_djangos_vector() -> None:
    assert cache_header_key(req(), "settingsprefix", settings=PLAIN) == (
        "views.decorators.cache.cache_header.settingsprefix.18a03f9c9649f7d684af5db3524f5c99"
    )


def test_query_string_is_part_of_the_url_hash() -> None:
    # Django's test_get_cache_key_with_query vector.
    request = req(query="test=1")
    assert cache_page_key(request, "GET", [], "", settings=PLAIN) == (
        "views.decorators.cache.cache_page..GET.beaf87a9a99ee81c673ea2d67ccbec2a." + NOTHING
    )


def test_head_request_learns_a_key_readable_as_get_with_an_absent_header() -> None:
    # Django's test_learn_cache_key: Vary: Pony, no Pony header -> md5(b"-,").
    cache = locmem("vector")
    request = req(method="HEAD")
    learnt = learn_cache_key(
        request, Headers([("Vary", "Pony")]), key_prefix="settingsprefix", cache=cache, settings=PLAIN
    )
    assert learnt == f"views.decorators.cache.cache_page.settingsprefix.HEAD.{URL_HASH}.{ABSENT_ONE}"
    assert get_cache_key(request, "settingsprefix", cache=cache, settings=PLAIN) == (
        f"views.decorators.cache.cache_page.settingsprefix.GET.{URL_HASH}.{ABSENT_ONE}"
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((None,), ABSENT_ONE),
        (("",), netstrings("")),
        (("gzip",), netstrings("gzip")),
        ((None, "x"), netstrings(None, "x")),
        (("42º", "😀"), netstrings("42º", "😀")),
    ],
)
def test_header_digest_is_61_netstrings(values: tuple[str | None, ...], expected: str) -> None:
    names = ["HTTP_X_A", "HTTP_X_B"][: len(values)]
    headers = {name[5:]: value for name, value in zip(names, values) if value is not None}
    key = cache_page_key(req(**headers), "GET", names, "", settings=PLAIN)
    assert key.endswith("." + expected)


# -- absent vs empty, no collisions ---------------------------------------------


def test_absent_header_and_empty_header_get_different_keys() -> None:
    absent = cache_page_key(req(), "GET", ["HTTP_PONY"], "", settings=PLAIN)
    empty = cache_page_key(req(Pony=""), "GET", ["HTTP_PONY"], "", settings=PLAIN)
    assert absent != empty


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("ab", ""), ("a", "b")),
        (("a", "bc"), ("ab", "c")),
        (("1:a,", ""), ("1:a", ",")),
        ((None, ""), ("", None)),
    ],
)
def test_adjacent_header_values_never_collide(
    first: tuple[str | None, str | None], second: tuple[str | None, str | None]
) -> None:
    names = ["HTTP_X_A", "HTTP_X_B"]

    def key(values: tuple[str | None, str | None]) -> str:
        headers = {"X_A": values[0], "X_B": values[1]}
        return cache_page_key(
            req(**{k: v for k, v in headers.items() if v is not None}), "GET", names, "", settings=PLAIN
        )

    assert key(first) != key(second)


# -- Django 5.2 as an oracle where 5.2 and 6.1 agree -----------------------------


@pytest.fixture(scope="module")
def django_request() -> Iterator[Any]:
    from django.conf import settings as django_settings

    if not django_settings.configured:
        django_settings.configure(ALLOWED_HOSTS=["*"], USE_I18N=False, USE_TZ=False)
    import django

    django.setup()
    from django.test import RequestFactory, override_settings

    factory = RequestFactory()
    # Another test module may have configured Django differently: the oracle needs these.
    oracle_settings = override_settings(ALLOWED_HOSTS=["*"], USE_I18N=False, USE_TZ=False)
    oracle_settings.enable()

    def build(scheme: str, host: str, path: str, query: str, headers: dict[str, str]) -> Any:
        meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
        request = factory.generic("GET", "/", secure=scheme == "https", HTTP_HOST=host, **meta)
        request.path = path  # the router's (decoded) path, "?" or "%" included
        del request.META["HTTP_COOKIE"]  # the factory's empty Cookie would be a present header
        request.META["QUERY_STRING"] = query
        return request

    yield build
    oracle_settings.disable()


URLS = [
    ("http", "www.example.com", "/cache/test/", ""),
    ("https", "www.example.com", "/cache/test/", ""),
    ("http", "www.example.com:8000", "/cache/test/", ""),
    ("http", "other.example.com", "/cache/test/", ""),
    ("http", "www.example.com", "/cache/test/", "a=1&b=2"),
    ("http", "www.example.com", "/cache/test/", "b=2&a=1"),
    ("http", "www.example.com", "/cache/test/", "x;y=1"),
    ("http", "www.example.com", "/cache/test/", "q=%20x&r=ü"),
    ("http", "www.example.com", "/with space/", ""),
    ("http", "www.example.com", "/ünï/côdé", ""),
    ("http", "www.example.com", "/account;x.css", ""),
    ("http", "www.example.com", "/account/x.css", ""),
    ("http", "www.example.com", "/a?b#c", ""),
    ("http", "www.example.com", "/50%/a=b", ""),
    ("http", "www.example.com", "/nul\x00byte", ""),
    ("http", "www.example.com", "//evil.example/x", "next=/"),
]


@pytest.mark.parametrize(("scheme", "host", "path", "query"), URLS)
def test_url_part_matches_django(django_request: Any, scheme: str, host: str, path: str, query: str) -> None:
    from django.utils.cache import _generate_cache_header_key, _generate_cache_key

    ours = Request("GET", scheme, host, path, query, Headers([("Accept-Encoding", "gzip")]))
    theirs = django_request(scheme, host, path, query, {})
    assert cache_header_key(ours, "p", settings=PLAIN) == _generate_cache_header_key("p", theirs)
    # An absent header hashes alike in 5.2.19 and 6.1 (present values differ: 5.2 concatenates raw).
    names = ["HTTP_ACCEPT_ENCODING", "HTTP_PONY"]
    theirs = django_request(scheme, host, path, query, {"Accept-Encoding": "gzip"})
    assert cache_page_key(ours, "HEAD", [], "p", settings=PLAIN) == _generate_cache_key(
        theirs, "HEAD", [], "p"
    )
    assert cache_page_key(ours, "GET", names[1:], "p", settings=PLAIN) == _generate_cache_key(
        theirs, "GET", names[1:], "p"
    )


@pytest.mark.parametrize(
    "vary", ["Accept-Encoding", "accept-encoding,Cookie", "X-One,X-Two", "Accept,accept"]
)
def test_header_list_matches_django(django_request: Any, vary: str) -> None:
    # Spellings both versions split alike (5.2 splits on a regex, 6.1 strips each token).
    from django.core.cache import caches as django_caches
    from django.http import HttpResponse
    from django.utils.cache import _generate_cache_header_key
    from django.utils.cache import learn_cache_key as django_learn

    response = HttpResponse()
    response.headers["Vary"] = vary
    theirs = django_request("http", "h", "/", "", {})
    django_learn(theirs, response, 5, "p", cache=django_caches["default"])
    header_list = django_caches["default"].get(_generate_cache_header_key("p", theirs))
    assert header_list_for(vary, settings=PLAIN) == header_list


def test_dot_segments_are_kept_as_the_router_saw_them(django_request: Any) -> None:
    # Better than Django: its build_absolute_uri() resolves "/a/../b" to "/b", so a page the
    # router served for "/static/../home" would be filed under "/home"'s key.
    from django.utils.cache import _generate_cache_header_key

    assert _generate_cache_header_key("", django_request("http", "h", "/x/../home", "", {})) == (
        _generate_cache_header_key("", django_request("http", "h", "/home", "", {}))
    )
    home = cache_header_key(req("/home"), "", settings=PLAIN)
    for path in ("/x/../home", "/x/./home", "/./home"):
        assert cache_header_key(req(path), "", settings=PLAIN) != home


# -- header_list_for ------------------------------------------------------------


@pytest.mark.parametrize(
    ("vary", "settings", "expected"),
    [
        (None, PLAIN, []),
        ("", PLAIN, []),
        (" , ,", PLAIN, []),
        ("Cookie", PLAIN, ["HTTP_COOKIE"]),
        ("Cookie, Accept-Encoding", PLAIN, ["HTTP_ACCEPT_ENCODING", "HTTP_COOKIE"]),
        ("accept-language, Cookie", PLAIN, ["HTTP_ACCEPT_LANGUAGE", "HTTP_COOKIE"]),
        ("accept-language, Cookie", I18N, ["HTTP_COOKIE"]),
        ("Accept-Language", I18N, []),
    ],
)
def test_header_list_for(vary: str | None, settings: Settings, expected: list[str]) -> None:
    assert header_list_for(vary, settings=settings) == expected


def test_accept_language_in_vary_does_not_change_the_key_under_i18n() -> None:
    request = req(Accept_Language="de")
    with_it = header_list_for("Accept-Language, Cookie", settings=I18N)
    without = header_list_for("Cookie", settings=I18N)
    assert cache_page_key(request, "GET", with_it, "", settings=I18N) == cache_page_key(
        request, "GET", without, "", settings=I18N
    )


# -- language and time zone suffixes --------------------------------------------


def test_two_languages_give_two_keys_under_use_i18n() -> None:
    with i18n.override("en-us"):
        english = cache_page_key(req(), "GET", [], "", settings=I18N)
        english_header = cache_header_key(req(), "", settings=I18N)
    with i18n.override("de"):
        german = cache_page_key(req(), "GET", [], "", settings=I18N)
        german_header = cache_header_key(req(), "", settings=I18N)
    assert english == f"views.decorators.cache.cache_page..GET.{URL_HASH}.{NOTHING}.en-us"
    assert german == f"views.decorators.cache.cache_page..GET.{URL_HASH}.{NOTHING}.de"
    assert english_header.endswith(".en-us") and german_header.endswith(".de")


def test_two_time_zones_give_two_keys_under_use_tz() -> None:
    with i18n.override_timezone("Europe/Paris"):
        paris = cache_page_key(req(), "GET", [], "", settings=TZ)
    with i18n.override_timezone("UTC"):
        utc = cache_page_key(req(), "GET", [], "", settings=TZ)
    assert paris.endswith(f"{NOTHING}.Europe/Paris")
    assert utc.endswith(f"{NOTHING}.UTC")


def test_suffix_defaults_to_settings_language_then_time_zone() -> None:
    # Django's verified stored key: ...GET.<md5>.<md5>.en-us.America/Chicago
    assert cache_page_key(req(), "GET", [], "", settings=BOTH).endswith(f"{NOTHING}.en-us.America/Chicago")
    mine = Settings({"USE_I18N": True, "USE_TZ": True, "LANGUAGE_CODE": "fr", "TIME_ZONE": "Asia/Tokyo"})
    assert cache_header_key(req(), "", settings=mine).endswith(f"{URL_HASH}.fr.Asia/Tokyo")


def test_language_and_time_zone_are_ignored_when_disabled() -> None:
    with i18n.override("de"), i18n.override_timezone("UTC"):
        assert cache_page_key(req(), "GET", [], "", settings=PLAIN).endswith(NOTHING)
        assert cache_header_key(req(), "", settings=PLAIN).endswith(URL_HASH)


def test_global_settings_are_read_at_call_time(fresh_settings: None) -> None:
    configure(USE_I18N=True, CACHE_MIDDLEWARE_KEY_PREFIX="site")
    with i18n.override("nl"):
        assert cache_header_key(req(), "site").endswith(".nl")
    configure(USE_I18N=False)
    assert cache_header_key(req(), "site").endswith(URL_HASH)


# -- nothing outside the learnt Vary list reaches a key -----------------------------


UNKEYED = {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "10.0.0.1",
    "X-Original-URL": "/admin",
    "X-Rewrite-URL": "/admin",
    "X-HTTP-Method-Override": "POST",
    "Host": "evil.example",
    "Cookie": "session=abc",
    "Authorization": "Bearer secret",
    "Accept-Language": "de",
    "User-Agent": "curl",
}


@pytest.mark.parametrize(("name", "value"), sorted(UNKEYED.items()))
def test_headers_outside_vary_do_not_change_the_key(name: str, value: str) -> None:
    cache = locmem("unkeyed")
    base = Request("GET", "https", "www.example.com", "/p", "a=1", Headers([("Accept-Encoding", "gzip")]))
    poisoned = Request(
        "GET", "https", "www.example.com", "/p", "a=1", Headers([("Accept-Encoding", "gzip"), (name, value)])
    )
    learnt = learn_cache_key(base, Headers([("Vary", "Accept-Encoding")]), 60, "", cache, settings=PLAIN)
    assert get_cache_key(poisoned, "", cache=cache, settings=PLAIN) == learnt
    # ...while the one header the response varies on does change it, whatever its case.
    other = Request("GET", "https", "www.example.com", "/p", "a=1", Headers([("ACCEPT-ENCODING", "br")]))
    assert get_cache_key(other, "", cache=cache, settings=PLAIN) != learnt


def test_content_type_in_vary_is_the_requests_content_type() -> None:
    # Better than Django, whose META keeps it as CONTENT_TYPE, so HTTP_CONTENT_TYPE is always absent.
    names = header_list_for("Content-Type", settings=PLAIN)
    json = cache_page_key(req(Content_Type="application/json"), "GET", names, "", settings=PLAIN)
    form = cache_page_key(req(Content_Type="text/plain"), "GET", names, "", settings=PLAIN)
    assert names == ["HTTP_CONTENT_TYPE"] and json != form


# -- the header list on real caches, through the step protocol -------------------------


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(params=["locmem", "files", "redis"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseCache]:
    if request.param == "locmem":
        entry = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": str(tmp_path)}
    elif request.param == "files":
        entry = {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "c")}
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.admin.flushall()
        entry = {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": server.url}
    handler = CacheHandler({"pages": {**entry, "KEY_PREFIX": "kp"}})
    yield handler["pages"]
    handler.close_all()


def test_learn_stores_the_header_list_per_url(cache: BaseCache) -> None:
    request = req(Accept_Encoding="gzip", Cookie="a=1")
    response = Headers([("Vary", "Cookie"), ("Vary", "Accept-Encoding")])
    key = drive(cache, learn_cache_key_logic(request, response, 60, "pfx", settings=PLAIN))
    stored = cache.get(cache_header_key(request, "pfx", settings=PLAIN))
    assert stored == ["HTTP_ACCEPT_ENCODING", "HTTP_COOKIE"]
    assert key == f"views.decorators.cache.cache_page.pfx.GET.{URL_HASH}.{netstrings('gzip', 'a=1')}"
    same = req(Cookie="a=1", Accept_Encoding="gzip")
    assert drive(cache, get_cache_key_logic(same, "pfx", settings=PLAIN)) == key
    # The backend's own KEY_PREFIX applies on top (Django "concatenates" them).
    assert cache.make_key(cache_header_key(request, "pfx", settings=PLAIN)).startswith("kp:1:views.")


def test_one_header_list_per_url_the_last_response_decides(cache: BaseCache) -> None:
    request = req(Accept_Encoding="gzip", Cookie="a=1")
    drive(cache, learn_cache_key_logic(request, Headers([("Vary", "Cookie")]), 60, "", settings=PLAIN))
    drive(
        cache, learn_cache_key_logic(request, Headers([("Vary", "Accept-Encoding")]), 60, "", settings=PLAIN)
    )
    assert cache.get(cache_header_key(request, "", settings=PLAIN)) == ["HTTP_ACCEPT_ENCODING"]
    # Another URL (or query string) has its own list.
    assert cache.get(cache_header_key(req(query="x=1"), "", settings=PLAIN)) is None


def test_unlearnt_url_has_no_key(cache: BaseCache) -> None:
    assert drive(cache, get_cache_key_logic(req(), "", settings=PLAIN)) is None
    assert get_cache_key(req(), "", cache=cache, settings=PLAIN) is None


def test_no_vary_stores_an_empty_list_and_still_has_a_key(cache: BaseCache) -> None:
    learn_cache_key(req(), Headers(), 60, "", cache, settings=PLAIN)
    assert cache.get(cache_header_key(req(), "", settings=PLAIN)) == []
    assert get_cache_key(req(), "", cache=cache, settings=PLAIN) == (
        f"views.decorators.cache.cache_page..GET.{URL_HASH}.{NOTHING}"
    )


def test_header_list_expires_with_the_timeout(cache: BaseCache, request: pytest.FixtureRequest) -> None:
    if isinstance(cache, RedisCache):
        # The server keeps the clock: the header list carries the timeout as its TTL.
        learn_cache_key(req(), Headers(), 10, "", cache, settings=PLAIN)
        made = cache.make_key(cache_header_key(req(), "", settings=PLAIN))
        assert 0 < request.getfixturevalue("redis_server").admin.ttl(made) <= 10
        return
    real = time.time
    with mock.patch.object(time, "time", real):
        learn_cache_key(req(), Headers(), 10, "", cache, settings=PLAIN)
    with mock.patch.object(time, "time", lambda: real() + 5):
        assert get_cache_key(req(), "", cache=cache, settings=PLAIN) is not None
    with mock.patch.object(time, "time", lambda: real() + 11):
        assert get_cache_key(req(), "", cache=cache, settings=PLAIN) is None


def test_something_else_under_the_header_key_means_rebuild(cache: BaseCache) -> None:
    header_key = cache_header_key(req(), "", settings=PLAIN)
    for junk in ("HTTP_COOKIE", {"HTTP_COOKIE": 1}, [1, 2], 7):
        cache.set(header_key, junk)
        assert get_cache_key(req(), "", cache=cache, settings=PLAIN) is None


def test_async_wrappers_use_the_same_keys(cache: BaseCache) -> None:
    request = req(Cookie="a=1")

    async def run() -> tuple[str, str | None, str | None]:
        learnt = await alearn_cache_key(request, Headers([("Vary", "Cookie")]), 60, "", cache, settings=PLAIN)
        found = await aget_cache_key(request, "", cache=cache, settings=PLAIN)
        head = await adrive(cache, get_cache_key_logic(request, "", "HEAD", settings=PLAIN))
        return learnt, found, head

    learnt, found, head = asyncio.run(run())
    assert learnt == found == cache_page_key(request, "GET", ["HTTP_COOKIE"], "", settings=PLAIN)
    assert head == cache_page_key(request, "HEAD", ["HTTP_COOKIE"], "", settings=PLAIN)
    assert get_cache_key(request, "", cache=cache, settings=PLAIN) == learnt


def test_language_keys_on_a_real_cache(cache: BaseCache) -> None:
    with i18n.override("en-us"):
        english = learn_cache_key(req(), Headers(), 60, "", cache, settings=I18N)
    with i18n.override("de"):
        assert get_cache_key(req(), "", cache=cache, settings=I18N) is None  # learnt for English only
        german = learn_cache_key(req(), Headers(), 60, "", cache, settings=I18N)
        assert get_cache_key(req(), "", cache=cache, settings=I18N) == german
    assert english != german


# -- the logic's steps, and the public wrappers' defaults ------------------------------


def test_learn_logic_reads_the_generation_then_sets_the_header_list() -> None:
    logic = learn_cache_key_logic(req(method="HEAD"), Headers([("Vary", "Pony")]), None, "p", settings=PLAIN)
    assert next(logic) == ("get", (generation_key(req(), "p"),))
    step = logic.send(None)  # never invalidated
    assert step == ("set", (cache_header_key(req(), "p", settings=PLAIN), ["HTTP_PONY"], 600))
    with pytest.raises(StopIteration) as done:
        logic.send(True)
    assert done.value.value == f"views.decorators.cache.cache_page.p.HEAD.{URL_HASH}.{ABSENT_ONE}"


def test_learn_logic_with_the_lookups_generation_yields_one_set_step() -> None:
    logic = learn_cache_key_logic(
        req(method="HEAD"), Headers([("Vary", "Pony")]), None, "p", settings=PLAIN, generation=None
    )
    step = next(logic)
    assert step == ("set", (cache_header_key(req(), "p", settings=PLAIN), ["HTTP_PONY"], 600))
    with pytest.raises(StopIteration) as done:
        logic.send(True)
    assert done.value.value == f"views.decorators.cache.cache_page.p.HEAD.{URL_HASH}.{ABSENT_ONE}"


def test_get_logic_reads_the_header_list_and_the_generation_in_one_step() -> None:
    logic = get_cache_key_logic(req(), "p", "HEAD", settings=PLAIN)
    header_key = cache_header_key(req(), "p", settings=PLAIN)
    assert next(logic) == ("get_many", ([header_key, generation_key(req(), "p")],))
    with pytest.raises(StopIteration) as done:
        logic.send({header_key: []})
    assert done.value.value == f"views.decorators.cache.cache_page.p.HEAD.{URL_HASH}.{NOTHING}"


def test_a_generation_changes_the_page_key_and_nothing_else() -> None:
    header_key = cache_header_key(req(), "p", settings=PLAIN)
    keys = []
    for generation in (None, "g1", "g2"):
        logic = get_cache_key_logic(req(), "p", "GET", settings=PLAIN)
        next(logic)
        with pytest.raises(StopIteration) as done:
            logic.send({header_key: [], generation_key(req(), "p"): generation})
        keys.append(done.value.value)
        learn = learn_cache_key_logic(req(), Headers(), None, "p", settings=PLAIN, generation=generation)
        next(learn)
        with pytest.raises(StopIteration) as learnt:
            learn.send(True)
        assert learnt.value.value == done.value.value  # store and lookup agree
    assert keys[0] == f"views.decorators.cache.cache_page.p.GET.{URL_HASH}.{NOTHING}"  # Django's
    assert len(set(keys)) == 3 and all(
        k.startswith(f"views.decorators.cache.cache_page.p.GET.{URL_HASH}.") for k in keys
    )
    # a generation that is not a str is not ours: as if never invalidated
    logic = get_cache_key_logic(req(), "p", "GET", settings=PLAIN)
    next(logic)
    with pytest.raises(StopIteration) as done:
        logic.send({header_key: [], generation_key(req(), "p"): 7})
    assert done.value.value == keys[0]


def test_backend_errors_reach_the_caller() -> None:
    # Failing open is core.py's job: the key logic must not swallow the error.
    logic = get_cache_key_logic(req(), "", settings=PLAIN)
    next(logic)
    with pytest.raises(ConnectionError):
        logic.throw(ConnectionError("down"))


def test_wrappers_default_to_the_middleware_settings(fresh_settings: None, tmp_path: Path) -> None:
    configure(
        CACHES={
            "default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": f"{tmp_path}/d"},
            "pages": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": f"{tmp_path}/p"},
        },
        CACHE_MIDDLEWARE_ALIAS="pages",
        CACHE_MIDDLEWARE_KEY_PREFIX="site",
        CACHE_MIDDLEWARE_SECONDS=42,
    )
    from cachemere import caches

    key = learn_cache_key(req(), Headers())
    assert key.startswith("views.decorators.cache.cache_page.site.GET.")
    assert caches["pages"].get(cache_header_key(req(), "site")) == []
    assert caches["default"].get(cache_header_key(req(), "site")) is None
    assert get_cache_key(req()) == key
    assert get_cache_key(req(), cache="pages") == key
    assert get_cache_key(req(), cache="default") is None
    assert get_cache_key(req(), key_prefix="") is None
    logic = learn_cache_key_logic(req(), Headers(), None, "site")
    next(logic)  # the generation
    assert logic.send(None)[1][2] == 42


class _Response:
    def __init__(self, headers: Any) -> None:
        self.headers = headers


def test_responses_of_other_frameworks_work() -> None:
    import werkzeug.datastructures
    from starlette.datastructures import MutableHeaders

    cache = locmem("frameworks")
    request = req(Cookie="a=1", Accept_Encoding="gzip")
    expected = cache_page_key(request, "GET", ["HTTP_ACCEPT_ENCODING", "HTTP_COOKIE"], "", settings=PLAIN)
    werkzeug_headers = werkzeug.datastructures.Headers([("Vary", "Cookie"), ("Vary", "Accept-Encoding")])
    starlette_headers = MutableHeaders(raw=[(b"vary", b"Cookie"), (b"vary", b"Accept-Encoding")])
    for response in (_Response(werkzeug_headers), _Response(starlette_headers), werkzeug_headers):
        assert learn_cache_key(request, response, 60, "", cache, settings=PLAIN) == expected
