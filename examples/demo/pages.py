"""The demo's pages: plain WSGI callables rendering Jinja2 templates, and the site map.

Each page is written without caching in mind; how it is cached is decided
where it is routed (:mod:`examples.demo.app`), with cachemere's decorators.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

from jinja2 import Environment, FileSystemLoader, select_autoescape

from cachemere import CacheHandler
from cachemere.templates.jinja import CacheExtension

from .bookkeeping import OTHER_PATH, Bookkeeping

__all__ = ["PAGES", "SLOW_TIMEOUT", "Page", "Pages"]

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"

#: How long cachemere keeps each cached page or fragment, in seconds (also shown on the pages).
SLOW_TIMEOUT: Final = 60
PER_VIEW_TIMEOUT: Final = 30
FRAGMENT_TIMEOUT: Final = 30
BROWSER_MAX_AGE: Final = 60


@dataclass(frozen=True)
class Page:
    """One entry of the site map: where it is, its title, and one line on how it is cached."""

    path: str
    name: str
    title: str
    summary: str


PAGES: Final = (
    Page("/slow", "slow", "A slow page, cached whole",
         f"One second of work, kept by cachemere for {SLOW_TIMEOUT} s: cold, then warm."),
    Page("/per-view", "per_view", "A per-view cached page with a validator",
         f"cache_page({PER_VIEW_TIMEOUT}) on one view; each query string is its own copy; "
         "your browser revalidates it and gets 304 Not Modified."),
    Page("/fragment", "fragment", "A cached template fragment",
         f"The page renders every time; its {{% cache {FRAGMENT_TIMEOUT} %}} block does not."),
    Page("/never", "never", "A page marked never_cache",
         "Stored by nobody: every visit reaches the server and renders it."),
    Page("/browser-cache", "browser_cache", "A page your browser caches",
         f"cache_control(max_age={BROWSER_MAX_AGE}): the server is not asked again for a minute."),
    Page("/counter", "counter", "The low-level API: a counter",
         "cache.add and cache.incr on the default cache, on every visit."),
    Page("/stats", "stats", "Requests that reached the server",
         "The request log, counted outside the page cache (also as JSON: /stats.json)."),
)  # fmt: skip

HTML: Final = "text/html; charset=utf-8"
Work = Callable[[], None]


def _now() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3] + " UTC"


def _respond(
    start_response: StartResponse,
    body: str,
    *,
    status: str = "200 OK",
    content_type: str = HTML,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))), *headers])
    return [data]


class Pages:
    """The page views of one demo site: its caches, its bookkeeping and its templates."""

    def __init__(self, caches: CacheHandler, book: Bookkeeping, directory: Path, slow_seconds: float) -> None:
        self.caches = caches
        self.book = book
        self.directory = directory
        self.slow_seconds = slow_seconds
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            extensions=[CacheExtension],
        )
        # The {% cache %} tag reads this demo's caches, not the global settings.
        self.env.fragment_caches = caches  # type: ignore[attr-defined]
        self.env.globals.update(
            pages=PAGES,
            slow_timeout=SLOW_TIMEOUT,
            per_view_timeout=PER_VIEW_TIMEOUT,
            fragment_timeout=FRAGMENT_TIMEOUT,
            browser_max_age=BROWSER_MAX_AGE,
        )

    def _render(self, template: str, page: str, work: Work | None = None, **context: Any) -> str:
        """Render ``template``: count one render of ``page``, do ``work``, stamp when, where and how long."""
        started = time.perf_counter()
        number = self.book.renders(page)
        if work is not None:
            work()
        stamp = {
            "number": number,
            "at": _now(),
            "epoch_ms": round(time.time() * 1000),
            "pid": os.getpid(),
            "ms": round((time.perf_counter() - started) * 1000),
        }
        return self.env.get_template(template).render(page=page, render=stamp, **context)

    # -- the pages ----------------------------------------------------------------------------

    def index(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        return _respond(start_response, self._render("index.html", "index", directory=self.directory))

    def slow(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        body = self._render("slow.html", "slow", work=lambda: time.sleep(self.slow_seconds))
        return _respond(start_response, body)

    def per_view(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        name = query.get("name", ["world"])[0][:40]
        body = self._render("per_view.html", "per_view", name=name)
        # A validator lets a browser holding a copy ask "changed?" and get a 304 from the cache.
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
        return _respond(start_response, body, headers=[("ETag", etag)])

    def fragment(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        def render_fragment() -> dict[str, Any]:
            started = time.perf_counter()
            number = self.book.renders("fragment_block")
            time.sleep(self.slow_seconds / 2)  # the fragment's share of the work
            return {"number": number, "at": _now(), "ms": round((time.perf_counter() - started) * 1000)}

        body = self._render("fragment.html", "fragment", render_fragment=render_fragment)
        return _respond(start_response, body)

    def never(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        return _respond(start_response, self._render("never.html", "never"))

    def browser_cache(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        return _respond(start_response, self._render("browser_cache.html", "browser_cache"))

    def counter(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        cache = self.caches["default"]
        # The low-level API, as in Django: add creates the key only if it is missing, incr is atomic.
        cache.add("demo:visits", 0, timeout=None)
        visits = cache.incr("demo:visits")
        first = cache.get_or_set("demo:first-visit", _now, timeout=None)
        return _respond(start_response, self._render("counter.html", "counter", visits=visits, first=first))

    def stats(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        stats = self.snapshot()
        names = {"/": "index", **{page.path: page.name for page in PAGES}}
        # Requests that reached the server beside renders of the view: the gap is the cache's work.
        rows = [
            {"path": path, "counts": counts, "renders": stats["renders"].get(names.get(path, ""))}
            for path, counts in stats["requests"].items()
            if counts["total"]
        ]
        fragment = stats["renders"]["fragment_block"]
        body = self._render("stats.html", "stats", rows=rows, fragment_renders=fragment)
        return _respond(start_response, body)

    def stats_json(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        body = json.dumps(self.snapshot(), indent=2, sort_keys=True) + "\n"
        return _respond(start_response, body, content_type="application/json")

    def clear(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        """POST only (the router sees to it)."""
        # Pages, fragments and the low-level counter go; the bookkeeping cache is another alias.
        self.caches["default"].clear()
        return _respond(start_response, "Cleared.\n", status="303 See Other",
                        content_type="text/plain; charset=utf-8", headers=[("Location", "/")])  # fmt: skip

    def not_found(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        return _respond(start_response, "Not found.\n", status="404 Not Found",
                        content_type="text/plain; charset=utf-8")  # fmt: skip

    # -- evidence -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What /stats shows: requests per path and status, and renders per page."""
        paths = ["/", *(page.path for page in PAGES), "/stats.json", "/clear", OTHER_PATH]
        names = ["index", *(page.name for page in PAGES), "fragment_block"]
        return {
            "requests": self.book.requests(paths),
            "renders": self.book.render_counts(names),
            "directory": str(self.directory),
        }
