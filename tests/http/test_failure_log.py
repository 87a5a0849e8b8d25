"""Failing open logs a backend failure with its traceback at most once per interval, and counts the rest."""

from __future__ import annotations

import logging

import pytest

from cachemere.http import core
from cachemere.http.messages import Headers, Request


def _request(path: str) -> Request:
    return Request("GET", "http", "example.com", path, "", Headers([("Host", "example.com")]), False)


def test_one_traceback_per_interval_then_a_count(caplog: pytest.LogCaptureFixture, monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(core.time, "monotonic", lambda: clock[0])
    with caplog.at_level(logging.DEBUG, logger="cachemere.http"):
        for n in range(5):
            try:
                raise ConnectionError("backend down")
            except ConnectionError:
                core._log_failure("lookup", "page cache lookup failed for %s; serving uncached", f"/p{n}")
        clock[0] += core.FAILURE_LOG_INTERVAL
        try:
            raise ConnectionError("backend still down")
        except ConnectionError:
            core._log_failure("lookup", "page cache lookup failed for %s; serving uncached", "/later")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert [r.getMessage() for r in warnings] == [
        "page cache lookup failed for /p0; serving uncached",
        "page cache lookup failed for /later; serving uncached (4 more since the last report)",
    ]
    assert all(r.exc_info is not None for r in warnings)
    assert len(debug) == 4 and all(r.exc_info is None for r in debug)


def test_kinds_are_counted_apart(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cachemere.http"):
        for kind in ("lookup", "store", "invalidation"):
            try:
                raise ConnectionError("down")
            except ConnectionError:
                core._log_failure(kind, kind + " failed for %s", "/x")
    assert [r.getMessage() for r in caplog.records] == [
        "lookup failed for /x",
        "store failed for /x",
        "invalidation failed for /x",
    ]
