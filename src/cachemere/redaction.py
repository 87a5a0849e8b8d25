"""Secrets out of LOCATIONs before they are shown: in logs, error messages, ``cachemere check``.

A LOCATION may carry a password as URL userinfo (``redis://user:pw@host``,
``unix://:pw@/path/redis.sock``) or as a query parameter (``?password=pw``,
in any case, percent-encoded or not).  :func:`mask_location` replaces each
with ``***`` in one URL, in a ``;``/``,``-separated string of URLs, or in a
list or tuple of them; anything that is not a URL comes back unchanged.

When in doubt it masks too much rather than too little: everything between
the first ``:`` of the userinfo and the last ``@`` before the query is taken
as the password, as a password holding an unencoded ``@`` or ``/`` would be.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

__all__ = ["MASK", "WITHHELD", "mask_location", "mask_text", "redact", "secrets_of"]

MASK = "***"

# Where a URL starts: a scheme not glued to a preceding word character.
_URL_START = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://")
# A separator between two URLs of one LOCATION string, just before the next one.
_TRAILING_SEPARATOR = re.compile(r"[;,]\s*$")


def _split_url(url: str) -> tuple[str, str, str, str]:
    """``(scheme://, userinfo, rest before the query, query)`` of one URL; userinfo keeps its '@'."""
    head_end = url.index("://") + 3
    scheme, rest = url[:head_end], url[head_end:]
    # The userinfo ends at the last "@" anywhere, so a password holding an unencoded "?"
    # or "/" is still taken as userinfo (masking too much rather than too little).
    at = rest.rfind("@")
    userinfo, after = rest[: at + 1], rest[at + 1 :]
    remainder, question, query = after.partition("?")
    return scheme, userinfo, remainder, question + query


def _is_secret_name(name: str) -> bool:
    return "password" in unquote_plus(name).lower()


def _mask_url(url: str) -> str:
    scheme, userinfo, remainder, query = _split_url(url)
    user, colon, _ = userinfo[:-1].partition(":")
    if colon:
        userinfo = f"{user}:{MASK}@"
    if query:
        query_text, hash_sign, fragment = query[1:].partition("#")
        fields = []
        for field in query_text.split("&"):
            name, equals, _ = field.partition("=")
            fields.append(f"{name}={MASK}" if equals and _is_secret_name(name) else field)
        query = "?" + "&".join(fields) + hash_sign + fragment
    return scheme + userinfo + remainder + query


def _urls(text: str) -> list[tuple[int, int]]:
    """Spans of the URLs in ``text``: each runs to the separator before the next one."""
    starts = [match.start() for match in _URL_START.finditer(text)]
    spans = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        separator = _TRAILING_SEPARATOR.search(text, start, end)
        spans.append((start, separator.start() if separator else end))
    return spans


def mask_text(text: str) -> str:
    """``text`` with the password of every URL in it masked."""
    if "://" not in text:
        return text
    pieces, last = [], 0
    for start, end in _urls(text):
        pieces += [text[last:start], _mask_url(text[start:end])]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def mask_location(location: Any) -> str:
    """``location`` fit to show: every password in it replaced by ``***``.

    A list or tuple comes back as its masked entries joined by ``", "``;
    anything else as its masked ``str()``.
    """
    if isinstance(location, (list, tuple)):
        return ", ".join(mask_text(str(entry)) for entry in location)
    return mask_text(str(location))


def secrets_of(location: Any) -> list[str]:
    """The passwords in ``location``, as written and decoded, longest first.

    For scrubbing text that quotes a password without its URL (a parser's
    error message, say).
    """
    entries: Iterable[Any] = location if isinstance(location, (list, tuple)) else [location]
    found: set[str] = set()
    for entry in entries:
        text = str(entry)
        for start, end in _urls(text):
            _, userinfo, _, query = _split_url(text[start:end])
            password = userinfo[:-1].partition(":")[2]
            values = [password] if password else []
            for field in query[1:].partition("#")[0].split("&"):
                name, equals, value = field.partition("=")
                if equals and value and _is_secret_name(name):
                    values.append(value)
            for value in values:
                found.update({value, unquote_plus(value)})
    return sorted((value for value in found if value), key=len, reverse=True)


#: What :func:`redact` answers for a message that still quotes part of a password.
WITHHELD = "(message withheld: it quotes part of a password)"
# Where a URL parser may cut a password that holds these characters unencoded.
_DELIMITERS = re.compile(r"[/?#@:;,&=]")


def redact(text: str, location: Any) -> str:
    """``text`` (a library's error message, say) with every password of ``location`` masked.

    Masks the URLs in ``text`` and any bare occurrence of a password that
    ``location`` carries, as a parser may quote one without its URL.  A parser
    that cut a password at an unencoded delimiter may quote just a piece of it:
    if a piece of two characters or more is left, the whole text is withheld.
    """
    text = mask_text(text)
    secrets = secrets_of(location)
    for secret in secrets:
        text = text.replace(secret, MASK)
    pieces = {piece for secret in secrets for piece in _DELIMITERS.split(secret) if len(piece) >= 2}
    return WITHHELD if any(piece in text for piece in pieces) else text
