"""Django's view decorators for plain WSGI and ASGI apps: ``cache_page``, ``cache_control``, ``never_cache``,
``vary_on_headers``, ``vary_on_cookie``.

Each takes a WSGI callable or an ASGI 3 app (a coroutine function, or an
object whose ``__call__`` is one) and returns the same kind, so it can be
applied where routes are declared (``cache_page(900)(view)``) and the view
stays reusable uncached.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..backends.base import BaseCache
from ..handler import CacheHandler
from . import asgi, wsgi
from .core import SettingsArg
from .headers import add_never_cache_headers, patch_cache_control, patch_vary_headers
from .messages import Headers

__all__ = ["cache_control", "cache_page", "never_cache", "vary_on_cookie", "vary_on_headers"]

App = TypeVar("App", bound=Callable[..., Any])


def is_asgi(app: Any) -> bool:
    """True for an ASGI 3 app: a coroutine function or an object with an async ``__call__``."""
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(type(app).__call__)


def _wrapped(wrapper: Any, app: Any) -> Any:
    try:
        # updated=(): merging the app's __dict__ would overwrite a wrapped middleware's own state.
        functools.update_wrapper(wrapper, app, updated=())
    except AttributeError:  # an object without __name__ or without a __dict__ to copy into
        pass
    return wrapper


def cache_page(
    timeout: float,
    *,
    cache: BaseCache | str | None = None,
    key_prefix: str | None = None,
    settings: SettingsArg = None,
    caches: CacheHandler | None = None,
) -> Any:
    """Cache the app's pages for ``timeout`` seconds (which beats the response's own max-age).

    As Django: ``cache`` names an alias (default ``"default"``, not
    ``CACHE_MIDDLEWARE_ALIAS``) or is an instance; ``key_prefix`` (default ``""``)
    is combined with the cache's ``KEY_PREFIX``.  ``settings`` and ``caches``:
    where settings and aliases come from, as for the middleware
    (:class:`cachemere.http.core.Config`; default the global ones).
    """

    def decorate(app: App) -> App:
        module: Any = asgi if is_asgi(app) else wsgi
        middleware = module.CacheMiddleware(
            app, page_timeout=timeout, key_prefix=key_prefix, cache_alias=None, cache=cache,
            settings=settings, caches=caches,
        )  # fmt: skip
        return _wrapped(middleware, app)  # type: ignore[no-any-return]

    return decorate


def _patching(patch: Callable[[Headers], None]) -> Callable[[App], App]:
    """A decorator that edits the app's response headers with ``patch`` before they are sent."""

    def decorate(app: App) -> App:
        if is_asgi(app):

            async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
                if scope.get("type") != "http":
                    await app(scope, receive, send)
                    return

                async def patched_send(message: Any) -> None:
                    if message["type"] == "http.response.start":
                        headers = Headers(
                            (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ())
                        )
                        patch(headers)
                        message = {
                            **message,
                            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
                        }
                    await send(message)

                await app(scope, receive, patched_send)

            return _wrapped(asgi_app, app)  # type: ignore[no-any-return]

        def wsgi_app(environ: Any, start_response: Any) -> Iterable[bytes]:
            def patched_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                patched = Headers(headers)
                patch(patched)
                return start_response(status, patched.items(), exc_info)

            result: Iterable[bytes] = app(environ, patched_start)
            return result

        return _wrapped(wsgi_app, app)  # type: ignore[no-any-return]

    return decorate


def cache_control(**directives: Any) -> Callable[[App], App]:
    """Merge ``directives`` into the response's Cache-Control (``patch_cache_control``'s rules)."""
    return _patching(lambda headers: patch_cache_control(headers, **directives))


def never_cache(app: App) -> App:
    """Mark every response of ``app`` as never to be cached anywhere (``add_never_cache_headers``)."""
    return _patching(add_never_cache_headers)(app)


def vary_on_headers(*names: str) -> Callable[[App], App]:
    """Add ``names`` to the response's Vary (``patch_vary_headers``)."""
    return _patching(lambda headers: patch_vary_headers(headers, names))


def vary_on_cookie(app: App) -> App:
    """``vary_on_headers("Cookie")``."""
    return vary_on_headers("Cookie")(app)
