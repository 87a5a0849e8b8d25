"""LOCATION and OPTIONS of a redis cache: checked once, split into sync and async pool settings.

``LOCATION`` names one server or several (a list, or a ``;``/``,``-separated
string of ``redis://``, ``rediss://`` or ``unix://`` URLs), the leader first.
Every message that shows a LOCATION masks its passwords
(:func:`cachemere.redaction.mask_location`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio as aredis
from redis.retry import Retry

from ...conf import suggest
from ...exceptions import ImproperlyConfigured
from ...redaction import mask_location
from ...signing import configured_secret
from ...utils import import_string
from ..base import bool_option
from . import compat, ops
from .signed import Signer

__all__ = ["IGNORE_EXCEPTIONS", "RedisConfig", "split_location"]

#: The OPTIONS switch that turns an unreachable server into misses and no-ops.
IGNORE_EXCEPTIONS = "IGNORE_EXCEPTIONS"
# OPTIONS the backend reads itself (never passed to redis-py).
_OWN_OPTIONS = frozenset(
    {IGNORE_EXCEPTIONS, "SIGN_VALUES", "SIGNING_KEY", "serializer", "pool_class", "parser_class"}
)

_SCHEMES = ("redis", "rediss", "unix")
_SEPARATORS = re.compile(r"[;,]")

_ASYNC_TWINS = compat.ASYNC_TWINS
_SYNC_TWINS = {async_cls: sync_cls for sync_cls, async_cls in _ASYNC_TWINS.items()}


def split_location(location: Any) -> list[str]:
    """The server URLs of a LOCATION: one URL, a list, or a ``;``/``,``-separated string."""
    if isinstance(location, str):
        servers = [part.strip() for part in _SEPARATORS.split(location)]
    elif isinstance(location, (list, tuple)):
        servers = [str(part).strip() for part in location]
    else:
        raise ImproperlyConfigured(
            f"LOCATION must be a redis URL or a list of them, got {mask_location(location)!r}"
        )
    servers = [server for server in servers if server]
    if not servers:
        raise ImproperlyConfigured("LOCATION must name at least one redis server")
    for number, server in enumerate(servers, 1):
        scheme = server.partition("://")[0] if "://" in server else ""
        if scheme not in _SCHEMES:
            # The entry itself is not shown: it may be the tail of a password
            # that an unencoded ';' or ',' cut in two.
            raise ImproperlyConfigured(
                f"LOCATION {mask_location(location)!r}: entry {number} of {len(servers)} is not "
                "a redis URL: each must start with redis://, rediss:// or unix:// (a ';' or ',' "
                "inside a password must be percent-encoded)"
            )
    return servers


def _resolve_class(value: Any, option: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        renamed = compat.RENAMED_CLASSES.get(value)
        if renamed is not None:
            return import_string(renamed)
        raise ImproperlyConfigured(f"OPTIONS[{option!r}] = {value!r} cannot be imported: {exc}") from exc


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


class RedisConfig:
    """LOCATION and OPTIONS of one cache, checked and split into sync and async pool settings."""

    def __init__(self, location: Any, options: Mapping[str, Any], settings: Any) -> None:
        self.servers = split_location(location)
        options = dict(options)
        secret = self._signing_secret(options, settings)
        for name in ("MAX_ENTRIES", "CULL_FREQUENCY"):
            if name in options:
                raise ImproperlyConfigured(
                    f"OPTIONS[{name!r}] is not supported by RedisCache: redis evicts by its "
                    "own maxmemory-policy"
                )
        self.ignore_exceptions: bool = bool_option(options, IGNORE_EXCEPTIONS, False)
        options.pop(IGNORE_EXCEPTIONS, None)
        serializer = _resolve_class(options.pop("serializer", None), "serializer")
        if serializer is None:
            serializer = ops.RedisSerializer()
        elif callable(serializer):
            serializer = serializer()
        if not (hasattr(serializer, "dumps") and hasattr(serializer, "loads")):
            raise ImproperlyConfigured(
                f"OPTIONS['serializer'] must provide dumps() and loads(), got {serializer!r}"
            )
        self.serializer = serializer
        #: Signs and verifies values when OPTIONS["SIGN_VALUES"] is on.
        self.signer = None if secret is None else Signer(secret, serializer.loads)

        #: Why the async methods cannot run with these OPTIONS (None when they can).
        self.async_problem: str | None = None
        pool_class = _resolve_class(options.pop("pool_class", None), "pool_class")
        parser_class = _resolve_class(options.pop("parser_class", None), "parser_class")
        self.pool_class, self.async_pool_class = self._pair(
            pool_class, "pool_class", redis.ConnectionPool, aredis.ConnectionPool
        )
        self.options = options  # what goes to the pool, as given
        self.sync_kwargs = dict(options)
        self.async_kwargs = dict(options)
        if parser_class is not None:
            self.sync_kwargs["parser_class"], self.async_kwargs["parser_class"] = self._pair(
                parser_class, "parser_class", None, None
            )
        if compat.MaintNotificationsConfig is not None and "maint_notifications_config" not in options:
            # redis-py 8 turns maintenance notifications on ("auto") with RESP3,
            # which also skips the pool's check that a connection it hands out is
            # still open: an asyncio connection left stale by a server restart
            # would fail its next command.  They matter only for managed clusters
            # that announce failovers; OPTIONS can switch them back on.
            self.sync_kwargs["maint_notifications_config"] = compat.MaintNotificationsConfig(enabled=False)
            self.async_kwargs["maint_notifications_config"] = compat.MaintNotificationsConfig(enabled=False)
        # "retry" applies to connecting (commands are never retried); asyncio
        # connections await it, so they need redis.asyncio.retry.Retry.
        if isinstance(options.get("retry"), Retry):
            self.async_problem = "OPTIONS['retry'] is a sync redis.retry.Retry"
        if "connection_class" in options:
            self.async_problem = "OPTIONS['connection_class'] is a sync connection class"
        #: Identifies the pool settings: equal keys may share pools.
        self.key = (
            self.pool_class,
            _hashable(parser_class),
            tuple(sorted((name, _hashable(value)) for name, value in options.items())),
        )

    @staticmethod
    def _signing_secret(options: dict[str, Any], settings: Any) -> bytes | None:
        """The secret values are signed with (None: SIGN_VALUES is off); pops the signing options."""
        sign_values = bool_option(options, "SIGN_VALUES", False)
        options.pop("SIGN_VALUES", None)
        given = {"SIGNING_KEY": options.pop("SIGNING_KEY", None)}
        if not sign_values:
            if given["SIGNING_KEY"] is not None:
                raise ImproperlyConfigured(
                    "OPTIONS['SIGNING_KEY'] is set but OPTIONS['SIGN_VALUES'] is not True: "
                    "nothing would be signed"
                )
            return None
        secret = configured_secret(given, settings)
        if secret is None:
            raise ImproperlyConfigured(
                "OPTIONS['SIGN_VALUES'] needs a secret: set OPTIONS['SIGNING_KEY'] or the SECRET_KEY setting"
            )
        return secret

    def _pair(self, cls: Any, option: str, sync_default: Any, async_default: Any) -> tuple[Any, Any]:
        """The sync class and its asyncio twin for a class given in OPTIONS."""
        if cls is None:
            return sync_default, async_default
        if not isinstance(cls, type):
            raise ImproperlyConfigured(f"OPTIONS[{option!r}] must be a class or a dotted path, got {cls!r}")
        if cls in _SYNC_TWINS:
            return _SYNC_TWINS[cls], cls
        if cls not in _ASYNC_TWINS:
            self.async_problem = f"OPTIONS[{option!r}] = {cls.__qualname__} has no asyncio twin"
        if option == "pool_class" and not issubclass(cls, redis.ConnectionPool):
            raise ImproperlyConfigured(
                f"OPTIONS['pool_class'] must be a redis.ConnectionPool subclass, got {cls!r}"
            )
        return cls, _ASYNC_TWINS.get(cls)

    def check_pool(self, pool: Any) -> None:
        """Reject OPTIONS the connections would only refuse at the first command."""
        accepted = _init_parameters(pool.connection_class)
        if accepted is None:
            return
        for name in self.options:
            if name in pool.connection_kwargs and name not in accepted:
                known = accepted | _OWN_OPTIONS | set(_init_parameters(type(pool)) or ())
                raise ImproperlyConfigured(
                    f"OPTIONS[{name!r}] is neither a connection-pool option nor a "
                    f"{pool.connection_class.__name__} option{suggest(name, known - {'self'})}"
                )

    def describe(self) -> str:
        leader, *replicas = (mask_location(server) for server in self.servers)
        return f"leader {leader}" + (f", replicas {', '.join(replicas)}" if replicas else "")


def _init_parameters(cls: type) -> set[str] | None:
    """Keyword names ``cls(...)`` accepts, following ``**kwargs`` up the MRO; None if unknown."""
    accepted: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        if klass is object:
            return None
        try:
            parameters = inspect.signature(vars(klass)["__init__"]).parameters.values()
        except (TypeError, ValueError):
            return None
        accepted.update(param.name for param in parameters)
        if not any(param.kind is inspect.Parameter.VAR_KEYWORD for param in parameters):
            return accepted
    return None
