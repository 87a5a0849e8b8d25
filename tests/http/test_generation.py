"""Invalidation by generation: no interleaving of stores and an invalidation brings an old page back.

An unsafe method's answer gives its URL a new generation, which every page key
of the URL includes; the variant index only frees room early.  These tests
interleave the cache steps of concurrent requests by hand (the step protocol
makes that deterministic) and wipe the index, so that only the generation can
keep an old page from being served.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import cachemere
from cachemere import CacheHandler
from cachemere.backends.base import drive
from cachemere.http import core
from cachemere.http.i18n import override
from cachemere.http.keys import cache_header_key, generation_key
from cachemere.http.messages import Headers, Request

_names = itertools.count()


@pytest.fixture
def cache() -> Any:
    return CacheHandler(
        {"p": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": f"generation-{next(_names)}"}}
    )["p"]


def request(user: str, method: str = "GET") -> Request:
    return Request(method, "http", "example.com", "/page", "", Headers([("Cookie", f"u={user}")]), False)


def answer(user: str, version: int) -> tuple[int, Headers, bytes]:
    body = f"{user} v{version}".encode()
    headers = Headers(
        [("Content-Length", str(len(body))), ("Cache-Control", "max-age=60"), ("Vary", "Cookie")]
    )
    return 200, headers, body


def lookup(cache: Any, user: str) -> core.Hit | core.Miss | None:
    return drive(cache, core.fetch(request(user), "", 60))


def store(cache: Any, miss: core.Miss, user: str, version: int) -> bool:
    status, headers, body = answer(user, version)
    logic = core.update(miss.request, status, headers, body, "", 60, generation=miss.generation)
    return drive(cache, logic)


def invalidate(cache: Any) -> None:
    drive(cache, core.invalidate(request("anyone", "POST"), ""))


def served(cache: Any, user: str) -> bytes | None:
    decision = lookup(cache, user)
    return decision.body if isinstance(decision, core.Hit) else None


def test_a_variant_lost_from_the_index_is_still_invalidated(cache: Any) -> None:
    for user in ("a", "b", "c"):
        miss = lookup(cache, user)
        assert isinstance(miss, core.Miss) and store(cache, miss, user, 1)
    assert served(cache, "b") == b"b v1"
    # What two concurrent stores can do to the index (each wrote the list it read): lose entries.
    cache.delete(cache_header_key(request("a"), "") + ".variants")
    invalidate(cache)
    # Anyone re-learns the URL's header list; the old pages must stay out of reach.
    miss = lookup(cache, "a")
    assert isinstance(miss, core.Miss) and store(cache, miss, "a", 2)
    assert served(cache, "a") == b"a v2"
    assert served(cache, "b") is None and served(cache, "c") is None


def test_an_answer_to_a_request_that_arrived_before_the_invalidation_is_never_served(cache: Any) -> None:
    miss = lookup(cache, "a")  # arrives; its view reads the data the POST is about to change
    assert isinstance(miss, core.Miss)
    invalidate(cache)  # the POST's answer
    store(cache, miss, "a", 1)  # the old answer is stored after the invalidation
    assert served(cache, "a") is None  # under the old generation: out of reach
    miss = lookup(cache, "a")
    assert isinstance(miss, core.Miss) and store(cache, miss, "a", 2)
    assert served(cache, "a") == b"a v2"


def test_stores_interleaved_step_by_step_with_an_invalidation(cache: Any) -> None:
    # Every interleaving of two stores' steps with an invalidation between any two of them.
    for cut in range(12):
        cache.clear()
        misses = [lookup(cache, user) for user in ("a", "b")]
        assert all(isinstance(m, core.Miss) for m in misses)
        logics = [
            core.update(m.request, *answer(user, 1), "", 60, generation=m.generation)  # type: ignore[union-attr]
            for m, user in zip(misses, ("a", "b"))
        ]
        steps = [next(logic) for logic in logics]
        done = [False, False]
        turn, count = 0, 0
        while not all(done):
            if count == cut:
                invalidate(cache)
            count += 1
            if done[turn]:
                turn = 1 - turn
                continue
            name, args = steps[turn]
            try:
                steps[turn] = logics[turn].send(getattr(cache, name)(*args))
            except StopIteration:
                done[turn] = True
            turn = 1 - turn
        if count <= cut:
            invalidate(cache)
        assert served(cache, "a") is None and served(cache, "b") is None, cut


def test_an_invalidation_reaches_every_language(cache: Any, fresh_settings: None) -> None:
    cachemere.configure(USE_I18N=True)
    for language in ("en", "fr"):
        with override(language):
            miss = lookup(cache, "a")
            assert isinstance(miss, core.Miss) and store(cache, miss, "a", 1)
            assert served(cache, "a") == b"a v1"
    with override("en"):
        invalidate(cache)  # the POST was answered in English
    for language in ("en", "fr"):
        with override(language):
            assert served(cache, "a") is None, language


def test_the_generation_outlives_every_listed_variant_and_a_day(cache: Any) -> None:
    miss = lookup(cache, "a")
    assert isinstance(miss, core.Miss)
    status, headers, body = answer("a", 1)
    headers["Cache-Control"] = "max-age=200000"  # longer than a day
    assert drive(cache, core.update(miss.request, status, headers, body, "", 60, generation=miss.generation))
    now = core.time.time()
    invalidate(cache)
    key = cache.make_key(generation_key(request("a"), ""))
    assert cache._expire_info[key] >= now + 200000 - 5  # as long as the longest listed variant
    other = Request("POST", "http", "example.com", "/never-cached", "", Headers(), False)
    drive(cache, core.invalidate(other, ""))
    expiry = cache._expire_info[cache.make_key(generation_key(other, ""))]
    assert now + core.GENERATION_LIFETIME - 5 <= expiry <= now + core.GENERATION_LIFETIME + 60  # bounded
