"""A cachemere Flask app under a real gunicorn: a cached page served by two workers, rendered once.

gunicorn runs on 127.0.0.1 on a free port with two sync workers sharing one
file-based cache; the test starts it and stops it by its PID.  A sync worker
serves one request at a time, so a request held open at ``/hold`` pins which
worker the next request reaches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from servers.common import free_port, port_open, wait_until

TESTS = Path(__file__).resolve().parents[1]


@dataclass
class Served:
    url: str
    counters: Path

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.status, dict(response.headers), response.read()

    def renders(self, name: str) -> list[str]:
        """The PIDs of the workers that rendered ``name``, one per render."""
        path = self.counters / name
        return path.read_text().split() if path.exists() else []


class Hold:
    """A request to /hold/<name> keeping one worker busy until released."""

    def __init__(self, served: Served, name: str) -> None:
        self.served, self.name = served, name
        self.answer: list[bytes] = []
        self.thread = threading.Thread(target=lambda: self.answer.append(served.get(f"hold/{name}")[2]))
        self.thread.start()
        held = served.counters / f"held-{name}"
        wait_until(held.exists, f"a worker to hold {name}")
        self.pid = held.read_text()

    def release(self) -> None:
        (self.served.counters / f"release-{self.name}").touch()
        self.thread.join(timeout=30)
        assert self.answer == [self.pid.encode()]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    counters, cache = tmp_path / "counters", tmp_path / "cache"
    counters.mkdir()
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "FLASK_TEST_COUNTER_DIR": str(counters), "FLASK_TEST_CACHE_DIR": str(cache)}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                "--pythonpath", str(TESTS), "--graceful-timeout", "5", "helpers.flask_app:server_app()",
            ],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
            return port_open(port)

        wait_until(up, "gunicorn (Flask app)", timeout=30)
        # Both workers up before the test pins requests to them.
        wait_until(lambda: log.read_text().count("Booting worker") == 2, "two gunicorn workers", timeout=30)
        yield Served(f"http://127.0.0.1:{port}/", counters)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


def test_a_cached_page_is_rendered_once_for_two_workers(served: Served) -> None:
    first = Hold(served, "first")  # one worker busy: the page goes to the other
    status, headers, body = served.get("str")
    renderer = headers["X-Worker"]
    assert status == 200 and body == b"str 1" and renderer != first.pid
    second = Hold(served, "second")  # the renderer is the only free worker: it takes this hold
    assert second.pid == renderer
    first.release()  # now the worker that did not render is the only free one
    status, headers, body = served.get("str")
    assert status == 200 and body == b"str 1" and headers["Age"].isdigit()
    assert headers["X-Worker"] == first.pid != renderer  # served by the other worker, from the shared cache
    second.release()
    status, _, body = served.get("str")
    assert body == b"str 1"
    assert served.renders("str") == [renderer]  # one render in all, by the first worker


def test_uncached_pages_and_streams_render_every_time_under_gunicorn(served: Served) -> None:
    # Each worker counts its own renders in the page, so the shared count is read from the files.
    assert all(served.get("uncached")[2].startswith(b"uncached ") for _ in range(2))
    assert len(served.renders("uncached")) == 2
    bodies = [served.get("stream")[2] for _ in range(2)]
    assert all(body.startswith(b"chunk one render ") for body in bodies)
    assert len(served.renders("stream")) == 2
