"""The active language and time zone of the current request, as context variables.

An app (or its locale middleware) sets them around the whole middleware stack,
e.g. ``with i18n.override("de"): ...``; with ``USE_I18N`` the active language
is part of every page-cache key, with ``USE_TZ`` the current time zone.  Each
thread and each asyncio task has its own values (a task starts with a copy of
its creator's), so one request never sees another's.  Nothing set means the
``LANGUAGE_CODE`` / ``TIME_ZONE`` setting, read when asked.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from ..conf import settings as _global_settings

if TYPE_CHECKING:
    from ..conf import SettingsSource

__all__ = [
    "activate",
    "activate_timezone",
    "check_language",
    "check_timezone",
    "deactivate",
    "deactivate_timezone",
    "get_current_timezone_name",
    "get_language",
    "override",
    "override_timezone",
]

_language: ContextVar[str | None] = ContextVar("cachemere.http.i18n.language", default=None)
_timezone: ContextVar[str | None] = ContextVar("cachemere.http.i18n.timezone", default=None)

# A language tag as Django's LANGUAGES use them (en-us, zh-hans, es-419, sr-latn, be@tarask).
# Anything else is refused: the value ends up in cache keys, and a tag with a
# dot or a space could make two keys alike or break a memcached key.
_LANGUAGE_TAG: Final = re.compile(r"[a-z]{1,8}(?:-[a-z0-9]{1,8})*(?:@[a-z0-9]{1,20})?\Z")


def _settings(settings: SettingsSource | None) -> SettingsSource:
    return _global_settings if settings is None else settings


def _normalise_language(language: object) -> str:
    """``"en_US"`` and ``"en-US"`` are Django's ``"en-us"``, so spellings of one language share pages."""
    if not isinstance(language, str):
        raise TypeError(f"a language code must be a str, got {language!r}")
    # Django's to_language(): locale "en_US" is language "en-us".
    tag = language.replace("_", "-", 1).lower()
    if not _LANGUAGE_TAG.match(tag):
        raise ValueError(f"invalid language code {language!r}: expected a tag such as 'en-us' or 'de'")
    return tag


@lru_cache(maxsize=64)
def _checked_timezone(name: str) -> str:
    # zoneinfo knows which names exist; the cache makes a repeated activation free.
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name like 'Europe/Paris'") from None
    return name


def _normalise_timezone(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a time zone name must be a str, got {name!r}")
    return _checked_timezone(name)


def check_language(language: object) -> None:
    """Raise ValueError (TypeError) unless ``language`` is a language tag (a ``LANGUAGE_CODE`` check)."""
    _normalise_language(language)


def check_timezone(name: object) -> None:
    """Raise ValueError (TypeError) unless ``name`` is a known IANA time zone (a ``TIME_ZONE`` check)."""
    _normalise_timezone(name)


# -- language ------------------------------------------------------------------


def activate(language: str) -> None:
    """Make ``language`` (``"de"``, ``"en-us"``; ``"en_US"`` counts as ``"en-us"``) active in this context.

    Raises ValueError for something that is not a language tag.
    """
    _language.set(_normalise_language(language))


def deactivate() -> None:
    """Go back to ``settings.LANGUAGE_CODE`` in this context."""
    _language.set(None)


def get_language(settings: SettingsSource | None = None) -> str:
    """The active language, else ``LANGUAGE_CODE`` (of ``settings``, default the global settings)."""
    language = _language.get()
    if language is None:
        return str(_settings(settings).LANGUAGE_CODE)
    return language


@contextmanager
def override(language: str | None) -> Iterator[None]:
    """Make ``language`` active inside the block (``None``: none, i.e. ``LANGUAGE_CODE``), then restore."""
    value = None if language is None else _normalise_language(language)
    token = _language.set(value)
    try:
        yield
    finally:
        _language.reset(token)


# -- time zone -----------------------------------------------------------------


def activate_timezone(name: str) -> None:
    """Make the IANA time zone ``name`` current in this context; ValueError for an unknown name."""
    _timezone.set(_normalise_timezone(name))


def deactivate_timezone() -> None:
    """Go back to ``settings.TIME_ZONE`` in this context."""
    _timezone.set(None)


def get_current_timezone_name(settings: SettingsSource | None = None) -> str:
    """The current time zone's name, else ``TIME_ZONE`` (of ``settings``, default the global settings)."""
    name = _timezone.get()
    if name is None:
        return str(_settings(settings).TIME_ZONE)
    return name


@contextmanager
def override_timezone(name: str | None) -> Iterator[None]:
    """Make time zone ``name`` current inside the block (``None``: ``TIME_ZONE``), then restore."""
    value = None if name is None else _normalise_timezone(name)
    token = _timezone.set(value)
    try:
        yield
    finally:
        _timezone.reset(token)
