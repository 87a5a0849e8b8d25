"""The page cache on files, its directory removed again and again under load: no request fails.

gunicorn and uvicorn serve the test site with its pages in a directory shared
by their workers; another process loads it with many users while the test
deletes the whole directory five times, a few tenths of a second apart (as a
careless cleanup job would).  Every answer is checked as in the load test: no
error, no page of another user, nothing torn; and the cache works again after
it, without restarting anything.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from helpers.page_load import LoadProcess, PageServer


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_the_cache_directory_removed_mid_load_fails_no_request(server: str, tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    with PageServer(server, "file", str(pages), workers=2, directory=tmp_path) as site:
        workers = site.worker_pids()
        load = LoadProcess(site.url, 6.0)
        time.sleep(2.0)
        for _ in range(5):
            shutil.rmtree(pages, ignore_errors=True)
            time.sleep(0.3)
        removed = time.time()
        result = load.result()
        assert sorted(site.worker_pids()) == sorted(workers), "a worker was restarted"
    assert result["errors"] == result["leaks"] == result["corrupt"] == 0, result["samples"]
    timeline = result["timeline"]
    assert sum(hit for at, hit, _ in timeline if at < removed - 1.5) > 0, "no hits before the removals"
    assert sum(hit for at, hit, _ in timeline if at > removed) > 0, "no hits after the removals"
    assert pages.is_dir(), "the cache did not make its directory again"
