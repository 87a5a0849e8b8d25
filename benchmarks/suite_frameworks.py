"""A cached hit through real framework stacks, in-process: cachemere against the peers people would pick.

For each framework, one endpoint serving the same 1 KB page (Flask and
Starlette: HTML; FastAPI: a JSON object of about 1 KB), timed as:

- ``uncached``: the framework's endpoint with no cache;
- ``cachemere view``: the endpoint decorated with ``cachemere.contrib``'s
  ``cache_page`` (locmem);
- ``cachemere site``: the whole app behind cachemere's per-site
  ``CacheMiddleware`` (locmem), as the docs' one-line setup;
- the peers, with their in-memory backends: Flask-Caching's ``@cache.cached``
  (SimpleCache), ``starlette-caches``' ``CacheMiddleware`` (aiocache's
  SimpleMemoryCache) and ``fastapi-cache2``'s ``@cache`` (InMemoryBackend).

WSGI: each request is a fresh copy of one prepared environ through
``app.wsgi_app``; ASGI: each timed call runs ``BATCH`` requests through the
app in one ``run_until_complete``.  Every cached system is warmed first, and
the suite checks that no cached endpoint ran during the timed rounds and that
every system of a framework sent the same body.

``starlette-caches`` pins Starlette 0.x, older than the one the tests use, so
this suite runs in a virtualenv of its own (``~/.cache/cachemere-bench-venv``,
made on first use) with cachemere installed editable and every framework and
peer at one version for all systems.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness import Case, fmt, measure

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("CACHEMERE_BENCH_VENV", Path.home() / ".cache" / "cachemere-bench-venv"))
PEERS = ["flask", "flask-caching", "fastapi", "fastapi-cache2", "starlette-caches", "jinja2", "httpx"]

#: Requests per timed ASGI call, all in one run of the event loop.
BATCH = 100

_SHELL = "<!doctype html><html><head><title>Report</title></head><body><h1>Report</h1><p>{}</p></body></html>"
PAGE = _SHELL.format("x" * (1024 - len(_SHELL) + 2))
assert len(PAGE) == 1024
DATA = {"report": "x" * 1000, "rows": [1, 2, 3]}

REQUEST_HEADERS = [
    ("host", "bench.example"),
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("accept-language", "en-US,en;q=0.5"),
    ("accept-encoding", "gzip, deflate, br"),
    ("connection", "keep-alive"),
]

#: Endpoint runs per system, to prove the timed requests were hits.
calls: dict[str, int] = {}


def _count(system: str) -> None:
    calls[system] = calls.get(system, 0) + 1


# -- calling the stacks ---------------------------------------------------------------------------


def _environ(path: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "bench.example", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in REQUEST_HEADERS},
    }  # fmt: skip


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(name.encode(), value.encode()) for name, value in REQUEST_HEADERS],
        "client": ("127.0.0.1", 50000), "server": ("bench.example", 80),
    }  # fmt: skip


class Sent:
    """The last response a system sent: status and body, to check all systems agree."""

    def __init__(self) -> None:
        self.status: int = 0
        self.body = b""


def wsgi_caller(app: Callable[..., Iterable[bytes]], path: str, sent: Sent) -> Callable[[], object]:
    prepared = _environ(path)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        sent.status = int(status[:3])
        return lambda data: None

    def one() -> object:
        environ = prepared.copy()
        environ["wsgi.input"] = io.BytesIO(b"")
        result = app(environ, start_response)
        try:
            sent.body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return None

    return one


def asgi_caller(loop: asyncio.AbstractEventLoop, app: Any, path: str, sent: Sent) -> Callable[[], object]:
    prepared = _scope(path)
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.status = message["status"]
            sent.body = b""
        elif message["type"] == "http.response.body":
            sent.body += message.get("body", b"")

    async def batch() -> None:
        for _ in range(BATCH):
            await app(dict(prepared), receive, send)

    return lambda: loop.run_until_complete(batch())


# -- the apps -------------------------------------------------------------------------------------


def _cachemere_settings() -> None:
    import cachemere

    cachemere.configure(
        CACHES={
            "default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 10000}}
        },
        CACHE_MIDDLEWARE_SECONDS=600,
    )


def _identity(view: Any) -> Any:
    return view


def _flask_app(system: str, decorate: Callable[[Any], Any] = _identity, setup: Any = None) -> Any:
    """A Flask app with one ``/page`` view counted under ``system``, decorated by ``decorate``."""
    from flask import Flask

    app = Flask(system)
    if setup is not None:
        decorate = setup(app)

    def page() -> str:
        _count(f"Flask {system}")
        return PAGE

    app.add_url_rule("/page", "page", decorate(page))
    return app


def flask_apps() -> dict[str, Any]:
    from flask_caching import Cache as FlaskCaching

    from cachemere.http import wsgi

    def flask_caching(app: Any) -> Any:
        cache = FlaskCaching(app, config={"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 600})
        return cache.cached(timeout=600)

    def cachemere_view(app: Any) -> Any:
        from cachemere.contrib.flask import Cache, cache_page

        Cache(app)
        return cache_page(600, key_prefix="flask-view")

    return {
        "uncached": _flask_app("uncached").wsgi_app,
        "cachemere site": wsgi.CacheMiddleware(
            _flask_app("cachemere site").wsgi_app, key_prefix="flask-site"
        ),
        "cachemere view": _flask_app("cachemere view", setup=cachemere_view).wsgi_app,
        "Flask-Caching": _flask_app("Flask-Caching", setup=flask_caching).wsgi_app,
    }


def starlette_apps() -> dict[str, Any]:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route
    from starlette_caches.middleware import CacheMiddleware as PeerMiddleware

    from cachemere.http import asgi

    def endpoint(system: str) -> Any:
        async def page(request: Any) -> HTMLResponse:
            _count(system)
            return HTMLResponse(PAGE)

        return page

    apps: dict[str, Any] = {}
    apps["uncached"] = Starlette(routes=[Route("/page", endpoint("Starlette uncached"))])
    apps["cachemere site"] = asgi.CacheMiddleware(
        Starlette(routes=[Route("/page", endpoint("Starlette cachemere site"))]), key_prefix="starlette-site"
    )
    apps["cachemere view"] = _cachemere_starlette_view(endpoint("Starlette cachemere view"))
    apps["starlette-caches"] = PeerMiddleware(
        Starlette(routes=[Route("/page", endpoint("Starlette starlette-caches"))]), cache=_aiocache()
    )
    return apps


def _aiocache() -> Any:
    from aiocache import SimpleMemoryCache

    return SimpleMemoryCache(ttl=600)


def _cachemere_starlette_view(endpoint: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Route

    from cachemere.contrib.starlette import cache_page

    return Starlette(routes=[Route("/page", cache_page(600, key_prefix="starlette-view")(endpoint))])


def _fastapi_app(system: str, decorate: Callable[[Any], Any] = _identity) -> Any:
    """A FastAPI app with one ``/page`` path operation counted under ``system``, decorated by ``decorate``."""
    from fastapi import FastAPI

    app = FastAPI()

    async def page() -> dict[str, Any]:
        _count(f"FastAPI {system}")
        return DATA

    app.get("/page")(decorate(page))
    return app


def fastapi_apps() -> dict[str, Any]:
    from fastapi_cache import FastAPICache
    from fastapi_cache.backends.inmemory import InMemoryBackend
    from fastapi_cache.decorator import cache as peer_cache
    from starlette_caches.middleware import CacheMiddleware as PeerMiddleware

    from cachemere.contrib.starlette import cache_page
    from cachemere.http import asgi

    FastAPICache.init(InMemoryBackend(), prefix="bench")
    return {
        "uncached": _fastapi_app("uncached"),
        "cachemere site": asgi.CacheMiddleware(_fastapi_app("cachemere site"), key_prefix="fastapi-site"),
        "cachemere view": _fastapi_app("cachemere view", cache_page(600, key_prefix="fastapi-view")),
        "fastapi-cache2": _fastapi_app("fastapi-cache2", peer_cache(expire=600)),
        "starlette-caches": PeerMiddleware(_fastapi_app("starlette-caches"), cache=_aiocache()),
    }


# -- the run ----------------------------------------------------------------------------------------

SYSTEMS = {
    "Flask": ["uncached", "cachemere view", "cachemere site", "Flask-Caching"],
    "Starlette": ["uncached", "cachemere view", "cachemere site", "starlette-caches"],
    "FastAPI": ["uncached", "cachemere view", "cachemere site", "fastapi-cache2", "starlette-caches"],
}
PEER_SYSTEMS = {"Flask-Caching", "starlette-caches", "fastapi-cache2"}


def _json_equal(a: bytes, b: bytes) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return False


def _check(name: str, sent: dict[str, Sent], before: dict[str, int]) -> None:
    for system, record in sent.items():
        if record.status != 200:
            raise AssertionError(f"{name} {system}: status {record.status}")
    bodies = {system: record.body for system, record in sent.items()}
    reference = bodies["uncached"]
    for system, body in bodies.items():
        same = body == reference or (name == "FastAPI" and _json_equal(body, reference))
        if not same:
            raise AssertionError(f"{name} {system} sent another body: {body[:80]!r}")
    for system in SYSTEMS[name]:
        if system == "uncached":
            continue
        counter = f"{name} {system}"
        if calls.get(counter, 0) != before.get(counter, 0):
            raise AssertionError(f"{counter}: the endpoint ran during the timed rounds (not a hit)")


def _run(rounds: int) -> str:
    _cachemere_settings()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    builders = {"Flask": flask_apps, "Starlette": starlette_apps, "FastAPI": fastapi_apps}
    cases: list[Case] = []
    sent_by_case: dict[str, dict[str, Sent]] = {}
    for name, build in builders.items():
        apps = build()
        sent: dict[str, Sent] = {}
        case_calls: dict[str, Callable[[], object] | None] = {}
        for system in SYSTEMS[name]:
            app = apps.get(system)
            if app is None:
                case_calls[system] = None
                continue
            sent[system] = Sent()
            if name == "Flask":
                case_calls[system] = wsgi_caller(app, "/page", sent[system])
            else:
                case_calls[system] = asgi_caller(loop, app, "/page", sent[system])
        number = 2000 if name == "Flask" else 20
        cases.append(Case(name, case_calls, number=number))
        sent_by_case[name] = sent
    for case in cases:  # warm: every cached system stores its page
        for fn in case.calls.values():
            if fn is not None:
                fn()
    before = dict(calls)
    measure(cases, rounds)
    for case in cases:
        _check(case.name, sent_by_case[case.name], before)
        if case.name != "Flask":
            case.results = {system: [ops * BATCH for ops in runs] for system, runs in case.results.items()}
    loop.close()
    return _table(cases, rounds)


def _table(cases: list[Case], rounds: int) -> str:
    lines = []
    for case in cases:
        systems = SYSTEMS[case.name]
        medians = {s: statistics.median(r) for s, r in case.results.items() if r}
        peers = [s for s in systems if s in PEER_SYSTEMS and s in medians]
        header = ["framework", *systems, *[f"cachemere view / {p}" for p in peers],
                  *[f"cachemere site / {p}" for p in peers]]  # fmt: skip
        if not lines:
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        else:
            lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        row = [case.name]
        for system in systems:
            runs = case.results.get(system)
            row.append(f"{fmt(statistics.median(runs))} ({fmt(max(runs))})" if runs else "n/a")
        for subject in ("cachemere view", "cachemere site"):
            for peer in peers:
                ratio = medians.get(subject, 0) / medians[peer] if medians.get(subject) else None
                row.append(f"{ratio:.2f}x" if ratio else "n/a")
        lines.append("| " + " | ".join(row) + " |")
    versions = _versions()
    lines.append("")
    lines.append(f"Requests/s, median (best) of {rounds} interleaved rounds, in-process; {versions}.")
    return "\n".join(lines)


def _versions() -> str:
    from importlib.metadata import version

    names = ["flask", "starlette", "fastapi", "flask-caching", "starlette-caches", "fastapi-cache2"]
    return ", ".join(f"{n} {version(n)}" for n in names)


def _venv_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS], check=True)
    # cachemere itself, editable from this checkout, every time (cheap; follows the checkout).
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)], check=True)
    return python


def main(rounds: int = 7) -> str:
    try:
        import fastapi_cache  # noqa: F401
        import flask_caching  # noqa: F401
        import starlette_caches  # noqa: F401
    except ImportError:
        python = _venv_python()
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); import suite_frameworks; "
            "print(suite_frameworks.main(int(sys.argv[2])))"
        )
        result = subprocess.run(
            [str(python), "-c", code, str(Path(__file__).resolve().parent), str(rounds)],
            check=True, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        return result.stdout.rstrip("\n")
    return _run(rounds)
