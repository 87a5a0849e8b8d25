"""Starlette and FastAPI apps cached with ``cachemere.contrib.starlette``, for the tests (no tests here).

Each factory takes the cache to use (an instance: nothing global is configured) and
returns the app with a :class:`Renders` counter the endpoints bump each time they
really run, so a test can tell a page served from the cache (the counter unmoved)
from a page rendered again.  ``served_starlette`` / ``served_fastapi`` are
``uvicorn --factory`` entry points: each makes a local-memory cache of its own.
"""

from __future__ import annotations

import collections
import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, FastAPI, Request, Response
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from cachemere import CacheHandler
from cachemere.contrib.starlette import (
    cache_control,
    cache_page,
    never_cache,
    render_template,
    use_cache_tag,
    vary_on_cookie,
)
from servers.common import free_port, port_open, wait_until

__all__ = [
    "Renders",
    "Uvicorn",
    "fastapi_app",
    "local_caches",
    "served_fastapi",
    "served_starlette",
    "starlette_app",
    "start_server",
    "stop_server",
]

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent

_names = itertools.count()

TEMPLATES = {
    "fragment.html": (
        "<p>page {{ renders.bump('fragment-page') }}</p>"
        "{% cache 60 sidebar user %}<aside>{{ user }} {{ renders.bump('sidebar') }}</aside>{% endcache %}"
    ),
}


class Renders:
    """How many times each endpoint really ran."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def bump(self, name: str) -> int:
        self.counts[name] += 1
        return self.counts[name]

    def __getitem__(self, name: str) -> int:
        return self.counts[name]


def local_caches() -> CacheHandler:
    """Caches of their own: ``default``, local memory on a fresh LOCATION each call."""
    return CacheHandler(
        {"default": {"BACKEND": "cachemere.backends.locmem.LocMemCache", "LOCATION": f"apps-{next(_names)}"}}
    )


def templates_for(caches: CacheHandler, *, is_async: bool = False) -> Jinja2Templates:
    """Jinja2Templates over :data:`TEMPLATES` with the ``{% cache %}`` tag on ``caches``."""
    env = Environment(loader=DictLoader(TEMPLATES), autoescape=True, enable_async=is_async)
    return use_cache_tag(Jinja2Templates(env=env), caches=caches)


def starlette_app(caches: CacheHandler, renders: Renders) -> Starlette:
    """Function endpoints (async and sync), an HTTPEndpoint class, a fragment page, a counter."""
    cache = caches["default"]

    @cache_page(60, cache=cache)
    async def page(request: Any) -> PlainTextResponse:
        query = request.query_params.get("q")
        return PlainTextResponse(f"page {renders.bump('page')}" + (f" {query}" if query else ""))

    @cache_page(60, cache=cache)
    def sync_page(request: Any) -> PlainTextResponse:
        return PlainTextResponse(f"sync {renders.bump('sync')}")

    @cache_page(60, cache=cache)
    class ClassPage(HTTPEndpoint):
        async def get(self, request: Any) -> PlainTextResponse:
            return PlainTextResponse(f"class {renders.bump('class')}")

    templates = templates_for(caches, is_async=True)

    async def fragment(request: Any) -> Any:
        user = request.query_params.get("user", "anon")
        return await render_template(templates, request, "fragment.html", {"user": user, "renders": renders})

    @never_cache
    async def counts(request: Any) -> JSONResponse:
        return JSONResponse(dict(renders.counts))

    @cache_control(max_age=30, public=True)
    @vary_on_cookie
    async def shared(request: Any) -> PlainTextResponse:
        return PlainTextResponse(f"shared {renders.bump('shared')}")

    return Starlette(
        routes=[
            Route("/page", page),
            Route("/sync", sync_page),
            Route("/class", ClassPage),
            Route("/fragment", fragment),
            Route("/renders", counts),
            Route("/shared", shared),
        ]
    )


def page_size(size: int = 10) -> int:
    """A dependency with a query parameter of its own."""
    return min(size, 100)


def caller(request: Request) -> str:
    """A dependency reading the request."""
    return request.headers.get("x-caller", "nobody")


def fastapi_app(caches: CacheHandler, renders: Renders) -> FastAPI:
    """Path operations with path, query and Depends parameters, cached async and sync."""
    cache = caches["default"]
    app = FastAPI()

    @app.get("/items/{item_id}")
    @cache_page(60, cache=cache)
    async def read_item(item_id: int, q: str | None = None, size: int = Depends(page_size)) -> dict[str, Any]:
        return {"item_id": item_id, "q": q, "size": size, "renders": renders.bump("items")}

    @app.get("/sync/{name}")
    @cache_page(60, cache=cache)
    def read_sync(
        name: str, response: Response, who: Annotated[str, Depends(caller)], tasks: BackgroundTasks
    ) -> dict[str, Any]:
        response.headers["X-Served-For"] = who
        tasks.add_task(renders.bump, "sync-background")
        return {"name": name, "who": who, "renders": renders.bump("sync")}

    @app.get("/renders")
    @never_cache
    def counts() -> dict[str, int]:
        return dict(renders.counts)

    return app


def served_starlette() -> Starlette:
    """``uvicorn --factory helpers.starlette_apps:served_starlette``."""
    return starlette_app(local_caches(), Renders())


def served_fastapi() -> FastAPI:
    """``uvicorn --factory helpers.starlette_apps:served_fastapi``."""
    return fastapi_app(local_caches(), Renders())


class Uvicorn:
    """uvicorn serving ``target`` (``module:attribute``) on 127.0.0.1 on a free port; stopped by its PID."""

    def __init__(self, target: str, *, factory: bool = False, cwd: Path | None = None) -> None:
        self.target, self.factory, self.cwd = target, factory, cwd
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Uvicorn:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            self.target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.factory:
            command.append("--factory")
        self.process = start_server(command, self.port, cwd=self.cwd)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            stop_server(self.process)
            self.process = None


def start_server(
    command: list[str], port: int, *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` (a server that will listen on ``port``) and wait until it answers."""
    environ = {**os.environ, **(env or {})}
    # The app modules import tests/helpers as `helpers`, as the test process does.
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        command, cwd=cwd or ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: process.poll() is None and port_open(port), f"server on {port}", timeout=30)
    except RuntimeError:
        stop_server(process)
        assert process.stderr is not None
        raise RuntimeError(process.stderr.read().decode(errors="replace")) from None
    return process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server we started (by its PID); SIGKILL if it has not exited in 10 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    if process.stderr is not None:
        process.stderr.close()
