"""Database routers referred to by dotted path (``helpers.routers.CacheRouter``) in the tests."""

from __future__ import annotations


class CacheRouter:
    """Django's documented example, word for word."""

    def db_for_read(self, model, **hints):  # type: ignore[no-untyped-def]
        "All cache read operations go to the replica"
        if model._meta.app_label == "django_cache":
            return "cache_replica"
        return None

    def db_for_write(self, model, **hints):  # type: ignore[no-untyped-def]
        "All cache write operations go to primary"
        if model._meta.app_label == "django_cache":
            return "cache_primary"
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):  # type: ignore[no-untyped-def]
        "Only install the cache model on primary"
        if app_label == "django_cache":
            return db == "cache_primary"
        return None
