"""Browser fixtures: Debian's Chromium driven by Playwright, against the app on 127.0.0.1.

Playwright cannot download its own browsers here, so the tests use /usr/bin/chromium (installed
by scripts/install-browser.sh in `make test`). Without it the tests skip locally, but fail when
the CI environment variable is set: CI must really run them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser tests must run)")
    pytest.skip(reason)


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, which would break later tests that call asyncio.run (the load benchmark's smoke test).
@pytest.fixture(scope="module")
def playwright_api():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        _unavailable(f"{CHROMIUM} is missing; install Debian's chromium (scripts/install-system-deps.sh)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_api):
    browser = playwright_api.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def app_server():
    from digitnet.web import create_app, pretrained_path
    from digitnet.web.server import BackgroundServer

    with BackgroundServer(create_app(pretrained_path())) as server:
        yield server
