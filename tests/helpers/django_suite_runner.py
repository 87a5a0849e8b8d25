"""Django's DiscoverRunner, recording each test's outcome to the JSON file named by ``CMDJ_RESULTS``."""

from __future__ import annotations

import json
import os
import unittest
from typing import Any

from django.test.runner import DiscoverRunner

# Worst outcome wins when a test reports several (subtests, errors in tearDown).
_RANK = {"passed": 0, "skipped": 1, "expected failure": 1, "unexpected success": 2, "failed": 3, "error": 4}


class RecordingResult(unittest.TextTestResult):
    outcomes: dict[str, dict[str, str]] = {}

    def _record(self, test: Any, outcome: str, detail: str = "") -> None:
        test_id = test.id()
        old = self.outcomes.get(test_id)
        if old is None or _RANK[outcome] > _RANK[old["outcome"]]:
            self.outcomes[test_id] = {"outcome": outcome, "detail": detail[-3000:]}

    def addSuccess(self, test: Any) -> None:
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        self._record(test, "failed", self._exc_info_to_string(err, test))

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self._record(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._record(test, "expected failure")

    def addUnexpectedSuccess(self, test: Any) -> None:
        super().addUnexpectedSuccess(test)
        self._record(test, "unexpected success")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self._record(test, "failed" if failed else "error", self._exc_info_to_string(err, test))

    def stopTestRun(self) -> None:
        super().stopTestRun()
        path = os.environ.get("CMDJ_RESULTS")
        if path:
            with open(path, "w") as out:
                json.dump(self.outcomes, out, indent=1, sort_keys=True)


class RecordingRunner(DiscoverRunner):
    """DiscoverRunner recording outcomes; frees cachemere's pools before dropping test databases."""

    def get_resultclass(self) -> Any:
        return RecordingResult

    def teardown_databases(self, old_config: Any, **kwargs: Any) -> None:
        # PostgreSQL refuses to drop a database other sessions are connected to.
        import sys

        engines = sys.modules.get("cachemere.backends.db.engines")
        if engines is not None:
            engines.dispose_all()
        super().teardown_databases(old_config, **kwargs)
