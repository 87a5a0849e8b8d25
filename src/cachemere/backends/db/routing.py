"""The ``DATABASE_ROUTERS`` chain, as Django consults it.

Routers are consulted in order and the first answer that is not None wins;
with no answer, reads and writes go to ``default`` and migrating is allowed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...exceptions import ImproperlyConfigured
from ...utils import import_string
from .engines import DEFAULT_DB_ALIAS

if TYPE_CHECKING:
    from ...conf import SettingsSource


class RouterChain:
    """The routers of one ``DATABASE_ROUTERS`` value, instantiated once."""

    def __init__(self, routers: Sequence[Any]) -> None:
        self.routers = [self._load(index, router) for index, router in enumerate(routers)]

    @staticmethod
    def _load(index: int, router: Any) -> Any:
        where = f"DATABASE_ROUTERS[{index}]"
        if isinstance(router, str):
            try:
                router = import_string(router)
            except ImportError as exc:
                raise ImproperlyConfigured(f"{where} ({router!r}) cannot be imported: {exc}") from exc
        if isinstance(router, type):
            try:
                router = router()
            except TypeError as exc:
                raise ImproperlyConfigured(f"{where} ({router!r}) cannot be instantiated: {exc}") from exc
        return router

    def __bool__(self) -> bool:
        return bool(self.routers)

    def _route(self, action: str, model: type[Any], hints: dict[str, Any]) -> str:
        for router in self.routers:
            method = getattr(router, action, None)
            if method is None:
                continue
            chosen: str | None = method(model, **hints)
            if chosen is not None:
                return chosen
        return DEFAULT_DB_ALIAS

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        """The database to read ``model`` from."""
        return self._route("db_for_read", model, hints)

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        """The database to write ``model`` to."""
        return self._route("db_for_write", model, hints)

    def allow_migrate(self, db: str, model: type[Any], **hints: Any) -> bool:
        """True if ``model``'s table may be created in database ``db``."""
        meta = model._meta
        for router in self.routers:
            method = getattr(router, "allow_migrate", None)
            if method is None:
                continue
            allowed = method(db, meta.app_label, model_name=meta.model_name, model=model, **hints)
            if allowed is not None:
                return bool(allowed)
        return True


# id(raw DATABASE_ROUTERS value) -> (that value, kept alive so the id stays its own; its chain).
_chains: dict[int, tuple[Any, RouterChain]] = {}
_chains_lock = threading.Lock()
_CHAINS_KEPT = 16


def router_chain(source: SettingsSource) -> RouterChain:
    """The chain for ``source``'s ``DATABASE_ROUTERS`` (rebuilt when the setting changes)."""
    raw = source.DATABASE_ROUTERS
    cached = _chains.get(id(raw))
    if cached is not None and cached[0] is raw:
        return cached[1]
    with _chains_lock:
        cached = _chains.get(id(raw))
        if cached is not None and cached[0] is raw:
            return cached[1]
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            raise ImproperlyConfigured(f"DATABASE_ROUTERS must be a list, got {raw!r}")
        chain = RouterChain(raw)
        if len(_chains) >= _CHAINS_KEPT:
            _chains.clear()
        _chains[id(raw)] = (raw, chain)
        return chain
