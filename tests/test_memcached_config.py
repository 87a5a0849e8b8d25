"""Memcached backends without a server: LOCATION, OPTIONS, timeouts and key validation."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.backends.memcached import BaseMemcachedCache, parse_location
from cachemere.exceptions import ImproperlyConfigured, InvalidCacheKey

BACKENDS = [
    "cachemere.backends.memcached.PyMemcacheCache",
    "cachemere.backends.memcached.PyLibMCCache",
]
THIRTY_DAYS = 30 * 24 * 3600


def make(backend: str, location: Any = "127.0.0.1:1", **params: Any) -> BaseMemcachedCache:
    """A cache on a port nobody listens on: nothing here talks to a server."""
    return CacheHandler({"mc": {"BACKEND": backend, "LOCATION": location, **params}})["mc"]  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("location", "servers"),
    [
        ("127.0.0.1:11211", [("127.0.0.1", 11211)]),
        ("cache.example", [("cache.example", 11211)]),
        ("a:1;b:2", [("a", 1), ("b", 2)]),
        ("a:1,b:2", [("a", 1), ("b", 2)]),
        (" a:1 ; b:2 ;", [("a", 1), ("b", 2)]),
        (["a:1", "b:2"], [("a", 1), ("b", 2)]),
        (("a:1", ("b", 2)), [("a", 1), ("b", 2)]),
        ("unix:/run/memcached.sock", ["/run/memcached.sock"]),
        ("/run/memcached.sock", ["/run/memcached.sock"]),
        ("[::1]:11212", [("::1", 11212)]),
        ("[::1]", [("::1", 11211)]),
        (["unix:/a.sock", "h:3"], ["/a.sock", ("h", 3)]),
    ],
)
def test_location_forms(location: Any, servers: list[Any]) -> None:
    assert parse_location(location) == servers


@pytest.mark.parametrize(
    ("location", "fragment"),
    [
        ("", "names no memcached server"),
        (" ; ", "names no memcached server"),
        ("host:port", "'host:port' is not 'host:port'"),
        ("host:0", "'host:0'"),
        ("host:70000", "'host:70000'"),
        (":11211", "':11211'"),
        ("unix:", "names no socket path"),
        (["a:1", 2], "LOCATION entry 2 is not a string"),
        ("a:1;a:1", "names a server twice"),
        (11211, "must be a string or a list"),
        ("memcached://127.0.0.1:11211", "LOCATION entry 'memcached://127.0.0.1:11211' is a URL"),
        ("pymemcache://h", "LOCATION entry 'pymemcache://h' is a URL"),
        (["a:1", "memcache://b:2"], "LOCATION entry 'memcache://b:2' is a URL"),
        ("host/path:11211", "'host/path:11211' is not 'host:port'"),
    ],
)
def test_bad_location_names_alias_and_value(location: Any, fragment: str) -> None:
    for backend in BACKENDS:
        with pytest.raises(ImproperlyConfigured, match="CACHES\\['mc'\\]") as info:
            make(backend, location)
        assert fragment in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_culling_options_are_rejected(backend: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="'MAX_ENTRIES' is not supported by memcached"):
        make(backend, OPTIONS={"MAX_ENTRIES": 10})
    with pytest.raises(ImproperlyConfigured, match="'CULL_FREQUENCY'"):
        make(backend, OPTIONS={"CULL_FREQUENCY": 2})


@pytest.mark.parametrize(
    ("backend", "options", "fragment"),
    [
        (BACKENDS[0], {"ignore_exec": True}, "'ignore_exec' (did you mean 'ignore_exc'?)"),
        (BACKENDS[0], {"connect_timout": 1}, "(did you mean 'connect_timeout'?)"),
        (BACKENDS[0], {"SIGN_VALUE": True}, "unknown OPTIONS key 'SIGN_VALUE' (did you mean 'SIGN_VALUES'?)"),
        (BACKENDS[1], {"behavior": {}}, "unknown OPTIONS key 'behavior' (did you mean 'behaviors'?)"),
        (BACKENDS[1], {"SIGNING_KY": "k"}, "(did you mean 'SIGNING_KEY'?)"),
        (BACKENDS[0], {"no_such_option": 1}, "no_such_option"),
        (BACKENDS[1], {"no_such_option": 1}, "no_such_option"),
        (BACKENDS[1], {"behaviors": {"no_such_behavior": 1}}, "no_such_behavior"),
        (BACKENDS[1], {"username": "u", "password": "p"}, "SASL requires the memcached binary protocol"),
    ],
)
def test_bad_options_are_configuration_errors(backend: str, options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['mc'\]: (unknown )?OPTIONS") as info:
        make(backend, OPTIONS=options)
    assert fragment in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sign_values_option(backend: str) -> None:
    must_be_bool = r"CACHES\['mc'\]: OPTIONS\['SIGN_VALUES'\] must be True or False"
    with pytest.raises(ImproperlyConfigured, match=must_be_bool):
        make(backend, OPTIONS={"SIGN_VALUES": "yes"})
    no_secret = CacheHandler(
        {"mc": {"BACKEND": backend, "LOCATION": "h:1", "OPTIONS": {"SIGN_VALUES": True}}}, SECRET_KEY=None
    )
    with pytest.raises(ImproperlyConfigured, match="CACHES\\['mc'\\]") as info:
        no_secret["mc"]
    assert "SIGNING_KEY" in str(info.value) and "SECRET_KEY" in str(info.value)
    assert make(backend).signs_values is False  # off by default
    assert make(backend, OPTIONS={"SIGN_VALUES": True, "SIGNING_KEY": "k"}).signs_values is True
    from_settings = CacheHandler(
        {"mc": {"BACKEND": backend, "LOCATION": "h:1", "OPTIONS": {"SIGN_VALUES": True}}}, SECRET_KEY="s3cr3t"
    )["mc"]
    assert from_settings.signs_values is True  # type: ignore[attr-defined]


@pytest.mark.parametrize("option", ["serde", "serializer", "deserializer"])
def test_custom_serialization_cannot_be_signed(option: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=f"OPTIONS '{option}' cannot be combined with SIGN_VALUES"):
        make(BACKENDS[0], OPTIONS={option: object(), "SIGN_VALUES": True, "SIGNING_KEY": "k"})


def test_option_examples_load() -> None:
    pymemcache = make(
        BACKENDS[0],
        OPTIONS={"no_delay": True, "ignore_exc": True, "max_pool_size": 4, "use_pooling": True},
    )
    ring = pymemcache._local.client
    (server,) = ring.clients.values()
    assert ring.ignore_exc is True and ring.use_pooling is True
    assert server.no_delay is True and server.client_pool.max_size == 4
    pylibmc = make(BACKENDS[1], OPTIONS={"binary": True, "behaviors": {"tcp_nodelay": True}})
    client = pylibmc._local.client
    assert client.binary is True
    assert client.behaviors["tcp_nodelay"] == 1
    assert client.behaviors["ketama"] == 1  # the default, merged with the given behaviors
    plain = make(BACKENDS[1], OPTIONS={"behaviors": {"ketama": False}})
    assert plain._local.client.behaviors["ketama"] == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_timeouts(backend: str) -> None:
    cache = make(backend)
    assert cache.get_backend_timeout() == 300
    assert cache.get_backend_timeout(None) == 0  # memcached's "never"
    assert cache.get_backend_timeout(10) == 10
    assert cache.get_backend_timeout(10.9) == 10
    # "Expired": an absolute time long past, which both protocols read the same.
    assert cache.get_backend_timeout(0) == THIRTY_DAYS + 1
    assert cache.get_backend_timeout(-5) == THIRTY_DAYS + 1
    assert cache.get_backend_timeout(0.5) == 1  # Django: 0, "do not cache"
    assert cache.get_backend_timeout(-0.5) == THIRTY_DAYS + 1
    assert cache.get_backend_timeout(THIRTY_DAYS) == THIRTY_DAYS
    before = int(time.time())
    absolute = cache.get_backend_timeout(THIRTY_DAYS + 1)
    assert before + THIRTY_DAYS + 1 <= absolute <= int(time.time()) + THIRTY_DAYS + 1
    assert cache.get_backend_timeout(100 * 365 * 24 * 3600) == 2**31 - 1
    assert make(backend, TIMEOUT=None).get_backend_timeout() == 0
    assert make(backend, TIMEOUT=0).get_backend_timeout() == THIRTY_DAYS + 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("with space", "characters that will cause errors"),
        ("new\nline", "characters that will cause errors"),
        ("inject\r\nset evil 0 0 1\r\nx", "characters that will cause errors"),
        ("nul\x00", "characters that will cause errors"),
        ("del\x7f", "characters that will cause errors"),
        ("a" * 251, "(longer than 250)"),
        ("中" * 100, "(longer than 250 bytes in UTF-8)"),  # 100 characters, 300 bytes
    ],
)
def test_invalid_keys_raise(backend: str, key: str, fragment: str) -> None:
    cache = make(backend, KEY_PREFIX="")
    with pytest.raises(InvalidCacheKey) as info:
        cache.make_and_validate_key(key)
    assert fragment in str(info.value)
    with pytest.raises(InvalidCacheKey):  # not memoized: raises every time
        cache.make_and_validate_key(key)


@pytest.mark.parametrize("backend", BACKENDS)
def test_valid_keys(backend: str) -> None:
    cache = make(backend)
    assert cache.make_and_validate_key("é" * 80) == ":1:" + "é" * 80  # 163 bytes
    assert cache.make_and_validate_key("a" * 247) == ":1:" + "a" * 247  # exactly 250
    assert cache.make_and_validate_key(5, version=3) == ":3:5"
    assert type(cache).memoize_keys is True


MISSING_LIBRARY = """
import sys
sys.modules[{library!r}] = None  # as if it were not installed
from cachemere import CacheHandler
from cachemere.exceptions import InvalidCacheBackendError
caches = CacheHandler({{"mc": {{"BACKEND": "cachemere.backends.memcached.{backend}", "LOCATION": "h:1"}}}})
try:
    caches["mc"]
except InvalidCacheBackendError as exc:
    print(exc)
"""


@pytest.mark.parametrize(
    ("backend", "library", "extra", "other"),
    [
        ("PyMemcacheCache", "pymemcache", "cachemere[memcached]", "pylibmc"),
        ("PyLibMCCache", "pylibmc", "cachemere[pylibmc]", "pymemcache"),
    ],
)
def test_missing_library_names_its_own_extra(backend: str, library: str, extra: str, other: str) -> None:
    """In a fresh interpreter with the library hidden: the error names the extra that installs it."""
    import subprocess
    import sys

    script = MISSING_LIBRARY.format(library=library, backend=backend)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert f"pip install '{extra}'" in message
    assert f"cachemere's {backend} needs {library}" in message and "'mc'" in message
    assert other not in message  # the other library is not needed, and not mentioned


def test_multi_get_reply_parser() -> None:
    """pymemcache's reply parser on replies cut where a quick parse would be fooled."""
    import socket
    import threading
    import time

    from pymemcache.exceptions import MemcacheServerError

    from cachemere.backends.memcached.pymemcache import Connection, Serde

    connection = Connection(("127.0.0.1", 1), serde=Serde)
    replies = [
        # the first packet ends in "END\r\n" that belongs to a value: the reply goes on
        ([b"VALUE :1:k 0 8\r\na\r\nEND\r\n", b"\r\nVALUE :1:t 16 2\r\nhi\r\nEND\r\n"],
         {":1:k": b"a\r\nEND\r\n", ":1:t": "hi"}),
        # a header cut in two; an int, a pickle and an empty value
        ([b"VALUE :1:n 2 2\r\n42\r\nVAL", b"UE :1:p 1 4\r\n\x80\x05N.\r\nVALUE :1:e 0 0\r\n\r\nEND\r\n"],
         {":1:n": 42, ":1:p": None, ":1:e": b""}),
        ([b"END\r\n"], {}),
    ]  # fmt: skip

    def send_later(sock: socket.socket, packets: list[bytes]) -> None:
        for packet in packets:
            sock.sendall(packet)
            time.sleep(0.05)  # so that the reader sees the packets apart (it does not depend on it)

    for packets, expected in replies:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            sender = threading.Thread(target=send_later, args=(theirs, packets))
            sender.start()
            assert connection._read_values(ours) == expected
            sender.join()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"SERVER_ERROR out of memory\r\n")
        with pytest.raises(MemcacheServerError, match="out of memory"):
            connection._read_values(ours)
