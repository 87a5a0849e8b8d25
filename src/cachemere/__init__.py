"""cachemere: Django's cache framework for any Python program or web app."""

from .backends.base import DEFAULT_TIMEOUT, BaseCache
from .conf import DEFAULT_CACHE_ALIAS, configure, settings
from .exceptions import (
    CacheKeyWarning,
    ImproperlyConfigured,
    InvalidCacheBackendError,
    InvalidCacheKey,
)
from .fragments import make_template_fragment_key
from .handler import CacheHandler, cache, caches

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CACHE_ALIAS",
    "DEFAULT_TIMEOUT",
    "BaseCache",
    "CacheHandler",
    "CacheKeyWarning",
    "ImproperlyConfigured",
    "InvalidCacheBackendError",
    "InvalidCacheKey",
    "cache",
    "caches",
    "configure",
    "make_template_fragment_key",
    "settings",
]
