"""Helpers shared by the database-cache tests (this module holds no tests).

``databases(...)`` configures ``DATABASES``/``DATABASE_ROUTERS`` for a block
and restores the defaults after; ``Database`` describes one test database
(SQLite file or PostgreSQL database on the session's server) with direct,
cache-free access to its tables; ``sql_trace`` records every statement SQLite
runs.
"""

from __future__ import annotations

import io
import itertools
import pickle
import sqlite3
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

DB_BACKEND = "cachemere.backends.db.DatabaseCache"
_names = itertools.count()


@contextmanager
def databases(dbs: dict[str, Any], routers: Sequence[Any] = ()) -> Iterator[None]:
    """Use these DATABASES (and routers) inside the block."""
    cachemere.configure(
        DATABASES=dbs, DATABASE_ROUTERS=routers if isinstance(routers, str) else list(routers)
    )
    try:
        yield
    finally:
        settings.reset()
        dispose_all()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{next(_names)}"


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
            return self.server.execute(self.dbname, statement.replace("?", "%s"), params)
        with sqlite3.connect(self.dbname) as conn:
            return conn.execute(statement, params).fetchall()

    def rows(self, table: str) -> dict[str, Any]:
        """Every row of ``table`` as key -> unpickled value (expired ones too)."""
        return {
            key: pickle.loads(value) for key, value in self.execute(f'SELECT cache_key, value FROM "{table}"')
        }

    def count(self, table: str) -> int:
        return self.execute(f'SELECT COUNT(*) FROM "{table}"')[0][0]

    def put(self, table: str, key: str, value: Any, expires: float) -> None:
        """Write a row behind the cache's back."""
        self.execute(
            f'INSERT INTO "{table}" (cache_key, value, expires) VALUES (?, ?, ?)',
            (key, pickle.dumps(value), expires),
        )


def make_table(db: str, table: str) -> None:
    """Create a cache table in database ``db`` as createcachetable would (routers permitting)."""
    create_table(db, table, out=io.StringIO())


def make_cache(table: str, **params: Any) -> Any:
    """A DatabaseCache on ``table`` built through a CacheHandler, as an app would."""
    return CacheHandler({"default": {"BACKEND": DB_BACKEND, "LOCATION": table, **params}})["default"]


@contextmanager
def sql_trace(db: str = "default") -> Iterator[list[str]]:
    """Record each SQL statement the SQLite database ``db`` runs inside the block."""
    engine = engine_for(db)
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
