"""``cachemere createcachetable``: creates each database cache's table, idempotently, where routers allow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect

import cachemere
from cachemere.backends.db.schema import index_name
from cachemere.cli import main
from cachemere.conf import settings
from cachemere.exceptions import ImproperlyConfigured
from helpers.db import DB_BACKEND, TEST_SECRET, Database, databases, make_cache
from servers.postgres import postgres_server

__all__ = ["postgres_server"]


def tables(db: Database) -> set[str]:
    engine = create_engine(db.url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def indexes(db: Database, table: str) -> set[str]:
    engine = create_engine(db.url)
    try:
        return {index["name"] for index in inspect(engine).get_indexes(table)}
    finally:
        engine.dispose()


def configure(dbs: dict[str, Any], caches: dict[str, Any], routers: list[Any] | None = None) -> None:
    cachemere.configure(DATABASES=dbs, CACHES=caches, DATABASE_ROUTERS=routers or [], SECRET_KEY=TEST_SECRET)


def db_cache(table: str) -> dict[str, Any]:
    return {"BACKEND": DB_BACKEND, "LOCATION": table}


@pytest.fixture(autouse=True)
def _restore_settings() -> Iterator[None]:
    with databases({}):  # resets the settings and closes the engines afterwards
        yield


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database.sqlite(tmp_path)
    return Database.postgres(request.getfixturevalue("postgres_server"), "createcachetable")


def test_creates_one_table_per_database_cache_and_is_idempotent(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(
        {"default": db.config()},
        {
            "default": db_cache("first cache"),
            "second": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "second"},
            "same table": db_cache("first cache"),
            "memory": {"BACKEND": "cachemere.backends.locmem.LocMemCache"},
        },
    )
    assert main(["createcachetable"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "Cache table 'first cache' created in database 'default'.",
        "Cache table 'second' created in database 'default'.",
    ]
    assert tables(db) == {"first cache", "second"}
    assert indexes(db, "first cache") == {"first cache_expires"}
    cache = make_cache("first cache")
    cache.set("k", "v")

    assert main(["createcachetable"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Cache table 'first cache' already exists in database 'default'.",
        "Cache table 'second' already exists in database 'default'.",
    ]
    assert cache.get("k") == "v"  # the existing table was left alone


def test_dry_run_prints_the_sql_and_creates_nothing(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    configure({"default": db.config()}, {"default": db_cache("dry run table")})
    assert main(["createcachetable", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('CREATE TABLE IF NOT EXISTS "dry run table" (')
    assert 'CREATE INDEX IF NOT EXISTS "dry run table_expires" ON "dry run table" (expires);' in out
    assert "cache_key VARCHAR(255) NOT NULL" in out
    assert "PRIMARY KEY (cache_key)" in out
    binary, double = ("BYTEA", "DOUBLE PRECISION") if db.kind == "postgres" else ("BLOB", "DOUBLE")
    assert f"value {binary} NOT NULL" in out
    assert f"expires {double} NOT NULL" in out
    assert "dry run table" not in tables(db)


def test_table_names_that_need_quoting(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    name = 'odd "quoted" name; drop'
    configure({"default": db.config()}, {"default": db_cache(name)})
    assert main(["createcachetable"]) == 0
    assert name in tables(db)
    cache = make_cache(name)
    cache.set("key", [1, 2])
    assert cache.get("key") == [1, 2]
    assert db.execute(f'SELECT COUNT(*) FROM "{name.replace(chr(34), chr(34) * 2)}"') == [(1,)]


def test_database_option_limits_it_to_one_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default, other = Database.sqlite(tmp_path, "default"), Database.sqlite(tmp_path, "other")
    configure({"default": default.config(), "other": other.config()}, {"default": db_cache("cache")})
    assert main(["createcachetable", "--database", "other"]) == 0
    assert capsys.readouterr().out == "Cache table 'cache' created in database 'other'.\n"
    assert "cache" in tables(other)
    assert "cache" not in tables(default)
    assert main(["createcachetable"]) == 0  # every database without --database
    assert capsys.readouterr().out.splitlines() == [
        "Cache table 'cache' created in database 'default'.",
        "Cache table 'cache' already exists in database 'other'.",
    ]


def test_unknown_database_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure({"default": Database.sqlite(tmp_path).config()}, {"default": db_cache("cache")})
    assert main(["createcachetable", "--database", "nope"]) == 2
    assert "the database 'nope' is not in DATABASES (configured: 'default')" in capsys.readouterr().err


def test_router_allow_migrate_decides_where(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    if db.kind == "postgres":
        primary = Database.postgres(db.server, "cache_primary")
        replica = Database.postgres(db.server, "cache_replica")
    else:
        directory = Path(db.dbname).parent
        primary, replica = Database.sqlite(directory, "primary"), Database.sqlite(directory, "replica")
    configure(
        {"cache_primary": primary.config(), "cache_replica": replica.config()},
        {"default": db_cache("routed")},
        routers=["helpers.routers.CacheRouter"],
    )
    assert main(["createcachetable"]) == 0
    assert capsys.readouterr().out == "Cache table 'routed' created in database 'cache_primary'.\n"
    assert "routed" in tables(primary)
    assert "routed" not in tables(replica)
    assert main(["createcachetable", "--database", "cache_replica"]) == 0
    assert capsys.readouterr().out == ""
    assert "routed" not in tables(replica)


def test_no_database_caches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["createcachetable"]) == 0
    assert capsys.readouterr().out == "No database caches are configured.\n"


def test_embedded_default_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cachemere.configure(CACHES={"default": db_cache("cache")})
    assert main(["createcachetable"]) == 0
    assert "cache" in tables(Database.sqlite(tmp_path, "cache"))


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    configure({"default": {"URL": "sqlite://", "PORT": 1}}, {"default": db_cache("cache")})
    assert main(["createcachetable"]) == 2
    assert "DATABASES['default'] has an unknown key 'PORT'" in capsys.readouterr().err


def test_unreachable_database_exits_1(capsys: pytest.CaptureFixture[str], postgres_server: Any) -> None:
    from servers.common import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    configure({"default": {"URL": url}}, {"default": db_cache("cache")})
    assert main(["createcachetable"]) == 1
    assert "Cache table 'cache' could not be created in database 'default'" in capsys.readouterr().err


def test_using_a_cache_before_createcachetable_says_to_run_it(tmp_path: Path) -> None:
    configure({"default": Database.sqlite(tmp_path).config()}, {"default": db_cache("not yet")})
    with pytest.raises(ImproperlyConfigured, match="run `cachemere createcachetable`"):
        cachemere.caches["default"].set("k", 1)
    assert main(["createcachetable"]) == 0
    cachemere.caches["default"].set("k", 1)
    assert cachemere.caches["default"].get("k") == 1
    assert settings.CACHES["default"]["LOCATION"] == "not yet"


def test_a_63_character_table_name_gets_an_index_name_that_fits(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "t" * 55 + "_cache_x"  # 63 characters: PostgreSQL's longest identifier
    assert len(name) == 63
    configure({"default": db.config()}, {"default": db_cache(name)})
    assert main(["createcachetable"]) == 0, capsys.readouterr().err
    assert name in tables(db)
    (index,) = indexes(db, name)
    assert index == index_name(name)
    cache = make_cache(name)
    cache.set("key", "value")
    assert cache.get("key") == "value"


def test_index_names_are_short_deterministic_and_distinct() -> None:
    assert index_name("first cache") == "first cache_expires"  # short names are kept
    long_a, long_b = "x" * 60 + "a", "x" * 60 + "b"
    names = {index_name(long_a), index_name(long_b)}
    assert len(names) == 2
    assert all(len(name.encode()) <= 63 and name.endswith("_expires") for name in names)
    assert index_name(long_a) == index_name(long_a)
    multibyte = "é" * 40  # 80 bytes: cut on a character boundary
    assert len(index_name(multibyte).encode()) <= 63
    assert index_name(multibyte).startswith("é" * 18)
