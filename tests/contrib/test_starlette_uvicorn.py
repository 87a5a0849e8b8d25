"""Starlette and FastAPI apps cached by cachemere.contrib.starlette, served by a real uvicorn.

Each server is started by the test on 127.0.0.1 on a free port and stopped by its PID.
"""

from __future__ import annotations

import sys

import httpx

from helpers.starlette_apps import ROOT, Uvicorn, start_server, stop_server
from servers.common import free_port


def test_a_starlette_app_serves_cached_pages_without_rendering_again() -> None:
    with (
        Uvicorn("helpers.starlette_apps:served_starlette", factory=True) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        for path in ("/page", "/sync", "/class"):
            first, second = client.get(path), client.get(path)
            assert first.status_code == second.status_code == 200
            assert first.text == second.text and second.headers["age"] == "0"
        fragments = [client.get("/fragment?user=ann").text for _ in range(2)]
        counts = client.get("/renders")
    assert fragments == ["<p>page 1</p><aside>ann 1</aside>", "<p>page 2</p><aside>ann 1</aside>"]
    assert "no-store" in counts.headers["cache-control"]
    assert counts.json() == {"page": 1, "sync": 1, "class": 1, "fragment-page": 2, "sidebar": 1}


def test_a_fastapi_path_operation_with_depends_is_cached_per_query() -> None:
    with (
        Uvicorn("helpers.starlette_apps:served_fastapi", factory=True) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        tea = client.get("/items/3?q=tea&size=7")
        assert tea.json() == {"item_id": 3, "q": "tea", "size": 7, "renders": 1}
        assert client.get("/items/3?q=tea&size=7").json() == tea.json()
        assert client.get("/items/3?q=milk").json() == {"item_id": 3, "q": "milk", "size": 10, "renders": 2}
        assert client.get("/items/3?q=tea&size=7").json()["renders"] == 1
        sync = [client.get("/sync/x", headers={"X-Caller": "ann"}) for _ in range(2)]
        assert sync[0].json() == sync[1].json() == {"name": "x", "who": "ann", "renders": 1}
        assert sync[1].headers["x-served-for"] == "ann"
        assert client.get("/renders").json() == {"items": 2, "sync": 1, "sync-background": 1}


def _check_quickstart(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        tea = client.get("/items/3?q=tea")
        assert tea.json() == {"item_id": 3, "q": "tea", "size": 10, "renders": 1}
        assert client.get("/items/3?q=tea").json() == tea.json()
        assert client.get("/items/3?q=milk").json()["renders"] == 2
        menus = [client.get("/menu") for _ in range(2)]
        assert [menu.json()["renders"] for menu in menus] == [1, 2]  # for downstream caches only
        assert sorted(menus[0].headers["cache-control"].split(", ")) == ["max-age=300", "public"]
        counts = client.get("/renders")
        assert counts.json() == {"items": 2, "menu": 2}
        assert "no-store" in counts.headers["cache-control"]
        assert "/items/{item_id}" in client.get("/openapi.json").json()["paths"]


def test_the_readme_quickstart_under_uvicorn() -> None:
    with Uvicorn("examples.fastapi_quickstart:app", cwd=ROOT) as server:
        _check_quickstart(server.url)


def test_the_readme_quickstart_as_a_script() -> None:
    port = free_port()
    process = start_server(
        [sys.executable, str(ROOT / "examples" / "fastapi_quickstart.py")], port, env={"PORT": str(port)}
    )
    try:
        _check_quickstart(f"http://127.0.0.1:{port}")
    finally:
        stop_server(process)
