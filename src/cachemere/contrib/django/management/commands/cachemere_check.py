"""``manage.py cachemere_check``: ``cachemere check`` on the cachemere caches of Django's ``CACHES``.

Each cachemere cache is built with the project's settings (``SECRET_KEY``,
``DATABASES``, ``DATABASE_ROUTERS``) and a probe key is set, read back and
deleted; one row per cache.  Caches with other backends (Django's own) are
listed as not checked.  Exits with status 1 if a cache fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser  # type: ignore[import-untyped]

from cachemere.conf import DEFAULT_CACHE_ALIAS, configure, django_settings
from cachemere.contrib.django.checks import _is_ours
from cachemere.exceptions import ImproperlyConfigured

_PLACEHOLDER = {"BACKEND": "cachemere.backends.dummy.DummyCache"}


class Command(BaseCommand):  # type: ignore[misc]
    help = "Round-trip a probe key through every cachemere cache in CACHES (cachemere check)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cache", metavar="ALIAS", help="check only this cache alias")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings  # type: ignore[import-untyped]

        from cachemere.cli.check import check_alias, format_table
        from cachemere.handler import caches

        ours = {
            alias: entry
            for alias, entry in settings.CACHES.items()
            if isinstance(entry, Mapping) and _is_ours(entry.get("BACKEND"))
        }
        others = [alias for alias in settings.CACHES if alias not in ours]
        wanted = options.get("cache")
        if wanted is not None:
            if wanted not in settings.CACHES:
                raise CommandError(
                    f"no cache {wanted!r} in CACHES (configured: {', '.join(settings.CACHES)})"
                )
            if wanted not in ours:
                raise CommandError(f"CACHES[{wanted!r}] is not a cachemere cache")
            ours = {wanted: ours[wanted]}
            others = []
        if not ours:
            self.stdout.write("No cachemere caches are configured.")
            return
        # cachemere's check reads cachemere's settings: give it the project's.
        try:
            configure(
                CACHES={DEFAULT_CACHE_ALIAS: _PLACEHOLDER, **ours},
                SECRET_KEY=django_settings.SECRET_KEY,  # an empty one reads as None, not an error
                DATABASES=settings.DATABASES,
                DATABASE_ROUTERS=settings.DATABASE_ROUTERS,
            )
        except ImproperlyConfigured as exc:
            raise CommandError(f"bad settings: {exc}") from exc
        results = [check_alias(alias) for alias in ours]
        caches.close_all()
        self.stdout.write(format_table(results))
        for alias in others:
            self.stdout.write(f"{alias}: not a cachemere cache, not checked")
        failed = [result.alias for result in results if not result.ok]
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} caches failed: {', '.join(failed)}")
