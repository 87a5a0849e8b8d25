"""The app config of ``cachemere.contrib.django``."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]


class CachemereConfig(AppConfig):  # type: ignore[misc]
    """Registers the system checks of cachemere caches."""

    name = "cachemere.contrib.django"
    label = "cachemere"
    verbose_name = "cachemere"

    def ready(self) -> None:
        from . import checks

        checks.register_checks()
