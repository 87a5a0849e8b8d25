"""Exceptions and warnings raised by cachemere."""

from __future__ import annotations


class ImproperlyConfigured(Exception):
    """The settings are wrong: the message names the alias and the offending key."""


class InvalidCacheBackendError(ImproperlyConfigured):
    """An alias that is not configured, or a backend that cannot be imported."""


class CacheKeyWarning(RuntimeWarning):
    """A key that memcached would reject (too long, control characters or spaces)."""


class InvalidCacheKey(ValueError):
    """Raised instead of :class:`CacheKeyWarning` by backends that cannot store the key."""


class SettingsWarning(UserWarning):
    """A setting that looks like a typo of one cachemere reads, and so does nothing."""
