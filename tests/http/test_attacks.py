"""The page cache against the known attacks on shared caches, over WSGI and ASGI (issue 8).

Each test plays an attacker's request, then a victim's, through one site and
one locmem cache, and checks what the victim got: never the attacker's
reflection, another user's page, or a stored error.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from cachemere import CacheHandler
from helpers.http import Site, View, counting_page

_names = itertools.count()


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def locmem(**options: Any) -> Any:
    settings = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": f"attacks-{next(_names)}"}
    if options:
        settings["OPTIONS"] = options
    return CacheHandler({"pages": settings}, SECRET_KEY="test-secret")["pages"]


@pytest.fixture
def cache() -> Any:
    return locmem()


@pytest.fixture
def sites(kind: str) -> Iterator[list[Site]]:
    made: list[Site] = []
    yield made
    for site in made:
        site.close()


def make(kind: str, cache: Any, view: View, sites: list[Site], **options: Any) -> Site:
    site = Site(kind, cache, view, **options)
    sites.append(site)
    return site


def text(status: int, body: str, *headers: tuple[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
    content = body.encode()
    return status, [("Content-Type", "text/plain"), ("Content-Length", str(len(content))), *headers], content


# -- web cache poisoning through unkeyed inputs the app reflects ---------------------------------


def reflecting(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """A careless app: every input a framework might trust shows up in the page, nothing in Vary."""
    headers = request["headers"]
    host = headers.get("x-forwarded-host", request["host"])
    scheme = headers.get("x-forwarded-proto", request["scheme"])
    path = headers.get("x-original-url", request["path"])
    method = headers.get("x-http-method-override", request["method"])
    params = dict(part.split("=", 1) for part in request["query"].replace(";", "&").split("&") if "=" in part)
    body = f"{method} {scheme}://{host}{path} q={params.get('q', '-')} body={request['body'].decode()!r}"
    return text(200, body)


CLEAN = "GET http://testserver/page q=- body=''"


@pytest.mark.parametrize(
    "name, value",
    [
        ("X-Forwarded-Host", "evil.test"),
        ("X-Forwarded-Proto", "https"),
        ("X-Original-URL", "/admin"),
        ("X-HTTP-Method-Override", "DELETE"),
    ],
)
def test_a_reflected_unkeyed_header_never_reaches_the_victim(
    kind: str, cache: Any, sites: list[Site], name: str, value: str
) -> None:
    site = make(kind, cache, reflecting, sites)
    attacker = site(headers={name: value})
    assert attacker[0] == 200
    victim = site()
    assert victim[2].decode() == CLEAN, f"{name} poisoned the page: {victim[2]!r}"
    # Once the clean page is stored, the header neither replaces it nor is answered from it.
    assert site()[2].decode() == CLEAN


def test_a_fat_get_body_is_neither_stored_nor_answered_from_the_cache(
    kind: str, cache: Any, sites: list[Site]
) -> None:
    site = make(kind, cache, reflecting, sites)
    assert site(body=b"q=evil")[2].decode().endswith("body='q=evil'")
    assert site()[2].decode() == CLEAN
    # A clean page stored, a fat GET still goes to the app (its body is unkeyed input).
    calls = site.calls
    assert site(body=b"x")[2].decode().endswith("body='x'") and site.calls == calls + 1


def test_parameter_cloaking_with_semicolons_gets_a_key_of_its_own(
    kind: str, cache: Any, sites: list[Site]
) -> None:
    site = make(kind, cache, reflecting, sites)
    # The app reads ";" as a separator, so this one says q=evil; the cache must not file it as q=1.
    cloaked = site(query="q=1;q=evil")[2].decode()
    assert "q=evil" in cloaked
    assert "q=1 " in site(query="q=1")[2].decode()
    assert "q=evil" in site(query="utm=x;q=evil")[2].decode()
    assert "q=-" in site(query="utm=x")[2].decode()


# -- web cache deception and path confusion --------------------------------------------------------


def account_router(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """A router as lax as many: anything under /account (or /account;...) is the account page."""
    path = request["path"]
    if path.startswith("/account") or "/account" in path:
        user = request["headers"].get("cookie", "anonymous")
        return text(200, f"account of {user}", ("Cache-Control", "private"))
    return text(200, f"static {path}", ("Cache-Control", "public, max-age=300"))


CONFUSING = [
    "/account/x.css",
    "/account;x.css",
    "/account%2Fx.css",
    "/account/x.css%3F",
    "/account%23x.css",
    "/account%00x.css",
    "/account/..%2Fstatic/x.css",
    "/static/../account/x.css",
    "/account/./x.css",
]


@pytest.mark.parametrize("path", CONFUSING)
def test_a_private_page_is_never_stored_whatever_its_path_looks_like(
    kind: str, cache: Any, sites: list[Site], path: str
) -> None:
    site = make(kind, cache, account_router, sites)
    assert site(path=path, headers={"Cookie": "victim"})[2] == b"account of victim"
    assert site(path=path)[2] == b"account of anonymous"


PATHS = [
    ("/a", ""),
    ("/a?b", ""),  # a decoded %3F: a path, not a query
    ("/a", "b"),
    ("/a#b", ""),  # a decoded %23
    ("/a\x00b", ""),  # a decoded %00
    ("/a%2Fb", ""),  # %2F left encoded by the server
    ("/a/b", ""),
    ("/a;b", ""),
    ("/x/../a", ""),
    ("/./a", ""),
    ("/a/", ""),
]


def test_keys_follow_exactly_the_path_the_router_saw(kind: str, cache: Any, sites: list[Site]) -> None:
    def echo(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        return text(200, repr((request["path"], request["query"])), ("Cache-Control", "max-age=300"))

    site = make(kind, cache, echo, sites)
    for _ in range(2):  # the second round is all hits, each from its own entry
        for path, query in PATHS:
            assert site(path=path, query=query)[2].decode() == repr((path, query))
    assert site.calls == len(PATHS)


# -- cache-poisoned denial of service ----------------------------------------------------------


def fragile(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """An app that sets caching headers on every answer, errors included, as global middleware does."""
    cacheable = ("Cache-Control", "public, max-age=300")
    headers = request["headers"]
    if any(len(value) > 1000 for value in headers.values()):
        return text(400, "header too large", cacheable)
    if any(ch in value for value in headers.values() for ch in "\x00\x7f"):
        return text(400, "bad character", cacheable)
    override = headers.get("x-http-method-override")
    if override:
        return text(405, f"{override} not allowed", cacheable, ("Allow", "GET"))
    return text(200, "the page", cacheable)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Oversized": "x" * 2000},
        {"X-Meta": "a\x7fb"},
        {"X-HTTP-Method-Override": "PURGE"},
    ],
    ids=["oversized-header", "meta-character", "method-override"],
)
def test_a_provoked_error_is_never_stored_for_others(
    kind: str, cache: Any, sites: list[Site], headers: dict[str, str]
) -> None:
    site = make(kind, cache, fragile, sites)
    assert site(headers=headers)[0] >= 400
    assert site()[0:3:2] == (200, b"the page")


def test_a_404_provoked_by_an_unkeyed_header_is_not_served_to_others(
    kind: str, cache: Any, sites: list[Site]
) -> None:
    def routes(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        path = request["headers"].get("x-original-url", request["path"])
        if path != "/page":
            return text(404, "not found", ("Cache-Control", "max-age=300"))
        return text(200, "the page", ("Cache-Control", "max-age=300"))

    site = make(kind, cache, routes, sites)
    assert site(headers={"X-Original-URL": "/nowhere"})[0] == 404
    assert site()[0:3:2] == (200, b"the page")


# -- leaks across users ---------------------------------------------------------------------------


def personal(*extra: tuple[str, str]) -> View:
    """A page naming its user; a ``Set-Cookie`` in ``extra`` becomes that user's own session cookie."""

    def view(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = request["headers"]
        user = headers.get("authorization") or headers.get("cookie") or "anonymous"
        own = [(n, f"session={user}") if n == "Set-Cookie" else (n, v) for n, v in extra]
        return text(200, f"hello {user}", *own)

    return view


@pytest.mark.parametrize(
    "extra, credential",
    [
        ((("Cache-Control", "private"),), {"Cookie": "user=alice"}),
        ((("Set-Cookie", ""),), {"Cookie": "user=alice"}),
        ((("Cache-Control", "max-age=300"),), {"Authorization": "Bearer alice"}),
        ((("Vary", "Cookie"),), {"Cookie": "user=alice"}),
        ((("Vary", "Accept-Encoding"), ("Vary", "Cookie")), {"Cookie": "user=alice"}),
    ],
    ids=["private", "set-cookie", "authorization", "vary-cookie", "vary-cookie-second-field"],
)
def test_one_users_page_never_reaches_another(
    kind: str, cache: Any, sites: list[Site], extra: tuple[tuple[str, str], ...], credential: dict[str, str]
) -> None:
    site = make(kind, cache, personal(*extra), sites)
    name = next(iter(credential))
    assert site(headers=credential)[2] == f"hello {credential[name]}".encode()
    bob = {name: credential[name].replace("alice", "bob")}
    assert site(headers=bob)[2] == f"hello {bob[name]}".encode()
    _, headers, body = site()
    # Nobody gets a page, or a session cookie, that was not theirs.
    assert body == b"hello anonymous" and "alice" not in headers.get("Set-Cookie", "")


def test_a_public_answer_to_an_authorized_request_is_shared_as_it_says(
    kind: str, cache: Any, sites: list[Site]
) -> None:
    # The counterpart of the above: "public" is the app's explicit consent, so the check is not vacuous.
    site = make(kind, cache, personal(("Cache-Control", "public, max-age=300")), sites)
    site(headers={"Authorization": "Bearer alice"})
    assert site(headers={"Authorization": "Bearer bob"})[2] == b"hello Bearer alice"


# -- unbounded growth from cache-busting query strings ----------------------------------------


def test_cache_busting_query_strings_are_bounded_by_max_entries(kind: str, sites: list[Site]) -> None:
    limit = 30
    cache = locmem(MAX_ENTRIES=limit)
    site = make(kind, cache, counting_page(), sites)
    for n in range(10 * limit):
        site(query=f"bust={n}")
        # LocMemCache's own store: what the backend holds, header lists and variant indexes included.
        assert len(cache._data) <= limit
    # Still a working cache afterwards.
    first = site(query="fresh")
    assert site(query="fresh")[2] == first[2]
