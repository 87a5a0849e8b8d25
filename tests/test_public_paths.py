"""Every public import path keeps working: BACKEND paths (ours and Django's) and the names users subclass."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

from cachemere import CacheHandler
from cachemere.backends import base
from cachemere.conf import backend_path
from cachemere.utils import import_string

BACKEND_CLASSES = [
    "locmem.LocMemCache",
    "dummy.DummyCache",
    "filebased.FileBasedCache",
    "db.DatabaseCache",
    "memcached.PyMemcacheCache",
    "memcached.PyLibMCCache",
    "redis.RedisCache",
]

OTHER_PUBLIC_NAMES = [
    "cachemere.backends.memcached.BaseMemcachedCache",
    "cachemere.backends.redis.RedisSerializer",
    "cachemere.backends.db.MissingCacheTable",
    *(f"cachemere.backends.base.{name}" for name in base.__all__),
    "cachemere.backends.base.drive",
    "cachemere.backends.base.adrive",
    "cachemere.signing.sign",
    "cachemere.testing.CacheConformance",
]


@pytest.mark.parametrize("path", BACKEND_CLASSES)
def test_backend_path_imports_a_cache_class(path: str) -> None:
    cls = import_string(f"cachemere.backends.{path}")
    assert inspect.isclass(cls) and issubclass(cls, base.BaseCache)
    assert cls.__name__ == path.rsplit(".", 1)[1]


@pytest.mark.parametrize("path", BACKEND_CLASSES)
def test_djangos_spelling_maps_to_the_same_class(path: str) -> None:
    ours = import_string(f"cachemere.backends.{path}")
    assert import_string(backend_path(f"django.core.cache.backends.{path}")) is ours


def test_djangos_spelling_builds_through_the_handler(tmp_path: object) -> None:
    handler = CacheHandler(
        {
            "mem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "files": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path),
            },
        }
    )
    for alias in handler:
        handler[alias].set("k", alias)
        assert handler[alias].get("k") == alias


@pytest.mark.parametrize("path", OTHER_PUBLIC_NAMES)
def test_public_name_imports(path: str) -> None:
    assert import_string(path) is not None


def test_memcached_package_lists_its_lazy_backends() -> None:
    memcached = importlib.import_module("cachemere.backends.memcached")
    assert {"PyMemcacheCache", "PyLibMCCache", "BaseMemcachedCache"} <= set(dir(memcached))
    for name in ("PyMemcacheCache", "PyLibMCCache"):
        assert issubclass(getattr(memcached, name), memcached.BaseMemcachedCache)


def test_memcached_base_does_not_import_its_clients() -> None:
    tree = ast.parse(inspect.getsource(importlib.import_module("cachemere.backends.memcached.base")))
    imported = {
        alias.name if isinstance(node, ast.Import) else (node.module or "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {name for name in imported if "pymemcache" in name or "pylibmc" in name}


TWINS = ["aadd", "aget", "aset", "atouch", "adelete", "aclear", "aclose", "aget_many"]


@pytest.mark.parametrize("name", TWINS)
def test_async_twins_show_their_real_signatures(name: str) -> None:
    sync = inspect.signature(getattr(base.BaseCache, name[1:]))
    twin = inspect.signature(getattr(base.BaseCache, name))
    assert list(twin.parameters) == list(sync.parameters)
    assert twin.return_annotation == sync.return_annotation


def test_synthesised_twins_of_a_subclass_keep_the_signature() -> None:
    from cachemere.backends.locmem import LocMemCache

    class Sub(LocMemCache):
        def get(self, key: object, default: object = None, version: object = None) -> object:
            return super().get(key, default, version)

    assert Sub.aget is not base.BaseCache.aget  # a delegating twin was made for the override
    assert list(inspect.signature(Sub.aget).parameters) == ["self", "key", "default", "version"]
