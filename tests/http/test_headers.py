"""cachemere.http.headers: strict parsers that never raise, and Django's header helpers.

Django 5.2 (installed) is the oracle for the helpers where 5.2 and 6.1 agree;
where 6.1 changed (whitespace, whole-token matching) the spec's 6.1 results
are written out.
"""

from __future__ import annotations

import calendar
import time
from typing import Any
from unittest import mock

import pytest

from cachemere.http.headers import (
    DELTA_SECONDS_MAX,
    QuotedValue,
    add_never_cache_headers,
    cache_control_directives,
    delta_seconds,
    get_max_age,
    has_vary_header,
    http_date,
    parse_cache_control,
    parse_http_date,
    patch_cache_control,
    patch_response_headers,
    patch_vary_headers,
    split_header_value,
    vary_names,
)
from cachemere.http.messages import Headers

NOV_6_1994 = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT


@pytest.fixture(scope="module")
def django_cache() -> Any:
    """django.utils.cache and django.utils.http, with Django's settings configured once."""
    from django.conf import settings as django_settings

    if not django_settings.configured:
        django_settings.configure(CACHE_MIDDLEWARE_SECONDS=600)
    import django.utils.cache
    import django.utils.http

    return django.utils.cache, django.utils.http


def django_response(cache_control: str | None = None, vary: str | None = None) -> Any:
    from django.http import HttpResponse

    response = HttpResponse()
    if cache_control is not None:
        response.headers["Cache-Control"] = cache_control
    if vary is not None:
        response.headers["Vary"] = vary
    return response


def ours(cache_control: str | None = None, vary: str | None = None) -> Headers:
    headers = Headers()
    if cache_control is not None:
        headers["Cache-Control"] = cache_control
    if vary is not None:
        headers["Vary"] = vary
    return headers


# -- split_header_value / cache_control_directives ----------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("a", ["a"]),
        ("a,b", ["a", "b"]),
        (" a ,\tb\t, ,, c ", ["a", "b", "c"]),
        ('no-cache="a, b", private', ['no-cache="a, b"', "private"]),
        ('x="a\\", b", y', ['x="a\\", b"', "y"]),  # an escaped quote does not end the string
        ('x="unterminated, y', ['x="unterminated', "y"]),  # an unclosed quote hides nothing
        ('a="b", c="d, private', ['a="b"', 'c="d', "private"]),
        (",,,", []),
    ],
)
def test_split_header_value(value: str | None, expected: list[str]) -> None:
    assert split_header_value(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("max-age=60", [("max-age", "60")]),
        ("Max-Age=60, PRIVATE", [("max-age", "60"), ("private", None)]),
        ('no-cache="a, b"', [("no-cache", "a, b")]),
        ('no-cache="Set-Cookie", no-store', [("no-cache", "Set-Cookie"), ("no-store", None)]),
        ("myprivate, x-private-ext", [("myprivate", None), ("x-private-ext", None)]),
        ("max-age=1, max-age=2", [("max-age", "1"), ("max-age", "2")]),
        ("no-store =x", [("no-store", "x")]),  # the name still reads as no-store: refusals must match
        ("max-age= 60", [("max-age", " 60")]),  # the argument keeps the space: delta_seconds rejects it
        ('ext="max-age=3600", max-age=1', [("ext", "max-age=3600"), ("max-age", "1")]),
        ('a="x\\"y"', [("a", 'x"y')]),
        ('a="x"y', [("a", '"x"y')]),  # not a quoted-string: kept as written
        ("=5, , public", [("public", None)]),
        ("max-age=", [("max-age", "")]),
    ],
)
def test_cache_control_directives(value: str | None, expected: list[tuple[str, str | None]]) -> None:
    assert cache_control_directives(value) == expected


def test_quoted_arguments_are_marked() -> None:
    (_, argument), (_, plain) = cache_control_directives('max-age="60", s-maxage=60')
    assert isinstance(argument, QuotedValue) and argument == "60"
    assert not isinstance(plain, QuotedValue)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=1800, max-age=1", {"max-age": "1800"}),
        ("PRIVATE, no-cache, Private=x", {"private": None, "no-cache": None}),
        ('no-cache="a, b", max-age=5', {"no-cache": "a, b", "max-age": "5"}),
        (None, {}),
    ],
)
def test_parse_cache_control_first_occurrence_wins(value: str | None, expected: dict[str, Any]) -> None:
    assert parse_cache_control(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("60", 60),
        ("003600", 3600),
        (str(2**31), DELTA_SECONDS_MAX),
        (str(2**31 + 1), DELTA_SECONDS_MAX),
        ("9" * 50, DELTA_SECONDS_MAX),
        ("9" * 5000, DELTA_SECONDS_MAX),  # past int()'s digit limit: still no exception
        ("0" * 30 + "7", 7),
        ('"60"', None),
        (QuotedValue("60"), None),
        ("'60'", None),
        ("1.5", None),
        ("3600.0", None),
        ("a5", None),
        ("5a", None),
        ("-1", None),
        ("+1", None),
        (" 60", None),
        ("60 ", None),
        ("6_0", None),
        ("\u0666\u0660", None),  # Arabic-Indic digits are not DIGIT
        ("", None),
        (None, None),
    ],
)
def test_delta_seconds(value: str | None, expected: int | None) -> None:
    assert delta_seconds(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("Accept-Encoding", ["Accept-Encoding"]),
        (" Cookie ,accept-language,, ", ["Cookie", "accept-language"]),
        ("*", ["*"]),
        (" * ", ["*"]),
        ("*, *", ["*", "*"]),
        (", *", ["*"]),
        ("Foo, *", ["Foo", "*"]),
    ],
)
def test_vary_names(value: str | None, expected: list[str]) -> None:
    assert vary_names(value) == expected


# -- HTTP dates -----------------------------------------------------------------------


def _rfc850_year(two_digits: int) -> int:
    """RFC 9110 §5.6.7's reading of a two-digit year, from the current year."""
    this_year = time.gmtime().tm_year
    year = this_year - this_year % 100 + two_digits
    return year - 100 if year > this_year + 50 else year


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", NOV_6_1994),
        ("Sunday, 06-Nov-94 08:49:37 GMT", NOV_6_1994),
        ("Sun Nov  6 08:49:37 1994", NOV_6_1994),
        ("Sun Nov 06 08:49:37 1994", NOV_6_1994),
        ("  Sun, 06 Nov 1994 08:49:37 GMT\t", NOV_6_1994),  # surrounding OWS
        ("sun, 06 nov 1994 08:49:37 gmt", NOV_6_1994),  # names are case-insensitive
        ("THU, 18 AUG 2050 02:01:18 gMT", float(calendar.timegm((2050, 8, 18, 2, 1, 18)))),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Sun, 06 Nov 0094 08:49:37 GMT", float(calendar.timegm((94, 11, 6, 8, 49, 37)))),  # not 1994
        ("Mon, 01 Jan 0001 00:00:00 GMT", float(calendar.timegm((1, 1, 1, 0, 0, 0)))),
        ("Fri, 31 Dec 9999 23:59:59 GMT", float(calendar.timegm((9999, 12, 31, 23, 59, 59)))),
        ("Sun Nov  6 08:49:37 0094", float(calendar.timegm((94, 11, 6, 8, 49, 37)))),
        ("Sat, 29 Feb 2020 00:00:00 GMT", float(calendar.timegm((2020, 2, 29, 0, 0, 0)))),
        ("Wed, 31 Dec 2025 23:59:60 GMT", float(calendar.timegm((2025, 12, 31, 23, 59, 60)))),
        (
            "Thursday, 18-Aug-50 02:01:18 GMT",
            float(calendar.timegm((_rfc850_year(50), 8, 18, 2, 1, 18))),
        ),
        (
            "Thursday, 18-Aug-99 02:01:18 GMT",
            float(calendar.timegm((_rfc850_year(99), 8, 18, 2, 1, 18))),
        ),
    ],
)
def test_parse_http_date_valid(value: str, expected: float) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "0",
        "-1",
        "garbage",
        "Thu, 18 Aug 2050 02:01:18 UTC",
        "Thu, 18 Aug 2050 02:01:18 +0000",
        "Thu, 18 Aug 2050 02:01:18 EST",
        "Thu, 18 Aug 2050 02:01:18 AEST",
        "Thu, 18 Aug 2050 02:01:18",  # no zone
        "Thu, 18 Aug 50 02:01:18 GMT",  # two-digit year in IMF-fixdate
        "Thu 18 Aug 2050 02:01:18 GMT",  # no comma
        "Thu, 18  Aug  2050 02:01:18 GMT",  # doubled spaces
        "Thu, 18-Aug-2050 02:01:18 GMT",  # dashes in IMF-fixdate
        "Thu, 18 Aug 2050 02.01.18 GMT",
        "Thu, 18 Aug 2050 2:01:18 GMT",  # one-digit hour
        "Thu, 8 Aug 2050 02:01:18 GMT",  # one-digit day
        "18 Aug 2050 02:01:18 GMT",  # no weekday
        "Thx, 18 Aug 2050 02:01:18 GMT",
        "Thu, 18 Agu 2050 02:01:18 GMT",
        "Thu, 31 Nov 2050 02:01:18 GMT",  # no such day
        "Thu, 29 Feb 2051 02:01:18 GMT",
        "Thu, 00 Aug 2050 02:01:18 GMT",
        "Sat, 01 Jan 0000 00:00:00 GMT",  # there is no year 0
        "Thu, 18 Aug 2050 24:00:00 GMT",
        "Thu, 18 Aug 2050 02:60:00 GMT",
        "Thu, 18 Aug 2050 02:01:61 GMT",
        "Thu, 18 Aug 2050 02:01:18 GMT extra",
        "Thursday, 18-Aug-2050 02:01:18 GMT",  # four-digit year in RFC 850
        "Thu, 18-Aug-50 02:01:18 GMT",  # RFC 850 needs the full day name
        "Sun Nov 6 08:49:37 1994",  # asctime pads the day with a space
        "Sun Nov  6 08:49:37 94",
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",  # a list
        "\uff33un, 06 Nov 1994 08:49:37 GMT",  # a full-width S
        "Sun, \u06606 Nov 1994 08:49:37 GMT",  # an Arabic-Indic zero
    ],
)
def test_parse_http_date_invalid(value: str | None) -> None:
    assert parse_http_date(value) is None


def test_parse_http_date_ignores_non_strings() -> None:
    assert parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT") is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"],
)
def test_parse_http_date_agrees_with_django(django_cache: Any, value: str) -> None:
    _, django_http = django_cache
    assert parse_http_date(value) == django_http.parse_http_date_safe(value)


def test_parse_http_date_ignores_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.fail("time.tzset is needed to change the local zone")
    for zone in ("Australia/Sydney", "America/Los_Angeles"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == NOV_6_1994
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        (NOV_6_1994, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (NOV_6_1994 + 0.9, "Sun, 06 Nov 1994 08:49:37 GMT"),
    ],
)
def test_http_date(epoch: float, expected: str) -> None:
    assert http_date(epoch) == expected
    assert parse_http_date(http_date(epoch)) == float(int(epoch))


def test_http_date_agrees_with_django(django_cache: Any) -> None:
    _, django_http = django_cache
    for epoch in (0, NOV_6_1994, 2_000_000_000, 2_524_608_000):
        assert http_date(epoch) == django_http.http_date(epoch)


# -- patch_cache_control --------------------------------------------------------------

# (existing Cache-Control, kwargs): cases where Django 5.2 and 6.1 agree.
PATCH_CASES: list[tuple[str | None, dict[str, Any]]] = [
    (None, {"no_cache": True}),
    (None, {"private": True}),
    (None, {"max_age": 30}),
    ("no-cache", {"no_cache": True}),
    ("no-cache", {"no_cache": "Set-Cookie"}),
    ("no-cache=Set-Cookie", {"no_cache": True}),
    ("no-cache=Set-Cookie,no-cache=Link", {"no_cache": False}),
    ("no-cache=Set-Cookie", {"no_cache": "Link"}),
    ("no-cache=Set-Cookie,private", {"no_cache": "Link"}),
    ("max-age=60", {"max_age": 30}),
    ("max-age=60", {"max_age": 600}),
    ("max-age=60,private", {"public": True}),
    ("max-age=60,public", {"private": True}),
    ("must-revalidate,max-age=60,private", {"public": True}),
    ("private", {"public": True, "max_age": 5}),
    ("public", {"no_store": True, "must_revalidate": True}),
    ("s-maxage=10,no-transform", {"stale_while_revalidate": 30}),
    ("private=Set-Cookie", {"private": True}),
    ("max-age=60", {"must_revalidate": False}),  # Django renders False as name=False
    ("max-age=60", {}),
    ("PRIVATE,Max-Age=60", {"max_age": 10}),
    ("", {"public": True}),
]


def _parts(value: str) -> set[str]:
    # no-cache field lists come out of a set in Django: compare without order.
    return set(value.split(", ")) if value else set()


@pytest.mark.parametrize(("existing", "kwargs"), PATCH_CASES)
def test_patch_cache_control_matches_django(
    django_cache: Any, existing: str | None, kwargs: dict[str, Any]
) -> None:
    django_utils_cache, _ = django_cache
    theirs = django_response(existing)
    django_utils_cache.patch_cache_control(theirs, **kwargs)
    headers = ours(existing)
    patch_cache_control(headers, **kwargs)
    assert _parts(headers["Cache-Control"]) == _parts(theirs.headers["Cache-Control"])


@pytest.mark.parametrize(
    ("existing", "kwargs", "expected"),
    [
        # The spec's examples (Django 6.1).
        ("no-cache=Set-Cookie", {"no_cache": True}, "no-cache"),
        ("no-cache=Set-Cookie", {"no_cache": "Link"}, "no-cache=Set-Cookie, no-cache=Link"),
        ("must-revalidate,max-age=60,private", {"public": True}, "must-revalidate, max-age=60, public"),
        # 6.1 strips names around "=" and around commas.
        (" max-age=60 , Private ", {"max_age": 30}, "max-age=30, private"),
        ("max-age =60", {"max_age": 30}, "max-age=30"),
        # Commas inside a quoted field list stay in it.
        (
            'no-cache="Set-Cookie, Link", max-age=60',
            {"public": True},
            'no-cache="Set-Cookie, Link", max-age=60, public',
        ),
        # An existing malformed max-age is read as 0 (stale), where Django would raise.
        ('max-age="60"', {"max_age": 30}, "max-age=0"),
        ("max-age=a5", {"max_age": 30}, "max-age=0"),
        ("max-age", {"max_age": 30}, "max-age=0"),
        # A repeated field name in no-cache appears once, in first-seen order.
        ("no-cache=A, no-cache=B, no-cache=A", {"no_cache": "C"}, "no-cache=A, no-cache=B, no-cache=C"),
        # Keyword names are not lower-cased (Django's behaviour).
        (None, {"Max_Age": 5}, "Max-Age=5"),
    ],
)
def test_patch_cache_control_61_results(existing: str | None, kwargs: dict[str, Any], expected: str) -> None:
    headers = ours(existing)
    patch_cache_control(headers, **kwargs)
    assert headers["Cache-Control"] == expected


def test_patch_cache_control_on_framework_responses() -> None:
    import werkzeug.datastructures
    from django.http import HttpResponse
    from starlette.responses import Response

    werkzeug_headers = werkzeug.datastructures.Headers([("cache-control", "max-age=60, private")])
    patch_cache_control(werkzeug_headers, public=True, max_age=30)
    assert werkzeug_headers.get_all("Cache-Control") == ["max-age=30, public"]

    starlette_response = Response(headers={"cache-control": "max-age=60, private"})
    patch_cache_control(starlette_response, public=True, max_age=30)
    assert starlette_response.headers.getlist("cache-control") == ["max-age=30, public"]

    django_response_ = HttpResponse(headers={"Cache-Control": "max-age=60, private"})
    patch_cache_control(django_response_, public=True, max_age=30)
    assert django_response_["Cache-Control"] == "max-age=30, public"


def test_patch_cache_control_reads_every_header_line() -> None:
    headers = Headers([("Cache-Control", "private"), ("cache-control", "max-age=60")])
    patch_cache_control(headers, public=True)
    assert headers.items() == [("Cache-Control", "max-age=60, public")]


# -- get_max_age -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "max-age=60",
        "private, max-age=0",
        "MAX-AGE=300",
        "max-age=1800, max-age=1",
        "no-cache",
        "max-age=a5",
        'max-age="60"',
        "max-age=1.5",
        "s-maxage=60",
    ],
)
def test_get_max_age_matches_django(django_cache: Any, value: str | None) -> None:
    django_utils_cache, _ = django_cache
    assert get_max_age(ours(value)) == django_utils_cache.get_max_age(django_response(value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" max-age=300", 300),  # 6.1 strips members
        ("public , max-age=300 ", 300),
        ("max-age =300", 300),
        ("max-age=003600", 3600),
        ("max-age=99999999999999", DELTA_SECONDS_MAX),
        # Stricter than Django: int() would accept these.
        ("max-age=-1", None),
        ("max-age=+5", None),
        ("max-age=6_0", None),
        ("max-age", None),  # Django: int(True) == 1
        ("myprivate, x-max-age=5", None),
    ],
)
def test_get_max_age(value: str, expected: int | None) -> None:
    assert get_max_age(ours(value)) == expected


def test_get_max_age_on_a_response_object() -> None:
    from django.http import HttpResponse

    assert get_max_age(HttpResponse(headers={"Cache-Control": "max-age=42"})) == 42
    assert get_max_age(HttpResponse()) is None


# -- patch_response_headers / add_never_cache_headers -------------------------------------


@pytest.mark.parametrize(
    ("existing", "timeout"),
    [
        (None, 60),
        ("max-age=10", 60),
        ("max-age=100", 60),
        (None, -5),
        ("private", 0),
        (None, None),
        ("public", 600),
    ],
)
def test_patch_response_headers_matches_django(
    django_cache: Any, existing: str | None, timeout: int | None
) -> None:
    django_utils_cache, _ = django_cache
    theirs = django_response(existing)
    headers = ours(existing)
    with mock.patch.object(time, "time", return_value=NOV_6_1994):
        django_utils_cache.patch_response_headers(theirs, timeout)
        patch_response_headers(headers, timeout)
    assert headers["Expires"] == theirs.headers["Expires"]
    assert _parts(headers["Cache-Control"]) == _parts(theirs.headers["Cache-Control"])


def test_patch_response_headers_values() -> None:
    headers = Headers()
    with mock.patch.object(time, "time", return_value=NOV_6_1994):
        patch_response_headers(headers, 60)
    assert headers.items() == [("Expires", "Sun, 06 Nov 1994 08:50:37 GMT"), ("Cache-Control", "max-age=60")]


def test_patch_response_headers_keeps_an_existing_expires() -> None:
    headers = Headers([("expires", "Thu, 01 Jan 1970 00:00:00 GMT")])
    patch_response_headers(headers, 60)
    assert headers.get_all("Expires") == ["Thu, 01 Jan 1970 00:00:00 GMT"]


def test_patch_response_headers_fractional_timeout_gives_valid_max_age() -> None:
    headers = Headers()
    with mock.patch.object(time, "time", return_value=NOV_6_1994):
        patch_response_headers(headers, 1.5)
    assert headers["Cache-Control"] == "max-age=1"
    assert headers["Expires"] == "Sun, 06 Nov 1994 08:49:38 GMT"


def test_patch_response_headers_default_reads_settings(fresh_settings: None) -> None:
    from cachemere.conf import configure

    configure(CACHE_MIDDLEWARE_SECONDS=42)
    headers = Headers()
    with mock.patch.object(time, "time", return_value=NOV_6_1994):
        patch_response_headers(headers)
    assert headers["Cache-Control"] == "max-age=42"
    assert headers["Expires"] == http_date(NOV_6_1994 + 42)


def test_add_never_cache_headers() -> None:
    headers = Headers()
    with mock.patch.object(time, "time", return_value=NOV_6_1994):
        add_never_cache_headers(headers)
    assert headers["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert headers["Expires"] == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize("existing", [None, "public, max-age=600", "no-cache=Set-Cookie", "max-age=5"])
def test_add_never_cache_headers_matches_django(django_cache: Any, existing: str | None) -> None:
    django_utils_cache, _ = django_cache
    theirs = django_response(existing)
    headers = ours(existing)
    with mock.patch.object(time, "time", return_value=NOV_6_1994):
        django_utils_cache.add_never_cache_headers(theirs)
        add_never_cache_headers(headers)
    assert headers["Expires"] == theirs.headers["Expires"]
    assert _parts(headers["Cache-Control"]) == _parts(theirs.headers["Cache-Control"])


def test_add_never_cache_headers_keeps_an_existing_expires() -> None:
    headers = Headers([("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")])
    add_never_cache_headers(headers)
    assert headers["Expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"


# -- Vary -------------------------------------------------------------------------------

VARY_CASES: list[tuple[str | None, tuple[str, ...], str]] = [
    (None, ("Accept-Encoding",), "Accept-Encoding"),
    ("Accept-Encoding", ("accept-encoding",), "Accept-Encoding"),
    ("Accept-Encoding", ("ACCEPT-ENCODING",), "Accept-Encoding"),
    ("Cookie", ("Accept-Encoding",), "Cookie, Accept-Encoding"),
    ("Cookie, Accept-Encoding", ("Accept-Encoding",), "Cookie, Accept-Encoding"),
    ("Cookie, Accept-Encoding", ("Accept-Encoding", "cookie"), "Cookie, Accept-Encoding"),
    (None, ("Accept-Encoding", "COOKIE"), "Accept-Encoding, COOKIE"),
    ("Cookie,     Accept-Encoding", ("Accept-Encoding", "cookie"), "Cookie, Accept-Encoding"),
    ("Cookie    ,     Accept-Encoding", ("Accept-Encoding", "cookie"), "Cookie, Accept-Encoding"),
    ("*", ("Accept-Language", "Cookie"), "*"),
    ("Accept-Language, Cookie", ("*",), "*"),
    ("Accept-Language, Cookie", ("*", "Accept-Language", "Cookie"), "*"),
    ("Cookie", ("X-A", "X-A"), "Cookie, X-A, X-A"),  # Django does not de-duplicate within the new names
]


@pytest.mark.parametrize(("existing", "new", "expected"), VARY_CASES)
def test_patch_vary_headers(
    django_cache: Any, existing: str | None, new: tuple[str, ...], expected: str
) -> None:
    django_utils_cache, _ = django_cache
    theirs = django_response(vary=existing)
    django_utils_cache.patch_vary_headers(theirs, new)
    assert theirs.headers["Vary"] == expected  # the table is Django's
    headers = ours(vary=existing)
    patch_vary_headers(headers, new)
    assert headers["Vary"] == expected


@pytest.mark.parametrize(
    ("existing", "new", "expected"),
    [
        # 6.1 strips existing and new names (Django 6.1 test_patch_vary_headers_strips_whitespace).
        (
            " Cookie ,  Accept-Encoding ",
            ("  Accept-Encoding ", " Authorization"),
            "Cookie, Accept-Encoding, Authorization",
        ),
        ("Cookie,, ", (" X ",), "Cookie, X"),
        (" * ", ("Cookie",), "*"),
        ("Cookie", ("", " "), "Cookie"),  # empty names would make an invalid Vary
    ],
)
def test_patch_vary_headers_61(existing: str, new: tuple[str, ...], expected: str) -> None:
    headers = ours(vary=existing)
    patch_vary_headers(headers, new)
    assert headers["Vary"] == expected


def test_patch_vary_headers_merges_header_lines() -> None:
    headers = Headers([("Vary", "Cookie"), ("vary", "Accept-Encoding")])
    patch_vary_headers(headers, ["cookie", "Origin"])
    assert headers.items() == [("Vary", "Cookie, Accept-Encoding, Origin")]


@pytest.mark.parametrize(
    ("vary", "query", "expected"),
    [
        (None, "Cookie", False),
        ("", "Cookie", False),
        ("Cookie", "Cookie", True),
        ("Accept-Language, Cookie", "cookie", True),
        ("Accept-Language, COOKIE", "Cookie", True),
        ("Accept-Language, Cookie", "Accept-Encoding", False),
        ("Cookies", "Cookie", False),  # whole names only
        ("X-Cookie", "Cookie", False),
        ("*", "Cookie", False),
        ("*", "*", True),
        ("Foo,*", "*", True),
    ],
)
def test_has_vary_header_matches_django(
    django_cache: Any, vary: str | None, query: str, expected: bool
) -> None:
    django_utils_cache, _ = django_cache
    assert django_utils_cache.has_vary_header(django_response(vary=vary), query) is expected
    assert has_vary_header(ours(vary=vary), query) is expected


@pytest.mark.parametrize(
    ("vary", "query", "expected"),
    [
        (" * ", "*", True),  # CVE-2026-48587
        ("Foo ,  * ", "*", True),
        (" Cookie ", " cookie ", True),
        ("Cookie,,Origin", "origin", True),
    ],
)
def test_has_vary_header_61(vary: str, query: str, expected: bool) -> None:
    assert has_vary_header(ours(vary=vary), query) is expected


def test_has_vary_header_reads_every_line() -> None:
    assert has_vary_header(Headers([("Vary", "Accept"), ("Vary", "Cookie")]), "cookie")


# -- never raising ------------------------------------------------------------------------

GARBAGE = [
    '"',
    "\\",
    '="',
    ",=,",
    'a="\\',
    "max-age==5",
    "max-age=5=5",
    "\x00\xff\u2028",
    'no-cache="' + "," * 1000,
    "max-age=" + "9" * 10000,
    "*" * 100,
]


@pytest.mark.parametrize("value", GARBAGE)
def test_parsers_never_raise(value: str) -> None:
    split_header_value(value)
    for name, argument in cache_control_directives(value):
        assert name == name.lower()
        delta_seconds(argument)
    parse_cache_control(value)
    vary_names(value)
    assert parse_http_date(value) is None
    headers = Headers([("Cache-Control", value), ("Vary", value)])
    get_max_age(headers)
    has_vary_header(headers, "*")
    patch_cache_control(headers, max_age=5, public=True)
    patch_vary_headers(headers, ["Cookie"])
    assert get_max_age(headers) is not None
