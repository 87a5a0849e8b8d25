"""The ``DATABASES`` setting and one SQLAlchemy Engine per database URL per process.

Every thread-local :class:`~cachemere.backends.db.DatabaseCache` instance
shares the engine (and so the connection pool) of its database.  SQLite
connections get the pragmas a cache wants (see docs/db.md); PostgreSQL goes
through psycopg 3.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...conf import suggest
from ...exceptions import ImproperlyConfigured
from . import djangodb

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ...conf import SettingsSource

DEFAULT_DB_ALIAS = "default"
#: The embedded default: a SQLite file in the working directory.
DEFAULT_DATABASES: dict[str, dict[str, Any]] = {DEFAULT_DB_ALIAS: {"URL": "sqlite:///cache.sqlite3"}}
DATABASE_KEYS = frozenset({"URL", "OPTIONS"})

#: Pragmas run on every new SQLite connection.  WAL lets readers run beside a
#: writer; synchronous=NORMAL skips the fsync per commit (a crash may lose the
#: last writes, never corrupt the file: fine for a cache); busy_timeout makes
#: a writer wait for the lock instead of failing at once.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
)

# The drivers we ship for: a bare "postgresql://" means psycopg 3 here, not psycopg2.
_DRIVER_ALIASES = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}

# Keyed by the resolved URL and engine options, never by the DATABASES name:
# two handlers may both call different databases "default".
_engines: dict[tuple[str, str], Engine] = {}
_engines_lock = threading.Lock()
# id(raw DATABASES value) -> (that value, kept alive so the id stays its own;
# the Django-style signature it was translated under; validated form).
_validated: dict[int, tuple[Any, Any, dict[str, dict[str, Any]]]] = {}
_VALIDATED_KEPT = 16


def validate_databases(databases: Any) -> dict[str, dict[str, Any]]:
    """Check a ``DATABASES`` dict; errors name the database and the key."""
    if not isinstance(databases, Mapping):
        raise ImproperlyConfigured(f"DATABASES must be a dict of name to settings, got {databases!r}")
    result: dict[str, dict[str, Any]] = {}
    for name, entry in databases.items():
        where = f"DATABASES[{name!r}]"
        if not isinstance(entry, Mapping):
            raise ImproperlyConfigured(f"{where} must be a dict, got {entry!r}")
        if djangodb.is_django_entry(entry):
            try:
                entry = djangodb.translate(str(name), entry)
            except ImproperlyConfigured as exc:
                # Django accepts a database it never connects to (a test
                # database not set up, say): fail only when it is used.
                result[str(name)] = {"URL": None, "OPTIONS": {}, "ERROR": str(exc)}
                continue
        for key in entry:
            if key not in DATABASE_KEYS:
                raise ImproperlyConfigured(
                    f"{where} has an unknown key {key!r}{suggest(str(key), DATABASE_KEYS)}; "
                    f"allowed keys are {', '.join(sorted(DATABASE_KEYS))}"
                )
        url = entry.get("URL")
        if not isinstance(url, str) or not url:
            raise ImproperlyConfigured(f"{where}['URL'] must be a database URL string, got {url!r}")
        options = entry.get("OPTIONS")
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise ImproperlyConfigured(f"{where}['OPTIONS'] must be a dict, got {options!r}")
        result[str(name)] = {"URL": url, "OPTIONS": dict(options)}
    return result


def databases(source: SettingsSource) -> dict[str, dict[str, Any]]:
    """The validated ``DATABASES`` setting of ``source`` (the embedded default when empty)."""
    raw = source.DATABASES
    # Django's test runner rewrites a database's NAME in place: a Django-style
    # dict is translated again when what the translation depends on changed.
    sig = djangodb.signature(raw) if isinstance(raw, Mapping) else None
    cached = _validated.get(id(raw))
    if cached is not None and cached[0] is raw and cached[1] == sig:
        return cached[2]
    result = validate_databases(raw or DEFAULT_DATABASES)
    if len(_validated) >= _VALIDATED_KEPT:
        _validated.clear()
    _validated[id(raw)] = (raw, sig, result)
    return result


def database_settings(name: str, source: SettingsSource) -> dict[str, Any]:
    """One database's settings; an unknown name is an error listing the known ones."""
    configured = databases(source)
    try:
        config = configured[name]
    except KeyError:
        known = ", ".join(repr(n) for n in configured)
        raise ImproperlyConfigured(
            f"the database {name!r} is not in DATABASES (configured: {known})"
        ) from None
    if "ERROR" in config:
        raise ImproperlyConfigured(config["ERROR"])
    return config


def _make_url(name: str, raw: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ImproperlyConfigured(f"DATABASES[{name!r}]['URL'] is not a database URL: {exc}") from exc
    driver = _DRIVER_ALIASES.get(url.drivername)
    return url.set(drivername=driver) if driver else url


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _create(name: str, url: Any, options: dict[str, Any]) -> Engine:
    from sqlalchemy import create_engine, event

    kwargs = dict(options)
    if url.get_backend_name() == "postgresql":
        # Every cache operation is one statement: autocommit saves the BEGIN and
        # COMMIT round trips.  Multi-statement work opts into a transaction.
        kwargs.setdefault("isolation_level", "AUTOCOMMIT")
        kwargs.setdefault("pool_pre_ping", False)
    try:
        engine = create_engine(url, **kwargs)
    except TypeError as exc:
        raise ImproperlyConfigured(f"DATABASES[{name!r}]['OPTIONS'] is not valid: {exc}") from exc
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"DATABASES[{name!r}] needs a driver that is not installed ({exc}); "
            "for PostgreSQL: pip install 'cachemere[postgres]'"
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def engine_for(name: str, source: SettingsSource) -> Engine:
    """The process-wide Engine of database ``name`` of ``source``'s ``DATABASES``, made on first use."""
    config = database_settings(name, source)
    url = _make_url(name, config["URL"])
    options = config["OPTIONS"]
    key = (url.render_as_string(hide_password=False), repr(sorted(options.items())))
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _create(name, url, options)
        return engine


def describe(engine: Engine) -> str:
    """The engine's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


def dispose_all() -> None:
    """Close every pooled connection and forget the engines (tests, shutdown)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


def _after_fork_in_child() -> None:
    # A forked child must not use the parent's sockets; drop them without closing.
    for engine in list(_engines.values()):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
