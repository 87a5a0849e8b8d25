"""Headless Chromium driven by selenium: Debian's chromium and chromium-driver, nothing downloaded.

:func:`chromium` starts one browser with a fresh profile in a directory the
test owns (so its HTTP cache starts empty) and quits it afterwards; the
chromedriver process is stopped by its PID if it outlives ``quit()``.
:func:`follow` clicks a link and waits until the next page has loaded, as a
person's navigation does (not a reload, which revalidates).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from servers.common import require_binary

#: Flags for a root user in a container, with nothing reaching out on its own.
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1200,900",
)  # fmt: skip
WAIT = 30.0


@contextmanager
def chromium(directory: Path) -> Iterator[WebDriver]:
    """A headless Chromium whose profile (and so its cache) lives in ``directory``, empty at start."""
    profile = directory / "profile"
    profile.mkdir(parents=True)
    options = Options()
    options.binary_location = require_binary("chromium")
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    # An explicit driver path: selenium then neither looks for nor downloads one.
    driver_path = require_binary("chromedriver")
    service = Service(executable_path=driver_path, log_output=str(directory / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        process: subprocess.Popen[bytes] | None = getattr(service, "process", None)
        try:
            driver.quit()
        finally:
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def loaded(driver: WebDriver, page: str) -> None:
    """Wait until the demo page ``page`` (its ``data-page``) has loaded and reported what the browser saw."""
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && document.body !== null"
            " && document.body.dataset.page === arguments[0]"
            " && (document.getElementById('client') === null"
            "     || document.getElementById('client').dataset.source !== '')",
            page,
        )
    )


def follow(driver: WebDriver, link_id: str, page: str) -> None:
    """Click the link ``#link_id`` and wait until ``page`` has loaded in place of the current one."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, link_id).click()
    WebDriverWait(driver, WAIT).until(staleness_of(old))
    loaded(driver, page)


def text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)
