"""Redis cache backend on redis-py (hiredis is used automatically when installed).

``LOCATION`` names one server or several (a list, or a ``;``/``,``-separated
string of ``redis://``, ``rediss://`` or ``unix://`` URLs): the first is the
leader and takes every write; reads go to a replica chosen at random (to the
leader when there is none).  See docs/redis.md for OPTIONS, ``clear()`` and
failure handling.

Design (one job per module):

* :mod:`.ops`: every operation written once, as a generator of redis
  commands; :meth:`RedisCache._run` drives it on the sync pools and
  :meth:`RedisCache._arun` on ``redis.asyncio`` ones (this module: the drivers
  and the API);
* :mod:`.config`: LOCATION and OPTIONS, checked once;
* :mod:`.pools`: the connection pools, sync ones per process, async ones per
  event loop, and the single-command fast path;
* :mod:`.signed`: ``OPTIONS["SIGN_VALUES"]``;
* :mod:`.compat`: the private redis-py names, fenced.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping
from random import choice
from typing import Any, TypeVar

try:
    import redis  # noqa: F401 - imported first, for the hint below
    from redis.exceptions import AuthenticationError, AuthorizationError, NoScriptError
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"cachemere's RedisCache needs redis-py: pip install 'cachemere[redis]' ({exc})"
    ) from exc

from ...redaction import redact
from ..base import DEFAULT_TIMEOUT, BaseCache, Timeout
from ..keys import default_key_func, invalid_key, unstorable_key_problem
from . import ops
from .config import IGNORE_EXCEPTIONS, RedisConfig
from .pools import OUTAGE, acall, async_topology, call, state_of, sync_client

__all__ = ["RedisCache", "RedisSerializer"]

RedisSerializer = ops.RedisSerializer

logger = logging.getLogger("cachemere.backends.redis")

T = TypeVar("T")

# ConnectionError subclasses that are configuration mistakes, never ignored.
_MISCONFIGURED = (AuthenticationError, AuthorizationError)


# -- the backend ---------------------------------------------------------------


class RedisCache(BaseCache):
    """Django's ``RedisCache`` on redis-py, with native async methods.

    Integers are stored as they are, so ``incr``/``decr`` run atomically on the
    server; other values go through the serializer (pickle by default).
    """

    #: validate_key below is pure: made keys may still be memoized.
    memoize_keys = True

    def validate_key(self, key: str) -> None:
        """Warn as every backend does; InvalidCacheKey for a key with no UTF-8 form (a lone surrogate)."""
        problem = unstorable_key_problem(key, nul=False) if type(key) is str else None
        if problem is not None:
            raise invalid_key(problem)
        super().validate_key(key)

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
                    reply = call(choice(replicas) if replicas else leader, payload)
                elif kind == ops.WRITE:
                    reply = call(leader, payload)
                elif kind == ops.TRANSACTION:
                    pipe = self._leader.pipeline()
                    for command in payload:
                        pipe.execute_command(*command)  # type: ignore[no-untyped-call]  # untyped in redis-py
                    reply = pipe.execute()
                else:
                    script, keys, args = payload
                    try:
                        reply = call(leader, ("EVALSHA", script.sha, len(keys), *keys, *args))
                    except NoScriptError:
                        reply = call(leader, ("EVAL", script.source, len(keys), *keys, *args))
                kind, payload = op.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except OUTAGE as exc:
            if not self._ignoring(exc):
                raise
        return _fallback(fallback)

    async def _arun(self, op: ops.CommandLogic[T], fallback: T | _NotFound) -> T:
        """Drive ``op`` on this event loop's async pools."""
        try:
            state = await state_of(asyncio.get_running_loop())
            topology = state.topologies.get(self._topology_key)
            if topology is None:
                topology = state.topologies[self._topology_key] = async_topology(self._config)
            client, leader, replicas = topology
            kind, payload = next(op)
            while True:
                if kind == ops.READ:
                    reply = await acall(choice(replicas) if replicas else leader, payload)
                elif kind == ops.WRITE:
                    reply = await acall(leader, payload)
                elif kind == ops.TRANSACTION:
                    pipe = client.pipeline()
                    for command in payload:
                        pipe.execute_command(*command)
                    reply = await pipe.execute()
                else:
                    script, keys, args = payload
                    try:
                        reply = await acall(leader, ("EVALSHA", script.sha, len(keys), *keys, *args))
                    except NoScriptError:
                        reply = await acall(leader, ("EVAL", script.source, len(keys), *keys, *args))
                kind, payload = op.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except OUTAGE as exc:
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

    def _stored(self, key: Any, value: Any, version: Any) -> tuple[str, Any]:
        """The made key and what is stored under it (signed when SIGN_VALUES is on)."""
        made = self.make_and_validate_key(key, version)
        payload = self._dumps(value)
        if self._signer is not None:
            payload = self._signer.dump(made, payload)
        return made, payload

    def _set_op(self, key: Any, value: Any, timeout: Timeout, version: Any) -> ops.CommandLogic[None]:
        return ops.set(*self._stored(key, value, version), self._expiry(timeout))

    def set(self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self._run(self._set_op(key, value, timeout, version), None)

    async def aset(
        self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        await self._arun(self._set_op(key, value, timeout, version), None)

    def _add_op(self, key: Any, value: Any, timeout: Timeout, version: Any) -> ops.CommandLogic[bool]:
        return ops.add(*self._stored(key, value, version), self._expiry(timeout))

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
            dumps, sign = self._dumps, self._signer.dump
            items = [(key, sign(key, dumps(value))) for key, value in zip(made, data.values())]
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
