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
from contextlib import contextmanager
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


@contextmanager
def gunicorn(tmp_path: Path, site_cache: bool) -> Iterator[Served]:
    """gunicorn serving helpers.flask_app:server_app() with two sync workers; stopped by its PID."""
    counters, cache = tmp_path / "counters", tmp_path / "cache"
    counters.mkdir()
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ, "FLASK_TEST_COUNTER_DIR": str(counters), "FLASK_TEST_CACHE_DIR": str(cache),
        "FLASK_TEST_SITE_CACHE": "1" if site_cache else "",
    }  # fmt: skip
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


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with gunicorn(tmp_path, site_cache=False) as server:
        yield server


def served_by_both_workers(
    served: Served, path: str, flask_runs_on_hit: bool = True
) -> tuple[bytes, bytes, str]:
    """GET ``path`` on one worker, then on the other; both bodies and the PID of the first.

    The second GET is sent while the first worker is held busy, so only the other can answer it.
    """
    first = Hold(served, "first")  # one worker busy: the page goes to the other
    status, headers, body = served.get(path)
    renderer = headers["X-Worker"]
    assert status == 200 and renderer != first.pid
    second = Hold(served, "second")  # the renderer is the only free worker: it takes this hold
    assert second.pid == renderer
    first.release()  # now the worker that did not render is the only free one
    status, headers, again = served.get(path)
    assert status == 200 and headers["Age"].isdigit()  # a hit...
    # ...served by the other worker, whose after_request hook says so; a site-cache hit never
    # reaches Flask, so it carries the header stored with the page instead.
    assert headers["X-Worker"] == (first.pid if flask_runs_on_hit else renderer)
    second.release()
    return body, again, renderer


def test_a_cached_page_is_rendered_once_for_two_workers(served: Served) -> None:
    body, again, renderer = served_by_both_workers(served, "str")
    assert body == again == b"str 1"
    assert served.get("str")[2] == b"str 1"
    assert served.renders("str") == [renderer]  # one render in all, by the first worker


def test_the_site_cache_option_under_gunicorn(tmp_path: Path) -> None:
    with gunicorn(tmp_path, site_cache=True) as served:
        body, again, renderer = served_by_both_workers(served, "uncached", flask_runs_on_hit=False)
        assert body == again == b"uncached 1"
        assert served.renders("uncached") == [renderer]


def test_uncached_pages_and_streams_render_every_time_under_gunicorn(served: Served) -> None:
    # Each worker counts its own renders in the page, so the shared count is read from the files.
    assert all(served.get("uncached")[2].startswith(b"uncached ") for _ in range(2))
    assert len(served.renders("uncached")) == 2
    bodies = [served.get("stream")[2] for _ in range(2)]
    assert all(body.startswith(b"chunk one render ") for body in bodies)
    assert len(served.renders("stream")) == 2
