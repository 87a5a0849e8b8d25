"""Connections of the redis backend: sync pools shared by every thread, async ones per event loop.

* Sync pools (and a client for pipelines) live in a registry keyed by server
  URL and options, so every thread's instance of an alias shares one pool per
  server, and no client object is built per call.
* A single command goes straight to a pooled connection (:func:`call`), not
  through ``Redis.execute_command``: no per-call retry wrapper, closures or
  metrics.  Commands are never retried, so an INCR whose reply was lost is
  not applied twice; the pool replaces a connection that went stale.
* Async pools are bound to an event loop, so they are kept per loop and
  released with it (see :func:`state_of`).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncGenerator
from typing import Any

import redis
import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...exceptions import ImproperlyConfigured
from ...redaction import mask_location, redact
from . import compat
from .config import RedisConfig

__all__ = ["OUTAGE", "AsyncTopology", "acall", "async_topology", "call", "state_of", "sync_client"]

# An outage: the server cannot be reached or did not answer in time.
OUTAGE = (RedisConnectionError, RedisTimeoutError)


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
        self.topologies: dict[Any, AsyncTopology] = {}
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


async def state_of(loop: asyncio.AbstractEventLoop) -> _LoopState:
    """``loop``'s async state, registered (and closed loops' states released) on its first call."""
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


def call(pool: redis.ConnectionPool, command: tuple[Any, ...]) -> Any:
    """Run one command on a pooled connection; the reply is not post-processed.

    What ``Redis.execute_command`` does, without its per-call retry wrapper,
    closures and metrics, which cost a third of a GET on a local server.  The
    pool still checks that a connection it hands out is alive.
    """
    connection = pool.get_connection()
    try:
        connection.send_command(*command)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        return connection.read_response()
    except OUTAGE:
        connection.disconnect()  # type: ignore[no-untyped-call]  # untyped in redis-py
        raise
    finally:
        pool.release(connection)


async def acall(pool: aredis.ConnectionPool, command: tuple[Any, ...]) -> Any:
    """:func:`call` on an asyncio pool."""
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]  # untyped in redis-py
    try:
        await connection.send_command(*command)
        return await connection.read_response()
    except OUTAGE:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)


AsyncTopology = tuple[aredis.Redis, aredis.ConnectionPool, tuple[aredis.ConnectionPool, ...]]


def async_topology(config: RedisConfig) -> AsyncTopology:
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
