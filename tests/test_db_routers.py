"""Database routers: Django's documented ``CacheRouter`` works verbatim.

Reads (get, get_many, has_key) go to ``db_for_read``, writes to
``db_for_write``; shown on two real databases by writing to the replica's
table behind the cache's back and reading it through the cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cachemere.backends.db.routing import RouterChain
from cachemere.backends.db.schema import cache_entry_model
from cachemere.backends.db.table import cache_table
from cachemere.conf import settings
from cachemere.exceptions import ImproperlyConfigured
from helpers.db import Database, databases, make_cache, make_table
from servers.postgres import postgres_server

__all__ = ["postgres_server"]

TABLE = "routed cache"


class Abstains:
    """Has every method and never decides."""

    def db_for_read(self, model: Any, **hints: Any) -> None:
        return None

    def db_for_write(self, model: Any, **hints: Any) -> None:
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> None:
        return None


class Empty:
    """Has none of the methods."""


class ToOther:
    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "other"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "other"

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return False


class NeedsArguments:
    def __init__(self, required: int) -> None:
        self.required = required


def test_cache_entry_model_looks_like_django_s() -> None:
    model = cache_entry_model("my table")
    assert model.__name__ == "CacheEntry"
    meta = model._meta
    assert (meta.app_label, meta.model_name, meta.object_name) == ("django_cache", "cacheentry", "CacheEntry")
    assert (meta.db_table, meta.verbose_name, meta.verbose_name_plural) == (
        "my table",
        "cache entry",
        "cache entries",
    )
    assert (meta.abstract, meta.managed, meta.proxy, meta.swapped) == (False, True, False, False)
    assert cache_entry_model("my table") is model
    assert cache_entry_model("other")._meta.db_table == "other"


def test_the_first_router_with_an_answer_wins() -> None:
    model = cache_entry_model("t")
    chain = RouterChain([Empty, Abstains(), "helpers.routers.CacheRouter", ToOther])
    assert chain.db_for_read(model) == "cache_replica"
    assert chain.db_for_write(model) == "cache_primary"
    assert chain.allow_migrate("cache_primary", model) is True
    assert chain.allow_migrate("cache_replica", model) is False
    assert RouterChain([ToOther]).db_for_read(model) == "other"


def test_without_an_answer_everything_uses_default() -> None:
    model = cache_entry_model("t")
    for chain in (RouterChain([]), RouterChain([Empty(), Abstains])):
        assert chain.db_for_read(model) == "default"
        assert chain.db_for_write(model) == "default"
        assert chain.allow_migrate("anything", model) is True


def test_bad_routers_are_clear_errors() -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"DATABASE_ROUTERS\[1\] \('no.such.Router'\) cannot be imported"
    ):
        RouterChain([Empty, "no.such.Router"])
    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_ROUTERS\[0\] .* cannot be instantiated"):
        RouterChain([NeedsArguments])
    with (
        databases({}, routers="helpers.routers.CacheRouter"),
        pytest.raises(  # type: ignore[arg-type]
            ImproperlyConfigured, match="DATABASE_ROUTERS must be a list"
        ),
    ):
        make_cache("t")


def test_a_router_naming_an_unknown_database_is_an_error(tmp_path: Path) -> None:
    db = Database.sqlite(tmp_path)
    with databases({"default": db.config()}, routers=[ToOther]):
        cache = make_cache(TABLE)
        with pytest.raises(ImproperlyConfigured, match="the database 'other' is not in DATABASES"):
            cache.get("k")


@pytest.fixture(params=["sqlite", "postgres"])
def primary_and_replica(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Database, Database]]:
    """Django's two-database example: cache_primary and cache_replica, routed by CacheRouter."""
    if request.param == "sqlite":
        primary, replica = Database.sqlite(tmp_path, "primary"), Database.sqlite(tmp_path, "replica")
    else:
        server = request.getfixturevalue("postgres_server")
        primary, replica = (
            Database.postgres(server, "cache_primary"),
            Database.postgres(server, "cache_replica"),
        )
    dbs = {"cache_primary": primary.config(), "cache_replica": replica.config()}
    with databases(dbs, routers=["helpers.routers.CacheRouter"]):
        make_table("cache_primary", TABLE)
        make_table("cache_replica", TABLE)  # refused by allow_migrate...
        assert not _has_table(replica)
        # ...so the replica's copy is made as replication would have made it.
        target = cache_table("cache_replica", TABLE, settings)
        target.table.create(target.engine)
        yield primary, replica


def _has_table(db: Database) -> bool:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(db.url)
    try:
        return inspect(engine).has_table(TABLE)
    finally:
        engine.dispose()


def test_reads_go_to_the_replica_and_writes_to_the_primary(
    primary_and_replica: tuple[Database, Database],
) -> None:
    primary, replica = primary_and_replica
    cache = make_cache(TABLE)
    cache.set("key", "written")
    assert primary.rows(TABLE) == {":1:key": "written"}
    assert replica.rows(TABLE) == {}
    assert cache.get("key") is None  # the replica has not caught up
    assert cache.has_key("key") is False

    replica.put(TABLE, ":1:key", "from the replica", time.time() + 100)
    assert cache.get("key") == "from the replica"
    assert cache.get_many(["key", "other"]) == {"key": "from the replica"}
    assert cache.has_key("key") is True

    assert cache.add("new", 1) is True
    assert cache.touch("new", 50) is True
    cache.set_many({"a": 1, "b": 2})
    assert cache.incr("a") == 2
    assert primary.rows(TABLE) == {":1:key": "written", ":1:new": 1, ":1:a": 2, ":1:b": 2}
    assert cache.delete("key") is True
    cache.delete_many(["a", "b"])
    assert sorted(primary.rows(TABLE)) == [":1:new"]
    assert replica.rows(TABLE) == {":1:key": "from the replica"}  # deletes went to the primary
    cache.clear()
    assert primary.count(TABLE) == 0
    assert replica.count(TABLE) == 1


def test_without_routers_everything_uses_default(tmp_path: Path) -> None:
    default, other = Database.sqlite(tmp_path, "default"), Database.sqlite(tmp_path, "other")
    with databases({"default": default.config(), "other": other.config()}):
        make_table("default", TABLE)
        make_table("other", TABLE)
        cache = make_cache(TABLE)
        cache.set("key", 1)
        assert cache.get("key") == 1
        assert default.rows(TABLE) == {":1:key": 1}
        assert other.rows(TABLE) == {}


def test_routers_are_consulted_on_every_operation(tmp_path: Path) -> None:
    """A router may change its answer (e.g. pin reads to the primary after a write)."""
    first, second = Database.sqlite(tmp_path, "first"), Database.sqlite(tmp_path, "second")

    class Switch:
        target = "first"

        def db_for_read(self, model: Any, **hints: Any) -> str:
            return Switch.target

        db_for_write = db_for_read

    with databases({"first": first.config(), "second": second.config()}, routers=[Switch()]):
        make_table("first", TABLE)
        make_table("second", TABLE)
        cache = make_cache(TABLE)
        cache.set("key", "in first")
        Switch.target = "second"
        assert cache.get("key") is None
        cache.set("key", "in second")
        Switch.target = "first"
        assert cache.get("key") == "in first"
    assert second.rows(TABLE) == {":1:key": "in second"}
