"""The cache table and the ``CacheEntry`` model that database routers see.

The table has Django's column names: ``cache_key`` (primary key,
varchar(255)), ``value`` (the pickled value, binary rather than Django's
base64 text) and ``expires`` (epoch seconds as a double, indexed; never
expiring entries hold :data:`FOREVER`).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from sqlalchemy import Column, Double, Index, LargeBinary, MetaData, String, Table

#: Longest key the table stores (Django's ``cache_key`` column).
MAX_KEY_LENGTH = 255
#: Expiry of entries that never expire: 9999-12-31T23:59:59 UTC, like datetime.max.
FOREVER = 253402300799.0
#: PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes; applied on every
#: database so that a table's index has the same name everywhere.
MAX_IDENTIFIER_BYTES = 63
_INDEX_SUFFIX = "_expires"


def index_name(table: str) -> str:
    """``<table>_expires``, or, when that is over 63 bytes, a shortened name that fits.

    The shortened name keeps the start of the table name and adds 8 hex digits
    of the full name's SHA-256, so it is deterministic (every host and every
    run derive the same name) and two long names that share a start still differ.
    """
    name = table + _INDEX_SUFFIX
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    tag = "_" + hashlib.sha256(table.encode("utf-8", "surrogatepass")).hexdigest()[:8] + _INDEX_SUFFIX
    room = MAX_IDENTIFIER_BYTES - len(tag)
    # Cut on a character boundary: never leave half a UTF-8 sequence.
    start = table.encode()[:room].decode("utf-8", "ignore")
    return start + tag


def make_table(name: str) -> Table:
    """A new ``Table`` object for a cache table called ``name`` (any characters)."""
    table = Table(
        name,
        MetaData(),
        Column("cache_key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("value", LargeBinary, nullable=False),
        Column("expires", Double, nullable=False),
    )
    Index(index_name(name), table.c.expires)
    return table


class Options:
    """Quacks like a Django model's ``_meta`` for the cache table."""

    app_label = "django_cache"
    model_name = "cacheentry"
    object_name = "CacheEntry"
    verbose_name = "cache entry"
    verbose_name_plural = "cache entries"
    label = "django_cache.CacheEntry"
    label_lower = "django_cache.cacheentry"
    abstract = False
    managed = True
    proxy = False
    swapped = False

    def __init__(self, table: str) -> None:
        self.db_table = table

    def __repr__(self) -> str:
        return f"<Options for CacheEntry (db_table={self.db_table!r})>"


@functools.cache
def cache_entry_model(table: str) -> type[Any]:
    """The ``CacheEntry`` model class of ``table`` (one class per table, so routers may compare)."""
    return type(
        "CacheEntry",
        (),
        {"_meta": Options(table), "__module__": __name__, "__doc__": f"Entries of cache table {table!r}."},
    )
