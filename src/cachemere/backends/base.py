"""The backend contract: :class:`BaseCache` and the logic every backend shares.

A backend implements the six primitives (``add``, ``get``, ``set``, ``touch``,
``delete``, ``clear``); everything else has a generic implementation here that
it may override with a faster one.

Sync and async share one implementation.  Composite operations are written
once, as generators that *yield* the primitive they need (``("get", args)``);
:meth:`BaseCache._drive` runs them against the sync primitives and
:meth:`BaseCache._adrive` against the async ones.  Every async twin a backend
does not write itself delegates to its sync method: directly for backends that
never block (``blocking = False``), in a worker thread otherwise.  A subclass
that overrides a sync method but not its twin gets the delegating twin, so the
specialised implementation is used from async code too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, ClassVar, Final

from ..exceptions import (
    CacheKeyWarning,
    ImproperlyConfigured,
    InvalidCacheBackendError,
    InvalidCacheKey,
)
from .keys import (
    MEMCACHE_MAX_KEY_LENGTH,
    KeyFunc,
    default_key_func,
    get_key_func,
    is_memcache_safe,
    memcache_key_warnings,
    warn_memcache_key,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MEMCACHE_MAX_KEY_LENGTH",
    "BaseCache",
    "CacheKeyWarning",
    "InvalidCacheBackendError",
    "InvalidCacheKey",
    "default_key_func",
    "get_key_func",
    "memcache_key_warnings",
]


class _DefaultTimeout:
    """Type of :data:`DEFAULT_TIMEOUT`: "use the cache's configured TIMEOUT"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT_TIMEOUT"


DEFAULT_TIMEOUT: Final = _DefaultTimeout()
"""Sentinel for "argument not passed: use the backend's ``TIMEOUT``"."""

Timeout = float | None | _DefaultTimeout

_MISSING: Final = object()
_KEY_MEMO_SIZE = 4096

# One shared logic step: the name of a primitive and its positional arguments.
Op = tuple[str, tuple[Any, ...]]
Logic = Generator[Op, Any, Any]

# Methods that have an ``a``-prefixed async twin.
API_METHODS: Final = (
    "add", "get", "set", "touch", "delete", "clear", "close",
    "get_many", "set_many", "delete_many", "get_or_set", "has_key",
    "incr", "decr", "incr_version", "decr_version",
)  # fmt: skip


def _int_option(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def _delegate(name: str) -> Callable[..., Any]:
    """Build the async twin of sync method ``name``."""

    async def twin(self: BaseCache, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self, name)
        if self.blocking:
            return await asyncio.to_thread(method, *args, **kwargs)
        return method(*args, **kwargs)

    twin.__name__ = twin.__qualname__ = "a" + name
    twin.__doc__ = f"Async twin of :meth:`{name}`."
    return twin


def _owner(cls: type, name: str) -> type | None:
    return next((klass for klass in cls.__mro__ if name in vars(klass)), None)


class BaseCache:
    """Base class of every backend: Django's cache API, sync and async."""

    #: True when the sync methods may block on I/O, so that their async twins
    #: run them in a worker thread.  In-memory backends set it to False.
    blocking: ClassVar[bool] = True
    #: Memoize made keys for str keys at the default version.  Only safe when
    #: ``make_key`` is deterministic and ``validate_key`` is silent for keys
    #: that break no memcached rule; switched off automatically for
    #: subclasses that override either, unless they set it back to True.
    memoize_keys: ClassVar[bool] = True

    _missing_key: ClassVar[object] = _MISSING

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "memoize_keys" not in vars(cls) and (
            "make_key" in vars(cls) or "validate_key" in vars(cls)
        ):
            cls.memoize_keys = False
        for name in API_METHODS:
            sync_owner, async_owner = _owner(cls, name), _owner(cls, "a" + name)
            if sync_owner is not async_owner and issubclass(sync_owner, async_owner):  # type: ignore[arg-type]
                setattr(cls, "a" + name, _delegate(name))

    def __init__(self, params: Mapping[str, Any]) -> None:
        timeout = params.get("timeout", params.get("TIMEOUT", 300))
        if timeout is not None:
            timeout = _int_option(timeout, "TIMEOUT")
        self.default_timeout: int | None = timeout
        options = params.get("OPTIONS") or {}
        self._max_entries = _int_option(
            params.get("max_entries", options.get("MAX_ENTRIES", 300)), "MAX_ENTRIES"
        )
        self._cull_frequency = _int_option(
            params.get("cull_frequency", options.get("CULL_FREQUENCY", 3)), "CULL_FREQUENCY"
        )
        if self._cull_frequency < 0:
            raise ImproperlyConfigured(
                f"CULL_FREQUENCY must be 0 or more, got {self._cull_frequency}"
            )
        self._key_prefix: str = params.get("KEY_PREFIX", "") or ""
        self._version: Any = params.get("VERSION", 1)
        try:
            self._key_func: KeyFunc = get_key_func(params.get("KEY_FUNCTION"))
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"KEY_FUNCTION {params.get('KEY_FUNCTION')!r} cannot be imported: {exc}"
            ) from exc
        self._memo: dict[str, str] | None = {} if self.memoize_keys else None

    # -- keys -------------------------------------------------------------

    @property
    def key_prefix(self) -> str:
        return self._key_prefix

    @key_prefix.setter
    def key_prefix(self, value: str) -> None:
        self._key_prefix = value
        self._forget_keys()

    @property
    def version(self) -> Any:
        return self._version

    @version.setter
    def version(self, value: Any) -> None:
        self._version = value
        self._forget_keys()

    @property
    def key_func(self) -> KeyFunc:
        return self._key_func

    @key_func.setter
    def key_func(self, value: KeyFunc | str | None) -> None:
        self._key_func = get_key_func(value)
        self._forget_keys()

    def _forget_keys(self) -> None:
        if self._memo is not None:
            self._memo = {}

    def make_key(self, key: Any, version: Any = None) -> str:
        """Build the stored key from the caller's key, ``KEY_PREFIX`` and version."""
        if version is None:
            version = self._version
        return self._key_func(key, self._key_prefix, version)

    def validate_key(self, key: str) -> None:
        """Warn (:class:`CacheKeyWarning`) about a key that memcached would reject."""
        warn_memcache_key(key)

    def make_and_validate_key(self, key: Any, version: Any = None) -> str:
        """``make_key`` followed by ``validate_key``; returns the made key."""
        memo = self._memo
        if version is None and memo is not None and type(key) is str:
            made = memo.get(key)
            if made is not None:
                return made
            made = self.make_key(key)
            self.validate_key(made)
            if is_memcache_safe(made):
                if len(memo) >= _KEY_MEMO_SIZE:
                    memo.clear()
                memo[key] = made
            return made
        made = self.make_key(key, version)
        self.validate_key(made)
        return made

    # -- timeouts ---------------------------------------------------------

    def get_backend_timeout(self, timeout: Timeout = DEFAULT_TIMEOUT) -> float | None:
        """Absolute expiry (epoch seconds) for ``timeout``; None means never."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        elif timeout == 0:
            # Expire "now" even when two time() calls return the same value.
            timeout = -1
        return None if timeout is None else time.time() + timeout  # type: ignore[operator]

    # -- primitives every backend provides ---------------------------------

    def add(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; True if stored."""
        raise NotImplementedError("subclasses of BaseCache must provide an add() method")

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        """The stored value, or ``default`` when the key is missing or expired."""
        raise NotImplementedError("subclasses of BaseCache must provide a get() method")

    def set(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> None:
        """Store ``value``; ``timeout`` None keeps it forever, 0 or less does not keep it."""
        raise NotImplementedError("subclasses of BaseCache must provide a set() method")

    def touch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        """Give an existing key a new expiry; False when it is missing."""
        raise NotImplementedError("subclasses of BaseCache must provide a touch() method")

    def delete(self, key: Any, version: Any = None) -> bool:
        """Remove ``key``; True if something was removed."""
        raise NotImplementedError("subclasses of BaseCache must provide a delete() method")

    def clear(self) -> Any:
        """Remove everything from the store (whatever its prefix or version)."""
        raise NotImplementedError("subclasses of BaseCache must provide a clear() method")

    def close(self, **kwargs: Any) -> None:
        """Release connections; the cache stays usable afterwards."""

    # -- composite operations: written once, driven sync or async -----------

    def _drive(self, logic: Logic) -> Any:
        """Run shared ``logic`` against this cache's sync methods."""
        try:
            name, args = next(logic)
            while True:
                try:
                    result = getattr(self, name)(*args)
                except Exception as exc:
                    name, args = logic.throw(exc)
                else:
                    name, args = logic.send(result)
        except StopIteration as stop:
            return stop.value

    async def _adrive(self, logic: Logic) -> Any:
        """Run shared ``logic`` against this cache's async methods."""
        try:
            name, args = next(logic)
            while True:
                try:
                    result = await getattr(self, "a" + name)(*args)
                except Exception as exc:
                    name, args = logic.throw(exc)
                else:
                    name, args = logic.send(result)
        except StopIteration as stop:
            return stop.value

    def _get_many_logic(self, keys: Iterable[Any], version: Any) -> Logic:
        found = {}
        for key in keys:
            value = yield "get", (key, _MISSING, version)
            if value is not _MISSING:
                found[key] = value
        return found

    def _set_many_logic(self, data: Mapping[Any, Any], timeout: Timeout, version: Any) -> Logic:
        for key, value in data.items():
            yield "set", (key, value, timeout, version)
        return []

    def _delete_many_logic(self, keys: Iterable[Any], version: Any) -> Logic:
        for key in keys:
            yield "delete", (key, version)

    def _get_or_set_logic(self, key: Any, default: Any, timeout: Timeout, version: Any) -> Logic:
        value = yield "get", (key, _MISSING, version)
        if value is _MISSING:
            if callable(default):
                default = default()
            yield "add", (key, default, timeout, version)
            # Read back: a concurrent writer may have won the add.
            value = yield "get", (key, default, version)
        return value

    def _has_key_logic(self, key: Any, version: Any) -> Logic:
        value = yield "get", (key, _MISSING, version)
        return value is not _MISSING

    def _incr_logic(self, key: Any, delta: int, version: Any) -> Logic:
        value = yield "get", (key, _MISSING, version)
        if value is _MISSING:
            raise ValueError(f"Key '{key}' not found")
        new_value = value + delta
        yield "set", (key, new_value, DEFAULT_TIMEOUT, version)
        return new_value

    def _incr_version_logic(self, key: Any, delta: int, version: Any) -> Logic:
        if version is None:
            version = self._version
        value = yield "get", (key, _MISSING, version)
        if value is _MISSING:
            raise ValueError(f"Key '{key}' not found")
        yield "set", (key, value, DEFAULT_TIMEOUT, version + delta)
        yield "delete", (key, version)
        return version + delta

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        """A dict of the keys found (caller's keys) to their values."""
        return self._drive(self._get_many_logic(keys, version))

    def set_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        """Store every item; returns the keys that could not be stored."""
        return self._drive(self._set_many_logic(data, timeout, version))

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        """Remove every key given."""
        self._drive(self._delete_many_logic(keys, version))

    def get_or_set(
        self, key: Any, default: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> Any:
        """The cached value, or store ``default`` (called if callable) and return it."""
        return self._drive(self._get_or_set_logic(key, default, timeout, version))

    def has_key(self, key: Any, version: Any = None) -> bool:
        """True if ``key`` is stored and not expired (a stored None counts)."""
        return self._drive(self._has_key_logic(key, version))

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Add ``delta`` to the stored value and return it; ValueError if missing."""
        return self._drive(self._incr_logic(key, delta, version))

    def decr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Subtract ``delta`` from the stored value and return it; ValueError if missing."""
        return self.incr(key, -delta, version)

    def incr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Move the value to version ``version + delta``; returns the new version."""
        return self._drive(self._incr_version_logic(key, delta, version))

    def decr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Move the value to version ``version - delta``; returns the new version."""
        return self.incr_version(key, -delta, version)

    def __contains__(self, key: Any) -> bool:
        return self.has_key(key)

    # -- async twins ------------------------------------------------------
    # Primitives delegate to their sync method; composites run the shared logic
    # against the async primitives.

    aadd = _delegate("add")
    aget = _delegate("get")
    aset = _delegate("set")
    atouch = _delegate("touch")
    adelete = _delegate("delete")
    aclear = _delegate("clear")
    aclose = _delegate("close")

    async def aget_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        return await self._adrive(self._get_many_logic(keys, version))

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        return await self._adrive(self._set_many_logic(data, timeout, version))

    async def adelete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        await self._adrive(self._delete_many_logic(keys, version))

    async def aget_or_set(
        self, key: Any, default: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> Any:
        return await self._adrive(self._get_or_set_logic(key, default, timeout, version))

    async def ahas_key(self, key: Any, version: Any = None) -> bool:
        return await self._adrive(self._has_key_logic(key, version))

    async def aincr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await self._adrive(self._incr_logic(key, delta, version))

    async def adecr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await self.aincr(key, -delta, version)

    async def aincr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await self._adrive(self._incr_version_logic(key, delta, version))

    async def adecr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await self.aincr_version(key, -delta, version)
