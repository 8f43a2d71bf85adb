"""The interactive API documentation, /docs (Swagger UI), in the browser: served by the service
itself — nothing fetched from another origin (the `page` fixture fails the test on any such request,
script error or Content-Security-Policy violation) — under the console's policy, which allows
scripts, styles and images from this origin only."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from tests.console.conftest import ConsoleService


async def test_the_pages_carry_no_outside_script_and_a_strict_policy(console: ConsoleService) -> None:
    async with httpx.AsyncClient(base_url=console.url) as c:
        r = await c.get("/docs")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "http://" not in r.text and "https://" not in r.text
        assert "<script>" not in r.text  # no inline script: only <script src=…>
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self';" in csp and "style-src 'self';" in csp
        assert "unsafe" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        r = await c.get("/docs/assets/swagger-ui-bundle.js")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"]
        assert "unsafe-inline" not in r.headers["content-security-policy"]
        assert (await c.get("/docs/assets/../__init__.py")).status_code == 404
        # FastAPI's other pages, which load scripts from CDNs, are gone
        assert (await c.get("/redoc")).status_code == 404
        assert (await c.get("/docs/oauth2-redirect")).status_code == 404


async def test_swagger_ui_shows_the_api(page: Page, console: ConsoleService) -> None:
    await page.goto(f"{console.url}/docs")
    await expect(page.get_by_role("heading", name="hotline-api")).to_be_visible()
    operation = page.locator(".opblock").filter(has_text="/api/v1/quarantine").first
    await expect(operation).to_be_visible()
    await operation.locator(".opblock-summary").first.click()
    await expect(page.get_by_text("page on: the next_before_id of the previous page").first).to_be_visible()
