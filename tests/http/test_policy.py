"""cachemere.http.policy: every store/serve/freshness/validation decision, table-driven."""

from __future__ import annotations

import time
from email.utils import formatdate
from unittest import mock

import pytest

from cachemere.http import policy
from cachemere.http.messages import Headers, Request

NOW = 1_700_000_000.0


def date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


def H(*pairs: tuple[str, str]) -> Headers:
    return Headers(pairs)


def req(method: str = "GET", *pairs: tuple[str, str], has_body: bool = False) -> Request:
    return Request(method, "http", "testserver", "/page/", headers=Headers(pairs), has_body=has_body)


DATED = ("Date", date(NOW))


# -- requests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "serve", "store"),
    [
        (req("GET"), True, True),
        (req("HEAD"), True, True),
        (req("POST"), False, False),
        (req("PUT"), False, False),
        (req("OPTIONS"), False, False),
        (req("get"), False, False),  # methods are case-sensitive: "get" is unknown
        (req("GET", has_body=True), False, False),  # fat GET: unkeyed input
        (req("HEAD", has_body=True), False, False),
        (req("GET", ("Cache-Control", "no-store")), True, False),
        (req("GET", ("Cache-Control", "max-age=0, NO-STORE")), True, False),
        (req("GET", ("cache-control", "no-store=1")), True, False),
        (req("GET", ("Cache-Control", "x-no-store")), True, True),  # unknown extension: ignored
        (req("GET", ("Cache-Control", "no-cache")), True, True),  # advisory: no cache bypass
        (req("GET", ("Pragma", "no-cache")), True, True),
        (req("GET", ("Cache-Control", "nothing-to-see-here"), ("Pragma", "foo")), True, True),
    ],
)
def test_request_cacheability(request_: Request, serve: bool, store: bool) -> None:
    assert policy.may_serve_from_cache(request_) is serve
    assert policy.may_store_for(request_) is store


# -- storability -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "request_", "reason"),
    [
        (200, H(), req(), None),
        (200, H(("Cache-Control", "max-age=60")), req("HEAD"), None),
        (200, H(), req("POST"), "method POST"),
        (200, H(), req(has_body=True), "request has a body"),
        (200, H(), req("GET", ("Cache-Control", "no-store")), "request no-store"),
        # statuses: only final, heuristically cacheable, non-provokable ones
        (304, H(("Cache-Control", "max-age=60")), req(), "status 304"),
        (206, H(("Cache-Control", "max-age=60")), req(), "status 206"),
        (100, H(), req(), "status 100"),
        (302, H(), req(), "status 302 without explicit freshness"),
        (400, H(("Cache-Control", "max-age=60")), req(), "status 400"),
        (500, H(("Cache-Control", "max-age=60")), req(), "status 500"),
        (503, H(("Cache-Control", "max-age=60")), req(), "status 503"),
        (414, H(("Cache-Control", "max-age=60")), req(), "status 414"),
        (404, H(), req(), "status 404 without explicit freshness"),
        (301, H(), req(), "status 301 without explicit freshness"),
        (404, H(("Cache-Control", "max-age=60")), req(), None),
        (410, H(("Cache-Control", "s-maxage=60")), req(), None),
        (301, H(("Expires", date(NOW + 60)), DATED), req(), None),
        (203, H(("Cache-Control", "public, max-age=5")), req(), None),
        # whole-token, case-insensitive opt-outs; qualified forms count as unqualified
        (200, H(("Cache-Control", "no-store")), req(), "no-store"),
        (200, H(("Cache-Control", "max-age=60, No-Store")), req(), "no-store"),
        (200, H(("Cache-Control", "PRIVATE")), req(), "private"),
        (200, H(("Cache-Control", 'private="Set-Cookie"')), req(), "private"),
        (200, H(("Cache-Control", "public"), ("Cache-Control", "private")), req(), "private"),
        (200, H(("Cache-Control", "no-cache")), req(), "no-cache"),
        (200, H(("Cache-Control", 'no-cache="Set-Cookie", max-age=60')), req(), "no-cache"),
        (200, H(("Cache-Control", "x-private-ext, myprivate, no-storex")), req(), None),
        (200, H(("Cache-Control", "must-understand, no-store")), req(), "no-store"),
        (200, H(("Pragma", "no-cache")), req(), "Pragma: no-cache"),
        (200, H(("Pragma", "no-cache"), ("Cache-Control", "max-age=60")), req(), None),
        # Vary: * in any spelling
        (200, H(("Vary", "*")), req(), "Vary: *"),
        (200, H(("Vary", " * ")), req(), "Vary: *"),
        (200, H(("Vary", "*, *")), req(), "Vary: *"),
        (200, H(("Vary", ", *")), req(), "Vary: *"),
        (200, H(("Vary", "Foo, *")), req(), "Vary: *"),
        (200, H(("Vary", "Accept"), ("vary", "*")), req(), "Vary: *"),
        (200, H(("Vary", "Accept-Encoding, Cookie")), req(), None),
        # Set-Cookie: never stored by default, Vary: Cookie or not, public or not
        (200, H(("Set-Cookie", "a=b")), req(), "Set-Cookie"),
        (200, H(("set-cookie", "t=x"), ("Vary", "Cookie")), req("GET", ("Cookie", "a=1")), "Set-Cookie"),
        (200, H(("Set-Cookie", "a=b"), ("Cache-Control", "public, max-age=60")), req(), "Set-Cookie"),
        # malformed freshness: stale, so not stored, never an exception
        (200, H(("Cache-Control", 'max-age="60"')), req(), "malformed max-age"),
        (200, H(("Cache-Control", "max-age=5.5")), req(), "malformed max-age"),
        (200, H(("Cache-Control", "max-age=a5")), req(), "malformed max-age"),
        (200, H(("Cache-Control", "max-age=-5")), req(), "malformed max-age"),
        (200, H(("Cache-Control", "max-age")), req(), "malformed max-age"),
        (200, H(("Cache-Control", "max-age=60, max-age=30")), req(), "malformed max-age"),
        (200, H(("Cache-Control", "max-age=60"), ("Cache-Control", "max-age=60")), req(), None),
        (200, H(("Cache-Control", "s-maxage=x, max-age=60")), req(), "malformed s-maxage"),
        (200, H(("Cache-Control", "s-maxage=60, max-age=x")), req(), None),  # s-maxage decides
        # Expires: invalid or past means don't store, unless max-age/s-maxage override it
        (200, H(("Expires", "0"), DATED), req(), "invalid Expires"),
        (200, H(("Expires", "Sun, 06 Nov 1994 08:49:37 +0100x"), DATED), req(), "invalid Expires"),
        (200, H(("Expires", date(NOW - 1)), DATED), req(), "Expires in the past"),
        (200, H(("Expires", date(NOW)), DATED), req(), "Expires in the past"),
        (200, H(("Expires", date(NOW + 60)), DATED), req(), None),
        (200, H(("Expires", "0"), ("Cache-Control", "max-age=60"), DATED), req(), None),
        (200, H(("Expires", date(NOW - 1)), ("Cache-Control", "s-maxage=60"), DATED), req(), None),
        # Authorization: not refused here (the adapter adds Vary: Authorization)
        (200, H(), req("GET", ("Authorization", "Bearer x")), None),
    ],
)
def test_store_refusal(status: int, headers: Headers, request_: Request, reason: str | None) -> None:
    assert policy.store_refusal(status, headers, request_) == reason


def test_set_cookie_opt_in() -> None:
    headers = H(("Set-Cookie", "theme=dark"), ("Cache-Control", "max-age=60"))
    assert policy.store_refusal(200, headers, req(), allow_set_cookie=True) is None
    # the opt-in relaxes only the cookie rule
    private = H(("Set-Cookie", "a=b"), ("Cache-Control", "private"))
    assert policy.store_refusal(200, private, req(), allow_set_cookie=True) == "private"


def test_past_expires_without_date_uses_the_clock() -> None:
    headers = H(("Expires", date(NOW - 10)))
    with mock.patch.object(time, "time", return_value=NOW):
        assert policy.store_refusal(200, headers, req()) == "Expires in the past"
    with mock.patch.object(time, "time", return_value=NOW - 20):
        assert policy.store_refusal(200, headers, req()) is None


@pytest.mark.parametrize(
    ("request_", "headers", "vary"),
    [
        (req("GET", ("Authorization", "Basic dTpw")), H(), True),
        (req("GET", ("Authorization", "Basic dTpw")), H(("Cache-Control", "max-age=60")), True),
        (req("GET", ("Authorization", "Basic dTpw")), H(("Cache-Control", "s-maxage=60")), True),
        (req("GET", ("Authorization", "Basic dTpw")), H(("Cache-Control", "must-revalidate")), True),
        (req("GET", ("Authorization", "Basic dTpw")), H(("Cache-Control", "no-public")), True),
        (req("GET", ("Authorization", "Basic dTpw")), H(("Cache-Control", "public")), False),
        (req("GET", ("Authorization", "Basic dTpw")), H(("Cache-Control", "PUBLIC, max-age=5")), False),
        (req("GET", ("Authorization", "Basic dTpw")), H(("Cache-Control", 'public="abc"')), False),
        (req("GET", ("Authorization", "")), H(), False),
        (req("GET"), H(), False),
    ],
)
def test_needs_authorization_vary(request_: Request, headers: Headers, vary: bool) -> None:
    assert policy.needs_authorization_vary(request_, headers) is vary


def test_storable_headers_drop_connection_fields() -> None:
    headers = H(
        ("Content-Type", "text/html"),
        ("Connection", "close, X-Hop"),
        ("X-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Authenticate", "Basic"),
        ("Transfer-Encoding", "chunked"),
        ("X-Unknown", "kept"),
        ("ETag", '"a"'),
    )
    assert policy.storable_headers(headers) == (
        ("Content-Type", "text/html"),
        ("X-Unknown", "kept"),
        ("ETag", '"a"'),
    )


@pytest.mark.parametrize(
    ("headers", "stored"),
    [
        (H(("Content-Type", "text/html")), (("Content-Type", "text/html"), ("Date", date(NOW)))),
        (H(("Date", date(NOW - 5)), ("ETag", '"a"')), (("Date", date(NOW - 5)), ("ETag", '"a"'))),
        (H(("Date", "yesterday"), ("ETag", '"a"')), (("ETag", '"a"'), ("Date", date(NOW)))),
    ],
)
def test_storable_headers_add_a_missing_date(headers: Headers, stored: tuple[tuple[str, str], ...]) -> None:
    assert policy.storable_headers(headers, received_at=NOW) == stored
    assert policy.storable_headers(headers) == tuple(headers)


# -- freshness -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "lifetime"),
    [
        (H(), 600.0),
        (H(("Cache-Control", "public")), 600.0),
        (H(("Cache-Control", "max-age=60")), 60.0),
        (H(("Cache-Control", " MAX-AGE=60 ")), 60.0),
        (H(("Cache-Control", "s-maxage=30, max-age=60")), 30.0),
        (H(("Cache-Control", "max-age=60, s-maxage=90")), 90.0),
        (H(("Cache-Control", "max-age=0")), 0.0),
        (H(("Cache-Control", "max-age=60"), ("Expires", date(NOW + 300)), DATED), 60.0),
        (H(("Cache-Control", "s-maxage=10"), ("Expires", date(NOW + 300)), DATED), 10.0),
        (H(("Expires", date(NOW + 300)), DATED), 300.0),
        (H(("Expires", date(NOW + 300)), ("Date", date(NOW + 100))), 200.0),
        (H(("Expires", date(NOW - 300)), DATED), 0.0),
        (H(("Expires", "0"), DATED), 0.0),
        (H(("Expires", "-1")), 0.0),
        (H(("Expires", date(NOW + 300)), ("Expires", date(NOW + 300)), DATED), 0.0),
        (H(("Cache-Control", 'max-age="60"')), 0.0),
        (H(("Cache-Control", "max-age=6.0")), 0.0),
        (H(("Cache-Control", "max-age=a5")), 0.0),
        (H(("Cache-Control", "max-age=")), 0.0),
        (H(("Cache-Control", "max-age=60, max-age=30")), 0.0),
        (H(("Cache-Control", "max-age=60"), ("Cache-Control", "max-age=30")), 0.0),
        (H(("Cache-Control", "max-age=99999999999999")), float(2**31)),
        (H(("Cache-Control", "s-maxage=-1, max-age=60")), 0.0),
        # an unparseable Cache-Control from a buggy app: no crash
        (H(("Cache-Control", '"=,,=;"max-age')), 600.0),
    ],
)
def test_freshness_lifetime(headers: Headers, lifetime: float) -> None:
    assert policy.freshness_lifetime(headers, 600, received_at=NOW) == lifetime


def test_freshness_lifetime_receipt_time_stands_in_for_missing_date() -> None:
    headers = H(("Expires", date(NOW + 300)))
    assert policy.freshness_lifetime(headers, 0, received_at=NOW + 100) == 200.0
    with mock.patch.object(time, "time", return_value=NOW + 250):
        assert policy.freshness_lifetime(headers, 0) == 50.0


@pytest.mark.parametrize(
    ("headers", "page_timeout", "default", "timeout"),
    [
        (H(), None, 600, 600.0),  # the site's default when the response says nothing
        (H(), None, 0, None),  # pure RFC 9111 mode: nothing explicit, nothing stored
        (H(("Cache-Control", "max-age=60")), None, 600, 60.0),  # max-age beats the default
        (H(("Cache-Control", "max-age=60")), 900, 600, 900.0),  # cache_page's timeout beats max-age
        (H(("Cache-Control", "max-age=0")), None, 600, None),  # Django: max-age 0 is not stored
        (H(("Cache-Control", "s-maxage=30, max-age=60")), None, 600, 30.0),
        (H(("Cache-Control", "max-age=x")), None, 600, None),
        (H(("Expires", date(NOW - 1)), DATED), None, 600, None),
        (H(), 0, 600, None),
        (H(), -5, 600, None),
        # a validator keeps a page past its freshness, for revalidation instead of a rebuild
        (H(("Cache-Control", "max-age=60"), ("ETag", '"v1"')), None, 600, 660.0),  # at least the window
        (H(("Cache-Control", "max-age=900"), ("ETag", '"v1"')), None, 600, 1800.0),  # else as long again
        (H(("Last-Modified", date(NOW - 3600))), None, 600, 1200.0),
        (H(("Last-Modified", "yesterday")), None, 600, 600.0),  # an invalid date is no validator
        (H(("Cache-Control", "max-age=0"), ("ETag", '"v1"')), None, 600, None),
        (H(("Cache-Control", "max-age=2147483648"), ("ETag", '"v1"')), None, 600, float(2**31)),
    ],
)
def test_store_timeout(
    headers: Headers, page_timeout: float | None, default: float, timeout: float | None
) -> None:
    assert policy.store_timeout(headers, page_timeout, default) == timeout


@pytest.mark.parametrize(
    ("headers", "stored_at", "now", "age"),
    [
        (H(DATED), NOW, NOW, 0.0),
        (H(DATED), NOW, NOW + 5, 5.0),
        (H(("Date", date(NOW - 10))), NOW, NOW + 5, 15.0),  # apparent age: received 10 s after Date
        (H(("Date", date(NOW + 10))), NOW, NOW + 5, 5.0),  # a Date in the future counts nothing
        (H(DATED, ("Age", "30")), NOW, NOW + 5, 35.0),  # upstream Age counts
        (H(("Date", date(NOW - 10)), ("Age", "3")), NOW, NOW, 10.0),  # max(apparent, Age)
        (H(DATED, ("Age", "30"), ("Age", "100")), NOW, NOW, 30.0),  # the first Age line
        (H(DATED, ("Age", "-3")), NOW, NOW + 1, 1.0),  # malformed Age: ignored here
        (H(DATED, ("Age", "3.5")), NOW, NOW + 1, 1.0),
        (H(DATED, ("Age", "1, 2")), NOW, NOW + 1, 2.0),  # a list: its first member
        (H(), NOW, NOW + 7, 7.0),  # no Date: resident time only
        (H(("Date", "garbage")), NOW, NOW + 7, 7.0),
        (H(DATED, ("Age", "99999999999")), NOW, NOW, float(2**31)),
    ],
)
def test_current_age(headers: Headers, stored_at: float, now: float, age: float) -> None:
    assert policy.current_age(headers, stored_at, now) == age


@pytest.mark.parametrize(
    ("headers", "elapsed", "fresh"),
    [
        (H(DATED, ("Cache-Control", "max-age=60")), 59, True),
        (H(DATED, ("Cache-Control", "max-age=60")), 60, False),
        (H(DATED), 599, True),  # the default lifetime
        (H(DATED), 600, False),
        (H(DATED, ("Cache-Control", "max-age=60"), ("Age", "50")), 9, True),
        (H(DATED, ("Cache-Control", "max-age=60"), ("Age", "50")), 10, False),
        (H(DATED, ("Cache-Control", "max-age=60"), ("Age", "120")), 0, False),  # upstream Age > lifetime
        (H(DATED, ("Cache-Control", "max-age=60"), ("Age", "abc")), 0, True),  # malformed Age: ignored
        (H(DATED, ("Cache-Control", "max-age=60, s-maxage=5")), 5, False),
        (H(DATED, ("Cache-Control", "max-age=60, no-cache")), 0, False),
        (H(DATED, ("Cache-Control", "max-age=a5")), 0, False),
        (H(DATED, ("Expires", date(NOW + 30))), 29, True),
        (H(DATED, ("Expires", date(NOW + 30))), 30, False),
        (H(DATED, ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")), 0, False),
        (H(("Expires", date(NOW + 30))), 29, True),  # no Date: the receipt time is stored_at
    ],
)
def test_is_fresh(headers: Headers, elapsed: float, fresh: bool) -> None:
    assert policy.is_fresh(headers, NOW, NOW + elapsed, 600) is fresh


def test_is_fresh_page_timeout_beats_max_age() -> None:
    headers = H(DATED, ("Cache-Control", "max-age=10"))
    assert policy.is_fresh(headers, NOW, NOW + 30, 600) is False
    assert policy.is_fresh(headers, NOW, NOW + 30, 600, page_timeout=60) is True
    assert policy.is_fresh(headers, NOW, NOW + 60, 600, page_timeout=60) is False


# -- conditional requests --------------------------------------------------------------------------------

LM = date(NOW - 3600)
STORED = H(DATED, ("ETag", 'W/"v1"'), ("Last-Modified", LM), ("Content-Type", "text/html"))


@pytest.mark.parametrize(
    ("request_headers", "stored", "answer_304"),
    [
        (H(("If-None-Match", '"v1"')), STORED, True),  # weak comparison: W/ ignored on both sides
        (H(("If-None-Match", 'W/"v1"')), STORED, True),
        (H(("If-None-Match", 'W/"v1"')), H(("ETag", '"v1"')), True),
        (H(("If-None-Match", '"x", "v1"')), STORED, True),
        (H(("If-None-Match", '"x"'), ("If-None-Match", '"v1"')), STORED, True),
        (H(("If-None-Match", '"a,b"')), H(("ETag", '"a,b"')), True),
        (H(("If-None-Match", '"v2"')), STORED, False),
        (H(("If-None-Match", "v1")), H(("ETag", "v1")), False),  # unquoted: not an entity-tag
        (H(("If-None-Match", '"V1"')), STORED, False),  # opaque tags are case-sensitive
        (H(("If-None-Match", "*")), STORED, True),
        (H(("If-None-Match", "*")), H(DATED), True),  # "*": any stored representation
        (H(("If-None-Match", '"v1"')), H(DATED), False),  # no stored ETag
        # If-None-Match present: If-Modified-Since ignored (RFC 9110 §13.2.2)
        (H(("If-None-Match", '"v2"'), ("If-Modified-Since", date(NOW))), STORED, False),
        (H(("If-None-Match", '"v1"'), ("If-Modified-Since", date(NOW - 7200))), STORED, True),
        # If-Modified-Since against Last-Modified, else Date
        (H(("If-Modified-Since", LM)), STORED, True),
        (H(("If-Modified-Since", date(NOW))), STORED, True),
        (H(("If-Modified-Since", date(NOW - 7200))), STORED, False),
        (H(("If-Modified-Since", date(NOW))), H(DATED), True),
        (H(("If-Modified-Since", date(NOW - 1))), H(DATED), False),
        (H(("If-Modified-Since", date(NOW))), H(), False),
        (H(("If-Modified-Since", "yesterday")), STORED, False),  # invalid: ignored
        (H(("If-Modified-Since", LM), ("If-Modified-Since", LM)), STORED, False),  # several: ignored
        # origin-only preconditions are never evaluated by the cache
        (H(("If-Match", '"nope"')), STORED, False),
        (H(("If-Unmodified-Since", date(NOW - 99999))), STORED, False),
        (H(), STORED, False),
    ],
)
def test_not_modified(request_headers: Headers, stored: Headers, answer_304: bool) -> None:
    assert policy.not_modified(request_headers, stored) is answer_304


def test_not_modified_headers() -> None:
    stored = H(
        ("Content-Type", "text/html"),
        ("Cache-Control", "max-age=60"),
        ("Content-Length", "1024"),
        ("ETag", '"v1"'),
        ("Vary", "Accept-Encoding"),
        ("Set-Cookie", "a=b"),
        ("Content-Location", "/page/"),
        DATED,
        ("Expires", date(NOW + 60)),
        ("Last-Modified", LM),
        ("X-Custom", "1"),
        ("Age", "3"),
    )
    assert policy.not_modified_headers(stored).items() == [
        ("Cache-Control", "max-age=60"),
        ("ETag", '"v1"'),
        ("Vary", "Accept-Encoding"),
        ("Content-Location", "/page/"),
        DATED,
        ("Expires", date(NOW + 60)),
        ("Last-Modified", LM),
        ("Age", "3"),
    ]


@pytest.mark.parametrize(
    ("stored", "conditions"),
    [
        (STORED, [("If-None-Match", 'W/"v1"'), ("If-Modified-Since", LM)]),
        (H(("ETag", '"a"')), [("If-None-Match", '"a"')]),
        (H(("Last-Modified", LM)), [("If-Modified-Since", LM)]),
        (H(("Last-Modified", "not a date")), []),
        (H(DATED, ("Cache-Control", "max-age=5")), []),
    ],
)
def test_revalidation_headers(stored: Headers, conditions: list[tuple[str, str]]) -> None:
    assert policy.revalidation_headers(stored) == conditions


def test_refreshed_headers_rfc9111_4_3_4() -> None:
    stored = H(
        ("Content-Type", "text/html"),
        ("Content-Length", "1024"),
        ("Cache-Control", "max-age=60"),
        ("ETag", '"v1"'),
        ("X-Old", "a"),
        ("X-Old", "b"),
        ("Date", date(NOW - 120)),
    )
    response_304 = H(
        ("Date", date(NOW)),
        ("Cache-Control", "max-age=300"),
        ("Content-Length", "0"),  # never: it is the 304's, not the body's
        ("Set-Cookie", "session=secret"),  # never stored
        ("Connection", "X-Hop"),
        ("X-Hop", "1"),
        ("X-Old", "c"),
        ("X-New", "n"),
    )
    assert policy.refreshed_headers(stored, response_304).items() == [
        ("Content-Type", "text/html"),
        ("Content-Length", "1024"),
        ("Cache-Control", "max-age=300"),
        ("ETag", '"v1"'),
        ("X-Old", "c"),
        ("Date", date(NOW)),
        ("X-New", "n"),
    ]


def test_refreshed_entry_is_fresh_again() -> None:
    stored = H(("Date", date(NOW - 120)), ("Cache-Control", "max-age=60"), ("ETag", '"v1"'))
    assert not policy.is_fresh(stored, NOW - 120, NOW, 0)
    refreshed = policy.refreshed_headers(stored, H(("Date", date(NOW)), ("ETag", '"v1"')))
    assert policy.is_fresh(refreshed, NOW, NOW + 1, 0)


# -- invalidation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "status", "invalidates"),
    [
        ("POST", 200, True),
        ("PUT", 201, True),
        ("PATCH", 204, True),
        ("DELETE", 302, True),
        ("PROPPATCH", 200, True),  # unknown methods invalidate
        ("post", 200, True),
        ("POST", 399, True),
        ("POST", 400, False),
        ("DELETE", 404, False),
        ("PUT", 500, False),
        ("POST", 199, False),
        ("GET", 200, False),
        ("HEAD", 200, False),
        ("OPTIONS", 200, False),
        ("TRACE", 200, False),
    ],
)
def test_invalidates(method: str, status: int, invalidates: bool) -> None:
    assert policy.invalidates(method, status) is invalidates


# -- downstream headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        H(("Cache-Control", "private")),
        H(("Cache-Control", "Private, max-age=60")),
        H(("Cache-Control", "no-store")),
        H(("Cache-Control", "no-cache")),
        H(("Cache-Control", "s-maxage=60")),
        H(("Cache-Control", "public, s-maxage=60")),
        H(("Expires", date(NOW - 10)), DATED),
        H(("Expires", "0"), DATED),
        H(("Set-Cookie", "a=b")),
    ],
)
def test_downstream_headers_never_add_cacheability(headers: Headers) -> None:
    before = headers.items()
    with mock.patch.object(time, "time", return_value=NOW):
        policy.add_downstream_headers(headers, 600)
    assert headers.items() == before


@pytest.mark.parametrize(
    ("headers", "cache_control", "expires"),
    [
        (H(), "max-age=600", date(NOW + 600)),
        (H(("Cache-Control", "public")), "public, max-age=600", date(NOW + 600)),
        (H(("Cache-Control", "max-age=30")), "max-age=30", date(NOW + 600)),  # min-merge, as Django
        (H(("Cache-Control", "max-age=60, s-maxage=90")), "max-age=60, s-maxage=90", date(NOW + 600)),
        (H(("Expires", date(NOW + 60)), DATED), "max-age=600", date(NOW + 60)),  # Expires kept
    ],
)
def test_downstream_headers_added(headers: Headers, cache_control: str, expires: str) -> None:
    with mock.patch.object(time, "time", return_value=NOW):
        policy.add_downstream_headers(headers, 600)
    assert headers.get("Cache-Control") == cache_control
    assert headers.get("Expires") == expires


FRESH = ("Cache-Control", "max-age=60")


@pytest.mark.parametrize(
    ("request_headers", "vary", "reason"),
    [
        ((("X-Forwarded-Host", "evil.test"),), None, "request header X-Forwarded-Host is not in Vary"),
        ((("x-original-url", "/admin"),), None, "request header x-original-url is not in Vary"),
        ((("X-HTTP-Method-Override", "DELETE"),), "Accept", "request header X-HTTP-Method-Override is not"),
        ((("Forwarded", "host=evil.test"),), None, "request header Forwarded is not in Vary"),
        # Keyed through Vary: stored per value.
        ((("X-Forwarded-Proto", "https"),), "x-forwarded-proto", None),
        # Who asked, not what was built: no effect on the page.
        ((("X-Forwarded-For", "10.0.0.1"),), None, None),
        ((), None, None),
    ],
)
def test_unkeyed_routing_headers_keep_a_response_out_unless_varied(
    request_headers: tuple[tuple[str, str], ...], vary: str | None, reason: str | None
) -> None:
    headers = H(DATED, FRESH, *((("Vary", vary),) if vary else ()))
    refusal = policy.store_refusal(200, headers, req("GET", *request_headers))
    assert refusal == reason or (reason is not None and refusal is not None and refusal.startswith(reason))


# -- RFC 9213 CDN-Cache-Control ---------------------------------------------------------------------------

CDN = "CDN-Cache-Control"


@pytest.mark.parametrize(
    ("headers", "on", "off", "stricter"),
    [
        # on: the targeted field wins entirely, in both directions; stricter: only where stricter
        (H(("Cache-Control", "private"), (CDN, "max-age=60")), None, "private", "private"),
        (H(("Cache-Control", "no-store"), (CDN, "max-age=60")), None, "no-store", "no-store"),
        (
            H(("Cache-Control", "max-age=60"), (CDN, "no-store")),
            "CDN-Cache-Control no-store",
            None,
            "CDN-Cache-Control no-store",
        ),
        (
            H(("Cache-Control", "max-age=60"), (CDN, "private")),
            "CDN-Cache-Control private",
            None,
            "CDN-Cache-Control private",
        ),
        (
            H(("Cache-Control", "max-age=60"), (CDN, "no-cache")),
            "CDN-Cache-Control no-cache",
            None,
            "CDN-Cache-Control no-cache",
        ),
        (
            H(("Cache-Control", "max-age=60"), (CDN, 'private="a"')),
            "CDN-Cache-Control private",
            None,
            "CDN-Cache-Control private",
        ),
        # on: Expires and Pragma are Cache-Control's companions, ignored under a valid targeted field;
        # stricter: they hold (a past Expires makes the lifetime 0: see the store_timeout test)
        (H(DATED, ("Expires", date(NOW - 10)), (CDN, "max-age=60")), None, "Expires in the past", None),
        (H(("Pragma", "no-cache"), (CDN, "max-age=60")), None, "Pragma: no-cache", "no-cache"),
        # an invalid or empty targeted field is ignored: Cache-Control decides
        (H(("Cache-Control", "no-store"), (CDN, "max-age=10000, &&&&&")), "no-store", "no-store", "no-store"),
        (H(("Cache-Control", "no-store"), (CDN, 'max-age="10000"')), "no-store", "no-store", "no-store"),
        (H(("Cache-Control", "no-store"), (CDN, "max-age =10")), "no-store", "no-store", "no-store"),
        (H(("Cache-Control", "no-store"), (CDN, "MaX-aGe=10")), "no-store", "no-store", "no-store"),
        (H(("Cache-Control", "no-store"), (CDN, "max-age=10,")), "no-store", "no-store", "no-store"),
        (H(("Cache-Control", "no-store"), (CDN, "no-store=?0")), "no-store", "no-store", "no-store"),
        (H(("Cache-Control", "no-store"), (CDN, "")), "no-store", "no-store", "no-store"),
        # rules that are not directives hold whichever field governs
        (H(("Set-Cookie", "a=b"), (CDN, "max-age=60")), "Set-Cookie", "Set-Cookie", "Set-Cookie"),
        (H(("Vary", "*"), (CDN, "max-age=60")), "Vary: *", "Vary: *", "Vary: *"),
    ],
)
def test_cdn_cache_control_decides_storing(
    headers: Headers, on: str | None, off: str | None, stricter: str | None
) -> None:
    assert policy.store_refusal(200, headers, req(), cdn=True) == on
    assert policy.store_refusal(200, headers, req(), cdn=False) == off
    assert policy.store_refusal(200, headers, req(), cdn="stricter") == stricter
    assert policy.store_refusal(200, headers, req()) == stricter  # the pure default is the setting's


@pytest.mark.parametrize(
    ("status", "request_", "reason"),
    [
        (500, req(), "status 500"),
        (206, req(), "status 206"),
        (200, req("POST"), "method POST"),
        (200, req("GET", ("Cache-Control", "no-store")), "request no-store"),
        (200, req("GET", ("X-Forwarded-Host", "evil")), "request header X-Forwarded-Host is not in Vary"),
    ],
)
def test_cdn_cache_control_never_relaxes_the_secure_rules(
    status: int, request_: Request, reason: str
) -> None:
    assert policy.store_refusal(status, H((CDN, "public, max-age=60")), request_, cdn=True) == reason


@pytest.mark.parametrize(
    ("headers", "on", "off", "stricter"),
    [
        (H(("Cache-Control", "max-age=3600"), (CDN, "max-age=1")), 1.0, 3600.0, 1.0),
        (H(("Cache-Control", "max-age=1"), (CDN, "max-age=3600")), 3600.0, 1.0, 1.0),  # never longer
        (H(("Cache-Control", "max-age=1"), (CDN, "s-maxage=50, max-age=10")), 50.0, 1.0, 1.0),
        (H((CDN, "max-age=99999999999")), float(2**31), 7.0, float(2**31)),  # Cache-Control says none
        (H(DATED, ("Expires", date(NOW + 100)), (CDN, "max-age=0")), 0.0, 100.0, 0.0),
        (H(DATED, ("Expires", date(NOW + 100)), (CDN, "foo")), 7.0, 100.0, 100.0),  # no targeted lifetime
        (H(DATED, ("Expires", date(NOW - 100)), (CDN, "max-age=60")), 60.0, 0.0, 0.0),  # a past Expires
        (H(("Cache-Control", "max-age=20"), (CDN, "max-age=60, &")), 20.0, 20.0, 20.0),  # invalid: ignored
    ],
)
def test_cdn_cache_control_lifetime(headers: Headers, on: float, off: float, stricter: float) -> None:
    assert policy.freshness_lifetime(headers, 7, received_at=NOW, cdn=True) == on
    assert policy.freshness_lifetime(headers, 7, received_at=NOW, cdn=False) == off
    assert policy.freshness_lifetime(headers, 7, received_at=NOW, cdn="stricter") == stricter
    assert policy.freshness_lifetime(headers, 7, received_at=NOW) == stricter
    for mode, lifetime in ((True, on), ("stricter", stricter)):
        assert policy.is_fresh(headers, NOW, NOW + lifetime - 0.5, 7, cdn=mode) is (lifetime > 0.5)
        assert not policy.is_fresh(headers, NOW, NOW + lifetime + 0.5, 7, cdn=mode)


@pytest.mark.parametrize(
    ("headers", "on", "off", "stricter"),
    [
        (H(("Cache-Control", "max-age=3600"), (CDN, "max-age=0")), None, 3600.0, None),
        (H(("Cache-Control", "max-age=0"), (CDN, "max-age=30")), 30.0, None, None),
        (
            H(("Cache-Control", "max-age=30"), (CDN, "max-age=60"), ("ETag", '"x"')),
            60.0 + 600,
            30.0 + 600,
            30.0 + 600,
        ),
        (H(DATED, ("Expires", date(NOW - 10)), (CDN, "max-age=60")), 60.0, None, None),
    ],
)
def test_cdn_cache_control_store_timeout(
    headers: Headers, on: float | None, off: float | None, stricter: float | None
) -> None:
    assert policy.store_timeout(headers, None, 0, cdn=True) == on
    assert policy.store_timeout(headers, None, 0, cdn=False) == off
    assert policy.store_timeout(headers, None, 0, cdn="stricter") == stricter


def test_cdn_no_cache_is_never_fresh_and_public_there_skips_the_authorization_vary() -> None:
    headers = H(("Cache-Control", "max-age=60"), (CDN, "no-cache"))
    assert policy.is_fresh(headers, NOW, NOW, 0, cdn=False)
    assert not policy.is_fresh(headers, NOW, NOW, 0, cdn=True)
    assert not policy.is_fresh(headers, NOW, NOW, 0, cdn="stricter")
    authorized = req("GET", ("Authorization", "Bearer t"))
    public_for_cdn = H(("Cache-Control", "max-age=60"), (CDN, "public, max-age=60"))
    public_for_browsers = H(("Cache-Control", "public, max-age=60"), (CDN, "max-age=60"))
    assert not policy.needs_authorization_vary(authorized, public_for_cdn, cdn=True)
    assert policy.needs_authorization_vary(authorized, public_for_cdn, cdn=False)
    assert policy.needs_authorization_vary(authorized, public_for_browsers, cdn=True)
    # stricter: only Cache-Control's public lets an authorized answer be shared
    assert policy.needs_authorization_vary(authorized, public_for_cdn, cdn="stricter")
    assert not policy.needs_authorization_vary(authorized, public_for_browsers, cdn="stricter")
