"""Database caches: cachemere's DatabaseCache against Django's, on SQLite and on PostgreSQL.

Each case fills a fresh table with N entries (0, 1,000 or 10,000, written
directly with SQL), then times ``set`` (keys cycling over the N already
stored, so the table stays at N while MAX_ENTRIES is above it, and culls run
while it is below) and ``get`` of a stored key.  Both systems use their own
table in the same database; a router sends each table to its database.
Django runs with its defaults (SQLite: rollback journal, synchronous=FULL);
cachemere with its own (WAL, synchronous=NORMAL; docs/db.md).  The
PostgreSQL 15 server is started here (``fsync=off``), as in the tests.

The suite runs in a child process: Django's settings can be configured only
once per process.  Needs the ``[bench]`` and ``[postgres]`` extras.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from harness import Case, measure, table  # noqa: E402

VALUE = "v" * 100
#: cachemere signs its values (docs/db.md): the suite measures that, with this secret.
SECRET_KEY = "benchmark secret"
#: (entries stored, MAX_ENTRIES): above the count, then below it.
SCENARIOS = [(0, 300), (1_000, 2_000), (1_000, 500), (10_000, 20_000), (10_000, 5_000)]
DATABASES = ("sqlite", "pg")
SET_CALLS = 300
GET_CALLS = 2_000
HOT_KEY = "zhot"  # sorts last: Django culls the smallest keys, cachemere the soonest to expire


def table_name(system: str, db: str, entries: int, max_entries: int) -> str:
    # Not "sqlite_..." first: SQLite reserves those names.
    return f"{system}_{entries}_{max_entries}_in_{db}"


def alias(db: str, entries: int, max_entries: int) -> str:
    return f"{db}-{entries}-{max_entries}"


def _db_of(model: Any) -> str:
    return model._meta.db_table.rsplit("_in_", 1)[1]


class BenchRouter:
    """Sends each cache table to the database its name ends with (for both systems)."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return _db_of(model)

    db_for_write = db_for_read

    def allow_migrate(self, db: str, app_label: str, model_name: Any = None, **hints: Any) -> bool | None:
        model = hints.get("model")
        return None if model is None else _db_of(model) == db


def _configure(workdir: Path, pg_url: str, port: int) -> None:
    import django
    from django.conf import settings

    import cachemere

    caches: dict[str, Any] = {}
    ours: dict[str, Any] = {"default": {"BACKEND": "cachemere.backends.locmem.LocMemCache"}}
    for db in DATABASES:
        for entries, max_entries in SCENARIOS:
            name = alias(db, entries, max_entries)
            options = {"MAX_ENTRIES": max_entries}
            caches[name] = {
                "BACKEND": "django.core.cache.backends.db.DatabaseCache",
                "LOCATION": table_name("django", db, entries, max_entries),
                "OPTIONS": options,
            }
            ours[name] = {
                "BACKEND": "cachemere.backends.db.DatabaseCache",
                "LOCATION": table_name("cachemere", db, entries, max_entries),
                "OPTIONS": options,
            }
    settings.configure(
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(workdir / "django.sqlite3")},
            "sqlite": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(workdir / "django.sqlite3")},
            "pg": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "bench",
                "USER": "postgres",
                "HOST": "127.0.0.1",
                "PORT": str(port),
            },
        },
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, **caches},
        DATABASE_ROUTERS=[BenchRouter()],
        USE_TZ=True,
        INSTALLED_APPS=[],
    )
    django.setup()
    cachemere.configure(
        CACHES=ours,
        DATABASES={"sqlite": {"URL": f"sqlite:///{workdir / 'cachemere.sqlite3'}"}, "pg": {"URL": pg_url}},
        DATABASE_ROUTERS=[BenchRouter()],
        SECRET_KEY=SECRET_KEY,
    )


def _fill_django(db: str, name: str, entries: int) -> None:
    from django.core.management import call_command
    from django.db import connections, transaction

    call_command("createcachetable", database=db, verbosity=0)
    connection = connections[db]
    expires = connection.ops.adapt_datetimefield_value(
        datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(hours=1)
    )
    value = base64.b64encode(pickle.dumps(VALUE, pickle.HIGHEST_PROTOCOL)).decode("latin1")
    rows = [(f":1:k{i}", value, expires) for i in range(entries)]
    quoted = connection.ops.quote_name(name)
    with transaction.atomic(using=db), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quoted}")
        if rows:
            cursor.executemany(f"INSERT INTO {quoted} (cache_key, value, expires) VALUES (%s, %s, %s)", rows)


def _fill_ours(db: str, name: str, entries: int) -> None:
    import io

    from sqlalchemy import delete, insert

    from cachemere.backends.db.backend import _pack
    from cachemere.backends.db.table import cache_table
    from cachemere.cli.createcachetable import create_table
    from cachemere.conf import settings
    from cachemere.signing import derive_key

    create_table(db, name, out=io.StringIO())
    target = cache_table(db, name, settings)
    signing_key = derive_key(SECRET_KEY.encode(), "db")
    rows = [
        {"cache_key": made, "value": _pack(signing_key, made, VALUE), "expires": time.time() + 3600}
        for made in (f":1:k{i}" for i in range(entries))
    ]
    with target.engine.connect() as conn:
        if target.engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            conn.execute(delete(target.table))
            if rows:
                conn.execute(insert(target.table), rows)


def _setter(cache: Any, entries: int) -> Any:
    counter = itertools.count()
    if entries == 0:
        return lambda: cache.set("k0", VALUE)
    return lambda: cache.set(f"k{next(counter) % entries}", VALUE)


def _cases(db: str) -> list[Case]:
    from django.core.cache import caches as django_caches

    from cachemere import caches as our_caches

    cases = []
    for entries, max_entries in SCENARIOS:
        name = alias(db, entries, max_entries)
        _fill_django(db, table_name("django", db, entries, max_entries), entries)
        _fill_ours(db, table_name("cachemere", db, entries, max_entries), entries)
        systems = {"cachemere": our_caches[name], "django": django_caches[name]}
        for cache in systems.values():
            cache.set(HOT_KEY, VALUE, None)
        label = f"{entries:,} entries, MAX_ENTRIES {max_entries:,}"
        cases.append(
            Case(f"set, {label}", {s: _setter(c, entries) for s, c in systems.items()}, number=SET_CALLS)
        )
        cases.append(
            Case(
                f"get hit, {label}",
                {s: (lambda c=c: c.get(HOT_KEY)) for s, c in systems.items()},
                number=GET_CALLS,
            )
        )
    return cases


def _child(rounds: int) -> str:
    from servers.postgres import start_postgres

    server = start_postgres()
    try:
        server.create_database("bench")
        with tempfile.TemporaryDirectory(prefix="cachemere-bench-db-") as workdir:
            _configure(Path(workdir), server.url("bench"), server.port)
            out = []
            for db, title in (("sqlite", "SQLite"), ("pg", "PostgreSQL 15")):
                cases = _cases(db)
                measure(cases, rounds)
                _check_hot(db)
                out.append(f"**{title}**\n\n" + table(cases, ["cachemere", "django"], "django", "cachemere"))
            _close()
            return "\n\n".join(out)
    finally:
        server.stop()


def _check_hot(db: str) -> None:
    """Both systems must still hand back the stored value (the gets were hits)."""
    from django.core.cache import caches as django_caches

    from cachemere import caches as our_caches

    for entries, max_entries in SCENARIOS:
        name = alias(db, entries, max_entries)
        assert our_caches[name].get(HOT_KEY) == VALUE, name
        assert django_caches[name].get(HOT_KEY) == VALUE, name


def _close() -> None:
    from django.db import connections

    from cachemere.backends.db.engines import dispose_all

    connections.close_all()
    dispose_all()


def main(rounds: int = 7) -> str:
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(rounds)], capture_output=True, text=True, check=False
    )
    if child.returncode:
        raise RuntimeError(f"suite_db failed:\n{child.stdout}\n{child.stderr}")
    notes = (
        f"Median (best) calls/s over {rounds} interleaved rounds.  `set` cycles over the N stored keys "
        "(a new row for each set once culling has begun); `get` reads one stored 100-byte string.  "
        "Django's defaults on SQLite (rollback journal, synchronous=FULL) against cachemere's "
        "(WAL, synchronous=NORMAL); PostgreSQL 15 with fsync=off for both.  cachemere's values are "
        "signed (HMAC-SHA256), Django's are not."
    )
    return notes + "\n\n" + child.stdout.strip()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(_child(int(sys.argv[2])))
    else:
        print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
