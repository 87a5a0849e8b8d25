"""Database-cache behaviour beyond the conformance suite, on SQLite and PostgreSQL.

Where Django's database cache has known bugs (touch resurrecting expired rows,
a COUNT(*) per write, writes on the read path, N statements for set_many, silent
failures), these tests pin down that cachemere does not have them.
"""

from __future__ import annotations

import io
import pathlib
import pickle
import random
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
import pytest

from cachemere.backends.db import DatabaseCache, MissingCacheTable
from cachemere.backends.db.engines import SQLITE_PRAGMAS, dispose_all, engine_for, validate_databases
from cachemere.backends.db.schema import FOREVER
from cachemere.cli.createcachetable import create_table
from cachemere.conf import settings
from cachemere.exceptions import ImproperlyConfigured, InvalidCacheKey
from cachemere.handler import CacheHandler
from helpers.db import (
    DB_BACKEND,
    TEST_SECRET,
    Database,
    databases,
    kinds,
    make_cache,
    make_table,
    signed_pickle,
    sql_trace,
    unique_name,
)
from servers.postgres import postgres_server, start_postgres

__all__ = ["postgres_server"]


@pytest.fixture(scope="module")
def pg_database(postgres_server: Any) -> Database:
    return Database.postgres(postgres_server, "backend")


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The default database, SQLite or PostgreSQL, configured for the test."""
    database = (
        Database.sqlite(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_database")
    )
    with databases({"default": database.config()}):
        yield database


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database.sqlite(tmp_path)
    with databases({"default": database.config()}):
        yield database


def new_table() -> str:
    table = unique_name("cache table")
    make_table("default", table)
    return table


# -- Django's bugs we do not repeat -------------------------------------------


def test_touch_does_not_resurrect_an_expired_row(db: Database) -> None:
    table = new_table()
    cache = make_cache(table)
    cache.set("key", "value", 0.05)
    time.sleep(0.1)
    assert db.count(table) == 1  # still there, expired
    assert cache.touch("key", 100) is False
    assert cache.get("key") is None
    assert cache.add("key", "new") is True
    assert cache.get("key") == "new"


def test_reads_never_write(sqlite_db: Database) -> None:
    table = new_table()
    cache = make_cache(table)
    cache.set("live", 1)
    cache.set("expired", 2, 0.05)
    time.sleep(0.1)
    with sql_trace() as statements:
        assert cache.get("expired") is None
        assert cache.get("live") == 1
        assert cache.get_many(["live", "expired"]) == {"live": 1}
        assert cache.has_key("expired") is False
    assert statements and all(s.lstrip().upper().startswith("SELECT") for s in statements), statements
    assert sqlite_db.count(table) == 2  # the expired row is left for the next write's cull


def test_writes_do_not_count_the_table_each_time(sqlite_db: Database) -> None:
    table = new_table()
    cache = make_cache(table, OPTIONS={"MAX_ENTRIES": 300})
    with sql_trace() as statements:
        for i in range(1000):
            cache.set(f"key{i}", i)
    counts = kinds(statements, "SELECT count")
    assert len(kinds(statements, "INSERT")) == 1000
    # Filling: one count per MAX_ENTRIES/10 writes.  Full: after a cull to 200 rows,
    # counts at 230, 260, 290 and 300 rows: about 4 per 100 writes (38 in all here).
    assert 1 <= len(counts) <= 50, len(counts)
    assert sqlite_db.count(table) <= 300


def test_a_table_far_from_full_is_rarely_counted(sqlite_db: Database) -> None:
    cache = make_cache(new_table(), OPTIONS={"MAX_ENTRIES": 100_000})
    with sql_trace() as statements:
        for i in range(2000):
            cache.set(f"key{i}", i)
    assert len(kinds(statements, "SELECT count")) <= 2


def test_set_many_is_one_statement_per_300_rows(sqlite_db: Database) -> None:
    cache = make_cache(new_table(), OPTIONS={"MAX_ENTRIES": 10_000})
    cache.set("warm", 1)  # the first write counts the table
    with sql_trace() as statements:
        assert cache.set_many({f"key{i}": i for i in range(200)}) == []
    assert len(kinds(statements, "INSERT")) == 1
    with sql_trace() as statements:
        cache.set_many({f"key{i}": i for i in range(700)})
    assert len(kinds(statements, "INSERT")) == 3
    assert cache.get_many([f"key{i}" for i in range(700)]) == {f"key{i}": i for i in range(700)}


def test_get_many_and_delete_many_are_one_statement(sqlite_db: Database) -> None:
    cache = make_cache(new_table())
    cache.set_many({f"key{i}": i for i in range(50)})
    with sql_trace() as statements:
        assert len(cache.get_many([f"key{i}" for i in range(60)])) == 50
        cache.delete_many([f"key{i}" for i in range(60)])
    assert len(kinds(statements, "SELECT")) == 1
    assert len(kinds(statements, "DELETE")) == 1
    assert cache.get_many([f"key{i}" for i in range(50)]) == {}


def test_set_many_with_keys_that_make_the_same_stored_key(db: Database) -> None:
    cache = make_cache(new_table())
    cache.set_many({5: "int", "5": "str"})  # both are ':1:5'
    assert cache.get(5) == "str"


@pytest.mark.filterwarnings("ignore::cachemere.exceptions.CacheKeyWarning")
def test_a_key_too_long_for_the_table_raises(db: Database) -> None:
    cache = make_cache(new_table())
    key = "k" * 260
    with pytest.raises(InvalidCacheKey, match="up to 255"):
        cache.set(key, 1)
    with pytest.raises(InvalidCacheKey):
        cache.add(key, 1)
    with pytest.raises(InvalidCacheKey):
        cache.set_many({"fine": 1, key: 2})
    assert cache.get(key) is None


def test_a_missing_table_is_a_clear_error_on_every_operation(db: Database) -> None:
    cache = make_cache("no such cache table")
    operations = [
        lambda: cache.get("k"),
        lambda: cache.set("k", 1),
        lambda: cache.add("k", 1),
        lambda: cache.touch("k"),
        lambda: cache.delete("k"),
        lambda: cache.has_key("k"),
        lambda: cache.get_many(["k"]),
        lambda: cache.set_many({"k": 1}),
        lambda: cache.delete_many(["k"]),
        lambda: cache.incr("k"),
        lambda: cache.clear(),
    ]
    for operation in operations:
        with pytest.raises(MissingCacheTable, match="run `cachemere createcachetable`") as info:
            operation()
        assert "'no such cache table'" in str(info.value)
        assert "database 'default'" in str(info.value)


# -- expiry, culling, atomicity -------------------------------------------------


def test_max_entries_holds_and_keeps_the_longest_lived(db: Database) -> None:
    table = new_table()
    cache = make_cache(table, OPTIONS={"MAX_ENTRIES": 50})
    for i in range(400):
        cache.set(f"key{i}", i, 1000 + i)
        assert db.count(table) <= 50
    assert cache.get("key399") == 399
    assert cache.get("key0") is None


def test_expired_rows_go_first_when_the_table_is_checked(db: Database) -> None:
    table = new_table()
    cache = make_cache(table, OPTIONS={"MAX_ENTRIES": 10})
    cache.set_many({f"old{i}": i for i in range(5)}, 0.05)
    cache.set_many({f"live{i}": i for i in range(5)})
    time.sleep(0.1)
    cache.set("new", 1)
    assert sorted(db.rows(table)) == sorted([*(f":1:live{i}" for i in range(5)), ":1:new"])


def test_zero_cull_frequency_empties_the_table(db: Database) -> None:
    table = new_table()
    cache = make_cache(table, OPTIONS={"MAX_ENTRIES": 10, "CULL_FREQUENCY": 0})
    for i in range(10):
        cache.set(f"key{i}", i)
    assert db.count(table) == 10
    cache.set("eleventh", 11)
    assert db.rows(table) == {":1:eleventh": 11}


def test_forever_is_stored_as_a_far_future_expiry(db: Database) -> None:
    table = new_table()
    cache = make_cache(table, TIMEOUT=None)
    cache.set("key", "value")
    assert db.execute(f'SELECT expires FROM "{table}"') == [(FOREVER,)]


def test_add_replaces_an_expired_row_in_place(db: Database) -> None:
    table = new_table()
    cache = make_cache(table)
    db.put(table, ":1:key", "stale", time.time() - 10)
    assert cache.add("key", "fresh") is True
    assert db.rows(table) == {":1:key": "fresh"}
    assert cache.add("key", "again") is False


def test_rows_written_behind_the_cache_are_read(db: Database) -> None:
    table = new_table()
    cache = make_cache(table)
    db.put(table, ":1:outside", {"a": 1}, time.time() + 100)
    assert cache.get("outside") == {"a": 1}


def test_incr_is_atomic_across_threads_and_keeps_the_expiry(db: Database) -> None:
    table = new_table()
    make_cache(table).set("counter", 0, 500)
    (before,) = db.execute(f'SELECT expires FROM "{table}"')[0]
    errors: list[BaseException] = []

    def work() -> None:
        cache = make_cache(table)  # one instance per thread, as the handler makes them
        try:
            for _ in range(25):
                cache.incr("counter")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert make_cache(table).get("counter") == 100
    assert db.execute(f'SELECT expires FROM "{table}"')[0][0] == before


def test_clear_empties_only_this_table(db: Database) -> None:
    first, second = new_table(), new_table()
    make_cache(first).set("a", 1)
    make_cache(second).set("a", 2)
    make_cache(first).clear()
    assert db.count(first) == 0
    assert make_cache(second).get("a") == 2


def test_lost_connections_are_replaced(pg_database: Database) -> None:
    with databases({"default": pg_database.config()}):
        cache = make_cache(new_table())
        cache.set("key", "value")
        pg_database.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = ? AND pid <> pg_backend_pid()",
            (pg_database.dbname,),
        )
        with pytest.raises(psycopg.OperationalError) as info:  # the driver's own error type
            cache.get("key")
        assert "terminat" in str(info.value) or "closed" in str(info.value)
        assert cache.get("key") == "value"  # the dead connection was dropped from the pool


# -- engines and settings -------------------------------------------------------


def test_sqlite_connections_get_cache_pragmas(sqlite_db: Database) -> None:
    make_cache(new_table()).set("k", 1)
    with engine_for("default", settings).connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert "PRAGMA synchronous=NORMAL" in SQLITE_PRAGMAS


def test_one_engine_per_database_shared_by_every_thread(sqlite_db: Database) -> None:
    table = new_table()
    found: list[DatabaseCache] = []
    threads = [threading.Thread(target=lambda: found.append(make_cache(table))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(cache) for cache in found}) == 3
    assert len({id(cache._writer()[0].engine) for cache in found}) == 1
    assert len({id(cache._writer()[0]) for cache in found}) == 1


def test_no_databases_means_a_sqlite_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with databases({}):
        make_table("default", "cache")
        cache = make_cache("cache")
        cache.set("k", "v")
        assert cache.get("k") == "v"
        assert str(engine_for("default", settings).url) == "sqlite:///cache.sqlite3"
    assert (tmp_path / "cache.sqlite3").exists()


@pytest.mark.parametrize(
    ("databases_setting", "message"),
    [
        (
            {"default": {"URL": "sqlite://", "URLS": "x"}},
            r"DATABASES\['default'\] has an unknown key 'URLS' \(did you mean 'URL'\?\)",
        ),
        ({"default": {"OPTIONS": {}}}, r"DATABASES\['default'\]\['URL'\] must be a database URL"),
        ({"other": "sqlite://"}, r"DATABASES\['other'\] must be a dict"),
        (
            {"default": {"URL": "sqlite://", "OPTIONS": []}},
            r"DATABASES\['default'\]\['OPTIONS'\] must be a dict",
        ),
        (["sqlite://"], "DATABASES must be a dict"),
    ],
)
def test_databases_setting_errors_name_the_database_and_key(databases_setting: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        validate_databases(databases_setting)


@pytest.mark.parametrize(
    ("dbs", "message"),
    [
        ({"default": {"URL": "not a url"}}, r"DATABASES\['default'\]\['URL'\] is not a database URL"),
        (
            {"default": {"URL": "sqlite:///x.db", "OPTIONS": {"bogus": 1}}},
            r"DATABASES\['default'\]\['OPTIONS'\] is not valid",
        ),
        ({"other": {"URL": "sqlite:///x.db"}}, "the database 'default' is not in DATABASES"),
    ],
)
def test_bad_database_settings_fail_when_the_cache_is_made(dbs: dict[str, Any], message: str) -> None:
    with databases(dbs), pytest.raises(ImproperlyConfigured, match=message):
        make_cache("cache")


def test_location_must_name_a_table(sqlite_db: Database) -> None:
    with pytest.raises(ImproperlyConfigured, match="LOCATION must be the name of the cache table"):
        make_cache("")


def test_driver_errors_are_not_swallowed(sqlite_db: Database) -> None:
    table = new_table()
    cache = make_cache(table)
    cache.set("k", 1)
    sqlite_db.execute(f'ALTER TABLE "{table}" RENAME COLUMN value TO other')
    # The table no longer has the value column: an error, never a silent miss or no-op.
    with pytest.raises(sqlite3.OperationalError, match="value"):
        cache.set("k", 2)
    with pytest.raises(sqlite3.OperationalError, match="value"):
        cache.get("k")


def test_many_key_calls_of_every_size(db: Database) -> None:
    table = new_table()
    cache = make_cache(table, OPTIONS={"MAX_ENTRIES": 10_000})
    data = {f"key{i}": i for i in range(700)}
    cache.set_many(data)
    for size in (1, 3, 5, 300, 513, 1100):
        keys = [f"key{i}" for i in range(size)]
        assert cache.get_many(keys) == {key: data[key] for key in keys if key in data}, size
    cache.delete_many([f"key{i}" for i in range(0, 700, 2)] + ["absent"])
    assert db.count(table) == 350
    assert cache.get_many(["key0", "key1", "key2", "key3"]) == {"key1": 1, "key3": 3}


def test_touch_on_a_full_table_does_not_cull_the_touched_key(db: Database) -> None:
    table = new_table()
    cache = make_cache(table, OPTIONS={"MAX_ENTRIES": 10})
    for i in range(10):
        cache.set(f"key{i}", i, 100 + i)
    assert db.count(table) == 10
    for _ in range(3):
        assert cache.touch("key0", 50) is True  # the soonest to expire
    assert cache.get("key0") == 0
    assert db.count(table) == 10


def _hammer(table: str, worker: int, errors: Any) -> None:
    try:
        cache = make_cache(table, OPTIONS={"MAX_ENTRIES": 10_000})
        for i in range(50):
            cache.incr("counter")
            cache.set(f"w{worker}-{i}", {"worker": worker, "i": i})
            assert cache.get(f"w{worker}-{i}") == {"worker": worker, "i": i}
            cache.add("shared", worker)
            assert cache.get("shared") in range(4)
    except BaseException as exc:
        errors.put(f"worker {worker}: {exc!r}")


def test_processes_share_the_table_safely(db: Database) -> None:
    """Forked processes (after the parent used the pool) write one table at once."""
    import multiprocessing

    table = new_table()
    parent = make_cache(table)
    parent.set("counter", 0)
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    workers = [context.Process(target=_hammer, args=(table, n, errors)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert errors.empty(), errors.get()
    assert parent.get("counter") == 200
    assert parent.get("shared") in range(4)
    assert db.count(table) == 2 + 4 * 50


# -- signed values --------------------------------------------------------------


class _Plant:
    """Unpickling this creates a file: stands for any code an attacker would run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


FORGERIES: dict[str, Callable[[bytes], bytes]] = {
    "a bare pickle": lambda payload: payload,
    "a wrong signature": lambda payload: bytes(32) + payload,
    "signed with another secret": lambda payload: signed_pickle("not the secret", ":1:key", payload),
    "signed for another key": lambda payload: signed_pickle(TEST_SECRET, ":1:other", payload),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_row_is_a_miss_and_is_never_unpickled(db: Database, tmp_path: Path, forgery: str) -> None:
    probe, marker = tmp_path / "probe", tmp_path / "marker"
    pickle.loads(pickle.dumps(_Plant(probe)))
    assert probe.exists()  # the payload does run code when it is unpickled
    table = new_table()
    cache = make_cache(table)
    row = FORGERIES[forgery](pickle.dumps(_Plant(marker)))

    def plant() -> None:
        db.put_raw(table, ":1:key", row, time.time() + 100)

    plant()
    assert cache.get("key") is None
    assert cache.get("key", "default") == "default"
    assert cache.get_many(["key", "absent"]) == {}
    assert cache.has_key("key") is False
    with pytest.raises(ValueError, match="not found"):
        cache.incr("key")
    cache.touch("key", 200)  # does not read the value
    cache.add("key", "mine")  # does not read it either
    assert cache.get("key") in (None, "mine")
    plant()
    assert cache.get_or_set("key", "computed") == "computed"
    assert not marker.exists()


def test_a_value_moved_to_another_key_is_a_miss(db: Database) -> None:
    table = new_table()
    cache = make_cache(table)
    cache.set("mine", "secret value")
    (column,) = db.execute(f'SELECT value FROM "{table}" WHERE cache_key = ?', (":1:mine",))[0]
    db.put_raw(table, ":1:theirs", bytes(column), time.time() + 100)
    assert cache.get("theirs") is None
    assert cache.get("mine") == "secret value"


def test_values_are_signed_with_signing_key_first_then_secret_key(sqlite_db: Database) -> None:
    table = new_table()
    make_cache(table).set("by_secret", 1)
    make_cache(table, OPTIONS={"SIGNING_KEY": b"own key"}).set("by_option", 2)
    assert _rows_signed_by(sqlite_db, table, TEST_SECRET) == {":1:by_secret": 1}
    assert _rows_signed_by(sqlite_db, table, b"own key") == {":1:by_option": 2}


def _rows_signed_by(db: Database, table: str, secret: str | bytes) -> dict[str, Any]:
    found = {}
    for key, column in db.execute(f'SELECT cache_key, value FROM "{table}"'):
        pickled = bytes(column)[32:]
        if bytes(column) == signed_pickle(secret, key, pickled):
            found[key] = pickle.loads(pickled)
    return found


def test_sqlite_without_a_secret_keeps_a_private_key_beside_the_database(tmp_path: Path) -> None:
    database = Database.sqlite(tmp_path)
    key_file = Path(database.dbname + ".cachemere-key")
    with databases({"default": database.config()}, secret_key=None):
        table = new_table()
        make_cache(table).set("key", "value")
        info = key_file.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_size) == (0o600, 32)
        assert database.rows(table, secret=key_file.read_bytes()) == {":1:key": "value"}
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []
        dispose_all()  # as a new process would: new engine, key read from the file
        assert make_cache(table).get("key") == "value"
        assert key_file.stat().st_ino == info.st_ino
        key_file.chmod(0o644)
        dispose_all()
        with pytest.raises(ImproperlyConfigured, match="readable or writable by others"):
            make_cache(table)


def test_postgres_without_a_secret_is_refused(pg_database: Database) -> None:
    with databases({"default": pg_database.config()}, secret_key=None):
        with pytest.raises(
            ImproperlyConfigured,
            match=r"CACHES\['default'\]: .*set OPTIONS\['SIGNING_KEY'\] or the SECRET_KEY setting",
        ):
            make_cache("t")
        table = new_table()
        make_cache(table, OPTIONS={"SIGNING_KEY": "own key"}).set("key", "value")
        assert pg_database.rows(table, secret="own key") == {":1:key": "value"}


def test_sign_values_off_stores_bare_pickles(db: Database) -> None:
    table = new_table()
    cache = make_cache(table, OPTIONS={"SIGN_VALUES": False})
    cache.set("key", [1, 2])
    assert db.rows(table, secret=None) == {":1:key": [1, 2]}
    assert cache.get("key") == [1, 2]
    with pytest.raises(ImproperlyConfigured, match=r"OPTIONS\['SIGN_VALUES'\] must be True or False"):
        make_cache(table, OPTIONS={"SIGN_VALUES": "no"})


# -- one clock, options, missing libraries -----------------------------------------


def test_expiry_follows_a_patched_time_time(db: Database) -> None:
    cache = make_cache(new_table())
    # Far in the past: a second clock (the real time) would see every row as expired.
    base = time.time() - 100_000
    with mock.patch.object(time, "time", return_value=base):
        cache.set("key", "value", 60)
        cache.set_many({"many": 1}, 60)
        assert cache.add("added", 1, 60) is True
        assert cache.get("key") == "value"
        assert cache.get_many(["key", "many", "added"]) == {"key": "value", "many": 1, "added": 1}
        assert cache.has_key("key") is True
        assert cache.incr("many") == 2
        assert cache.touch("added", 60) is True
    with mock.patch.object(time, "time", return_value=base + 120):
        assert cache.get("key") is None
        assert cache.get_many(["key", "many", "added"]) == {}
        assert cache.add("key", "again", 60) is True
        assert cache.get("key") == "again"


def test_misspelt_options_are_refused_with_a_suggestion(sqlite_db: Database) -> None:
    with pytest.raises(
        ImproperlyConfigured,
        match=r"CACHES\['default'\]: unknown OPTIONS key 'MAX_ENTRIE' \(did you mean 'MAX_ENTRIES'\?\)",
    ):
        make_cache("t", OPTIONS={"MAX_ENTRIE": 10})


@pytest.mark.parametrize(
    ("hidden", "url", "extra"),
    [
        ("sqlalchemy", "sqlite:///cache.sqlite3", "cachemere[sql]"),
        ("psycopg", "postgresql://cache@127.0.0.1:1/site", "cachemere[postgres]"),
    ],
)
def test_a_missing_library_names_the_extra_to_install(
    tmp_path: Path, hidden: str, url: str, extra: str
) -> None:
    code = f"""
import sys
sys.modules[{hidden!r}] = None  # as if it were not installed
from cachemere import CacheHandler
handler = CacheHandler(
    {{"default": {{"BACKEND": {DB_BACKEND!r}, "LOCATION": "t"}}}},
    DATABASES={{"default": {{"URL": {url!r}}}}},
    SECRET_KEY="s",
)
try:
    handler["default"]
except Exception as exc:
    print(type(exc).__name__, exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert f"pip install '{extra}'" in result.stdout, result.stdout + result.stderr


# -- explicit handlers ------------------------------------------------------------


class _ToElsewhere:
    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "elsewhere"

    db_for_write = db_for_read


def test_an_explicit_handler_uses_its_own_databases_routers_and_secret(tmp_path: Path) -> None:
    first, second, global_db = (Database.sqlite(tmp_path, name) for name in ("first", "second", "global"))
    table = "handler table"
    entry = {"default": {"BACKEND": DB_BACKEND, "LOCATION": table}}
    with databases({"default": global_db.config()}, secret_key="global secret"):
        handlers = [
            CacheHandler(entry, DATABASES={"default": first.config()}, SECRET_KEY="first secret"),
            CacheHandler(entry, DATABASES={"default": second.config()}, SECRET_KEY="second secret"),
            CacheHandler(
                entry,
                DATABASES={"default": first.config(), "elsewhere": second.config()},
                DATABASE_ROUTERS=[_ToElsewhere()],
                SECRET_KEY="routed secret",
            ),
        ]
        caches = [handler["default"] for handler in handlers]
        for cache in caches[:2]:
            create_table("default", table, out=io.StringIO(), source=cache.settings)
        caches[0].set("key", "first")
        caches[1].set("key", "second")
        caches[2].set("routed", "elsewhere")
        # The third reads the second's database, but not with the second's secret.
        assert [cache.get("key") for cache in caches] == ["first", "second", None]
        assert caches[2].get("routed") == "elsewhere"
        assert first.rows(table, secret="first secret") == {":1:key": "first"}
        assert _rows_signed_by(second, table, "second secret") == {":1:key": "second"}
        assert _rows_signed_by(second, table, "routed secret") == {":1:routed": "elsewhere"}
        assert caches[0]._writer()[0].engine is not caches[1]._writer()[0].engine
    assert not Path(global_db.dbname).exists()


# -- PostgreSQL under load and restarts ------------------------------------------


def _set_many_worker(table: str, worker: int, errors: Any) -> None:
    cache = make_cache(table, OPTIONS={"MAX_ENTRIES": 100_000})
    keys = [f"key{i}" for i in range(200)]
    shuffle = random.Random(worker).shuffle
    for batch in range(15):
        shuffle(keys)
        try:
            cache.set_many({key: (worker, batch) for key in keys})
        except Exception as exc:
            errors.put(f"worker {worker}, batch {batch}: {exc!r}")


def test_concurrent_set_many_of_the_same_keys_do_not_deadlock(pg_database: Database) -> None:
    import multiprocessing

    with databases({"default": pg_database.config()}):
        table = new_table()
        make_cache(table).set("warm", 1)
        context = multiprocessing.get_context("fork")
        errors = context.Queue()
        workers = [context.Process(target=_set_many_worker, args=(table, n, errors)) for n in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert [worker.exitcode for worker in workers] == [0] * 6
        failures = []
        while not errors.empty():
            failures.append(errors.get())
        assert failures == []
        found = make_cache(table).get_many([f"key{i}" for i in range(200)])
        assert len(found) == 200
        assert all(value[1] in range(15) for value in found.values())


def test_after_a_server_restart_only_the_operation_that_met_it_fails() -> None:
    server = start_postgres()
    try:
        database = Database.postgres(server, "restart")
        with databases({"default": database.config()}):
            cache = make_cache(new_table())
            cache.set("key", "value")
            engine = engine_for("default", settings)
            held = [engine.raw_connection() for _ in range(4)]
            for connection in held:
                connection.close()
            assert engine.pool.checkedin() >= 4  # type: ignore[attr-defined]
            server.restart()
            outcomes: list[Any] = []
            for _ in range(6):
                try:
                    outcomes.append(cache.get("key"))
                except psycopg.OperationalError:
                    outcomes.append("failed")
            assert outcomes[1:] == ["value"] * 5, outcomes
            cache.set("after", 1)
            assert cache.get("after") == 1
    finally:
        server.stop()
