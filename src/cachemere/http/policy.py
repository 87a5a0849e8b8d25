"""Pure decisions of the page cache: what may be served, stored, for how long, and what goes downstream.

Nothing here touches a cache or the network; the core (``cachemere.http.core``)
asks these functions and turns the answers into cache steps.  The rules are
RFC 9111's for a *shared* cache, reconciled with Django's behaviour as
docs/http.md describes.  No function raises on malformed header values:
broken freshness information means "stale", broken validators mean "no match".

Times are epoch seconds (``time.time()``).  ``headers`` are the response's
(or the stored page's) :class:`~cachemere.http.messages.Headers`.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Final, Literal, NamedTuple, TypeAlias

from cachemere.http.headers import (
    DELTA_SECONDS_MAX,
    cache_control_directives,
    delta_seconds,
    http_date,
    parse_http_date,
    patch_response_headers,
    split_header_value,
    vary_names,
)
from cachemere.http.messages import Headers, Request

__all__ = [
    "CACHEABLE_METHODS",
    "CDN_CACHE_CONTROL",
    "REVALIDATION_WINDOW",
    "SAFE_METHODS",
    "STORABLE_STATUSES",
    "add_downstream_headers",
    "current_age",
    "freshness_lifetime",
    "invalidates",
    "is_fresh",
    "may_serve_from_cache",
    "may_store_for",
    "needs_authorization_vary",
    "not_modified",
    "not_modified_headers",
    "refreshed_headers",
    "revalidation_headers",
    "storable_headers",
    "store_refusal",
    "store_timeout",
]

CACHEABLE_METHODS = frozenset({"GET", "HEAD"})
#: Methods that never invalidate (RFC 9110 §9.2.1); any other method, known or not, does (RFC 9111 §4.4).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Final statuses a shared cache may store (RFC 9110 §15.1's heuristically cacheable set, minus the
#: error statuses a request can provoke at will: 405, 414 and 501 are cache-poisoned-DoS material).
STORABLE_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 410})
#: Statuses that may be stored on the site's default lifetime; the others need the app's explicit
#: s-maxage, max-age or Expires, so an error page is never kept just because the app said nothing.
_DEFAULT_LIFETIME_STATUSES = frozenset({200})
#: Temporary redirects, stored only with explicit freshness (RFC 9111 §3 lets any final status be
#: stored then); a 2xx outside STORABLE_STATUSES (201, an unknown 299, ...) is too, except 206.
#: Other 4xx/5xx stay refused whatever their headers: a site-wide max-age on an error page is
#: exactly how a provoked error is cached for everyone (cache-poisoned denial of service).
_EXPLICIT_ONLY_STATUSES = frozenset({302, 303, 307})

#: RFC 9110 §5.6.7 / §7.6.1 fields that describe one connection, never stored or replayed (RFC 9111 §3.1).
_CONNECTION_FIELDS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authentication-info",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: What a 304 carries of the stored 200 (RFC 9110 §15.4.5), plus the Age the cache sets.
_NOT_MODIFIED_FIELDS = (
    "cache-control",
    "content-location",
    "date",
    "etag",
    "expires",
    "last-modified",
    "vary",
    "age",
)
#: Fields a 304 never overwrites in the stored entry (RFC 9111 §4.3.4): the body's length is the
#: stored body's, and a cookie meant for one client must not be replayed to everyone.
_NOT_REFRESHED_FIELDS = _CONNECTION_FIELDS | {"content-length", "set-cookie"}

_MAX_DELTA = DELTA_SECONDS_MAX
#: Seconds a stale page with a validator is kept at least, for revalidation (see store_timeout).
REVALIDATION_WINDOW = 600.0
_ABSENT = -1  # directive not given
_INVALID = -2  # directive given but malformed, or repeated with different values: stale (RFC 9111 §4.2.1)


class _Directives(NamedTuple):
    """What the policy needs from one Cache-Control value, parsed once per distinct value."""

    names: frozenset[str]
    s_maxage: int
    max_age: int


def _delta(argument: str | None) -> int:
    # delta_seconds refuses the quoted form, signs, dots and letters (RFC 9111 §1.2.2).
    seconds = delta_seconds(argument)
    return _INVALID if seconds is None else seconds


def _merge(previous: int, new: int) -> int:
    if previous == _ABSENT:
        return new
    return previous if previous == new else _INVALID


@lru_cache(maxsize=512)
def _parse_directives(value: str) -> _Directives:
    # Response Cache-Control values repeat page after page: each distinct one is parsed once.
    directives = cache_control_directives(value)
    s_maxage = max_age = _ABSENT
    for name, argument in directives:
        if name == "s-maxage":
            s_maxage = _merge(s_maxage, _delta(argument))
        elif name == "max-age":
            max_age = _merge(max_age, _delta(argument))
    return _Directives(frozenset(name for name, _ in directives), s_maxage, max_age)


_NO_DIRECTIVES = _Directives(frozenset(), _ABSENT, _ABSENT)


def _directives(headers: Headers) -> _Directives:
    value = headers.get("Cache-Control")
    return _parse_directives(value) if value else _NO_DIRECTIVES


# -- RFC 9213 targeted field ------------------------------------------------------------------------------

#: The targeted field (RFC 9213 §3) this cache reads: see :data:`CdnMode`.
CDN_CACHE_CONTROL: Final = "CDN-Cache-Control"

#: How a valid ``CDN-Cache-Control`` is read (the ``CACHE_MIDDLEWARE_CDN_CACHE_CONTROL`` setting):
#: ``"stricter"`` (the default) only where it is stricter than Cache-Control: its prohibitions and a
#: shorter lifetime count, and its lifetime when Cache-Control and Expires state none; it never
#: overrides a Cache-Control prohibition or lengthens a Cache-Control lifetime.  ``True`` obeys it
#: instead of Cache-Control, as a CDN does (RFC 9213 §2.1); ``False`` ignores it.
CdnMode: TypeAlias = "bool | Literal['stricter']"
STRICTER: Final = "stricter"

# RFC 8941 §3.1.2 / §3.3: a dictionary key, a token, a number; the value grammar is tried
# at a position, never on the whole field, so nothing here backtracks.
_SF_KEY: Final = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_SF_TOKEN: Final = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_SF_NUMBER: Final = re.compile(r"-?([0-9]{1,15})(\.[0-9]{1,3})?")
_SF_BYTES: Final = re.compile(r":[A-Za-z0-9+/=]*:")
_SF_OWS: Final = " \t"


class _SFError(ValueError):
    """The field is not a valid Structured Field Dictionary."""


class _Token(str):
    """An sf-token, told apart from an sf-string (RFC 8941 §3.3.3, §3.3.4)."""

    __slots__ = ()


def _sf_bare_item(text: str, at: int) -> tuple[object, int]:
    char = text[at : at + 1]
    if char == "-" or char.isdigit():
        number = _SF_NUMBER.match(text, at)
        if number is None or (number.group(2) and len(number.group(1)) > 12):
            raise _SFError
        literal = number.group(0)
        return (float(literal) if number.group(2) else int(literal)), number.end()
    if char == '"':
        out: list[str] = []
        at += 1
        while at < len(text):
            char = text[at]
            if char == "\\":
                if text[at + 1 : at + 2] not in ('"', "\\"):
                    raise _SFError
                out.append(text[at + 1])
                at += 2
            elif char == '"':
                return "".join(out), at + 1
            elif " " <= char <= "~":
                out.append(char)
                at += 1
            else:
                raise _SFError
        raise _SFError
    if char == "?":
        flag = text[at + 1 : at + 2]
        if flag not in ("0", "1"):
            raise _SFError
        return flag == "1", at + 2
    if char == ":":
        match = _SF_BYTES.match(text, at)
        if match is None:
            raise _SFError
        return match.group(0).encode("ascii"), match.end()
    match = _SF_TOKEN.match(text, at)
    if match is None:
        raise _SFError
    return _Token(match.group(0)), match.end()


def _sf_parameters(text: str, at: int) -> int:
    # Parameters carry nothing the cache directives use; they are checked, then dropped.
    while text[at : at + 1] == ";":
        at += 1
        while text[at : at + 1] == " ":
            at += 1
        key = _SF_KEY.match(text, at)
        if key is None:
            raise _SFError
        at = key.end()
        if text[at : at + 1] == "=":
            _, at = _sf_bare_item(text, at + 1)
    return at


def _sf_member_value(text: str, at: int) -> tuple[object, int]:
    if text[at : at + 1] != "(":
        value, at = _sf_bare_item(text, at)
        return value, _sf_parameters(text, at)
    items: list[object] = []
    at += 1
    while True:
        while text[at : at + 1] == " ":
            at += 1
        if text[at : at + 1] == ")":
            return items, _sf_parameters(text, at + 1)
        item, at = _sf_bare_item(text, at)
        items.append(item)
        at = _sf_parameters(text, at)
        if text[at : at + 1] not in (" ", ")"):
            raise _SFError


def _sf_dictionary(text: str) -> dict[str, object]:
    """RFC 8941 §4.2.2: the members of a Dictionary field; raises _SFError when it is not one."""
    text = text.strip(" ")
    members: dict[str, object] = {}
    at = 0
    while at < len(text):
        key = _SF_KEY.match(text, at)
        if key is None:
            raise _SFError
        at = key.end()
        value: object = True
        if text[at : at + 1] == "=":
            value, at = _sf_member_value(text, at + 1)
        else:
            at = _sf_parameters(text, at)
        members[key.group(0)] = value  # a repeated key: the last one wins (RFC 8941 §4.2.2)
        while text[at : at + 1] in (" ", "\t") and at < len(text):
            at += 1
        if at == len(text):
            break
        if text[at] != ",":
            raise _SFError
        at += 1
        while text[at : at + 1] in (" ", "\t") and at < len(text):
            at += 1
        if at == len(text):
            raise _SFError  # a trailing comma
    return members


#: Directives whose only valid targeted value is Boolean true (RFC 9213 §2.2's inferred types).
_FLAG_DIRECTIVES: Final = frozenset({
    "no-store", "public", "must-revalidate", "proxy-revalidate", "must-understand", "no-transform",
    "immutable",
})  # fmt: skip


@lru_cache(maxsize=512)
def _parse_targeted(value: str) -> _Directives | None:
    """The directives of a targeted field, or None when it must be ignored (RFC 9213 §2.2).

    Empty, not a Structured Field Dictionary (``max-age =1``, ``&&&``, upper-case names), or a
    known directive with a value of the wrong type (``max-age="60"``, ``no-store=?0``): the whole
    field is ignored and Cache-Control decides, as if the field were absent.
    """
    try:
        members = _sf_dictionary(value)
    except _SFError:
        return None
    if not members:
        return None
    lifetimes = {"s-maxage": _ABSENT, "max-age": _ABSENT}
    for name, argument in members.items():
        if name in lifetimes:
            if type(argument) is not int or argument < 0:
                return None
            lifetimes[name] = min(argument, _MAX_DELTA)
        elif name in _FLAG_DIRECTIVES:
            if argument is not True:
                return None
        elif name in ("private", "no-cache") and argument is not True and type(argument) is not str:
            # Boolean true, or a String of field names (treated as the unqualified directive).
            return None
    return _Directives(frozenset(members), lifetimes["s-maxage"], lifetimes["max-age"])


def _governing(headers: Headers, cdn: CdnMode) -> tuple[_Directives, bool]:
    """The directives this cache obeys, and whether Expires and Pragma are already accounted for.

    ``cdn`` True: a valid ``CDN-Cache-Control`` replaces Cache-Control, Expires and Pragma (RFC 9213
    §2.1: the targeted field wins entirely).  ``"stricter"``: a valid one is merged into them, only
    where it is stricter (:func:`_stricter`).  Otherwise, and without a valid field: Cache-Control.
    """
    if cdn:
        value = headers.get(CDN_CACHE_CONTROL)
        if value:
            targeted = _parse_targeted(value)
            if targeted is not None:
                return (_stricter(headers, targeted) if cdn == STRICTER else targeted), True
    return _directives(headers), False


def _targeted_names(headers: Headers) -> frozenset[str]:
    targeted = _parse_targeted(headers.get(CDN_CACHE_CONTROL) or "")
    return frozenset() if targeted is None else targeted.names


def _stricter(headers: Headers, targeted: _Directives) -> _Directives:
    """Cache-Control (with Expires and Pragma) tightened by a valid targeted field, never loosened.

    Every prohibition of either field holds; ``public`` counts only from Cache-Control; the lifetime
    is the shorter of the two, or the targeted field's when Cache-Control and Expires give none.
    """
    base = _directives(headers)
    if base.s_maxage == _INVALID or (base.s_maxage == _ABSENT and base.max_age == _INVALID):
        return base  # malformed: refused, or stale, exactly as without the targeted field
    names = set(base.names) | (targeted.names - {"public"})
    if "Cache-Control" not in headers:
        pragma = headers.get("Pragma")
        if pragma and "no-cache" in _parse_request_directive_names(pragma):
            names.add("no-cache")
    lifetimes = [
        life
        for life in (
            _explicit_lifetime(base, headers, None),
            _explicit_lifetime(targeted, headers, None, True),
        )
        if life is not None
    ]
    max_age = int(min(min(lifetimes), _MAX_DELTA)) if lifetimes else _ABSENT
    return _Directives(frozenset(names), _ABSENT, max_age)


# Dates from stored pages repeat on every hit: parse each distinct value once.
_http_date = lru_cache(maxsize=1024)(parse_http_date)


def _date(headers: Headers, name: str) -> float | None:
    value = headers.get(name)
    return _http_date(value) if value else None


def _has_validator(headers: Headers) -> bool:
    return "ETag" in headers or _date(headers, "Last-Modified") is not None


# -- requests ---------------------------------------------------------------------------------------------


def may_serve_from_cache(request: Request) -> bool:
    """True when a stored page may answer ``request``: GET or HEAD without a body.

    A request body is unkeyed input ("fat GET"), so such a request always goes to the app.
    The request's ``Cache-Control: no-cache`` / ``Pragma: no-cache`` are deliberately ignored
    (RFC 9111 §5.2.1 makes them advisory), as Django does: honouring them would let any client
    bypass the cache and load the app at will.
    """
    return request.method in CACHEABLE_METHODS and not request.has_body


def may_store_for(request: Request) -> bool:
    """True when the answer to ``request`` may be stored: GET/HEAD, no body, no request ``no-store``."""
    if request.method not in CACHEABLE_METHODS or request.has_body:
        return False
    value = request.headers.get("Cache-Control")
    return not (value and "no-store" in _parse_request_directive_names(value))


def _parse_request_directive_names(value: str) -> set[str]:
    # Not memoized: request headers are client-chosen and would flood a shared memo.
    return {name for name, _ in cache_control_directives(value)}


# -- storing ----------------------------------------------------------------------------------------------


#: Request headers that frameworks honour when they build URLs or route (Werkzeug's and
#: Django's proxy settings, IIS and Symfony rewrites, method overrides), lower-cased.  No key
#: includes them (keys follow only the response's Vary), so an answer to a request carrying
#: one is not stored unless its Vary names it: an app that reflects or routes on one could
#: otherwise store the attacker's variant under the clean URL.
UNKEYED_ROUTING_HEADERS: Final = frozenset({
    "forwarded", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-scheme", "x-forwarded-port",
    "x-forwarded-prefix", "x-forwarded-server", "x-forwarded-ssl", "x-host", "x-original-url",
    "x-original-host", "x-rewrite-url", "x-http-method-override", "x-http-method", "x-method-override",
})  # fmt: skip


def _unkeyed_routing_header(request: Request, headers: Headers) -> str | None:
    present = [name for name, _ in request.headers if name.lower() in UNKEYED_ROUTING_HEADERS]
    if not present:
        return None
    varied = {name.lower() for name in vary_names(headers.get("Vary"))}
    return next((name for name in present if name.lower() not in varied), None)


def store_refusal(
    status: int,
    headers: Headers,
    request: Request,
    *,
    allow_set_cookie: bool = False,
    cdn: CdnMode = STRICTER,
) -> str | None:
    """Why the response to ``request`` must not be stored, or None when it may be.

    Streaming and body-size limits are the adapter's, which sees the body.  ``allow_set_cookie``
    is the documented opt-in that lets a response carrying ``Set-Cookie`` be stored (the cookie is
    then replayed to every client).  With ``cdn``, a valid ``CDN-Cache-Control`` takes the place of
    Cache-Control, Pragma and Expires; every rule that is not a directive (method, status,
    Set-Cookie, ``Vary: *``, unkeyed routing headers) holds whichever field governs.
    """
    if request.method not in CACHEABLE_METHODS:
        return f"method {request.method}"
    if request.has_body:
        return "request has a body"
    if not may_store_for(request):
        return "request no-store"
    if status not in STORABLE_STATUSES and not _explicit_only(status):
        return f"status {status}"
    parsed, targeted = _governing(headers, cdn)
    field = f"{CDN_CACHE_CONTROL} " if targeted else ""
    # Whole directive names only: "x-private-ext" is an extension to ignore (RFC 9111 §5.2.3), and a
    # qualified private="Set-Cookie" / no-cache="Set-Cookie" is treated as the unqualified directive.
    for name in ("no-store", "private", "no-cache"):
        if name in parsed.names:
            # "stricter" merges both fields (and Pragma): name the one that said it.
            return field + name if cdn is True or name in _targeted_names(headers) else name
    pragma = None if targeted or "Cache-Control" in headers else headers.get("Pragma")
    if pragma and "no-cache" in _parse_request_directive_names(pragma):
        # An HTTP/1.0 origin's only way to say no-cache (RFC 9111 §5.4 keeps it for compatibility).
        return "Pragma: no-cache"
    if "*" in vary_names(headers.get("Vary")):
        return "Vary: *"
    if not allow_set_cookie and "Set-Cookie" in headers:
        return "Set-Cookie"
    unkeyed = _unkeyed_routing_header(request, headers)
    if unkeyed is not None:
        return f"request header {unkeyed} is not in Vary"
    if parsed.s_maxage == _INVALID:
        return "malformed s-maxage"
    if parsed.s_maxage == _ABSENT and parsed.max_age == _INVALID:
        return "malformed max-age"
    explicit = parsed.s_maxage != _ABSENT or parsed.max_age != _ABSENT
    if not explicit and not targeted and "Expires" in headers:
        expires = _date(headers, "Expires")
        if expires is None:
            return "invalid Expires"
        if expires <= _date_or(headers, time.time()):
            return "Expires in the past"
        explicit = True
    if not explicit and status not in _DEFAULT_LIFETIME_STATUSES:
        return f"status {status} without explicit freshness"
    return None


def _explicit_only(status: int) -> bool:
    return status in _EXPLICIT_ONLY_STATUSES or (200 <= status < 300 and status != 206)


def needs_authorization_vary(request: Request, headers: Headers, *, cdn: CdnMode = STRICTER) -> bool:
    """True when the response must gain ``Vary: Authorization`` before it is stored (Django 6.1).

    A request with a non-empty ``Authorization`` is cached per credential unless the response is
    ``public`` (in the field that governs this cache: ``CDN-Cache-Control`` with ``cdn``, when
    valid).  ``s-maxage`` and ``must-revalidate``, which RFC 9111 §3.5 would let be shared, still
    vary: sharing one user's authenticated page with everyone is never a default.
    """
    if not request.headers.get("Authorization"):
        return False
    return "public" not in _governing(headers, cdn)[0].names


def storable_headers(headers: Headers, received_at: float | None = None) -> tuple[tuple[str, str], ...]:
    """The header list to keep in a stored page: without connection-specific fields (RFC 9111 §3.1).

    With ``received_at``, a response without a valid ``Date`` gains one for that time, as a cache
    that stores it must add (RFC 9110 §6.6.1), so its age is measured from its receipt.
    """
    excluded = _connection_listed(headers)
    kept = tuple((name, value) for name, value in headers if name.lower() not in excluded)
    if received_at is not None and _date(headers, "Date") is None:
        kept = (
            *((name, value) for name, value in kept if name.lower() != "date"),
            ("Date", http_date(received_at)),
        )
    return kept


def _connection_listed(headers: Headers) -> frozenset[str]:
    listed = headers.get("Connection")
    if not listed:
        return _CONNECTION_FIELDS
    return _CONNECTION_FIELDS | {name.lower() for name in split_header_value(listed)}


# -- freshness --------------------------------------------------------------------------------------------


def _date_or(headers: Headers, fallback: float) -> float:
    date = _date(headers, "Date")
    return fallback if date is None else date


def _explicit_lifetime(
    parsed: _Directives, headers: Headers, received_at: float | None, targeted: bool = False
) -> float | None:
    """s-maxage > max-age > Expires - Date (RFC 9111 §4.2.1); None when the response gives none.

    ``targeted``: the directives are a targeted field's, which overrides Expires as well.
    """
    if parsed.s_maxage != _ABSENT:
        return 0.0 if parsed.s_maxage == _INVALID else float(parsed.s_maxage)
    if parsed.max_age != _ABSENT:
        return 0.0 if parsed.max_age == _INVALID else float(parsed.max_age)
    if targeted or "Expires" not in headers:
        return None
    expires = _date(headers, "Expires")
    if expires is None:
        return 0.0  # "0", a non-GMT zone, two values: already expired (RFC 9111 §5.3)
    date = _date_or(headers, time.time() if received_at is None else received_at)
    return max(0.0, expires - date)


def freshness_lifetime(
    headers: Headers, default: float, *, received_at: float | None = None, cdn: CdnMode = STRICTER
) -> float:
    """Seconds the response stays fresh: s-maxage > max-age > (Expires - Date) > ``default``.

    ``default`` is the site's declared freshness (``CACHE_MIDDLEWARE_SECONDS`` or ``cache_page``'s
    timeout) for a response that says nothing; no heuristic from Last-Modified is applied.  A malformed
    or conflicting max-age/s-maxage, and an invalid or past Expires, give 0.  ``received_at`` stands
    in for a missing Date (default: now).  With ``cdn``, a valid ``CDN-Cache-Control`` is read
    instead of Cache-Control and Expires (RFC 9213).
    """
    parsed, targeted = _governing(headers, cdn)
    lifetime = _explicit_lifetime(parsed, headers, received_at, targeted)
    return max(0.0, float(default)) if lifetime is None else lifetime


def store_timeout(
    headers: Headers, page_timeout: float | None, default: float, *, cdn: CdnMode = STRICTER
) -> float | None:
    """Seconds to keep the page in the backend, or None for "do not store".

    As Django: ``page_timeout`` (``cache_page``'s) beats the response's freshness, which beats
    ``default``; a lifetime of 0 (max-age=0, past Expires, malformed values) is not stored.
    A page with a validator (ETag, Last-Modified) is kept past its lifetime for as long again, and
    at least :data:`REVALIDATION_WINDOW` seconds, so that once stale it is revalidated with the app
    (a 304 refreshes it) instead of rebuilt: a short-lived page gets a useful window too.
    ``cdn``: the lifetime is read as :func:`freshness_lifetime` reads it.
    """
    if page_timeout is not None:
        return float(page_timeout) if page_timeout > 0 else None
    lifetime = freshness_lifetime(headers, default, cdn=cdn)
    if lifetime <= 0:
        return None
    if _has_validator(headers):
        lifetime += max(lifetime, REVALIDATION_WINDOW)
    return min(lifetime, float(_MAX_DELTA))


def _age_value(headers: Headers) -> int:
    """The Age field's delta-seconds, or _ABSENT when it is missing or invalid (RFC 9111 §5.1).

    A list-valued Age (``0, old``, or two lines) counts by its first member; an invalid one
    (negative, a float, not a number) is ignored as the RFC says a cache SHOULD, not taken as
    stale: a broken upstream Age is the upstream's mistake, and the page's own lifetime still holds.
    """
    value = headers.get("Age")
    if value is None:
        return _ABSENT
    seconds = delta_seconds(value.split(",", 1)[0].strip(" \t"))
    return _ABSENT if seconds is None else seconds


def current_age(headers: Headers, stored_at: float, now: float) -> float:
    """RFC 9111 §4.2.3 current_age of a page received at ``stored_at``, counting an upstream Age.

    The request time is not known to the core, so response_delay is taken as 0.  An Age list counts by
    its first member; an invalid Age is ignored (RFC 9111 §5.1).
    """
    date = _date(headers, "Date")
    apparent_age = 0.0 if date is None else max(0.0, stored_at - date)
    age_value = _age_value(headers)
    corrected_initial_age = max(apparent_age, float(age_value)) if age_value >= 0 else apparent_age
    return corrected_initial_age + max(0.0, now - stored_at)


def is_fresh(
    headers: Headers,
    stored_at: float,
    now: float,
    default: float,
    *,
    page_timeout: float | None = None,
    cdn: CdnMode = STRICTER,
) -> bool:
    """True when the stored page may be served without asking the app (RFC 9111 §4.2).

    ``page_timeout`` (``cache_page``'s timeout) replaces the page's own lifetime, as it does in
    Django, where it beats the view's max-age.  ``no-cache`` is never fresh.  ``cdn``: the
    directives are a valid ``CDN-Cache-Control``'s when there is one (RFC 9213).
    """
    parsed, targeted = _governing(headers, cdn)
    if "no-cache" in parsed.names:
        return False
    if page_timeout is not None:
        lifetime = float(page_timeout)
    else:
        explicit = _explicit_lifetime(parsed, headers, stored_at, targeted)
        lifetime = max(0.0, float(default)) if explicit is None else explicit
    return lifetime > current_age(headers, stored_at, now)


# -- conditional requests ---------------------------------------------------------------------------------


def _opaque_tag(tag: str) -> str | None:
    """The quoted opaque-tag of an entity-tag, weakness dropped (RFC 9110 §8.8.3); None if malformed."""
    if tag.startswith("W/"):
        tag = tag[2:]
    if len(tag) < 2 or tag[0] != '"' or tag[-1] != '"' or '"' in tag[1:-1]:
        return None
    return tag


def not_modified(request_headers: Headers, stored_headers: Headers) -> bool:
    """True when the client's preconditions mean the cache answers 304 from the stored page.

    RFC 9110 §13.2.2: If-None-Match (weak comparison; ``*`` matches any stored page) decides when
    present and If-Modified-Since is then ignored; otherwise If-Modified-Since is compared with the
    stored Last-Modified, else its Date.  An invalid or repeated If-Modified-Since is ignored.
    If-Match, If-Unmodified-Since and If-Range are the app's, never evaluated here.  The caller
    asks only for GET/HEAD requests answered by a stored 200.
    """
    if_none_match = request_headers.get("If-None-Match")
    if if_none_match is not None:
        candidates = split_header_value(if_none_match)
        if "*" in candidates:
            return True
        stored = stored_headers.get("ETag")
        stored_tag = _opaque_tag(stored.strip()) if stored else None
        if stored_tag is None:
            return False
        return any(_opaque_tag(candidate) == stored_tag for candidate in candidates)
    values = request_headers.get_all("If-Modified-Since")
    if len(values) != 1:
        return False
    since = parse_http_date(values[0])
    if since is None:
        return False
    validator = _date(stored_headers, "Last-Modified")
    if validator is None:
        validator = _date(stored_headers, "Date")
    return validator is not None and validator <= since


def not_modified_headers(stored_headers: Headers) -> Headers:
    """The stored page's fields a 304 carries (RFC 9110 §15.4.5), in stored order."""
    return Headers((name, value) for name, value in stored_headers if name.lower() in _NOT_MODIFIED_FIELDS)


def revalidation_headers(stored_headers: Headers) -> list[tuple[str, str]]:
    """The precondition fields to send the app when revalidating a stale stored page (RFC 9111 §4.3.1).

    Both validators are sent when the page has both: If-None-Match from its ETag (MUST) and
    If-Modified-Since from a valid Last-Modified (SHOULD).  Empty when the page has no validator.
    """
    conditions: list[tuple[str, str]] = []
    etag = stored_headers.get("ETag")
    if etag:
        conditions.append(("If-None-Match", etag))
    last_modified = stored_headers.get("Last-Modified")
    if last_modified and _http_date(last_modified) is not None:
        conditions.append(("If-Modified-Since", last_modified))
    return conditions


def refreshed_headers(stored_headers: Headers, not_modified_headers: Headers) -> Headers:
    """The stored page's headers updated from the app's 304 (RFC 9111 §4.3.4).

    Each field the 304 carries replaces that field in the stored entry (where it was, else at the
    end), except Content-Length, the connection-specific fields and Set-Cookie (never stored).
    The caller stores the result with the 304's receipt time as the new ``stored_at``, and checks it
    with :func:`store_refusal` again (the 304 may have added no-store or ``Vary: *``).
    """
    excluded = _connection_listed(not_modified_headers) | _NOT_REFRESHED_FIELDS
    updates: dict[str, list[tuple[str, str]]] = {}
    for name, value in not_modified_headers:
        lowered = name.lower()
        if lowered not in excluded:
            updates.setdefault(lowered, []).append((name, value))
    result: list[tuple[str, str]] = []
    for name, value in stored_headers:
        lowered = name.lower()
        if lowered not in updates:
            result.append((name, value))
        elif updates[lowered]:
            result.extend(updates[lowered])
            updates[lowered] = []  # replaced where its first occurrence was; later ones dropped
    for fields in updates.values():
        result.extend(fields)
    return Headers(result)


# -- invalidation and downstream headers ------------------------------------------------------------------


def invalidates(method: str, status: int) -> bool:
    """True when a ``method`` answered with ``status`` invalidates every stored variant of its URL.

    RFC 9111 §4.4: any unsafe or unknown method with a non-error (2xx/3xx) answer.  Methods are
    case-sensitive (RFC 9110 §9.1), so ``get`` is an unknown method and invalidates.
    """
    return method not in SAFE_METHODS and 200 <= status < 400


def _targeted_lifetime(headers: Headers) -> bool:
    """True when a valid CDN-Cache-Control states a lifetime (for shared caches, not browsers)."""
    value = headers.get(CDN_CACHE_CONTROL)
    targeted = _parse_targeted(value) if value else None
    return targeted is not None and (targeted.max_age != _ABSENT or targeted.s_maxage != _ABSENT)


def add_downstream_headers(headers: Headers, timeout: float) -> None:
    """Add ``Expires`` (if absent) and a min-merged ``max-age`` for downstream caches, as Django's
    ``patch_response_headers`` does, unless that would make the response more cacheable than the app
    made it: never on a ``private``/``no-store``/``no-cache`` or ``Set-Cookie`` response, one that gave
    only ``s-maxage`` (a shared-cache lifetime, not one for browsers), or one with an invalid or past
    ``Expires``.
    """
    parsed = _directives(headers)
    if parsed.names & {"private", "no-store", "no-cache"} or "Set-Cookie" in headers:
        return
    if parsed.max_age == _ABSENT and (parsed.s_maxage != _ABSENT or _targeted_lifetime(headers)):
        return
    if "Expires" in headers:
        expires = _date(headers, "Expires")
        if expires is None or expires <= _date_or(headers, time.time()):
            return
    patch_response_headers(headers, timeout)
