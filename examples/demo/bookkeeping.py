"""The demo's own bookkeeping: render counters and the request log, kept apart from what it demonstrates.

Both live in a cache alias of their own (``bookkeeping``, a file cache beside
the demo's page cache), so every process serving the site counts into one
place, and clearing the page cache leaves the evidence alone.  The request log
is a WSGI wrapper around the whole site, outside the page cache: it counts
every request that reached the server, whoever answered it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from cachemere import CacheHandler

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

__all__ = ["BOOKKEEPING_ALIAS", "OTHER_PATH", "STATUSES", "Bookkeeping", "RequestLog"]

#: The cache alias that holds the counters.
BOOKKEEPING_ALIAS: Final = "bookkeeping"
#: The label of every path the site does not route.
OTHER_PATH: Final = "(other)"
#: The statuses counted one by one; any other is counted as "other".
STATUSES: Final = ("200", "303", "304", "400", "404", "405", "500")

RequestCounts = dict[str, dict[str, int]]


class Bookkeeping:
    """Counters shared by every process using the same cache directory (``incr`` is atomic there)."""

    def __init__(self, caches: CacheHandler) -> None:
        self._caches = caches

    def count(self, name: str) -> int:
        """Add one to the counter ``name`` and return its new value."""
        cache = self._caches[BOOKKEEPING_ALIAS]
        cache.add(name, 0, timeout=None)
        return int(cache.incr(name))

    def counts(self, names: Iterable[str]) -> dict[str, int]:
        """The current value of each counter in ``names`` (0 for one never counted)."""
        names = list(names)
        found = self._caches[BOOKKEEPING_ALIAS].get_many(names)
        return {name: int(found.get(name, 0)) for name in names}

    def renders(self, page: str) -> int:
        """Count one render of ``page``; its new render number."""
        return self.count(f"renders:{page}")

    def render_counts(self, pages: Iterable[str]) -> dict[str, int]:
        """How many times each page in ``pages`` was rendered."""
        pages = list(pages)
        found = self.counts(f"renders:{page}" for page in pages)
        return {page: found[f"renders:{page}"] for page in pages}

    def record(self, path: str, status: str) -> None:
        """Count one request for ``path`` answered with ``status`` (a three-digit string)."""
        self.count(f"requests:{path}:{status if status in STATUSES else 'other'}")

    def requests(self, paths: Iterable[str]) -> RequestCounts:
        """Per path: ``{"total": n, "200": n, ...}``, listing only the statuses seen."""
        paths = list(paths)
        statuses = (*STATUSES, "other")
        found = self.counts(f"requests:{path}:{status}" for path in paths for status in statuses)
        report: RequestCounts = {}
        for path in paths:
            seen = {status: found[f"requests:{path}:{status}"] for status in statuses}
            seen = {status: n for status, n in seen.items() if n}
            report[path] = {"total": sum(seen.values()), **seen}
        return report


class RequestLog:
    """WSGI middleware counting each request by path and status in ``book``, before the body is sent.

    Paths outside ``paths`` are counted as :data:`OTHER_PATH`, so a client
    cannot grow the log with made-up URLs.
    """

    def __init__(self, app: WSGIApplication, book: Bookkeeping, paths: Iterable[str]) -> None:
        self.app = app
        self.book = book
        self.paths = frozenset(paths)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        label = path if path in self.paths else OTHER_PATH
        recorded = False

        def recording_start(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            nonlocal recorded
            if not recorded:  # a later call (an error before the body) is the same request: count it once
                self.book.record(label, status[:3])
                recorded = True
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start)
