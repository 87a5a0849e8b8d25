"""Memcached caches: ``PyMemcacheCache`` (pymemcache) and ``PyLibMCCache`` (pylibmc).

``base`` holds the logic both share; each client module imports its own
library and is loaded on first use, so either backend works with only its own
client installed.  Dependencies run one way: client modules import ``base``,
never the reverse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import BaseMemcachedCache, Server, parse_location

if TYPE_CHECKING:
    from .pylibmc import PyLibMCCache
    from .pymemcache import PyMemcacheCache

__all__ = ["BaseMemcachedCache", "PyLibMCCache", "PyMemcacheCache", "Server", "parse_location"]

_LAZY = {"PyMemcacheCache": ".pymemcache", "PyLibMCCache": ".pylibmc"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
