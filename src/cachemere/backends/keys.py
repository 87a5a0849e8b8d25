"""Cache-key construction and memcached-compatibility checks."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from ..exceptions import CacheKeyWarning
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


def warn_memcache_key(key: str) -> None:
    """Emit a :class:`CacheKeyWarning` for each rule ``key`` breaks."""
    for message in memcache_key_warnings(key):
        warnings.warn(message, CacheKeyWarning, stacklevel=3)


def is_memcache_safe(key: str) -> bool:
    """True when ``key`` breaks no memcached rule (the fast check used on hot paths)."""
    return len(key) <= MEMCACHE_MAX_KEY_LENGTH and _memcached_error_chars.search(key) is None
