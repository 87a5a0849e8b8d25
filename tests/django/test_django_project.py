"""cachemere's backends in a Django project's CACHES: the low-level API sync and async, Django's
page middleware, cache_page, {% cache %} tag, sessions, close at request end, the database cache
on Django's DATABASES and routers, createcachetable, system checks and cachemere_check.

Each case runs helpers/django_project_scenarios.py in a subprocess with the project of
helpers/django_project.py, against real redis, memcached and PostgreSQL servers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.django_suite import REPO, VERSIONS, Servers, python_for, start_servers


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with start_servers() as started:
        started.postgres.create_database("project")
        started.postgres.create_database("project_other")
        yield started


def run(
    tmp_path: Path, backend: str, location: str, *scenarios: str, pg_port: int | None = None, python: str = ""
) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpers.django_project",
        "DJP_BACKEND": backend,
        "DJP_LOCATION": location,
        "DJP_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO / "src")]),
    }
    env.pop("CACHEMERE_SETTINGS_MODULE", None)
    if pg_port is not None:
        env["DJP_PG_PORT"] = str(pg_port)
    proc = subprocess.run(
        [python or sys.executable, "-m", "helpers.django_project_scenarios", *scenarios],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout
    for name in scenarios:
        assert f"{name} ok" in proc.stdout.splitlines(), proc.stdout
    return proc.stdout


def location(backend: str, servers: Servers, tmp_path: Path) -> str:
    return {
        "locmem": "project",
        "filebased": str(tmp_path / "files"),
        "db": "project cache",
        "redis": servers.redis_url,
        "pymemcache": servers.memcached,
        "pylibmc": servers.memcached,
        "dummy": "",
    }[backend]


EVERYDAY = ("api", "pages", "close_at_request_end")


@pytest.mark.parametrize("backend", ["locmem", "filebased", "redis", "pymemcache", "pylibmc", "dummy"])
def test_backend_in_a_django_project(backend: str, servers: Servers, tmp_path: Path) -> None:
    extra = {"filebased": ("signed_with_secret_key",), "locmem": ("sessions",), "redis": ("sessions",)}
    run(tmp_path, backend, location(backend, servers, tmp_path), *EVERYDAY, *extra.get(backend, ()))


def test_database_cache_on_djangos_sqlite_databases(servers: Servers, tmp_path: Path) -> None:
    run(tmp_path, "db", "project cache", "database", *EVERYDAY, "signed_with_secret_key", "sessions")


def test_database_cache_on_djangos_postgresql_databases(servers: Servers, tmp_path: Path) -> None:
    run(tmp_path, "db", "project cache", "database", *EVERYDAY, "sessions", pg_port=servers.pg_port)


def test_system_checks_and_cachemere_check(servers: Servers, tmp_path: Path) -> None:
    run(tmp_path, "locmem", "project", "checks", "cachemere_check")


def test_where_backends_read_their_settings(servers: Servers, tmp_path: Path) -> None:
    run(tmp_path, "locmem", "project", "settings_source")


def test_the_app_and_a_database_cache_under_django_6_1(servers: Servers, tmp_path: Path) -> None:
    """The same project on Django 6.1 (its own Python 3.12 environment, shared with the suite test)."""
    python = python_for(VERSIONS["6.1"])
    out = run(tmp_path, "db", "project cache", "database", *EVERYDAY, "sessions", "checks", python=python)
    assert f"django {VERSIONS['6.1']}" in out.splitlines()
