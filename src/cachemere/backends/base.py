"""The backend contract: :class:`BaseCache` and the logic every backend shares.

A backend implements the six primitives (``add``, ``get``, ``set``, ``touch``,
``delete``, ``clear``); everything else has a generic implementation here that
it may override with a faster one.

Sync and async share one implementation: the *step protocol*.  A piece of
logic is a generator (:data:`Logic`) that yields steps (:data:`Step`), each the name
of a public cache method and its positional arguments (``("get", (key,
default, None))``), receives the method's result (or has its exception thrown
in) and finally returns its answer.  :func:`drive` runs logic against a cache's
sync methods and :func:`adrive` against their async twins, so the logic is
written once.  Every async twin a backend does not write itself delegates to
its sync method: directly for backends that never block (``blocking =
False``), in a worker thread otherwise.  A subclass that overrides a sync
method but not its twin gets the delegating twin, so the specialised
implementation is used from async code too.  docs/architecture.md has the
whole contract.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

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

if TYPE_CHECKING:
    from ..conf import SettingsSource

__all__ = [
    "DEFAULT_TIMEOUT",
    "MEMCACHE_MAX_KEY_LENGTH",
    "BaseCache",
    "CacheKeyWarning",
    "InvalidCacheBackendError",
    "InvalidCacheKey",
    "Logic",
    "Step",
    "Timeout",
    "adrive",
    "bool_option",
    "default_key_func",
    "drive",
    "get_key_func",
    "memcache_key_warnings",
    "reject_unknown_options",
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

T = TypeVar("T")

#: One step of shared logic: the name of a public cache method (``"get"``,
#: ``"set_many"``, ...) and its positional arguments.
Step = tuple[str, tuple[Any, ...]]
#: Shared logic answering a ``T``: yields steps, is sent each step's result.
Logic = Generator[Step, Any, T]


def drive(cache: BaseCache, logic: Logic[T]) -> T:
    """Run ``logic`` against ``cache``'s sync methods and return its answer.

    A step that raises has its exception thrown into the generator, which may
    handle it (to fail open, say) or let it propagate to the caller.
    """
    try:
        name, args = next(logic)
        while True:
            try:
                result = getattr(cache, name)(*args)
            except Exception as exc:
                name, args = logic.throw(exc)
            else:
                name, args = logic.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def adrive(cache: BaseCache, logic: Logic[T]) -> T:
    """Run ``logic`` against ``cache``'s async twins (``a`` + step name)."""
    try:
        name, args = next(logic)
        while True:
            try:
                result = await getattr(cache, "a" + name)(*args)
            except Exception as exc:
                name, args = logic.throw(exc)
            else:
                name, args = logic.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]

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


def reject_unknown_options(options: Mapping[str, Any], known: Iterable[str]) -> None:
    """Raise ImproperlyConfigured for the first ``OPTIONS`` key not in ``known`` (a typo, usually)."""
    from ..conf import suggest

    known = frozenset(known)
    for name in options:
        if name not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise ImproperlyConfigured(
                f"unknown OPTIONS key {name!r}{suggest(str(name), known)}; this backend takes: {allowed}"
            )


def bool_option(options: Mapping[str, Any], name: str, default: bool) -> bool:
    """``OPTIONS[name]`` (``default`` when absent); ImproperlyConfigured unless it is True or False."""
    value = options.get(name, default)
    if type(value) is not bool:
        raise ImproperlyConfigured(f"OPTIONS[{name!r}] must be True or False, got {value!r}")
    return value


def _delegate(name: str) -> Callable[..., Any]:
    """Build the async twin of sync method ``name``, showing ``BaseCache``'s signature for it."""

    async def twin(self: BaseCache, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self, name)
        if self.blocking:
            return await asyncio.to_thread(method, *args, **kwargs)
        return method(*args, **kwargs)

    declared = getattr(BaseCache, "a" + name)
    twin.__name__ = twin.__qualname__ = "a" + name
    twin.__doc__ = declared.__doc__
    twin.__signature__ = inspect.signature(declared)  # type: ignore[attr-defined]
    twin.__annotations__ = declared.__annotations__
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
    #: Whatever this says, a ``KEY_FUNCTION`` other than the built-in one is
    #: never memoized: it may depend on context (the current tenant, say), so
    #: it is called on every operation.
    memoize_keys: ClassVar[bool] = True

    _missing_key: ClassVar[object] = _MISSING

    #: The ``OPTIONS`` this backend's own code reads (MAX_ENTRIES and
    #: CULL_FREQUENCY are read here).  BaseCache rejects any other key when a
    #: backend sets this; None (the default) leaves checking to the backend.
    known_options: ClassVar[frozenset[str] | None] = None

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
        from ..conf import backend_settings

        #: Where ``SECRET_KEY``, ``DATABASES`` and the other non-cache settings
        #: come from: the handler's own settings (``params["SETTINGS"]``, set
        #: by an explicit :class:`~cachemere.CacheHandler`), else the global
        #: ones, or a Django project's when Django's handler builds the cache.
        self.settings: SettingsSource = params.get("SETTINGS") or backend_settings()
        timeout = params.get("timeout", params.get("TIMEOUT", 300))
        if timeout is not None:
            timeout = _int_option(timeout, "TIMEOUT")
        self.default_timeout: int | None = timeout
        options = params.get("OPTIONS") or {}
        if self.known_options is not None:
            reject_unknown_options(options, self.known_options)
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
        self._memo: dict[str, str] | None = None
        self._forget_keys()

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
        pure = self.memoize_keys and self._key_func is default_key_func
        self._memo = {} if pure else None

    def make_key(self, key: Any, version: Any = None) -> str:
        """Build the stored key from the caller's key, ``KEY_PREFIX`` and version."""
        if version is None:
            version = self._version
        return self._key_func(key, self._key_prefix, version)

    def validate_key(self, key: str) -> None:
        """Warn (:class:`CacheKeyWarning`) about a key that memcached would reject."""
        warn_memcache_key(key)

    def make_and_validate_key(self, key: Any, version: Any = None) -> str:
        """``make_key`` followed by ``validate_key``; returns the made key.

        This is the one key path of every backend: where keys are memoized
        (see :attr:`memoize_keys`), the memo is read here and nowhere else.
        """
        memo = self._memo
        if memo is not None and version is None and type(key) is str:
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

    def make_and_validate_keys(self, keys: Iterable[Any], version: Any = None) -> list[str]:
        """:meth:`make_and_validate_key` of each key, in order.

        A batch reads the memo inline (a hit is exactly what
        :meth:`make_and_validate_key` would return), saving a call per key.
        """
        make = self.make_and_validate_key
        memo = self._memo
        if memo is None or version is not None:
            return [make(key, version) for key in keys]
        known = memo.get
        return [(known(key) if type(key) is str else None) or make(key) for key in keys]

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

    def _get_many_logic(self, keys: Iterable[Any], version: Any) -> Logic[dict[Any, Any]]:
        found = {}
        for key in keys:
            value = yield "get", (key, _MISSING, version)
            if value is not _MISSING:
                found[key] = value
        return found

    def _set_many_logic(self, data: Mapping[Any, Any], timeout: Timeout, version: Any) -> Logic[list[Any]]:
        for key, value in data.items():
            yield "set", (key, value, timeout, version)
        return []

    def _delete_many_logic(self, keys: Iterable[Any], version: Any) -> Logic[None]:
        for key in keys:
            yield "delete", (key, version)

    def _get_or_set_logic(self, key: Any, default: Any, timeout: Timeout, version: Any) -> Logic[Any]:
        value = yield "get", (key, _MISSING, version)
        if value is _MISSING:
            if callable(default):
                default = default()
            yield "add", (key, default, timeout, version)
            # Read back: a concurrent writer may have won the add.
            value = yield "get", (key, default, version)
        return value

    def _has_key_logic(self, key: Any, version: Any) -> Logic[bool]:
        value = yield "get", (key, _MISSING, version)
        return value is not _MISSING

    def _incr_logic(self, key: Any, delta: int, version: Any) -> Logic[Any]:
        value = yield "get", (key, _MISSING, version)
        if value is _MISSING:
            raise ValueError(f"Key '{key}' not found")
        new_value = value + delta
        yield "set", (key, new_value, DEFAULT_TIMEOUT, version)
        return new_value

    def _incr_version_logic(self, key: Any, delta: int, version: Any) -> Logic[Any]:
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
        return drive(self, self._get_many_logic(keys, version))

    def set_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        """Store every item; returns the keys that could not be stored."""
        return drive(self, self._set_many_logic(data, timeout, version))

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        """Remove every key given."""
        drive(self, self._delete_many_logic(keys, version))

    def get_or_set(
        self, key: Any, default: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> Any:
        """The cached value, or store ``default`` (called if callable) and return it."""
        return drive(self, self._get_or_set_logic(key, default, timeout, version))

    def has_key(self, key: Any, version: Any = None) -> bool:
        """True if ``key`` is stored and not expired (a stored None counts)."""
        return drive(self, self._has_key_logic(key, version))

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Add ``delta`` to the stored value and return it; ValueError if missing."""
        return drive(self, self._incr_logic(key, delta, version))

    def decr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Subtract ``delta`` from the stored value and return it; ValueError if missing."""
        return self.incr(key, -delta, version)

    def incr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Move the value to version ``version + delta``; returns the new version."""
        return drive(self, self._incr_version_logic(key, delta, version))

    def decr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Move the value to version ``version - delta``; returns the new version."""
        return self.incr_version(key, -delta, version)

    def __contains__(self, key: Any) -> bool:
        return self.has_key(key)

    # -- async twins ------------------------------------------------------
    # Primitives delegate to their sync method; composites run the shared logic
    # against the async primitives.

    async def _in_sync(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self, name)
        if self.blocking:
            return await asyncio.to_thread(method, *args, **kwargs)
        return method(*args, **kwargs)

    async def aadd(
        self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        """Async twin of :meth:`add`."""
        return await self._in_sync("add", key, value, timeout, version)  # type: ignore[no-any-return]

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        """Async twin of :meth:`get`."""
        return await self._in_sync("get", key, default, version)

    async def aset(
        self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        """Async twin of :meth:`set`."""
        await self._in_sync("set", key, value, timeout, version)

    async def atouch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        """Async twin of :meth:`touch`."""
        return await self._in_sync("touch", key, timeout, version)  # type: ignore[no-any-return]

    async def adelete(self, key: Any, version: Any = None) -> bool:
        """Async twin of :meth:`delete`."""
        return await self._in_sync("delete", key, version)  # type: ignore[no-any-return]

    async def aclear(self) -> Any:
        """Async twin of :meth:`clear`."""
        return await self._in_sync("clear")

    async def aclose(self, **kwargs: Any) -> None:
        """Async twin of :meth:`close`."""
        await self._in_sync("close", **kwargs)

    async def aget_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        return await adrive(self, self._get_many_logic(keys, version))

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        return await adrive(self, self._set_many_logic(data, timeout, version))

    async def adelete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        await adrive(self, self._delete_many_logic(keys, version))

    async def aget_or_set(
        self, key: Any, default: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> Any:
        return await adrive(self, self._get_or_set_logic(key, default, timeout, version))

    async def ahas_key(self, key: Any, version: Any = None) -> bool:
        return await adrive(self, self._has_key_logic(key, version))

    async def aincr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await adrive(self, self._incr_logic(key, delta, version))

    async def adecr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await self.aincr(key, -delta, version)

    async def aincr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await adrive(self, self._incr_version_logic(key, delta, version))

    async def adecr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await self.aincr_version(key, -delta, version)
