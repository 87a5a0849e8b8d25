"""Every private or version-dependent name of redis-py the redis backend uses, in one place.

redis-py does not promise to keep these; tests/test_redis_compat.py checks each
one, so an upgrade that drops a name fails there first, with a clear message,
rather than somewhere in the backend.  Nothing else in the backend may touch
a private redis-py name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from itertools import chain
from typing import Any

import redis
import redis.asyncio as aredis
from redis import _parsers

try:
    from redis.maint_notifications import MaintNotificationsConfig
except ImportError:  # pragma: no cover - redis-py before 7
    MaintNotificationsConfig = None  # type: ignore[assignment,misc]

__all__ = [
    "ASYNC_TWINS",
    "RENAMED_CLASSES",
    "MaintNotificationsConfig",
    "async_transports",
]

#: Names that older redis-py versions (and Django's docs) use for the parser
#: classes redis-py 5+ moved to the private ``redis._parsers`` under new names.
RENAMED_CLASSES = {
    "redis.connection.PythonParser": "redis._parsers._RESP2Parser",
    "redis.connection.HiredisParser": "redis._parsers._HiredisParser",
    "redis.asyncio.connection.PythonParser": "redis._parsers._AsyncRESP2Parser",
    "redis.asyncio.connection.HiredisParser": "redis._parsers._AsyncHiredisParser",
}

#: Each sync class and its asyncio counterpart.
ASYNC_TWINS: dict[Any, Any] = {
    _parsers._RESP2Parser: _parsers._AsyncRESP2Parser,
    _parsers._RESP3Parser: _parsers._AsyncRESP3Parser,
    _parsers._HiredisParser: _parsers._AsyncHiredisParser,
    redis.ConnectionPool: aredis.ConnectionPool,
    redis.BlockingConnectionPool: aredis.BlockingConnectionPool,
}


def async_transports(pool: aredis.ConnectionPool) -> Iterator[asyncio.BaseTransport]:
    """The open transports of every connection of an asyncio ``pool``, idle or in use.

    Used only for a pool whose event loop was closed without shutting down
    its async generators: the loop can no longer run ``pool.disconnect()``.
    """
    for connection in chain(pool._available_connections, pool._in_use_connections):
        writer = getattr(connection, "_writer", None)
        if writer is not None:
            yield writer.transport
