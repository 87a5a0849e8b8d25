"""cachemere.signing: secrets from OPTIONS or settings, and errors that never show a secret."""

from __future__ import annotations

from typing import Any

import pytest

from cachemere import ImproperlyConfigured
from cachemere.conf import Settings
from cachemere.signing import configured_secret, derive_key, sign, verify


def settings(**values: Any) -> Settings:
    return Settings({"CACHES": {"default": {"BACKEND": "cachemere.backends.dummy.DummyCache"}}, **values})


def test_signing_key_option_wins_over_secret_key() -> None:
    assert configured_secret({"SIGNING_KEY": "opt"}, settings(SECRET_KEY="set")) == b"opt"
    assert configured_secret({}, settings(SECRET_KEY="set")) == b"set"
    assert configured_secret({}, settings()) is None


@pytest.mark.parametrize("secret", [12345678987654321, ["hunter2-secret"], ""])
def test_an_unusable_secret_is_named_but_never_shown(secret: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"OPTIONS\['SIGNING_KEY'\] must be a non-empty") as info:
        configured_secret({"SIGNING_KEY": secret}, settings())
    assert str(secret) not in str(info.value) or secret == ""
    assert "hunter2" not in str(info.value)


def test_keys_differ_per_purpose_and_signatures_verify() -> None:
    one, other = derive_key(b"s", "db"), derive_key(b"s", "redis")
    assert one != other
    signature = sign(one, b"message")
    assert verify(one, b"message", signature)
    assert not verify(other, b"message", signature)
    assert not verify(one, b"messagE", signature)
