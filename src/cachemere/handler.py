"""The ``caches`` handler: one backend instance per alias per thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from .conf import DEFAULT_CACHE_ALIAS, Settings, check_names, settings
from .exceptions import ImproperlyConfigured, InvalidCacheBackendError
from .utils import resolve

if TYPE_CHECKING:
    from .backends.base import BaseCache


class CacheHandler:
    """Maps aliases to backend instances, created on first use in each thread.

    ``CacheHandler()`` follows the global settings.  ``CacheHandler({...},
    SECRET_KEY=..., DATABASES=..., DATABASE_ROUTERS=...)`` reads no global
    setting at all (for apps that want no globals): its backends take every
    setting from the handler, and a setting not given has its default.
    """

    def __init__(self, caches: Mapping[str, Any] | None = None, **values: Any) -> None:
        if caches is None:
            if values:
                raise TypeError("CacheHandler() takes other settings only together with CACHES")
            self._own: Settings | None = None
        else:
            check_names(values, "CacheHandler(): ")
            if "CACHES" in values:
                raise TypeError("CacheHandler() takes CACHES once, as its first argument")
            self._own = Settings({**values, "CACHES": caches}, require_default=False)
        self._local = threading.local()

    @property
    def settings(self) -> dict[str, dict[str, Any]]:
        """The validated ``CACHES`` dict this handler serves."""
        if self._own is not None:
            return self._own.CACHES  # type: ignore[no-any-return]
        return settings.CACHES  # type: ignore[no-any-return]

    def create_connection(self, alias: str) -> BaseCache:
        """Build a new backend instance for ``alias``."""
        try:
            params = dict(self.settings[alias])
        except KeyError:
            raise InvalidCacheBackendError(f"The cache {alias!r} doesn't exist.") from None
        backend = params.pop("BACKEND")
        location = params.pop("LOCATION", "")
        if self._own is not None:
            params["SETTINGS"] = self._own
        try:
            backend_cls = resolve(backend)
        except ImportError as exc:
            raise InvalidCacheBackendError(
                f"Could not find backend {backend!r} for cache {alias!r}: {exc}"
            ) from exc
        try:
            backend_instance: BaseCache = backend_cls(location, params)
        except InvalidCacheBackendError:
            raise
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(f"CACHES[{alias!r}]: {exc}") from exc
        except Exception as exc:
            exc.add_note(f"while creating cache {alias!r} ({backend})")
            raise
        return backend_instance

    def __getitem__(self, alias: str) -> BaseCache:
        connections: dict[str, BaseCache] = self._local.__dict__
        try:
            return connections[alias]
        except KeyError:
            connection = connections[alias] = self.create_connection(alias)
            return connection

    def __setitem__(self, alias: str, value: BaseCache) -> None:
        self._local.__dict__[alias] = value

    def __delitem__(self, alias: str) -> None:
        del self._local.__dict__[alias]

    def __iter__(self) -> Iterator[str]:
        return iter(self.settings)

    def __contains__(self, alias: object) -> bool:
        return alias in self.settings

    def all(self, initialized_only: bool = False) -> list[BaseCache]:
        """Every alias's instance in this thread (only those already made, if asked)."""
        if initialized_only:
            connections = self._local.__dict__
            return [connections[alias] for alias in self if alias in connections]
        return [self[alias] for alias in self]

    def close_all(self) -> None:
        """Close the instances this thread has made."""
        for connection in self.all(initialized_only=True):
            connection.close()

    def reset(self) -> None:
        """Close this thread's instances and forget every thread's (settings changed)."""
        # Not close_all(): that reads the settings, which would load the new ones
        # right away and miss instances of aliases the new settings no longer have.
        for connection in list(self._local.__dict__.values()):
            connection.close()
        self._local = threading.local()


class CacheProxy:
    """Stands for ``caches[alias]``, resolved on every use (so per thread)."""

    __slots__ = ("_alias", "_handler")

    def __init__(self, handler: CacheHandler, alias: str) -> None:
        object.__setattr__(self, "_handler", handler)
        object.__setattr__(self, "_alias", alias)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler[self._alias], name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._handler[self._alias], name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._handler[self._alias], name)

    def __contains__(self, key: Any) -> bool:
        return key in self._handler[self._alias]

    def __eq__(self, other: object) -> bool:
        return bool(self._handler[self._alias] == other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<CacheProxy {self._alias!r}: {self._handler[self._alias]!r}>"


caches = CacheHandler()
settings.on_change(caches.reset)
#: The default cache, i.e. ``caches["default"]`` of the current thread.
cache = cast("BaseCache", CacheProxy(caches, DEFAULT_CACHE_ALIAS))
