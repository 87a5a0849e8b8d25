"""A minimal Django project (settings, URLs and views in one module) whose caches are cachemere's.

Configured by environment variables set by the test or benchmark that starts
it in a subprocess (a configured Django would change which settings every
later backend of the pytest process reads):

* ``DJP_BACKEND``: ``locmem``, ``filebased``, ``db``, ``redis``, ``pymemcache``,
  ``pylibmc`` or ``dummy``; ``DJP_FLAVOUR``: ``cachemere`` (default) or ``django``
  (Django's own backend of the same kind, for the benchmark);
* ``DJP_LOCATION``: the backend's LOCATION (a directory, URL or servers);
* ``DJP_DIR``: a private directory (the SQLite databases);
* ``DJP_PG_PORT``: use PostgreSQL on 127.0.0.1 for ``DATABASES`` instead of SQLite.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path
from django.views.decorators.cache import cache_page

from cachemere.utils import import_string

BACKENDS = {
    "locmem": "backends.locmem.LocMemCache",
    "filebased": "backends.filebased.FileBasedCache",
    "db": "backends.db.DatabaseCache",
    "redis": "backends.redis.RedisCache",
    "pymemcache": "backends.memcached.PyMemcacheCache",
    "pylibmc": "backends.memcached.PyLibMCCache",
    "dummy": "backends.dummy.DummyCache",
}
KIND = os.environ.get("DJP_BACKEND", "locmem")
FLAVOUR = os.environ.get("DJP_FLAVOUR", "cachemere")
PACKAGE = {"cachemere": "cachemere.", "django": "django.core.cache."}[FLAVOUR]
BACKEND = PACKAGE + BACKENDS[KIND]
LOCATION = os.environ.get("DJP_LOCATION", "cache_table" if KIND == "db" else "")
DIRECTORY = os.environ.get("DJP_DIR", "/tmp")


def _closing_class() -> type:
    """The backend under test, counting its close() calls (Django calls it at each request's end)."""
    base: type = import_string(BACKEND)

    def close(self: Any, **kwargs: Any) -> None:
        Closing.closed += 1
        base.close(self, **kwargs)

    return type("Closing", (base,), {"closed": 0, "close": close, "__module__": __name__})


Closing = _closing_class()

SECRET_KEY = "a-django-project-secret-for-tests"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "cachemere.contrib.django",
]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
ROOT_URLCONF = __name__
if os.environ.get("DJP_PG_PORT"):
    _pg = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": os.environ["DJP_PG_PORT"],
        "USER": "postgres",
    }
    DATABASES = {"default": {**_pg, "NAME": "project"}, "other": {**_pg, "NAME": "project_other"}}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(DIRECTORY, "project.sqlite3"),
        },
        "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(DIRECTORY, "other.sqlite3")},
    }
CACHES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": BACKEND, "LOCATION": LOCATION},
    "closing": {"BACKEND": f"{__name__}.Closing", "LOCATION": LOCATION},
}
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [], "APP_DIRS": False}]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING_CONFIG = None

_counter = itertools.count(1)

FRAGMENT = "{% load cache %}[{% cache 60 sidebar who %}{{ n }}{% endcache %}]"


def counter(request: HttpRequest) -> HttpResponse:
    """A new number on every call: a cached page shows an old one."""
    from django.core.cache import caches

    caches["closing"].get("touched")
    response = HttpResponse(str(next(_counter)))
    response["Cache-Control"] = "max-age=60"
    return response


@cache_page(60)
def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(next(_counter)))


def fragment(request: HttpRequest) -> HttpResponse:
    template = engines["django"].from_string(FRAGMENT)
    return HttpResponse(template.render({"n": next(_counter), "who": request.GET.get("who", "")}))


def session(request: HttpRequest) -> HttpResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    return HttpResponse(str(request.session["n"]))


def hello(request: HttpRequest) -> HttpResponse:
    """The benchmark's page: a small body, cacheable for a minute."""
    response = HttpResponse("<html><body>" + "hello " * 200 + "</body></html>")
    response["Cache-Control"] = "max-age=60"
    return response


urlpatterns = [
    path("counter/", counter),
    path("page/", page),
    path("fragment/", fragment),
    path("session/", session),
    path("hello/", hello),
]
