"""The demo site (examples/demo) for the tests: in-process, or served by gunicorn or by its serve script.

Servers run on 127.0.0.1 on a free port, in a process the test starts and
stops by its PID.  :class:`DemoServer` reads the site's request log and
render counts from ``/stats.json`` with a plain HTTP client, so reading the
evidence never goes through the browser's cache.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers.common import free_port, port_open, wait_until

#: The repository root: the demo is run from it, as the README says.
ROOT = Path(__file__).resolve().parents[2]
SERVE_SCRIPT = ROOT / "examples" / "demo" / "serve.py"

if str(ROOT) not in sys.path:  # `examples` is importable from the repository root only
    sys.path.insert(0, str(ROOT))

# Test modules import the demo from here, so it is importable whatever pytest's import mode and directory.
from examples.demo.app import DIRECTORY_VARIABLE, Demo, create_app  # noqa: E402
from examples.demo.bookkeeping import OTHER_PATH  # noqa: E402
from examples.demo.pages import PAGES, Page  # noqa: E402

__all__ = [
    "DIRECTORY_VARIABLE", "OTHER_PATH", "PAGES", "ROOT", "SERVE_SCRIPT", "Demo", "DemoServer", "Page",
    "create_app", "fetch", "gunicorn_demo", "number", "stop_process",
]  # fmt: skip


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the redirect itself is the answer to look at


_opener = urllib.request.build_opener(_NoRedirects)


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, Any, bytes]:
    """``(status, headers, body)`` of one request: no cache in between, redirects not followed."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with _opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:  # 3xx/4xx/5xx: still an answer to look at
        with error:
            return error.code, error.headers, error.read()


@dataclass
class DemoServer:
    """A running demo site: its base URL and the process that serves it."""

    url: str
    process: subprocess.Popen[bytes]
    directory: Path
    log: Path

    def stats(self) -> dict[str, Any]:
        status, _, body = fetch(self.url + "stats.json")
        assert status == 200, body
        return json.loads(body)  # type: ignore[no-any-return]

    def requests(self, path: str) -> dict[str, int]:
        """The request log's counts for ``path``: ``{"total": n, "200": n, ...}``."""
        return self.stats()["requests"][path]  # type: ignore[no-any-return]

    def renders(self, page: str) -> int:
        return self.stats()["renders"][page]  # type: ignore[no-any-return]


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process we started (by its PID), then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def _started(process: subprocess.Popen[bytes], port: int, log: Path, what: str) -> None:
    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        return port_open(port)

    try:
        wait_until(up, what, timeout=30)
    except BaseException:
        stop_process(process)
        raise


@contextmanager
def gunicorn_demo(directory: Path, workers: int = 3) -> Iterator[DemoServer]:
    """``gunicorn examples.demo.app:app`` with ``workers`` sync workers sharing caches in ``directory``."""
    port = free_port()
    log = directory.parent / f"gunicorn-{port}.log"
    env = {**os.environ, "CACHEMERE_DEMO_DIR": str(directory)}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                "--access-logfile", "-", "--graceful-timeout", "5", "examples.demo.app:app",
            ],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    _started(process, port, log, "gunicorn (demo site)")
    try:
        yield DemoServer(f"http://127.0.0.1:{port}/", process, directory, log)
    finally:
        stop_process(process)


def number(body: bytes | str, element_id: str) -> int:
    """The integer shown in the element ``#element_id`` of a demo page (render numbers, visits)."""
    text = body.decode() if isinstance(body, bytes) else body
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>(?:<[^>]+>)*\s*(\d+)', text)
    assert match is not None, f"no #{element_id} number in the page"
    return int(match.group(1))
