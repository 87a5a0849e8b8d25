"""Database cache: one table (``LOCATION``) in a SQL database (SQLite or PostgreSQL).

Every write is one upsert; ``add`` is an upsert that only replaces an expired
row, so concurrent writers never race between a read and a write.  Reads never
write.  ``MAX_ENTRIES`` is enforced without a ``COUNT(*)`` per write: each
process keeps an upper bound on the row count and counts only when that bound
may have reached the limit (docs/db.md gives the exact rules).

Values are signed: the ``value`` column holds an HMAC-SHA256 of the made key
and the pickle, then the pickle.  A row whose signature does not verify is a
miss and is never unpickled, so writing to the table does not let anyone run
code in the application.
"""

from __future__ import annotations

import pickle
import struct
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ...exceptions import ImproperlyConfigured
from ...signing import SIGNATURE_SIZE, configured_secret, derive_key, sign, verify
from ..base import DEFAULT_TIMEOUT, BaseCache, Timeout, bool_option, reject_unknown_options
from ..keys import invalid_key, unstorable_key_problem
from .engines import DEFAULT_DB_ALIAS
from .routing import RouterChain, router_chain
from .schema import FOREVER, MAX_KEY_LENGTH, cache_entry_model
from .table import CacheTable, MissingCacheTable, Session, cache_table

__all__ = ["DatabaseCache", "MissingCacheTable"]

OPTIONS: Final = frozenset({"MAX_ENTRIES", "CULL_FREQUENCY", "SIGNING_KEY", "SIGN_VALUES"})
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_dumps, _loads = pickle.dumps, pickle.loads
_KEY_LENGTH = struct.Struct(">I")
#: What an unverified row reads as (never a value anyone stores).
_FORGED: Final = object()
#: Keys per statement in get_many/delete_many (a power of two), rows per
#: statement in set_many: within SQLite's oldest limit of 999 bound parameters.
CHUNK = 512
ROWS_PER_STATEMENT = 300


def _stored(key: str, table: CacheTable) -> str:
    """``key``, checked for writing to ``table``: InvalidCacheKey (naming it) if it cannot be stored."""
    if len(key) > MAX_KEY_LENGTH:
        raise invalid_key(
            f"Cache key is {len(key)} characters long; the database cache stores keys of up to "
            f"{MAX_KEY_LENGTH}: {key!r}"
        )
    problem = _unusable(key, table)
    if problem is not None:
        raise invalid_key(problem)
    return key


def _unusable(key: str, table: CacheTable) -> str | None:
    """Why ``table``'s database cannot hold ``key`` (NUL on PostgreSQL, a lone surrogate anywhere), or None.

    Such a key is refused for writing and is a miss for reading.
    """
    if "\x00" in key and table.dialect.name == "postgresql":
        return f"Cache key contains NUL, which PostgreSQL text cannot hold: {key!r}"
    if key.isascii():
        return None
    return unstorable_key_problem(key, nul=False)


def _signed_prefix(made: str) -> bytes:
    # Length-prefixed, so that no (key, pickle) pair signs like another.
    raw = made.encode("utf-8", "surrogatepass")
    return _KEY_LENGTH.pack(len(raw)) + raw


def _pack(signing_key: bytes | None, made: str, value: Any) -> bytes:
    """The ``value`` column for ``value`` stored under ``made``."""
    pickled = _dumps(value, _PROTOCOL)
    if signing_key is None:
        return pickled
    return sign(signing_key, _signed_prefix(made) + pickled) + pickled


def _unpack(signing_key: bytes | None, made: str, stored: bytes) -> Any:
    """The value of a ``value`` column read for ``made``; :data:`_FORGED` unless it verifies."""
    if signing_key is None:
        return _loads(stored)
    if not _genuine(signing_key, made, stored):
        return _FORGED
    return _loads(memoryview(stored)[SIGNATURE_SIZE:])


def _genuine(signing_key: bytes | None, made: str, stored: bytes) -> bool:
    if signing_key is None:
        return True
    if len(stored) < SIGNATURE_SIZE:
        return False
    view = memoryview(stored)
    return verify(signing_key, _signed_prefix(made) + view[SIGNATURE_SIZE:], stored[:SIGNATURE_SIZE])


class DatabaseCache(BaseCache):
    """Cache entries in a table (``LOCATION``) of a database from the ``DATABASES`` setting.

    Which database: ``default``, or what the ``DATABASE_ROUTERS`` say for the
    ``CacheEntry`` model (reads from ``db_for_read``, writes to ``db_for_write``).
    ``OPTIONS``: ``MAX_ENTRIES`` and ``CULL_FREQUENCY`` as in Django;
    ``SIGNING_KEY`` (default: the ``SECRET_KEY`` setting, else, for a SQLite
    file only, a key generated beside it); ``SIGN_VALUES`` (default True).
    """

    def __init__(self, table: str, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        if not isinstance(table, str) or not table:
            raise ImproperlyConfigured(f"LOCATION must be the name of the cache table, got {table!r}")
        options = params.get("OPTIONS") or {}
        reject_unknown_options(options, OPTIONS)
        sign_values = bool_option(options, "SIGN_VALUES", True)
        self._signs = sign_values
        secret = configured_secret(options, self.settings) if sign_values else None
        #: The signing key when a secret is configured; else each database's generated one.
        self._signing_key = None if secret is None else derive_key(secret, "db")
        self._table = table
        self.cache_model_class = cache_entry_model(table)
        chain = router_chain(self.settings)
        self._routers: RouterChain | None = chain if chain else None
        self._tables: dict[str, tuple[CacheTable, bytes | None]] = {}
        # Without routers every operation uses `default`: resolve it once.
        self._default = None if self._routers else self._table_in(DEFAULT_DB_ALIAS)
        max_entries = self._max_entries
        # Count the rows at least every MAX_ENTRIES/10 writes, at most every MAX_ENTRIES/100.
        self._check_cap = max(1, max_entries // 10)
        self._check_floor = max(1, max_entries // 100)

    @property
    def table_name(self) -> str:
        """The cache table's name (``LOCATION``)."""
        return self._table

    def _table_in(self, db: str) -> tuple[CacheTable, bytes | None]:
        """The table in database ``db`` and the key that signs its values (None: unsigned)."""
        found = self._tables.get(db)
        if found is None:
            table = cache_table(db, self._table, self.settings)
            key = self._signing_key
            if key is None and self._signs:
                key = table.generated_key()
            found = self._tables[db] = (table, key)
        return found

    def _reader(self) -> tuple[CacheTable, bytes | None]:
        if self._routers is None:
            return self._default  # type: ignore[return-value]
        return self._table_in(self._routers.db_for_read(self.cache_model_class))

    def _writer(self) -> tuple[CacheTable, bytes | None]:
        if self._routers is None:
            return self._default  # type: ignore[return-value]
        return self._table_in(self._routers.db_for_write(self.cache_model_class))

    def _expiry(self, timeout: Timeout) -> float:
        expiry = self.get_backend_timeout(timeout)
        return FOREVER if expiry is None else expiry

    # -- culling ------------------------------------------------------------

    def _make_room(self, table: CacheTable, session: Session, rows: int, now: float, writes: int = 0) -> None:
        """Before writing ``rows`` new rows: purge, count and cull if the table may be full.

        No statement runs unless the rows this process wrote since the last
        count could have taken the table to MAX_ENTRIES, or MAX_ENTRIES/10
        writes have passed (to see other processes' rows).  ``writes`` is what
        the call counts for as a write (``rows`` unless given).
        """
        writes = writes or rows
        counted = table.counted
        if counted is not None:
            budget = max(self._check_floor, min(self._max_entries - counted, self._check_cap))
            if table.written + writes <= budget:
                table.written += writes
                return
        session.run(table.purge, {"now": now})
        count = session.run(table.count, {}).fetchone()[0]
        if count + rows > self._max_entries:
            if self._cull_frequency == 0:
                session.run(table.clear, {})
                count = 0
            elif count // self._cull_frequency:
                count -= session.run(table.cull, {"victims": count // self._cull_frequency}).rowcount
        table.counted, table.written = count, writes

    # -- primitives -----------------------------------------------------------

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        made = self.make_and_validate_key(key, version)
        table, signing_key = self._reader()
        if _unusable(made, table) is not None:
            return default
        with Session(table, False) as session:
            row = session.run(table.get, {"key": made, "now": time.time()}).fetchone()
        if row is None:
            return default
        value = _unpack(signing_key, made, row[0])
        return default if value is _FORGED else value

    def _write(self, add: bool, key: Any, value: Any, timeout: Timeout, version: Any) -> int:
        now = time.time()
        table, signing_key = self._writer()
        made = _stored(self.make_and_validate_key(key, version), table)
        params = {
            "cache_key": made,
            "value": _pack(signing_key, made, value),
            "expires": self._expiry(timeout),
            "now": now,
        }
        with Session(table, True) as session:
            self._make_room(table, session, 1, now)
            return session.run(table.add if add else table.upsert, params).rowcount  # type: ignore[no-any-return]

    def set(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self._write(False, key, value, timeout, version)

    def add(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._write(True, key, value, timeout, version) > 0

    def touch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        now = time.time()
        made = self.make_and_validate_key(key, version)
        params = {"key": made, "new_expires": self._expiry(timeout), "now": now}
        table, _ = self._writer()
        if _unusable(made, table) is not None:
            return False
        with Session(table, True) as session:
            # A touch adds no row (so culls only a table already over MAX_ENTRIES),
            # but it counts as a write towards the next check, as in Django.
            self._make_room(table, session, 0, now, writes=1)
            return session.run(table.touch, params).rowcount > 0  # type: ignore[no-any-return]

    def delete(self, key: Any, version: Any = None) -> bool:
        made = self.make_and_validate_key(key, version)
        table, _ = self._writer()
        if _unusable(made, table) is not None:
            return False
        with Session(table, True) as session:
            return session.run(table.delete, {"key": made}).rowcount > 0  # type: ignore[no-any-return]

    def clear(self) -> None:
        table, _ = self._writer()
        with Session(table, True) as session:
            session.run(table.clear, {})
        table.counted, table.written = 0, 0

    # -- faster composites ----------------------------------------------------

    def has_key(self, key: Any, version: Any = None) -> bool:
        made = self.make_and_validate_key(key, version)
        table, signing_key = self._reader()
        if _unusable(made, table) is not None:
            return False
        params = {"key": made, "now": time.time()}
        with Session(table, False) as session:
            if signing_key is None:
                return session.run(table.has_key, params).fetchone() is not None
            row = session.run(table.get, params).fetchone()
        return row is not None and _genuine(signing_key, made, row[0])

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        made = {self.make_and_validate_key(key, version): key for key in keys}
        table, signing_key = self._reader()
        stored = [key for key in made if _unusable(key, table) is None]
        if not stored:
            return {}
        found: dict[Any, Any] = {}
        now = time.time()
        with Session(table, False) as session:
            for start in range(0, len(stored), CHUNK):
                sql, params = table.for_keys("get", stored[start : start + CHUNK])
                params["now"] = now
                for stored_key, column in session.run(sql, params).fetchall():
                    value = _unpack(signing_key, stored_key, column)
                    if value is not _FORGED:
                        found[made[stored_key]] = value
        return found

    def set_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        expires = self._expiry(timeout)
        table, signing_key = self._writer()
        # Keyed by stored key: two caller keys that make one key must not both
        # reach one statement (PostgreSQL refuses to upsert a row twice in one).
        values: dict[str, bytes] = {}
        for key, value in data.items():
            made = _stored(self.make_and_validate_key(key, version), table)
            values[made] = _pack(signing_key, made, value)
        if not values:
            return []
        # In key order: concurrent set_many calls then lock shared rows in the
        # same order, so PostgreSQL never sees two of them wait for each other.
        rows = sorted(values.items())
        with Session(table, True) as session:
            self._make_room(table, session, len(rows), time.time())
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                chunk = rows[start : start + ROWS_PER_STATEMENT]
                sql, names = table.upsert_rows(len(chunk))
                flat = [item for stored, column in chunk for item in (stored, column, expires)]
                session.run(sql, dict(zip(names, flat)))
        return []

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        table, _ = self._writer()
        made = {self.make_and_validate_key(key, version): None for key in keys}
        stored = [key for key in made if _unusable(key, table) is None]
        if not stored:
            return
        with Session(table, True) as session:
            for start in range(0, len(stored), CHUNK):
                session.run(*table.for_keys("delete", stored[start : start + CHUNK]))

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Add ``delta`` atomically (compare-and-swap on the stored value); the expiry is kept."""
        made = self.make_and_validate_key(key, version)
        table, signing_key = self._writer()
        if _unusable(made, table) is not None:
            raise ValueError(f"Key '{key}' not found")
        with Session(table, True) as session:
            while True:
                now = time.time()
                row = session.run(table.get, {"key": made, "now": now}).fetchone()
                value = _FORGED if row is None else _unpack(signing_key, made, row[0])
                if value is _FORGED:
                    raise ValueError(f"Key '{key}' not found")
                new_value: Any = value + delta  # type: ignore[operator]
                params = {"key": made, "old": row[0], "new": _pack(signing_key, made, new_value), "now": now}
                if session.run(table.swap, params).rowcount:
                    return new_value
