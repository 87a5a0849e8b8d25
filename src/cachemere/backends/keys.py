"""Cache-key construction and memcached-compatibility checks."""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from ..exceptions import CacheKeyWarning, InvalidCacheKey
from ..utils import import_string

MEMCACHE_MAX_KEY_LENGTH = 250
_memcached_error_chars = re.compile(r"[\x00-\x20\x7f]")

KeyFunc = Callable[[Any, str, Any], str]


def default_key_func(key: Any, key_prefix: str, version: Any) -> str:
    """``prefix:version:key``: the key format Django uses."""
    return f"{key_prefix}:{version}:{key}"


def get_key_func(key_func: KeyFunc | str | None) -> KeyFunc:
    """Resolve a ``KEY_FUNCTION`` setting: None, a callable or a dotted path."""
    if key_func is None:
        return default_key_func
    if callable(key_func):
        return key_func
    resolved: KeyFunc = import_string(key_func)
    return resolved


def memcache_key_warnings(key: str) -> Iterator[str]:
    """Yield a message for each memcached rule ``key`` breaks (length first)."""
    if len(key) > MEMCACHE_MAX_KEY_LENGTH:
        yield (
            f"Cache key will cause errors if used with memcached: {key!r} "
            f"(longer than {MEMCACHE_MAX_KEY_LENGTH})"
        )
    if _memcached_error_chars.search(key):
        yield f"Cache key contains characters that will cause errors if used with memcached: {key!r}"


_DJANGO_CACHE_BASE = "django.core.cache.backends.base"
# (Django's class, cachemere's class) -> the class that is both.
_both: dict[tuple[type, type], type] = {}


def _with_django_twin(ours: type, name: str) -> type:
    """``ours``, or, once Django's cache framework is imported, a subclass of ours and Django's ``name``.

    Code inside a Django project catches (or filters) Django's
    ``InvalidCacheKey`` and ``CacheKeyWarning``; code written for cachemere
    catches cachemere's: the class raised is both.  Django is never imported here.
    """
    module = sys.modules.get(_DJANGO_CACHE_BASE)
    theirs = getattr(module, name, None) if module is not None else None
    if theirs is None or issubclass(ours, theirs):
        return ours
    both = _both.get((theirs, ours))
    if both is None:
        both = _both[(theirs, ours)] = type(name, (ours, theirs), {"__module__": ours.__module__})
    return both


def key_warning_category() -> type[Warning]:
    """The category of key warnings: :class:`CacheKeyWarning` (also Django's inside a Django project)."""
    return _with_django_twin(CacheKeyWarning, "CacheKeyWarning")


def invalid_key(message: str) -> InvalidCacheKey:
    """An :class:`InvalidCacheKey` to raise (also Django's inside a Django project)."""
    cls: type[InvalidCacheKey] = _with_django_twin(InvalidCacheKey, "InvalidCacheKey")
    return cls(message)


def warn_memcache_key(key: str) -> None:
    """Emit a :class:`CacheKeyWarning` for each rule ``key`` breaks."""
    for message in memcache_key_warnings(key):
        warnings.warn(message, key_warning_category(), stacklevel=3)


def unstorable_key_problem(key: str, nul: bool = True) -> str | None:
    """Why a store that keeps keys as UTF-8 text cannot keep ``key``, or None.

    A lone surrogate has no UTF-8 form; NUL (when ``nul``) is refused because
    PostgreSQL text cannot hold it, so a key works on every database or none.
    """
    if nul and "\x00" in key:
        return f"Cache key contains NUL, which a database cannot store: {key!r}"
    if not key.isascii():
        try:
            key.encode()
        except UnicodeEncodeError:
            return f"Cache key cannot be encoded in UTF-8 (a lone surrogate?): {key!r}"
    return None


def is_memcache_safe(key: str) -> bool:
    """True when ``key`` breaks no memcached rule (the fast check used on hot paths)."""
    return len(key) <= MEMCACHE_MAX_KEY_LENGTH and _memcached_error_chars.search(key) is None
