"""The protocol-free request and response the page cache works on, built by the WSGI and ASGI adapters.

Header names are compared case-insensitively and kept as given; values are
``str`` (latin-1 decoded, as WSGI has them).  A header that occurs several
times keeps every occurrence, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["HeaderMap", "Headers", "Request", "headers_of"]


class HeaderMap(Protocol):
    """What the header helpers need of a response's headers.

    cachemere's :class:`Headers`, werkzeug's ``Headers`` (Flask), Starlette's
    ``MutableHeaders`` and Django's ``ResponseHeaders`` all qualify: each looks
    names up case-insensitively and ``__setitem__`` replaces every occurrence.
    """

    def get(self, name: str, default: Any = None) -> Any: ...

    def __setitem__(self, name: str, value: str) -> None: ...

    def __delitem__(self, name: str) -> None: ...

    def __contains__(self, name: object) -> bool: ...


def headers_of(response: Any) -> HeaderMap:
    """The header map of ``response``: its ``.headers`` if it has one, else ``response`` itself."""
    headers = getattr(response, "headers", response)
    return headers  # type: ignore[no-any-return]


class Headers:
    """An ordered, case-insensitive list of ``(name, value)`` pairs (a WSGI header list)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = list(items)

    # -- reading --------------------------------------------------------------

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        wanted = name.lower()
        return [value for key, value in self._items if key.lower() == wanted]

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name``: its occurrences joined by ``", "`` (RFC 9110 §5.3), or ``default``."""
        values = self.get_all(name)
        return ", ".join(values) if values else default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value  # type: ignore[no-any-return]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        wanted = name.lower()
        return any(key.lower() == wanted for key, _ in self._items)

    def items(self) -> list[tuple[str, str]]:
        """The pairs, in order (a copy)."""
        return list(self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    # -- writing --------------------------------------------------------------

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every occurrence of ``name`` by one, where the first was (else at the end)."""
        wanted = name.lower()
        for index, (key, _) in enumerate(self._items):
            if key.lower() == wanted:
                rest = [item for item in self._items[index + 1 :] if item[0].lower() != wanted]
                self._items[index:] = [(name, value), *rest]
                return
        self._items.append((name, value))

    def __delitem__(self, name: str) -> None:
        """Remove every occurrence of ``name`` (nothing happens if there is none)."""
        wanted = name.lower()
        self._items = [item for item in self._items if item[0].lower() != wanted]

    def add(self, name: str, value: str) -> None:
        """Append one more occurrence of ``name``."""
        self._items.append((name, value))


@dataclass
class Request:
    """A request as the app's router sees it: what keys and policy decisions are made from."""

    method: str
    #: "http" or "https", as the server (not a client header) says.
    scheme: str
    #: The host the server trusts (after ``ALLOWED_HOSTS``), with ``:port`` if not the scheme's default.
    host: str
    #: The path as the app's router saw it (percent-decoded as the server decoded it).
    path: str
    #: The raw query string, without the "?".
    query_string: str = ""
    headers: Headers = field(default_factory=Headers)
    #: True when the request carries a body (Content-Length > 0 or chunked).
    has_body: bool = False
    #: The language and time zone the page is keyed under (as Django's
    #: ``request.LANGUAGE_CODE``); None means the active ones (cachemere.http.i18n).
    language: str | None = None
    timezone: str | None = None
    #: Whether the request has If-None-Match or If-Modified-Since, when the adapter
    #: noted it while reading the headers; None: look at ``headers``.
    conditional: bool | None = None

    def absolute_uri(self) -> str:
        """``scheme://host/path?query``: the URL the page is cached under (full query, order-sensitive)."""
        query = f"?{self.query_string}" if self.query_string else ""
        return f"{self.scheme}://{self.host}{self.path}{query}"
