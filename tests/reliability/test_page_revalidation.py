"""Stale per-user pages revalidated under load: every 304 refreshes the right user's copy.

``/etag/<n>`` pages are fresh for one second, vary on the cookie and carry an
ETag per user; the app answers the page cache's (and the clients' own)
If-None-Match with a 304 that names the user it was made for.  Under
gunicorn and uvicorn load, pages go stale and are revalidated all the time,
concurrently: no user may get another user's page, ETag or 304, nothing may
be torn, and copies refreshed by a 304 (rendered long before, served as hits)
must be seen, so the revalidation path really ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.page_load import LoadProcess, PageServer
from servers.redis import RedisServer


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("page-revalidation-redis")).start()
    yield server
    server.stop()


@pytest.mark.parametrize(("server", "backend"), [("gunicorn", "file"), ("uvicorn", "redis")])
def test_revalidation_under_load_refreshes_each_users_own_page(
    server: str, backend: str, redis: RedisServer, tmp_path: Path
) -> None:
    where = redis.url if backend == "redis" else str(tmp_path / "pages")
    with PageServer(server, backend, where, workers=2, directory=tmp_path) as site:
        # Few users and pages, half the requests to /etag: each copy is asked for often enough
        # to be seen fresh again after its revalidation.
        result = LoadProcess(site.url, 4.0, users=8, pages=2, etag=100).result()
    assert result["errors"] == result["leaks"] == result["corrupt"] == 0, result["samples"]
    assert result["kinds"].get("etag", 0) > 0
    assert result["revalidated_hits"] > 0, "no copy refreshed by a 304 was served: nothing was revalidated"
