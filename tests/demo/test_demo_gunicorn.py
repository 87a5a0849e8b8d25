"""The demo under gunicorn with several workers: one page cache and one request log for all of them."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers.demo_server import DemoServer, fetch, gunicorn_demo, number
from servers.common import wait_until

PROCESS = re.compile(r"by process (\d+)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with gunicorn_demo(tmp_path_factory.mktemp("demo-gunicorn") / "caches", workers=3) as running:
        yield running


def rendered_by(body: bytes) -> int:
    match = PROCESS.search(body.decode())
    assert match is not None
    return int(match.group(1))


def test_a_page_rendered_by_one_worker_is_served_by_the_others(server: DemoServer) -> None:
    assert fetch(server.url + "clear", method="POST")[0] == 303
    renders = server.renders("slow")
    slow: list[bytes] = []
    # While one worker does the slow page's second of work, the others answer: their pid differs.
    cold = threading.Thread(target=lambda: slow.append(fetch(server.url + "slow")[2]))
    cold.start()
    try:
        wait_until(lambda: server.renders("slow") == renders + 1, "the slow page's render")
        busy_elsewhere = rendered_by(fetch(server.url + "never")[2])
    finally:
        cold.join()
    assert busy_elsewhere != rendered_by(slow[0])
    with ThreadPoolExecutor(6) as pool:
        warm = list(pool.map(lambda _: fetch(server.url + "slow"), range(12)))
    assert {status for status, _, _ in warm} == {200}
    assert {body for _, _, body in warm} == {slow[0]}
    assert server.renders("slow") == renders + 1


def test_the_counters_are_exact_across_workers(server: DemoServer) -> None:
    before = server.requests("/counter")["total"]
    with ThreadPoolExecutor(8) as pool:
        visits = list(pool.map(lambda _: number(fetch(server.url + "counter")[2], "visits"), range(30)))
    first = min(visits)
    assert sorted(visits) == list(range(first, first + 30))  # cache.incr is atomic across processes
    assert server.requests("/counter")["total"] == before + 30
