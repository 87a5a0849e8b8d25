"""examples/flask_quickstart.py (the README's Flask example): imported, it builds ``app``; run, it serves."""

from __future__ import annotations

import importlib.util
import itertools
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

from servers.common import free_port, port_open, wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_quickstart.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flask_quickstart", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_app_caches_as_its_comments_say(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every clock reading is new, so a page or fragment built twice never looks the same.
    ticks = itertools.count()
    monkeypatch.setattr(time, "strftime", lambda _format: f"t{next(ticks)}")
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)
    client = load().app.test_client()
    report = client.get("/")
    assert b"<h1>Report</h1>" in report.data and report.headers["Cache-Control"] == "max-age=60"
    assert client.get("/").data == report.data  # a hit: the same build time

    sidebar = [client.get("/sidebar").data.decode() for _ in range(2)]
    assert sidebar[0] != sidebar[1]  # the page around the fragment is rebuilt...
    fragment = [text.split("sidebar at ")[1] for text in sidebar]
    assert fragment[0] == fragment[1]  # ...the fragment is not

    first, second = (client.get("/visits").json["visits"] for _ in range(2))
    assert second == first + 1  # (the example's locmem store is the process's default one)
    assert "no-store" in client.get("/visits").headers["Cache-Control"]

    logo = client.get("/logo")
    assert logo.headers["Cache-Control"] == "max-age=3600, public" and logo.mimetype == "image/svg+xml"
    assert client.get("/", headers={"Host": "elsewhere.test"}).status_code == 400  # ALLOWED_HOSTS


def test_running_the_example_serves_it(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "example.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(EXAMPLE)], env={**os.environ, "PORT": str(port)},
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: process.poll() is None and port_open(port), "the Flask example", timeout=30)
        bodies = []
        for _ in range(2):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
                bodies.append((response.status, response.headers["Cache-Control"], response.read()))
        assert bodies[0] == bodies[1] and bodies[0][:2] == (200, "max-age=60")
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
    assert process.returncode is not None, log.read_text()
