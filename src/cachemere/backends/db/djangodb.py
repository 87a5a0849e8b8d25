"""Django-style ``DATABASES`` entries (``ENGINE``, ``NAME``, ``USER``, ...) as cachemere's ``URL`` form.

Inside a Django project the database cache reads Django's ``DATABASES`` and
reaches the same database through its own SQLAlchemy engine: each entry is
translated here.  SQLite files and Django's in-memory test databases
(``file:memorydb_...?mode=memory&cache=shared``) and PostgreSQL (psycopg 3)
are supported; any other engine is an error naming the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from ...exceptions import ImproperlyConfigured

SQLITE_ENGINES = frozenset({"django.db.backends.sqlite3"})
POSTGRES_ENGINES = frozenset({"django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"})
#: Django OPTIONS that configure Django's own connection handling, not where
#: or how to connect: not passed to the driver (docs/django.md).
DJANGO_ONLY_OPTIONS = frozenset(
    {"isolation_level", "pool", "server_side_binding", "assume_role", "init_command", "transaction_mode"}
)
#: The parts of an entry that decide the translation (the test runner rewrites NAME in place).
SIGNATURE_KEYS = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")


def is_django_entry(entry: Mapping[str, Any]) -> bool:
    """True for a Django-style entry (it has ``ENGINE``)."""
    return "ENGINE" in entry


def signature(databases: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What the translation of ``databases`` depends on, for memoizing; None when nothing is Django-style."""
    if not any(isinstance(entry, Mapping) and is_django_entry(entry) for entry in databases.values()):
        return None
    return tuple(
        (name, tuple(str(entry.get(key)) for key in SIGNATURE_KEYS), repr(entry.get("OPTIONS")))
        for name, entry in databases.items()
        if isinstance(entry, Mapping)
    )


def translate(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """``{"URL": ..., "OPTIONS": ...}`` for Django-style entry ``name``."""
    from sqlalchemy.engine import URL

    where = f"DATABASES[{name!r}]"
    engine = entry.get("ENGINE")
    options = entry.get("OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise ImproperlyConfigured(f"{where}['OPTIONS'] must be a dict, got {options!r}")
    connect_args = {key: value for key, value in options.items() if key not in DJANGO_ONLY_OPTIONS}
    db_name = entry.get("NAME")
    engine_options: dict[str, Any] = {}
    if engine in SQLITE_ENGINES:
        if not db_name:
            raise ImproperlyConfigured(f"{where} has no 'NAME' (the SQLite database file)")
        path = str(db_name)
        query: dict[str, str] = {}
        if path.startswith("file:"):
            # A URI filename (Django's shared in-memory test databases are one):
            # SQLAlchemy takes its parameters in the URL's query.
            path, _, params = path.partition("?")
            query = {**dict(parse_qsl(params)), "uri": "true"}
            if query.get("mode") == "memory":
                # One connection per thread, as SQLAlchemy picks for memory
                # databases (said explicitly: picking it implicitly is deprecated).
                from sqlalchemy.pool import SingletonThreadPool

                engine_options["poolclass"] = SingletonThreadPool
        url = URL.create("sqlite", database=path, query=query)
        # ":memory:" stays ":memory:", which is per connection (docs/db.md).
    elif engine in POSTGRES_ENGINES:
        host = str(entry.get("HOST") or "")
        port = entry.get("PORT")
        query = {}
        if host.startswith("/"):
            # A Unix socket directory, as Django (libpq) takes it.
            query["host"] = host
            host = ""
        url = URL.create(
            "postgresql+psycopg",
            username=entry.get("USER") or None,
            password=entry.get("PASSWORD") or None,
            host=host or None,
            port=int(port) if port else None,
            database=str(db_name) if db_name else "postgres",
            query=query,
        )
    else:
        raise ImproperlyConfigured(
            f"{where} uses ENGINE {engine!r}; the database cache supports "
            "django.db.backends.sqlite3 and django.db.backends.postgresql"
        )
    return {
        "URL": url.render_as_string(hide_password=False),
        "OPTIONS": {**engine_options, **({"connect_args": connect_args} if connect_args else {})},
    }
