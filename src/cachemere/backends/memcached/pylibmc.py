"""``PyLibMCCache``: the memcached backend on pylibmc (libmemcached).

pylibmc serializes in C: ``bytes``, ``str`` and ``int`` as they are (so
``incr`` works on the server), anything else pickled.  It would store a
``bool`` as the integer 1 or 0, so the backend has pylibmc pickle bools.  With
``SIGN_VALUES`` the backend stores :mod:`.signed`'s bytes, and a client class
whose ``deserialize`` never unpickles reads them back.

This is the one module that relies on pylibmc's behaviour beyond its
documented calls: ``Client.clone`` keeping the subclass, the
``serialize``/``deserialize`` hooks, and that freeing a client sends ``quit``
and shuts its sockets down (hence ``_keep_inherited_clients``, see
:mod:`.base`); tests/test_memcached_canary.py checks them.  pylibmc ships no
type information: its names are ``Any`` to mypy.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

try:
    import pylibmc
except ImportError as exc:
    raise ImportError(
        f"cachemere's PyLibMCCache needs pylibmc: pip install 'cachemere[pylibmc]' ({exc})"
    ) from exc

from .base import BaseMemcachedCache, Server, server_name
from .signed import stored_signed

__all__ = ["PyLibMCCache", "VerifyingClient"]


class _PickledBool:
    """Stands for a bool so that pylibmc pickles it; unpickles as the bool itself."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __reduce__(self) -> tuple[type[bool], tuple[bool]]:
        return bool, (self.value,)


_TRUE, _FALSE = _PickledBool(True), _PickledBool(False)


class _PickledStr:
    """Stands for a str pylibmc cannot encode in UTF-8 (a lone surrogate), so that it pickles it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return str, (self.value,)


def _keep_bools(key: str, value: Any) -> Any:
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    if type(value) is str and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return _PickledStr(value)
    return value


class VerifyingClient(pylibmc.Client):  # type: ignore[misc]  # pylibmc.Client is Any (no stubs)
    """A pylibmc client that never unpickles: raw bytes (to verify), ints, else None."""

    def deserialize(self, data: bytes, flags: int) -> Any:
        return stored_signed(data, flags)


class PyLibMCCache(BaseMemcachedCache):
    """memcached through pylibmc; OPTIONS go to ``pylibmc.Client``.

    ``behaviors`` default to ``{"ketama": True}`` (consistent hashing; the
    libmemcached default remaps almost every key when a server is added or
    removed); OPTIONS' ``behaviors`` are merged over it.  SASL (``username``,
    ``password``) needs ``binary: True``.  Each thread has a clone of one
    configured client.
    """

    library = "pylibmc.Client"
    library_options = frozenset(inspect.signature(pylibmc.Client.__init__).parameters) - {"self", "servers"}
    _keep_inherited_clients = True
    _refused = (pylibmc.TooBig,)
    _not_found = (pylibmc.NotFound,)
    # UnknownReadFailure: the binary protocol's answer for a non-numeric value.
    _incr_refused = (pylibmc.ClientError, pylibmc.UnknownReadFailure)

    def _packer(self) -> Callable[[str, Any], Any]:
        return _keep_bools if self._sealer is None else self._sealer.seal

    def _client_factory(self, servers: list[Server], options: dict[str, Any]) -> Callable[[], Any]:
        behaviors = {"ketama": True, **(options.get("behaviors") or {})}
        client_class = pylibmc.Client if self._sealer is None else VerifyingClient
        template = client_class(
            [server_name(server) for server in servers], **{**options, "behaviors": behaviors}
        )
        clone: Callable[[], Any] = template.clone
        return clone
