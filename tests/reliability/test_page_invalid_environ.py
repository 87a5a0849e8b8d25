"""A PATH_INFO with characters beyond latin-1 (not PEP 3333) is answered, never a 500 from the cache.

Some servers and test harnesses put the decoded path in PATH_INFO; encoding it
as latin-1 for the key would raise out of the middleware.
"""

from __future__ import annotations

import io
from pathlib import Path

from cachemere import CacheHandler
from helpers.page_apps import make_wsgi


def test_a_path_beyond_latin1_is_answered_not_raised(tmp_path: Path) -> None:
    settings = {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    app = make_wsgi(CacheHandler({"default": settings}, SECRET_KEY="environ")["default"])
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/shared/\u20ac", "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": io.StringIO(),
    }  # fmt: skip
    started: list[str] = []
    b"".join(app(environ, lambda status, headers, exc_info=None: started.append(status)))
    assert started and not started[-1].startswith("5")
