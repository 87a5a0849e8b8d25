"""Settings: ``configure()``, a settings module named by an environment variable, or defaults.

Precedence: values passed to :func:`configure` win; otherwise the module named
by ``CACHEMERE_SETTINGS_MODULE`` is read (its upper-case names); otherwise the
defaults below apply, which make ``default`` a local-memory cache.
"""

from __future__ import annotations

import difflib
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

from .exceptions import ImproperlyConfigured, SettingsWarning

ENVIRONMENT_VARIABLE = "CACHEMERE_SETTINGS_MODULE"
DEFAULT_CACHE_ALIAS = "default"
LOCMEM_BACKEND = "cachemere.backends.locmem.LocMemCache"

DEFAULTS: dict[str, Any] = {
    "CACHES": {DEFAULT_CACHE_ALIAS: {"BACKEND": LOCMEM_BACKEND}},
    "CACHE_MIDDLEWARE_ALIAS": DEFAULT_CACHE_ALIAS,
    "CACHE_MIDDLEWARE_KEY_PREFIX": "",
    "CACHE_MIDDLEWARE_SECONDS": 600,
    # Larger bodies are passed through, not stored (bytes).
    "CACHE_MIDDLEWARE_MAX_BODY_SIZE": 1024 * 1024,
    # How a response's CDN-Cache-Control (RFC 9213) is read: "stricter" (only where it is stricter
    # than Cache-Control, and for a lifetime Cache-Control does not state), True (obeyed instead of
    # Cache-Control, as a CDN does) or False (ignored).  See cachemere.http.policy.CdnMode.
    "CACHE_MIDDLEWARE_CDN_CACHE_CONTROL": "stricter",
    "SECRET_KEY": None,
    "DATABASES": {},
    "DATABASE_ROUTERS": [],
    "USE_I18N": False,
    "USE_TZ": False,
    "LANGUAGE_CODE": "en-us",
    "TIME_ZONE": "America/Chicago",
    # Hosts the page cache serves and keys pages under; "*" trusts any Host header.
    "ALLOWED_HOSTS": ["*"],
}

CACHE_KEYS = frozenset(
    {"BACKEND", "LOCATION", "TIMEOUT", "OPTIONS", "KEY_PREFIX", "VERSION", "KEY_FUNCTION"}
)
# Lower-case spellings Django still accepts at the top level of an entry.
LEGACY_CACHE_KEYS = frozenset({"timeout", "max_entries", "cull_frequency"})

_DJANGO_BACKENDS = "django.core.cache.backends."
_OUR_BACKENDS = "cachemere.backends."


def suggest(word: str, choices: Any) -> str:
    """A " (did you mean ...?)" hint for a misspelt name, or ""."""
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def backend_path(backend: Any) -> Any:
    """Map ``django.core.cache.backends.*`` paths to ours; anything else unchanged."""
    if isinstance(backend, str) and backend.startswith(_DJANGO_BACKENDS):
        return _OUR_BACKENDS + backend[len(_DJANGO_BACKENDS) :]
    return backend


def validate_caches(caches: Any) -> dict[str, dict[str, Any]]:
    """Check the shape of a ``CACHES`` dict; return a normalised copy.

    Errors name the alias and the offending key, so a typo is found at once.
    """
    if not isinstance(caches, Mapping):
        raise ImproperlyConfigured(f"CACHES must be a dict of alias to settings, got {caches!r}")
    result: dict[str, dict[str, Any]] = {}
    for alias, entry in caches.items():
        where = f"CACHES[{alias!r}]"
        if not isinstance(entry, Mapping):
            raise ImproperlyConfigured(f"{where} must be a dict, got {entry!r}")
        for key in entry:
            if key not in CACHE_KEYS and key not in LEGACY_CACHE_KEYS:
                raise ImproperlyConfigured(
                    f"{where} has an unknown key {key!r}{suggest(str(key), CACHE_KEYS)}; "
                    f"allowed keys are {', '.join(sorted(CACHE_KEYS))}"
                )
        if "BACKEND" not in entry:
            raise ImproperlyConfigured(f"{where} has no 'BACKEND'")
        backend = entry["BACKEND"]
        if not isinstance(backend, (str, type)):
            raise ImproperlyConfigured(
                f"{where}['BACKEND'] must be a dotted path or a class, got {backend!r}"
            )
        options = entry.get("OPTIONS", {})
        if options is not None and not isinstance(options, Mapping):
            raise ImproperlyConfigured(f"{where}['OPTIONS'] must be a dict, got {options!r}")
        key_func = entry.get("KEY_FUNCTION")
        if key_func is not None and not (isinstance(key_func, str) or callable(key_func)):
            raise ImproperlyConfigured(
                f"{where}['KEY_FUNCTION'] must be a dotted path or a callable, got {key_func!r}"
            )
        normalised = dict(entry)
        normalised["BACKEND"] = backend_path(backend)
        normalised["OPTIONS"] = dict(options or {})
        result[str(alias)] = normalised
    return result


def check_names(values: Mapping[str, Any], where: str = "") -> None:
    """Refuse a setting name cachemere does not know, with a did-you-mean hint."""
    for name in values:
        if name not in DEFAULTS:
            raise ImproperlyConfigured(f"{where}unknown setting {name!r}{suggest(name, DEFAULTS)}")


class Settings:
    """The settings in force: attribute access to upper-case names."""

    def __init__(self, values: Mapping[str, Any], *, require_default: bool = True) -> None:
        merged = {**DEFAULTS, **values}
        caches = validate_caches(merged["CACHES"])
        if require_default and DEFAULT_CACHE_ALIAS not in caches:
            raise ImproperlyConfigured("CACHES must define a 'default' cache")
        merged["CACHES"] = caches
        for name, value in merged.items():
            setattr(self, name, value)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"no setting named {name!r}{suggest(name, DEFAULTS)}")


def _one_edit_apart(a: str, b: str) -> bool:
    """True when ``a`` becomes ``b`` by one insertion, deletion, substitution or swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    return a[i + 1 :] == b[i + 1 :] or (a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :])


def _from_module(module_name: str, origin: str) -> dict[str, Any]:
    try:
        module = import_module(module_name)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{origin}{module_name!r} cannot be imported: {exc}") from exc
    values = {name: getattr(module, name) for name in dir(module) if name.isupper()}
    # Other upper-case names (a Django project's own settings, say) are not
    # ours and are ignored, but one that is a typo of ours would silently do
    # nothing: say so.
    for name in values:
        if name not in DEFAULTS:
            near = next((known for known in DEFAULTS if _one_edit_apart(name, known)), None)
            if near is not None:
                warnings.warn(
                    f"settings module {module_name!r} defines {name!r}, which cachemere does not "
                    f"read: did you mean {near!r}?",
                    SettingsWarning,
                    stacklevel=2,
                )
    return values


class LazySettings:
    """Loads the settings on first use; :func:`configure` replaces them."""

    def __init__(self) -> None:
        self._wrapped: Settings | None = None
        #: True once the settings came from configure(), --settings or
        #: CACHEMERE_SETTINGS_MODULE, rather than the defaults.
        self._explicit = False
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def _load(self) -> Settings:
        with self._lock:
            if self._wrapped is None:
                module_name = os.environ.get(ENVIRONMENT_VARIABLE)
                values = _from_module(module_name, ENVIRONMENT_VARIABLE + "=") if module_name else {}
                self._wrapped = Settings(values)
                self._explicit = bool(module_name)
            return self._wrapped

    def load_module(self, module_name: str, origin: str) -> None:
        """Replace the settings with ``module_name``'s; errors start with ``origin`` (``"--settings "``)."""
        new = Settings(_from_module(module_name, origin))
        with self._lock:
            self._wrapped = new
            self._explicit = True
        for listener in self._listeners:
            listener()

    def __getattr__(self, name: str) -> Any:
        wrapped = self._wrapped or self._load()
        return getattr(wrapped, name)

    @property
    def configured(self) -> bool:
        return self._wrapped is not None

    @property
    def explicit(self) -> bool:
        """True when the settings were given (configure(), a settings module), not defaulted."""
        if self._wrapped is None and os.environ.get(ENVIRONMENT_VARIABLE):
            return True
        return self._explicit

    def configure(self, **values: Any) -> None:
        check_names(values)
        new = Settings(values)
        with self._lock:
            self._wrapped = new
            self._explicit = True
        for listener in self._listeners:
            listener()

    def reset(self) -> None:
        """Forget the settings; the next use loads them again (for tests)."""
        with self._lock:
            self._wrapped = None
            self._explicit = False
        for listener in self._listeners:
            listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)


settings = LazySettings()


class DjangoSettings:
    """A Django project's settings, as the settings source of cachemere's backends.

    Names Django has (``SECRET_KEY``, ``DATABASES``, ``DATABASE_ROUTERS``,
    ...) are read from ``django.conf.settings`` at each access, so
    ``override_settings`` is seen; names only cachemere has take cachemere's
    defaults.  An empty ``SECRET_KEY`` reads as None (no secret).
    ``DATABASES`` is Django's own dict: the database cache translates its
    entries (docs/django.md).
    """

    def __getattr__(self, name: str) -> Any:
        from django.conf import settings as django_settings  # type: ignore[import-untyped]
        from django.core.exceptions import ImproperlyConfigured as DjangoImproperlyConfigured  # type: ignore[import-untyped]

        try:
            return getattr(django_settings, name)
        except DjangoImproperlyConfigured:
            # Django refuses to hand out an empty SECRET_KEY; to cachemere an
            # empty one is no secret (None), as when it is not set at all.
            if name == "SECRET_KEY":
                return None
            raise
        except AttributeError:
            if name in DEFAULTS:
                return DEFAULTS[name]
            raise AttributeError(f"no setting named {name!r}{suggest(name, DEFAULTS)}") from None

    def __repr__(self) -> str:
        return "<DjangoSettings>"


django_settings = DjangoSettings()

#: What a backend reads its non-cache settings from (``SECRET_KEY``,
#: ``DATABASES``, ...): the global settings, an explicit handler's own, or
#: a Django project's.
SettingsSource = Settings | LazySettings | DjangoSettings


def in_django_project() -> bool:
    """True when Django is imported and its settings are configured (no Django import here)."""
    module = sys.modules.get("django.conf")
    if module is None:
        return False
    return bool(module.settings.configured)


def backend_settings() -> SettingsSource:
    """Where a backend built without a handler's own settings reads ``SECRET_KEY`` and the rest.

    cachemere's global settings when they were given (``configure()``, a
    settings module); otherwise, inside a configured Django project (Django's
    cache handler builds the backend), Django's settings; otherwise the
    global defaults.
    """
    if not settings.explicit and in_django_project():
        return django_settings
    return settings


def configure(**values: Any) -> None:
    """Configure cachemere in code, e.g. ``configure(CACHES={...})``."""
    settings.configure(**values)
