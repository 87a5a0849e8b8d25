"""Each demo page's behaviour, through the WSGI app in-process (httpx's WSGI transport, no server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cachemere.conf import settings
from helpers.demo_server import DIRECTORY_VARIABLE, OTHER_PATH, PAGES, Demo, Page, create_app, number


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    # A short pretend job: these tests check what is cached, not how long it takes.
    return create_app(tmp_path / "demo", slow_seconds=0.01)


@pytest.fixture
def client(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.WSGITransport(app=demo), base_url="http://127.0.0.1:8000") as client:
        yield client


def requests_for(client: httpx.Client, path: str) -> dict[str, int]:
    counts: dict[str, int] = client.get("/stats.json").json()["requests"][path]
    return counts


def renders(client: httpx.Client, page: str) -> int:
    count: int = client.get("/stats.json").json()["renders"][page]
    return count


def test_index_links_every_page_and_is_not_cached(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "<title>What caching does · cachemere demo</title>" in response.text
    for page in PAGES:
        assert f'href="{page.path}"' in response.text
        assert page.title in response.text
    assert "Cache-Control" not in response.headers
    assert number(client.get("/").text, "render-number") == 2


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_page_says_how_it_is_cached(client: httpx.Client, page: Page) -> None:
    response = client.get(page.path)
    assert response.status_code == 200
    assert f"<h1>{page.title}</h1>" in response.text
    assert "How this page is cached" in response.text
    assert "What to look for" in response.text
    assert f'data-page="{page.name}"' in response.text


def test_slow_page_is_rendered_once_then_served_by_cachemere(client: httpx.Client) -> None:
    cold = client.get("/slow")
    warm = client.get("/slow")
    assert number(cold.text, "render-number") == 1
    assert warm.text == cold.text  # the stored copy: same render number, time and process
    assert "Age" in warm.headers
    # Kept by cachemere for 60 s, but the browser is told to ask every time.
    directives = {d.strip() for d in warm.headers["Cache-Control"].split(",")}
    assert directives == {"max-age=60", "no-cache"}
    assert renders(client, "slow") == 1
    assert requests_for(client, "/slow") == {"total": 2, "200": 2}


def test_per_view_page_keeps_a_copy_per_query_string(client: httpx.Client) -> None:
    ada = client.get("/per-view", params={"name": "Ada"})
    assert number(ada.text, "render-number") == 1
    assert ">Ada<" in ada.text
    assert number(client.get("/per-view", params={"name": "Ada"}).text, "render-number") == 1
    grace = client.get("/per-view", params={"name": "Grace"})
    assert number(grace.text, "render-number") == 2
    assert number(client.get("/per-view").text, "render-number") == 3
    assert renders(client, "per_view") == 3


def test_per_view_page_revalidates_with_a_304_from_the_cache(client: httpx.Client) -> None:
    first = client.get("/per-view", params={"name": "Ada"})
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{20}"', etag)
    again = client.get("/per-view", params={"name": "Ada"}, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert renders(client, "per_view") == 1  # answered by cachemere, not the view
    other = client.get("/per-view", params={"name": "Ada"}, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.text == first.text
    assert requests_for(client, "/per-view") == {"total": 3, "200": 2, "304": 1}


def test_fragment_is_cached_while_the_page_is_not(client: httpx.Client) -> None:
    first = client.get("/fragment")
    second = client.get("/fragment")
    assert "Cache-Control" not in second.headers
    assert (number(first.text, "render-number"), number(second.text, "render-number")) == (1, 2)
    assert (number(first.text, "fragment-number"), number(second.text, "fragment-number")) == (1, 1)
    assert renders(client, "fragment_block") == 1
    assert client.post("/clear").status_code == 303
    third = client.get("/fragment")
    assert (number(third.text, "render-number"), number(third.text, "fragment-number")) == (3, 2)


def test_never_cache_page_is_rendered_on_every_visit(client: httpx.Client) -> None:
    numbers = []
    for _ in range(3):
        response = client.get("/never")
        numbers.append(number(response.text, "render-number"))
    directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
    assert directives == {"max-age=0", "no-cache", "no-store", "must-revalidate", "private"}
    assert "Expires" in response.headers
    assert numbers == [1, 2, 3]


def test_browser_cache_page_is_for_downstream_caches_only(client: httpx.Client) -> None:
    first = client.get("/browser-cache")
    second = client.get("/browser-cache")
    assert first.headers["Cache-Control"] == "max-age=60"
    assert "Age" not in second.headers  # no page cache on the server: the view answers each request
    assert (number(first.text, "render-number"), number(second.text, "render-number")) == (1, 2)


def test_counter_counts_with_the_low_level_api(client: httpx.Client, demo: Demo) -> None:
    visits = [number(client.get("/counter").text, "visits") for _ in range(3)]
    assert visits == [1, 2, 3]
    assert demo.caches["default"].get("demo:visits") == 3
    first_seen = demo.caches["default"].get("demo:first-visit")
    assert first_seen in client.get("/counter").text
    client.post("/clear")
    assert number(client.get("/counter").text, "visits") == 1


def test_clear_empties_the_page_cache_but_not_the_evidence(client: httpx.Client) -> None:
    assert number(client.get("/slow").text, "render-number") == 1
    response = client.post("/clear")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert number(client.get("/slow").text, "render-number") == 2
    assert requests_for(client, "/slow") == {"total": 2, "200": 2}
    assert requests_for(client, "/clear") == {"total": 1, "303": 1}
    refused = client.get("/clear")
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "POST"


def test_pages_answer_only_get_and_head(client: httpx.Client) -> None:
    client.get("/slow")
    for method in ("POST", "PUT", "DELETE"):
        refused = client.request(method, "/slow")
        assert refused.status_code == 405
        assert refused.headers["Allow"] == "GET, HEAD"
    assert number(client.get("/slow").text, "render-number") == 1  # not run, and not invalidated
    assert requests_for(client, "/slow") == {"total": 5, "200": 2, "405": 3}


def test_stats_counts_every_request_by_path_and_status(client: httpx.Client) -> None:
    client.get("/slow")
    client.get("/slow")
    client.get("/no-such-page")
    client.get("/another/missing/page")
    stats = client.get("/stats.json")
    assert stats.headers["Content-Type"] == "application/json"
    assert "no-store" in stats.headers["Cache-Control"]
    report = stats.json()
    assert report["requests"]["/slow"] == {"total": 2, "200": 2}
    assert report["requests"][OTHER_PATH] == {"total": 2, "404": 2}
    # A request is counted when its answer starts, after the view made it: this one is not in it.
    assert report["requests"]["/stats.json"] == {"total": 0}
    assert requests_for(client, "/stats.json") == {"total": 1, "200": 1}
    assert report["renders"]["slow"] == 1
    page = client.get("/stats")
    assert "no-store" in page.headers["Cache-Control"]
    # Two requests reached the server, the view rendered once: the cache answered the other.
    row = r'<tr data-path="/slow"><td>/slow</td><td>2</td>\s*<td>200: 2</td>\s*<td>1</td>'
    assert re.search(row, page.text)


def test_head_is_answered_from_the_stored_get(client: httpx.Client) -> None:
    client.get("/slow")
    head = client.head("/slow")
    assert head.status_code == 200
    assert head.content == b""
    assert renders(client, "slow") == 1


def test_two_sites_in_one_process_keep_their_own_caches(tmp_path: Path) -> None:
    one, two = create_app(tmp_path / "one", slow_seconds=0), create_app(tmp_path / "two", slow_seconds=0)
    with (
        httpx.Client(transport=httpx.WSGITransport(app=one), base_url="http://127.0.0.1") as a,
        httpx.Client(transport=httpx.WSGITransport(app=two), base_url="http://127.0.0.1") as b,
    ):
        assert [number(a.get("/counter").text, "visits") for _ in range(2)] == [1, 2]
        assert number(b.get("/counter").text, "visits") == 1


def test_the_demo_changes_no_global_settings(client: httpx.Client) -> None:
    before = dict(settings.CACHES)
    client.get("/slow")
    client.get("/fragment")
    assert before == settings.CACHES
    assert "bookkeeping" not in settings.CACHES


def test_create_app_reads_the_directory_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DIRECTORY_VARIABLE, str(tmp_path / "shared"))
    demo = create_app(slow_seconds=0)
    assert demo.directory == (tmp_path / "shared").resolve()
    with httpx.Client(transport=httpx.WSGITransport(app=demo), base_url="http://127.0.0.1") as client:
        assert client.get("/counter").status_code == 200
    assert (tmp_path / "shared" / "cache").is_dir()
    assert (tmp_path / "shared" / "bookkeeping").is_dir()
