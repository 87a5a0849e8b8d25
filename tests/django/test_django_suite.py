"""Django's own cache tests (tests/cache, the {% cache %} tag, cache decorators, cache sessions), unchanged,
run by Django's test runner against cachemere's backends, for Django 5.2 and 6.1.

Every test must pass except those listed in tests/django/expected_failures.txt.
The sdists and the Django 6.1 environment are cached outside the repository
(tests/helpers/django_suite.py).  Both versions run side by side.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack

import pytest

from helpers.django_suite import VERSIONS, Summary, load_expected, run_all, start_servers


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Future[dict[str, dict[str, str]]]]]:
    # Servers of its own for each version: the tests clear (flush) the servers, and
    # create and drop their PostgreSQL test databases by name.
    with ExitStack() as stack, ThreadPoolExecutor(len(VERSIONS)) as pool:
        servers = {series: stack.enter_context(start_servers()) for series in VERSIONS}
        yield {series: pool.submit(run_all, version, "cachemere", servers[series])
               for series, version in VERSIONS.items()}  # fmt: skip


@pytest.mark.parametrize("series", sorted(VERSIONS))
def test_djangos_cache_tests_pass_with_cachemere_backends(
    series: str, runs: dict[str, Future[dict[str, dict[str, str]]]], capsys: pytest.CaptureFixture[str]
) -> None:
    summary = Summary(VERSIONS[series], runs[series].result(), load_expected())
    with capsys.disabled():  # the counts are shown even when the test passes
        print("\n" + summary.report().splitlines()[0])
    # Each backend test class ran (none skipped away for a missing server).
    classes = ["LocMemCacheTests", "FileBasedCacheTests", "DBCacheTests", "PyMemcacheCacheTests"]
    classes += ["PyLibMCCacheTests", "RedisCacheTests", "DummyCacheTests", "CacheMiddlewareTest"]
    for name in classes:
        ran = [t for t in summary.ids("passed") if f".{name}." in t]
        assert ran, f"no test of {name} passed in Django {summary.version}'s run"
    assert any(t.startswith("postgresql:cache.tests.DBCacheTests.") for t in summary.ids("passed"))
    assert summary.unexplained == [], summary.report()
    # An entry of the exceptions list that passes is stale: the list must be kept true.
    assert summary.listed_but_passing == [], summary.report()
