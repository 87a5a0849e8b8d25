"""The ``{% cache %}`` tag for Jinja2: :class:`CacheExtension`.

``{% cache TIMEOUT NAME [VARY_ON ...] [using="ALIAS"] %} ... {% endcache %}``
stores the rendered body under :func:`~cachemere.fragments.make_template_fragment_key`
``(NAME, VARY_ON values)`` for ``TIMEOUT`` seconds (``None``: forever), with
Django's semantics.  A cache that fails while a fragment is read or written
is logged (logger ``cachemere.templates``) and the fragment rendered uncached.
docs/templates.md has the whole story.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

try:
    from jinja2 import nodes
    from jinja2.exceptions import TemplateSyntaxError
    from jinja2.ext import Extension
    from jinja2.runtime import Undefined
except ImportError as exc:  # pragma: no cover - exercised by tests/test_no_extras.py
    raise ImportError(
        f"cachemere.templates.jinja needs Jinja2: pip install 'cachemere[jinja]' ({exc})"
    ) from exc

from ..backends.base import Logic, adrive, drive
from ..exceptions import InvalidCacheBackendError
from ..fragments import make_template_fragment_key

if TYPE_CHECKING:
    from jinja2 import Environment
    from jinja2.parser import Parser

    from ..backends.base import BaseCache
    from ..handler import CacheHandler

__all__ = ["FRAGMENTS_ALIAS", "CacheExtension"]

#: The alias the tag uses without ``using=``, when it is configured (else ``default``).
FRAGMENTS_ALIAS: Final = "template_fragments"

logger = logging.getLogger("cachemere.templates")

# What reading a fragment can find besides the fragment itself.
_MISS: Final = object()  # absent: render it and store it
_DOWN: Final = object()  # the cache failed: render it and leave the cache alone


def _where(template: str | None, lineno: int) -> str:
    return f" (template {template or '<string>'!r}, line {lineno})"


def _read_logic(alias: str, key: str) -> Logic[Any]:
    try:
        value = yield "get", (key, None, None)
    except Exception:
        logger.warning(
            "cache %r failed reading fragment %r; rendering it uncached", alias, key, exc_info=True
        )
        return _DOWN
    # Anything but a str is not ours to output (Jinja joins strs): render afresh.
    return value if isinstance(value, str) else _MISS


def _write_logic(alias: str, key: str, body: str, timeout: int | None) -> Logic[None]:
    try:
        yield "set", (key, body, timeout, None)
    except Exception:
        logger.warning("cache %r failed storing fragment %r", alias, key, exc_info=True)


class CacheExtension(Extension):
    """Jinja2 extension adding the ``{% cache %}`` tag.

    The tag reads its caches from ``environment.fragment_caches`` when that is
    set to a :class:`~cachemere.CacheHandler` (for apps with no global
    settings), else from ``cachemere.caches``.
    """

    tags = {"cache"}

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.extend(fragment_caches=None)

    # -- compile time ---------------------------------------------------------

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        template = parser.name or parser.filename
        if parser.stream.current.test("block_end"):
            self._too_few(parser, template, lineno)
        timeout = parser.parse_expression()
        name = self._fragment_name(parser, template, lineno)
        vary_on: list[nodes.Expr] = []
        using: nodes.Expr = nodes.Const(None)
        stream = parser.stream
        while not stream.current.test("block_end"):
            if stream.current.test("name:using") and stream.look().test("assign"):
                stream.skip(2)
                using = parser.parse_expression()
                if not stream.current.test("block_end"):
                    parser.fail(
                        "using= must be the last argument of the 'cache' tag" + _where(template, lineno),
                        stream.current.lineno,
                    )
                break
            vary_on.append(parser.parse_expression())
            stream.skip_if("comma")
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        args = [
            timeout, nodes.Const(name), nodes.List(vary_on), using,
            nodes.Const(template), nodes.Const(lineno),
        ]  # fmt: skip
        call = self.call_method("_cache_support", args, lineno=lineno)
        return nodes.CallBlock(call, [], [], body, lineno=lineno)

    @staticmethod
    def _too_few(parser: Parser, template: str | None, lineno: int) -> None:
        parser.fail(
            "'cache' tag requires at least 2 arguments: a timeout and a fragment name"
            + _where(template, lineno),
            lineno,
        )

    def _fragment_name(self, parser: Parser, template: str | None, lineno: int) -> str:
        # Taken as written, never looked up (Django's ticket #20130): a quoted
        # string, or a name with optional dotted parts such as sidebar.user.
        stream = parser.stream
        token = stream.current
        if token.test("block_end") or (token.test("name:using") and stream.look().test("assign")):
            self._too_few(parser, template, lineno)
        if token.type == "string":
            next(stream)
            return str(token.value)
        if token.type != "name":
            parser.fail(
                f"the 'cache' tag's fragment name must be a name or a quoted string, got {token.value!r}"
                + _where(template, lineno),
                token.lineno,
            )
        parts = [next(stream).value]
        while stream.current.type == "dot":
            next(stream)
            parts.append(stream.expect("name").value)
        return ".".join(parts)

    # -- render time ----------------------------------------------------------

    def _cache_support(
        self,
        timeout: Any,
        name: str,
        vary_on: list[Any],
        using: Any,
        template: str | None,
        lineno: int,
        caller: Callable[[], Any],
    ) -> Any:
        expiry = timeout if timeout is None or type(timeout) is int else _expiry(timeout, template, lineno)
        alias, cache = self._cache(using, template, lineno)
        key = make_template_fragment_key(name, vary_on)
        if self.environment.is_async:
            # Jinja awaits what a call returns in an async environment.
            return self._arender(cache, alias, key, expiry, caller)
        found = drive(cache, _read_logic(alias, key))
        if isinstance(found, str):
            return found
        body = str(caller())
        if found is _MISS:
            drive(cache, _write_logic(alias, key, body, expiry))
        return body

    async def _arender(
        self,
        cache: BaseCache,
        alias: str,
        key: str,
        expiry: int | None,
        caller: Callable[[], Awaitable[Any]],
    ) -> str:
        found = await adrive(cache, _read_logic(alias, key))
        if isinstance(found, str):
            return found
        body = str(await caller())
        if found is _MISS:
            await adrive(cache, _write_logic(alias, key, body, expiry))
        return body

    def _cache(self, using: Any, template: str | None, lineno: int) -> tuple[str, BaseCache]:
        handler: CacheHandler | None = getattr(self.environment, "fragment_caches", None)
        if handler is None:
            from ..handler import caches

            handler = caches
        if using is None:
            alias = FRAGMENTS_ALIAS if FRAGMENTS_ALIAS in handler else "default"
        elif isinstance(using, str):
            alias = using
        else:
            raise TemplateSyntaxError(
                f"the 'cache' tag's using= must name a cache alias, got {_shown(using)}"
                + _where(template, lineno),
                lineno, template,
            )  # fmt: skip
        try:
            return alias, handler[alias]
        except InvalidCacheBackendError:
            if alias in handler:
                raise  # configured, but its backend cannot be loaded: that error says why
            raise TemplateSyntaxError(
                f"Invalid cache name specified for cache tag: {alias!r}" + _where(template, lineno),
                lineno, template,
            ) from None  # fmt: skip


def _shown(value: Any) -> str:
    return "an undefined value" if isinstance(value, Undefined) else repr(value)


def _expiry(value: Any, template: str | None, lineno: int) -> int:
    # Django's rule: anything int() takes (so 7.9 is 7 and "60" is 60); Undefined is an error.
    if not isinstance(value, Undefined):
        try:
            return int(value)
        except (TypeError, ValueError):
            pass
    raise TemplateSyntaxError(
        f'"cache" tag got a non-integer timeout value: {_shown(value)}' + _where(template, lineno),
        lineno, template,
    )  # fmt: skip
