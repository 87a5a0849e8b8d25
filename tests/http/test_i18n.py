"""The active language and time zone: per thread and per asyncio task, validated, settings as default."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from cachemere import configure
from cachemere.conf import Settings
from cachemere.http import i18n


@pytest.fixture(autouse=True)
def clean_context() -> Iterator[None]:
    # Every test starts, and leaves the next test file, with nothing active in this thread.
    i18n.deactivate()
    i18n.deactivate_timezone()
    yield
    i18n.deactivate()
    i18n.deactivate_timezone()


def test_defaults_are_the_settings_read_at_call_time(fresh_settings: None) -> None:
    assert i18n.get_language() == "en-us"
    assert i18n.get_current_timezone_name() == "America/Chicago"
    configure(LANGUAGE_CODE="pt-br", TIME_ZONE="Asia/Tokyo")
    assert i18n.get_language() == "pt-br"
    assert i18n.get_current_timezone_name() == "Asia/Tokyo"


def test_an_explicit_settings_object_gives_the_defaults() -> None:
    mine = Settings({"LANGUAGE_CODE": "fr", "TIME_ZONE": "UTC"})
    assert i18n.get_language(mine) == "fr"
    assert i18n.get_current_timezone_name(mine) == "UTC"
    i18n.activate("de")
    assert i18n.get_language(mine) == "de"


def test_activate_and_deactivate() -> None:
    i18n.activate("de")
    i18n.activate_timezone("Europe/Berlin")
    assert (i18n.get_language(), i18n.get_current_timezone_name()) == ("de", "Europe/Berlin")
    i18n.deactivate()
    i18n.deactivate_timezone()
    assert (i18n.get_language(), i18n.get_current_timezone_name()) == ("en-us", "America/Chicago")


@pytest.mark.parametrize(
    ("given", "active"),
    [("en-us", "en-us"), ("en-US", "en-us"), ("en_US", "en-us"), ("DE", "de"), ("zh-Hans", "zh-hans"),
     ("es-419", "es-419"), ("sr-latn", "sr-latn"), ("be@tarask", "be@tarask")],
)  # fmt: skip
def test_spellings_of_a_language_are_one_language(given: str, active: str) -> None:
    # As Django's get_language() after activate(): lower case, "_" -> "-", so spellings share pages.
    i18n.activate(given)
    assert i18n.get_language() == active
    with i18n.override(given):
        assert i18n.get_language() == active


@pytest.mark.parametrize("bad", ["", "en us", "en.us", "de\n", "en-", "x" * 9, "../etc", "de,fr", "de;q=1"])
def test_a_language_that_is_not_a_tag_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid language code") as info:
        i18n.activate(bad)
    assert repr(bad) in str(info.value)
    with pytest.raises(ValueError, match="invalid language code"), i18n.override(bad):
        pass
    assert i18n.get_language() == "en-us"


@pytest.mark.parametrize("bad", ["", "Mars/Olympus_Mons", "../../etc/passwd", "UTC ", "europe paris"])
def test_an_unknown_time_zone_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone") as info:
        i18n.activate_timezone(bad)
    assert repr(bad) in str(info.value)
    with pytest.raises(ValueError, match="unknown time zone"), i18n.override_timezone(bad):
        pass
    assert i18n.get_current_timezone_name() == "America/Chicago"


@pytest.mark.parametrize("bad", [None, 1, b"de"])
def test_non_strings_are_refused(bad: object) -> None:
    with pytest.raises(TypeError, match="must be a str"):
        i18n.activate(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a str"):
        i18n.activate_timezone(bad)  # type: ignore[arg-type]


def test_override_restores_what_was_active_even_on_error() -> None:
    i18n.activate("fr")
    i18n.activate_timezone("Europe/Paris")
    with pytest.raises(RuntimeError), i18n.override("de"), i18n.override_timezone("UTC"):
        assert (i18n.get_language(), i18n.get_current_timezone_name()) == ("de", "UTC")
        with i18n.override(None), i18n.override_timezone(None):
            assert (i18n.get_language(), i18n.get_current_timezone_name()) == ("en-us", "America/Chicago")
        assert i18n.get_language() == "de"
        raise RuntimeError
    assert (i18n.get_language(), i18n.get_current_timezone_name()) == ("fr", "Europe/Paris")


def test_override_works_as_a_decorator() -> None:
    @i18n.override("nl")
    def view() -> str:
        return i18n.get_language()

    assert view() == "nl"
    assert i18n.get_language() == "en-us"


def test_each_thread_has_its_own_language_and_time_zone() -> None:
    i18n.activate("fr")
    barrier = threading.Barrier(2, timeout=30)
    seen: dict[str, tuple[str, str, str]] = {}

    def worker(language: str, zone: str) -> None:
        inherited = i18n.get_language()  # a new thread starts with nothing active
        with i18n.override(language), i18n.override_timezone(zone):
            barrier.wait()  # both have activated before either reads
            seen[language] = (inherited, i18n.get_language(), i18n.get_current_timezone_name())
            barrier.wait()

    threads = [threading.Thread(target=worker, args=args) for args in (("de", "UTC"), ("ja", "Asia/Tokyo"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"de": ("en-us", "de", "UTC"), "ja": ("en-us", "ja", "Asia/Tokyo")}
    assert i18n.get_language() == "fr"


def test_each_asyncio_task_has_its_own_language_and_time_zone() -> None:
    async def handler(language: str, zone: str, both_set: asyncio.Event, count: list[int]) -> tuple[str, str]:
        i18n.activate(language)  # no override: an activation must still not leak to the other task
        i18n.activate_timezone(zone)
        count.append(1)
        if len(count) == 2:
            both_set.set()
        await both_set.wait()
        return i18n.get_language(), i18n.get_current_timezone_name()

    async def main() -> tuple[list[tuple[str, str]], str, str]:
        both_set, count = asyncio.Event(), list[int]()
        results = await asyncio.gather(
            asyncio.create_task(handler("de", "UTC", both_set, count)),
            asyncio.create_task(handler("ja", "Asia/Tokyo", both_set, count)),
        )
        return list(results), i18n.get_language(), i18n.get_current_timezone_name()

    i18n.activate("fr")
    results, after_language, after_zone = asyncio.run(main())
    assert results == [("de", "UTC"), ("ja", "Asia/Tokyo")]
    assert (after_language, after_zone) == ("fr", "America/Chicago")
