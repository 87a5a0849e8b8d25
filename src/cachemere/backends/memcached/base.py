"""Memcached backends: ``PyMemcacheCache`` (pymemcache) and ``PyLibMCCache`` (pylibmc).

``LOCATION`` names one server or several (``host:port``, ``unix:/path``, a list,
or a ``;``/``,``-separated string); several servers form one cache, each key
stored on exactly one of them, chosen by consistent hashing.  ``OPTIONS`` go to
the client library.  See docs/memcached.md.

This module holds what both backends share: LOCATION parsing, key validation,
timeouts and every cache operation, written against the methods the two client
libraries have in common (get, set, add, touch, delete, incr, decr, get_multi,
set_multi, delete_multi, flush_all).  :mod:`.pymemcache` and
:mod:`.pylibmc` only build clients; they are imported on first use of
their class, so each needs only its own library installed.

Clients are not thread-safe, and async twins run in worker threads, so each
thread gets its own client (made on first use), and a forked child makes new
ones rather than share its parent's sockets (see :func:`_after_fork_in_child`).

With ``OPTIONS["SIGN_VALUES"]`` values are signed (:mod:`.signed`): a value
that does not verify is a miss and is never unpickled.
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from ...exceptions import ImproperlyConfigured
from ...signing import configured_secret
from ..base import (
    DEFAULT_TIMEOUT,
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    Timeout,
    bool_option,
    reject_unknown_options,
)
from ..keys import invalid_key, is_memcache_safe, memcache_key_warnings
from .signed import Sealer

# PyMemcacheCache and PyLibMCCache are imported on first use (see __getattr__).
__all__ = ["OWN_OPTIONS", "BaseMemcachedCache", "Server", "parse_location", "server_name"]

#: A server as pymemcache names it: ``(host, port)``, or a Unix socket path.
Server = tuple[str, int] | str

_THIRTY_DAYS = 30 * 24 * 3600
# memcached reads an expiry above 30 days as a Unix time.  This one is long
# past, so it means "expired already" in the text and the binary protocol
# alike; a negative relative time (Django's choice) wraps to the far future in
# the binary protocol, where the field is unsigned.
_EXPIRED = _THIRTY_DAYS + 1
# memcached keeps an absolute expiry as a signed 32-bit Unix time.
_LATEST = 2**31 - 1
_DEFAULT_PORT = 11211
_SEPARATORS = re.compile(r"[;,]")
_IPV6 = re.compile(r"\[(?P<host>[^\]]+)\](?::(?P<port>.*))?")
_UNSUPPORTED_OPTIONS = ("MAX_ENTRIES", "CULL_FREQUENCY")
#: OPTIONS the backend reads itself; every other option goes to the client library.
OWN_OPTIONS = frozenset({"SIGN_VALUES", "SIGNING_KEY"})
_MISSING = object()


def _parse_server(entry: Any) -> Server:
    if isinstance(entry, tuple) and len(entry) == 2:
        host, port = entry
    elif not isinstance(entry, str):
        raise ImproperlyConfigured(f"LOCATION entry {entry!r} is not a string")
    elif "://" in entry:
        # Otherwise "memcached://h:1" reads as host "memcached://h", a DNS error much later.
        raise ImproperlyConfigured(
            f"LOCATION entry {entry!r} is a URL: memcached servers are written "
            "'host:port' or 'unix:/path/to/socket', without a scheme"
        )
    elif entry.startswith(("unix:", "/")):
        path = entry.removeprefix("unix:")
        if not path:
            raise ImproperlyConfigured(f"LOCATION entry {entry!r} names no socket path")
        return path
    elif ipv6 := _IPV6.fullmatch(entry):
        host, port = ipv6["host"], ipv6["port"] or _DEFAULT_PORT
    elif ":" in entry:
        host, port = entry.rsplit(":", 1)
    else:
        host, port = entry, _DEFAULT_PORT
    try:
        number = int(port)
    except (TypeError, ValueError):
        number = 0
    if not isinstance(host, str) or not host or "/" in host or not 0 < number < 65536:
        raise ImproperlyConfigured(
            f"LOCATION entry {entry!r} is not 'host:port' or 'unix:/path/to/socket'"
        )
    return (host, number)


def server_name(server: Server) -> str:
    """``host:port`` (``[host]:port`` for IPv6) or the socket path, as LOCATION writes it."""
    if isinstance(server, str):
        return server
    host, port = server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_location(location: Any) -> list[Server]:
    """The servers ``LOCATION`` names, in order; ImproperlyConfigured when malformed."""
    if isinstance(location, str):
        entries: list[Any] = [part.strip() for part in _SEPARATORS.split(location)]
    elif isinstance(location, (list, tuple)):
        entries = [part.strip() if isinstance(part, str) else part for part in location]
    else:
        raise ImproperlyConfigured(
            f"LOCATION must be a string or a list of memcached servers, got {location!r}"
        )
    servers = [_parse_server(entry) for entry in entries if entry != ""]
    if not servers:
        raise ImproperlyConfigured(f"LOCATION {location!r} names no memcached server")
    if len(set(servers)) != len(servers):
        raise ImproperlyConfigured(f"LOCATION {location!r} names a server twice")
    return servers


class _ThreadClient(threading.local):
    """This thread's client, made on first use in each thread and recorded in ``made``."""

    def __init__(self, make: Callable[[], Any], made: weakref.WeakSet[Any]) -> None:
        self.client = make()
        with _fork_lock:
            made.add(self.client)


_live: weakref.WeakSet[BaseMemcachedCache] = weakref.WeakSet()
# Held across fork() so that no client is recorded half-way, and so that a
# child inherits a strong reference to every client it must not free.
_fork_lock = threading.Lock()
_inherited: list[Any] = []


def _before_fork() -> None:
    _fork_lock.acquire()
    for cache in list(_live):
        if cache._keep_inherited_clients:
            _inherited.extend(cache._clients)


def _after_fork_in_parent() -> None:
    _inherited.clear()
    _fork_lock.release()


def _after_fork_in_child() -> None:
    """Give the child new clients; abandon, never free, the ones it inherited.

    A child sharing its parent's sockets would read replies meant for the
    parent.  And freeing an inherited libmemcached client sends ``quit`` and
    shuts the socket down, which the parent shares: its next calls fail.  So
    those clients get a reference that is never released (the sockets close
    with the child, which does not disturb the parent).
    """
    if _inherited:
        import ctypes

        for client in _inherited:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(client))
        _inherited.clear()
    _fork_lock.release()
    for cache in list(_live):
        cache._reset_clients()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def _same(key: str, value: Any) -> Any:
    return value


def _utf8_length(key: str) -> int:
    """Length of ``key`` in UTF-8; -1 when it has no UTF-8 form (a lone surrogate)."""
    try:
        return len(key.encode())
    except UnicodeEncodeError:
        return -1


class BaseMemcachedCache(BaseCache):
    """Everything the memcached backends share; subclasses supply :meth:`_client_factory`."""

    # validate_key raises exactly for the keys is_memcache_safe rejects (and
    # for over-long UTF-8), so memoized keys are known to be valid.
    memoize_keys = True

    #: The library's exceptions for a value the server will not store (too large).
    _refused: ClassVar[tuple[type[BaseException], ...]] = ()
    #: The library's exceptions for incr/decr of a missing key.
    _not_found: ClassVar[tuple[type[BaseException], ...]] = ()
    #: The library's exceptions for incr/decr of a value that is not a number (among others).
    _incr_refused: ClassVar[tuple[type[BaseException], ...]] = ()
    #: Library name for error messages.
    library: ClassVar[str] = ""
    #: The OPTIONS names the client library takes.
    library_options: ClassVar[frozenset[str]] = frozenset()
    #: True when freeing a client in a forked child would disturb the parent's connections.
    _keep_inherited_clients: ClassVar[bool] = False

    def __init__(self, server: Any, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        options = dict(params.get("OPTIONS") or {})
        self._check_option_names(options)
        self._sealer = self._make_sealer(options)
        self._servers = parse_location(server)
        self._options = {name: value for name, value in options.items() if name not in OWN_OPTIONS}
        #: Prepares ``(made key, value)`` for the client (see the library modules).
        self._pack: Callable[[str, Any], Any] = self._packer()
        try:
            self._reset_clients()
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"OPTIONS rejected by {self.library}: {exc}") from exc
        _live.add(self)

    def _check_option_names(self, options: Mapping[str, Any]) -> None:
        for name in _UNSUPPORTED_OPTIONS:
            if name in options:
                raise ImproperlyConfigured(
                    f"OPTIONS {name!r} is not supported by memcached, which evicts by "
                    "memory (its -m setting); remove it"
                )
        reject_unknown_options(options, self.library_options | OWN_OPTIONS)

    def _make_sealer(self, options: Mapping[str, Any]) -> Sealer | None:
        if not bool_option(options, "SIGN_VALUES", False):
            return None
        secret = configured_secret(options, self.settings)
        if secret is None:
            raise ImproperlyConfigured(
                "OPTIONS['SIGN_VALUES'] needs a secret: set OPTIONS['SIGNING_KEY'] "
                "or the SECRET_KEY setting"
            )
        return Sealer(secret)

    @property
    def signs_values(self) -> bool:
        """True when values are signed (``OPTIONS["SIGN_VALUES"]``)."""
        return self._sealer is not None

    def _packer(self) -> Callable[[str, Any], Any]:
        """``(made key, value) -> what the client stores``; the signed form when signing."""
        return _same

    def _client_factory(self, servers: list[Server], options: dict[str, Any]) -> Callable[[], Any]:
        """A callable making a client for one thread (it may hand out a shared thread-safe one)."""
        raise NotImplementedError

    def _reset_clients(self) -> None:
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()
        self._local = _ThreadClient(self._client_factory(self._servers, self._options), self._clients)

    # -- keys and timeouts ----------------------------------------------------

    def validate_key(self, key: str) -> None:
        """Raise :class:`InvalidCacheKey` for a key memcached would misread (CVE-2020-13254)."""
        if type(key) is not str:
            raise invalid_key(f"Cache key must be a str for memcached, got {key!r}")
        length = len(key) if key.isascii() else _utf8_length(key)
        if length < 0:
            raise invalid_key(f"Cache key cannot be encoded in UTF-8 (a lone surrogate?): {key!r}")
        if length <= MEMCACHE_MAX_KEY_LENGTH and is_memcache_safe(key):
            return
        for message in memcache_key_warnings(key):
            raise invalid_key(message)
        raise invalid_key(
            f"Cache key will cause errors if used with memcached: {key!r} "
            f"(longer than {MEMCACHE_MAX_KEY_LENGTH} bytes in UTF-8)"
        )

    def get_backend_timeout(self, timeout: Timeout = DEFAULT_TIMEOUT) -> int:
        """memcached's expiry: seconds, a Unix time beyond 30 days, 0 for never."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return 0
        seconds = int(timeout)  # type: ignore[arg-type]  # DEFAULT_TIMEOUT is replaced above
        if seconds <= 0:
            # memcached counts whole seconds: a positive fraction keeps the value one.
            return 1 if timeout > 0 else _EXPIRED  # type: ignore[operator]
        if seconds > _THIRTY_DAYS:
            return min(seconds + int(time.time()), _LATEST)
        return seconds

    def _key_map(self, keys: Iterable[Any], version: Any) -> dict[str, Any]:
        """Made key -> caller's key, validated."""
        keys = list(keys)
        return dict(zip(self.make_and_validate_keys(keys, version), keys))

    # -- primitives -----------------------------------------------------------

    def add(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version)
        return bool(self._local.client.add(key, self._pack(key, value), self.get_backend_timeout(timeout)))

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        made = self.make_and_validate_key(key, version)
        sealer = self._sealer
        if sealer is None:
            return self._local.client.get(made, default)
        return sealer.open(made, self._local.client.get(made), default)

    def set(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> None:
        key = self.make_and_validate_key(key, version)
        client = self._local.client
        try:
            stored = client.set(key, self._pack(key, value), self.get_backend_timeout(timeout))
        except self._refused:
            # Whatever the server did, the old value must not outlive a failed set.
            client.delete(key)
            raise
        if not stored:
            client.delete(key)

    def touch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version)
        return bool(self._local.client.touch(key, self.get_backend_timeout(timeout)))

    def delete(self, key: Any, version: Any = None) -> bool:
        return bool(self._local.client.delete(self.make_and_validate_key(key, version)))

    def clear(self) -> None:
        """Flush every server of this cache: all keys, whatever their prefix or version."""
        self._local.client.flush_all()

    def close(self, **kwargs: Any) -> None:
        """Keep the connections: they are reused by the next request in this thread."""

    # -- server-side and multi-key operations ---------------------------------

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Atomic on the server, keeps the expiry; memcached floors ``decr`` at 0.

        TypeError for a stored value that is not an integer, as for ``None + 1``.
        """
        made = self.make_and_validate_key(key, version)
        client = self._local.client
        try:
            value = client.decr(made, -delta) if delta < 0 else client.incr(made, delta)
        except self._not_found:
            value = None
        except self._incr_refused as exc:
            # The libraries' errors for a non-numeric value are too broad to trust
            # alone (pylibmc's binary protocol gives UnknownReadFailure): look.
            stored = client.get(made, _MISSING)
            if stored is _MISSING or type(stored) is int:
                raise
            raise TypeError(f"Key '{made}' holds a value memcached cannot increment: {exc}") from exc
        # pymemcache answers a miss with None, and False when ignore_exc hid an error.
        if value is None or value is False:
            raise ValueError(f"Key '{made}' not found")
        return value

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        key_map = self._key_map(keys, version)
        if not key_map:
            return {}
        found = self._local.client.get_multi(list(key_map))
        sealer = self._sealer
        if sealer is None:
            return {key_map[made]: value for made, value in found.items()}
        opened = ((made, sealer.open(made, stored, _MISSING)) for made, stored in found.items())
        return {key_map[made]: value for made, value in opened if value is not _MISSING}

    def set_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        """Store every item with the library's multi-set; returns the keys not stored."""
        if not data:
            return []
        key_map = self._key_map(data, version)
        pack = self._pack
        values = {made: pack(made, data[key]) for made, key in key_map.items()}
        exptime = self.get_backend_timeout(timeout)
        client = self._local.client
        try:
            failed = client.set_multi(values, exptime)
        except self._refused:
            # The batch stopped at a value the server refused: find every such value.
            failed = []
            for made, value in values.items():
                try:
                    if client.set(made, value, exptime):
                        continue
                except self._refused:
                    pass
                client.delete(made)
                failed.append(made)
        return [key_map[made] for made in failed]

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        made = list(self._key_map(keys, version))
        if made:
            self._local.client.delete_multi(made)


