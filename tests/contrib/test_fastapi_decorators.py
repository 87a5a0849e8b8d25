"""cachemere.contrib.starlette's decorators on FastAPI path operations, through FastAPI's TestClient.

The decorated path operations keep FastAPI's dependency injection and OpenAPI (each
compared with an undecorated twin), and are cached as FastAPI serializes them.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from fastapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from cachemere.contrib.starlette import (
    cache_control,
    cache_page,
    never_cache,
    vary_on_cookie,
    vary_on_headers,
)
from helpers.starlette_apps import Renders, fastapi_app, local_caches

# Headers the page cache adds or that change per request.
_CACHE_HEADERS = {"expires", "cache-control", "age", "date"}


@pytest.fixture
def renders() -> Renders:
    return Renders()


@pytest.fixture
def client(renders: Renders) -> Iterator[TestClient]:
    with TestClient(fastapi_app(local_caches(), renders)) as test_client:
        yield test_client


def test_path_query_and_depends_parameters_still_work_and_each_query_is_cached(
    client: TestClient, renders: Renders
) -> None:
    first = client.get("/items/3?q=a")
    assert first.json() == {"item_id": 3, "q": "a", "size": 10, "renders": 1}
    assert client.get("/items/3?q=a").json() == first.json()  # served from the cache
    assert client.get("/items/3?q=b").json()["renders"] == 2
    assert client.get("/items/3?q=a&size=500").json() == {"item_id": 3, "q": "a", "size": 100, "renders": 3}
    assert client.get("/items/4").json() == {"item_id": 4, "q": None, "size": 10, "renders": 4}
    invalid = client.get("/items/not-a-number")
    assert invalid.status_code == 422 and client.get("/items/not-a-number").status_code == 422
    assert renders["items"] == 4


def test_sync_path_operation_with_response_param_depends_and_background_tasks(
    client: TestClient, renders: Renders
) -> None:
    first = client.get("/sync/x", headers={"X-Caller": "ann"})
    assert first.json() == {"name": "x", "who": "ann", "renders": 1}
    assert first.headers["x-served-for"] == "ann"  # set on the Response parameter
    second = client.get("/sync/x", headers={"X-Caller": "ann"})
    assert second.json() == first.json() and second.headers["x-served-for"] == "ann"
    assert renders["sync"] == 1
    assert renders["sync-background"] == 1  # the endpoint's task ran when it ran, not on the hit


class Item(BaseModel):
    name: str
    price: float
    note: str | None = None


def token(authorization: Annotated[str | None, Header()] = None) -> str:
    return authorization or "anonymous"


def _twin_apps(decorate: Callable[[Callable[..., Any]], Callable[..., Any]]) -> tuple[FastAPI, FastAPI]:
    """The same path operations twice: plain, and each decorated with ``decorate``."""

    def build(wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> FastAPI:
        app = FastAPI()

        @app.get("/items/{item_id}", response_model=Item, response_model_exclude_none=True)
        @wrap
        async def read_item(
            item_id: int, q: str | None = None, who: str = Depends(token), limit: Annotated[int, "x"] = 5
        ) -> Any:
            return {"name": f"item {item_id}", "price": 1.5, "note": q}

        @app.get("/model/{key}")
        @wrap
        def read_model(key: uuid.UUID, request: Request, response: Response) -> Item:
            response.headers["X-Seen-By"] = request.headers.get("x-who", "-")
            response.status_code = 203
            return Item(name=str(key), price=2)

        @app.get("/html", response_class=HTMLResponse, status_code=201)
        @wrap
        async def html(tasks: BackgroundTasks, page: int = 1) -> str:
            return f"<p>page {page}</p>"

        @app.get("/text", response_class=PlainTextResponse)
        @wrap
        def text(when: datetime.date) -> str:
            return when.isoformat()

        @app.get("/plain")
        @wrap
        async def plain(request: Request) -> dict[str, Any]:
            return {"when": datetime.datetime(2026, 1, 2, 3, 4, 5), "id": uuid.UUID(int=7), "tags": {"a"}}

        @app.get("/response")
        @wrap
        async def direct() -> Response:
            return PlainTextResponse("direct", headers={"X-Direct": "1"})

        @app.post("/items", status_code=201)
        @wrap
        async def create(item: Item, who: Annotated[str, Depends(token)]) -> Item:
            return item

        return app

    return build(lambda function: function), build(decorate)


_DECORATORS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "cache_page": lambda f: cache_page(60, cache=local_caches()["default"])(f),
    "cache_control": cache_control(max_age=30, public=True),
    "never_cache": never_cache,
    "vary_on_headers": vary_on_headers("X-Who", "Accept-Language"),
    "vary_on_cookie": vary_on_cookie,
    "stacked": lambda f: cache_page(60, cache=local_caches()["default"])(
        cache_control(public=True)(vary_on_cookie(f))
    ),
}

_REQUESTS = [
    ("GET", "/items/3?q=hello", None),
    ("GET", "/items/3", None),
    ("GET", "/model/12345678-1234-5678-1234-567812345678", None),
    ("GET", "/html?page=2", None),
    ("GET", "/text?when=2026-02-03", None),
    ("GET", "/plain", None),
    ("GET", "/response", None),
    ("POST", "/items", {"name": "new", "price": 3}),
]


@pytest.mark.parametrize("decorator", sorted(_DECORATORS))
def test_openapi_is_exactly_the_undecorated_twins(decorator: str) -> None:
    plain, decorated = _twin_apps(_DECORATORS[decorator])
    assert decorated.openapi() == plain.openapi()


@pytest.mark.parametrize("decorator", sorted(_DECORATORS))
def test_responses_are_what_fastapi_makes_undecorated(decorator: str) -> None:
    """Status, headers and body as the twin's, on the first call and (cached or not) the second."""
    plain, decorated = _twin_apps(_DECORATORS[decorator])
    with TestClient(plain) as plain_client, TestClient(decorated) as decorated_client:
        for method, url, body in _REQUESTS:
            expected = plain_client.request(method, url, json=body, headers={"X-Who": "me"})
            for _ in range(2):
                got = decorated_client.request(method, url, json=body, headers={"X-Who": "me"})
                assert (got.status_code, got.content) == (expected.status_code, expected.content), url
                mine = {k: v for k, v in got.headers.items() if k not in _CACHE_HEADERS | {"vary"}}
                theirs = {k: v for k, v in expected.headers.items() if k not in _CACHE_HEADERS}
                assert mine == theirs, url


def test_the_cached_twin_is_really_cached() -> None:
    calls: list[str] = []

    def build() -> FastAPI:
        app = FastAPI()

        @app.get("/n/{n}", response_model=dict[str, int])
        @cache_page(60, cache=local_caches()["default"])
        def number(n: int) -> Any:
            calls.append(str(n))
            return {"n": n}

        return app

    with TestClient(build()) as client:
        assert [client.get("/n/1").json() for _ in range(3)] == [{"n": 1}] * 3
        client.get("/n/2")
    assert calls == ["1", "2"]


_session_states: list[str] = []


def session() -> Iterator[str]:
    """A dependency with yield, recording when it is open."""
    _session_states.append("open")
    yield "session"
    _session_states.append("closed")


def test_dependencies_with_yield_are_open_while_the_endpoint_runs() -> None:
    """The endpoint runs inside FastAPI's call, before the function-scoped dependencies close."""
    state = _session_states
    state.clear()
    app = FastAPI()

    @app.get("/function")
    @cache_page(60, cache=local_caches()["default"])
    async def uses_function_scope(db: Annotated[str, Depends(session, scope="function")]) -> dict[str, Any]:
        return {"db": db, "state": list(state)}

    @app.get("/request")
    @cache_page(60, cache=local_caches()["default"])
    def uses_request_scope(db: Annotated[str, Depends(session)]) -> dict[str, Any]:
        return {"db": db, "state": list(state)}

    with TestClient(app) as client:
        assert client.get("/function").json() == {"db": "session", "state": ["open"]}
        state.clear()
        assert client.get("/request").json() == {"db": "session", "state": ["open"]}
        assert state == ["open", "closed"]


def test_a_raised_http_exception_is_fastapis_answer_and_not_stored(renders: Renders) -> None:
    app = FastAPI()

    @app.get("/gone/{n}")
    @cache_page(60, cache=local_caches()["default"])
    async def gone(n: int) -> dict[str, int]:
        renders.bump("gone")
        raise HTTPException(status_code=404, detail=f"no {n}")

    with TestClient(app) as client:
        for _ in range(2):
            answer = client.get("/gone/1")
            assert answer.status_code == 404 and answer.json() == {"detail": "no 1"}
    assert renders["gone"] == 2


def test_vary_on_headers_keys_the_cached_page_per_header_value(renders: Renders) -> None:
    app = FastAPI()

    @app.get("/greeting")
    @cache_page(60, cache=local_caches()["default"])
    @vary_on_headers("Accept-Language")
    async def greeting(accept_language: Annotated[str, Header()] = "en") -> dict[str, Any]:
        return {"language": accept_language, "renders": renders.bump("greeting")}

    with TestClient(app) as client:
        french = client.get("/greeting", headers={"Accept-Language": "fr"})
        assert french.headers["vary"] == "Accept-Language"
        assert client.get("/greeting", headers={"Accept-Language": "fr"}).json() == french.json()
        assert client.get("/greeting", headers={"Accept-Language": "de"}).json() == {
            "language": "de",
            "renders": 2,
        }


def test_called_without_the_framework_it_says_what_it_needs() -> None:
    @cache_page(60)
    async def endpoint(n: int) -> dict[str, int]:
        return {"n": n}

    import asyncio

    with pytest.raises(TypeError, match="needs the request"):
        asyncio.run(endpoint(n=1))
