"""Parsing and formatting of ``Cache-Control``, ``Vary`` and HTTP dates, and Django's header helpers.

The parsers are strict (RFC 9110/9111 grammar) and never raise on what a
client or an app sent: anything malformed comes back as ``None`` or is
left out, and the policy treats it as the most restrictive reading.

The helpers (``patch_cache_control`` & co) keep Django 6.1's semantics
(docs/http.md lists the few places they are stricter) and work on any
response with ``.headers`` (Django, Flask/werkzeug, Starlette) or on a
header map itself.
"""

from __future__ import annotations

import calendar
import email.utils
import re
import time
from collections.abc import Iterable
from typing import Any

from cachemere.http.messages import headers_of

__all__ = [
    "QuotedValue",
    "add_never_cache_headers",
    "cache_control_directives",
    "delta_seconds",
    "get_max_age",
    "has_vary_header",
    "http_date",
    "parse_cache_control",
    "parse_http_date",
    "patch_cache_control",
    "patch_response_headers",
    "patch_vary_headers",
    "split_header_value",
    "vary_names",
]

# RFC 9110 §5.6.3: optional whitespace is spaces and tabs only.
_OWS = " \t"

#: RFC 9111 §1.2.2: a delta-seconds too large to represent is sent as 2**31.
DELTA_SECONDS_MAX = 2**31


class QuotedValue(str):
    """A directive argument that was written as a quoted-string (shown unquoted).

    RFC 9111 §5.2.2.1 forbids ``max-age="60"``; keeping the fact that a value
    was quoted lets :func:`delta_seconds` refuse it (issue 8: quoted means
    stale) while ``no-cache="Set-Cookie, Link"`` still reads as a field list.
    """

    __slots__ = ()


# -- lists ----------------------------------------------------------------------


def split_header_value(value: str | None) -> list[str]:
    """The comma-separated members of a field value, commas inside quoted strings kept.

    Members are stripped of spaces and tabs; empty members are dropped
    (RFC 9110 §5.6.1).  A quote that is never closed quotes nothing: the
    rest is split at every comma, so no directive after it can hide in it.
    """
    if not value:
        return []
    if '"' not in value:
        # The common case: no quoted strings, so a plain split is exact.
        return [stripped for part in value.split(",") if (stripped := part.strip(_OWS))]
    members: list[str] = []
    start = 0
    quoted = False
    escaped = False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == ",":
            member = value[start:index].strip(_OWS)
            if member:
                members.append(member)
            start = index + 1
    if quoted:
        members.extend(stripped for part in value[start:].split(",") if (stripped := part.strip(_OWS)))
        return members
    member = value[start:].strip(_OWS)
    if member:
        members.append(member)
    return members


def _unquote(raw: str) -> str:
    """``raw`` unquoted when it is exactly one quoted-string, else ``raw`` as written."""
    if len(raw) < 2 or raw[0] != '"':
        return raw
    chars: list[str] = []
    escaped = False
    for index in range(1, len(raw)):
        char = raw[index]
        if escaped:
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            # Anything after the closing quote makes it no quoted-string at all.
            return QuotedValue("".join(chars)) if index == len(raw) - 1 else raw
        else:
            chars.append(char)
    return raw  # unterminated


def cache_control_directives(value: str | None) -> list[tuple[str, str | None]]:
    """Every directive of a ``Cache-Control`` value, in order, duplicates included.

    Each is ``(name, argument)``: the name lower-cased (directive names are
    case-insensitive, RFC 9111 §5.2) and compared whole, so ``myprivate`` is
    not ``private``; the argument unquoted (a :class:`QuotedValue`) if it was
    a quoted-string, else as written, or ``None`` when there is no ``=``.
    Whitespace before ``=`` is tolerated in the name, so ``no-store = x``
    still reads as ``no-store``; whitespace after it stays in the argument,
    where :func:`delta_seconds` rejects it.
    """
    directives: list[tuple[str, str | None]] = []
    for member in split_header_value(value):
        name, equals, raw = member.partition("=")
        name = name.rstrip(_OWS).lower()
        if not name:
            continue
        directives.append((name, _unquote(raw) if equals else None))
    return directives


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """``Cache-Control`` as a dict; the first occurrence of a repeated directive wins."""
    parsed: dict[str, str | None] = {}
    for name, argument in cache_control_directives(value):
        parsed.setdefault(name, argument)
    return parsed


def delta_seconds(value: str | None) -> int | None:
    """A delta-seconds argument (RFC 9111 §1.2.2), capped at 2**31; ``None`` unless it is 1*DIGIT.

    Quoted (``"60"``, or a :class:`QuotedValue`), signed, decimal, padded or
    alphabetic values are ``None``: the caller treats them as malformed.
    """
    if not value or isinstance(value, QuotedValue) or not (value.isascii() and value.isdigit()):
        return None
    significant = value.lstrip("0")
    if len(significant) > 10:
        # Longer than 2**31 has digits; also keeps int() away from huge strings.
        return DELTA_SECONDS_MAX
    return min(int(value), DELTA_SECONDS_MAX)


def vary_names(value: str | None) -> list[str]:
    """The field names in a ``Vary`` value, as written (stripped, non-empty), ``"*"`` included."""
    return split_header_value(value)


# -- dates ----------------------------------------------------------------------

_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"[0-9]{2}:[0-9]{2}:[0-9]{2}"
# The three formats of RFC 9110 §5.6.7, exactly (names case-insensitive, as
# RFC 9111 §5.3 advises).  They only vet the shape: email.utils reads the fields.
_IMF_FIXDATE = re.compile(rf"{_DAY}, [0-9]{{2}} {_MONTH} ([0-9]{{4}}) {_TIME} GMT", re.IGNORECASE)
_RFC850_DATE = re.compile(
    rf"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
    rf"[0-9]{{2}}-{_MONTH}-([0-9]{{2}}) {_TIME} GMT",
    re.IGNORECASE,
)
_ASCTIME_DATE = re.compile(rf"{_DAY} {_MONTH} (?: [0-9]|[0-9]{{2}}) {_TIME} ([0-9]{{4}})", re.IGNORECASE)


def parse_http_date(value: str | None) -> float | None:
    """Seconds since the epoch for an HTTP-date (IMF-fixdate, RFC 850 or asctime), else ``None``.

    Only ``GMT`` is accepted as a zone (RFC 9110 §5.6.7); ``0``, other zones,
    extra spaces, missing fields and impossible dates are ``None``.  The local
    time zone never matters.
    """
    if not isinstance(value, str):
        return None
    text = value.strip(_OWS)
    match = _IMF_FIXDATE.fullmatch(text) or _ASCTIME_DATE.fullmatch(text)
    rfc850 = None if match else _RFC850_DATE.fullmatch(text)
    if match is None and rfc850 is None:
        return None
    fields = email.utils.parsedate_tz(text)
    if fields is None:
        return None
    month, day, hour, minute, second = fields[1:6]
    # email.utils reads any year below 100 as two-digit (even "0094"), with a
    # fixed pivot, so the year comes from the matched text.
    if match is not None:
        year = int(match.group(1))
    elif rfc850 is not None:
        # RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past century.
        this_year = time.gmtime().tm_year
        year = this_year - this_year % 100 + int(rfc850.group(1))
        if year > this_year + 50:
            year -= 100
    else:
        return None
    # timegm would roll "Nov 31" over into December; the RFC grammar allows second 60 (a leap second).
    if not (year >= 1 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return None  # calendar has no year 0
    if not (hour < 24 and minute < 60 and second <= 60):
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second)))


def http_date(epoch_seconds: float) -> str:
    """``epoch_seconds`` as an IMF-fixdate, e.g. ``"Sun, 06 Nov 1994 08:49:37 GMT"``."""
    return email.utils.formatdate(epoch_seconds, usegmt=True)


# -- Django's helpers -------------------------------------------------------------


def _django_directive(member: str) -> tuple[str, Any]:
    # Django keeps the argument exactly as written so that patching re-emits it unchanged.
    name, equals, raw = member.partition("=")
    return (name.strip(_OWS).lower(), raw if equals else True)


def _format_directive(name: str, argument: Any) -> str:
    return name if argument is True else f"{name}={argument}"


def _max_age_or_zero(argument: Any) -> int:
    # Django would raise on a malformed existing max-age; treating it as 0
    # keeps the most restrictive reading (issue 8: malformed means stale).
    seconds = delta_seconds(argument.strip(_OWS)) if isinstance(argument, str) else None
    return 0 if seconds is None else seconds


def patch_cache_control(response: Any, **kwargs: Any) -> None:
    """Add or update ``Cache-Control`` directives, as Django does.

    Keyword names become directives with ``_`` replaced by ``-``; ``True``
    means a bare directive.  ``no_cache`` accumulates field names (``True``
    wins over them), ``max_age`` keeps the smaller of the old and new values,
    and ``public``/``private`` replace each other.
    """
    headers = headers_of(response)
    directives: dict[str, Any] = {}
    no_cache: dict[Any, None] = {}  # an ordered set: a repeated field name appears once
    existing = headers.get("Cache-Control")
    if existing:
        for member in split_header_value(existing):
            name, argument = _django_directive(member)
            if name == "no-cache":
                directives.setdefault(name, no_cache)
                no_cache[argument] = None
            else:
                directives[name] = argument

    if "max-age" in directives and "max_age" in kwargs:
        kwargs["max_age"] = min(_max_age_or_zero(directives["max-age"]), kwargs["max_age"])

    if "private" in directives and "public" in kwargs:
        del directives["private"]
    elif "public" in directives and "private" in kwargs:
        del directives["public"]

    for key, argument in kwargs.items():
        name = key.replace("_", "-")
        if name == "no-cache":
            directives.setdefault(name, no_cache)
            no_cache[argument] = None
        else:
            directives[name] = argument

    parts: list[str] = []
    for name, argument in directives.items():
        if argument is no_cache:
            if True in no_cache:
                parts.append(name)
            else:
                parts.extend(_format_directive(name, field) for field in no_cache)
        else:
            parts.append(_format_directive(name, argument))
    headers["Cache-Control"] = ", ".join(parts)


def get_max_age(response: Any) -> int | None:
    """The response's ``max-age`` in seconds, or ``None`` if it has none or it is malformed.

    As in Django the last ``max-age`` counts; unlike Django, a value that is
    not plain digits (``"60"``, ``1.5``, ``-1``, a bare ``max-age``) is ``None``.
    """
    value = headers_of(response).get("Cache-Control")
    if not value:
        return None
    directives = dict(_django_directive(member) for member in split_header_value(value))
    argument = directives.get("max-age")
    return delta_seconds(argument.strip(_OWS)) if isinstance(argument, str) else None


def patch_response_headers(response: Any, cache_timeout: float | None = None) -> None:
    """Add ``Expires`` (if absent) and ``max-age`` for ``cache_timeout`` seconds, as Django does.

    ``None`` means ``CACHE_MIDDLEWARE_SECONDS``; a negative timeout is 0.  An
    existing smaller ``max-age`` is kept.  A fractional timeout is rounded
    down so that ``max-age`` stays valid delta-seconds.
    """
    if cache_timeout is None:
        from cachemere.conf import settings  # read at call time: settings may be configured late

        cache_timeout = settings.CACHE_MIDDLEWARE_SECONDS
    seconds = max(0, int(cache_timeout))
    headers = headers_of(response)
    if "Expires" not in headers:
        headers["Expires"] = http_date(time.time() + seconds)
    patch_cache_control(response, max_age=seconds)


def add_never_cache_headers(response: Any) -> None:
    """Mark the response as never to be cached, by anyone (Django's exact headers)."""
    patch_response_headers(response, cache_timeout=-1)
    patch_cache_control(response, no_cache=True, no_store=True, must_revalidate=True, private=True)


def patch_vary_headers(response: Any, newheaders: Iterable[str]) -> None:
    """Add ``newheaders`` to ``Vary``, skipping any already there (case-insensitive); ``*`` absorbs all."""
    headers = headers_of(response)
    names = vary_names(headers.get("Vary"))
    present = {name.lower() for name in names}
    names += [name for raw in newheaders if (name := raw.strip(_OWS)) and name.lower() not in present]
    headers["Vary"] = "*" if "*" in names else ", ".join(names)


def has_vary_header(response: Any, header_query: str) -> bool:
    """Whether ``Vary`` lists ``header_query`` (case-insensitive, whitespace ignored)."""
    value = headers_of(response).get("Vary")
    if not value:
        return False
    wanted = header_query.strip(_OWS).lower()
    return any(name.lower() == wanted for name in vary_names(value))
