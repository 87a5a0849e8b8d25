import os
from collections.abc import Iterator

import pytest

pytest.register_assert_rewrite("cachemere.testing")

from cachemere.conf import ENVIRONMENT_VARIABLE, settings  # noqa: E402


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Run with no global settings and no settings module; restore both afterwards."""
    saved = os.environ.pop(ENVIRONMENT_VARIABLE, None)
    settings.reset()
    yield
    os.environ.pop(ENVIRONMENT_VARIABLE, None)
    if saved is not None:
        os.environ[ENVIRONMENT_VARIABLE] = saved
    settings.reset()


@pytest.fixture(autouse=True)
def _fresh_failure_log() -> Iterator[None]:
    """Each test sees the page cache's first backend failure logged with its traceback."""
    from cachemere.http import core

    core.forget_failures()
    yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under the README's test command (CACHEMERE_FORBID_SKIPS=1) a skipped test fails the run.

    A skip there means a feature went untested because something was missing.
    """
    if os.environ.get("CACHEMERE_FORBID_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        if reporter is not None:
            reporter.write_line(f"{len(skipped)} tests were skipped: the test command allows none", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
