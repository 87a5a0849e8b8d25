"""Django: a page through Django's own cache middleware, and ``caches[alias].get``/``set``, with
Django's backends against cachemere's (locmem, file, database, redis), in one Django project.

One process, one Django configuration with an alias per (system, backend):
``django-locmem``, ``cachemere-locmem``, ...  Each page route is the same view
wrapped in Django's ``cache_page`` (Django's ``CacheMiddleware``) for one
alias, served by Django's ``WSGIHandler`` called directly (no network), the response
closed as a WSGI server closes it: the whole Django request path, a cache hit
at its end, ``request_finished`` after it.  The database caches use
one SQLite file (Django's ``DATABASES``); redis is a server started here on a
free port and stopped at the end.  Systems alternate round by round.
"""

from __future__ import annotations

import io
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import Case, fmt, measure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

KINDS = {
    "locmem": "backends.locmem.LocMemCache",
    "file": "backends.filebased.FileBasedCache",
    "database": "backends.db.DatabaseCache",
    "redis": "backends.redis.RedisCache",
}
SYSTEMS = {"django": "django.core.cache.", "cachemere": "cachemere."}
BODY = "<html><body>" + "hello " * 200 + "</body></html>"


def _configure(directory: Path, redis_url: str) -> None:
    import django
    from django.conf import settings

    caches: dict[str, dict[str, Any]] = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    for system, package in SYSTEMS.items():
        for kind, path in KINDS.items():
            location = {
                "locmem": f"{system}-bench",
                "file": str(directory / f"{system}-files"),
                "database": f"{system}_cache_table",
                "redis": redis_url,
            }[kind]
            caches[f"{system}-{kind}"] = {
                "BACKEND": package + path,
                "LOCATION": location,
                "KEY_PREFIX": system,
                "TIMEOUT": 600,
            }
    settings.configure(
        SECRET_KEY="benchmark-secret",
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["cachemere.contrib.django"],
        MIDDLEWARE=[],
        ROOT_URLCONF=__name__,
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(directory / "db.sqlite3")}
        },
        CACHES=caches,
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()


def _hello(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse(BODY)


def _urlpatterns() -> list[Any]:
    from django.urls import path
    from django.views.decorators.cache import cache_page

    return [
        path(f"{system}-{kind}/", cache_page(60, cache=f"{system}-{kind}")(_hello))
        for system in SYSTEMS
        for kind in KINDS
    ]


def __getattr__(name: str) -> Any:
    # Django reads ROOT_URLCONF's urlpatterns after setup (the views need Django configured).
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def _requester(handler: Any, path: str) -> Callable[[], object]:
    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"{path}: {status}")

    def request() -> object:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "SERVER_NAME": "bench",
            "SERVER_PORT": "80",
            "HTTP_HOST": "bench",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
        }
        response = handler(environ, start_response)
        body = b"".join(response)
        # As a WSGI server does: fires request_finished (Django closes caches and
        # database connections older than CONN_MAX_AGE, 0 by default).
        response.close()
        if len(body) != len(BODY):
            raise RuntimeError(f"{path}: wrong body")
        return body

    return request


def _cases() -> list[Case]:
    from django.core.cache import caches
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    cases = []
    for kind in KINDS:
        calls = {system: _requester(handler, f"/{system}-{kind}/") for system in SYSTEMS}
        for call in calls.values():
            call()  # the first request stores the page; the rest are hits
        cases.append(Case(f"page hit through Django's CacheMiddleware, {kind}", dict(calls), number=300))
    for kind in KINDS:
        for system in SYSTEMS:
            caches[f"{system}-{kind}"].set("key", "x" * 100)

        def getter(alias: str) -> Callable[[], object]:
            return lambda: caches[alias].get("key")

        def setter(alias: str) -> Callable[[], object]:
            return lambda: caches[alias].set("key", "x" * 100)

        cases.append(
            Case(f"caches[alias].get hit, {kind}", {s: getter(f"{s}-{kind}") for s in SYSTEMS}, 1000)
        )
        cases.append(Case(f"caches[alias].set, {kind}", {s: setter(f"{s}-{kind}") for s in SYSTEMS}, 300))
    return cases


def _table(cases: list[Case]) -> str:
    lines = [
        "| case | Django's backend | cachemere's backend | cachemere / Django (median) |",
        "|---|---|---|---|",
    ]
    for case in cases:
        ours, theirs = case.results["cachemere"], case.results["django"]
        lines.append(
            f"| {case.name} | {fmt(statistics.median(theirs))} ({fmt(max(theirs))}) | "
            f"{fmt(statistics.median(ours))} ({fmt(max(ours))}) | "
            f"{statistics.median(ours) / statistics.median(theirs):.2f}x |"
        )
    return "\n".join(lines)


def main(rounds: int = 7) -> str:
    from servers.redis import RedisServer

    directory = Path(tempfile.mkdtemp(prefix="cachemere-bench-django-"))
    redis = RedisServer(directory / "redis").start()
    try:
        _configure(directory, redis.url)
        from django.core.management import call_command

        call_command("createcachetable", verbosity=0)  # Django's table for Django's, ours for ours
        cases = _cases()
        measure(cases, rounds)
        return (
            "Requests per second (pages) and operations per second, median (best) of "
            f"{rounds} interleaved rounds; Django {__import__('django').__version__}.\n\n" + _table(cases)
        )
    finally:
        redis.stop()
        shutil.rmtree(directory, ignore_errors=True)
