"""One cache table in one database: its SQL, compiled once, and sessions on the engine's pool.

Statements are built with SQLAlchemy Core and compiled for the database's
dialect when the table is first used; each operation then runs the compiled
SQL on a pooled DBAPI connection.  That skips SQLAlchemy's per-execution
machinery (connection and result wrappers, cache-key lookups), which costs
more than the database itself on a hot ``get``.
"""

from __future__ import annotations

import os
import secrets
import threading
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import bindparam, delete, func, select, update

from ... import keyfile
from ...exceptions import ImproperlyConfigured
from ...signing import derive_key
from .engines import describe, engine_for
from .schema import make_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect, Engine
    from sqlalchemy.sql import ClauseElement
    from sqlalchemy.sql.compiler import SQLCompiler
    from sqlalchemy.sql.elements import BindParameter

    from ...conf import SettingsSource

SUPPORTED_DIALECTS = ("sqlite", "postgresql")
_UNDEFINED_TABLE = "42P01"  # PostgreSQL's SQLSTATE for a missing relation
_UPSERT_SIZES_KEPT = 32


class MissingCacheTable(ImproperlyConfigured):
    """The cache table does not exist in the database it was routed to."""


class Sql:
    """A Core statement compiled for one dialect, with its parameter order."""

    __slots__ = ("defaults", "order", "text")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        # DML and SELECT compile to a SQLCompiler, which has the parameter order.
        compiled = cast("SQLCompiler", statement.compile(dialect=dialect))
        self.text: str = compiled.string
        #: Parameter names in placeholder order (positional paramstyles), else None.
        self.order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positiontup is not None else None
        )
        # Values SQLAlchemy bound itself (e.g. a LIMIT's OFFSET 0).
        self.defaults = {
            name: bind.value for bind, name in compiled.bind_names.items() if bind.value is not None
        }

    def args(self, params: dict[str, Any]) -> Any:
        """The DBAPI parameters for ``params``."""
        if self.defaults:
            params = {**self.defaults, **params}
        order = self.order
        return params if order is None else tuple([params[name] for name in order])


class Session:
    """One pooled DBAPI connection for one operation: commit on success, clear errors on failure."""

    __slots__ = ("cursor", "raw", "target", "write")

    def __init__(self, target: CacheTable, write: bool) -> None:
        self.target, self.write = target, write

    def __enter__(self) -> Session:
        self.raw = self.target.engine.raw_connection()
        self.cursor = self.raw.cursor()
        return self

    def run(self, sql: Sql, params: dict[str, Any]) -> Any:
        """Execute ``sql``; returns the DBAPI cursor."""
        cursor = self.cursor
        cursor.execute(sql.text, sql.args(params))
        return cursor

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        raw = self.raw
        target = self.target
        try:
            if exc is None:
                if self.write:
                    raw.commit()
                return
            if isinstance(exc, target.dbapi_error) and target.engine.dialect.is_disconnect(
                exc,  # type: ignore[arg-type]  # a DBAPI Error: checked just above
                raw.dbapi_connection,
                self.cursor,
            ):
                raw.invalidate(exc)
                # A lost connection usually means the server restarted, which
                # killed every idle connection of the pool too: drop them all
                # now, or each would fail one more operation.  Connections in
                # use elsewhere go back to the old pool and are discarded.
                target.engine.dispose()
        except BaseException as failure:
            exc = failure
            raise
        finally:
            try:
                self.cursor.close()
            except target.dbapi_error:
                pass
            raw.close()  # back to the pool, which rolls back anything left open
            if exc is not None and isinstance(exc, target.dbapi_error):
                missing = target.missing_table(exc)
                if missing is not None:
                    raise missing from exc


class CacheTable:
    """A cache table in one database: engine, compiled SQL, cull bookkeeping.

    Shared by every backend instance of the process that uses this table in
    this database, so the row-count bound (``counted``/``written``) covers all
    of their writes.
    """

    def __init__(self, db: str, engine: Engine, name: str) -> None:
        dialect = engine.dialect
        if dialect.name not in SUPPORTED_DIALECTS:
            raise ImproperlyConfigured(
                f"DATABASES[{db!r}] uses {dialect.name!r}; the database cache supports "
                f"{' and '.join(SUPPORTED_DIALECTS)}"
            )
        from sqlalchemy.dialects import postgresql, sqlite

        # Both dialects' insert() have on_conflict_do_update with the same signature.
        insert: Any = sqlite.insert if dialect.name == "sqlite" else postgresql.insert
        self.db, self.engine, self.name, self.dialect = db, engine, name, dialect
        self.dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        self.table = table = make_table(name)
        c = table.c
        key: BindParameter[Any] = bindparam("key")
        now: BindParameter[Any] = bindparam("now")
        live = c.expires > now
        ins = insert(table)
        replace = {"value": ins.excluded.value, "expires": ins.excluded.expires}

        def sql(statement: ClauseElement) -> Sql:
            return Sql(statement, dialect)

        self.upsert = sql(ins.on_conflict_do_update(index_elements=[c.cache_key], set_=replace))
        # Insert, or replace the existing row only when it has expired: one statement, no race.
        self.add = sql(
            ins.on_conflict_do_update(index_elements=[c.cache_key], set_=replace, where=c.expires <= now)
        )
        self.get = sql(select(c.value).where(c.cache_key == key, live))
        self.has_key = sql(select(c.cache_key).where(c.cache_key == key, live))
        self.touch = sql(
            update(table).where(c.cache_key == key, live).values(expires=bindparam("new_expires"))
        )
        # incr: compare-and-swap on the stored bytes; the expiry is kept.
        self.swap = sql(
            update(table)
            .where(c.cache_key == key, c.value == bindparam("old"), live)
            .values(value=bindparam("new"))
        )
        self.delete = sql(delete(table).where(c.cache_key == key))
        self.clear = sql(delete(table))
        self.purge = sql(delete(table).where(c.expires <= now))
        self.count = sql(select(func.count()).select_from(table))
        soonest = select(c.cache_key).order_by(c.expires).limit(bindparam("victims"))
        self.cull = sql(delete(table).where(c.cache_key.in_(soonest.scalar_subquery())))
        # Statements for n keys or rows, compiled on first use of each n.
        self._many: dict[tuple[str, int], tuple[Sql, list[str]]] = {}
        self._upserts: dict[int, tuple[Sql, list[str]]] = {}
        self._insert = insert
        #: Rows counted at the last check (None: not yet) and rows this process
        #: wrote since.  Updated without a lock: a lost update only moves the
        #: next check by a write or two.
        self.counted: int | None = None
        self.written = 0
        self._generated: bytes | None = None
        self._generated_lock = threading.Lock()

    def generated_key(self) -> bytes:
        """The signing key of this database when no secret is configured (see docs/db.md).

        SQLite file: derived from a key file beside the database, made on first
        use.  In-memory SQLite: a random key for this process, the only one that
        can see the data.  PostgreSQL: an error naming the settings to set.
        """
        key = self._generated
        if key is None:
            with self._generated_lock:
                key = self._generated
                if key is None:
                    key = self._generated = derive_key(self._generated_secret(), "db")
        return key

    def _generated_secret(self) -> bytes:
        url = self.engine.url
        if self.dialect.name != "sqlite":
            raise ImproperlyConfigured(
                f"the database cache signs its values, and DATABASES[{self.db!r}] "
                f"({describe(self.engine)}) is shared by other hosts, so it cannot generate "
                "the signing secret: set OPTIONS['SIGNING_KEY'] or the SECRET_KEY setting"
            )
        database = url.database
        if not database or database == ":memory:" or url.query.get("mode") == "memory":
            return secrets.token_bytes(keyfile.KEY_SIZE)
        return keyfile.load_or_create(keyfile.key_path(os.path.abspath(database)))

    def session(self, write: bool = False) -> Session:
        """A session on a pooled connection; ``write`` commits at the end."""
        return Session(self, write)

    def for_keys(self, kind: str, keys: list[str]) -> tuple[Sql, dict[str, Any]]:
        """``get_many`` (kind "get") or ``delete_many`` ("delete") SQL and parameters for ``keys``.

        The key list is padded (repeating its last key) to a power of two, so
        a table compiles at most ten such statements per kind, not one per length.
        """
        size = 1 << (len(keys) - 1).bit_length()
        found = self._many.get((kind, size))
        if found is None:
            names = [f"k{i}" for i in range(size)]
            c = self.table.c
            where = c.cache_key.in_([bindparam(name) for name in names])
            if kind == "get":
                statement: Any = select(c.cache_key, c.value).where(where, c.expires > bindparam("now"))
            else:
                statement = delete(self.table).where(where)
            found = self._many[(kind, size)] = (Sql(statement, self.dialect), names)
        sql, names = found
        padded = keys + [keys[-1]] * (size - len(keys))
        return sql, dict(zip(names, padded))

    def upsert_rows(self, size: int) -> tuple[Sql, list[str]]:
        """One upsert statement for ``size`` rows, and its parameter names (key, value, expiry per row).

        Rows cannot be padded (a statement may not upsert one key twice), so
        each size is compiled; the most recent sizes are kept.
        """
        found = self._upserts.get(size)
        if found is None:
            rows: list[dict[str, Any]] = [
                {"cache_key": bindparam(f"k{i}"), "value": bindparam(f"v{i}"), "expires": bindparam(f"e{i}")}
                for i in range(size)
            ]
            ins = self._insert(self.table).values(rows)
            statement = ins.on_conflict_do_update(
                index_elements=[self.table.c.cache_key],
                set_={"value": ins.excluded.value, "expires": ins.excluded.expires},
            )
            names = [f"{kind}{i}" for i in range(size) for kind in "kve"]
            if len(self._upserts) >= _UPSERT_SIZES_KEPT:
                self._upserts.pop(next(iter(self._upserts)), None)
            found = self._upserts[size] = (Sql(statement, self.dialect), names)
        return found

    def missing_table(self, exc: BaseException) -> MissingCacheTable | None:
        """The error to raise instead of ``exc`` when it says the table does not exist."""
        if getattr(exc, "sqlstate", None) == _UNDEFINED_TABLE or "no such table" in str(exc):
            return MissingCacheTable(
                f"the cache table {self.name!r} does not exist in database {self.db!r} "
                f"({describe(self.engine)}): run `cachemere createcachetable` to create it"
            )
        return None


_tables: dict[tuple[int, str], CacheTable] = {}
_tables_lock = threading.Lock()


def cache_table(db: str, name: str, source: SettingsSource) -> CacheTable:
    """The process-wide :class:`CacheTable` for table ``name`` in database ``db`` of ``source``."""
    engine = engine_for(db, source)
    key = (id(engine), name)
    table = _tables.get(key)
    if table is None or table.engine is not engine:
        with _tables_lock:
            table = _tables.get(key)
            if table is None or table.engine is not engine:
                table = _tables[key] = CacheTable(db, engine, name)
    return table
