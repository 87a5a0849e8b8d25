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

import hmac
import re
from collections.abc import Callable
from typing import Any

from ...signing import DIGEST, SIGNATURE_SIZE, derive_key
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

    __slots__ = ("_hmac", "_loads")

    def __init__(self, secret: bytes, loads: Callable[[bytes], Any]) -> None:
        # Keyed once: copying a keyed HMAC per value costs a third of
        # hmac.digest(), which sets the key up again on every call.  The
        # signatures are cachemere.signing.sign()'s for the derived key.
        self._hmac = hmac.new(derive_key(secret, _PURPOSE), digestmod=DIGEST)
        self._loads = loads

    def _sign(self, key: str, payload: bytes) -> bytes:
        mac = self._hmac.copy()
        mac.update(_message(key, payload))
        return mac.digest()

    def _verified(self, key: str, raw: bytes) -> bytes | None:
        """The payload of ``raw`` if its signature is right for ``key``."""
        payload = raw[SIGNATURE_SIZE:]
        if hmac.compare_digest(self._sign(key, payload), raw[:SIGNATURE_SIZE]):
            return payload
        return None

    def dump(self, key: str, payload: Any) -> Any:
        """What to store under ``key`` for the serializer's ``payload``."""
        if type(payload) is int:
            return payload  # stored as a decimal string, for INCRBY
        if isinstance(payload, str):
            payload = payload.encode()
        data = bytes(payload)
        return self._sign(key, data) + data

    def load(self, key: str, raw: bytes) -> Any:
        """The value stored under ``key``, or :data:`.ops.missing` if it was not signed for it."""
        # A signed value is longer than its signature; an integer (64 bits in
        # redis) is at most 20 characters.
        if len(raw) <= SIGNATURE_SIZE:
            return int(raw) if _INTEGER.fullmatch(raw) else missing
        payload = self._verified(key, raw)
        return missing if payload is None else self._loads(payload)

    def resign(self, old: str, new: str, raw: bytes) -> bytes | None:
        """``raw`` (stored under ``old``) signed for ``new``; None if it fails verification."""
        if len(raw) <= SIGNATURE_SIZE:
            return raw if _INTEGER.fullmatch(raw) else None
        payload = self._verified(old, raw)
        return None if payload is None else self._sign(new, payload) + payload
