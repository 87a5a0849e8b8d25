"""A real browser is a downstream cache: headless Chromium against the demo served by gunicorn.

One browser and one server (three workers) for the module.  Each test starts
from empty caches (the site's, with its "Clear" endpoint, and the browser's,
with the DevTools command) and judges by the site's request log, which is
counted outside the page cache: a request the browser answered itself never
reaches it.  Navigations follow links, as a person does; a reload is only
used where the test says so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from helpers.browser import chromium, follow, loaded, text
from helpers.demo_server import PAGES, DemoServer, Page, fetch, gunicorn_demo


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with gunicorn_demo(tmp_path_factory.mktemp("demo-browser") / "caches", workers=3) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver


@pytest.fixture
def driver(browser: WebDriver, server: DemoServer) -> Iterator[WebDriver]:
    """The browser on the index, with its cache and the site's page cache empty.

    After each test, the server has answered no request with an error (whatever the order).
    """
    assert fetch(server.url + "clear", method="POST")[0] == 303
    browser.execute_cdp_cmd("Network.clearBrowserCache", {})
    home(browser, server)
    yield browser
    stats = server.stats()["requests"]
    assert {path: counts for path, counts in stats.items() if "500" in counts or "other" in counts} == {}


def home(driver: WebDriver, server: DemoServer) -> None:
    """Go to the index (which no cache keeps) by typing its address."""
    driver.get(server.url)
    loaded(driver, "index")


def visit(driver: WebDriver, server: DemoServer, page: str) -> tuple[int, str]:
    """From the index, follow the link to ``page``: its render number and what the browser saw."""
    home(driver, server)
    follow(driver, f"link-{page}", page)
    return render_number(driver), seen_by_browser(driver)


def render_number(driver: WebDriver) -> int:
    return int(text(driver, "render-number"))


def seen_by_browser(driver: WebDriver) -> str:
    """``network``, ``revalidated`` or ``browser-cache``, from the page's Navigation Timing entry."""
    return str(driver.find_element(By.ID, "client").get_attribute("data-source"))


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_page_renders(driver: WebDriver, server: DemoServer, page: Page) -> None:
    follow(driver, f"link-{page.name}", page.name)
    assert driver.title == f"{page.title} · cachemere demo"
    assert driver.find_element(By.TAG_NAME, "h1").text == page.title
    assert "How this page is cached" in driver.page_source
    assert render_number(driver) >= 1
    assert seen_by_browser(driver) == "network"
    counts = server.requests(page.path)
    assert counts["total"] == counts["200"] >= 1


def test_a_repeat_visit_is_served_by_cachemere(driver: WebDriver, server: DemoServer) -> None:
    before = server.requests("/slow")["total"]
    renders = server.renders("slow")
    cold, cold_seen = visit(driver, server, "slow")
    cold_at = text(driver, "rendered-at")
    warm, warm_seen = visit(driver, server, "slow")
    assert warm == cold == renders + 1  # rendered once: the second visit did not run the view
    assert text(driver, "rendered-at") == cold_at
    assert (cold_seen, warm_seen) == ("network", "network")
    assert server.requests("/slow")["total"] == before + 2  # ... yet it reached the server
    assert server.renders("slow") == renders + 1


def test_the_browser_cache_honours_max_age(driver: WebDriver, server: DemoServer) -> None:
    before = server.requests("/browser-cache")["total"]
    first, first_seen = visit(driver, server, "browser_cache")
    assert first_seen == "network"
    assert server.requests("/browser-cache")["total"] == before + 1
    second, second_seen = visit(driver, server, "browser_cache")
    assert (second, second_seen) == (first, "browser-cache")
    assert server.requests("/browser-cache")["total"] == before + 1  # no request sent at all
    # A reload is the person asking for a fresh copy: the browser asks the server.
    driver.refresh()
    loaded(driver, "browser_cache")
    assert render_number(driver) == first + 1
    assert server.requests("/browser-cache")["total"] == before + 2


def test_never_cache_always_reaches_the_server(driver: WebDriver, server: DemoServer) -> None:
    before = server.requests("/never")["total"]
    first, first_seen = visit(driver, server, "never")
    second, second_seen = visit(driver, server, "never")
    follow(driver, "again", "never")  # the page's own link to itself
    third = render_number(driver)
    assert (first_seen, second_seen, seen_by_browser(driver)) == ("network", "network", "network")
    assert (second, third) == (first + 1, first + 2)
    assert server.requests("/never")["total"] == before + 3


def test_a_conditional_revalidation_gets_a_304(driver: WebDriver, server: DemoServer) -> None:
    before = server.requests("/per-view")
    first, first_seen = visit(driver, server, "per_view")
    assert first_seen == "network"
    # The browser holds a copy with an ETag and must ask first (no-cache): cachemere says 304.
    second, second_seen = visit(driver, server, "per_view")
    assert (second, second_seen) == (first, "revalidated")
    after = server.requests("/per-view")
    assert after["total"] == before["total"] + 2
    assert after.get("304", 0) == before.get("304", 0) + 1
    driver.refresh()  # a reload revalidates too
    loaded(driver, "per_view")
    assert render_number(driver) == first
    assert server.requests("/per-view").get("304", 0) == before.get("304", 0) + 2
    assert server.renders("per_view") == first


def test_a_fetch_that_must_revalidate_gets_a_304(driver: WebDriver, server: DemoServer) -> None:
    visit(driver, server, "per_view")
    before = server.requests("/per-view")
    # fetch() with cache: "no-cache" sends the stored copy's ETag; the page sees the copy (200).
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(location.href, {cache: 'no-cache'}).then(r => r.text().then(() => done(r.status)));"
    )
    assert status == 200
    after = server.requests("/per-view")
    assert after["total"] == before["total"] + 1
    assert after.get("304", 0) == before.get("304", 0) + 1


def test_each_query_string_is_its_own_page(driver: WebDriver, server: DemoServer) -> None:
    visit(driver, server, "per_view")
    follow(driver, "ada", "per_view")
    ada = render_number(driver)
    assert text(driver, "name") == "Ada"
    follow(driver, "grace", "per_view")
    grace = render_number(driver)
    follow(driver, "ada", "per_view")
    assert (render_number(driver), seen_by_browser(driver)) == (ada, "revalidated")
    assert grace == ada + 1


def test_a_cached_fragment_in_a_page_rendered_each_time(driver: WebDriver, server: DemoServer) -> None:
    page, _ = visit(driver, server, "fragment")
    fragment = int(text(driver, "fragment-number"))
    driver.refresh()
    loaded(driver, "fragment")
    assert render_number(driver) == page + 1
    assert int(text(driver, "fragment-number")) == fragment


def test_the_low_level_counter_counts_every_visit(driver: WebDriver, server: DemoServer) -> None:
    visit(driver, server, "counter")
    assert text(driver, "visits") == "1"  # the cache was just cleared
    visit(driver, server, "counter")
    assert text(driver, "visits") == "2"


def test_the_stats_page_shows_what_reached_the_server(driver: WebDriver, server: DemoServer) -> None:
    visit(driver, server, "slow")
    visit(driver, server, "stats")
    table = driver.find_elements(By.CSS_SELECTOR, "tr[data-path]")
    rows = {row.get_attribute("data-path"): row.text for row in table}
    assert "/slow" in rows
    assert rows["/slow"].split()[1] == str(server.requests("/slow")["total"])


def test_no_request_failed(server: DemoServer) -> None:
    """Last: after every test above, the server answered no request with an error."""
    stats = server.stats()["requests"]
    assert {path: counts for path, counts in stats.items() if "500" in counts or "other" in counts} == {}
    assert stats["(other)"] == {"total": 0}
