"""``cachemere createcachetable``: create the table of every database cache.

One table per database cache (its ``LOCATION``), in every configured database
where the ``DATABASE_ROUTERS`` allow migrating the ``CacheEntry`` model (all of
them without routers), or only in ``--database``.  Existing tables are left
alone; ``--dry-run`` prints the SQL instead of running it.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from ..conf import settings
from ..exceptions import ImproperlyConfigured
from ..handler import CacheHandler
from ..utils import resolve

if TYPE_CHECKING:
    from ..conf import SettingsSource


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "createcachetable",
        help="create the tables of the database caches",
        description=(
            "Create the table of every database cache in the databases the routers allow "
            "(every configured database without routers). Existing tables are left alone. "
            "Exit status 1 if a table could not be created, 2 if the settings are wrong."
        ),
    )
    parser.add_argument("--database", metavar="NAME", help="only this database (a DATABASES name)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the SQL that would be run instead of running it"
    )
    parser.set_defaults(run=run)
    return parser


def database_cache_tables() -> list[tuple[str, str]]:
    """``(alias, table)`` of every database cache in ``CACHES``, in settings order."""
    from ..backends.db import DatabaseCache

    # The global handler: an explicit CacheHandler(CACHES) would build the
    # caches with its own (default) DATABASES and SECRET_KEY, not the settings'.
    handler = CacheHandler()
    found = []
    for alias, entry in settings.CACHES.items():
        try:
            backend = resolve(entry["BACKEND"])
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"CACHES[{alias!r}]: backend {entry['BACKEND']!r} cannot be imported: {exc}"
            ) from exc
        if isinstance(backend, type) and issubclass(backend, DatabaseCache):
            cache = handler.create_connection(alias)
            found.append((alias, cache.table_name))  # type: ignore[attr-defined]
    return found


def _create_sql(table: Any) -> list[Any]:
    from sqlalchemy.schema import CreateIndex, CreateTable

    # IF NOT EXISTS: two hosts deploying at once must not fail each other.
    return [CreateTable(table, if_not_exists=True)] + [
        CreateIndex(index, if_not_exists=True) for index in sorted(table.indexes, key=lambda i: i.name)
    ]


def create_table(
    db: str,
    name: str,
    dry_run: bool = False,
    out: TextIO | None = None,
    source: SettingsSource | None = None,
) -> str:
    """Create cache table ``name`` in database ``db`` unless the routers forbid it.

    ``source`` holds ``DATABASES`` and ``DATABASE_ROUTERS`` (default: the
    global settings).  Returns what happened: ``"skipped"`` (routers),
    ``"exists"``, ``"printed"`` or ``"created"``.
    """
    from sqlalchemy import inspect

    from ..backends.db.routing import router_chain
    from ..backends.db.schema import cache_entry_model
    from ..backends.db.table import cache_table

    out = out or sys.stdout
    source = source or settings
    if not router_chain(source).allow_migrate(db, cache_entry_model(name)):
        return "skipped"
    target = cache_table(db, name, source)
    engine = target.engine
    if inspect(engine).has_table(name):
        print(f"Cache table {name!r} already exists in database {db!r}.", file=out)
        return "exists"
    statements = _create_sql(target.table)
    if dry_run:
        for statement in statements:
            print(f"{str(statement.compile(engine)).strip()};", file=out)
        return "printed"
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # The engine autocommits; DDL is transactional here, so make it all or nothing.
            conn = conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            for statement in statements:
                conn.execute(statement)
    print(f"Cache table {name!r} created in database {db!r}.", file=out)
    return "created"


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from ..backends.db.engines import database_settings, databases

    try:
        tables = database_cache_tables()
        if args.database is not None:
            database_settings(args.database, settings)  # an unknown name is an error
            names = [args.database]
        else:
            names = list(databases(settings))
    except ImproperlyConfigured as exc:
        print(f"cachemere createcachetable: {exc}", file=sys.stderr)
        return 2
    if not tables:
        print("No database caches are configured.")
        return 0
    status = 0
    done: set[tuple[str, str]] = set()
    for _alias, name in tables:
        for db in names:
            if (db, name) in done:
                continue
            done.add((db, name))
            try:
                create_table(db, name, dry_run=args.dry_run)
            except ImproperlyConfigured as exc:
                print(f"cachemere createcachetable: {exc}", file=sys.stderr)
                return 2
            except SQLAlchemyError as exc:
                print(
                    f"Cache table {name!r} could not be created in database {db!r}: {exc}",
                    file=sys.stderr,
                )
                status = 1
    return status
