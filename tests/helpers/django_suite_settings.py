"""Settings for running Django's own tests (its sdist's tests/ directory) with Django's test runner.

Read by ``python -m django test`` in a subprocess that
:mod:`django_suite` starts; everything that varies comes from environment
variables it sets:

* ``CMDJ_MODE``: ``cachemere`` maps Django's backend classes to cachemere's
  (below), ``django`` runs Django's own (the baseline);
* ``CMDJ_DB``: ``sqlite`` or ``postgresql`` (then ``CMDJ_PG_HOST``/``CMDJ_PG_PORT``);
* ``CMDJ_REDIS_URL``, ``CMDJ_MEMCACHED``: the servers the test setup started;
* ``CMDJ_RESULTS``: where the runner writes every test's outcome (JSON).

The mapping: Django's test classes name their backends by path
(``django.core.cache.backends.locmem.LocMemCache``) in ``override_settings``
and subclass them (``cache/closeable_cache.py``).  Before any test module is
imported, each such name in Django's backend modules is rebound to
cachemere's class, so every path, ``mock.patch`` target and subclass the
tests use is cachemere's backend, and the test files run unchanged.  Django's
``createcachetable`` command is rebound to cachemere.contrib.django's, which
a project gets by installing the app (the tests' ``available_apps`` hides it).
"""

from __future__ import annotations

import copy
import os
import warnings

MODE = os.environ.get("CMDJ_MODE", "cachemere")
DB = os.environ.get("CMDJ_DB", "sqlite")

# As Django's runtests.py: resource and runtime warnings are errors.
warnings.simplefilter("error", ResourceWarning)
warnings.simplefilter("error", RuntimeWarning)

#: Django backend module -> class name -> cachemere class path.
MAPPING = {
    "django.core.cache.backends.locmem": {"LocMemCache": "cachemere.backends.locmem.LocMemCache"},
    "django.core.cache.backends.dummy": {"DummyCache": "cachemere.backends.dummy.DummyCache"},
    "django.core.cache.backends.filebased": {"FileBasedCache": "cachemere.backends.filebased.FileBasedCache"},
    "django.core.cache.backends.db": {"DatabaseCache": "cachemere.backends.db.DatabaseCache"},
    "django.core.cache.backends.memcached": {
        "PyMemcacheCache": "cachemere.backends.memcached.PyMemcacheCache",
        "PyLibMCCache": "cachemere.backends.memcached.PyLibMCCache",
    },
    "django.core.cache.backends.redis": {"RedisCache": "cachemere.backends.redis.RedisCache"},
}


def _map_backends() -> None:
    from importlib import import_module

    from cachemere.utils import import_string

    for module_name, names in MAPPING.items():
        module = import_module(module_name)
        for name, ours in names.items():
            setattr(module, name, import_string(ours))
    # Django's DBCacheTests set available_apps = ["cache"], which hides the
    # commands of every other app, cachemere.contrib.django's createcachetable
    # among them: Django's own command is the one they call, so it is mapped too.
    import django.core.management.commands.createcachetable as django_command

    from cachemere.contrib.django.management.commands.createcachetable import Command

    django_command.Command = Command  # type: ignore[misc]


if MODE == "cachemere":
    _map_backends()
elif MODE != "django":
    raise RuntimeError(f"CMDJ_MODE must be 'cachemere' or 'django', got {MODE!r}")

SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False

if DB == "sqlite":
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3"},
        "other": {"ENGINE": "django.db.backends.sqlite3"},
    }
elif DB == "postgresql":
    _pg = {
        "ENGINE": "django.db.backends.postgresql",
        "USER": "postgres",
        "HOST": os.environ["CMDJ_PG_HOST"],
        "PORT": os.environ["CMDJ_PG_PORT"],
    }
    DATABASES = {"default": {**_pg, "NAME": "django"}, "other": {**_pg, "NAME": "django_other"}}
else:
    raise RuntimeError(f"CMDJ_DB must be 'sqlite' or 'postgresql', got {DB!r}")

CACHES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}
# tests/cache/tests.py finds the server backends by their Django path in CACHES.
if os.environ.get("CMDJ_MEMCACHED"):
    CACHES["pymemcache"] = {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": os.environ["CMDJ_MEMCACHED"],
    }
    CACHES["pylibmc"] = {
        "BACKEND": "django.core.cache.backends.memcached.PyLibMCCache",
        "LOCATION": os.environ["CMDJ_MEMCACHED"],
    }
if os.environ.get("CMDJ_REDIS_URL"):
    CACHES["redis"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["CMDJ_REDIS_URL"],
    }

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sites",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.staticfiles",
    "cachemere.contrib.django",
    # The test packages of Django's tests/ directory that have models or templates.
    "cache",
    "sessions_tests",
    "template_tests",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "urls"
_TMP = os.environ.get("TMPDIR", "/tmp")
STATIC_URL = "static/"
STATIC_ROOT = os.path.join(_TMP, "static")
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(os.getcwd(), "templates")],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]
LANGUAGE_CODE = "en"
SITE_ID = 1
MIGRATION_MODULES = {"auth": None, "contenttypes": None, "sessions": None}
SILENCED_SYSTEM_CHECKS = ["fields.W342"]
TEST_RUNNER = "helpers.django_suite_runner.RecordingRunner"


def _logging() -> dict[str, object]:
    from django.utils.log import DEFAULT_LOGGING

    config = copy.deepcopy(DEFAULT_LOGGING)
    # As runtests.py: only errors from Django's loggers.
    config["loggers"]["django"]["level"] = "ERROR"  # type: ignore[index]
    return config


LOGGING = _logging()
