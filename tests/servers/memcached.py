"""Real memcached servers for the tests: three on TCP, one on a Unix socket, SASL on demand.

SASL needs saslpasswd2 (Debian package sasl2-bin, which scripts/test installs);
without it the SASL test fails rather than skip.

Each runs daemonized (``-d``) with its pidfile in a directory of its own and is
stopped by the PID it recorded.  Test modules share one set per session
through the :func:`memcached_servers` fixture (import it into the module); the
set is started once even when several modules import the fixture.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from servers.common import Shared, free_port, require_binary, stop_pidfile, wait_until

SASL_USER = "alice"
SASL_PASSWORD = "s3cret"


@dataclass
class MemcachedServer:
    """One memcached process we started (and only we stop): TCP when ``port`` is set, else a socket."""

    directory: Path
    port: int | None = field(default_factory=free_port)
    sasl: bool = False
    #: The password of SASL_USER when ``sasl`` is on.
    sasl_password: str = SASL_PASSWORD

    @property
    def pidfile(self) -> Path:
        return self.directory / "memcached.pid"

    @property
    def socket(self) -> Path:
        return self.directory / "memcached.sock"

    @property
    def address(self) -> tuple[str, int] | str:
        """The address pymemcache's Client takes."""
        return ("127.0.0.1", self.port) if self.port else str(self.socket)

    @property
    def location(self) -> str:
        """This server as a LOCATION entry."""
        return f"127.0.0.1:{self.port}" if self.port else f"unix:{self.socket}"

    def start(self) -> MemcachedServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pidfile.unlink(missing_ok=True)
        listen = ["-l", "127.0.0.1", "-p", str(self.port)] if self.port else ["-s", str(self.socket)]
        user = ["-u", "root"] if os.geteuid() == 0 else []
        env = dict(os.environ)
        if self.sasl:
            env["SASL_CONF_PATH"] = str(self._sasl_config())
        subprocess.run(
            [require_binary("memcached"), *user, *listen, "-d", "-P", str(self.pidfile),
             *(["-S"] if self.sasl else [])],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        wait_until(self._answers, f"memcached at {self.location}")
        return self

    def _answers(self) -> bool:
        if not self.pidfile.exists():
            return False
        if self.sasl:  # the text protocol is off: being connectable is enough
            import socket

            with socket.create_connection(("127.0.0.1", self.port or 0), timeout=0.2):
                return True
        return bool(self.client().version())

    def _sasl_config(self) -> Path:
        saslpasswd2 = require_binary("saslpasswd2")  # Debian package sasl2-bin
        config = self.directory / "sasl"
        config.mkdir(exist_ok=True)
        database = config / "sasldb2"
        (config / "memcached.conf").write_text(f"mech_list: plain\nsasldb_path: {database}\n")
        subprocess.run(
            [saslpasswd2, "-p", "-a", "memcached", "-c", "-f", str(database), SASL_USER],
            input=self.sasl_password.encode(), check=True, stdout=subprocess.DEVNULL,
        )
        return config

    def stop(self) -> None:
        """Stop gracefully (memcached takes about three seconds to exit on SIGTERM)."""
        stop_pidfile(self.pidfile)

    def kill(self) -> None:
        """Crash the server (SIGKILL to its recorded PID) and wait until it is gone."""
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            return
        wait_until(lambda: not _alive(pid), f"memcached {pid} to exit")
        self.pidfile.unlink(missing_ok=True)

    def client(self) -> Any:  # -> pymemcache.Client
        """A raw pymemcache client on this server alone, for looking inside it."""
        from pymemcache.client.base import Client

        return Client(self.address, default_noreply=False, allow_unicode_keys=True, timeout=5)

    def keys_present(self, keys: list[str]) -> set[str]:
        """Which of the (made) keys this server holds."""
        return set(self.client().get_many(keys))

    def stat(self, name: str) -> int:
        return int(self.client().stats()[name.encode()])


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie waiting for init to reap it counts as gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


@dataclass
class Servers:
    """The session's shared servers."""

    directory: Path
    tcp: list[MemcachedServer]
    unix: MemcachedServer

    @property
    def all(self) -> list[MemcachedServer]:
        return [*self.tcp, self.unix]

    @property
    def ring(self) -> list[str]:
        """LOCATION of the three TCP servers as one cache."""
        return [server.location for server in self.tcp]

    def stop(self) -> None:
        for server in self.all:  # signal them all first: each takes seconds to exit
            try:
                os.kill(int(server.pidfile.read_text().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        for server in self.all:
            server.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _start_servers() -> Servers:
    directory = Path(tempfile.mkdtemp(prefix="cachemere-memcached-"))
    tcp = [MemcachedServer(directory / f"tcp{i}").start() for i in range(3)]
    unix = MemcachedServer(directory / "unix", port=None).start()
    return Servers(directory, tcp, unix)


_shared = Shared(_start_servers, Servers.stop)
#: The session's servers, started on first use.
shared_servers = _shared.get
stop_shared_servers = _shared.stop


@pytest.fixture(scope="session")
def memcached_servers() -> Iterator[Servers]:
    """Three TCP memcached servers and one on a Unix socket (import into a test module)."""
    yield shared_servers()
    stop_shared_servers()
