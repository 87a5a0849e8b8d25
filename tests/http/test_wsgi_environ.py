"""The WSGI adapter's reading of the environ: header names, and memory that clients cannot grow."""

from __future__ import annotations

from wsgiref.util import setup_testing_defaults

from cachemere.http import wsgi


def environ(**extra: str) -> dict[str, str]:
    env: dict[str, str] = {}
    setup_testing_defaults(env)
    env.update(extra)
    return env


def test_headers_come_from_http_keys_and_the_two_content_keys() -> None:
    env = environ(HTTP_ACCEPT_ENCODING="gzip", CONTENT_TYPE="text/plain", HTTP_X_CUSTOM_NAME="v")
    request = wsgi.request_of(env)
    assert request is not None
    assert request.headers.get("Accept-Encoding") == "gzip"
    assert request.headers.get("content-type") == "text/plain"
    assert request.headers.get("X-Custom-Name") == "v"
    assert "SERVER_NAME" not in {name.upper() for name, _ in request.headers}
    assert "wsgi.url_scheme" not in {name for name, _ in request.headers}


def test_client_chosen_header_names_cannot_grow_the_name_memo_without_bound() -> None:
    for index in range(5 * wsgi._NAMES_LIMIT):
        request = wsgi.request_of(environ(**{f"HTTP_X_BUST_{index}": "1"}))
        assert request is not None and request.headers.get(f"X-Bust-{index}") == "1"
    assert len(wsgi._NAMES) <= wsgi._NAMES_LIMIT
    assert wsgi._header_name("CONTENT_TYPE") == "Content-Type"  # the fixed names survive a reset
