"""Browser tests of the console: Debian's Chromium driven by Playwright, against the real service.

The service here is the whole thing, as `hotline-api serve` runs it: its own database (a second one
in the suite's embedded PostgreSQL, migrated by Alembic), its own pools, the LISTEN connection behind
the live stream, the sweeper and the report rollups; data is committed, so each test makes its own
users. Every request the page makes is watched: one to any other origin fails the test, and so does
a script error or a Content-Security-Policy violation. Each test leaves a screenshot in
build/screenshots/ (HOTLINE_SCREENSHOTS to choose another folder).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from hotline_api.app import create_app
from hotline_api.auth.models import User, UserExtension, UserRole
from hotline_api.config import Settings
from hotline_api.db import migrate
from hotline_api.db.embedded import EmbeddedPostgres
from hotline_api.routing import engine as routing_engine
from hotline_api.telephony import credentials
from tests import factories
from tests.conftest import free_port

CONSOLE_DB = "hotline_console"
CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("HOTLINE_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots"))
ALL_DAY = {str(d): ["00:00", "23:59"] for d in range(1, 8)}
_seq = itertools.count(1)


def _exists(path: str) -> bool:
    return Path(path).exists()


def screenshot_folder() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@dataclass
class ConsoleService:
    url: str
    engine: AsyncEngine
    settings: Settings

    async def session(self) -> AsyncSession:
        return AsyncSession(self.engine, expire_on_commit=False)

    async def user(
        self, *roles: str, switchboard: str = "hanoi", extension: str | None = None, name: str | None = None
    ) -> User:
        """A committed user with the test password (factories.PASSWORD)."""
        n = next(_seq)
        async with await self.session() as s:
            user = User(
                username=f"{roles[0].replace('_', '-')}-{os.getpid()}-{n}",
                display_name=name or f"Nguyễn Thị Thử {n}",
                password_hash=factories._PASSWORD_HASH,
                home_switchboard=switchboard,
                languages=["vi"],
                is_active=True,
                roles=[UserRole(role=r) for r in roles],
                extensions=[UserExtension(switchboard_code=switchboard, extension=extension)]
                if extension
                else [],
            )
            s.add(user)
            await s.commit()
            return user

    async def switchboard_secret(self, switchboard: str = "hanoi") -> str:
        """A committed webhook credential for a switchboard (the simulator's)."""
        async with await self.session() as s:
            secret = await factories.switchboard_secret(s, switchboard, f"browser-test-{next(_seq)}")
            await s.commit()
        credentials.clear_cache()
        return secret

    async def token(self, user: User) -> dict[str, str]:
        """Bearer headers for the API as ``user`` (to prepare data the way a client would)."""
        from hotline_api.auth import service as auth

        async with await self.session() as s:
            token, _ = await auth.issue_token(s, user, self.settings, "127.0.0.1")
            await s.commit()
        return {"Authorization": f"Bearer {token}"}

    async def execute(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        async with self.engine.begin() as conn:
            result = await conn.execute(text(sql), params or {})
            return result.all() if result.returns_rows else result.rowcount


@pytest.fixture(scope="session")
def console_database_url(pg_server: EmbeddedPostgres) -> str:
    pg_server.drop_database(CONSOLE_DB)
    pg_server.ensure_database(CONSOLE_DB)
    url = pg_server.url(CONSOLE_DB)
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
async def console(console_database_url: str) -> AsyncIterator[ConsoleService]:
    settings = Settings(
        database_url=console_database_url, data_dir=Path("/nonexistent-test-data"), _env_file=None
    )
    eng = create_async_engine(console_database_url, poolclass=NullPool)
    async with eng.begin() as conn:
        # open around the clock: the tests must not depend on the hour they run at
        import json

        await conn.execute(
            text("UPDATE routing_settings SET opening_hours = CAST(:h AS jsonb)"), {"h": json.dumps(ALL_DAY)}
        )
    routing_engine.clear_cache()
    credentials.clear_cache()
    app = create_app(settings, keyring=factories.KEYRING)  # its own engine and pools: the real service
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    else:
        raise RuntimeError("uvicorn did not start")
    try:
        yield ConsoleService(f"http://127.0.0.1:{port}", eng, settings)
    finally:
        server.should_exit = True
        await task
        await eng.dispose()


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
