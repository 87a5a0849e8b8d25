"""Flask integration: the :class:`Cache` extension, view decorators and the ``{% cache %}`` tag, per app.

``Cache(app)`` (or ``ext = Cache(); ext.init_app(app)``) reads ``CACHES``,
``CACHE_MIDDLEWARE_*``, ``ALLOWED_HOSTS``, ``USE_I18N``, ``SECRET_KEY`` and
cachemere's other settings from ``app.config``, once, into a
:class:`~cachemere.CacheHandler` of that app's own: no global setting is read,
so two apps in one process keep separate caches and settings.  The
decorators here take a Flask view (any return value Flask accepts) and drive
the page cache of :mod:`cachemere.http` with the settings of the app serving
the request.  docs/flask.md has the whole story.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

try:
    from flask import current_app, has_app_context, request
    from flask.globals import request_ctx
    from werkzeug.datastructures import Headers as ResponseHeaders
    from werkzeug.local import LocalProxy
except ImportError as exc:  # pragma: no cover - exercised by tests/test_no_extras.py
    raise ImportError(f"cachemere.contrib.flask needs Flask: pip install 'cachemere[flask]' ({exc})") from exc

from ..conf import DEFAULT_CACHE_ALIAS, DEFAULTS, LOCMEM_BACKEND, SettingsSource
from ..exceptions import ImproperlyConfigured
from ..handler import CacheHandler, CacheProxy
from ..http import core, wsgi
from ..http import decorators as http_decorators
from ..http.headers import add_never_cache_headers, patch_cache_control, patch_vary_headers
from ..http.wsgi import CacheMiddleware
from ..templates.jinja import CacheExtension

if TYPE_CHECKING:
    from flask import Flask, Response

    from ..backends.base import BaseCache

__all__ = [
    "EXTENSION_KEY",
    "Cache",
    "CacheMiddleware",
    "CacheState",
    "cache_control",
    "cache_page",
    "current_cache",
    "current_caches",
    "never_cache",
    "vary_on_cookie",
    "vary_on_headers",
]

#: The key of an app's :class:`CacheState` in ``app.extensions``.
EXTENSION_KEY: Final = "cachemere"

View = TypeVar("View", bound=Callable[..., Any])
_NO_SESSION: Final = object()
Environ = dict[str, Any]


class CacheState:
    """One app's cachemere: its settings (from ``app.config``), its caches and its cached views."""

    __slots__ = ("caches", "settings", "views")

    def __init__(self, settings: SettingsSource, caches: CacheHandler) -> None:
        self.settings = settings
        self.caches = caches
        #: One page-cache layer per decorated view, built on the view's first request.
        self.views: dict[object, wsgi.CacheMiddleware] = {}

    def close(self, exc: BaseException | None = None) -> None:
        """Close this thread's caches, as Django does when a request ends (connections are kept for reuse)."""
        self.caches.close_all()


def settings_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The cachemere settings (names in ``cachemere.conf.DEFAULTS``) present in a Flask ``app.config``."""
    return {name: config[name] for name in DEFAULTS if name in config}


def state_of(app: Flask) -> CacheState:
    """The :class:`CacheState` of ``app``; RuntimeError naming the app when no :class:`Cache` was set up."""
    try:
        return cast("CacheState", app.extensions[EXTENSION_KEY])
    except KeyError:
        raise RuntimeError(
            f"Flask app {app.name!r} has no cachemere extension: call cachemere.contrib.flask.Cache(app) "
            "(or Cache().init_app(app)) before it serves cached views"
        ) from None


def _current_state() -> CacheState:
    return state_of(current_app._get_current_object())  # type: ignore[attr-defined]


class Cache:
    """The Flask extension: ``Cache(app)`` or ``ext = Cache(); ext.init_app(app)``.

    ``middleware=True`` also caches the whole site: it wraps ``app.wsgi_app``
    in :class:`cachemere.http.wsgi.CacheMiddleware` with the app's
    ``CACHE_MIDDLEWARE_*`` settings.  Set ``app.config`` before; it is read once.
    """

    def __init__(self, app: Flask | None = None, *, middleware: bool = False) -> None:
        self.app = app
        self.middleware = middleware
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, middleware: bool | None = None) -> None:
        """Read ``app.config``; give the app its caches, the ``{% cache %}`` tag and a teardown closing them.

        A bad setting is an :class:`~cachemere.ImproperlyConfigured` error naming it.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(f"Flask app {app.name!r} already has a cachemere extension")
        where = f"app.config of Flask app {app.name!r}"
        values = settings_of(app.config)
        if "CACHES" not in values:
            # The default local-memory cache, but this app's own: two apps never share pages.
            location = f"flask:{app.import_name}:{id(app):x}"
            values["CACHES"] = {DEFAULT_CACHE_ALIAS: {"BACKEND": LOCMEM_BACKEND, "LOCATION": location}}
        settings = core.page_settings(values, where)
        state = CacheState(settings, core.handler_for(settings))
        for alias in state.caches:
            # Made now, so an unknown BACKEND or a bad OPTIONS key fails at start-up, not mid-request.
            try:
                state.caches[alias]
            except ImproperlyConfigured as exc:
                raise type(exc)(f"{where}: {exc}") from exc
        app.extensions[EXTENSION_KEY] = state
        app.teardown_appcontext(state.close)
        environment = app.jinja_env
        environment.add_extension(CacheExtension)
        environment.fragment_caches = state.caches  # type: ignore[attr-defined]
        if self.middleware if middleware is None else middleware:
            app.wsgi_app = CacheMiddleware(  # type: ignore[method-assign]
                app.wsgi_app, settings=state.settings, caches=state.caches
            )

    def _state(self) -> CacheState:
        if has_app_context():
            return _current_state()
        if self.app is not None:
            return state_of(self.app)
        raise RuntimeError("Cache.caches outside an app context needs Cache(app), or an app context")

    @property
    def caches(self) -> CacheHandler:
        """The caches of the current app (else of the app given to ``Cache(app)``): ``ext.caches["x"]``."""
        return self._state().caches

    @property
    def settings(self) -> SettingsSource:
        """The cachemere settings of the current app (else of the app given to ``Cache(app)``)."""
        return self._state().settings

    @property
    def cache(self) -> BaseCache:
        """The ``default`` cache of that app, looked up on each use (one backend instance per thread)."""
        return cast("BaseCache", CacheProxy(self.caches, DEFAULT_CACHE_ALIAS))


#: The caches of the app serving the current request: ``current_caches["alias"]``.
current_caches = cast(CacheHandler, LocalProxy(lambda: _current_state().caches))
#: The ``default`` cache of the app serving the current request.
current_cache = cast("BaseCache", LocalProxy(lambda: _current_state().caches[DEFAULT_CACHE_ALIAS]))


# -- the view decorators ------------------------------------------------------------------------

# The positional and keyword arguments of the view call in progress, for the WSGI app the page
# cache wraps (that layer is built once per view and app; the arguments change per request).
_view_arguments: ContextVar[tuple[tuple[Any, ...], dict[str, Any]]] = ContextVar(
    "cachemere.contrib.flask.view_arguments"
)


def _response_of(view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Response:
    app = current_app
    return app.make_response(app.ensure_sync(view)(*args, **kwargs))


def _held_session() -> Any:
    """The session of the request in progress, read without marking it accessed."""
    context = request_ctx._get_current_object()  # type: ignore[attr-defined]
    # Flask 3.1 marks the session accessed when its ``session`` property is read, so look at the
    # session it holds (``_session``; canary: tests/contrib/test_flask_views.py); before 3.1
    # ``session`` is a plain attribute.
    current = getattr(context, "_session", _NO_SESSION)
    return context.session if current is _NO_SESSION else current


def _session_accessed() -> bool:
    """Whether the view read or wrote the session, as Flask's own ``Vary: Cookie`` rule asks."""
    return bool(getattr(_held_session(), "accessed", True))  # SessionMixin's default is True


def _session_cookie_due() -> bool:
    """Whether the view changed the session (Flask then sends its cookie with this response)."""
    # A modified session is written back with a cookie; a permanent session refreshed on every
    # request gets its cookie on hits too (Flask saves it after the cache answered), so only
    # a change made by this view makes the page its visitor's.
    return bool(getattr(_held_session(), "modified", False))


def _streaming(start_response: Any) -> Any:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        write = start_response(status, headers, exc_info)
        # Using the write() callable tells the page cache the body is streamed: it passes it on
        # at once, unstored, where a generator of one chunk would otherwise look complete.
        write(b"")
        return write

    return start


def _view_app(view: Callable[..., Any]) -> wsgi.WSGIApp:
    """A WSGI app answering with ``view``'s response to the arguments of the call in progress."""

    def app(environ: Environ, start_response: Any) -> Iterable[bytes]:
        args, kwargs = _view_arguments.get()
        if environ is request.environ:
            response = _response_of(view, args, kwargs)
        else:
            response = _revalidating(environ, view, args, kwargs)
        # Flask adds "Vary: Cookie" to a response whose view read the session, but only after the
        # view (when it saves the session): too late for the key.  Add it before the page is stored.
        if _session_accessed():
            patch_vary_headers(response.headers, ("Cookie",))
        if _session_cookie_due():
            # Flask sets the session cookie after the view, too late for the page cache to see it:
            # a page that starts or changes a session (a CSRF token, a flash, a login) is one
            # visitor's, and every cookie-less visitor would otherwise get it.
            patch_cache_control(response.headers, private=True)
        if response.is_streamed:
            start_response = _streaming(start_response)
        return response(environ, start_response)

    return app


# What the page cache changes in the environ it passes on to revalidate a stale page.
_CONDITIONS: Final = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE")
# Werkzeug's parsed forms of those headers, cached on the request object.
_PARSED_CONDITIONS: Final = ("if_none_match", "if_modified_since")


def _revalidating(
    inner: Environ, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Response:
    """Call ``view`` with the conditions of ``inner`` (the stored page's validators) in Flask's request.

    The page cache revalidates a stale page by passing on a copy of the environ
    whose conditions are its validators; a view reads ``flask.request``, so
    they are put there for the call and the client's put back after it.
    """
    environ, parsed = request.environ, request.__dict__
    saved: dict[str, Any] = {key: environ[key] for key in _CONDITIONS if key in environ}
    for key in _CONDITIONS:
        environ.pop(key, None)
        if key in inner:
            environ[key] = inner[key]
    for name in _PARSED_CONDITIONS:
        parsed.pop(name, None)
    try:
        return _response_of(view, args, kwargs)
    finally:
        for key in _CONDITIONS:
            environ.pop(key, None)
        environ.update(saved)
        for name in _PARSED_CONDITIONS:
            parsed.pop(name, None)


def _joined(first: list[bytes], rest: Iterable[bytes]) -> Iterator[bytes]:
    try:
        yield from first
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()


def _through(layer: wsgi.CacheMiddleware, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Response:
    """Run one request through a view's page-cache layer; its answer as a Flask response."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        # Nothing is sent from here, so a second call (with exc_info) may replace the first.
        started[:] = [(status, headers)]
        return written.append

    token = _view_arguments.set((args, kwargs))
    try:
        result = layer(request.environ, start_response)
    finally:
        _view_arguments.reset(token)
    status, headers = started[0]
    written = [chunk for chunk in written if chunk]
    body: Iterable[bytes] = result
    if written:
        body = written + list(result) if isinstance(result, list) else _joined(written, result)
    response = current_app.response_class(body, status=status)
    response.headers = ResponseHeaders(headers)
    return response


def cache_page(
    timeout: float, *, cache: BaseCache | str | None = None, key_prefix: str | None = None
) -> Callable[[View], View]:
    """Cache a Flask view's pages for ``timeout`` seconds (which beats the response's own max-age).

    As :func:`cachemere.http.cache_page` (Django's): ``cache`` is an alias of
    the app's ``CACHES`` (default ``"default"``) or an instance; ``key_prefix``
    (default ``""``) is combined with the cache's ``KEY_PREFIX``.  The host,
    language and time zone rules are the serving app's settings.  A streamed
    response (a generator) passes through unstored; an exception (``abort``)
    is Flask's to handle, and nothing is stored.
    """

    def decorate(view: View) -> View:
        marker = object()  # this decorated view, in each app's CacheState.views
        inner = _view_app(view)

        @functools.wraps(view)
        def cached(*args: Any, **kwargs: Any) -> Response:
            state = _current_state()
            layer = state.views.get(marker)
            if layer is None:
                built = http_decorators.cache_page(
                    timeout, cache=cache, key_prefix=key_prefix, settings=state.settings, caches=state.caches
                )(inner)
                layer = state.views.setdefault(marker, built)
            return _through(layer, args, kwargs)

        return cast(View, cached)

    return decorate


def _patching(patch: Callable[[ResponseHeaders], None]) -> Callable[[View], View]:
    """A view decorator that edits the view's response headers with ``patch``."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def patched(*args: Any, **kwargs: Any) -> Response:
            response = _response_of(view, args, kwargs)
            patch(response.headers)
            return response

        return cast(View, patched)

    return decorate


def cache_control(**directives: Any) -> Callable[[View], View]:
    """Merge ``directives`` into the view's Cache-Control (``patch_cache_control``'s rules)."""
    return _patching(lambda headers: patch_cache_control(headers, **directives))


def never_cache(view: View) -> View:
    """Mark every response of ``view`` as never to be cached anywhere (``add_never_cache_headers``)."""
    return _patching(add_never_cache_headers)(view)


def vary_on_headers(*names: str) -> Callable[[View], View]:
    """Add ``names`` to the view's Vary (``patch_vary_headers``)."""
    return _patching(lambda headers: patch_vary_headers(headers, names))


def vary_on_cookie(view: View) -> View:
    """``vary_on_headers("Cookie")``."""
    return vary_on_headers("Cookie")(view)
