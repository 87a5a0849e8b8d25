"""The page cache under real servers and real load: nobody gets another user's page, nothing is torn.

The test site (:mod:`helpers.page_apps`) runs under gunicorn (preforking, the
app loaded and its cache used before the fork) and uvicorn (two worker
processes), with the page cache on a redis server and on a directory shared by
the workers.  Another process (:class:`helpers.page_load.LoadProcess`) loads it
for a few seconds with 40 users, each with their own session cookie and bearer
token, and checks every answer: the user it was rendered for, its length and
checksum, the page asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.page_load import LoadProcess, PageServer
from servers.redis import RedisServer

SECONDS = 4.0


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis of this module's own (no other test flushes or kills it)."""
    server = RedisServer(tmp_path_factory.mktemp("page-redis")).start()
    yield server
    server.stop()


def location(backend: str, redis: RedisServer, tmp_path: Path) -> str:
    if backend == "redis":
        redis.admin.flushall()
        return redis.url
    return str(tmp_path / "pages")


def loaded(
    server: str, backend: str, where: str, tmp_path: Path, **options: int
) -> tuple[dict[str, Any], list[int]]:
    with PageServer(server, backend, where, workers=2, directory=tmp_path) as site:
        workers = site.worker_pids()
        result = LoadProcess(site.url, SECONDS, **options).result()
        log = site.log_text()
    assert result["errors"] == 0, (result["samples"], log)
    return result, workers


@pytest.mark.parametrize("backend", ["redis", "file"])
@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_under_load_no_user_gets_another_users_page_and_no_answer_is_torn(
    server: str, backend: str, redis: RedisServer, tmp_path: Path
) -> None:
    result, workers = loaded(server, backend, location(backend, redis, tmp_path), tmp_path)
    assert result["leaks"] == 0, result["samples"]
    assert result["corrupt"] == 0, result["samples"]
    hits = result["kind_hits"]
    # The cache really served under that load: shared pages, each user's Vary: Cookie and
    # Authorization-keyed pages, and public pages for authorized users...
    assert all(hits.get(kind, 0) > 0 for kind in ("shared", "cookie", "auth", "public-auth", "head")), hits
    # ...and never a page marked private or carrying Set-Cookie (check_page also counts those as leaks).
    assert hits.get("private", 0) == hits.get("setcookie", 0) == 0, hits
    # Several worker processes answered, and pages rendered by one were hits in another: one shared cache.
    assert len(result["served_by"]) >= 2 and set(map(int, result["served_by"])) <= set(workers), result[
        "served_by"
    ]
    assert result["shared_hits"] > 0


def test_users_whose_cookies_differ_in_one_character_never_share_a_page(
    redis: RedisServer, tmp_path: Path
) -> None:
    # user-001's cookie and token are user-002's but for one character; with few pages, each
    # page is cached for many such cookies at once (60 variants: under the 64 a URL keeps).
    result, _ = loaded(
        "uvicorn", "redis", location("redis", redis, tmp_path), tmp_path, users=60, pages=2, same_secret=1
    )
    assert result["leaks"] == result["corrupt"] == 0, result["samples"]
    assert result["kind_hits"].get("cookie", 0) > 0 and result["kind_hits"].get("auth", 0) > 0


def test_streamed_pages_under_gunicorn_arrive_whole_and_are_never_stored(
    redis: RedisServer, tmp_path: Path
) -> None:
    # Per-user pages with max-age but no Vary, streamed (no Content-Length, several chunks): the
    # page cache must pass them through, never store them.  (uvicorn: test_page_asgi_stream.py.)
    result, _ = loaded("gunicorn", "redis", location("redis", redis, tmp_path), tmp_path, stream=20)
    assert result["kinds"].get("stream", 0) > 0
    assert result["leaks"] == result["corrupt"] == 0, result["samples"]
    assert result["kind_hits"].get("stream", 0) == 0
