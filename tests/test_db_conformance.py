"""The whole conformance suite against the database cache, on SQLite and on a real PostgreSQL.

The table name has spaces, so every statement must quote it.  Culling gives
29 and 19 survivors, as local memory does: a check runs before a write and
culls when the table already holds MAX_ENTRIES rows (Django's database cache
culls only above MAX_ENTRIES, hence its 18 for CULL_FREQUENCY 0); see
docs/db.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cachemere.testing import CacheConformance
from servers.postgres import postgres_server
from test_db_helpers import DB_BACKEND, Database, databases, make_table

__all__ = ["postgres_server"]

TABLE = "test cache table"


class DatabaseConformance(CacheConformance):
    backend = DB_BACKEND
    location = TABLE
    # Expiry is kept to the microsecond, so sub-second timeouts are honoured.
    short_timeout = 0.3


class TestSQLiteDatabaseCache(DatabaseConformance):
    @pytest.fixture(autouse=True, scope="class")
    def _database(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        db = Database.sqlite(Path(tmp_path_factory.mktemp("sqlite")))
        with databases({"default": db.config()}):
            make_table("default", TABLE)
            yield


class TestDatabaseCacheByDjangoPath(DatabaseConformance):
    backend = "django.core.cache.backends.db.DatabaseCache"

    @pytest.fixture(autouse=True, scope="class")
    def _database(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        db = Database.sqlite(Path(tmp_path_factory.mktemp("sqlite-django-path")))
        with databases({"default": db.config()}):
            make_table("default", TABLE)
            yield


class TestPostgresDatabaseCache(DatabaseConformance):
    @pytest.fixture(autouse=True, scope="class")
    def _database(self, postgres_server: Any) -> Iterator[None]:
        db = Database.postgres(postgres_server, "conformance")
        with databases({"default": db.config()}):
            make_table("default", TABLE)
            yield
