"""Real redis servers for the tests and the benchmark: a leader with replicas, an ACL server.

Each server runs daemonized on 127.0.0.1 on a free port, with its files in a
directory of its own; it is stopped by the PID it recorded at start.  Test
modules share one set per session through :func:`shared_servers` (session
fixtures may be imported into several modules, so the servers themselves are
kept here, started once).
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

from servers.common import Shared, free_port, kill_pid, require_binary, run, stop_pidfile, wait_until

ACL_USER = "alice"
ACL_PASSWORD = "s3cret"


@dataclass
class RedisServer:
    """One redis-server process we started (and only we stop)."""

    directory: Path
    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = None
    #: Serve TLS only (on ``port``) with these certificates.
    tls: TLSFiles | None = None
    pid: int | None = None
    _admin: Any = field(default=None, repr=False)

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def socket(self) -> Path:
        """The Unix socket, when the server was started with ``--unixsocket``."""
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        if self.username:
            return f"{scheme}://{self.username}:{self.password}@127.0.0.1:{self.port}"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _listen(self) -> list[str]:
        if self.tls is None:
            return ["--port", str(self.port)]
        return [
            "--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no",
            "--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key),
            "--tls-ca-cert-file", str(self.tls.ca),
        ]  # fmt: skip

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pidfile.unlink(missing_ok=True)
        subprocess.run(
            [
                require_binary("redis-server"),
                *self._listen(), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "yes",
                "--pidfile", str(self.pidfile), "--logfile", str(self.directory / "redis.log"),
                "--dir", str(self.directory),
                *self.extra,
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            wait_until(lambda: self.pidfile.exists() and self.client().ping(), f"redis on {self.port}")
        except RuntimeError:
            stop_pidfile(self.pidfile)  # started but unusable: never leave it running
            raise
        self.pid = int(self.pidfile.read_text().strip())
        return self

    def stop(self) -> None:
        """SIGTERM the PID recorded at start; return once it has exited."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            # An exited daemon stays a zombie until init reaps it, which can take
            # a second here: exited is enough (its port and files are released).
            wait_until(lambda: _exited(pid), f"redis on {self.port} to stop", timeout=10)
        except RuntimeError:
            os.kill(pid, signal.SIGKILL)

    def kill(self) -> None:
        """Crash the server: SIGKILL the PID recorded at start; ``start()`` brings it back, same port."""
        pid, self.pid = self.pid, None
        if pid is not None:
            kill_pid(pid, f"redis on {self.port}")
        self.pidfile.unlink(missing_ok=True)
        self._admin = None  # its connection died with the server

    def client(self, **kwargs: object):  # -> redis.Redis
        """A plain redis-py client on this server (as the admin user), for inspecting it."""
        import redis

        if self.tls is not None:
            kwargs = {"ssl": True, "ssl_ca_certs": str(self.tls.ca), **kwargs}
        return redis.Redis(
            host="127.0.0.1", port=self.port, username=self.username, password=self.password,
            socket_timeout=5, **kwargs,
        )  # fmt: skip

    @property
    def admin(self):  # -> redis.Redis
        """One client kept for inspecting the server, so that looking opens no new connection."""
        if self._admin is None:
            self._admin = self.client()
        return self._admin

    def command_calls(self, command: str) -> int:
        """How many times ``command`` ran on this server (INFO commandstats)."""
        stats = self.admin.info("commandstats")
        return int(stats.get(f"cmdstat_{command.lower()}", {}).get("calls", 0))

    def connections_received(self) -> int:
        return int(self.admin.info("stats")["total_connections_received"])


@dataclass(frozen=True)
class TLSFiles:
    """A throwaway CA and a server certificate it signed, for 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path, name: str = "test") -> TLSFiles:
    """Generate a CA and a server certificate for IP 127.0.0.1 with the openssl command."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl = require_binary("openssl")
    ca, ca_key = directory / f"{name}-ca.crt", directory / f"{name}-ca.key"
    cert, key, csr = directory / f"{name}.crt", directory / f"{name}.key", directory / f"{name}.csr"
    extensions = directory / f"{name}.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", str(ca_key), "-out", str(ca), "-subj", f"/CN={name} CA")
    run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")
    run(openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-out", str(cert), "-extfile", str(extensions))  # fmt: skip
    return TLSFiles(ca, cert, key)


def _exited(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def start_redis(directory: Path, *extra: str) -> RedisServer:
    return RedisServer(directory, extra=extra).start()


def start_acl_redis(directory: Path) -> RedisServer:
    """A redis whose only enabled user is ACL_USER/ACL_PASSWORD (the default user is off)."""
    server = RedisServer(
        directory,
        extra=("--user", ACL_USER, "on", f">{ACL_PASSWORD}", "~*", "&*", "+@all", "--user", "default", "off"),
        username=ACL_USER,
        password=ACL_PASSWORD,
    )
    return server.start()


def start_replicated(directory: Path, replicas: int = 2) -> tuple[RedisServer, list[RedisServer]]:
    """A leader and ``replicas`` read-only replicas of it, in sync when this returns."""
    leader_dir = directory / "leader"
    leader = start_redis(
        leader_dir,
        "--repl-diskless-sync-delay",
        "0",
        "--unixsocket",
        str(leader_dir / "redis.sock"),
        "--unixsocketperm",
        "700",
    )
    followers = [
        start_redis(directory / f"replica{i}", "--replicaof", "127.0.0.1", str(leader.port))
        for i in range(replicas)
    ]
    for follower in followers:
        wait_until(
            lambda f=follower: f.client().info("replication")["master_link_status"] == "up",
            f"replica on {follower.port}",
        )
    return leader, followers


@dataclass
class Servers:
    """The shared servers of a test session."""

    directory: Path
    leader: RedisServer
    replicas: list[RedisServer]
    acl: RedisServer

    def stop(self) -> None:
        for server in (*self.replicas, self.leader, self.acl):
            server.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _start_servers() -> Servers:
    directory = Path(tempfile.mkdtemp(prefix="cachemere-redis-"))
    leader, replicas = start_replicated(directory)
    return Servers(directory, leader, replicas, start_acl_redis(directory / "acl"))


_shared = Shared(_start_servers, Servers.stop)
#: The session's servers, started on first use.
shared_servers = _shared.get
stop_shared_servers = _shared.stop


@pytest.fixture(scope="session")
def redis_servers() -> Iterator[Servers]:
    """The shared leader, replicas and ACL server (import this fixture into a test module)."""
    yield shared_servers()
    stop_shared_servers()
