"""``PyMemcacheCache``: the memcached backend on pymemcache's ``HashClient``.

Values are packed by the backend before the client sees them (so a value that
cannot be pickled raises even with ``ignore_exc``), with pymemcache's own flags:
``bytes`` as they are, ``str`` as UTF-8, ``int`` as decimal digits (so
``incr`` works on the server), anything else pickled.  Django's
``PyMemcacheCache`` (``pickle_serde``) reads and writes the same format, and
keys land on the same servers (pymemcache's rendezvous hashing).  With
``SIGN_VALUES`` values are stored in :mod:`.signed`'s form instead.

This is the one module that uses pymemcache's private names (``Client._connect``,
``sock``, ``_raise_errors``; ``HashClient._dead_clients``, ``_failed_clients``,
``_retry_dead``, ``_get_client``, ``_safely_run_func``, ``_safely_run_set_many``;
``RendezvousHash.nodes``); tests/test_memcached_canary.py fails if one goes.
pymemcache ships no type information: the imports are ``Any`` to mypy.
"""

from __future__ import annotations

import inspect
import pickle
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

# pymemcache has no stubs or py.typed: its names are Any here (pyproject.toml's mypy overrides).
try:
    from pymemcache.client.base import Client
    from pymemcache.client.hash import HashClient
    from pymemcache.client.rendezvous import RendezvousHash
    from pymemcache.exceptions import (
        MemcacheClientError,
        MemcacheError,
        MemcacheServerError,
        MemcacheUnexpectedCloseError,
        MemcacheUnknownError,
    )
    from pymemcache.serde import (
        FLAG_INTEGER,
        FLAG_LONG,
        FLAG_PICKLE,
        FLAG_TEXT,
    )
except ImportError as exc:
    raise ImportError(
        f"cachemere's PyMemcacheCache needs pymemcache: pip install 'cachemere[memcached]' ({exc})"
    ) from exc

from ...exceptions import ImproperlyConfigured
from .base import BaseMemcachedCache, Server, server_name
from .signed import Sealer, stored_signed

__all__ = ["Connection", "PyMemcacheCache", "Ring", "Serde", "SignedSerde", "pack", "unpack"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_RECV_SIZE = 65536
_TEXT = b"%d" % FLAG_TEXT
_CUSTOM_SERIALIZATION = ("serde", "serializer", "deserializer")


def pack(key: str, value: Any) -> tuple[bytes, int]:
    """``(data, flags)`` for ``value``, as pymemcache's ``pickle_serde`` would store it.

    ``key`` (the made key) is not used: it is there for the signing packer.
    """
    kind = type(value)
    if kind is str:
        try:
            return value.encode(), FLAG_TEXT
        except UnicodeEncodeError:  # a lone surrogate: pickle keeps it
            return pickle.dumps(value, _PROTOCOL), FLAG_PICKLE
    if kind is bytes:
        return value, 0
    if kind is int:
        return b"%d" % value, FLAG_INTEGER
    return pickle.dumps(value, _PROTOCOL), FLAG_PICKLE


def unpack(data: bytes, flags: int) -> Any:
    """The value :func:`pack` (or ``pickle_serde``) stored; errors propagate."""
    if flags == 0:
        return data
    if flags & FLAG_TEXT:
        return data.decode()
    if flags & (FLAG_INTEGER | FLAG_LONG):
        return int(data)
    if flags & FLAG_PICKLE:
        return pickle.loads(data)
    return data


def _signed_packer(sealer: Sealer) -> Callable[[str, Any], tuple[bytes, int]]:
    seal = sealer.seal

    def pack_signed(key: str, value: Any) -> tuple[bytes, int]:
        sealed = seal(key, value)
        return (b"%d" % sealed, FLAG_INTEGER) if type(sealed) is int else (sealed, 0)

    return pack_signed


class Serde:
    """pymemcache serde for values the backend has packed already."""

    @staticmethod
    def serialize(key: Any, value: tuple[bytes, int]) -> tuple[bytes, int]:
        return value

    @staticmethod
    def deserialize(key: Any, data: bytes, flags: int) -> Any:
        return unpack(data, flags)


class SignedSerde(Serde):
    """Serde of a signing cache: hands back bytes for the backend to verify, ints, or None."""

    @staticmethod
    def deserialize(key: Any, data: bytes, flags: int) -> Any:
        return stored_signed(data, flags)


def _unpack_reply(key: str, data: bytes, flags: bytes) -> Any:
    # Text first, without another call: it is the common case.
    return data.decode() if flags == _TEXT else unpack(data, int(flags))


def _signed_reply(key: str, data: bytes, flags: bytes) -> Any:
    return stored_signed(data, int(flags))


def name_server(exc: BaseException, where: str) -> None:
    """Make ``exc`` name the memcached server(s) ``where``, keeping its type."""
    text = f"memcached server {where}"
    if text in str(exc):
        return
    if isinstance(exc, OSError) and exc.strerror:
        exc.strerror = f"{exc.strerror} ({text})"
    elif len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]} ({text})",)
    elif not exc.args:
        exc.args = (text,)
    else:
        exc.add_note(text)


def _recv(sock: Any, size: int) -> bytes:
    data: bytes = sock.recv(size)
    if not data:
        raise MemcacheUnexpectedCloseError()
    return data


class Connection(Client):  # type: ignore[misc]  # Client is Any (no stubs)
    """pymemcache's ``Client`` with gets that parse the reply in place.

    ``Client.get_many`` re-checks every key and reads the reply line by line
    through several helpers, which costs more than the round trip for 100
    keys.  The backend has validated its keys already, so ``get`` and
    ``get_many`` send str keys as they are and walk one buffer.  They keep
    ``Client``'s contract: the connection is closed on any error, which is
    re-raised unless ``ignore_exc``.
    """

    def get(self, key: Any, default: Any = None) -> Any:
        if type(key) is not str or self.key_prefix:
            return super().get(key, default)
        return self._fetch(("get " + key + "\r\n").encode()).get(key, default)

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        keys = list(keys)
        if not keys:
            return {}
        try:
            command = ("get " + " ".join(keys) + "\r\n").encode()
        except TypeError:  # bytes keys
            command = b""
        if self.key_prefix or not command:
            found: dict[Any, Any] = super().get_many(keys)
            return found
        return self._fetch(command)

    get_multi = get_many

    def _fetch(self, command: bytes) -> dict[str, Any]:
        try:
            if self.sock is None:
                self._connect()
            self.sock.sendall(command)
            found: dict[str, Any] = self._read_values(self.sock)
            return found
        except Exception:
            self.close()
            if self.ignore_exc:
                return {}
            raise

    def _converter(self) -> Callable[[str, bytes, bytes], Any]:
        """``(key, data, flags as digits) -> value`` for this client's serde."""
        if self.serde is Serde:
            return _unpack_reply
        if self.serde is SignedSerde:
            return _signed_reply
        deserialize = self.serde.deserialize
        return lambda key, data, flags: deserialize(key, data, int(flags))

    def _read_values(self, sock: Any) -> dict[str, Any]:
        buf = _recv(sock, _RECV_SIZE)
        if buf.endswith(b"END\r\n"):  # most likely the whole reply
            found = self._split_values(buf)
            if found is not None:
                return found
        return self._walk_values(sock, buf)

    def _split_values(self, buf: bytes) -> dict[str, Any] | None:
        """Parse a whole reply split at line ends; None when it does not fit that.

        A value holding a line end, or an "END" line that was part of a value
        (the reply goes on), shows as a length mismatch.
        """
        lines = buf.split(b"\r\n")
        if len(lines) % 2 or lines[-2] != b"END" or lines[-1]:
            return None
        convert, found = self._converter(), dict[str, Any]()
        text = _TEXT if convert is _unpack_reply else None  # decoded here, without a call
        for index in range(0, len(lines) - 2, 2):
            header, data = lines[index].split(), lines[index + 1]
            if len(header) != 4 or header[0] != b"VALUE" or len(data) != int(header[3]):
                return None
            key, flags = header[1].decode(), header[2]
            found[key] = data.decode() if flags == text else convert(key, data, flags)
        return found

    def _walk_values(self, sock: Any, buf: bytes) -> dict[str, Any]:
        """Parse a reply from ``buf`` on, reading the rest from ``sock`` as needed."""
        convert, found, pos = self._converter(), dict[str, Any](), 0
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:  # the line goes on in the next packet
                buf, pos = buf[pos:] + _recv(sock, _RECV_SIZE), 0
                continue
            header = buf[pos:eol].split()
            if len(header) != 4 or header[0] != b"VALUE":
                if header == [b"END"]:
                    return found
                self._raise_errors(buf[pos:eol], b"get")
                raise MemcacheUnknownError(buf[pos:eol][:32])
            start = eol + 2
            end = start + int(header[3])
            if len(buf) < end + 2:  # the value goes on: read all of it at once
                chunks, have = [buf], len(buf)
                while have < end + 2:
                    chunks.append(_recv(sock, max(_RECV_SIZE, end + 2 - have)))
                    have += len(chunks[-1])
                buf = b"".join(chunks)
            key = header[1].decode()
            found[key] = convert(key, buf[start:end], header[2])
            pos = end + 2


class _Rendezvous(RendezvousHash):  # type: ignore[misc]  # RendezvousHash is Any (no stubs)
    """pymemcache's default hashing, skipped when only one server is alive."""

    def get_node(self, key: Any) -> Any:
        nodes = self.nodes
        return nodes[0] if len(nodes) == 1 else super().get_node(key)


class Ring(HashClient):  # type: ignore[misc]  # HashClient is Any (no stubs)
    """``HashClient`` whose multi-key calls make one round trip per server.

    (``HashClient.delete_many`` deletes key by key, and its ``get_many`` and
    ``set_many`` hash each key even when there is one server.)  Failures go
    through ``HashClient``'s own handling: retries, dead servers, ``ignore_exc``;
    their errors name the server.
    """

    client_class = Connection

    def _down(self) -> str:
        servers = [*self._dead_clients, *(s for s in self._failed_clients if s not in self._dead_clients)]
        return ", ".join(server_name(server) for server in servers) or "none left"

    def _get_client(self, key: Any) -> Any:
        # The backend has validated its keys: HashClient's own check is skipped.
        if self._dead_clients:
            self._retry_dead()
        node = self.hasher.get_node(key)
        if node is None:
            if self.ignore_exc:
                return None
            raise MemcacheError(f"All servers seem to be down right now ({self._down()})")
        return self.clients[node]

    def _skipped(self, client: Any) -> None:
        """Raise for a call ``HashClient`` would skip: a failed server inside its ``retry_timeout``.

        ``HashClient`` answers such a call with the default (a miss, None,
        False) even with ``ignore_exc`` off, so a ``set`` or ``delete`` would be
        dropped silently and a server that kept its data would serve the old
        value later.  With ``ignore_exc`` on that answer is what was asked for.
        """
        if self.ignore_exc or not self._failed_clients:
            return
        failed = self._failed_clients.get(client.server)
        if failed is None or failed["attempts"] >= self.retry_attempts:
            return  # not failing, or about to be marked dead by HashClient
        ago = time.time() - failed["failed_time"]
        if ago <= self.retry_timeout:
            raise MemcacheError(
                f"skipped: this server failed {ago:.1f} s ago and is tried again after "
                f"retry_timeout ({self.retry_timeout} s) ({server_name(client.server)})"
            )

    def _safely_run_func(self, client: Any, func: Any, default_val: Any, *args: Any, **kwargs: Any) -> Any:
        self._skipped(client)
        try:
            return super()._safely_run_func(client, func, default_val, *args, **kwargs)
        except Exception as exc:
            name_server(exc, server_name(client.server))
            raise

    def _safely_run_set_many(self, client: Any, values: Any, *args: Any) -> list[Any]:
        self._skipped(client)
        try:
            return list(super()._safely_run_set_many(client, values, *args))
        except Exception as exc:
            name_server(exc, server_name(client.server))
            raise

    def _by_server(self, keys: Iterable[Any]) -> list[tuple[Client, Any]]:
        if self._dead_clients:
            self._retry_dead()
        nodes = getattr(self.hasher, "nodes", None)
        if nodes is not None and len(nodes) == 1:
            return [(self.clients[nodes[0]], keys)]
        batches: dict[Any, list[Any]] = {}
        get_node = self.hasher.get_node
        for key in keys:
            node = get_node(key)
            if node is None:  # no server left alive
                if self.ignore_exc:
                    return []
                raise MemcacheError(f"All servers seem to be down right now ({self._down()})")
            batches.setdefault(node, []).append(key)
        return [(self.clients[node], batch) for node, batch in batches.items()]

    def get_many(self, keys: Iterable[Any], gets: bool = False, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        found: dict[Any, Any]
        if gets or args or kwargs:
            found = super().get_many(keys, gets, *args, **kwargs)
            return found
        found = {}
        for client, batch in self._by_server(keys):
            found.update(self._safely_run_func(client, client.get_many, {}, batch))
        return found

    def set_many(
        self, values: Mapping[Any, Any], expire: int = 0, noreply: bool | None = None,
        flags: int | None = None,
    ) -> list[Any]:  # fmt: skip
        batches = self._by_server(values)
        if not batches:
            return list(values)
        failed: list[Any] = []
        for client, keys in batches:
            batch = values if keys is values else {key: values[key] for key in keys}
            failed += self._safely_run_set_many(client, batch, expire, noreply, flags)
        return failed

    def delete_many(self, keys: Iterable[Any], noreply: bool | None = None) -> bool:
        for client, batch in self._by_server(keys):
            self._safely_run_func(client, client.delete_many, False, batch, noreply)
        return True

    get_multi = get_many
    set_multi = set_many
    delete_multi = delete_many


def _keyword_names(function: Callable[..., Any]) -> frozenset[str]:
    parameters = inspect.signature(function).parameters
    return frozenset(name for name in parameters if name not in ("self", "servers"))


class PyMemcacheCache(BaseMemcachedCache):
    """memcached through pymemcache; OPTIONS go to :class:`Ring` (a ``HashClient``).

    Defaults, which OPTIONS override: ``allow_unicode_keys=True``,
    ``default_noreply=False`` (so add/set/delete report what happened) and
    cachemere's serialization (off when OPTIONS name a ``serde``; not allowed
    with ``SIGN_VALUES``).  With ``use_pooling`` every thread shares one client
    and its pools; otherwise each thread has a client of its own.
    """

    library = "pymemcache's HashClient"
    library_options = _keyword_names(HashClient.__init__)
    _refused = (MemcacheServerError,)
    _incr_refused = (MemcacheClientError,)

    def _custom_serialization(self) -> list[str]:
        return [name for name in _CUSTOM_SERIALIZATION if name in self._options]

    def _packer(self) -> Callable[[str, Any], Any]:
        if self._sealer is not None:
            custom = self._custom_serialization()
            if custom:
                raise ImproperlyConfigured(
                    f"OPTIONS {custom[0]!r} cannot be combined with SIGN_VALUES, "
                    "which stores values in its own signed form"
                )
            return _signed_packer(self._sealer)
        return super()._packer() if self._custom_serialization() else pack

    def _client_factory(self, servers: list[Server], options: dict[str, Any]) -> Callable[[], Ring]:
        defaults: dict[str, Any] = {
            "allow_unicode_keys": True,
            "default_noreply": False,
            "hasher": _Rendezvous,
        }
        if not self._custom_serialization():
            defaults["serde"] = Serde if self._sealer is None else SignedSerde
        make = partial(Ring, servers, **{**defaults, **options})
        if options.get("use_pooling"):
            shared = make()  # pooled clients are thread-safe
            return lambda: shared
        return make
