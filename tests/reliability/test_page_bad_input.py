"""Malformed requests through real servers and in-process: never a 500, never a poisoned key.

Each case sends one malformed request for a page (raw bytes on a socket to
gunicorn and uvicorn, for what no client would send; a crafted environ or
scope in-process, for what the servers refuse), then asks for the same page
normally, twice.  The malformed request may get any answer but a 5xx; the
normal requests must get the normal page (rendered for the right user, host,
path and method; whole), the second one from the cache: what the malformed
request left in the cache, if anything, is right for everyone.  Then the
malformed requests are sent again and again while another process loads the
site with many users, whose every answer is checked.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cachemere import CacheHandler
from helpers.page_apps import make_asgi, make_wsgi
from helpers.page_load import LoadProcess, PageServer, User, check_page, make_users, raw_exchange
from servers.redis import RedisServer

USER = make_users(2, seed=99)[1]  # user-001, with a secret of its own
OTHER = User("mallory", "session=mallory.5ec7e7; theme=dark", "Bearer mallory.5ec7e7")


@dataclass(frozen=True)
class Raw:
    """A malformed request for page ``kind``: ``build(host, path)`` gives its bytes."""

    name: str
    kind: str
    build: Callable[[bytes, bytes], bytes]


def http(
    target: bytes,
    *lines: bytes,
    method: bytes = b"GET",
    host: bytes | None = None,
    body: bytes = b"",
    version: bytes = b"HTTP/1.1",
) -> bytes:
    """A request with ``Host: host`` first (unless None), then ``lines``, then ``Connection: close``."""
    head = [method + b" " + target + b" " + version]
    if host is not None:
        head.append(b"Host: " + host)
    head.extend(lines)
    head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def cookie(user: User = USER, extra: bytes = b"") -> bytes:
    return b"Cookie: " + user.cookie.encode() + extra


def bearer(user: User = USER, extra: bytes = b"") -> bytes:
    return b"Authorization: " + user.authorization.encode() + extra


def smuggled(host: bytes, path: bytes) -> bytes:
    """A GET whose body is a second GET for the same page with another Host (CL.TE-style)."""
    inner = b"GET " + path + b" HTTP/1.1\r\nHost: evil.example\r\n\r\n"
    return http(path, b"Content-Length: %d" % len(inner), host=host, body=inner)


def tail(path: bytes) -> bytes:
    return path.rsplit(b"/", 1)[1]


RAW: list[Raw] = [
    # bad header encodings
    Raw("latin1-bytes-in-a-header", "shared", lambda h, p: http(p, b"X-Junk: \xff\xfe\x80", host=h)),
    Raw("latin1-bytes-in-the-cookie", "cookie", lambda h, p: http(p, cookie(extra=b"\xff\xfe"), host=h)),
    Raw(
        "latin1-in-own-cookie-same-key", "cookie", lambda h, p: http(p, cookie(), b"X-Junk: \xe9\xff", host=h)
    ),
    Raw("utf8-in-a-header", "shared", lambda h, p: http(p, "X-Junk: é€😀".encode(), host=h)),
    Raw("broken-utf8-in-authorization", "auth", lambda h, p: http(p, bearer(extra=b"\xc3\x28\xa0"), host=h)),
    Raw("control-bytes-in-a-header", "shared", lambda h, p: http(p, b"X-Junk: a\x01b\x1bc\x7f", host=h)),
    Raw("nul-in-a-header", "shared", lambda h, p: http(p, b"X-Junk: a\x00b", host=h)),
    Raw("space-in-a-header-name", "shared", lambda h, p: http(p, b"X Junk: 1", host=h)),
    Raw("non-ascii-header-name", "shared", lambda h, p: http(p, b"X-J\xfcnk: 1", host=h)),
    Raw("obs-fold", "cookie", lambda h, p: http(p, cookie(), b"X-Junk: a\r\n b", host=h)),
    Raw("bare-lf-line-ends", "shared", lambda h, p: http(p, host=h).replace(b"\r\n", b"\n")),
    # enormous headers
    Raw("7-kb-cookie", "cookie", lambda h, p: http(p, cookie(extra=b"; pad=" + b"x" * 7000), host=h)),
    Raw("100-kb-cookie", "cookie", lambda h, p: http(p, cookie(extra=b"; pad=" + b"x" * 100_000), host=h)),
    Raw("7-kb-authorization", "auth", lambda h, p: http(p, bearer(extra=b"y" * 7000), host=h)),
    Raw(
        "90-headers",
        "shared",
        lambda h, p: http(p, *(b"X-H%d: %s" % (i, b"v" * 60) for i in range(90)), host=h),
    ),
    Raw("500-headers", "shared", lambda h, p: http(p, *(b"X-H%d: v" % i for i in range(500)), host=h)),
    Raw("1-mb-header", "shared", lambda h, p: http(p, b"X-Junk: " + b"z" * 1_000_000, host=h)),
    # Host
    Raw("duplicate-host-ours-first", "shared", lambda h, p: http(p, b"Host: evil.example", host=h)),
    Raw("duplicate-host-evil-first", "shared", lambda h, p: http(p, b"Host: " + h, host=b"evil.example")),
    Raw("duplicate-host-same", "cookie", lambda h, p: http(p, b"Host: " + h, cookie(), host=h)),
    Raw("host-list-in-one-field", "shared", lambda h, p: http(p, host=h + b", evil.example")),
    Raw("host-with-userinfo", "shared", lambda h, p: http(p, host=b"evil.example@" + h)),
    Raw("host-with-path", "shared", lambda h, p: http(p, host=h + b"/evil")),
    Raw("empty-host", "shared", lambda h, p: http(p, host=b"")),
    Raw("no-host-http-1-0", "shared", lambda h, p: http(p, version=b"HTTP/1.0")),
    Raw("host-trailing-dot", "shared", lambda h, p: http(p, host=h.replace(b":", b".:"))),
    Raw(
        "host-upper-case",
        "cookie",
        lambda h, p: http(p, cookie(), host=h.replace(b"127.0.0.1", b"LOCALHOST")),
    ),
    # Cache-Control and conditions in the request
    Raw("cache-control-max-age-abc", "shared", lambda h, p: http(p, b"Cache-Control: max-age=abc", host=h)),
    Raw("cache-control-open-quote", "shared", lambda h, p: http(p, b'Cache-Control: no-store="', host=h)),
    Raw("cache-control-punctuation", "shared", lambda h, p: http(p, b"Cache-Control: ,,;;==,=", host=h)),
    Raw(
        "cache-control-huge-number",
        "shared",
        lambda h, p: http(p, b"Cache-Control: max-age=" + b"9" * 400, host=h),
    ),
    Raw(
        "cache-control-negative",
        "shared",
        lambda h, p: http(p, b"Cache-Control: max-stale=-1, min-fresh=-5", host=h),
    ),
    Raw("cache-control-latin1", "shared", lambda h, p: http(p, b"Cache-Control: no-\xffstore", host=h)),
    Raw(
        "no-cache-and-pragma",
        "cookie",
        lambda h, p: http(p, cookie(), b"Cache-Control: no-cache", b"Pragma: no-cache", host=h),
    ),
    Raw("only-if-cached", "shared", lambda h, p: http(p, b"Cache-Control: only-if-cached", host=h)),
    Raw(
        "garbage-if-modified-since",
        "shared",
        lambda h, p: http(p, b"If-Modified-Since: yesterday-ish", host=h),
    ),
    Raw(
        "future-if-modified-since",
        "shared",
        lambda h, p: http(p, b"If-Modified-Since: Fri, 31 Dec 9999 23:59:59 GMT", host=h),
    ),
    Raw("open-quote-if-none-match", "shared", lambda h, p: http(p, b'If-None-Match: "abc, W/', host=h)),
    Raw("star-if-none-match", "cookie", lambda h, p: http(p, cookie(), b"If-None-Match: *", host=h)),
    Raw("range", "shared", lambda h, p: http(p, b"Range: bytes=0-10, 5-", host=h)),
    # absolute-form and other request targets
    Raw("absolute-form-ours", "cookie", lambda h, p: http(b"http://" + h + p, cookie(), host=h)),
    Raw("absolute-form-evil-authority", "shared", lambda h, p: http(b"http://evil.example" + p, host=h)),
    Raw(
        "absolute-form-ours-evil-host", "shared", lambda h, p: http(b"http://" + h + p, host=b"evil.example")
    ),
    Raw("absolute-form-https", "shared", lambda h, p: http(b"https://" + h + p, host=h)),
    Raw("network-path-target", "shared", lambda h, p: http(b"//evil.example" + p, host=h)),
    Raw("asterisk-target", "shared", lambda h, p: http(b"*", method=b"OPTIONS", host=h)),
    Raw("authority-target", "shared", lambda h, p: http(h, method=b"CONNECT", host=h)),
    Raw("very-long-path", "shared", lambda h, p: http(p + b"/" + b"a" * 3000, host=h)),
    Raw("very-long-query", "shared", lambda h, p: http(p + b"?" + b"q" * 3000, host=h)),
    # odd methods
    Raw("lower-case-get", "shared", lambda h, p: http(p, method=b"get", host=h)),
    Raw("lower-case-head", "cookie", lambda h, p: http(p, cookie(), method=b"head", host=h)),
    Raw("unknown-method", "shared", lambda h, p: http(p, method=b"FOO", host=h)),
    Raw("purge", "cookie", lambda h, p: http(p, cookie(), method=b"PURGE", host=h)),
    Raw("m-search", "shared", lambda h, p: http(p, method=b"M-SEARCH", host=h)),
    Raw("trace", "shared", lambda h, p: http(p, method=b"TRACE", host=h)),
    Raw("options", "shared", lambda h, p: http(p, method=b"OPTIONS", host=h)),
    Raw("300-char-method", "shared", lambda h, p: http(p, method=b"X" * 300, host=h)),
    Raw(
        "head-with-a-body",
        "shared",
        lambda h, p: http(p, b"Content-Length: 5", method=b"HEAD", host=h, body=b"hello"),
    ),
    Raw(
        "get-with-a-chunked-body",
        "cookie",
        lambda h, p: http(
            p, cookie(), b"Transfer-Encoding: chunked", host=h, body=b"5\r\nhello\r\n0\r\n\r\n"
        ),
    ),
    Raw(
        "content-length-and-chunked",
        "shared",
        lambda h, p: http(p, b"Content-Length: 3", b"Transfer-Encoding: chunked", host=h, body=b"0\r\n\r\n"),
    ),
    Raw("bad-content-length", "shared", lambda h, p: http(p, b"Content-Length: abc", host=h)),
    Raw("smuggled-request-in-body", "shared", lambda h, p: smuggled(h, p)),
    # bad percent-encoding
    Raw("percent-zz", "shared", lambda h, p: http(p + b"%zz", host=h)),
    Raw("percent-alone", "shared", lambda h, p: http(p + b"%", host=h)),
    Raw("percent-not-utf8", "shared", lambda h, p: http(p + b"%ff%fe", host=h)),
    Raw("percent-nul", "shared", lambda h, p: http(p + b"%00", host=h)),
    Raw(
        "percent-encoded-letters",
        "cookie",
        lambda h, p: http(p.replace(b"/cookie", b"/%63ookie"), cookie(), host=h),
    ),
    Raw("percent-encoded-slash", "shared", lambda h, p: http(p.replace(b"/shared/", b"/shared%2F"), host=h)),
    Raw("dot-segments", "shared", lambda h, p: http(b"/shared/../shared/./" + tail(p), host=h)),
    Raw("bad-query-escapes", "shared", lambda h, p: http(p + b"?%zz=%ff&x=%&=", host=h)),
    Raw("path-parameter", "shared", lambda h, p: http(p + b";jsessionid=evil", host=h)),
    Raw("raw-non-ascii-in-target", "shared", lambda h, p: http(p + b"\xff\xfe", host=h)),
]

# Two different raw cases never share a page: each gets a number of its own.
NUMBERS = {case.name: 100 + i for i, case in enumerate(RAW)}


def page(kind: str, number: int) -> str:
    return f"/{kind}/{number}"


def normal_request(kind: str, path: str, host: bytes) -> bytes:
    return http(
        path.encode(), cookie(), bearer() if kind in ("auth", "public-auth") else b"Accept: */*", host=host
    )


# -- through the real servers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PageServer]]:
    """gunicorn with its pages on redis, uvicorn with its pages in a directory: started once."""
    directory = tmp_path_factory.mktemp("page-bad-input")
    redis = RedisServer(directory / "redis").start()
    started: dict[str, PageServer] = {}
    try:
        started["gunicorn"] = PageServer("gunicorn", "redis", redis.url, directory=directory).start()
        started["uvicorn"] = PageServer(
            "uvicorn", "file", str(directory / "pages"), directory=directory
        ).start()
        yield started
    finally:
        for site in started.values():
            site.stop()
        redis.stop()


def assert_normal_page(kind: str, path: str, port: int, *, from_cache: bool) -> None:
    host = f"127.0.0.1:{port}"
    answer = raw_exchange(port, normal_request(kind, path, host.encode()))
    assert answer.status is not None, answer.body[:200]
    headers = {name.title(): value for name, value in reversed(answer.headers)}
    problem = check_page(kind, path, host, USER, answer.status, headers, answer.body)
    assert problem is None, problem
    if from_cache:
        assert "Age" in headers, f"{path}: the normal page was not cached after the malformed request"


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
@pytest.mark.parametrize("case", RAW, ids=[case.name for case in RAW])
def test_a_malformed_request_gets_no_5xx_and_leaves_the_normal_page_intact(
    case: Raw, server: str, sites: dict[str, PageServer]
) -> None:
    site = sites[server]
    path = page(case.kind, NUMBERS[case.name])
    answer = raw_exchange(site.port, case.build(f"127.0.0.1:{site.port}".encode(), path.encode()))
    assert answer.status is None or answer.status < 500, (answer.status, answer.body[:300], site.log_text())
    assert_normal_page(case.kind, path, site.port, from_cache=False)
    # The second normal request is a hit (private/setcookie pages are never stored: not asked).
    assert_normal_page(case.kind, path, site.port, from_cache=case.kind in ("shared", "cookie", "auth"))


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_malformed_requests_amid_load_poison_no_users_page(server: str, sites: dict[str, PageServer]) -> None:
    site = sites[server]
    host = f"127.0.0.1:{site.port}".encode()
    load = LoadProcess(site.url, 4.0, pages=3, seed=7)
    done = threading.Event()
    statuses: list[int | None] = []

    def attack() -> None:
        # The load's own pages (0-2), with mallory's cookie and token instead of USER's.
        while not done.is_set():
            for case in RAW:
                for number in range(3):
                    data = case.build(host, page(case.kind, number).encode())
                    data = data.replace(USER.cookie.encode(), OTHER.cookie.encode())
                    data = data.replace(USER.authorization.encode(), OTHER.authorization.encode())
                    statuses.append(raw_exchange(site.port, data).status)
                    if done.is_set():
                        return

    attacker = threading.Thread(target=attack)
    attacker.start()
    try:
        result = load.result()
    finally:
        done.set()
        attacker.join()
    assert result["leaks"] == result["corrupt"] == result["errors"] == 0, result["samples"]
    assert result["hits"] > 0 and len(statuses) > len(RAW)
    assert not [status for status in statuses if status is not None and status >= 500]


# -- in-process: what the servers refuse to pass on ----------------------------------------------------


HOST = "127.0.0.1:8000"


@dataclass(frozen=True)
class Crafted:
    """A request no server passes on, for page ``kind``: environ/scope entries to override."""

    name: str
    kind: str
    method: str = "GET"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    #: replaces the path (``{path}`` is the page's, ``{bare}`` the same without its slash); None keeps it
    path: str | None = None
    query: bytes = b""
    #: no Host header at all (the adapters fall back on the server's name)
    hostless: bool = False
    server: tuple[str, int] | None = ("127.0.0.1", 8000)
    scheme: str = "http"


CRAFTED = [
    Crafted("crlf-in-a-header", "shared", headers=((b"x-junk", b"a\r\nSet-Cookie: evil=1"),)),
    Crafted("nul-in-a-header", "shared", headers=((b"x-junk", b"a\x00b"),)),
    Crafted("crlf-in-the-cookie", "cookie", headers=((b"cookie", USER.cookie.encode() + b"\r\nX-Evil: 1"),)),
    Crafted("crlf-in-the-host", "shared", headers=((b"host", HOST.encode() + b"\r\nX-Evil: 1"),)),
    Crafted("two-host-headers", "shared", headers=((b"host", HOST.encode()), (b"host", b"evil.example"))),
    Crafted(
        "two-host-headers-evil-first",
        "shared",
        headers=((b"host", b"evil.example"), (b"host", HOST.encode())),
    ),
    Crafted(
        "two-cookie-headers",
        "cookie",
        headers=((b"cookie", USER.cookie.encode()), (b"cookie", OTHER.cookie.encode())),
    ),
    Crafted(
        "two-authorizations",
        "auth",
        headers=(
            (b"authorization", USER.authorization.encode()),
            (b"authorization", OTHER.authorization.encode()),
        ),
    ),
    Crafted(
        "upper-case-header-names",
        "cookie",
        headers=((b"Host", HOST.encode()), (b"COOKIE", USER.cookie.encode())),
    ),
    Crafted("space-in-a-header-name", "shared", headers=((b"x junk", b"1"), (b"", b"empty name"))),
    Crafted("ipv6-host", "shared", headers=((b"host", b"[::1]:8000"),)),
    Crafted("broken-ipv6-host", "shared", headers=((b"host", b"[::1:8000"),)),
    Crafted("host-with-port-zero-padded", "shared", headers=((b"host", b"127.0.0.1:08000"),)),
    Crafted("no-host-no-server", "shared", hostless=True, server=None),
    Crafted("no-host-odd-server", "shared", hostless=True, server=("evil.example", 8000)),
    Crafted("javascript-scheme", "shared", scheme="javascript"),
    Crafted("empty-method", "shared", method=""),
    Crafted("method-with-a-space", "shared", method="G ET"),
    Crafted("lower-case-get", "cookie", method="get"),
    Crafted("mixed-case-head", "shared", method="hEaD"),
    Crafted("empty-path", "shared", path=""),
    Crafted("path-without-slash", "shared", path="{bare}"),
    Crafted("absolute-url-as-path", "shared", path="http://evil.example{path}"),
    Crafted("latin1-path", "shared", path="{path}\xff\xe9"),
    Crafted("nul-in-path", "shared", path="{path}\x00"),
    Crafted("nul-in-query", "shared", query=b"a=\x00&b=\xff"),
    Crafted("newline-in-query", "shared", query=b"a=1\r\nX-Evil: 1"),
    Crafted(
        "chunked-and-length",
        "cookie",
        headers=((b"transfer-encoding", b"chunked"), (b"content-length", b"-1")),
    ),
    Crafted("negative-content-length", "shared", headers=((b"content-length", b"-5"),)),
    Crafted("garbage-cache-control", "shared", headers=((b"cache-control", b'\x00no-store\xff="\\'),)),
    Crafted(
        "garbage-conditions", "shared", headers=((b"if-none-match", b"\x00"), (b"if-modified-since", b"\xff"))
    ),
]


def _scope(case: Crafted, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": case.method,
        "scheme": case.scheme, "path": path, "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": case.query, "root_path": "", "headers": headers, "server": case.server,
        "client": ("127.0.0.1", 40000),
    }  # fmt: skip


def _environ(case: Crafted, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    # PEP 3333: every value a latin-1 str; a repeated header joined by ", " (as servers do).
    environ: dict[str, Any] = {
        "REQUEST_METHOD": case.method, "SCRIPT_NAME": "",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"), "QUERY_STRING": case.query.decode("latin-1"),
        "SERVER_NAME": case.server[0] if case.server else "",
        "SERVER_PORT": str(case.server[1]) if case.server else "",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": case.scheme, "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(), "wsgi.version": (1, 0), "wsgi.multithread": False,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
    }  # fmt: skip
    for name, value in headers:
        key = name.decode("latin-1").upper().replace("-", "_")
        key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
        text = value.decode("latin-1")
        environ[key] = f"{environ[key]}, {text}" if key in environ else text
    return environ


class InProcess:
    """The test site behind the page cache on one directory, called over WSGI or ASGI."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        settings = {"BACKEND": "cachemere.backends.filebased.FileBasedCache", "LOCATION": str(directory)}
        cache = CacheHandler({"default": settings}, SECRET_KEY="page-bad-input")["default"]
        self.wsgi_app = make_wsgi(cache)
        self.asgi_app = make_asgi(cache)
        self.runner = asyncio.Runner()

    def __call__(
        self, case: Crafted, path: str, headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, dict[str, str], bytes]:
        if self.kind == "wsgi":
            return self._wsgi(_environ(case, path, headers))
        return self.runner.run(self._asgi(_scope(case, path, headers)))

    def _wsgi(self, environ: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started.append((status, headers))
            return lambda data: None

        result = self.wsgi_app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        status, headers = started[-1]
        return int(status.split()[0]), {k.title(): v for k, v in reversed(headers)}, body

    async def _asgi(self, scope: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        await self.asgi_app(scope, receive, send)
        start = sent[0]
        headers = {k.decode("latin-1").title(): v.decode("latin-1") for k, v in reversed(start["headers"])}
        return int(start["status"]), headers, b"".join(m.get("body", b"") for m in sent[1:])

    def close(self) -> None:
        self.runner.close()


@pytest.fixture(params=["wsgi", "asgi"])
def in_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InProcess]:
    site = InProcess(str(request.param), tmp_path / "pages")
    yield site
    site.close()


@pytest.mark.parametrize("case", CRAFTED, ids=[case.name for case in CRAFTED])
def test_a_request_no_server_passes_on_gets_no_5xx_and_poisons_nothing(
    case: Crafted, in_process: InProcess
) -> None:
    path = page(case.kind, 7)
    crafted_path = path if case.path is None else case.path.format(path=path, bare=path[1:])
    headers = list(case.headers)
    if not case.hostless and not any(name.lower() == b"host" for name, _ in headers):
        headers.insert(0, (b"host", HOST.encode()))
    status, _, body = in_process(case, crafted_path, headers)
    assert status < 500, (status, body[:300])
    normal = Crafted("normal", case.kind)
    auth = [(b"authorization", USER.authorization.encode())] if case.kind in ("auth", "public-auth") else []
    for attempt in range(2):
        status, answer, body = in_process(
            normal, path, [(b"host", HOST.encode()), (b"cookie", USER.cookie.encode()), *auth]
        )
        problem = check_page(case.kind, path, HOST, USER, status, answer, body)
        assert problem is None, problem
        assert attempt == 0 or "Age" in answer, "the normal page was not cached"
