"""Which of a Django project's caches are cachemere database caches, and their tables."""

from __future__ import annotations

from typing import Any


def cachemere_table_caches() -> list[tuple[str, Any]]:
    """``(alias, cache)`` of every cachemere database cache in Django's ``CACHES``, in settings order."""
    from django.conf import settings  # type: ignore[import-untyped]
    from django.core.cache import caches  # type: ignore[import-untyped]

    from ...backends.db import DatabaseCache

    found = []
    for alias in settings.CACHES:
        cache = caches[alias]
        if isinstance(cache, DatabaseCache):
            found.append((alias, cache))
    return found
