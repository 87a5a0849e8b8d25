"""The cachemere demo site: any WSGI app, cached with ``cachemere.http``'s decorators.

``create_app(directory)`` builds the site on two file caches in ``directory``
(so every process of a preforking server shares them).  ``app`` is a site
for WSGI servers (``gunicorn examples.demo.app:app``): its directory is
``$CACHEMERE_DEMO_DIR``, or a new temporary one, removed when the process
that made it exits (give several workers one directory with the variable,
or with ``--preload``).  ``python examples/demo/serve.py`` serves it with the
standard library; docs/demo.md tells the whole story.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from cachemere import CacheHandler
from cachemere.http import cache_control, cache_page, never_cache

from .bookkeeping import BOOKKEEPING_ALIAS, Bookkeeping, RequestLog
from .pages import BROWSER_MAX_AGE, PER_VIEW_TIMEOUT, SLOW_TIMEOUT, Pages

__all__ = ["DIRECTORY_VARIABLE", "Demo", "create_app"]

#: The environment variable naming the directory of ``app``'s caches.
DIRECTORY_VARIABLE: Final = "CACHEMERE_DEMO_DIR"
_FILES: Final = "cachemere.backends.filebased.FileBasedCache"
_READ: Final = frozenset({"GET", "HEAD"})
_NOT_ALLOWED: Final = b"Method not allowed\n"


class Router:
    """The smallest WSGI router: one app per exact path, else ``fallback``.

    Pages answer GET and HEAD; ``methods`` gives a path other methods (a 405 with ``Allow``
    for any other), so a stray POST neither runs a view nor invalidates its cached page.
    """

    def __init__(
        self,
        routes: Mapping[str, WSGIApplication],
        fallback: WSGIApplication,
        methods: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.routes = dict(routes)
        self.fallback = fallback
        self.methods = {path: frozenset(names) for path, names in (methods or {}).items()}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        app = self.routes.get(path)
        if app is None:
            return self.fallback(environ, start_response)
        allowed = self.methods.get(path, _READ)
        if environ.get("REQUEST_METHOD", "GET") not in allowed:
            start_response("405 Method Not Allowed", [
                ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(_NOT_ALLOWED))),
                ("Allow", ", ".join(sorted(allowed))),
            ])  # fmt: skip
            return [_NOT_ALLOWED]
        return app(environ, start_response)


class Demo:
    """The demo site, a WSGI app: the router inside the request log.  ``caches`` are its own."""

    def __init__(self, directory: Path, slow_seconds: float = 1.0) -> None:
        self.directory = directory
        # A handler of its own: the demo reads and changes no global settings.
        self.caches = CacheHandler({
            "default": {"BACKEND": _FILES, "LOCATION": str(directory / "cache"), "TIMEOUT": 300,
                        "OPTIONS": {"MAX_ENTRIES": 5000}},
            BOOKKEEPING_ALIAS: {"BACKEND": _FILES, "LOCATION": str(directory / "bookkeeping"),
                                "TIMEOUT": None},
        })  # fmt: skip
        self.book = Bookkeeping(self.caches)
        self.pages = pages = Pages(self.caches, self.book, directory, slow_seconds)
        cache = self.caches["default"]
        # How each page is cached is decided here, where it is routed; the views know nothing of it.
        # The two pages kept by cachemere tell browsers "no-cache" (keep a copy, but ask first), so
        # every visit reaches the server, where you can watch cachemere answer instead of the view.
        revalidate = cache_control(no_cache=True)
        routes: dict[str, WSGIApplication] = {
            "/": pages.index,
            "/slow": revalidate(cache_page(SLOW_TIMEOUT, cache=cache)(pages.slow)),
            "/per-view": revalidate(cache_page(PER_VIEW_TIMEOUT, cache=cache)(pages.per_view)),
            "/fragment": pages.fragment,
            "/never": never_cache(pages.never),
            "/browser-cache": cache_control(max_age=BROWSER_MAX_AGE)(pages.browser_cache),
            "/counter": never_cache(pages.counter),
            "/stats": never_cache(pages.stats),
            "/stats.json": never_cache(pages.stats_json),
            "/clear": never_cache(pages.clear),
        }
        self.routes = routes
        router = Router(routes, pages.not_found, methods={"/clear": ["POST"]})
        self.wsgi = RequestLog(router, self.book, routes)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.wsgi(environ, start_response)


def create_app(directory: str | Path | None = None, *, slow_seconds: float = 1.0) -> Demo:
    """The demo site keeping its caches in ``directory`` (default: see :func:`demo_directory`).

    ``slow_seconds`` is the pretend work of the slow page (its fragment's is half).
    """
    return Demo(Path(directory) if directory is not None else demo_directory(), slow_seconds)


def demo_directory() -> Path:
    """``$CACHEMERE_DEMO_DIR``, else a new private temporary directory removed at exit."""
    named = os.environ.get(DIRECTORY_VARIABLE)
    if named:
        return Path(named).resolve()
    made = Path(tempfile.mkdtemp(prefix="cachemere-demo-"))
    owner = os.getpid()

    def remove() -> None:
        # Forked workers run exit handlers too: only the process that made it removes it.
        if os.getpid() == owner:
            shutil.rmtree(made, ignore_errors=True)

    atexit.register(remove)
    print(
        f"cachemere demo: caches in {made} (set {DIRECTORY_VARIABLE} to share one directory "
        "between processes)",
        file=sys.stderr,
        flush=True,
    )
    return made


_app: list[Demo] = []


def __getattr__(name: str) -> Demo:
    # ``app`` is made on first use, so importing create_app creates no directory.
    if name == "app":
        if not _app:
            _app.append(create_app())
        return _app[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
