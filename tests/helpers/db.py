"""Helpers shared by the database-cache tests (this module holds no tests).

``databases(...)`` configures ``DATABASES``/``DATABASE_ROUTERS``/``SECRET_KEY``
for a block and restores the defaults after; ``Database`` describes one test
database (SQLite file or PostgreSQL database on the session's server) with
direct, cache-free access to its tables; ``sql_trace`` records every statement
SQLite runs.  Rows are signed and checked here independently of the backend's
code (HMAC-SHA256 over the length-prefixed made key and the pickle, key
derived from the secret for purpose "db"), so the tests pin the stored format.
"""

from __future__ import annotations

import hmac
import io
import itertools
import pickle
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

import cachemere
from cachemere.backends.db.engines import dispose_all, engine_for
from cachemere.cli.createcachetable import create_table
from cachemere.conf import settings
from cachemere.handler import CacheHandler
from cachemere.signing import derive_key

DB_BACKEND = "cachemere.backends.db.DatabaseCache"
#: The SECRET_KEY ``databases()`` configures unless told otherwise.
TEST_SECRET = "database cache tests"
_names = itertools.count()


@contextmanager
def databases(
    dbs: dict[str, Any], routers: Sequence[Any] = (), secret_key: str | None = TEST_SECRET
) -> Iterator[None]:
    """Use these DATABASES (and routers, and SECRET_KEY) inside the block."""
    cachemere.configure(
        DATABASES=dbs,
        DATABASE_ROUTERS=routers if isinstance(routers, str) else list(routers),
        SECRET_KEY=secret_key,
    )
    try:
        yield
    finally:
        settings.reset()
        dispose_all()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{next(_names)}"


def _mac(secret: str | bytes, made_key: str, pickled: bytes) -> bytes:
    raw_secret = secret.encode() if isinstance(secret, str) else secret
    raw_key = made_key.encode()
    message = struct.pack(">I", len(raw_key)) + raw_key + pickled
    return hmac.digest(derive_key(raw_secret, "db"), message, "sha256")


def signed_pickle(secret: str | bytes, made_key: str, pickled: bytes) -> bytes:
    """``pickled`` with the signature the cache would give it under ``made_key``."""
    return _mac(secret, made_key, pickled) + pickled


def signed(secret: str | bytes | None, made_key: str, value: Any) -> bytes:
    """The ``value`` column the cache writes for ``value`` under ``made_key`` (unsigned if no secret)."""
    pickled = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return pickled if secret is None else signed_pickle(secret, made_key, pickled)


def unsigned(secret: str | bytes | None, made_key: str, column: bytes) -> Any:
    """The value of a ``value`` column, after checking its signature (AssertionError if forged)."""
    column = bytes(column)
    if secret is None:
        return pickle.loads(column)
    assert hmac.compare_digest(_mac(secret, made_key, column[32:]), column[:32]), (
        f"row {made_key!r} is not signed with the test secret"
    )
    return pickle.loads(column[32:])


class Database:
    """One test database, reachable without the cache code."""

    def __init__(self, kind: str, url: str, server: Any = None, dbname: str = "") -> None:
        self.kind, self.url, self.server, self.dbname = kind, url, server, dbname

    @classmethod
    def sqlite(cls, directory: Path, name: str = "cache") -> Database:
        path = directory / f"{name}.sqlite3"
        return cls("sqlite", f"sqlite:///{path}", dbname=str(path))

    @classmethod
    def postgres(cls, server: Any, prefix: str = "test") -> Database:
        dbname = unique_name(prefix)
        server.create_database(dbname)
        return cls("postgres", server.url(dbname), server, dbname)

    def config(self) -> dict[str, Any]:
        return {"URL": self.url}

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run SQL directly (``?`` placeholders; converted for PostgreSQL)."""
        if self.kind == "postgres":
            return self.server.execute(self.dbname, statement.replace("?", "%s"), params)  # type: ignore[no-any-return]
        with sqlite3.connect(self.dbname) as conn:
            return conn.execute(statement, params).fetchall()

    def rows(self, table: str, secret: str | bytes | None = TEST_SECRET) -> dict[str, Any]:
        """Every row of ``table`` as key -> value (expired ones too), signatures checked."""
        return {
            key: unsigned(secret, key, value)
            for key, value in self.execute(f'SELECT cache_key, value FROM "{table}"')
        }

    def count(self, table: str) -> int:
        return self.execute(f'SELECT COUNT(*) FROM "{table}"')[0][0]  # type: ignore[no-any-return]

    def put(
        self, table: str, key: str, value: Any, expires: float, secret: str | bytes | None = TEST_SECRET
    ) -> None:
        """Write a row behind the cache's back, signed with ``secret`` (None: a bare pickle)."""
        self.put_raw(table, key, signed(secret, key, value), expires)

    def put_raw(self, table: str, key: str, column: bytes, expires: float) -> None:
        """Write (or replace) a row whose ``value`` column is ``column``, as is."""
        self.execute(f'DELETE FROM "{table}" WHERE cache_key = ?', (key,))
        self.execute(
            f'INSERT INTO "{table}" (cache_key, value, expires) VALUES (?, ?, ?)', (key, column, expires)
        )


def make_table(db: str, table: str) -> None:
    """Create a cache table in database ``db`` as createcachetable would (routers permitting)."""
    create_table(db, table, out=io.StringIO())


def handler_settings() -> dict[str, Any]:
    """The global settings a DatabaseCache reads, for an explicit ``CacheHandler(caches, **these)``.

    An explicit handler reads no global setting, so tests that configure
    ``databases(...)`` and build caches with a handler pass these on.
    """
    return {
        "DATABASES": settings.DATABASES,
        "DATABASE_ROUTERS": settings.DATABASE_ROUTERS,
        "SECRET_KEY": settings.SECRET_KEY,
    }


def make_cache(table: str, **params: Any) -> Any:
    """A DatabaseCache on ``table`` built through a CacheHandler, as an app would."""
    caches = {"default": {"BACKEND": DB_BACKEND, "LOCATION": table, **params}}
    return CacheHandler(caches, **handler_settings())["default"]


@contextmanager
def sql_trace(db: str = "default") -> Iterator[list[str]]:
    """Record each SQL statement the SQLite database ``db`` runs inside the block."""
    engine = engine_for(db, settings)
    statements: list[str] = []

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            dbapi_connection.set_trace_callback(None)

    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)
    try:
        yield statements
    finally:
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "checkin", on_checkin)


def kinds(statements: list[str], verb: str) -> list[str]:
    """The statements that start with ``verb`` (e.g. "SELECT count")."""
    return [s for s in statements if s.lstrip().upper().startswith(verb.upper())]
