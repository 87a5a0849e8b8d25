"""Settings: configure(), CACHEMERE_SETTINGS_MODULE, defaults, validation and its error messages."""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import cachemere
from cachemere import ImproperlyConfigured, InvalidCacheBackendError, caches
from cachemere.backends.dummy import DummyCache
from cachemere.backends.locmem import LocMemCache
from cachemere.conf import ENVIRONMENT_VARIABLE, settings
from cachemere.exceptions import SettingsWarning

LOCMEM = "cachemere.backends.locmem.LocMemCache"


pytestmark = pytest.mark.usefixtures("fresh_settings")


@pytest.fixture
def settings_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path to write settings modules into."""
    # Not monkeypatch.syspath_prepend: it warns (PytestRemovedIn10Warning) when a
    # legacy namespace package happens to be installed.
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    importlib.invalidate_caches()
    yield tmp_path


def write_module(directory: Path, name: str, source: str) -> str:
    (directory / f"{name}.py").write_text(source)
    return name


# -- where settings come from ----------------------------------------------------


def test_defaults_make_default_a_locmem_cache() -> None:
    assert not settings.configured
    assert settings.CACHES == {"default": {"BACKEND": LOCMEM, "OPTIONS": {}}}
    assert settings.configured
    assert type(caches["default"]) is LocMemCache
    assert cachemere.cache.default_timeout == 300
    assert settings.CACHE_MIDDLEWARE_SECONDS == 600
    assert settings.CACHE_MIDDLEWARE_ALIAS == "default"
    assert settings.CACHE_MIDDLEWARE_KEY_PREFIX == ""
    assert settings.SECRET_KEY is None


def test_configure() -> None:
    cachemere.configure(
        CACHES={"default": {"BACKEND": "cachemere.backends.dummy.DummyCache"}},
        SECRET_KEY="s3cret",
    )
    assert isinstance(caches["default"], DummyCache)
    assert settings.SECRET_KEY == "s3cret"
    assert settings.CACHE_MIDDLEWARE_SECONDS == 600  # defaults fill the rest


def test_configure_again_replaces_instances() -> None:
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM, "TIMEOUT": 10}})
    first = caches["default"]
    assert first.default_timeout == 10
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM, "TIMEOUT": 20}})
    second = caches["default"]
    assert second is not first
    assert second.default_timeout == 20
    assert cachemere.cache.default_timeout == 20


def test_configure_rejects_unknown_setting() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"unknown setting 'CACHE' \(did you mean 'CACHES'\?\)"):
        cachemere.configure(CACHE={})


def test_failed_configure_keeps_the_settings_in_force() -> None:
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM, "TIMEOUT": 11}})
    with pytest.raises(ImproperlyConfigured):
        cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM, "TIMOUT": 12}})
    assert settings.CACHES["default"]["TIMEOUT"] == 11


def test_settings_module(settings_module: Path) -> None:
    name = write_module(
        settings_module,
        "cm_settings_a",
        'CACHES = {"default": {"BACKEND": "cachemere.backends.dummy.DummyCache"},\n'
        '          "local": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": "a"}}\n'
        'SECRET_KEY = "from-module"\n'
        'lowercase_ignored = "x"\n',
    )
    os.environ[ENVIRONMENT_VARIABLE] = name
    assert settings.SECRET_KEY == "from-module"
    assert isinstance(caches["default"], DummyCache)
    assert isinstance(caches["local"], LocMemCache)
    with pytest.raises(AttributeError):
        settings.lowercase_ignored  # noqa: B018


def test_configure_wins_over_the_settings_module(settings_module: Path) -> None:
    os.environ[ENVIRONMENT_VARIABLE] = write_module(
        settings_module,
        "cm_settings_b",
        'CACHES = {"default": {"BACKEND": "cachemere.backends.dummy.DummyCache"}}\n',
    )
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM}})
    assert isinstance(caches["default"], LocMemCache)


def test_reset_reads_the_environment_again(settings_module: Path) -> None:
    assert isinstance(caches["default"], LocMemCache)
    os.environ[ENVIRONMENT_VARIABLE] = write_module(
        settings_module,
        "cm_settings_c",
        'CACHES = {"default": {"BACKEND": "cachemere.backends.dummy.DummyCache"}}\n',
    )
    settings.reset()
    assert not settings.configured  # loaded again only on next use
    assert isinstance(caches["default"], DummyCache)


def test_unimportable_settings_module() -> None:
    os.environ[ENVIRONMENT_VARIABLE] = "no.such.settings_module"
    with pytest.raises(ImproperlyConfigured) as info:
        settings.CACHES  # noqa: B018
    message = str(info.value)
    assert ENVIRONMENT_VARIABLE in message and "'no.such.settings_module'" in message


def test_settings_module_without_default(settings_module: Path) -> None:
    os.environ[ENVIRONMENT_VARIABLE] = write_module(
        settings_module, "cm_settings_d", f'CACHES = {{"other": {{"BACKEND": "{LOCMEM}"}}}}\n'
    )
    with pytest.raises(ImproperlyConfigured, match="'default'"):
        caches["other"]


def test_unknown_setting_name_attribute() -> None:
    with pytest.raises(AttributeError, match=r"did you mean 'SECRET_KEY'"):
        settings.SECRET_KY  # noqa: B018


# -- Django's CACHES dict as it is -----------------------------------------------


def test_django_backend_paths_are_mapped_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning spam: any warning fails the test
        cachemere.configure(
            CACHES={
                "default": {
                    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": "django-style",
                    "TIMEOUT": 60,
                    "KEY_PREFIX": "site",
                    "VERSION": 3,
                    "OPTIONS": {"MAX_ENTRIES": 10, "CULL_FREQUENCY": 2},
                },
                "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
            }
        )
        assert settings.CACHES["default"]["BACKEND"] == LOCMEM
        default = caches["default"]
        assert type(default) is LocMemCache
        assert isinstance(caches["dummy"], DummyCache)
        default.set("k", "v")
        assert default.get("k") == "v"
    assert default.default_timeout == 60
    assert default.make_key("k") == "site:3:k"
    assert (default._max_entries, default._cull_frequency) == (10, 2)  # type: ignore[attr-defined]


def test_legacy_lower_case_keys() -> None:
    cachemere.configure(
        CACHES={"default": {"BACKEND": LOCMEM, "timeout": 7, "max_entries": 5, "cull_frequency": 4}}
    )
    cache = caches["default"]
    assert cache.default_timeout == 7
    assert (cache._max_entries, cache._cull_frequency) == (5, 4)  # type: ignore[attr-defined]


def test_key_function_by_callable_and_by_path() -> None:
    cachemere.configure(
        CACHES={
            "default": {"BACKEND": LOCMEM, "KEY_FUNCTION": "cachemere.testing.fixtures.custom_key_func"},
            "callable": {"BACKEND": LOCMEM, "KEY_FUNCTION": lambda key, prefix, version: f"{key}!"},
        }
    )
    assert caches["default"].make_key("k") == "CUSTOM--1-k"
    assert caches["callable"].make_key("k") == "k!"


def test_timeout_none_means_forever() -> None:
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM, "TIMEOUT": None}})
    assert caches["default"].default_timeout is None
    assert caches["default"].get_backend_timeout() is None


# -- errors name the alias and the offending key or value ----------------------------


@pytest.mark.parametrize(
    ("entry", "fragments"),
    [
        ({"BACKEND": LOCMEM, "TIMEOUTS": 3}, ["CACHES['main']", "'TIMEOUTS'", "did you mean 'TIMEOUT'"]),
        ({"BACKEND": LOCMEM, "OPTION": {}}, ["CACHES['main']", "'OPTION'", "did you mean 'OPTIONS'"]),
        ({"BACKEND": LOCMEM, "location": "x"}, ["CACHES['main']", "'location'"]),
        ({"LOCATION": "x"}, ["CACHES['main']", "no 'BACKEND'"]),
        ({"BACKEND": 42}, ["CACHES['main']['BACKEND']", "42"]),
        ({"BACKEND": LOCMEM, "OPTIONS": ["MAX_ENTRIES"]}, ["CACHES['main']['OPTIONS']", "['MAX_ENTRIES']"]),
        ({"BACKEND": LOCMEM, "KEY_FUNCTION": 3.5}, ["CACHES['main']['KEY_FUNCTION']", "3.5"]),
        ("locmem", ["CACHES['main']", "'locmem'"]),
    ],
)
def test_bad_entries_are_rejected_by_configure(entry: object, fragments: list[str]) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM}, "main": entry})
    for fragment in fragments:
        assert fragment in str(info.value)


def test_caches_must_be_a_dict_with_default() -> None:
    with pytest.raises(ImproperlyConfigured, match="CACHES must be a dict"):
        cachemere.configure(CACHES=[("default", {})])
    with pytest.raises(ImproperlyConfigured, match="'default'"):
        cachemere.configure(CACHES={"main": {"BACKEND": LOCMEM}})


def test_unknown_backend_names_alias_and_path() -> None:
    cachemere.configure(
        CACHES={
            "default": {"BACKEND": LOCMEM},
            "main": {"BACKEND": "cachemere.backends.nosuch.NoSuchCache"},
            "attr": {"BACKEND": "cachemere.backends.locmem.NoSuchCache"},
        }
    )
    with pytest.raises(InvalidCacheBackendError) as info:
        caches["main"]
    message = str(info.value)
    assert "'main'" in message and "'cachemere.backends.nosuch.NoSuchCache'" in message
    assert "No module named 'cachemere.backends.nosuch'" in message
    with pytest.raises(InvalidCacheBackendError, match=r"'attr'.*has no attribute 'NoSuchCache'"):
        caches["attr"]


def test_django_path_to_a_backend_we_lack_is_an_error() -> None:
    cachemere.configure(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.nosuch.Cache"}},
    )
    with pytest.raises(InvalidCacheBackendError, match=r"'cachemere\.backends\.nosuch\.Cache'.*'default'"):
        caches["default"]


def test_unimportable_key_function_names_alias_and_value() -> None:
    cachemere.configure(
        CACHES={
            "default": {"BACKEND": LOCMEM},
            "main": {"BACKEND": LOCMEM, "KEY_FUNCTION": "no_such_module.make_key"},
        }
    )
    with pytest.raises(ImproperlyConfigured) as info:
        caches["main"]
    message = str(info.value)
    assert "CACHES['main']" in message
    assert "KEY_FUNCTION 'no_such_module.make_key'" in message


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"TIMEOUT": "soon"}, "TIMEOUT must be an integer, got 'soon'"),
        ({"OPTIONS": {"MAX_ENTRIES": "many"}}, "MAX_ENTRIES must be an integer, got 'many'"),
        ({"OPTIONS": {"CULL_FREQUENCY": None}}, "CULL_FREQUENCY must be an integer, got None"),
        ({"OPTIONS": {"CULL_FREQUENCY": -1}}, "CULL_FREQUENCY must be 0 or more, got -1"),
    ],
)
def test_bad_option_values_name_alias_and_value(params: dict[str, object], fragment: str) -> None:
    cachemere.configure(CACHES={"default": {"BACKEND": LOCMEM}, "main": {"BACKEND": LOCMEM, **params}})
    with pytest.raises(ImproperlyConfigured) as info:
        caches["main"]
    assert str(info.value) == f"CACHES['main']: {fragment}"


def test_explicit_handler_validates_at_once() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"CACHES\['x'\] has an unknown key 'TIMEOUTS'"):
        cachemere.CacheHandler({"x": {"BACKEND": LOCMEM, "TIMEOUTS": 1}})


@pytest.mark.parametrize("typo", ["CACHE", "CACHESS", "SECRET_KY", "USE_I18M", "CAHCES"])
def test_a_settings_module_name_one_edit_from_ours_warns(settings_module: Path, typo: str) -> None:
    source = f'{typo} = {{}}\nINSTALLED_APPS = ["x"]\n'
    name = write_module(settings_module, f"cm_typo_{typo.lower()}", source)
    os.environ[ENVIRONMENT_VARIABLE] = name
    with pytest.warns(SettingsWarning, match=rf"{name!r} defines {typo!r}.*did you mean") as record:
        assert settings.CACHES["default"]["BACKEND"] == LOCMEM
    assert len(record) == 1  # INSTALLED_APPS (not ours, not a near miss) is ignored quietly


def test_a_settings_module_with_only_known_names_does_not_warn(settings_module: Path) -> None:
    name = write_module(settings_module, "cm_clean_settings", 'SECRET_KEY = "s"\nDEBUG = True\n')
    os.environ[ENVIRONMENT_VARIABLE] = name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert settings.SECRET_KEY == "s"
