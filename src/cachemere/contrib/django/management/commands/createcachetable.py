"""``manage.py createcachetable``: Django's command, creating cachemere's table for cachemere caches.

A cachemere database cache gets cachemere's table (binary signed values,
epoch expiry: Django's table would not do), created through the cache's own
settings and routers; Django's database caches get Django's table, exactly
as Django's command creates it.  Messages, ``--database``, ``--dry-run`` and
table-name arguments behave as Django's.
"""

from __future__ import annotations

import io
from typing import Any

from django.core.cache import caches  # type: ignore[import-untyped]
from django.core.cache.backends.db import BaseDatabaseCache  # type: ignore[import-untyped]
from django.core.management.base import CommandError  # type: ignore[import-untyped]
from django.core.management.commands.createcachetable import Command as DjangoCommand  # type: ignore[import-untyped]

from cachemere.conf import django_settings
from cachemere.contrib.django.tables import cachemere_table_caches
from cachemere.exceptions import ImproperlyConfigured


class Command(DjangoCommand):  # type: ignore[misc]
    help = (
        "Creates the tables needed by the database caches: cachemere's table for cachemere's "
        "DatabaseCache, Django's for Django's."
    )

    def handle(self, *tablenames: str, **options: Any) -> None:
        db = options["database"]
        self.verbosity = options["verbosity"]
        dry_run = options["dry_run"]
        ours = cachemere_table_caches()
        if tablenames:
            by_table = {cache.table_name: cache for _alias, cache in ours}
            for name in tablenames:
                if name in by_table:
                    self.create_cachemere_table(db, name, dry_run, by_table[name].settings)
                else:
                    self.create_table(db, name, dry_run)
            return
        our_aliases = {alias: cache for alias, cache in ours}
        from django.conf import settings  # type: ignore[import-untyped]

        for alias in settings.CACHES:
            if alias in our_aliases:
                cache = our_aliases[alias]
                self.create_cachemere_table(db, cache.table_name, dry_run, cache.settings)
                continue
            cache = caches[alias]
            if isinstance(cache, BaseDatabaseCache):
                self.create_table(db, cache._table, dry_run)

    def create_cachemere_table(self, db: str, name: str, dry_run: bool, source: Any = None) -> None:
        """Create cachemere cache table ``name`` in Django database ``db`` (unless routers forbid it)."""
        from cachemere.cli.createcachetable import create_table

        out = io.StringIO()
        try:
            status = create_table(db, name, dry_run=dry_run, out=out, source=source or django_settings)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if status == "exists" and self.verbosity > 0:
            self.stdout.write(f"Cache table '{name}' already exists.")
        elif status == "printed":
            self.stdout.write(out.getvalue().rstrip("\n"))
        elif status == "created" and self.verbosity > 1:
            self.stdout.write(f"Cache table '{name}' created.")
