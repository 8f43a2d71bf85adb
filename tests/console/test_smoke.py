"""The console's delivery: its files, its headers, sign-in with a wrong password, and an expired session."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from tests import factories
from tests.console.conftest import ConsoleService, sign_in

NEW_PASSWORD = "câu mật khẩu của riêng tôi 2026"


async def test_files_are_served_with_a_strict_policy(console: ConsoleService) -> None:
    async with httpx.AsyncClient(base_url=console.url) as c:
        r = await c.get("/console", follow_redirects=False)
        assert r.status_code == 308 and r.headers["location"] == "/console/"
        r = await c.get("/console/")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        r = await c.get("/console/js/app.js")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"]
        # the API keeps its own stricter policy
        r = await c.get("/healthz")
        assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        # nothing outside the static folder
        r = await c.get("/console/../__init__.py")
        assert r.status_code == 404


async def test_wrong_password_then_sign_in(page: Page, console: ConsoleService) -> None:
    user = await console.user("counsellor", extension="PJSIP/1101")
    await page.goto(f"{console.url}/console/")
    await page.get_by_label("Tên đăng nhập").fill(user.username)
    await page.get_by_label("Mật khẩu").fill("sai-mật-khẩu")
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page.get_by_role("alert")).to_contain_text("Tên đăng nhập hoặc mật khẩu không đúng")
    # the password field is emptied, the user name kept
    await expect(page.get_by_label("Mật khẩu")).to_have_value("")
    await sign_in(page, console, user.username)
    await expect(page.get_by_role("navigation")).to_contain_text("Trực tổng đài")


async def test_an_expired_session_asks_to_sign_in_again(page: Page, console: ConsoleService) -> None:
    user = await console.user("supervisor", switchboard="hanoi")
    await sign_in(page, console, user.username)
    await console.execute(
        "UPDATE auth_tokens SET expires_at = now() - interval '1 minute' WHERE user_id = :u", {"u": user.id}
    )
    # the next request (a screen change, or the wallboard's own refresh) finds the session ended
    await page.evaluate("location.hash = '#/cases'")
    await expect(page.get_by_role("alert")).to_have_text("Phiên làm việc đã hết hạn. Vui lòng đăng nhập lại.")
    await expect(page.get_by_label("Tên đăng nhập")).to_be_visible()
    # nothing of the last screen is left on the page
    await expect(page.get_by_role("navigation")).to_have_count(0)


async def test_signed_out_after_inactivity(page: Page, console: ConsoleService) -> None:
    user = await console.user("analyst")
    await page.clock.install()
    await sign_in(page, console, user.username)
    await page.clock.fast_forward("29:10")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Bạn còn ở đây không?")
    await page.clock.fast_forward("01:00")
    await expect(page.get_by_role("alert")).to_have_text(
        "Bạn đã được đăng xuất vì không hoạt động trong 30 phút."
    )
    # the session ended on the server too
    rows = await console.execute(
        "SELECT count(*) FROM auth_tokens WHERE user_id = :u AND revoked_at IS NULL", {"u": user.id}
    )
    assert rows[0][0] == 0


async def test_the_language_switch(page: Page, console: ConsoleService) -> None:
    user = await console.user("counsellor", switchboard="angiang", extension="PJSIP/3301")
    await sign_in(page, console, user.username)
    await page.get_by_role("button", name="Chuyển sang tiếng Anh").click()
    await expect(page.get_by_role("link", name="Take calls")).to_be_visible()
    await expect(page.get_by_role("group", name="Taking calls")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("link", name="Take calls")).to_be_visible()
    await page.get_by_role("button", name="Switch to Vietnamese").click()
    await expect(page.get_by_role("link", name="Trực tổng đài")).to_be_visible()


async def test_a_password_given_by_an_admin_is_changed_first(page: Page, console: ConsoleService) -> None:
    user = await console.user("counsellor", extension="PJSIP/1102")
    await console.execute("UPDATE users SET password_must_change = true WHERE id = :u", {"u": user.id})
    await page.goto(f"{console.url}/console/")
    await page.get_by_label("Tên đăng nhập").fill(user.username)
    await page.get_by_label("Mật khẩu").fill(factories.PASSWORD)
    await page.get_by_role("button", name="Đăng nhập").click()
    # nothing but the change: no screens to go to, the reason in words
    await expect(page.get_by_role("heading", name="Đổi mật khẩu")).to_be_visible()
    await expect(page.get_by_text("Mật khẩu này do người khác đặt cho bạn")).to_be_visible()
    await expect(page.get_by_role("navigation")).to_have_count(0)
    given = page.get_by_label("Mật khẩu được cấp")
    fresh = page.get_by_label("Mật khẩu mới", exact=True)
    again = page.get_by_label("Nhập lại mật khẩu mới")
    submit = page.get_by_role("button", name="Đổi mật khẩu")
    # mistakes are named beside the field, before anything is sent
    await given.fill(factories.PASSWORD)
    await fresh.fill("ngắn")
    await submit.click()
    await expect(page.get_by_role("alert")).to_have_text("Mật khẩu mới phải có ít nhất 12 ký tự.")
    await expect(fresh).to_have_attribute("aria-invalid", "true")
    await fresh.fill(NEW_PASSWORD)
    await again.fill(NEW_PASSWORD + "!")
    await submit.click()
    await expect(page.get_by_role("alert")).to_have_text("Hai lần nhập mật khẩu mới không khớp nhau.")
    # the server's refusal of a wrong current password, in Vietnamese
    await given.fill("không phải mật khẩu này")
    await again.fill(NEW_PASSWORD)
    await submit.click()
    await expect(page.get_by_role("alert")).to_have_text("Mật khẩu hiện tại không đúng.")
    await expect(given).to_have_attribute("aria-invalid", "true")
    await given.fill(factories.PASSWORD)
    await submit.click()
    # changed, signed in again with it, and at work
    await expect(page.get_by_role("status").filter(has_text="Đã đổi mật khẩu.")).to_be_visible()
    await expect(page.get_by_role("navigation")).to_contain_text("Trực tổng đài")
    await page.get_by_role("button", name="Đăng xuất").click()
    await sign_in(page, console, user.username, NEW_PASSWORD)
    # any user can change their own password from the top bar
    await page.get_by_role("button", name="Đổi mật khẩu").click()
    await expect(page.get_by_label("Mật khẩu hiện tại")).to_be_focused()
    await page.get_by_role("button", name="Huỷ").click()
    await expect(page.get_by_role("navigation")).to_contain_text("Trực tổng đài")
