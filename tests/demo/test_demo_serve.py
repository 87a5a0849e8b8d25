"""The README's demo command (``python examples/demo/serve.py``) and ``app`` for WSGI servers as processes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers.demo_server import ROOT, SERVE_SCRIPT, fetch, stop_process
from servers.common import free_port, wait_until

URL = re.compile(r"cachemere demo: open (http://127\.0\.0\.1:(\d+)/)")
# The demo command in a shell block: `python examples/demo/serve.py`, maybe after `pip install ... &&`.
COMMAND = re.compile(r"^(?:[^#\n]*&& )?(python3? examples/demo/serve\.py)[ \t]*(?:#.*)?$", re.MULTILINE)


def documented_command(path: Path) -> list[str]:
    """The demo command as ``path`` prints it, split into words."""
    match = COMMAND.search(path.read_text())
    assert match is not None, f"{path.name} shows no demo command"
    return match.group(1).split()


def start_serve(output: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start the documented command from the repository root, with ``args``; its URL once it printed it."""
    _, script = documented_command(ROOT / "docs" / "demo.md")
    assert ROOT / script == SERVE_SCRIPT
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, script, *args],  # the same `python` that runs the tests
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: process.poll() is not None or bool(URL.search(output.read_text())), "serve.py")
        match = URL.search(output.read_text())
        assert match is not None, output.read_text()
    except BaseException:
        stop_process(process)
        raise
    return process, match.group(1)


def test_the_readme_command_serves_the_demo(tmp_path: Path) -> None:
    port = free_port()
    output = tmp_path / "serve.out"
    process, url = start_serve(output, "--port", str(port))
    try:
        assert url == f"http://127.0.0.1:{port}/"
        status, headers, body = fetch(url)
        assert status == 200
        assert b"<title>What caching does" in body
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        status, _, body = fetch(url + "stats.json")
        assert status == 200
        assert b'"/": {\n      "200": 1,\n      "total": 1\n    }' in body
        printed = re.search(r"caches in (\S+) \(removed on exit\)", output.read_text())
        assert printed is not None
        directory = Path(printed.group(1))
        assert (directory / "bookkeeping").is_dir()
    finally:
        stop_process(process)
    assert process.returncode == 0
    text = output.read_text()
    assert '"GET / HTTP/1.1" 200' in text  # each request is logged for the person watching
    assert "cachemere demo: stopped" in text
    assert not directory.exists()


def test_the_readme_shows_the_command_tested_here() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = documented_command(ROOT / "docs" / "demo.md")
    assert documented == ["python", "examples/demo/serve.py"]
    assert documented_command(ROOT / "README.md") == documented  # the README's main command
    assert "pip install -e '.[demo]' && python examples/demo/serve.py" in readme


def test_port_zero_picks_a_free_port_and_a_named_directory_is_kept(tmp_path: Path) -> None:
    output = tmp_path / "serve.out"
    directory = tmp_path / "caches"
    process, url = start_serve(output, "--port", "0", "--dir", str(directory), "--quiet", "--slow", "0")
    try:
        printed = URL.search(output.read_text())
        assert printed is not None
        assert int(printed.group(2)) > 0
        assert fetch(url + "slow")[0] == 200
        assert fetch(url + "counter")[0] == 200
    finally:
        stop_process(process)
    text = output.read_text()
    assert f"caches in {directory};" in text
    assert "HTTP/1.1" not in text  # --quiet
    assert (directory / "cache").is_dir()


def test_the_app_for_wsgi_servers_makes_its_directory_on_first_use(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    probe = (
        "import os, examples.demo.app as m\n"
        "print(sorted(os.listdir(os.environ['TMPDIR'])))\n"
        "print(m.app.directory, m.app is m.app)\n"
    )
    env = {"TMPDIR": str(temp), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before, made = done.stdout.splitlines()
    assert before == "[]"  # importing the module creates nothing
    directory, same = made.split()
    assert same == "True"
    assert Path(directory).parent == temp
    assert f"cachemere demo: caches in {directory}" in done.stderr
    assert list(temp.iterdir()) == []  # removed when the process that made it exited

    shared = tmp_path / "shared"
    env["CACHEMERE_DEMO_DIR"] = str(shared)
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == f"{shared} True"
    assert done.stderr == ""
    assert list(temp.iterdir()) == []
