"""Database cache: one table (``LOCATION``) in a SQL database (SQLite or PostgreSQL).

Every write is one upsert; ``add`` is an upsert that only replaces an expired
row, so concurrent writers never race between a read and a write.  Reads never
write.  ``MAX_ENTRIES`` is enforced without a ``COUNT(*)`` per write: each
process keeps an upper bound on the row count and counts only when that bound
may have reached the limit (docs/db.md gives the exact rules).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from time import time as _now
from typing import Any

from ...exceptions import ImproperlyConfigured, InvalidCacheKey
from ..base import DEFAULT_TIMEOUT, BaseCache, Timeout
from .engines import DEFAULT_DB_ALIAS
from .routing import RouterChain, router_chain
from .schema import FOREVER, MAX_KEY_LENGTH, cache_entry_model
from .table import CacheTable, MissingCacheTable, Session, cache_table

__all__ = ["DatabaseCache", "MissingCacheTable"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_dumps, _loads = pickle.dumps, pickle.loads
#: Keys per statement in get_many/delete_many (a power of two), rows per
#: statement in set_many: within SQLite's oldest limit of 999 bound parameters.
CHUNK = 512
ROWS_PER_STATEMENT = 300


def _stored(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidCacheKey(
            f"Cache key is {len(key)} characters long; the database cache stores keys of up to "
            f"{MAX_KEY_LENGTH}: {key!r}"
        )
    return key


class DatabaseCache(BaseCache):
    """Cache entries in a table (``LOCATION``) of a database from the ``DATABASES`` setting.

    Which database: ``default``, or what the ``DATABASE_ROUTERS`` say for the
    ``CacheEntry`` model (reads from ``db_for_read``, writes to ``db_for_write``).
    """

    def __init__(self, table: str, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        if not isinstance(table, str) or not table:
            raise ImproperlyConfigured(f"LOCATION must be the name of the cache table, got {table!r}")
        self._table = table
        self.cache_model_class = cache_entry_model(table)
        chain = router_chain()
        self._routers: RouterChain | None = chain if chain else None
        self._tables: dict[str, CacheTable] = {}
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

    def _table_in(self, db: str) -> CacheTable:
        table = self._tables.get(db)
        if table is None:
            table = self._tables[db] = cache_table(db, self._table)
        return table

    def _reader(self) -> CacheTable:
        if self._routers is None:
            return self._default  # type: ignore[return-value]
        return self._table_in(self._routers.db_for_read(self.cache_model_class))

    def _writer(self) -> CacheTable:
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
        key = self.make_and_validate_key(key, version)
        table = self._reader()
        with Session(table, False) as session:
            row = session.run(table.get, {"key": key, "now": _now()}).fetchone()
        return default if row is None else _loads(row[0])

    def _write(self, add: bool, key: Any, value: Any, timeout: Timeout, version: Any) -> int:
        now = _now()
        params = {
            "cache_key": _stored(self.make_and_validate_key(key, version)),
            "value": _dumps(value, _PROTOCOL),
            "expires": self._expiry(timeout),
            "now": now,
        }
        table = self._writer()
        with Session(table, True) as session:
            self._make_room(table, session, 1, now)
            return session.run(table.add if add else table.upsert, params).rowcount

    def set(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self._write(False, key, value, timeout, version)

    def add(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._write(True, key, value, timeout, version) > 0

    def touch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        now = _now()
        params = {
            "key": self.make_and_validate_key(key, version),
            "new_expires": self._expiry(timeout),
            "now": now,
        }
        table = self._writer()
        with Session(table, True) as session:
            # A touch adds no row (so culls only a table already over MAX_ENTRIES),
            # but it counts as a write towards the next check, as in Django.
            self._make_room(table, session, 0, now, writes=1)
            return session.run(table.touch, params).rowcount > 0

    def delete(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version)
        table = self._writer()
        with Session(table, True) as session:
            return session.run(table.delete, {"key": key}).rowcount > 0

    def clear(self) -> None:
        table = self._writer()
        with Session(table, True) as session:
            session.run(table.clear, {})
        table.counted, table.written = 0, 0

    # -- faster composites ----------------------------------------------------

    def has_key(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version)
        table = self._reader()
        with Session(table, False) as session:
            return session.run(table.has_key, {"key": key, "now": _now()}).fetchone() is not None

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        made = {self.make_and_validate_key(key, version): key for key in keys}
        if not made:
            return {}
        stored = list(made)
        table = self._reader()
        found: dict[Any, Any] = {}
        now = _now()
        with Session(table, False) as session:
            for start in range(0, len(stored), CHUNK):
                sql, params = table.for_keys("get", stored[start : start + CHUNK])
                params["now"] = now
                for stored_key, value in session.run(sql, params).fetchall():
                    found[made[stored_key]] = _loads(value)
        return found

    def set_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        expires = self._expiry(timeout)
        # Keyed by stored key: two caller keys that make one key must not both
        # reach one statement (PostgreSQL refuses to upsert a row twice in one).
        values: dict[str, bytes] = {}
        for key, value in data.items():
            values[_stored(self.make_and_validate_key(key, version))] = _dumps(value, _PROTOCOL)
        if not values:
            return []
        table = self._writer()
        rows = list(values.items())
        with Session(table, True) as session:
            self._make_room(table, session, len(rows), _now())
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                chunk = rows[start : start + ROWS_PER_STATEMENT]
                sql, names = table.upsert_rows(len(chunk))
                flat = [item for stored, pickled in chunk for item in (stored, pickled, expires)]
                session.run(sql, dict(zip(names, flat)))
        return []

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        stored = list({self.make_and_validate_key(key, version): None for key in keys})
        if not stored:
            return
        table = self._writer()
        with Session(table, True) as session:
            for start in range(0, len(stored), CHUNK):
                session.run(*table.for_keys("delete", stored[start : start + CHUNK]))

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Add ``delta`` atomically (compare-and-swap on the stored value); the expiry is kept."""
        stored = self.make_and_validate_key(key, version)
        table = self._writer()
        with Session(table, True) as session:
            while True:
                now = _now()
                row = session.run(table.get, {"key": stored, "now": now}).fetchone()
                if row is None:
                    raise ValueError(f"Key '{key}' not found")
                old = row[0]
                new_value = _loads(old) + delta
                params = {"key": stored, "old": old, "new": _dumps(new_value, _PROTOCOL), "now": now}
                if session.run(table.swap, params).rowcount:
                    return new_value
