"""Real-browser helpers: Debian's Chromium, headless, driven by Playwright for Python.

Playwright's own browser builds are never downloaded (nothing can be fetched from a browser
vendor here): the browser is the distribution's ``chromium``, launched by its executable path,
which `make test` installs with apt when it is missing. The console's TLS certificate comes from
kubegate's own CA, which the throwaway browser profile does not know, so contexts ignore
certificate errors; cookies still behave as on HTTPS (the console's are ``Secure``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, ViewportSize, sync_playwright

from conftest import Server, eventually

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
TIMEOUT_MS = 10_000


def chromium_path() -> str | None:
    """Debian's Chromium (``chromium``; some distributions name it ``chromium-browser``)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright: Playwright) -> Browser:
    executable = chromium_path()
    if executable is None:
        message = "Chromium is not installed (`make test` installs Debian's package: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    # Chromium cannot start its sandbox as root (CI and these machines run as root).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return playwright.chromium.launch(executable_path=executable, headless=True, args=args)


def new_context(browser: Browser, server: Server) -> BrowserContext:
    context = browser.new_context(viewport=VIEWPORT, base_url=server.endpoint, ignore_https_errors=True,
                                  locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a test module; each test opens its own context (cookies)."""
    with sync_playwright() as playwright:
        instance = launch(playwright)
        try:
            yield instance
        finally:
            instance.close()


def until_console_shows(server: Server, path: str, text: str) -> None:
    """Wait until a console page shows ``text``: the server picks up writes of the CLI (another
    process, such as `kubegate awsauth set`) within its sync interval."""
    from console_client import ConsoleClient

    client = ConsoleClient(server)
    try:
        assert client.sign_in().status_code == 303
        assert eventually(lambda: text in client.get(path).text), f"{path} never showed {text}"
    finally:
        client.close()


def sign_in(page: Page, key: tuple[str, str], *, path: str = "/console/") -> None:
    """Sign in through the form, as a person types it (labels must name the fields)."""
    page.goto(path)
    page.get_by_label("Access key ID").fill(key[0])
    page.get_by_label("Secret access key").fill(key[1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def csrf_token(page: Page) -> str:
    """The page's CSRF token (every form has one), for posting a form the page shows disabled."""
    return str(page.locator('input[name="csrf"]').first.get_attribute("value"))


def focused(page: Page) -> Locator:
    return page.locator(":focus")


def in_viewport(page: Page, locator: Locator) -> bool:
    """The element is laid out, not hidden, and at least partly inside the 1280×800 window."""
    box = locator.bounding_box()
    if box is None or box["width"] <= 0 or box["height"] <= 0 or not locator.is_visible():
        return False
    return box["y"] < VIEWPORT["height"] and box["y"] + box["height"] > 0 and box["x"] < VIEWPORT["width"]


def has_focus_ring(locator: Locator) -> bool:
    """A visible focus indicator: an outline or a box shadow that is not ``none``."""
    style = locator.evaluate(
        "e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth, s.boxShadow]; }")
    outline_style, outline_width, shadow = style
    return (outline_style != "none" and outline_width not in ("0px", "")) or shadow not in ("none", "")


def tab_to(page: Page, locator: Locator, limit: int = 60) -> None:
    """Press Tab until ``locator`` has the focus (the keyboard alone reaches it), or fail."""
    target = locator.element_handle()
    assert target is not None
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("e => document.activeElement === e", target):
            return
    raise AssertionError(f"Tab never reached {locator}")
