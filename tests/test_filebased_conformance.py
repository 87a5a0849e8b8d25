"""The conformance suite against the file-based cache (str and pathlib.Path LOCATION)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cachemere.testing import CacheConformance


class TestFileBasedCache(CacheConformance):
    backend = "cachemere.backends.filebased.FileBasedCache"
    short_timeout = 0.3

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path / "cache"

    def cache_params(self) -> dict[str, Any]:
        return {"BACKEND": self.backend, "LOCATION": str(self.directory) + "/", "OPTIONS": {}}


class TestFileBasedCachePathLocation(TestFileBasedCache):
    def cache_params(self) -> dict[str, Any]:
        return {"BACKEND": self.backend, "LOCATION": self.directory, "OPTIONS": {}}

