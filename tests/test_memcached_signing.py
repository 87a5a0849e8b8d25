"""OPTIONS["SIGN_VALUES"] on real memcached servers: forged or moved values are misses, never unpickled."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.backends.memcached import BaseMemcachedCache
from servers.memcached import MemcachedServer, Servers, memcached_servers  # noqa: F401

FLAVOURS = {
    "pymemcache": ("PyMemcacheCache", {}),
    "pylibmc": ("PyLibMCCache", {}),
    "pylibmc-binary": ("PyLibMCCache", {"binary": True}),
}
VALUES: dict[str, Any] = {
    "text": "héllo", "bytes": b"\x80\x05raw", "empty": b"", "none": None, "true": True,
    "float": 2.5, "nested": {"a": [1, (2, 3)]}, "big": "x" * 200_000,
}  # fmt: skip


class Boom:
    """Unpickling this creates a directory: the proof that a pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.mkdir, (str(self.path),)


@pytest.fixture
def server(memcached_servers: Servers) -> Iterator[MemcachedServer]:  # noqa: F811
    server = memcached_servers.unix
    server.client().flush_all()
    yield server


@pytest.fixture(params=list(FLAVOURS))
def flavour(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return FLAVOURS[request.param]


def make(flavour: tuple[str, dict[str, Any]], location: Any, **options: Any) -> BaseMemcachedCache:
    backend, base = flavour
    handler = CacheHandler(
        {"mc": {"BACKEND": f"cachemere.backends.memcached.{backend}", "LOCATION": location,
                "OPTIONS": {**base, **options}}},
        SECRET_KEY="the secret",
    )  # fmt: skip
    return handler["mc"]  # type: ignore[return-value]


def test_signed_values_round_trip(server: MemcachedServer, flavour: tuple[str, dict[str, Any]]) -> None:
    cache = make(flavour, server.location, SIGN_VALUES=True)
    cache.set_many(VALUES)
    assert cache.get_many(list(VALUES)) == VALUES
    for key, value in VALUES.items():
        assert cache.get(key) == value and type(cache.get(key)) is type(value)
    assert cache.add("added", [1]) is True and cache.get("added") == [1]
    assert cache.get("missing", "default") == "default"
    assert cache.get_or_set("computed", lambda: {"x": 1}) == {"x": 1}
    assert cache.has_key("none") and not cache.has_key("missing")
    cache.incr_version("text")
    assert cache.get("text", version=2) == "héllo"
    # The stored bytes carry the signature: not the pickle, not the text.
    raw = server.client().get(":1:nested")
    assert isinstance(raw, bytes) and pickle.dumps({"a": [1, (2, 3)]}) not in raw


def test_integers_stay_plain_digits_for_incr(
    server: MemcachedServer, flavour: tuple[str, dict[str, Any]]
) -> None:
    cache = make(flavour, server.location, SIGN_VALUES=True)
    cache.set("n", 41)
    assert server.client().get(":1:n") == b"41"  # unsigned, so the server can count
    assert cache.incr("n") == 42 and cache.decr("n", 2) == 40
    assert cache.get("n") == 40 and cache.get_many(["n"]) == {"n": 40}
    cache.set("flag", True)  # a bool is not an int here: pickled and signed
    assert cache.get("flag") is True


def test_forged_pickle_never_runs(
    server: MemcachedServer, flavour: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Boom(marker))
    cache = make(flavour, server.location, SIGN_VALUES=True)
    raw = server.client()
    for flags in (1, 0, 16):  # pickle flag (pymemcache and pylibmc alike), raw bytes, text
        raw.set(":1:evil", evil, flags=flags)
        assert cache.get("evil") is None
        assert cache.get("evil", "default") == "default"
        assert cache.get_many(["evil"]) == {}
        assert cache.has_key("evil") is False
        assert cache.get_or_set("evil", "computed") == "computed"  # add fails: the forgery stays
        with pytest.raises(TypeError):  # not a number: the server refuses, nothing is read as a value
            cache.incr("evil")
        raw.delete(":1:evil")
    raw.set(":1:evil", b"0" * 32 + b"p" + evil, flags=0)  # the signed layout, a wrong signature
    assert cache.get("evil") is None and cache.get_many(["evil"]) == {}
    assert not marker.exists()
    # Without signing, the same stored bytes run the pickle: what SIGN_VALUES is for.
    raw.set(":1:evil", evil, flags=1)
    make(flavour, server.location).get("evil")
    assert marker.exists()


def test_values_cannot_be_moved_or_retyped(
    server: MemcachedServer, flavour: tuple[str, dict[str, Any]]
) -> None:
    cache = make(flavour, server.location, SIGN_VALUES=True)
    raw = server.client()
    cache.set("a", b"\x80\x05N.")  # bytes that would unpickle
    stored = raw.get(":1:a")
    raw.set(":1:b", stored, flags=0)  # the same bytes under another key
    assert cache.get("b") is None and cache.get_many(["a", "b"]) == {"a": b"\x80\x05N."}
    retyped = stored[:32] + b"p" + stored[33:]  # claims to be a pickle
    raw.set(":1:a", retyped, flags=0)
    assert cache.get("a") is None
    other_key = make(flavour, server.location, SIGN_VALUES=True, SIGNING_KEY="another secret")
    cache.set("c", "mine")
    assert other_key.get("c") is None  # signed with another secret
    assert make(flavour, server.location, SIGN_VALUES=True).get("c") == "mine"


def test_unsigned_values_are_misses_once_signing_is_on(
    server: MemcachedServer, flavour: tuple[str, dict[str, Any]]
) -> None:
    make(flavour, server.location).set_many({"old": "unsigned", "count": 3})
    signed = make(flavour, server.location, SIGN_VALUES=True)
    assert signed.get("old") is None and signed.get_many(["old", "count"]) == {"count": 3}


def test_pymemcache_and_pylibmc_read_each_others_signed_values(memcached_servers: Servers) -> None:  # noqa: F811
    location = memcached_servers.unix.location
    mine = make(FLAVOURS["pymemcache"], location, SIGN_VALUES=True)
    theirs = make(FLAVOURS["pylibmc"], location, SIGN_VALUES=True)
    mine.set_many(VALUES)
    assert theirs.get_many(list(VALUES)) == VALUES
    theirs.set("from-pylibmc", {"ok": 1})
    assert mine.get("from-pylibmc") == {"ok": 1}
