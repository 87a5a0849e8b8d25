"""Every backend under a mixed load from forked processes, threads and asyncio tasks (tests/helpers/load.py).

No exception, no value under a key it was never stored under, every private
key reads back what its worker last wrote, and increments from every worker
sum exactly: each incr answers a distinct number, 1..n in all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers.faults import NAMES, Backends
from helpers.load import run_load


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    backends = Backends().start()
    yield backends
    backends.stop()


@pytest.mark.parametrize("name", NAMES)
def test_mixed_load_from_forked_processes_threads_and_tasks(backends: Backends, name: str) -> None:
    report = run_load(backends.target(name), seconds=1.5)
    assert report.problems() == []
    assert report.ops > 0  # the load really ran (how much is the report's business, not a test's)
    assert report.caller_errors == 0
