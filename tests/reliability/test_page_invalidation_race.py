"""A POST invalidates every variant of its URL, also the variants stored at the same moment by other workers.

Stores of a URL's variants run concurrently (two worker processes, threads,
or tasks on one event loop).  Had invalidation depended on a list of variants
that each store reads and writes back (as it once did), two stores at once
would each write the list they read, one variant would be lost from it, and
the invalidation would leave that page to be served again as soon as anyone
re-learnt the URL's header list.  docs/http.md: "A 2xx/3xx answer to any
unsafe or unknown method invalidates every stored variant of the URL".
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cachemere import CacheHandler
from cachemere.backends.base import Logic, drive
from cachemere.http import core
from cachemere.http.messages import Headers, Request
from helpers.page_load import PageServer, User, make_users
from servers.redis import RedisServer

USERS = make_users(30, seed=5)


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("page-invalidation-redis")).start()
    yield server
    server.stop()


def ask(port: int, path: str, user: User, method: str = "GET") -> tuple[int, bool]:
    """(status, served from the cache) for ``user``'s request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request(
            method, path, body=b"" if method == "POST" else None, headers={"Cookie": user.cookie}
        )
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Age") is not None
    finally:
        connection.close()


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_a_post_invalidates_variants_stored_concurrently(
    server: str, redis: RedisServer, tmp_path: Path
) -> None:
    redis.admin.flushall()
    with PageServer(server, "redis", redis.url, workers=2, directory=tmp_path) as site:
        survivors: dict[str, int] = {}
        for number in range(3):
            path = f"/cookie/{number}"
            start = threading.Barrier(len(USERS))

            def first_visit(user: User, path: str = path, start: threading.Barrier = start) -> None:
                start.wait()
                ask(site.port, path, user)

            visits = [threading.Thread(target=first_visit, args=(user,)) for user in USERS]
            for visit in visits:
                visit.start()
            for visit in visits:
                visit.join()
            assert all(ask(site.port, path, user)[1] for user in USERS), "not every variant was stored"
            assert ask(site.port, path, USERS[0], "POST")[0] == 200
            survivors[path] = sum(ask(site.port, path, user)[1] for user in USERS)
    assert not any(survivors.values()), f"variants served after the POST invalidated them: {survivors}"


def test_two_stores_at_once_both_land_in_the_variant_index() -> None:
    settings = {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": "page-invalidation-race"}
    cache = CacheHandler({"default": settings})["default"]

    def request(cookie: str, method: str = "GET") -> Request:
        return Request(method, "http", "example.com", "/page", "", Headers([("Cookie", cookie)]), False)

    def store(cookie: str) -> Logic[bool]:
        body = cookie.encode()
        headers = Headers(
            [("Content-Length", str(len(body))), ("Cache-Control", "max-age=60"), ("Vary", "Cookie")]
        )
        return core.update(request(cookie), 200, headers, body, "", 60)

    # B's whole store runs between A's read of the variant index and A's write of it.
    a, b = store("u=a"), store("u=b")
    step, b_done = next(a), False
    while True:
        name, args = step
        result = getattr(cache, name)(*args)
        if name == "get" and str(args[0]).endswith(".variants") and not b_done:
            assert drive(cache, b) is True
            b_done = True
        try:
            step = a.send(result)
        except StopIteration as stop:
            assert stop.value is True
            break
    assert b_done, "the two stores did not interleave"
    assert isinstance(drive(cache, core.fetch(request("u=b"), "", 60)), core.Hit), "B's page was not stored"
    drive(cache, core.invalidate(request("u=a", "POST"), ""))
    drive(cache, store("u=c"))  # the next visitor re-learns the URL's header list
    assert not isinstance(drive(cache, core.fetch(request("u=b"), "", 60)), core.Hit)
