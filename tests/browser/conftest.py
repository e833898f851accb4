"""Shared browser fixtures: one Chromium (Debian's) per test session, a logged-in page per test.

Playwright's sync API runs an event loop in the test thread, which Django would take for async
code; the ORM calls in these tests are plain synchronous fixtures, hence DJANGO_ALLOW_ASYNC_UNSAFE.
"""

import os
from pathlib import Path

import pytest
from django.core.cache import cache

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: run scripts/install-system-packages.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def plain_static(settings):
    # Static storage and password hashing come from tests/conftest.py; chart JSON of an
    # earlier browser test's data must not be served.
    cache.clear()


@pytest.fixture
def new_page(browser, live_server, plain_static):
    """A fresh browser context (own cookies) opening pages of the live server."""
    contexts = []

    def open_page(**context_options):
        context = browser.new_context(
            base_url=live_server.url, accept_downloads=True, **context_options
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_charts(page) -> list[dict]:
    """Wait until every chart of the page has loaded; return each chart's name and points."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart-url]')]"
        ".every(el => ['ready', 'error'].includes(el.dataset.state))"
    )
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-chart-url]')].map(el => ({
            name: el.dataset.chart,
            state: el.dataset.state,
            plotted: el.classList.contains('js-plotly-plot'),
            points: (el.data || []).reduce(
                (n, trace) => n + Math.max((trace.y || []).length, (trace.x || []).length), 0),
        }))"""
    )
