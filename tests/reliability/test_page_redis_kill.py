"""The page cache fails open: redis SIGKILLed under load turns hits into misses, and no request fails.

gunicorn and uvicorn serve the test site with its pages on a redis started
here; another process loads it with many users while the test SIGKILLs redis,
waits, and starts a new (empty) redis on the same port.  Every answer is
checked as in the load test; the load's timeline shows hits before the kill,
none while redis is down, and hits again after it is back, from the same
worker processes (nothing restarted).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from helpers.page_load import LoadProcess, PageServer, kill_redis, restart_redis
from servers.redis import RedisServer

BEFORE, DOWN, AFTER = 2.5, 2.5, 3.0
#: Answers finishing this long after the kill may still come from a read done just before it.
SETTLE = 0.5


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_redis_killed_mid_load_turns_hits_into_misses_and_no_request_fails(
    server: str, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    try:
        with PageServer(server, "redis", redis.url, workers=2, directory=tmp_path) as site:
            workers = site.worker_pids()
            load = LoadProcess(site.url, BEFORE + DOWN + AFTER)
            time.sleep(BEFORE)
            killed = time.time()
            kill_redis(redis)
            time.sleep(DOWN)
            back = time.time()
            redis = restart_redis(redis)
            result = load.result()
            assert sorted(site.worker_pids()) == sorted(workers), "a worker was restarted"
            log = site.log.read_text(errors="replace")
    finally:
        redis.stop()
    assert result["errors"] == result["leaks"] == result["corrupt"] == 0, result["samples"]
    timeline = result["timeline"]
    before = [hit for at, hit, _ in timeline if at < killed]
    down = [hit for at, hit, _ in timeline if killed + SETTLE < at < back]
    after = [hit for at, hit, _ in timeline if at > back]
    assert sum(before) > 0, "no hits before the kill: the cache was not in use"
    assert down and sum(down) == 0, f"{len(down)} answers while redis was down, {sum(down)} of them hits"
    assert sum(after) > 0, "no hits after redis came back: the workers did not reconnect"
    # Failing open is logged, as docs/http.md says (logger cachemere.http).
    assert "page cache lookup failed" in log
