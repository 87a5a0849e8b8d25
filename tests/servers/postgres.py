"""A throwaway PostgreSQL cluster on 127.0.0.1, for the database-cache tests and benchmarks.

``initdb`` and ``pg_ctl`` run as the ``postgres`` user when we are root
(PostgreSQL refuses to run as root), in a temporary directory that user owns,
with ``fsync=off``: the data is thrown away at the end.  Usable from pytest
(the ``postgres_server`` session fixture) and from plain scripts
(:func:`start_postgres`).
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.common import children_of, free_port, kill_pid, pid_exists, stop_pidfile, wait_until

SUPERUSER = "postgres"


def pg_binary(name: str) -> str:
    """Path of a PostgreSQL server binary (highest installed version)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: run scripts/test, which installs postgresql")
    return path


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


class PostgresServer:
    """One cluster: ``start()``, ``create_database()``, ``url()``, ``stop()``."""

    def __init__(self, durable: bool = False) -> None:
        #: Keep every committed transaction through a crash of the server (not of the machine).
        self.durable = durable
        self.dir = Path(tempfile.mkdtemp(prefix="cachemere-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        self._killed: int | None = None

    def _run(self, *args: str) -> None:
        command = [*args]
        if self._as_postgres:
            command = ["su", SUPERUSER, "-c", shlex.join(command)]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode:
            raise RuntimeError(f"{shlex.join(args)} failed:\n{result.stdout}")

    def start(self) -> PostgresServer:
        if self._as_postgres:
            shutil.chown(self.dir, SUPERUSER)
        self._run(pg_binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8")
        self._start_postmaster()
        return self

    def _start_postmaster(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        if not self.durable:
            # A commit returns before its WAL is written: a crash loses the last ones.
            options += " -c synchronous_commit=off"
        self._run(
            pg_binary("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )
        wait_until(self._answers, "PostgreSQL")

    def _stop_postmaster(self) -> None:
        # pg_ctl's fast mode signals exactly the PID in postmaster.pid and waits for it.
        self._run(pg_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """Stop the server and start it again on the same port: every client connection dies."""
        self._stop_postmaster()
        self._start_postmaster()

    def kill(self) -> None:
        """Crash the server: SIGKILL the postmaster and every backend process it had forked.

        Killing the postmaster alone would leave its backends holding the
        shared memory, and a new postmaster would refuse to start.
        ``resume()`` starts it again on the same port (after crash recovery).
        """
        pid = self._killed = int((self.data / "postmaster.pid").read_text().split()[0])
        children = children_of(pid)
        kill_pid(pid, "postmaster")
        for child in children:
            kill_pid(child, "PostgreSQL backend")

    def resume(self) -> None:
        """Start the server again on the same port, after ``kill()``."""
        if self._killed is not None:
            # A new postmaster refuses to start while the PID in postmaster.pid
            # exists, and a killed one exists (as a zombie) until it is reaped.
            wait_until(lambda: not pid_exists(self._killed or 0), "the killed postmaster to be reaped")
            self._killed = None
        self._start_postmaster()

    def _connect(self, dbname: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=dbname, autocommit=True
        )

    def _answers(self) -> bool:
        with self._connect() as conn:
            return conn.execute("select 1").fetchone() == (1,)

    def create_database(self, name: str) -> None:
        from psycopg import sql

        with self._connect() as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))

    def execute(
        self, dbname: str, statement: str, params: tuple[object, ...] = ()
    ) -> list[tuple[object, ...]]:
        """Run one statement in database ``dbname`` outside any cache code; rows if it returns any."""
        with self._connect(dbname) as conn:
            cursor = conn.execute(statement, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        """Stop the postmaster we started (by the PID it recorded) and remove the cluster."""
        pidfile = self.data / "postmaster.pid"
        if pidfile.exists():
            try:
                self._stop_postmaster()
            except RuntimeError:
                stop_pidfile(pidfile)
        shutil.rmtree(self.dir, ignore_errors=True)


def start_postgres(durable: bool = False) -> PostgresServer:
    """Start a new cluster (the caller stops it); ``durable``: committed data survives ``kill()``."""
    server = PostgresServer(durable)
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the whole test session."""
    try:
        server = start_postgres()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        from cachemere.backends.db.engines import dispose_all

        dispose_all()
        server.stop()
