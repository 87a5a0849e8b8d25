"""Regression tests for what the RFC 9111 cache-tests run found (docs/http.md, "RFC 9111 conformance").

Each test stands alone (no suite needed) and fails on the code before its fix.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from cachemere import CacheHandler
from cachemere.http import policy
from cachemere.http.headers import http_date, parse_cache_control
from cachemere.http.messages import Headers, Request
from helpers.middleware import Site, page

_names = itertools.count()
NOW = 1_700_000_000.0


@pytest.fixture(params=["locmem", "files"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "locmem":
        settings = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": f"rfc-{next(_names)}"}
    else:
        settings = {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "c")}
    return CacheHandler({"pages": settings}, SECRET_KEY="test-secret")["pages"]


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _at(moment: float) -> Any:
    return mock.patch.object(time, "time", return_value=moment)


# -- freshness-expires-future (and the 16 required tests that depend on it) ---------------------------


def test_a_future_expires_is_kept_when_the_site_default_is_zero(kind: str, cache: Any) -> None:
    # Before: max-age=CACHE_MIDDLEWARE_SECONDS (0) was added beside the Expires, so the stored page
    # was stale at once and the app was asked again.
    with _at(NOW):
        site = Site(kind, cache, page(headers=[("Date", http_date(NOW)), ("Expires", http_date(NOW + 300))]),
                    cache_timeout=0)  # fmt: skip
        first = site()
    with _at(NOW + 100):
        second = site()
    assert site.calls == 1 and second[2] == first[2]
    assert parse_cache_control(first[1]["Cache-Control"])["max-age"] == "300"


def test_expires_downstream_max_age_never_exceeds_the_expires(kind: str, cache: Any) -> None:
    # Django would add max-age=600 to a page that expires in 5 seconds, extending it downstream.
    with _at(NOW):
        site = Site(kind, cache, page(headers=[("Date", http_date(NOW)), ("Expires", http_date(NOW + 5))]),
                    cache_timeout=600)  # fmt: skip
        first = site()
    assert parse_cache_control(first[1]["Cache-Control"])["max-age"] == "5"
    with _at(NOW + 10):
        site()
    assert site.calls == 2


# -- age-parse-* --------------------------------------------------------------------------------------

DATED = ("Date", http_date(NOW))


@pytest.mark.parametrize(
    ("age", "fresh"),
    [
        ("abc", True),  # invalid: ignored (RFC 9111 §5.1), the page's own max-age holds
        ("-7200", True),
        ("7200.0", True),
        ("0, old", True),  # a list: its first member
        ("0, 0", True),
        ("7200, 0", False),  # the first member counts
        ("7200", False),
    ],
)
def test_age_invalid_is_ignored_and_a_list_counts_by_its_first_member(age: str, fresh: bool) -> None:
    headers = Headers([DATED, ("Cache-Control", "max-age=3600"), ("Age", age)])
    assert policy.is_fresh(headers, NOW, NOW + 1, 0) is fresh


def test_age_split_over_two_lines_counts_by_the_first() -> None:
    headers = Headers([DATED, ("Cache-Control", "max-age=3600"), ("Age", "0"), ("Age", "7200")])
    assert policy.is_fresh(headers, NOW, NOW + 1, 0)
    assert policy.current_age(headers, NOW, NOW + 1) == 1.0


# -- status-*-fresh: temporary redirects and other 2xx with explicit freshness -------------------------

GET = Request("GET", "http", "testserver", "/page")
FRESH = Headers([("Cache-Control", "max-age=3600")])


@pytest.mark.parametrize(
    ("status", "headers", "reason"),
    [
        (302, FRESH, None),
        (303, FRESH, None),
        (307, FRESH, None),
        (299, FRESH, None),
        (201, FRESH, None),
        (302, Headers(), "status 302 without explicit freshness"),
        (299, Headers(), "status 299 without explicit freshness"),
        (206, FRESH, "status 206"),  # ranges are not handled: never stored
        # errors stay refused whatever their headers (cache-poisoned denial of service)
        (400, FRESH, "status 400"),
        (499, FRESH, "status 499"),
        (500, FRESH, "status 500"),
        (503, FRESH, "status 503"),
        (599, FRESH, "status 599"),
    ],
)
def test_explicitly_fresh_redirects_and_successes_are_stored(
    status: int, headers: Headers, reason: str | None
) -> None:
    assert policy.store_refusal(status, headers, GET) == reason


def test_a_fresh_307_is_served_from_the_cache(kind: str, cache: Any) -> None:
    site = Site(kind, cache, page(status=307, headers=[("Location", "/b"), ("Cache-Control", "max-age=60")]))
    site()
    status, headers, _ = site()
    assert site.calls == 1 and status == 307 and headers["Location"] == "/b"


# -- conditional-etag-vary-headers, 304-etag-update-response-Cache-Control ---------------------------


def test_a_short_lived_page_with_a_validator_is_kept_for_revalidation() -> None:
    headers = Headers([("Cache-Control", "max-age=1"), ("ETag", '"v1"')])
    timeout = policy.store_timeout(headers, None, 0)
    assert timeout is not None and timeout >= 1 + policy.REVALIDATION_WINDOW


def test_a_stale_page_of_one_second_is_revalidated_not_rebuilt(kind: str, cache: Any) -> None:
    # Before: kept for twice its 1 s lifetime, it had left the backend when the next request came.
    etag = '"abc"'

    def view(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
        if request["headers"].get("if-none-match") == etag:
            return 304, [("ETag", etag), ("Cache-Control", "max-age=3600")], b""
        return 200, [("ETag", etag), ("Cache-Control", "max-age=1"), ("Content-Length", "4")], b"body"

    with _at(NOW):
        site = Site(kind, cache, view, cache_timeout=0)
        site()
    with _at(NOW + 5):
        status, headers, body = site()
    assert site.calls == 2 and site.seen[1]["headers"]["if-none-match"] == etag
    assert (status, body) == (200, b"body") and "max-age=3600" in headers["Cache-Control"]
    with _at(NOW + 100):
        assert site()[2] == b"body"
    assert site.calls == 2  # the refreshed max-age=3600 was stored


# -- headers-store-Set-Cookie: the documented, dangerous opt-in -------------------------------------

COOKIE_PAGE = [("Set-Cookie", "theme=dark; Path=/"), ("Cache-Control", "max-age=60")]


@pytest.mark.parametrize("split", [False, True])
def test_set_cookie_is_stored_only_with_the_opt_in(kind: str, cache: Any, split: bool) -> None:
    refused = Site(kind, cache, page(headers=COOKIE_PAGE), split=split)
    refused(path="/a")
    refused(path="/a")
    assert refused.calls == 2
    allowed = Site(kind, cache, page(headers=COOKIE_PAGE), split=split, store_set_cookie=True)
    allowed(path="/b")
    _, headers, body = allowed(path="/b")
    assert allowed.calls == 1 and body == b"hello 0"
    assert headers["Set-Cookie"] == "theme=dark; Path=/"  # replayed to every client: why it is opt-in


def test_store_set_cookie_must_be_a_bool(kind: str, cache: Any) -> None:
    with pytest.raises(TypeError, match="store_set_cookie"):
        Site(kind, cache, page(), store_set_cookie="yes")


# -- cdn-*: RFC 9213 CDN-Cache-Control (CACHE_MIDDLEWARE_CDN_CACHE_CONTROL, "stricter" by default) --------

CDN = "CDN-Cache-Control"
MODES = {"cdn-on": True, "cdn-off": False, "cdn-stricter": "stricter"}


@pytest.fixture(params=list(MODES), ids=list(MODES))
def cdn(request: pytest.FixtureRequest, fresh_settings: None) -> str:
    import cachemere

    if request.param != "cdn-stricter":  # the default: configured by not configuring it
        cachemere.configure(CACHE_MIDDLEWARE_CDN_CACHE_CONTROL=MODES[request.param])
    return str(request.param)


@pytest.fixture
def cdn_on(fresh_settings: None) -> None:
    import cachemere

    cachemere.configure(CACHE_MIDDLEWARE_CDN_CACHE_CONTROL=True)


def _hits_after(
    kind: str, cache: Any, headers: list[tuple[str, str]], later: float, path: str = "/page"
) -> tuple[Site, Headers]:
    """The site after a first request at NOW and a second one ``later`` seconds on, and the first answer."""
    with _at(NOW):
        site = Site(kind, cache, page(headers=[("Date", http_date(NOW)), *headers]), cache_timeout=0)
        _, sent, _ = site(path=path)
    with _at(NOW + later):
        site(path=path)
    return site, sent


def _calls(cdn: str, on: int, off: int, stricter: int) -> int:
    return {"cdn-on": on, "cdn-off": off, "cdn-stricter": stricter}[cdn]


def test_cdn_max_age_against_cache_control_max_age(kind: str, cache: Any, cdn: str) -> None:
    site, sent = _hits_after(kind, cache, [("Cache-Control", "max-age=3600"), (CDN, "max-age=1")], 10)
    assert site.calls == _calls(cdn, on=2, off=1, stricter=2)  # shorter: on and stricter obey it
    # both fields go downstream unchanged: a CDN in front obeys the one, browsers the other
    assert sent[CDN] == "max-age=1" and sent["Cache-Control"] == "max-age=3600"
    longer, _ = _hits_after(kind, cache, [("Cache-Control", "max-age=1"), (CDN, "max-age=3600")], 10, "/b")
    assert longer.calls == _calls(cdn, on=1, off=2, stricter=2)  # longer: stricter never lengthens


def test_private_page_with_a_cdn_max_age_is_stored_only_when_on(kind: str, cache: Any, cdn: str) -> None:
    site, sent = _hits_after(kind, cache, [("Cache-Control", "private"), (CDN, "max-age=60")], 10)
    assert site.calls == _calls(cdn, on=1, off=2, stricter=2)
    # no max-age/Expires is added to what the app marked private, whichever field governs here
    assert sent["Cache-Control"] == "private" and "Expires" not in sent and sent[CDN] == "max-age=60"


def test_a_cdn_only_lifetime_is_kept_here_and_not_given_to_browsers(kind: str, cache: Any, cdn: str) -> None:
    site, sent = _hits_after(kind, cache, [(CDN, "max-age=60")], 10)  # cache_timeout=0: nothing else
    assert site.calls == _calls(cdn, on=1, off=2, stricter=1)
    # addressed to shared caches only, like an s-maxage alone: no max-age/Expires added downstream
    assert "Cache-Control" not in sent and "Expires" not in sent and sent[CDN] == "max-age=60"
    expired, _ = _hits_after(kind, cache, [(CDN, "max-age=60")], 61, "/b")
    assert expired.calls == 2


@pytest.mark.parametrize("invalid", ["max-age=10000, &&&&&", 'max-age="10000"', "max-age =10000", ""])
def test_an_invalid_cdn_cache_control_falls_back_to_cache_control(
    kind: str, cache: Any, cdn: str, invalid: str
) -> None:
    refused, _ = _hits_after(kind, cache, [("Cache-Control", "no-store"), (CDN, invalid)], 1)
    assert refused.calls == 2
    kept, _ = _hits_after(kind, cache, [("Cache-Control", "max-age=60"), (CDN, invalid)], 10, "/b")
    assert kept.calls == 1


def test_cdn_no_store_prevents_storing_what_cache_control_allows(kind: str, cache: Any, cdn: str) -> None:
    fresh = [("Cache-Control", "max-age=10000"), ("Expires", http_date(NOW + 10000))]
    site, sent = _hits_after(kind, cache, [*fresh, (CDN, "no-store")], 1)
    assert site.calls == _calls(cdn, on=2, off=1, stricter=2)
    assert sent[CDN] == "no-store"


def test_cache_control_no_store_beats_a_cdn_max_age_unless_on(kind: str, cache: Any, cdn: str) -> None:
    site, _ = _hits_after(kind, cache, [("Cache-Control", "no-store"), (CDN, "max-age=60")], 1)
    assert site.calls == _calls(cdn, on=1, off=2, stricter=2)


def test_cdn_max_age_zero_beats_a_future_expires_and_counts_an_upstream_age(
    kind: str, cache: Any, cdn_on: None
) -> None:
    zero, _ = _hits_after(kind, cache, [(CDN, "max-age=0"), ("Expires", http_date(NOW + 10000))], 1)
    aged, _ = _hits_after(kind, cache, [(CDN, "max-age=3600"), ("Age", "7200")], 1, "/b")
    assert zero.calls == 2 and aged.calls == 2


def test_cdn_cache_control_keeps_the_set_cookie_and_authorization_rules(
    kind: str, cache: Any, cdn_on: None
) -> None:
    cookie, _ = _hits_after(kind, cache, [(CDN, "public, max-age=60"), ("Set-Cookie", "s=1")], 1, "/b")
    assert cookie.calls == 2
    site = Site(kind, cache, page(headers=[(CDN, "max-age=60")]))  # on "/page" (the cookie one was "/b")
    _, sent, _ = site(headers={"Authorization": "Bearer alice"})
    site(headers={"Authorization": "Bearer bob"})
    assert "Authorization" in sent["Vary"] and site.calls == 2


def test_the_cdn_setting_is_read_when_the_middleware_is_built(fresh_settings: None) -> None:
    import cachemere
    from cachemere.exceptions import ImproperlyConfigured
    from cachemere.http.core import Config

    assert Config().cdn_cache_control == "stricter"  # by default only where it is stricter
    cachemere.configure(CACHE_MIDDLEWARE_CDN_CACHE_CONTROL=True)
    built = Config()
    cachemere.configure(CACHE_MIDDLEWARE_CDN_CACHE_CONTROL=False)
    assert built.cdn_cache_control is True and Config().cdn_cache_control is False
    assert Config(cdn_cache_control=False).cdn_cache_control is False
    with pytest.raises(TypeError, match="cdn_cache_control"):
        Config(cdn_cache_control="yes")  # type: ignore[arg-type]
    cachemere.configure(CACHE_MIDDLEWARE_CDN_CACHE_CONTROL="off")
    with pytest.raises(ImproperlyConfigured, match="CACHE_MIDDLEWARE_CDN_CACHE_CONTROL"):
        Config()
