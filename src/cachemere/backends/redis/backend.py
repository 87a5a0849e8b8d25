"""Redis cache backend on redis-py (hiredis is used automatically when installed).

``LOCATION`` names one server or several (a list, or a ``;``/``,``-separated
string of ``redis://``, ``rediss://`` or ``unix://`` URLs): the first is the
leader and takes every write; reads go to a replica chosen at random (to the
leader when there is none).  See docs/redis.md for OPTIONS, ``clear()`` and
failure handling.

Design:

* Every operation is written once, in :mod:`.ops`, as a generator of
  redis commands; :meth:`RedisCache._run` drives it on redis-py's sync
  connection pools and :meth:`RedisCache._arun` on ``redis.asyncio`` ones.
* Sync pools (and a client for pipelines) live in a module-level registry
  keyed by server URL and options, so every thread's instance of an alias
  shares one pool per server, and no client object is built per call.
* A single command goes straight to a pooled connection (:func:`_call`), not
  through ``Redis.execute_command``: no per-call retry wrapper, closures or
  metrics.  Commands are never retried, so an INCR whose reply was lost is
  not applied twice; the pool replaces a connection that went stale.
* Async pools are bound to an event loop, so they are kept per running loop
  and disconnected when the loop shuts down its async generators (what
  ``asyncio.run`` does on exit).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import socket
import threading
from collections.abc import AsyncGenerator, Iterable, Mapping
from random import choice
from typing import Any, TypeVar

try:
    import redis
    import redis.asyncio as aredis
    from redis.exceptions import (
        AuthenticationError,
        AuthorizationError,
        NoScriptError,
    )
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"cachemere's RedisCache needs redis-py: pip install 'cachemere[redis]' ({exc})"
    ) from exc

from ...exceptions import ImproperlyConfigured
from ...redaction import mask_location, redact
from ...signing import configured_secret
from ...utils import import_string
from ..base import DEFAULT_TIMEOUT, BaseCache, Timeout
from ..keys import default_key_func
from . import compat, ops
from .signed import Signer

__all__ = ["RedisCache", "RedisSerializer"]

RedisSerializer = ops.RedisSerializer

logger = logging.getLogger("cachemere.backends.redis")

T = TypeVar("T")

#: The OPTIONS switch that turns an unreachable server into misses and no-ops.
IGNORE_EXCEPTIONS = "IGNORE_EXCEPTIONS"

# An outage: the server cannot be reached or did not answer in time.
_OUTAGE = (RedisConnectionError, RedisTimeoutError)
# ConnectionError subclasses that are configuration mistakes, never ignored.
_MISCONFIGURED = (AuthenticationError, AuthorizationError)

_SCHEMES = ("redis", "rediss", "unix")
_SEPARATORS = re.compile(r"[;,]")

_ASYNC_TWINS = compat.ASYNC_TWINS
_SYNC_TWINS = {async_cls: sync_cls for sync_cls, async_cls in _ASYNC_TWINS.items()}


def split_location(location: Any) -> list[str]:
    """The server URLs of a LOCATION: one URL, a list, or a ``;``/``,``-separated string."""
    if isinstance(location, str):
        servers = [part.strip() for part in _SEPARATORS.split(location)]
    elif isinstance(location, (list, tuple)):
        servers = [str(part).strip() for part in location]
    else:
        raise ImproperlyConfigured(
            f"LOCATION must be a redis URL or a list of them, got {mask_location(location)!r}"
        )
    servers = [server for server in servers if server]
    if not servers:
        raise ImproperlyConfigured("LOCATION must name at least one redis server")
    for number, server in enumerate(servers, 1):
        scheme = server.partition("://")[0] if "://" in server else ""
        if scheme not in _SCHEMES:
            # The entry itself is not shown: it may be the tail of a password
            # that an unencoded ';' or ',' cut in two.
            raise ImproperlyConfigured(
                f"LOCATION {mask_location(location)!r}: entry {number} of {len(servers)} is not "
                "a redis URL: each must start with redis://, rediss:// or unix:// (a ';' or ',' "
                "inside a password must be percent-encoded)"
            )
    return servers


def _resolve_class(value: Any, option: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        renamed = compat.RENAMED_CLASSES.get(value)
        if renamed is not None:
            return import_string(renamed)
        raise ImproperlyConfigured(f"OPTIONS[{option!r}] = {value!r} cannot be imported: {exc}") from exc


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


class RedisConfig:
    """LOCATION and OPTIONS of one cache, checked and split into sync and async pool settings."""

    def __init__(self, location: Any, options: Mapping[str, Any], settings: Any) -> None:
        self.servers = split_location(location)
        options = dict(options)
        secret = self._signing_secret(options, settings)
        for name in ("MAX_ENTRIES", "CULL_FREQUENCY"):
            if name in options:
                raise ImproperlyConfigured(
                    f"OPTIONS[{name!r}] is not supported by RedisCache: redis evicts by its "
                    "own maxmemory-policy"
                )
        ignore = options.pop(IGNORE_EXCEPTIONS, False)
        if not isinstance(ignore, bool):
            raise ImproperlyConfigured(
                f"OPTIONS[{IGNORE_EXCEPTIONS!r}] must be True or False, got {ignore!r}"
            )
        self.ignore_exceptions: bool = ignore
        serializer = _resolve_class(options.pop("serializer", None), "serializer")
        if serializer is None:
            serializer = ops.RedisSerializer()
        elif callable(serializer):
            serializer = serializer()
        if not (hasattr(serializer, "dumps") and hasattr(serializer, "loads")):
            raise ImproperlyConfigured(
                f"OPTIONS['serializer'] must provide dumps() and loads(), got {serializer!r}"
            )
        self.serializer = serializer
        #: Signs and verifies values when OPTIONS["SIGN_VALUES"] is on.
        self.signer = None if secret is None else Signer(secret, serializer.loads)

        #: Why the async methods cannot run with these OPTIONS (None when they can).
        self.async_problem: str | None = None
        pool_class = _resolve_class(options.pop("pool_class", None), "pool_class")
        parser_class = _resolve_class(options.pop("parser_class", None), "parser_class")
        self.pool_class, self.async_pool_class = self._pair(
            pool_class, "pool_class", redis.ConnectionPool, aredis.ConnectionPool
        )
        self.options = options  # what goes to the pool, as given
        self.sync_kwargs = dict(options)
        self.async_kwargs = dict(options)
        if parser_class is not None:
            self.sync_kwargs["parser_class"], self.async_kwargs["parser_class"] = self._pair(
                parser_class, "parser_class", None, None
            )
        if compat.MaintNotificationsConfig is not None and "maint_notifications_config" not in options:
            # redis-py 8 turns maintenance notifications on ("auto") with RESP3,
            # which also skips the pool's check that a connection it hands out is
            # still open: an asyncio connection left stale by a server restart
            # would fail its next command.  They matter only for managed clusters
            # that announce failovers; OPTIONS can switch them back on.
            self.sync_kwargs["maint_notifications_config"] = compat.MaintNotificationsConfig(enabled=False)
            self.async_kwargs["maint_notifications_config"] = compat.MaintNotificationsConfig(enabled=False)
        # "retry" applies to connecting (commands are never retried); asyncio
        # connections await it, so they need redis.asyncio.retry.Retry.
        if isinstance(options.get("retry"), Retry):
            self.async_problem = "OPTIONS['retry'] is a sync redis.retry.Retry"
        if "connection_class" in options:
            self.async_problem = "OPTIONS['connection_class'] is a sync connection class"
        #: Identifies the pool settings: equal keys may share pools.
        self.key = (
            self.pool_class,
            _hashable(parser_class),
            tuple(sorted((name, _hashable(value)) for name, value in options.items())),
        )

    @staticmethod
    def _signing_secret(options: dict[str, Any], settings: Any) -> bytes | None:
        """The secret values are signed with (None: SIGN_VALUES is off); pops the signing options."""
        sign_values = options.pop("SIGN_VALUES", False)
        if not isinstance(sign_values, bool):
            raise ImproperlyConfigured(f"OPTIONS['SIGN_VALUES'] must be True or False, got {sign_values!r}")
        given = {"SIGNING_KEY": options.pop("SIGNING_KEY", None)}
        if not sign_values:
            if given["SIGNING_KEY"] is not None:
                raise ImproperlyConfigured(
                    "OPTIONS['SIGNING_KEY'] is set but OPTIONS['SIGN_VALUES'] is not True: "
                    "nothing would be signed"
                )
            return None
        secret = configured_secret(given, settings)
        if secret is None:
            raise ImproperlyConfigured(
                "OPTIONS['SIGN_VALUES'] needs a secret: set OPTIONS['SIGNING_KEY'] or the SECRET_KEY setting"
            )
        return secret

    def _pair(self, cls: Any, option: str, sync_default: Any, async_default: Any) -> tuple[Any, Any]:
        """The sync class and its asyncio twin for a class given in OPTIONS."""
        if cls is None:
            return sync_default, async_default
        if not isinstance(cls, type):
            raise ImproperlyConfigured(f"OPTIONS[{option!r}] must be a class or a dotted path, got {cls!r}")
        if cls in _SYNC_TWINS:
            return _SYNC_TWINS[cls], cls
        if cls not in _ASYNC_TWINS:
            self.async_problem = f"OPTIONS[{option!r}] = {cls.__qualname__} has no asyncio twin"
        if option == "pool_class" and not issubclass(cls, redis.ConnectionPool):
            raise ImproperlyConfigured(
                f"OPTIONS['pool_class'] must be a redis.ConnectionPool subclass, got {cls!r}"
            )
        return cls, _ASYNC_TWINS.get(cls)

    def check_pool(self, pool: Any) -> None:
        """Reject OPTIONS the connections would only refuse at the first command."""
        accepted = _init_parameters(pool.connection_class)
        if accepted is None:
            return
        for name in self.options:
            if name in pool.connection_kwargs and name not in accepted:
                raise ImproperlyConfigured(
                    f"OPTIONS[{name!r}] is neither a connection-pool option nor a "
                    f"{pool.connection_class.__name__} option"
                )

    def describe(self) -> str:
        leader, *replicas = (mask_location(server) for server in self.servers)
        return f"leader {leader}" + (f", replicas {', '.join(replicas)}" if replicas else "")


def _init_parameters(cls: type) -> set[str] | None:
    """Keyword names ``cls(...)`` accepts, following ``**kwargs`` up the MRO; None if unknown."""
    accepted: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        if klass is object:
            return None
        try:
            parameters = inspect.signature(vars(klass)["__init__"]).parameters.values()
        except (TypeError, ValueError):
            return None
        accepted.update(param.name for param in parameters)
        if not any(param.kind is inspect.Parameter.VAR_KEYWORD for param in parameters):
            return accepted
    return None


# -- clients: sync ones shared by all threads, async ones per event loop -----

_sync_clients: dict[tuple[str, Any], redis.Redis] = {}
_sync_lock = threading.Lock()


def sync_client(url: str, config: RedisConfig) -> redis.Redis:
    """The process-wide client (and pool) for ``url`` with ``config``'s options."""
    key = (url, config.key)
    client = _sync_clients.get(key)
    if client is None:
        with _sync_lock:
            client = _sync_clients.get(key)
            if client is None:
                problem: str | None = None
                try:
                    pool = config.pool_class.from_url(url, **config.sync_kwargs)
                except (TypeError, ValueError) as exc:
                    problem = redact(str(exc), url)
                if problem is not None:
                    # Raised outside the except block: the original error, which
                    # may quote the password, is neither the cause nor the context.
                    raise ImproperlyConfigured(
                        f"redis server {mask_location(url)!r} with OPTIONS {sorted(config.options)}: "
                        f"{problem}"
                    )
                config.check_pool(pool)
                client = _sync_clients[key] = redis.Redis(connection_pool=pool)
    return client


class _LoopState:
    """One event loop's async pools, and the async generator that disconnects them at its shutdown."""

    __slots__ = ("closer", "loop", "released", "topologies")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        #: topology key -> (client for pipelines, leader pool, replica pools)
        self.topologies: dict[Any, _AsyncTopology] = {}
        self.closer: AsyncGenerator[None, None] | None = None
        self.released = False

    def pools(self) -> list[aredis.ConnectionPool]:
        unique = {}
        for _, leader, replicas in self.topologies.values():
            for pool in (leader, *replicas):
                unique[id(pool)] = pool
        return list(unique.values())


# id(loop) -> its state.  The state holds its loop (its connections' transports
# do anyway), so an entry must leave with its loop: when the loop shuts down
# its async generators, or, for a loop closed without doing so (a new loop per
# call, closed with loop.close() only), when the next loop registers.
_loop_states: dict[int, _LoopState] = {}
_loop_lock = threading.Lock()


async def _disconnect_at_shutdown(state: _LoopState) -> AsyncGenerator[None, None]:
    # An async generator the loop knows about: loop.shutdown_asyncgens() (run by
    # asyncio.run on exit) closes it, which disconnects this loop's pools while
    # the loop can still run the coroutines that do it.
    try:
        yield
    finally:
        if not state.released:  # else released by _release_closed, without its loop
            state.released = True
            with _loop_lock:
                if _loop_states.get(id(state.loop)) is state:
                    del _loop_states[id(state.loop)]
            for pool in state.pools():
                await pool.disconnect()


def _release_closed(state: _LoopState) -> None:
    """Free the state of a loop closed without shutting down its async generators.

    The loop cannot run ``pool.disconnect()`` any more: the sockets are shut
    down so the server drops them now (their file descriptors close when the
    transports are collected), and the closer is finished here so that it is
    never handed to the closed loop to finalize.
    """
    state.released = True
    for pool in state.pools():
        for transport in compat.async_transports(pool):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already disconnected
    state.topologies.clear()
    closer, state.closer = state.closer, None
    if closer is not None:
        try:
            closer.aclose().send(None)  # runs its finally, which awaits nothing once released
        except StopIteration:
            pass


async def _state_of(loop: asyncio.AbstractEventLoop) -> _LoopState:
    state = _loop_states.get(id(loop))
    if state is not None and state.loop is loop:
        return state
    state = _LoopState(loop)
    with _loop_lock:
        closed = [old for old in _loop_states.values() if old.loop.is_closed()]
        for old in closed:
            del _loop_states[id(old.loop)]
        _loop_states[id(loop)] = state
    for old in closed:
        _release_closed(old)
    state.closer = _disconnect_at_shutdown(state)
    await state.closer.asend(None)  # the first iteration registers it with the loop
    return state


def _call(pool: redis.ConnectionPool, command: tuple[Any, ...]) -> Any:
    """Run one command on a pooled connection; the reply is not post-processed.

    What ``Redis.execute_command`` does, without its per-call retry wrapper,
    closures and metrics, which cost a third of a GET on a local server.  The
    pool still checks that a connection it hands out is alive.
    """
    connection = pool.get_connection()
    try:
        connection.send_command(*command)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        return connection.read_response()
    except _OUTAGE:
        connection.disconnect()  # type: ignore[no-untyped-call]  # untyped in redis-py
        raise
    finally:
        pool.release(connection)


async def _acall(pool: aredis.ConnectionPool, command: tuple[Any, ...]) -> Any:
    """:func:`_call` on an asyncio pool."""
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]  # untyped in redis-py
    try:
        await connection.send_command(*command)
        return await connection.read_response()
    except _OUTAGE:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)


_AsyncTopology = tuple[aredis.Redis, aredis.ConnectionPool, tuple[aredis.ConnectionPool, ...]]


def _async_topology(config: RedisConfig) -> _AsyncTopology:
    if config.async_problem:
        raise ImproperlyConfigured(
            f"{config.async_problem}: the async methods need asyncio classes; "
            "use the sync methods or OPTIONS that redis.asyncio understands"
        )
    built = []
    for url in config.servers:
        kwargs = dict(config.async_kwargs)
        pool = (config.async_pool_class or aredis.ConnectionPool).from_url(url, **kwargs)
        built.append(pool)
    return aredis.Redis(connection_pool=built[0]), built[0], tuple(built[1:])


# -- the backend ---------------------------------------------------------------


class RedisCache(BaseCache):
    """Django's ``RedisCache`` on redis-py, with native async methods.

    Integers are stored as they are, so ``incr``/``decr`` run atomically on the
    server; other values go through the serializer (pickle by default).
    """

    def __init__(self, server: Any, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        config = self._config = RedisConfig(server, params.get("OPTIONS") or {}, self.settings)
        self._signer = config.signer
        self._ignore = config.ignore_exceptions
        self._dumps = config.serializer.dumps
        self._loads = config.serializer.loads
        self._leader = sync_client(config.servers[0], config)
        self._leader_pool = self._leader.connection_pool
        self._replica_pools = tuple(sync_client(url, config).connection_pool for url in config.servers[1:])
        self._topology_key = (tuple(config.servers), config.key)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._config.describe()}>"

    @property
    def servers(self) -> list[str]:
        """The server URLs, leader first."""
        return list(self._config.servers)

    def get_backend_timeout(self, timeout: Timeout = DEFAULT_TIMEOUT) -> float | None:
        """Seconds until expiry (None: never); 0 means "do not keep"."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        return max(0.0, float(timeout))  # type: ignore[arg-type]  # DEFAULT_TIMEOUT was replaced above

    def _expiry(self, timeout: Timeout) -> int | None:
        # Milliseconds, so that fractional timeouts are honoured (Django truncates
        # them to whole seconds, turning 0.5 into "do not keep").
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        return None if timeout is None else int(timeout * 1000)  # type: ignore[operator]

    # -- drivers ---------------------------------------------------------------

    def _run(self, op: ops.CommandLogic[T], fallback: T | _NotFound) -> T:
        """Drive ``op`` on the sync pools; ``fallback`` answers an ignored outage."""
        leader, replicas = self._leader_pool, self._replica_pools
        try:
            kind, payload = next(op)
            while True:
                if kind == ops.READ:
                    reply = _call(choice(replicas) if replicas else leader, payload)
                elif kind == ops.WRITE:
                    reply = _call(leader, payload)
                elif kind == ops.TRANSACTION:
                    pipe = self._leader.pipeline()
                    for command in payload:
                        pipe.execute_command(*command)  # type: ignore[no-untyped-call]  # untyped in redis-py
                    reply = pipe.execute()
                else:
                    script, keys, args = payload
                    try:
                        reply = _call(leader, ("EVALSHA", script.sha, len(keys), *keys, *args))
                    except NoScriptError:
                        reply = _call(leader, ("EVAL", script.source, len(keys), *keys, *args))
                kind, payload = op.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except _OUTAGE as exc:
            if not self._ignoring(exc):
                raise
        return _fallback(fallback)

    async def _arun(self, op: ops.CommandLogic[T], fallback: T | _NotFound) -> T:
        """Drive ``op`` on this event loop's async pools."""
        try:
            state = await _state_of(asyncio.get_running_loop())
            topology = state.topologies.get(self._topology_key)
            if topology is None:
                topology = state.topologies[self._topology_key] = _async_topology(self._config)
            client, leader, replicas = topology
            kind, payload = next(op)
            while True:
                if kind == ops.READ:
                    reply = await _acall(choice(replicas) if replicas else leader, payload)
                elif kind == ops.WRITE:
                    reply = await _acall(leader, payload)
                elif kind == ops.TRANSACTION:
                    pipe = client.pipeline()
                    for command in payload:
                        pipe.execute_command(*command)
                    reply = await pipe.execute()
                else:
                    script, keys, args = payload
                    try:
                        reply = await _acall(leader, ("EVALSHA", script.sha, len(keys), *keys, *args))
                    except NoScriptError:
                        reply = await _acall(leader, ("EVAL", script.source, len(keys), *keys, *args))
                kind, payload = op.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except _OUTAGE as exc:
            if not self._ignoring(exc):
                raise
        return _fallback(fallback)

    def _ignoring(self, exc: Exception) -> bool:
        """Log and ignore ``exc`` when IGNORE_EXCEPTIONS allows; else explain it."""
        if self._ignore and not isinstance(exc, _MISCONFIGURED):
            logger.error(
                "RedisCache (%s) failed, ignored: %s",
                self._config.describe(),
                redact(str(exc), self._config.servers),
            )
            return True
        if isinstance(exc, _MISCONFIGURED):
            exc.add_note(f"cachemere RedisCache ({self._config.describe()}): check the credentials")
        else:
            exc.add_note(
                f"cachemere RedisCache ({self._config.describe()}) cannot reach redis; "
                f"OPTIONS[{IGNORE_EXCEPTIONS!r}] = True turns this into cache misses"
            )
        return False

    # -- the API: each method states its operation once, for both drivers --------

    def _get_op(self, key: Any, default: Any, version: Any) -> ops.CommandLogic[Any]:
        made = self.make_and_validate_key(key, version)
        if self._signer is None:
            return ops.get(made, default, self._loads)
        return ops.get_signed(made, default, self._signer.load)

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._run(self._get_op(key, default, version), default)

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return await self._arun(self._get_op(key, default, version), default)

    def _stored(self, made: str, value: Any) -> Any:
        """What goes to redis for ``value`` under the made key."""
        payload = self._dumps(value)
        return payload if self._signer is None else self._signer.dump(made, payload)

    def _set_op(self, key: Any, value: Any, timeout: Timeout, version: Any) -> ops.CommandLogic[None]:
        key = self.make_and_validate_key(key, version)
        return ops.set(key, self._stored(key, value), self._expiry(timeout))

    def set(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self._run(self._set_op(key, value, timeout, version), None)

    async def aset(
        self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        await self._arun(self._set_op(key, value, timeout, version), None)

    def _add_op(self, key: Any, value: Any, timeout: Timeout, version: Any) -> ops.CommandLogic[bool]:
        key = self.make_and_validate_key(key, version)
        return ops.add(key, self._stored(key, value), self._expiry(timeout))

    def add(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._run(self._add_op(key, value, timeout, version), False)

    async def aadd(
        self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return await self._arun(self._add_op(key, value, timeout, version), False)

    def _touch_op(self, key: Any, timeout: Timeout, version: Any) -> ops.CommandLogic[bool]:
        return ops.touch(self.make_and_validate_key(key, version), self._expiry(timeout))

    def touch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._run(self._touch_op(key, timeout, version), False)

    async def atouch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return await self._arun(self._touch_op(key, timeout, version), False)

    def delete(self, key: Any, version: Any = None) -> bool:
        return self._run(ops.delete(self.make_and_validate_key(key, version)), False)

    async def adelete(self, key: Any, version: Any = None) -> bool:
        return await self._arun(ops.delete(self.make_and_validate_key(key, version)), False)

    def has_key(self, key: Any, version: Any = None) -> bool:
        return self._run(ops.has_key(self.make_and_validate_key(key, version)), False)

    async def ahas_key(self, key: Any, version: Any = None) -> bool:
        return await self._arun(ops.has_key(self.make_and_validate_key(key, version)), False)

    def _get_many_op(self, keys: Iterable[Any], version: Any) -> ops.CommandLogic[dict[Any, Any]]:
        originals = list(keys)
        made = self.make_and_validate_keys(originals, version)
        if self._signer is None:
            return ops.get_many(made, originals, self._loads)
        return ops.get_many_signed(made, originals, self._signer.load)

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        return self._run(self._get_many_op(keys, version), {})

    async def aget_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        return await self._arun(self._get_many_op(keys, version), {})

    def _set_many_op(
        self, data: Mapping[Any, Any], timeout: Timeout, version: Any
    ) -> ops.CommandLogic[list[Any]]:
        made = self.make_and_validate_keys(data, version)
        if self._signer is None:
            dumps = self._dumps
            items = list(zip(made, [dumps(value) for value in data.values()]))
        else:
            stored = self._stored
            items = [(key, stored(key, value)) for key, value in zip(made, data.values())]
        return ops.set_many(items, self._expiry(timeout))

    def set_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        # Under IGNORE_EXCEPTIONS an outage reports every key as not stored.
        return self._run(self._set_many_op(data, timeout, version), list(data))

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        return await self._arun(self._set_many_op(data, timeout, version), list(data))

    def _delete_many_op(self, keys: Iterable[Any], version: Any) -> ops.CommandLogic[None]:
        return ops.delete_many(self.make_and_validate_keys(keys, version))

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        self._run(self._delete_many_op(keys, version), None)

    async def adelete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        await self._arun(self._delete_many_op(keys, version), None)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        made = self.make_and_validate_key(key, version)
        return self._run(ops.incr(made, delta, key), _NotFound(key))

    async def aincr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        made = self.make_and_validate_key(key, version)
        return await self._arun(ops.incr(made, delta, key), _NotFound(key))

    def _move_op(self, key: Any, delta: int, version: Any) -> tuple[ops.CommandLogic[None], Any]:
        if version is None:
            version = self.version
        new_version = version + delta
        old, new = self.make_and_validate_key(key, version), self.make_and_validate_key(key, new_version)
        if self._signer is None:
            return ops.move(old, new, key), new_version
        return ops.move_signed(old, new, key, self._signer.resign), new_version

    def incr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Move the value to ``version + delta`` atomically, keeping its expiry."""
        op, new_version = self._move_op(key, delta, version)
        self._run(op, _NotFound(key))
        return new_version

    async def aincr_version(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        op, new_version = self._move_op(key, delta, version)
        await self._arun(op, _NotFound(key))
        return new_version

    def _clear_op(self) -> ops.CommandLogic[bool]:
        # With a KEY_PREFIX and the default key format, this cache's keys are
        # "<prefix>:<version>:<key>" with an integer version (or the cache's own
        # VERSION): "app:v2:1:k", a key of the cache prefixed "app:v2", matches
        # the glob "app:*" but is not "app"'s.  A custom KEY_FUNCTION may put
        # anything anywhere, so its keys cannot be told apart from other keys
        # in the database, which is flushed.
        prefix = self.key_prefix
        if not prefix or self.key_func is not default_key_func:
            return ops.clear(None)
        versions = rb"-?\d+|" + re.escape(str(self.version).encode())
        owned = re.compile(re.escape(prefix.encode()) + rb":(?:" + versions + rb"):")
        return ops.clear(ops.glob_escape(prefix) + ":*", owned.match)

    def clear(self) -> bool:
        """Remove this cache's keys: see docs/redis.md (FLUSHDB unless there is a KEY_PREFIX)."""
        return self._run(self._clear_op(), False)

    async def aclear(self) -> bool:
        return await self._arun(self._clear_op(), False)

    def close(self, **kwargs: Any) -> None:
        """Nothing to do: the pools are shared and keep their connections for reuse."""

    async def aclose(self, **kwargs: Any) -> None:
        """Nothing to do: this loop's connections are closed when the loop shuts down."""


class _NotFound:
    """Fallback of incr/incr_version under an ignored outage: the key counts as missing."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key


def _fallback(fallback: T | _NotFound) -> T:
    if isinstance(fallback, _NotFound):
        raise ValueError(f"Key '{fallback.key}' not found")
    return fallback
