"""The ``caches`` handler and the ``cache`` proxy."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import cachemere
from cachemere import CacheHandler, ImproperlyConfigured, InvalidCacheBackendError, cache, caches
from cachemere.backends.locmem import LocMemCache

LOCMEM = "cachemere.backends.locmem.LocMemCache"


class ClosingCache(LocMemCache):
    """Records every close() call, across instances."""

    closed: list[ClosingCache] = []

    def close(self, **kwargs: Any) -> None:
        ClosingCache.closed.append(self)


class ExplodingCache(LocMemCache):
    def __init__(self, location: Any, params: Any) -> None:
        raise RuntimeError("cannot start")


@pytest.fixture(autouse=True)
def no_closed_caches(fresh_settings: None) -> None:
    ClosingCache.closed.clear()


@pytest.fixture
def two_caches() -> None:
    cachemere.configure(
        CACHES={
            "default": {"BACKEND": f"{__name__}.ClosingCache", "LOCATION": "handler-default"},
            "other": {"BACKEND": f"{__name__}.ClosingCache", "LOCATION": "handler-other"},
        }
    )


def in_thread(function: Callable[[], Any]) -> Any:
    """Run ``function`` in a new thread and return its result (or raise its error)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # pragma: no cover - re-raised below
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_same_instance_in_a_thread(two_caches: None) -> None:
    assert caches["default"] is caches["default"]
    assert caches["other"] is caches["other"]
    assert caches["default"] is not caches["other"]


def test_another_instance_in_another_thread(two_caches: None) -> None:
    here = caches["default"]
    there = in_thread(lambda: (caches["default"], caches["default"]))
    assert there[0] is there[1]
    assert there[0] is not here
    # Different instances, one store: the same LOCATION.
    here.set("k", "from main thread")
    assert in_thread(lambda: caches["default"].get("k")) == "from main thread"


def test_unknown_alias() -> None:
    with pytest.raises(InvalidCacheBackendError, match=r"^The cache 'nope' doesn't exist\.$"):
        caches["nope"]
    assert issubclass(InvalidCacheBackendError, ImproperlyConfigured)


def test_iteration_and_membership(two_caches: None) -> None:
    assert list(caches) == ["default", "other"]
    assert "other" in caches
    assert "nope" not in caches


def test_all(two_caches: None) -> None:
    assert caches.all(initialized_only=True) == []
    other = caches["other"]
    assert caches.all(initialized_only=True) == [other]
    everything = caches.all()
    assert everything == [caches["default"], other]
    assert caches.all(initialized_only=True) == everything
    assert in_thread(lambda: caches.all(initialized_only=True)) == []


def test_close_all_closes_only_initialised_instances_of_this_thread(two_caches: None) -> None:
    default = caches["default"]
    theirs = in_thread(lambda: caches["other"])
    caches.close_all()
    assert ClosingCache.closed == [default]
    assert theirs not in ClosingCache.closed
    assert caches.all(initialized_only=True) == [default]  # closed, still usable


def test_configure_closes_old_instances_even_of_dropped_aliases(two_caches: None) -> None:
    old = [caches["default"], caches["other"]]
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM}})
    assert ClosingCache.closed == old
    assert "other" not in caches
    assert type(caches["default"]) is LocMemCache


def test_setitem_and_delitem(two_caches: None) -> None:
    replacement = LocMemCache("handler-replacement", {})
    caches["default"] = replacement
    assert caches["default"] is replacement
    assert cache == replacement
    del caches["default"]
    assert caches["default"] is not replacement


def test_backend_receives_location_and_params() -> None:
    received: dict[str, Any] = {}

    class Recording(LocMemCache):
        def __init__(self, location: Any, params: Any) -> None:
            received.update(location=location, params=params)
            super().__init__(location, params)

    handler = CacheHandler(
        {"x": {"BACKEND": Recording, "LOCATION": "handler-rec", "TIMEOUT": 5, "KEY_PREFIX": "p"}}
    )
    handler["x"]
    assert received["location"] == "handler-rec"
    params = dict(received["params"])
    # An explicit handler hands its own settings to the backend (no globals read).
    assert params.pop("SETTINGS").CACHES is handler.settings
    assert params == {"TIMEOUT": 5, "KEY_PREFIX": "p", "OPTIONS": {}}


def test_default_location_is_empty_string() -> None:
    received: list[Any] = []

    class Recording(LocMemCache):
        def __init__(self, location: Any, params: Any) -> None:
            received.append(location)
            super().__init__(location, params)

    CacheHandler({"x": {"BACKEND": Recording}})["x"]
    assert received == [""]


def test_backend_errors_name_the_alias() -> None:
    handler = CacheHandler({"boom": {"BACKEND": ExplodingCache}})
    with pytest.raises(RuntimeError, match="cannot start") as info:
        handler["boom"]
    assert any("'boom'" in note for note in info.value.__notes__)


def test_explicit_handler_ignores_global_settings() -> None:
    cachemere.configure(CACHES={"default": {"BACKEND": "cachemere.backends.dummy.DummyCache"}})
    handler = CacheHandler({"default": {"BACKEND": LOCMEM, "LOCATION": "explicit"}, "x": {"BACKEND": LOCMEM}})
    assert type(handler["default"]) is LocMemCache
    assert handler["default"] is not caches["default"]
    assert list(handler) == ["default", "x"]
    with pytest.raises(InvalidCacheBackendError):
        caches["x"]
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM}})
    assert handler.settings["x"]["BACKEND"] == LOCMEM  # unaffected by configure()


def test_explicit_handler_does_not_need_a_default_alias() -> None:
    handler = CacheHandler({"only": {"BACKEND": LOCMEM, "LOCATION": "only"}})
    handler["only"].set("a", 1)
    assert handler["only"].get("a") == 1


# -- the ``cache`` proxy -------------------------------------------------------------


def test_proxy_forwards_attribute_access(two_caches: None) -> None:
    cache.set("answer", 42)
    assert caches["default"].get("answer") == 42
    assert cache.get("answer") == 42
    assert cache.key_prefix == ""
    assert cache._data is caches["default"]._data  # type: ignore[attr-defined]


def test_proxy_set_and_delete_attributes(two_caches: None) -> None:
    cache.custom_flag = "on"  # type: ignore[attr-defined]
    assert caches["default"].custom_flag == "on"  # type: ignore[attr-defined]
    del cache.custom_flag  # type: ignore[attr-defined]
    assert not hasattr(caches["default"], "custom_flag")


def test_proxy_contains_and_equality(two_caches: None) -> None:
    cache.set("present", None)
    assert "present" in cache
    assert "absent" not in cache
    assert cache == caches["default"]
    assert caches["default"] == cache
    assert cache != caches["other"]
    with pytest.raises(TypeError):
        hash(cache)
    assert "default" in repr(cache)


def test_proxy_is_per_thread(two_caches: None) -> None:
    here = caches["default"]
    assert cache == here
    there, same = in_thread(lambda: (caches["default"], cache == caches["default"]))
    assert same
    assert there is not here


def test_proxy_follows_configure() -> None:
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM, "TIMEOUT": 1}})
    assert cache.default_timeout == 1
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM, "TIMEOUT": 2}})
    assert cache.default_timeout == 2


def test_async_methods_through_the_proxy(two_caches: None) -> None:
    import asyncio

    async def scenario() -> Any:
        await cache.aset("k", [1, 2])
        return await cache.aget("k")

    assert asyncio.run(scenario()) == [1, 2]


def test_explicit_handler_takes_its_own_non_cache_settings() -> None:
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM}}, SECRET_KEY="global")
    handler = CacheHandler({"x": {"BACKEND": LOCMEM}}, SECRET_KEY="own", DATABASES={"default": {}})
    backend = handler["x"]
    assert backend.settings.SECRET_KEY == "own"
    assert backend.settings.DATABASES == {"default": {}}
    assert backend.settings.DATABASE_ROUTERS == []  # a setting not given has its default, not the global
    assert caches["default"].settings.SECRET_KEY == "global"  # the global handler's backends read the globals
    bare = CacheHandler({"x": {"BACKEND": LOCMEM}})["x"]
    assert bare.settings.SECRET_KEY is None


def test_explicit_handler_rejects_unknown_settings() -> None:
    expected = r"CacheHandler\(\): unknown setting 'SECRET_KY'.*'SECRET_KEY'"
    with pytest.raises(ImproperlyConfigured, match=expected):
        CacheHandler({"x": {"BACKEND": LOCMEM}}, SECRET_KY="s")
    with pytest.raises(TypeError, match="only together with CACHES"):
        CacheHandler(SECRET_KEY="s")
