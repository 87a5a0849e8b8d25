"""Django-style DATABASES entries, as the database cache reads them inside a Django project."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachemere import CacheHandler
from cachemere.backends.db.djangodb import translate
from cachemere.backends.db.engines import database_settings, databases
from cachemere.exceptions import ImproperlyConfigured


def test_sqlite_file() -> None:
    got = translate("default", {"ENGINE": "django.db.backends.sqlite3", "NAME": Path("/srv/site/db.sqlite3")})
    assert got == {"URL": "sqlite:////srv/site/db.sqlite3", "OPTIONS": {}}


def test_sqlite_shared_memory_test_database_keeps_its_uri_parameters() -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import SingletonThreadPool

    got = translate(
        "default",
        {"ENGINE": "django.db.backends.sqlite3", "NAME": "file:memorydb_default?mode=memory&cache=shared"},
    )
    url = make_url(got["URL"])
    assert url.database == "file:memorydb_default"
    assert dict(url.query) == {"mode": "memory", "cache": "shared", "uri": "true"}
    assert got["OPTIONS"] == {"poolclass": SingletonThreadPool}


def test_postgresql_with_a_password_that_needs_quoting() -> None:
    from sqlalchemy.engine import make_url

    entry = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "site",
        "USER": "web",
        "PASSWORD": "p@ss/w?rd",
        "HOST": "db.internal",
        "PORT": "5433",
        "OPTIONS": {"sslmode": "require", "pool": True, "isolation_level": 1},
    }
    got = translate("default", entry)
    url = make_url(got["URL"])
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg", "web", "p@ss/w?rd", "db.internal", 5433, "site",
    )  # fmt: skip
    # Driver options pass; Django's own connection-handling options do not.
    assert got["OPTIONS"] == {"connect_args": {"sslmode": "require"}}


def test_postgresql_socket_directory() -> None:
    from sqlalchemy.engine import make_url

    got = translate("default", {"ENGINE": "django.db.backends.postgresql", "NAME": "site", "HOST": "/run/pg"})
    url = make_url(got["URL"])
    assert url.host is None and url.query["host"] == "/run/pg"


def test_unsupported_engine_names_the_database() -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"DATABASES\['legacy'\] uses ENGINE 'django.db.backends.mysql'"
    ):
        translate("legacy", {"ENGINE": "django.db.backends.mysql", "NAME": "x"})


class Source:
    def __init__(self, databases: object) -> None:
        self.DATABASES = databases


def test_a_database_that_cannot_be_translated_fails_only_when_used() -> None:
    source = Source({
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/x.sqlite3"},
        "other": {"ENGINE": "django.db.backends.sqlite3"},  # Django's test runner leaves it unnamed
    })  # fmt: skip
    assert database_settings("default", source)["URL"] == "sqlite:////tmp/x.sqlite3"  # type: ignore[arg-type]
    with pytest.raises(ImproperlyConfigured, match=r"DATABASES\['other'\] has no 'NAME'"):
        database_settings("other", source)  # type: ignore[arg-type]


def test_renaming_a_database_in_place_is_noticed(tmp_path: Path) -> None:
    raw = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "a.sqlite3")}}
    source = Source(raw)
    assert databases(source)["default"]["URL"].endswith("a.sqlite3")  # type: ignore[arg-type]
    raw["default"]["NAME"] = str(tmp_path / "test_a.sqlite3")  # as Django's test runner does
    assert databases(source)["default"]["URL"].endswith("test_a.sqlite3")  # type: ignore[arg-type]


def test_a_cache_on_django_style_databases(tmp_path: Path) -> None:
    from cachemere.cli.createcachetable import create_table

    dbs = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "site.sqlite3")}}
    handler = CacheHandler(
        {"default": {"BACKEND": "cachemere.backends.db.DatabaseCache", "LOCATION": "cache"}},
        DATABASES=dbs,
        SECRET_KEY="s",
    )
    assert create_table("default", "cache", source=handler["default"].settings) == "created"
    handler["default"].set("k", [1], 30)
    assert handler["default"].get("k") == [1]
    assert (tmp_path / "site.sqlite3").exists()
