"""The Jinja2 ``{% cache %}`` tag against real backends (local memory, files, redis), sync and async."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from jinja2 import DictLoader, Environment, TemplateSyntaxError

from cachemere import CacheHandler, InvalidCacheBackendError
from cachemere.backends.filebased import FileBasedCache
from cachemere.backends.locmem import LocMemCache
from cachemere.fragments import make_template_fragment_key
from cachemere.templates.jinja import CacheExtension
from servers.redis import RedisServer

BACKENDS = ["locmem", "files", "redis"]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


class Clock:
    """Moves every expiry clock: time.time for in-process stores, the real clock for redis."""

    def __init__(self, patched: bool) -> None:
        self.patched, self.offset = patched, 0.0

    def advance(self, seconds: float) -> None:
        if self.patched:
            self.offset += seconds
        else:
            time.sleep(seconds)


@pytest.fixture
def clock(backend: str) -> Iterator[Clock]:
    clock = Clock(patched=backend != "redis")
    real = time.time
    with mock.patch.object(time, "time", lambda: real() + clock.offset):
        yield clock


def entry(kind: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    if kind == "locmem":
        return {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": f"{tmp_path}/{name}"}
    if kind == "files":
        return {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / name)}
    server: RedisServer = request.getfixturevalue("redis_server")
    server.admin.flushall()
    return {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": server.url, "KEY_PREFIX": name}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def asynchronous(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def handler(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> CacheHandler:
    return CacheHandler({"default": entry(backend, tmp_path, request, "default")})


Render = Callable[..., str]


def make_env(
    handler: CacheHandler, templates: dict[str, str], asynchronous: bool, **options: Any
) -> Environment:
    env = Environment(
        loader=DictLoader(templates), extensions=[CacheExtension, *options.pop("extensions", [])],
        enable_async=asynchronous, autoescape=True, **options,
    )  # fmt: skip
    env.fragment_caches = handler  # type: ignore[attr-defined]
    return env


def renderer(env: Environment) -> Render:
    def render(template_name: str, /, **context: Any) -> str:
        template = env.get_template(template_name)
        if env.is_async:
            return asyncio.run(template.render_async(**context))
        return template.render(**context)

    return render


@pytest.fixture
def render(handler: CacheHandler, asynchronous: bool) -> Callable[[dict[str, str]], Render]:
    return lambda templates: renderer(make_env(handler, templates, asynchronous))


class User:
    def __init__(self, username: str) -> None:
        self.username = username


class Request:
    def __init__(self, username: str) -> None:
        self.user = User(username)


SIDEBAR = {
    "page.html": "<main>{% cache 500 sidebar %}<ul>{% for item in items %}<li>{{ item }}</li>"
    "{% endfor %}</ul>{% endcache %}</main>",
    "user.html": "{% cache 500 sidebar request.user.username %}{{ request.user.username }}: "
    "{{ items|join(',') }}{% endcache %}",
}


# -- the seed's examples ---------------------------------------------------------------


def test_the_fragment_is_served_from_the_cache_until_its_timeout_passes(
    handler: CacheHandler, asynchronous: bool, clock: Clock
) -> None:
    templates = {"page.html": "{% cache 1 sidebar %}{{ items|join(',') }}{% endcache %}|{{ items|length }}"}
    render = renderer(make_env(handler, templates, asynchronous))
    assert render("page.html", items=["a", "b"]) == "a,b|2"
    # The data behind the fragment changed; the rest of the page is live.
    assert render("page.html", items=["c"]) == "a,b|1"
    assert handler["default"].get(make_template_fragment_key("sidebar")) == "a,b"
    clock.advance(1.5)
    assert render("page.html", items=["c"]) == "c|1"


def test_the_body_is_escaped_once_and_stored_as_rendered(
    render: Callable[[dict[str, str]], Render], handler: CacheHandler
) -> None:
    page = render(SIDEBAR)
    assert page("page.html", items=["<b>"]) == "<main><ul><li>&lt;b&gt;</li></ul></main>"
    assert page("page.html", items=["x"]) == "<main><ul><li>&lt;b&gt;</li></ul></main>"
    stored = handler["default"].get(make_template_fragment_key("sidebar"))
    assert stored == "<ul><li>&lt;b&gt;</li></ul>" and type(stored) is str


def test_two_users_get_two_copies(render: Callable[[dict[str, str]], Render], handler: CacheHandler) -> None:
    page = render(SIDEBAR)
    assert page("user.html", request=Request("alice"), items=[1]) == "alice: 1"
    assert page("user.html", request=Request("bob"), items=[2]) == "bob: 2"
    assert page("user.html", request=Request("alice"), items=[3]) == "alice: 1"
    assert page("user.html", request=Request("bob"), items=[3]) == "bob: 2"
    cache = handler["default"]
    assert cache.get(make_template_fragment_key("sidebar", ["alice"])) == "alice: 1"
    assert cache.get(make_template_fragment_key("sidebar", ["bob"])) == "bob: 2"


def test_make_template_fragment_key_invalidates_one_copy(
    render: Callable[[dict[str, str]], Render], handler: CacheHandler
) -> None:
    page = render(SIDEBAR)
    page("user.html", request=Request("alice"), items=[1])
    page("user.html", request=Request("bob"), items=[1])
    assert handler["default"].delete(make_template_fragment_key("sidebar", ["alice"])) is True
    assert page("user.html", request=Request("alice"), items=[2]) == "alice: 2"
    assert page("user.html", request=Request("bob"), items=[2]) == "bob: 1"


def test_a_timeout_held_in_a_variable(handler: CacheHandler, asynchronous: bool, clock: Clock) -> None:
    templates = {"page.html": "{% cache my_timeout sidebar %}{{ n }}{% endcache %}"}
    render = renderer(make_env(handler, templates, asynchronous))
    assert render("page.html", my_timeout=1, n=1) == "1"
    assert render("page.html", my_timeout=1, n=2) == "1"
    clock.advance(1.5)
    assert render("page.html", my_timeout=1, n=3) == "3"


@pytest.mark.parametrize("backend", ["locmem", "files"])
@pytest.mark.parametrize("source", ["None", "forever", "none"])
def test_none_caches_forever(handler: CacheHandler, asynchronous: bool, clock: Clock, source: str) -> None:
    templates = {"page.html": f"{{% cache {source} sidebar %}}{{{{ n }}}}{{% endcache %}}"}
    render = renderer(make_env(handler, templates, asynchronous))
    assert render("page.html", forever=None, n=1) == "1"
    clock.advance(10 * 365 * 86400)
    assert render("page.html", forever=None, n=2) == "1"


def test_none_is_no_expiry_on_the_server(
    redis_server: RedisServer, tmp_path: Path, asynchronous: bool, request: pytest.FixtureRequest
) -> None:
    handler = CacheHandler({"default": entry("redis", tmp_path, request, "default")})
    render = renderer(
        make_env(handler, {"page.html": "{% cache None sidebar %}x{% endcache %}"}, asynchronous)
    )
    render("page.html")
    made = handler["default"].make_key(make_template_fragment_key("sidebar"))
    assert redis_server.admin.ttl(made) == -1  # exists, never expires


def test_using_names_the_cache(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, asynchronous: bool
) -> None:
    handler = CacheHandler({
        "default": entry(backend, tmp_path, request, "default"),
        "localcache": entry("locmem", tmp_path, request, "localcache"),
    })  # fmt: skip
    templates = {"page.html": '{% cache 500 sidebar using="localcache" %}{{ n }}{% endcache %}'}
    render = renderer(make_env(handler, templates, asynchronous))
    assert render("page.html", n=1) == "1"
    assert render("page.html", n=2) == "1"
    key = make_template_fragment_key("sidebar")
    assert handler["localcache"].get(key) == "1"
    assert handler["default"].get(key) is None


def test_using_may_be_an_expression(
    tmp_path: Path, request: pytest.FixtureRequest, asynchronous: bool
) -> None:
    handler = CacheHandler({
        "default": entry("locmem", tmp_path, request, "default"),
        "localcache": entry("locmem", tmp_path, request, "localcache"),
    })  # fmt: skip
    templates = {"page.html": "{% cache 500 sidebar user using=alias %}{{ n }}{% endcache %}"}
    renderer(make_env(handler, templates, asynchronous))("page.html", n=1, user="u", alias="localcache")
    assert handler["localcache"].get(make_template_fragment_key("sidebar", ["u"])) == "1"


def test_template_fragments_is_preferred_over_default(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, asynchronous: bool
) -> None:
    handler = CacheHandler({
        "default": entry("locmem", tmp_path, request, "default"),
        "template_fragments": entry(backend, tmp_path, request, "fragments"),
    })  # fmt: skip
    render = renderer(
        make_env(handler, {"page.html": "{% cache 500 sidebar %}x{% endcache %}"}, asynchronous)
    )
    render("page.html")
    key = make_template_fragment_key("sidebar")
    assert handler["template_fragments"].get(key) == "x"
    assert handler["default"].get(key) is None


def test_without_an_explicit_handler_the_global_caches_are_used(
    fresh_settings: None, asynchronous: bool
) -> None:
    import cachemere

    cachemere.configure(
        CACHES={
            "default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": "global-fragments"}
        }
    )
    env = Environment(
        loader=DictLoader({"p": "{% cache 500 g %}{{ n }}{% endcache %}"}),
        extensions=[CacheExtension],
        enable_async=asynchronous,
    )
    assert renderer(env)("p", n=1) == "1"
    assert renderer(env)("p", n=2) == "1"
    assert cachemere.cache.get(make_template_fragment_key("g")) == "1"
    cachemere.cache.clear()


def test_the_translated_welcome_block_is_kept_per_language(handler: CacheHandler, asynchronous: bool) -> None:
    # jinja2.ext.i18n with gettext callables that follow a current language; the
    # fragment varies on that language, so each language has its own copy.
    catalogues = {
        "en": {"Welcome to example.com": "Welcome to example.com"},
        "fr": {"Welcome to example.com": "Bienvenue sur example.com"},
    }
    current = {"language": "en"}

    def gettext(message: str) -> str:
        return catalogues[current["language"]].get(message, message)

    def ngettext(singular: str, plural: str, n: int) -> str:
        return gettext(singular if n == 1 else plural)

    templates = {
        "welcome.html": "{% cache 600 welcome language %}{% trans %}Welcome to example.com{% endtrans %}"
        "{% endcache %}"
    }
    env = make_env(handler, templates, asynchronous, extensions=["jinja2.ext.i18n"])
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    render = renderer(env)

    def page(language: str) -> str:
        current["language"] = language
        return render("welcome.html", language=language)

    assert page("en") == "Welcome to example.com"
    assert page("fr") == "Bienvenue sur example.com"
    catalogues["fr"]["Welcome to example.com"] = "Bienvenue !"  # the cached copy stays
    assert page("fr") == "Bienvenue sur example.com"
    assert page("en") == "Welcome to example.com"
    assert (
        handler["default"].get(make_template_fragment_key("welcome", ["fr"])) == "Bienvenue sur example.com"
    )


# -- NAME and VARY_ON ---------------------------------------------------------------------


def test_the_fragment_name_is_taken_as_written(
    render: Callable[[dict[str, str]], Render], handler: CacheHandler
) -> None:
    page = render({
        "plain.html": "{% cache 500 name %}plain{% endcache %}",
        "dotted.html": "{% cache 500 a.fragment %}dotted{% endcache %}",
        "quoted.html": "{% cache 500 'my-fragment' %}quoted{% endcache %}",
    })  # fmt: skip
    # A context variable of the same name changes nothing (Django's ticket #20130).
    page("plain.html", name="other", a={"fragment": "x"})
    page("dotted.html", name="other", a={"fragment": "x"})
    page("quoted.html")
    cache = handler["default"]
    assert cache.get(make_template_fragment_key("name")) == "plain"
    assert cache.get("template.cache.a.fragment.d41d8cd98f00b204e9800998ecf8427e") == "dotted"
    assert cache.get(make_template_fragment_key("my-fragment")) == "quoted"


def test_vary_on_values_take_filters_and_any_number(
    render: Callable[[dict[str, str]], Render], handler: CacheHandler
) -> None:
    page = render({"p.html": "{% cache 500 box user|lower, day size %}{{ n }}{% endcache %}"})
    assert page("p.html", user="Alice", day="mon", size=2, n=1) == "1"
    assert page("p.html", user="ALICE", day="mon", size=2, n=2) == "1"  # one copy after |lower
    assert page("p.html", user="alice", day="tue", size=2, n=3) == "3"
    assert page("p.html", user="alice", day="tue", size=3, n=4) == "4"
    assert handler["default"].get(make_template_fragment_key("box", ["alice", "tue", 3])) == "4"


def test_vary_on_values_with_spaces_colons_and_great_length(
    render: Callable[[dict[str, str]], Render], handler: CacheHandler
) -> None:
    page = render({"p.html": "{% cache 500 box a b %}{{ n }}{% endcache %}"})
    long = "x" * 10000
    assert page("p.html", a="a:b", b="c", n=1) == "1"
    assert page("p.html", a="a", b="b:c", n=2) == "2"  # no collision with the first
    assert page("p.html", a="two words", b=long, n=3) == "3"
    assert page("p.html", a="two words", b=long, n=4) == "3"
    assert handler["default"].get(make_template_fragment_key("box", ["two words", long])) == "3"


def test_a_missing_vary_on_variable_shares_the_empty_strings_copy(
    render: Callable[[dict[str, str]], Render],
) -> None:
    page = render({"p.html": "{% cache 500 box who %}{{ n }}{% endcache %}"})
    assert page("p.html", n=1) == "1"
    assert page("p.html", who="", n=2) == "1"


def test_fragments_are_shared_by_templates(render: Callable[[dict[str, str]], Render]) -> None:
    # As in Django, the key holds no template name.
    page = render(
        {"a.html": "{% cache 500 box %}a{% endcache %}", "b.html": "{% cache 500 box %}b{% endcache %}"}
    )
    assert page("a.html") == "a"
    assert page("b.html") == "a"


def test_a_stored_empty_fragment_is_a_hit(render: Callable[[dict[str, str]], Render]) -> None:
    page = render({"p.html": "{% cache 500 box %}{{ text }}{% endcache %}"})
    assert page("p.html", text="") == ""
    assert page("p.html", text="later") == ""


def test_timeouts_follow_djangos_int_rule(
    render: Callable[[dict[str, str]], Render], handler: CacheHandler
) -> None:
    page = render(
        {
            "p.html": "{% cache t box %}{{ n }}{% endcache %}",
            "zero.html": "{% cache t nothing %}{{ n }}{% endcache %}",
        }
    )
    assert page("p.html", t=7.9, n=1) == "1"  # a float is truncated
    assert page("p.html", t="60", n=2) == "1"  # an integer string counts
    assert page("zero.html", t=0, n=3) == "3"  # zero: stored for no time
    assert page("zero.html", t=0, n=4) == "4"
    assert handler["default"].get(make_template_fragment_key("nothing")) is None


# -- errors ----------------------------------------------------------------------------------


def render_error(handler: CacheHandler, asynchronous: bool, source: str, **context: Any) -> str:
    with pytest.raises(TemplateSyntaxError) as info:
        renderer(make_env(handler, {"shop/page.html": source}, asynchronous))("shop/page.html", **context)
    return str(info.value)


@pytest.mark.parametrize("backend", ["locmem"])
@pytest.mark.parametrize(
    ("timeout", "shown"),
    [("7.9", "'7.9'"), ("soon", "'soon'"), ([1], "[1]")],
    ids=["float-str", "word", "list"],
)
def test_a_non_integer_timeout_names_the_template_and_line(
    handler: CacheHandler, asynchronous: bool, timeout: object, shown: str
) -> None:
    message = render_error(handler, asynchronous, "<p>\n\n{% cache t box %}x{% endcache %}", t=timeout)
    assert (
        message
        == f"\"cache\" tag got a non-integer timeout value: {shown} (template 'shop/page.html', line 3)"
    )


@pytest.mark.parametrize("backend", ["locmem"])
def test_an_undefined_timeout_is_an_error(handler: CacheHandler, asynchronous: bool) -> None:
    message = render_error(handler, asynchronous, "{% cache nope box %}x{% endcache %}")
    assert message == (
        '"cache" tag got a non-integer timeout value: an undefined value'
        " (template 'shop/page.html', line 1)"
    )


@pytest.mark.parametrize("backend", ["locmem"])
def test_an_unknown_alias_is_an_error(handler: CacheHandler, asynchronous: bool) -> None:
    message = render_error(handler, asynchronous, '\n{% cache 500 box using="nope" %}x{% endcache %}')
    assert message == "Invalid cache name specified for cache tag: 'nope' (template 'shop/page.html', line 2)"
    message = render_error(handler, asynchronous, "{% cache 500 box using=alias %}x{% endcache %}", alias=3)
    assert (
        message
        == "the 'cache' tag's using= must name a cache alias, got 3 (template 'shop/page.html', line 1)"
    )


@pytest.mark.parametrize("backend", ["locmem"])
@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{% cache %}x{% endcache %}",
            "'cache' tag requires at least 2 arguments: a timeout and a fragment name",
        ),
        (
            "{% cache 500 %}x{% endcache %}",
            "'cache' tag requires at least 2 arguments: a timeout and a fragment name",
        ),
        (
            '{% cache 500 using="x" %}x{% endcache %}',
            "'cache' tag requires at least 2 arguments: a timeout and a fragment name",
        ),
        (
            "{% cache 500 42 %}x{% endcache %}",
            "the 'cache' tag's fragment name must be a name or a quoted string, got 42",
        ),
        (
            '{% cache 500 box using="x" user %}x{% endcache %}',
            "using= must be the last argument of the 'cache' tag",
        ),
        ("{% cache 500 box %}x", "Unexpected end of template."),
    ],
    ids=["nothing", "no-name", "only-using", "number-name", "using-not-last", "no-endcache"],
)
def test_malformed_tags_fail_when_compiled(
    handler: CacheHandler, asynchronous: bool, source: str, message: str
) -> None:
    env = make_env(handler, {"shop/page.html": "\n" + source}, asynchronous)
    with pytest.raises(TemplateSyntaxError) as info:
        env.get_template("shop/page.html")
    assert str(info.value).startswith(message)
    assert info.value.lineno == 2 and info.value.name == "shop/page.html"
    if "Unexpected" not in message:
        assert str(info.value) == message + " (template 'shop/page.html', line 2)"


# -- a failing cache never fails the page -----------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, as the test stops it."""
    server = RedisServer(tmp_path / "own").start()
    yield server
    server.stop()


def test_a_cache_that_goes_away_renders_fragments_uncached(
    own_redis: RedisServer, asynchronous: bool, caplog: pytest.LogCaptureFixture
) -> None:
    handler = CacheHandler(
        {"default": {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": own_redis.url}}
    )
    render = renderer(make_env(handler, SIDEBAR, asynchronous))
    assert render("user.html", request=Request("alice"), items=[1]) == "alice: 1"
    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="cachemere.templates"):
        assert render("user.html", request=Request("alice"), items=[2]) == "alice: 2"
        assert render("user.html", request=Request("alice"), items=[3]) == "alice: 3"
    records = [r for r in caplog.records if r.name == "cachemere.templates"]
    # One failed read per render; no write is tried against a cache that just failed.
    assert len(records) == 2
    key = make_template_fragment_key("sidebar", ["alice"])
    assert all("failed reading fragment" in r.getMessage() and key in r.getMessage() for r in records)
    assert all(r.exc_info is not None for r in records)


def test_a_cache_that_refuses_writes_renders_fragments_uncached(
    redis_server: RedisServer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    asynchronous: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = CacheHandler({"default": entry("redis", tmp_path, request, "default")})
    render = renderer(make_env(handler, SIDEBAR, asynchronous))
    # A full redis (noeviction) answers reads and refuses writes.
    redis_server.admin.config_set("maxmemory", 1)
    try:
        with caplog.at_level(logging.WARNING, logger="cachemere.templates"):
            assert render("user.html", request=Request("bob"), items=[1]) == "bob: 1"
            assert render("user.html", request=Request("bob"), items=[2]) == "bob: 2"
    finally:
        redis_server.admin.config_set("maxmemory", 0)
    records = [r for r in caplog.records if r.name == "cachemere.templates"]
    assert len(records) == 2
    assert all("failed storing fragment" in r.getMessage() for r in records)
    assert render("user.html", request=Request("bob"), items=[3]) == "bob: 3"
    assert render("user.html", request=Request("bob"), items=[4]) == "bob: 3"


class BrokenCache(LocMemCache):
    """A local-memory cache whose reads fail: its writes must not happen either."""

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        raise OSError("disk on fire")

    def set(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("set after a failed get")


def test_a_failed_read_skips_the_write(
    tmp_path: Path, asynchronous: bool, caplog: pytest.LogCaptureFixture
) -> None:
    backend = f"{__name__}.BrokenCache"
    handler = CacheHandler({"default": {"BACKEND": backend, "LOCATION": str(tmp_path)}})
    render = renderer(make_env(handler, SIDEBAR, asynchronous))
    with caplog.at_level(logging.WARNING, logger="cachemere.templates"):
        assert render("page.html", items=[1]) == "<main><ul><li>1</li></ul></main>"
    assert [r.exc_info[1].args for r in caplog.records if r.exc_info] == [("disk on fire",)]


def test_configuration_errors_are_not_swallowed(tmp_path: Path, asynchronous: bool) -> None:
    handler = CacheHandler({"default": {"BACKEND": "cachemere.backends.nothing.Here"}})
    render = renderer(make_env(handler, SIDEBAR, asynchronous))
    with pytest.raises(
        InvalidCacheBackendError, match=r"Could not find backend 'cachemere\.backends\.nothing\.Here'"
    ):
        render("page.html", items=[1])


# -- async -----------------------------------------------------------------------------------------


class ThreadRecordingFileCache(FileBasedCache):
    """Records the thread each blocking file operation runs in."""

    threads: list[int]

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        self.threads.append(threading.get_ident())
        return super().get(key, default, version)

    def set(self, *args: Any, **kwargs: Any) -> None:
        self.threads.append(threading.get_ident())
        super().set(*args, **kwargs)


def test_async_rendering_does_file_io_off_the_event_loop(tmp_path: Path) -> None:
    handler = CacheHandler(
        {"default": {"BACKEND": f"{__name__}.ThreadRecordingFileCache", "LOCATION": str(tmp_path / "files")}}
    )
    cache = handler["default"]
    cache.threads = []  # type: ignore[attr-defined]
    env = make_env(handler, SIDEBAR, asynchronous=True)

    async def scenario() -> tuple[str, str, int]:
        template = env.get_template("page.html")
        first = await template.render_async(items=[1])
        second = await template.render_async(items=[2])
        return first, second, threading.get_ident()

    first, second, loop_thread = asyncio.run(scenario())
    assert first == second == "<main><ul><li>1</li></ul></main>"
    threads = cache.threads  # type: ignore[attr-defined]
    assert len(threads) == 3  # miss, store, hit
    assert loop_thread not in threads
