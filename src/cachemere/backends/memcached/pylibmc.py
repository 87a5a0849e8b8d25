"""``PyLibMCCache``: the memcached backend on pylibmc (libmemcached).

pylibmc serializes in C: ``bytes``, ``str`` and ``int`` as they are (so
``incr`` works on the server), anything else pickled.  It would store a
``bool`` as the integer 1 or 0, so the backend has pylibmc pickle bools.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    import pylibmc
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"cachemere's PyLibMCCache needs pylibmc: pip install 'cachemere[memcached]' ({exc})"
    ) from exc

from .base import BaseMemcachedCache, Server

__all__ = ["PyLibMCCache"]


class _PickledBool:
    """Stands for a bool so that pylibmc pickles it; unpickles as the bool itself."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __reduce__(self) -> tuple[type[bool], tuple[bool]]:
        return bool, (self.value,)


_TRUE, _FALSE = _PickledBool(True), _PickledBool(False)


def _keep_bools(value: Any) -> Any:
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    return value


def _server_string(server: Server) -> str:
    if isinstance(server, str):
        return server  # a Unix socket path
    host, port = server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class PyLibMCCache(BaseMemcachedCache):
    """memcached through pylibmc; OPTIONS go to ``pylibmc.Client``.

    ``behaviors`` default to ``{"ketama": True}`` (consistent hashing; the
    libmemcached default remaps almost every key when a server is added or
    removed); OPTIONS' ``behaviors`` are merged over it.  SASL (``username``,
    ``password``) needs ``binary: True``.  Each thread has a clone of one
    configured client.
    """

    library = "pylibmc.Client"
    _refused = (pylibmc.TooBig,)
    _not_found = (pylibmc.NotFound,)
    _pack = staticmethod(_keep_bools)

    def _client_factory(self, servers: list[Server], options: dict[str, Any]) -> Callable[[], Any]:
        behaviors = {"ketama": True, **(options.get("behaviors") or {})}
        template = pylibmc.Client(
            [_server_string(server) for server in servers], **{**options, "behaviors": behaviors}
        )
        return template.clone
