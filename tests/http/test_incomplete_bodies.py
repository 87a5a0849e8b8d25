"""A body that does not match its Content-Length (a render cut short) is passed on but never stored."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cachemere import CacheHandler
from helpers.middleware import Site

_names = itertools.count()


@pytest.fixture
def cache() -> Any:
    location = f"incomplete-{next(_names)}"
    return CacheHandler({"p": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": location}})[
        "p"
    ]


def fixed(length: str) -> Any:
    def view(request: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
        return 200, [("Content-Length", length), ("Cache-Control", "max-age=60")], b"12345"

    return view


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
@pytest.mark.parametrize("length", ["10", "3", "x", "5, 5"])
def test_a_body_other_than_its_content_length_is_never_stored(kind: str, cache: Any, length: str) -> None:
    site = Site(kind, cache, fixed(length))
    for _ in range(2):
        site()
    assert site.calls == 2


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_a_complete_body_is_stored(kind: str, cache: Any) -> None:
    site = Site(kind, cache, fixed("5"))
    for _ in range(2):
        site()
    assert site.calls == 1
