"""HMAC-SHA256 signatures for stored values, so a store's content is trusted only if we wrote it.

A pickle runs code when it is loaded; a cache whose store others can write to
(a shared directory, a table) must therefore refuse anything it did not sign.
The signing key is derived from a secret per *purpose*, so the same
``SECRET_KEY`` never signs two kinds of data with the same key.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from .exceptions import ImproperlyConfigured

DIGEST = "sha256"
SIGNATURE_SIZE = 32


def secret_bytes(secret: Any, name: str) -> bytes:
    """``secret`` as bytes; a clear error naming the setting for anything unusable."""
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, (bytes, bytearray)) or not secret:
        # Name the type only: the value may be the secret itself.
        got = "an empty value" if not secret else f"a {type(secret).__name__}"
        raise ImproperlyConfigured(f"{name} must be a non-empty str or bytes, got {got}")
    return bytes(secret)


def configured_secret(options: Mapping[str, Any], settings: Any) -> bytes | None:
    """The signing secret a cache is configured with, or None when there is none.

    ``OPTIONS["SIGNING_KEY"]`` wins; otherwise the ``SECRET_KEY`` setting of
    ``settings`` (the backend's :attr:`~cachemere.BaseCache.settings`).
    """
    if options.get("SIGNING_KEY") is not None:
        return secret_bytes(options["SIGNING_KEY"], "OPTIONS['SIGNING_KEY']")
    if settings.SECRET_KEY is not None:
        return secret_bytes(settings.SECRET_KEY, "the SECRET_KEY setting")
    return None


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for ``purpose``, derived from ``secret`` (HMAC as a PRF)."""
    return hmac.digest(secret, b"cachemere.signing:" + purpose.encode(), DIGEST)


def sign(key: bytes, message: bytes) -> bytes:
    """The HMAC-SHA256 of ``message``."""
    return hmac.digest(key, message, DIGEST)


def verify(key: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is the HMAC of ``message`` (constant-time comparison)."""
    return hmac.compare_digest(hmac.digest(key, message, DIGEST), signature)
