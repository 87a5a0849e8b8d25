"""What cachemere offers code written for Django's backends (no Django project needed)."""

from __future__ import annotations

import time
import warnings

from cachemere.backends.keys import invalid_key, key_warning_category
from cachemere.backends.locmem import LocMemCache
from cachemere.exceptions import CacheKeyWarning, InvalidCacheKey


def test_locmem_private_attributes_as_djangos() -> None:
    one = LocMemCache("compat-one", {})
    two = LocMemCache("compat-two", {"KEY_PREFIX": "p"})
    one.clear()
    two.clear()
    # Assigning another cache's _cache and _expire_info shares its store, as with Django's.
    two._cache = one._cache
    two._expire_info = one._expire_info
    before = time.time()
    two.set("k", 1, 60)
    assert one.get("k", version=None) is None  # another prefix: another key...
    assert one._expire_info["p:1:k"] >= before + 60  # ...in the same store
    assert list(one._expire_info) == ["p:1:k"] and len(one._expire_info) == 1
    one.set("forever", 2, None)
    assert one._expire_info[":1:forever"] is None
    one.clear()


def test_key_errors_are_djangos_too_once_django_is_imported() -> None:
    from django.core.cache.backends.base import CacheKeyWarning as DjangoWarning
    from django.core.cache.backends.base import InvalidCacheKey as DjangoInvalid

    category = key_warning_category()
    assert issubclass(category, CacheKeyWarning) and issubclass(category, DjangoWarning)
    error = invalid_key("bad key")
    assert isinstance(error, InvalidCacheKey) and isinstance(error, DjangoInvalid)
    assert str(error) == "bad key"
    assert key_warning_category() is category  # one class, made once
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LocMemCache("compat-keys", {}).get("a key with spaces")
    assert [w.category for w in caught] == [category]
