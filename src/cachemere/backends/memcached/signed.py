"""Signed values for the memcached backends (``OPTIONS["SIGN_VALUES"]``).

memcached has no authentication by default, so anyone who can reach its port
can store a pickle that runs code in every process that reads it.  A signed
value is stored as raw bytes (flags 0, the same for pymemcache and pylibmc)::

    HMAC-SHA256(made key, kind, payload) | kind | payload

with ``kind`` one byte (``b`` bytes, ``s`` UTF-8 text, ``p`` pickle), so
neither the key nor the kind can be changed without breaking the signature.
``int`` values stay plain digits, unsigned, so that ``incr``/``decr`` run on the
server; they are parsed with ``int()`` and never unpickled.  Anything else the
clients hand back (a value stored unsigned, by another client, or forged) is a
miss.
"""

from __future__ import annotations

import pickle
from typing import Any

from ...signing import SIGNATURE_SIZE, derive_key, sign, verify

__all__ = ["INTEGER_FLAGS", "Sealer"]

#: Flags of a plain integer, in pymemcache and pylibmc alike (int, long).
INTEGER_FLAGS = (2, 4)
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_PURPOSE = "memcached values"


def _framed(made: str) -> bytes:
    # Length first: no key is a prefix of another key's signed message.
    key = made.encode()
    return len(key).to_bytes(2, "big") + key


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class Sealer:
    """Signs values for storage under a made key, and opens what was stored."""

    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        self._key = derive_key(secret, _PURPOSE)

    def seal(self, made: str, value: Any) -> Any:
        """``value`` as stored: an ``int`` as it is, anything else signed bytes."""
        kind = type(value)
        if kind is int:
            return value
        if kind is bytes:
            body = b"b" + value
        elif kind is str and _encodable(value):
            body = b"s" + value.encode()
        else:  # a str with a lone surrogate too: pickle keeps it
            body = b"p" + pickle.dumps(value, _PROTOCOL)
        return sign(self._key, _framed(made) + body) + body

    def open(self, made: str, stored: Any, default: Any) -> Any:
        """The value :meth:`seal` stored under ``made``; ``default`` for anything unverified."""
        if type(stored) is int:
            return stored
        if type(stored) is not bytes or len(stored) <= SIGNATURE_SIZE:
            return default
        body = stored[SIGNATURE_SIZE:]
        if not verify(self._key, _framed(made) + body, stored[:SIGNATURE_SIZE]):
            return default
        kind, payload = body[:1], body[1:]
        if kind == b"s":
            return payload.decode()
        if kind == b"b":
            return payload
        if kind == b"p":
            return pickle.loads(payload)
        return default


def stored_signed(data: bytes, flags: int) -> Any:
    """What a signing cache may read back: raw bytes (to verify) or an int; None (a miss) for the rest.

    Both clients use it in place of their own deserializer, so nothing they
    read is ever unpickled.
    """
    if flags == 0:
        return data
    if flags in INTEGER_FLAGS:
        try:
            return int(data)
        except ValueError:
            return None
    return None
