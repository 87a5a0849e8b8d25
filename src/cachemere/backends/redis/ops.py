"""The redis cache's operations, written once as generators of redis commands.

Each operation receives made keys (and serialized values, and expiry in
milliseconds) and *yields* the commands it needs; a driver sends back each command's
reply.  :class:`~cachemere.backends.redis.RedisCache` runs the same generator
against a ``redis.Redis`` (sync) or a ``redis.asyncio.Redis`` (async), so the
logic exists once for both.  This module does not import redis.

A command is ``(kind, payload)``:

* ``READ``: ``payload`` is a command (tuple of arguments) for a replica;
* ``WRITE``: a command for the leader;
* ``TRANSACTION``: a tuple of commands run on the leader in one MULTI/EXEC;
  the reply is the list of their replies;
* ``SCRIPT``: ``(script, keys, args)`` run on the leader with EVALSHA.

An expiry is ``None`` (keep forever) or an integer of milliseconds; zero or
less means "do not keep" (Django's ``timeout=0``).
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Generator, Sequence
from typing import Any, Final, TypeVar

READ: Final = 0
WRITE: Final = 1
TRANSACTION: Final = 2
SCRIPT: Final = 3

T = TypeVar("T")

#: One redis command for a driver: ``(kind, payload)`` (see the module docstring).
Command = tuple[int, Any]
#: An operation answering a ``T``: yields commands, is sent each command's reply.
#: (Distinct from :data:`cachemere.backends.base.Step`/``Logic``, which yield cache calls.)
CommandLogic = Generator[Command, Any, T]
Loads = Callable[[bytes], Any]
#: Loads a value read from a key, or answers ``missing`` (see :func:`get_signed`).
KeyedLoad = Callable[[str, bytes], Any]


class Script:
    """A Lua script, sent by SHA1 and loaded by the driver when the server lacks it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


# INCRBY only an existing key, so a missing (or just expired) key is never
# created as a persistent counter; a value INCRBY refuses (a pickle, a float,
# an overflow) comes back as {error} instead of aborting the script.
INCR_EXISTING = Script(
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local ok, result = pcall(redis.call, 'INCRBY', KEYS[1], ARGV[1])
if ok then return result end
if type(result) == 'table' then result = result.err end
return {tostring(result)}
"""
)

# Move a value to another key, keeping its TTL; 0 when there is nothing to move.
MOVE_EXISTING = Script(
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if KEYS[1] ~= KEYS[2] then redis.call('RENAME', KEYS[1], KEYS[2]) end
return 1
"""
)


# Move a value that is still ARGV[1] to another key as ARGV[2], keeping its TTL.
MOVE_RESIGNED = Script(
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
else
  redis.call('SET', KEYS[2], ARGV[2])
end
if KEYS[1] ~= KEYS[2] then redis.call('DEL', KEYS[1]) end
return 1
"""
)

#: What a :data:`KeyedLoad` answers for a value that fails verification.
missing: Final = object()


class RedisSerializer:
    """Integers as they are (so INCRBY works on them), everything else pickled.

    The format Django's redis backend uses, so both can share a cache.
    """

    def __init__(self, protocol: int | None = None) -> None:
        self.protocol = pickle.HIGHEST_PROTOCOL if protocol is None else protocol

    def dumps(self, obj: Any) -> Any:
        # Exactly int: bool and int subclasses must come back as themselves.
        return obj if type(obj) is int else pickle.dumps(obj, self.protocol)

    def loads(self, data: bytes, _unpickle: Callable[[bytes], Any] = pickle.loads) -> Any:
        # Pickles of protocol 2+ start with PROTO (0x80); test that first, as
        # raising ValueError from int() on every non-integer would be slow.
        if data and data[0] == 0x80:
            return _unpickle(data)
        try:
            return int(data)
        except ValueError:
            return _unpickle(data)


def get(key: str, default: Any, loads: Loads) -> CommandLogic[Any]:
    raw = yield READ, ("GET", key)
    return default if raw is None else loads(raw)


def set(key: str, value: Any, expiry: int | None) -> CommandLogic[None]:
    if expiry is None:
        yield WRITE, ("SET", key, value)
    elif expiry > 0:
        yield WRITE, ("SET", key, value, "PX", expiry)
    else:
        yield WRITE, ("DEL", key)


def add(key: str, value: Any, expiry: int | None) -> CommandLogic[bool]:
    if expiry is None:
        stored = yield WRITE, ("SET", key, value, "NX")
    elif expiry > 0:
        stored = yield WRITE, ("SET", key, value, "PX", expiry, "NX")
    else:
        # Nothing is kept either way; the answer is whether the key was free.
        stored = not (yield WRITE, ("EXISTS", key))
    return bool(stored)


def touch(key: str, expiry: int | None) -> CommandLogic[bool]:
    if expiry is None:
        # PERSIST alone answers 0 for a key that exists without a TTL.
        _, exists = yield TRANSACTION, (("PERSIST", key), ("EXISTS", key))
        return bool(exists)
    if expiry > 0:
        return bool((yield WRITE, ("PEXPIRE", key, expiry)))
    return bool((yield WRITE, ("DEL", key)))


def delete(key: str) -> CommandLogic[bool]:
    return bool((yield WRITE, ("DEL", key)))


def get_signed(key: str, default: Any, load: KeyedLoad) -> CommandLogic[Any]:
    """:func:`get` for a signed cache: a value that fails verification is a miss."""
    raw = yield READ, ("GET", key)
    if raw is None:
        return default
    value = load(key, raw)
    return default if value is missing else value


def has_key(key: str) -> CommandLogic[bool]:
    return bool((yield READ, ("EXISTS", key)))


def get_many(made: Sequence[str], originals: Sequence[Any], loads: Loads) -> CommandLogic[dict[Any, Any]]:
    if not made:
        return {}
    values = yield READ, ("MGET", *made)
    return {original: loads(raw) for original, raw in zip(originals, values) if raw is not None}


def get_many_signed(made: Sequence[str], originals: Sequence[Any], load: KeyedLoad) -> CommandLogic[Any]:
    """:func:`get_many` for a signed cache: values that fail verification are left out."""
    if not made:
        return {}
    values = yield READ, ("MGET", *made)
    found = {}
    for key, original, raw in zip(made, originals, values):
        if raw is not None:
            value = load(key, raw)
            if value is not missing:
                found[original] = value
    return found


def set_many(items: Sequence[tuple[str, Any]], expiry: int | None) -> CommandLogic[list[Any]]:
    if not items:
        return []
    if expiry is None:
        yield WRITE, ("MSET", *[part for item in items for part in item])
    elif expiry > 0:
        yield TRANSACTION, tuple(("SET", key, value, "PX", expiry) for key, value in items)
    else:
        yield WRITE, ("DEL", *[key for key, _ in items])
    return []


def delete_many(made: Sequence[str]) -> CommandLogic[None]:
    if made:
        yield WRITE, ("DEL", *made)


def incr(key: str, delta: int, original: Any) -> CommandLogic[Any]:
    result = yield SCRIPT, (INCR_EXISTING, (key,), (delta,))
    if result is None:
        raise ValueError(f"Key '{original}' not found")
    if isinstance(result, list):
        message = result[0].decode() if isinstance(result[0], bytes) else result[0]
        raise TypeError(f"Key '{original}' cannot be incremented by {delta!r}: {message}")
    return result


def move(old: str, new: str, original: Any) -> CommandLogic[None]:
    moved = yield SCRIPT, (MOVE_EXISTING, (old, new), ())
    if not moved:
        raise ValueError(f"Key '{original}' not found")


def move_signed(
    old: str, new: str, original: Any, resign: Callable[[str, str, bytes], bytes | None]
) -> CommandLogic[None]:
    """:func:`move` for a signed cache: the signature names the key, so it is made anew for ``new``.

    Read, re-sign here, then move only if the value is still the one read (a
    writer in between makes it start again); a value that fails verification
    counts as missing.
    """
    while True:
        raw = yield WRITE, ("GET", old)
        fresh = None if raw is None else resign(old, new, raw)
        if fresh is None:
            raise ValueError(f"Key '{original}' not found")
        if (yield SCRIPT, (MOVE_RESIGNED, (old, new), (raw, fresh))):
            return


def clear(
    pattern: str | None, owns: Callable[[bytes], object] | None = None, batch: int = 1000
) -> CommandLogic[bool]:
    """FLUSHDB when ``pattern`` is None, else delete the keys matching it, batch by batch.

    ``owns`` narrows what the glob ``pattern`` cannot express: a key it matches
    is deleted only if ``owns(key)`` is true.
    """
    if pattern is None:
        return bool((yield WRITE, ("FLUSHDB",)))
    cursor = 0
    while True:
        cursor, keys = yield WRITE, ("SCAN", cursor, "MATCH", pattern, "COUNT", batch)
        if owns is not None:
            keys = [key for key in keys if owns(key)]
        if keys:
            yield WRITE, ("UNLINK", *keys)
        if not int(cursor):
            return True


def glob_escape(text: str) -> str:
    """``text`` with redis glob metacharacters escaped, for a MATCH pattern."""
    return "".join("\\" + char if char in "*?[]\\^-" else char for char in text)
