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
