"""A cache that stores nothing: for development, and for switching caching off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import DEFAULT_TIMEOUT, BaseCache, Timeout


class DummyCache(BaseCache):
    """Implements the whole API, validates keys, and keeps nothing."""

    blocking = False
    # The culling options are accepted (and ignored) so that switching a
    # configured cache to the dummy one needs no other change.
    known_options = frozenset({"MAX_ENTRIES", "CULL_FREQUENCY"})

    def __init__(self, location: Any, params: Mapping[str, Any]) -> None:
        super().__init__(params)

    def add(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        self.make_and_validate_key(key, version)
        return True

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        self.make_and_validate_key(key, version)
        return default

    def set(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self.make_and_validate_key(key, version)

    def touch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        self.make_and_validate_key(key, version)
        return False

    def delete(self, key: Any, version: Any = None) -> bool:
        self.make_and_validate_key(key, version)
        return False

    def has_key(self, key: Any, version: Any = None) -> bool:
        self.make_and_validate_key(key, version)
        return False

    def clear(self) -> None:
        pass
