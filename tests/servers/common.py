"""Helpers shared by the server fixtures: free ports, waiting, stopping by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import pytest

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_binary(name: str) -> str:
    """Path of an installed server binary; fail (not skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        for prefix in ("/usr/sbin", "/usr/bin", "/usr/local/bin"):
            candidate = Path(prefix) / name
            if candidate.exists():
                return str(candidate)
        pytest.fail(f"{name} is not installed: run scripts/test, which installs it")
    return path


def wait_until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def run(*args: str) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_pidfile(pidfile: Path, timeout: float = 10.0) -> None:
    """Stop the process whose PID we recorded (never anything else)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def exited(pid: int) -> bool:
    """True once ``pid`` has exited: gone, or a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def pid_exists(pid: int) -> bool:
    """True while ``pid`` names a process, a zombie included."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_pid(pid: int, what: str, timeout: float = 10.0) -> None:
    """SIGKILL a process we started (a crash, no clean-up) and wait until it has exited."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_until(lambda: exited(pid), f"{what} (pid {pid}) to exit after SIGKILL", timeout)


def children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


class Shared(Generic[T]):
    """Servers started on first use, shared by the whole test session, stopped once."""

    def __init__(self, start: Callable[[], T], stop: Callable[[T], None]) -> None:
        self._start, self._stop = start, stop
        self._servers: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._servers is None:
                self._servers = self._start()
            return self._servers

    def stop(self) -> None:
        with self._lock:
            if self._servers is not None:
                self._stop(self._servers)
                self._servers = None
