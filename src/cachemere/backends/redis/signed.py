"""Signed values for the redis backend (``OPTIONS["SIGN_VALUES"]``).

A signed value is stored as ``HMAC-SHA256(made key, payload) + payload``,
where the payload is the serializer's output; a value read back is handed to
the serializer only if its signature is right for the key it was read from,
so a value written by someone else, or moved from another key, is a miss and
is never unpickled.

Integers stay as redis stores them, unsigned decimal strings, so ``INCRBY``
keeps working and other clients can count on them: a value that is nothing
but an optional ``-`` and digits is read with ``int()``, which runs no code,
and never reaches the serializer.  Someone who can write to the server can
therefore change a counter, but not run code in the app.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ...signing import SIGNATURE_SIZE, derive_key, sign, verify
from .ops import missing

__all__ = ["Signer"]

_INTEGER = re.compile(rb"-?[0-9]+")
_PURPOSE = "cachemere.backends.redis.values"


def _message(key: str, payload: bytes) -> bytes:
    # The key's length first, so that no key and payload pair can be re-split
    # into another key and a truncated payload with the same message.
    made = key.encode()
    return len(made).to_bytes(4, "big") + made + payload


class Signer:
    """Signs serialized values for their made key, and verifies them before they are loaded."""

    __slots__ = ("_key", "_loads")

    def __init__(self, secret: bytes, loads: Callable[[bytes], Any]) -> None:
        self._key = derive_key(secret, _PURPOSE)
        self._loads = loads

    def dump(self, key: str, payload: Any) -> Any:
        """What to store under ``key`` for the serializer's ``payload``."""
        if type(payload) is int:
            return payload  # stored as a decimal string, for INCRBY
        if isinstance(payload, str):
            payload = payload.encode()
        data = bytes(payload)
        return sign(self._key, _message(key, data)) + data

    def load(self, key: str, raw: bytes) -> Any:
        """The value stored under ``key``, or :data:`.ops.missing` if it was not signed for it."""
        if _INTEGER.fullmatch(raw):
            return int(raw)
        payload = raw[SIGNATURE_SIZE:]
        if len(raw) <= SIGNATURE_SIZE or not verify(self._key, _message(key, payload), raw[:SIGNATURE_SIZE]):
            return missing
        return self._loads(payload)

    def resign(self, old: str, new: str, raw: bytes) -> bytes | None:
        """``raw`` (stored under ``old``) signed for ``new``; None if it fails verification."""
        if _INTEGER.fullmatch(raw):
            return raw
        payload = raw[SIGNATURE_SIZE:]
        if len(raw) <= SIGNATURE_SIZE or not verify(self._key, _message(old, payload), raw[:SIGNATURE_SIZE]):
            return None
        return sign(self._key, _message(new, payload)) + payload
