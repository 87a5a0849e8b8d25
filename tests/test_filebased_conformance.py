"""The conformance suite against the file-based cache, and the other LOCATION spellings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cachemere import CacheHandler
from cachemere.backends.filebased import FileBasedCache
from cachemere.testing import CacheConformance


class TestFileBasedCache(CacheConformance):
    backend = "cachemere.backends.filebased.FileBasedCache"
    incr_keeps_ttl = True
    instances_share_store = True

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path / "cache"

    def cache_params(self) -> dict[str, Any]:
        return {"BACKEND": self.backend, "LOCATION": str(self.directory) + "/", "OPTIONS": {}}


@pytest.mark.parametrize(
    ("backend", "spell"),
    [
        ("cachemere.backends.filebased.FileBasedCache", Path),
        ("cachemere.backends.filebased.FileBasedCache", lambda p: str(p)),
        ("django.core.cache.backends.filebased.FileBasedCache", lambda p: str(p) + "/"),
    ],
    ids=["pathlib.Path", "str", "django path, trailing slash"],
)
def test_location_spellings_share_one_store(tmp_path: Path, backend: str, spell: Any) -> None:
    directory = tmp_path / "cache"
    handler = CacheHandler(
        {
            "spelt": {"BACKEND": backend, "LOCATION": spell(directory)},
            "plain": {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": str(directory)},
        }
    )
    spelt, plain = handler["spelt"], handler["plain"]
    assert type(spelt) is FileBasedCache
    spelt.set("k", {"v": [1]}, 30)
    assert spelt.get("k") == {"v": [1]}
    assert plain.get("k") == {"v": [1]}
    plain.set("other", b"bytes")
    assert spelt.get("other") == b"bytes"
