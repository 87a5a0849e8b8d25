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

from cachemere import CacheHandler
from cachemere.backends.db import DatabaseCache
from cachemere.testing import CacheConformance
from helpers.db import DB_BACKEND, Database, databases, handler_settings, make_table
from servers.postgres import postgres_server

__all__ = ["postgres_server"]

TABLE = "test cache table"


class DatabaseConformance(CacheConformance):
    backend = DB_BACKEND
    location = TABLE
    incr_keeps_ttl = True
    instances_share_store = True

    def handler_settings(self) -> dict[str, Any]:
        return handler_settings()


class TestSQLiteDatabaseCache(DatabaseConformance):
    @pytest.fixture(autouse=True, scope="class")
    def _database(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        db = Database.sqlite(Path(tmp_path_factory.mktemp("sqlite")))
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


def test_django_path_builds_the_same_backend(tmp_path: Path) -> None:
    db = Database.sqlite(tmp_path)
    with databases({"default": db.config()}):
        make_table("default", TABLE)
        handler = CacheHandler(
            {
                "django": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": TABLE},
                "ours": {"BACKEND": DB_BACKEND, "LOCATION": TABLE},
            },
            **handler_settings(),
        )
        django, ours = handler["django"], handler["ours"]
        assert type(django) is DatabaseCache
        django.set("k", {"v": [1]}, 30)
        assert django.get("k") == {"v": [1]}
        assert ours.get("k") == {"v": [1]}
        ours.delete("k")
        assert django.get("k") is None
