"""A live `openrevox serve` on SQLite with fast sandbox calls, and Debian's Chromium driven by
Playwright (never `playwright install`: `.ci/run` installs the `chromium` package).

Set OPENREVOX_SCREENSHOTS=docs/screenshots to have the tests save the README's screenshots.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from conftest import LiveServer, live_server  # noqa: E402  (tests/conftest.py)

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = os.environ.get("OPENREVOX_SCREENSHOTS")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> LiveServer:
    with live_server("sqlite", tmp_path_factory.mktemp("dashboard"), {"OPENREVOX_SANDBOX_SPEED": "10"}) as live:
        yield live


# Module scope, not package: tests/browser has no __init__.py, so "package" would last the whole
# session, and Playwright's sync API keeps an event loop running in this thread until it is closed
# (every later asyncio.run() would fail).
@pytest.fixture(scope="module")
def browser() -> Browser:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: `apt-get install -y chromium` (.ci/run does it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, dashboard: LiveServer) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=dashboard.base_url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def signed_in(page: Page, dashboard: LiveServer) -> Page:
    """The page, signed in with the dashboard's key, on the calls list."""
    page.goto("/")
    page.get_by_label("API key").fill(dashboard.api_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/calls")
    return page


@pytest.fixture
def screenshot():  # noqa: ANN201
    """`screenshot(page, name)`: saved for the README when OPENREVOX_SCREENSHOTS names a folder."""

    def save(page: Page, name: str) -> None:
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)

    return save
