"""Browser tests of the console: Debian's Chromium driven by Playwright, against the real service.

The service here is the whole thing, as `hotline-api serve` runs it (the `console` fixture,
tests/service.py): its own committed database, so each test makes its own users. Every request the page makes is watched: one to any other origin fails the test, and so does
a script error or a Content-Security-Policy violation. Each test leaves a screenshot in
build/screenshots/ (HOTLINE_SCREENSHOTS to choose another folder).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests import factories
from tests.service import ConsoleService

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("HOTLINE_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots"))


def _exists(path: str) -> bool:
    return Path(path).exists()


def screenshot_folder() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not _exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium "
            "(apt-get install chromium; the README's test command does it)"
        )
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield b
        finally:
            await b.close()


@dataclass
class Watch:
    """What a page did that it must not: requests elsewhere, script errors, CSP violations."""

    origin: str
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.outside, f"requests to other origins: {self.outside}"
        assert not self.errors, f"errors in the page: {self.errors}"


async def new_page(browser: Browser, console: ConsoleService, **context_options: Any) -> tuple[Page, Watch]:
    context: BrowserContext = await browser.new_context(
        viewport={"width": 1366, "height": 768},
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
        accept_downloads=True,
        **context_options,
    )
    page = await context.new_page()
    watch = Watch(console.url)

    def on_request(request: Any) -> None:
        url = request.url
        if not (url.startswith(console.url) or url.startswith(("data:", "blob:", "about:"))):
            watch.outside.append(url)

    def on_console(message: Any) -> None:
        # an API answer of 4xx is part of the conversation (a 404 for "no wrap-up yet"); the
        # responses are judged below instead
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            watch.errors.append(message.text)

    def on_response(response: Any) -> None:
        path = response.url.removeprefix(console.url)
        if response.status >= 500 or (response.status >= 400 and not path.startswith("/api/")):
            watch.errors.append(f"{response.status} {path}")

    page.on("request", on_request)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    page.on("console", on_console)
    return page, watch


@pytest.fixture
async def page(
    browser: Browser, console: ConsoleService, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    p, watch = await new_page(browser, console)
    try:
        yield p
    finally:
        screenshot_folder()
        await p.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
        await p.context.close()
    watch.check()


async def sign_in(
    page: Page, console: ConsoleService, username: str, password: str = factories.PASSWORD
) -> None:
    await page.goto(f"{console.url}/console/")
    await page.get_by_label("Tên đăng nhập").fill(username)
    await page.get_by_label("Mật khẩu").fill(password)
    await page.get_by_role("button", name="Đăng nhập").click()
    await page.get_by_role("button", name="Đăng xuất").wait_for()


__all__ = ["ConsoleService", "screenshot_folder", "sign_in"]
