"""OPTIONS["SIGN_VALUES"]: values carry an HMAC for their key; anything else is a miss, never unpickled."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from cachemere import CacheHandler
from cachemere.backends.redis import RedisCache
from cachemere.exceptions import ImproperlyConfigured
from helpers.redis import RedisConformance
from servers.redis import RedisServer, Servers, redis_servers

__all__ = ["redis_servers"]

SIGNED = {"SIGN_VALUES": True, "SIGNING_KEY": "test signing key"}


class TestSignedRedisCache(RedisConformance):
    """The whole conformance suite on a signed cache."""

    options: ClassVar[dict[str, Any]] = SIGNED


class Exploit:
    """Unpickling this touches a file: proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


@pytest.fixture
def server(redis_servers: Servers) -> Iterator[RedisServer]:
    redis_servers.leader.admin.flushall()
    yield redis_servers.leader
    redis_servers.leader.admin.flushall()


def make(server: RedisServer, **options: Any) -> RedisCache:
    entry = {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": server.url, "OPTIONS": options}
    cache = CacheHandler({"redis": entry}, SECRET_KEY="the app's secret")["redis"]
    assert isinstance(cache, RedisCache)
    return cache


def test_a_planted_pickle_never_runs(server: RedisServer, tmp_path: Path) -> None:
    cache = make(server, **SIGNED)
    ran = tmp_path / "ran"
    planted = [pickle.dumps(Exploit(ran), protocol) for protocol in (0, 2, pickle.HIGHEST_PROTOCOL)]
    planted.append(b"\x00" * 32 + planted[-1])  # a made-up signature
    for index, payload in enumerate(planted):
        server.admin.set(f":1:k{index}", payload)  # as redis-cli or any raw client could
    keys = [f"k{index}" for index in range(len(planted))]
    for key in keys:
        assert cache.get(key, "miss") == "miss"
        assert asyncio.run(cache.aget(key)) is None
        with pytest.raises(TypeError):
            cache.incr(key)  # INCRBY refuses it; nothing is loaded
        with pytest.raises(ValueError, match="not found"):
            cache.incr_version(key)  # fails verification: counts as missing
    assert cache.get_many(keys) == {}
    assert asyncio.run(cache.aget_many(keys)) == {}
    assert cache.get_or_set("k0", "fresh") == "fresh"  # a miss, and add() finds the key taken
    assert not ran.exists()
    # The same planted bytes run code in a cache that does not sign: the danger is real.
    make(server).get("k1")
    assert ran.exists()


def test_a_value_moved_to_another_key_is_a_miss(server: RedisServer) -> None:
    cache = make(server, **SIGNED)
    cache.set("a", {"role": "user"})
    cache.set("ab", "x")
    server.admin.set(":1:b", server.admin.get(":1:a"))
    assert cache.get("b") is None
    # Nor can a signature be re-split between the key and a shortened value.
    server.admin.set(":1:ab", server.admin.get(":1:a")[:-1])
    assert cache.get("ab") is None
    assert cache.get("a") == {"role": "user"}


def test_another_secret_cannot_read_the_values(server: RedisServer) -> None:
    make(server, **SIGNED).set("k", "v")
    assert make(server, SIGN_VALUES=True, SIGNING_KEY="another key").get("k") is None
    assert make(server, SIGN_VALUES=True).get("k") is None  # SECRET_KEY is another secret too
    assert make(server, **SIGNED).get("k") == "v"


def test_integers_stay_plain_so_incr_works(server: RedisServer) -> None:
    cache = make(server, **SIGNED)
    cache.set("n", 5)
    assert server.admin.get(":1:n") == b"5"
    assert cache.incr("n", 10) == 15
    assert cache.decr("n") == 14
    assert asyncio.run(cache.aincr("n")) == 15
    server.admin.incrby(":1:n", 5)  # another client counting
    assert cache.get("n") == 20
    assert cache.get_many(["n"]) == {"n": 20}
    cache.set("text", "5")
    assert server.admin.get(":1:text") != b"5"  # a str is signed, not mistaken for an int
    assert cache.get("text") == "5"


def test_incr_version_re_signs_for_the_new_key(server: RedisServer) -> None:
    cache = make(server, **SIGNED)
    cache.set("v", {"a": 1}, 60)
    assert cache.incr_version("v") == 2
    assert cache.get("v", version=2) == {"a": 1}
    assert server.admin.exists(":1:v") == 0
    assert 0 < server.admin.ttl(":2:v") <= 60
    assert asyncio.run(cache.adecr_version("v", version=2)) == 1
    assert cache.get("v") == {"a": 1}
    cache.set("forever", "x", None)
    cache.incr_version("forever")
    assert server.admin.ttl(":2:forever") == -1


def test_signed_values_cost_32_bytes(server: RedisServer) -> None:
    make(server).set("plain", "value")
    make(server, **SIGNED).set("signed", "value")
    assert len(server.admin.get(":1:signed")) == len(server.admin.get(":1:plain")) + 32


def test_signing_settings_are_checked() -> None:
    entry = {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1"}
    for options, message in [
        ({"SIGN_VALUES": True}, "set OPTIONS['SIGNING_KEY'] or the SECRET_KEY setting"),
        ({"SIGN_VALUES": "yes"}, "OPTIONS['SIGN_VALUES'] must be True or False"),
        ({"SIGNING_KEY": "k"}, "OPTIONS['SIGN_VALUES'] is not True"),
    ]:
        with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[").replace("(", r"\(")):
            CacheHandler({"c": {**entry, "OPTIONS": options}})["c"]
    secret = "do-not-print-me"
    with pytest.raises(ImproperlyConfigured) as info:
        options = {"SIGN_VALUES": True, "SIGNING_KEY": 12}
        CacheHandler({"c": {**entry, "OPTIONS": options}}, SECRET_KEY=secret)["c"]
    assert secret not in str(info.value)


def test_signatures_are_cachemere_signing_hmacs() -> None:
    from cachemere.backends.redis.signed import Signer, _message
    from cachemere.signing import derive_key, verify

    stored = Signer(b"secret", pickle.loads).dump(":1:k", b"payload")
    key = derive_key(b"secret", "cachemere.backends.redis.values")
    assert verify(key, _message(":1:k", b"payload"), stored[:32]) and stored[32:] == b"payload"
