"""Security of the storage layer: planted pickles never run, smuggled memcached commands never reach the
wire, and no password shows in an exception, a log line or command output.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import traceback
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cachemere import CacheHandler, ImproperlyConfigured, InvalidCacheKey
from cachemere.backends.base import BaseCache
from helpers.faults import SECRET, Backends
from helpers.load import ALIAS
from servers.common import free_port
from servers.memcached import SASL_USER, MemcachedServer
from servers.redis import RedisServer

pytestmark = pytest.mark.filterwarnings("ignore::cachemere.exceptions.CacheKeyWarning")


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    backends = Backends().start()
    yield backends
    backends.stop()


# -- planted pickles ------------------------------------------------------------------


class Planted:
    """Unpickling this creates ``marker``: the proof that a planted pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "the-pickle-ran"
    # The payload is live: loading it (here, deliberately) does create the marker.
    pickle.loads(pickle.dumps(Planted(path)))
    assert path.exists()
    path.unlink()
    yield path
    assert not path.exists(), "a planted pickle was loaded"


def _use_everything(cache: BaseCache, key: str, server: bool = False) -> None:
    """Every read path that could load the value; each must answer as for a miss.

    ``server``: on redis has_key looks at the key alone (EXISTS), and incr
    runs on the server, which refuses a non-integer (docs/redis.md,
    docs/memcached.md): neither reads the value.
    """
    assert cache.get(key, "miss") == "miss"
    assert cache.get_many([key]) == {}
    assert cache.has_key(key) in ((True, False) if server else (False,))
    with pytest.raises(TypeError if server else ValueError):
        cache.incr(key)
    with pytest.raises(ValueError):
        cache.incr_version(key)
    assert cache.get_or_set(key, "computed") == "computed"
    # Stored, or not: the database cache's add() does not read a live forged row (docs/db.md).
    assert cache.get(key, "miss") in ("computed", "miss")


def _file_of(cache: Any, key: str) -> Path:
    import hashlib

    digest = hashlib.md5(cache.make_key(key).encode()).hexdigest()
    return Path(cache.directory) / digest[:2] / f"{digest}.cache"


def _record(payload: bytes, flags: int = 0, mac: bytes = b"\x00" * 32) -> bytes:
    import struct

    return struct.pack("<4sBd", b"CMF1", flags, float("inf")) + payload + mac


FILE_FORGERIES: dict[str, Callable[[bytes, bytes], bytes]] = {
    "a bare pickle": lambda pickled, real: pickled,
    "a record with a zero signature": lambda pickled, real: _record(pickled),
    "a compressed record": lambda pickled, real: _record(zlib.compress(pickled), flags=1),
    "a real record's signature on the pickle": lambda pickled, real: _record(pickled, mac=real[-32:]),
}


@pytest.mark.parametrize("forgery", sorted(FILE_FORGERIES))
def test_a_pickle_planted_in_the_cache_directory_never_runs(
    backends: Backends, marker: Path, forgery: str
) -> None:
    cache = backends.target("filebased").handler()[ALIAS]
    cache.set("victim", "real value")
    path = _file_of(cache, "victim")
    path.write_bytes(FILE_FORGERIES[forgery](pickle.dumps(Planted(marker)), path.read_bytes()))
    _use_everything(cache, "victim")


@pytest.mark.parametrize("forgery", ["a bare pickle", "a zero signature", "another key's signature"])
@pytest.mark.parametrize("name", ["sqlite", "postgres"])
def test_a_pickle_planted_in_the_cache_table_never_runs(
    backends: Backends, marker: Path, name: str, forgery: str
) -> None:
    target = backends.target(name)
    cache = target.handler()[ALIAS]
    cache.set("victim", 1)
    cache.set("other", "a real row")
    pickled = pickle.dumps(Planted(marker))
    url = target.settings["DATABASES"]["default"]["URL"]

    def execute(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if name == "sqlite":
            import sqlite3

            with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
                return db.execute(statement, params).fetchall()
        assert backends.postgres is not None
        return backends.postgres.execute(url.rsplit("/", 1)[1], statement.replace("?", "%s"), params)

    other = bytes(dict(execute("SELECT cache_key, value FROM cache"))[cache.make_key("other")])
    column = {"a bare pickle": pickled, "a zero signature": b"\x00" * 32 + pickled,
              "another key's signature": other[:32] + pickled}[forgery]  # fmt: skip
    execute("UPDATE cache SET value = ? WHERE cache_key = ?", (column, cache.make_key("victim")))
    _use_everything(cache, "victim")


@pytest.mark.parametrize("name", ["redis", "pymemcache", "pylibmc"])
def test_a_pickle_planted_on_a_server_never_runs_with_signed_values(
    backends: Backends, marker: Path, name: str
) -> None:
    cache = backends.target(name, SIGN_VALUES=True, SIGNING_KEY=SECRET).handler()[ALIAS]
    cache.set("victim", "real value")
    made, pickled = cache.make_key("victim"), pickle.dumps(Planted(marker))
    if name == "redis":
        assert backends.redis is not None
        backends.redis.client().set(made, pickled)
    else:
        assert backends.memcached is not None
        raw = backends.memcached.client()
        for flags in (0, 1):  # raw bytes, and pymemcache's pickle flag
            raw.set(made, pickled, flags=flags)
            assert cache.get("victim", "miss") == "miss"
        raw.set(made, pickled, flags=1)
    _use_everything(cache, "victim", server=True)


# -- memcached command smuggling ----------------------------------------------------------

SMUGGLERS = [
    "x\r\nset smuggled 0 0 1\r\n1",
    "x\nset smuggled 0 0 1\n1",
    "x set smuggled 0 0 1",
    "smuggled\r\n",
    "\x00set smuggled 0 0 1",
    "x\tdelete sentinel",
    "x\x7fset",
    "k" * 251,
    "é" * 126,  # 252 bytes in UTF-8
]
#: memcached's counters of the commands that touch keys.
COMMANDS = ["cmd_get", "cmd_set", "cmd_touch", "cmd_flush", "delete_hits", "delete_misses",
            "incr_hits", "incr_misses", "decr_hits", "decr_misses", "get_hits", "get_misses"]  # fmt: skip


def _raw(server: MemcachedServer, command: bytes) -> bytes:
    """Send one text-protocol command on a socket of our own; the reply up to END (or one line)."""
    assert server.port is not None
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(command)
        reply = b""
        while not (reply.endswith(b"END\r\n") or (reply.endswith(b"\r\n") and not command.startswith(b"st"))):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply


def _counters(server: MemcachedServer) -> dict[str, int]:
    stats = {}
    for line in _raw(server, b"stats\r\n").decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "STAT" and parts[1] in COMMANDS:
            stats[parts[1]] = int(parts[2])
    return stats


def _operations(cache: BaseCache, key: str, version: Any = None) -> list[Callable[[], Any]]:
    return [
        lambda: cache.get(key, version=version), lambda: cache.set(key, 1, version=version),
        lambda: cache.add(key, 1, version=version), lambda: cache.delete(key, version=version),
        lambda: cache.touch(key, 10, version=version), lambda: cache.incr(key, version=version),
        lambda: cache.decr(key, version=version), lambda: cache.has_key(key, version=version),
        lambda: cache.get_many([key, key + "2"], version=version),
        lambda: cache.set_many({key: 1, key + "2": 2}, version=version),
        lambda: cache.delete_many([key, key + "2"], version=version),
        lambda: cache.get_or_set(key, 1, version=version), lambda: cache.incr_version(key, version=version),
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["pymemcache", "pylibmc"])
def test_a_key_crafted_to_smuggle_a_memcached_command_never_reaches_the_wire(
    backends: Backends, name: str
) -> None:
    server = backends.memcached
    assert server is not None
    cache = backends.target(name).handler()[ALIAS]
    cache.set("sentinel", "intact")  # connected: the client could send at once
    smuggling_prefix = backends.target(name).caches | {"KEY_PREFIX": "p\r\nset smuggled 0 0 1\r\n1\r\n"}
    prefixed = CacheHandler({ALIAS: smuggling_prefix})[ALIAS]
    before = _counters(server)
    assert set(before) == set(COMMANDS) and before["cmd_set"] > 0
    calls = [call for key in SMUGGLERS for call in _operations(cache, key)]
    calls += _operations(prefixed, "innocent")
    calls += _operations(cache, "innocent", version="1 set smuggled 0 0 1")
    for call in calls:
        with pytest.raises(InvalidCacheKey):
            call()
    assert _counters(server) == before, "a command reached the server"
    assert _raw(server, b"get smuggled\r\n") == b"END\r\n"
    assert cache.get("sentinel") == "intact"


# -- passwords ------------------------------------------------------------------------------

PASSWORD = "Pw-7c1e93-do-not-print"
WRONG = "Wrong-58ad20-do-not-print"


def _text_of(exc: BaseException) -> str:
    """Everything a user could be shown of an exception: message, repr, notes, causes, traceback."""
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.args)


def _assert_secret_free(text: str) -> None:
    for secret in (PASSWORD, WRONG):
        assert secret not in text and quote(secret) not in text and secret[:12] not in text


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "acl", username="bob", password=PASSWORD,
                         extra=("--user", "bob", "on", f">{PASSWORD}", "~*", "&*", "+@all",
                                "--user", "default", "off"))  # fmt: skip
    server.start()
    yield server
    server.stop()


def _redis_cache(url: str, **options: Any) -> BaseCache:
    entry = {"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": url,
             "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1, **options}}  # fmt: skip
    return CacheHandler({"r": entry})["r"]


def test_no_redis_password_in_exceptions_or_logs(
    acl_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = _redis_cache(f"redis://bob:{WRONG}@127.0.0.1:{acl_redis.port}")
    texts = [repr(wrong)]
    import redis

    with pytest.raises(redis.AuthenticationError) as info:
        wrong.get("k")
    texts.append(_text_of(info.value))
    right = _redis_cache(acl_redis.url)
    right.set("k", 1)
    texts.append(repr(right))
    with pytest.raises(ImproperlyConfigured) as config:
        _redis_cache(acl_redis.url, socket_timeot=1)  # a typo: the error shows the location
    texts.append(_text_of(config.value))
    quiet = _redis_cache(acl_redis.url, IGNORE_EXCEPTIONS=True)
    quiet.set("k", 1)
    acl_redis.kill()
    with pytest.raises(redis.ConnectionError) as down:
        right.get("k")
    texts.append(_text_of(down.value))
    assert quiet.get("k") is None  # logged at ERROR
    with pytest.raises(ValueError) as miss:
        quiet.incr("k")
    texts.append(_text_of(miss.value))
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            texts.append(_text_of(record.exc_info[1]))
    assert any("127.0.0.1" in text for text in texts)  # the messages do say where
    for text in texts:
        _assert_secret_free(text)


def test_no_database_password_in_exceptions_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    import psycopg

    caplog.set_level(logging.DEBUG)
    url = f"postgresql://cache:{PASSWORD}@127.0.0.1:{free_port()}/site"  # nobody listens
    cache = CacheHandler({"d": {"BACKEND": "cachemere.backends.db.DatabaseCache", "LOCATION": "t"}},
                         DATABASES={"default": {"URL": url}}, SECRET_KEY=SECRET)["d"]  # fmt: skip
    texts = [repr(cache)]
    for call in (lambda: cache.get("k"), lambda: cache.set("k", 1)):
        with pytest.raises(psycopg.OperationalError) as info:
            call()
        texts.append(_text_of(info.value))
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        _assert_secret_free(text)


def test_no_password_in_the_command_line_output(acl_redis: RedisServer, tmp_path: Path) -> None:
    module = tmp_path / "secret_settings.py"
    module.write_text(textwrap.dedent(f"""
        SECRET_KEY = {SECRET!r}
        DATABASES = {{"default": {{"URL": "postgresql://cache:{PASSWORD}@127.0.0.1:{free_port()}/site"}}}}
        CACHES = {{
            "default": {{"BACKEND": "cachemere.backends.redis.RedisCache", "LOCATION": {acl_redis.url!r},
                         "OPTIONS": {{"socket_connect_timeout": 1, "socket_timeout": 1}}}},
            "wrong": {{"BACKEND": "cachemere.backends.redis.RedisCache",
                       "LOCATION": "redis://bob:{WRONG}@127.0.0.1:{acl_redis.port}"}},
            "db": {{"BACKEND": "cachemere.backends.db.DatabaseCache", "LOCATION": "t"}},
        }}
    """))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "CACHEMERE_SETTINGS_MODULE": "secret_settings"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "cachemere", *args], env=env, capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        _assert_secret_free(result.stdout + result.stderr)
        outputs.append(result.stdout + result.stderr)
        return result

    outputs: list[str] = []

    assert run("check").returncode != 0  # "wrong" and "db" fail; the output says so without secrets
    assert run("set", "k", "v").returncode == 0
    assert run("get", "k", "--cache", "wrong").returncode != 0
    assert run("get", "k", "--cache", "db").returncode != 0
    acl_redis.kill()
    result = run("check")
    assert result.returncode != 0 and "127.0.0.1" in result.stdout + result.stderr
    assert run("get", "k").returncode != 0
    assert run("createcachetable").returncode != 0
    assert "***" in "".join(outputs)  # the locations are shown, masked


def test_no_memcached_sasl_password_in_exceptions_or_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import pylibmc

    caplog.set_level(logging.DEBUG)
    plugins = Path("/usr/lib/x86_64-linux-gnu/sasl2")
    if plugins.is_dir():  # where the PyPI wheel's own libsasl2 would not look (memcached.md)
        monkeypatch.setenv("SASL_PATH", str(plugins))
    server = MemcachedServer(tmp_path / "sasl", sasl=True, sasl_password=PASSWORD).start()

    def cache(password: str) -> BaseCache:
        options = {"binary": True, "username": SASL_USER, "password": password}
        entry = {"BACKEND": "cachemere.backends.memcached.PyLibMCCache", "LOCATION": server.location,
                 "OPTIONS": options}  # fmt: skip
        return CacheHandler({"m": entry})["m"]

    try:
        right, wrong = cache(PASSWORD), cache(WRONG)
        right.set("k", "v")
        assert right.get("k") == "v"
        texts = [repr(right), repr(wrong)]
        with pytest.raises(pylibmc.Error) as refused:
            wrong.set("k", "stolen")
        texts.append(_text_of(refused.value))
        server.kill()
        with pytest.raises(pylibmc.Error) as down:
            right.get("k")
        texts.append(_text_of(down.value))
    finally:
        server.kill()
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        _assert_secret_free(text)
