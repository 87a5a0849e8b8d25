"""Checks run inside the Django project: ``python -m helpers.django_project_scenarios NAME...``.

Each scenario asserts and exits non-zero with the traceback on a failure;
tests/django/test_django_project.py starts one subprocess per scenario and
backend (see :mod:`helpers.django_project` for why a subprocess).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import Callable
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpers.django_project")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache, caches  # noqa: E402
from django.core.cache.backends.base import BaseCache as DjangoBaseCache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

import cachemere  # noqa: E402
from cachemere.backends.base import BaseCache  # noqa: E402
from cachemere.conf import DjangoSettings  # noqa: E402
from helpers import django_project as project  # noqa: E402

SCENARIOS: dict[str, Callable[[], None]] = {}


def scenario(func: Callable[[], None]) -> Callable[[], None]:
    SCENARIOS[func.__name__] = func
    return func


def _migrate() -> None:
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)


@scenario
def api() -> None:
    """The low-level API through django.core.cache, sync and async, on the cachemere class."""
    backend = caches["default"]
    assert type(backend).__module__.startswith("cachemere.backends."), type(backend)
    assert isinstance(backend, BaseCache)
    # Decided: cachemere's classes do not subclass Django's BaseCache (no Django at import time).
    assert not isinstance(backend, DjangoBaseCache)
    assert isinstance(backend.settings, DjangoSettings)
    assert backend.settings.SECRET_KEY == settings.SECRET_KEY
    stores = project.KIND != "dummy"
    cache.clear()
    cache.set("k", {"v": [1, 2]}, 60)
    assert cache.get("k") == ({"v": [1, 2]} if stores else None)
    assert cache.add("k", "other") is (not stores)
    cache.set("n", 10)
    if stores:
        assert cache.incr("n", 5) == 15
        assert cache.decr("n") == 14
        assert cache.get_many(["k", "n", "missing"]) == {"k": {"v": [1, 2]}, "n": 14}
        assert cache.touch("k", 120) is True
        assert "k" in cache and cache.has_key("n")
        cache.set("vk", "v1", version=2)
        assert cache.get("vk") is None and cache.get("vk", version=2) == "v1"
        assert cache.incr_version("vk", version=2) == 3
    cache.set_many({"a": 1, "b": 2})
    cache.delete_many(["a", "b"])
    assert cache.get("a") is None

    async def async_api() -> None:
        await cache.aset("ak", "async", 60)
        assert await cache.aget("ak") == ("async" if stores else None)
        assert await cache.aget_or_set("ag", lambda: 7) == 7
        if stores:
            await cache.aset("an", 1)
            assert await cache.aincr("an") == 2
            assert await cache.aget_many(["ak", "an"]) == {"ak": "async", "an": 2}
        assert await cache.adelete("ak") is stores
        await cache.aclose()

    asyncio.run(async_api())
    cache.clear()


@scenario
def signed_with_secret_key() -> None:
    """A signing backend signs with Django's SECRET_KEY: another secret reads nothing."""
    cache.set("signed", "value", 60)
    entry = {key: value for key, value in settings.CACHES["default"].items()}
    same = cachemere.CacheHandler(
        {"default": entry}, SECRET_KEY=settings.SECRET_KEY, DATABASES=settings.DATABASES
    )
    other = cachemere.CacheHandler(
        {"default": entry}, SECRET_KEY="another secret", DATABASES=settings.DATABASES
    )
    assert same["default"].get("signed") == "value"
    assert other["default"].get("signed") is None


def _get(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response
    return response.content.decode()


@scenario
def pages() -> None:
    """Django's per-site middleware, cache_page and {% cache %} tag, served from cachemere's cache."""
    stores = project.KIND != "dummy"
    cache.clear()
    site = [
        "django.middleware.cache.UpdateCacheMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.cache.FetchFromCacheMiddleware",
    ]
    with override_settings(MIDDLEWARE=site, CACHE_MIDDLEWARE_SECONDS=60):
        client = Client()
        first = _get(client, "/counter/")
        assert (_get(client, "/counter/") == first) is stores
    client = Client()
    first = _get(client, "/page/")
    assert (_get(client, "/page/") == first) is stores
    first = _get(client, "/fragment/?who=ann")
    assert (_get(client, "/fragment/?who=ann") == first) is stores
    assert _get(client, "/fragment/?who=bob") != first  # vary_on: another user, another fragment


@scenario
def sessions() -> None:
    """Sessions in the cache (cache and cached_db engines)."""
    _migrate()
    for engine in ("django.contrib.sessions.backends.cache", "django.contrib.sessions.backends.cached_db"):
        with override_settings(SESSION_ENGINE=engine):
            client = Client()
            assert _get(client, "/session/") == "1"
            assert _get(client, "/session/") == "2"
            key = client.cookies[settings.SESSION_COOKIE_NAME].value
            prefix = (
                "django.contrib.sessions.cache"
                if engine.endswith(".cache")
                else "django.contrib.sessions.cached_db"
            )
            assert cache.get(prefix + key) == {"n": 2}, engine


@scenario
def close_at_request_end() -> None:
    """Django's request_finished signal closes the caches used by the request."""
    project.Closing.closed = 0
    _get(Client(), "/counter/")
    assert project.Closing.closed >= 1, project.Closing.closed


@scenario
def database() -> None:
    """The database cache uses Django's DATABASES (and routers); createcachetable makes cachemere's table."""
    from django.core.management.commands.createcachetable import Command as DjangoCommand
    from django.db import connections

    table = settings.CACHES["default"]["LOCATION"]

    def tables(alias: str) -> list[str]:
        return connections[alias].introspection.table_names()

    def drop(alias: str) -> None:
        with connections[alias].cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {connections[alias].ops.quote_name(table)}")

    drop("default")
    # Django's own command does not create a table for a cachemere cache.
    call_command(DjangoCommand(), verbosity=0)
    assert table not in tables("default")
    out = io.StringIO()
    call_command("createcachetable", verbosity=2, stdout=out)
    # Two aliases ("default" and "closing") use the table: created once, then found.
    assert out.getvalue() == f"Cache table '{table}' created.\nCache table '{table}' already exists.\n", (
        out.getvalue()
    )
    columns = {c.name: c for c in connections["default"].introspection.get_table_description(
        connections["default"].cursor(), table)}  # fmt: skip
    assert set(columns) == {"cache_key", "value", "expires"}
    caches["default"].set("row", "value", 60)
    with connections["default"].cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {connections['default'].ops.quote_name(table)}")
        assert cursor.fetchone()[0] == 1
    dry = io.StringIO()
    drop("other")
    call_command("createcachetable", database="other", dry_run=True, stdout=dry)
    assert dry.getvalue().startswith("CREATE TABLE"), dry.getvalue()

    class ToOther:
        def db_for_read(self, model: Any, **hints: Any) -> str | None:
            return "other" if model._meta.app_label == "django_cache" else None

        db_for_write = db_for_read

        def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
            return db == "other" if app_label == "django_cache" else None

    # A cache reads DATABASE_ROUTERS when it is made: overriding CACHES too makes new ones.
    with override_settings(DATABASE_ROUTERS=[ToOther()], CACHES=dict(settings.CACHES)):
        drop("default")
        call_command("createcachetable", database="default", verbosity=0)
        assert table not in tables("default")  # the router forbids it there
        call_command("createcachetable", database="other", verbosity=0)
        assert table in tables("other")
        caches["default"].set("routed", "there", 60)
        with connections["other"].cursor() as cursor:
            cursor.execute(f"SELECT cache_key FROM {connections['other'].ops.quote_name(table)}")
            assert [row[0] for row in cursor.fetchall()] == [":1:routed"]
    call_command("createcachetable", verbosity=0)  # back in default, for the next scenarios


@scenario
def checks() -> None:
    """System checks report misconfigured cachemere caches with an id and a hint."""
    from django.core import checks as django_checks
    from django.core.management.base import SystemCheckError

    bad = {
        "default": settings.CACHES["default"],
        "typo": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIE": 3}},
        "key": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "TIMEOUTS": 3},
        "missing": {"BACKEND": "cachemere.backends.nothere.NoCache"},
        "relative": {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": "relative-cache"},
    }
    media = os.path.join(project.DIRECTORY, "media")
    bad["served"] = {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": media + "/cache"}
    with override_settings(CACHES=bad, MEDIA_ROOT=media):
        found = [
            m
            for m in django_checks.run_checks(tags=[django_checks.Tags.caches])
            if m.id.startswith("cachemere")
        ]
        try:
            call_command("check")
        except SystemCheckError as exc:
            assert "cachemere.E003" in str(exc)
        else:
            raise AssertionError("manage.py check passed a misconfigured cache")
    expected = [
        ("cachemere.E003", "CACHES['typo']", "MAX_ENTRIE"),
        ("cachemere.E002", "CACHES['key']", "TIMEOUTS"),
        ("cachemere.E001", "CACHES['missing']", "nothere"),
        ("cachemere.E003", "CACHES['relative']", "relative-cache"),
        ("cachemere.W001", "CACHES['served']", "MEDIA_ROOT"),
    ]
    got = [(m.id, m.msg, bool(m.hint)) for m in found]
    assert len(found) == len(expected), got
    for check_id, alias, words in expected:
        assert any(i == check_id and alias in msg and words in msg and hint for i, msg, hint in got), (
            check_id,
            got,
        )
    with override_settings(CACHES={"default": settings.CACHES["default"]}):
        assert [
            m
            for m in django_checks.run_checks(tags=[django_checks.Tags.caches])
            if m.id.startswith("cachemere")
        ] == []


@scenario
def cachemere_check() -> None:
    """manage.py cachemere_check round-trips a probe through each cachemere cache."""
    from django.core.management.base import CommandError

    out = io.StringIO()
    call_command("cachemere_check", stdout=out)
    lines = out.getvalue().splitlines()
    row = next(line for line in lines if line.startswith("default "))
    assert ("ok" in row) and "error" not in row, out.getvalue()
    broken = {
        "default": {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1"}
    }
    with override_settings(CACHES=broken):
        try:
            call_command("cachemere_check", stdout=io.StringIO())
        except CommandError as exc:
            assert "1 of 1 caches failed" in str(exc)
        else:
            raise AssertionError("cachemere_check passed a cache it cannot reach")


@scenario
def settings_source() -> None:
    """Built without a handler's settings: Django's settings, unless cachemere's were given."""
    import warnings

    from django.core.cache.backends.base import CacheKeyWarning as DjangoKeyWarning
    from django.core.cache.backends.base import InvalidCacheKey as DjangoInvalidKey

    from cachemere.backends.locmem import LocMemCache
    from cachemere.backends.memcached import PyMemcacheCache
    from cachemere.exceptions import CacheKeyWarning, InvalidCacheKey

    direct = LocMemCache("direct", {})
    assert isinstance(direct.settings, DjangoSettings)
    with override_settings(SECRET_KEY="overridden"):
        assert direct.settings.SECRET_KEY == "overridden"
    with override_settings(SECRET_KEY=""):
        # Django refuses to hand out an empty one: to cachemere it is no secret.
        assert direct.settings.SECRET_KEY is None
        assert LocMemCache("direct", {}).get("anything") is None
    # Both Django's and cachemere's key warning and error classes.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        direct.set("a key with spaces", 1)
    assert caught and issubclass(caught[0].category, DjangoKeyWarning)
    assert issubclass(caught[0].category, CacheKeyWarning)
    try:
        PyMemcacheCache("127.0.0.1:1", {}).validate_key("a key with spaces")
    except DjangoInvalidKey as exc:
        assert isinstance(exc, InvalidCacheKey)
    else:
        raise AssertionError("no InvalidCacheKey")
    cachemere.configure(SECRET_KEY="cachemere's own")
    assert LocMemCache("direct", {}).settings.SECRET_KEY == "cachemere's own"


if __name__ == "__main__":
    print(f"django {django.__version__}", flush=True)
    for name in sys.argv[1:]:
        SCENARIOS[name]()
        print(f"{name} ok", flush=True)
