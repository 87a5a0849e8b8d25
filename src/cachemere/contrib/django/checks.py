"""Django system checks for the cachemere caches in ``CACHES`` (tag ``caches``).

========================  ==========================================================
``cachemere.E001``        the backend path cannot be imported (a missing extra, a typo)
``cachemere.E002``        the ``CACHES`` entry is malformed (unknown key, bad OPTIONS ...)
``cachemere.E003``        the cache cannot be built with these settings
``cachemere.W001``        a file cache's directory is served as media or static files
========================  ==========================================================

Django's own file-cache checks (``caches.W002``/``W003``) test for Django's
class: W001 repeats the first for cachemere's file cache (a relative
LOCATION, the second, is an error in cachemere: E003).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from django.core import checks  # type: ignore[import-untyped]

from ...backends.base import BaseCache
from ...conf import validate_caches
from ...exceptions import ImproperlyConfigured
from ...redaction import redact
from ...utils import import_string

_HINT_IMPORT = "Install the extra the backend names (pip install 'cachemere[...]') or fix the path."
_HINT_ENTRY = "Fix this CACHES entry; docs/django.md lists the keys and OPTIONS each backend takes."
_HINT_BUILD = "Fix the settings the message names; `manage.py cachemere_check` tries the cache for real."


#: Django's checks that build every alias's cache (to test for Django's file cache).
_BUILDING_CHECKS = frozenset({"check_file_based_cache_is_absolute", "check_cache_location_not_exposed"})


def register_checks() -> None:
    """Register :func:`check_cachemere_caches`; guard Django's checks that build every cache.

    Django's file-cache checks build each alias's cache, so a cachemere cache
    that refuses its settings would crash ``manage.py check`` with a traceback
    instead of being reported: guarded, they defer to this module's messages.
    """
    checks.register(check_cachemere_caches, checks.Tags.caches)
    registry = checks.registry.registry
    for group in (registry.registered_checks, registry.deployment_checks):
        for check in list(group):
            if getattr(check, "__module__", "") == "django.core.checks.caches" and (
                check.__name__ in _BUILDING_CHECKS
            ):
                group.discard(check)
                group.add(_guarded(check))


def _guarded(check: Any) -> Any:
    def guarded(app_configs: Any = None, **kwargs: Any) -> Any:
        try:
            return check(app_configs=app_configs, **kwargs)
        except Exception:
            # Reported (with an id and a hint) by check_cachemere_caches: not a crash.
            if any(message.is_serious() for message in check_cachemere_caches()):
                return []
            raise

    guarded.__name__ = check.__name__
    guarded.__module__ = __name__
    guarded.tags = check.tags  # type: ignore[attr-defined]
    return guarded


def _backend_class(backend: Any) -> Any:
    if isinstance(backend, type):
        return backend
    return import_string(backend)


def _is_ours(backend: Any) -> bool:
    if isinstance(backend, type):
        return backend.__module__.startswith("cachemere.") or issubclass(backend, BaseCache)
    return isinstance(backend, str) and backend.startswith("cachemere.")


def check_cachemere_caches(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """One message per problem with a cachemere cache of Django's ``CACHES``."""
    from django.conf import settings  # type: ignore[import-untyped]

    messages: list[checks.CheckMessage] = []
    for alias, entry in settings.CACHES.items():
        if not isinstance(entry, Mapping) or not _is_ours(entry.get("BACKEND")):
            continue
        messages.extend(_check_alias(str(alias), entry, settings))
    return messages


def _check_alias(alias: str, entry: Mapping[str, Any], settings: Any) -> list[checks.CheckMessage]:
    where = f"CACHES[{alias!r}]"
    location = entry.get("LOCATION", "")
    try:
        cls = _backend_class(entry["BACKEND"])
    except ImportError as exc:
        return [checks.Error(f"{where}: backend {entry['BACKEND']!r} cannot be imported: {exc}",
                             hint=_HINT_IMPORT, id="cachemere.E001")]  # fmt: skip
    try:
        validate_caches({alias: entry})
    except ImproperlyConfigured as exc:
        return [checks.Error(redact(str(exc), location), hint=_HINT_ENTRY, id="cachemere.E002")]
    params = {key: value for key, value in entry.items() if key not in ("BACKEND", "LOCATION")}
    try:
        cache = cls(location, params)
    except ImportError as exc:
        return [checks.Error(f"{where}: {exc}", hint=_HINT_IMPORT, id="cachemere.E001")]
    except ImproperlyConfigured as exc:
        return [checks.Error(redact(f"{where}: {exc}", location), hint=_HINT_BUILD, id="cachemere.E003")]
    try:
        return _file_warnings(where, cache, location, settings)
    finally:
        cache.close()


def _file_warnings(where: str, cache: Any, location: Any, settings: Any) -> list[checks.CheckMessage]:
    from ...backends.filebased import FileBasedCache

    if not isinstance(cache, FileBasedCache):
        return []
    found: list[checks.CheckMessage] = []
    directory = os.path.realpath(cache.directory)
    served = {"MEDIA_ROOT": getattr(settings, "MEDIA_ROOT", None),
              "STATIC_ROOT": getattr(settings, "STATIC_ROOT", None)}  # fmt: skip
    for index, entry in enumerate(getattr(settings, "STATICFILES_DIRS", None) or ()):
        served[f"STATICFILES_DIRS[{index}]"] = entry[1] if isinstance(entry, tuple) else entry
    for name, root in served.items():
        if not root:
            continue
        root = os.path.realpath(os.fspath(root))
        if directory == root or directory.startswith(root + os.sep) or root.startswith(directory + os.sep):
            found.append(checks.Warning(
                f"{where}: the file cache's directory and {name} overlap: cache files would be served.",
                hint=f"Move the cache directory out of {name}.",
                id="cachemere.W001",
            ))  # fmt: skip
    return found
