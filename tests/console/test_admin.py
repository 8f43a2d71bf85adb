"""The administrator's screen in the browser: users with one-time passwords, switchboard credentials
whose secret is shown once and really opens the webhooks, allowed networks, code lists, partners, the
quarantine and the audit log with its chain verification.

The console's database is shared by every browser test and committed: each test makes its own names,
and gives back what it borrowed (a switchboard's credential places, its allowed networks)."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import httpx
from playwright.async_api import Page, expect
from sqlalchemy import text

from hotline_api.telephony import credentials, intake
from tests import factories
from tests.console.conftest import sign_in
from tests.service import ConsoleService

ONCE = "Chỉ hiển thị MỘT LẦN"


def unique() -> str:
    return uuid.uuid4().hex[:8]


def cdr(linkedid: str) -> dict[str, str]:
    """A CDR as the dialplan's hangup handler posts it (an ended call of last June)."""
    return {
        "src": "02963822123",
        "dst": "111",
        "channel": "PJSIP/trunk-0001",
        "start": "2025-06-01 09:15:02",
        "answer": "2025-06-01 09:15:03",
        "end": "2025-06-01 09:16:02",
        "duration": "60",
        "billsec": "59",
        "disposition": "ANSWERED",
        "uniqueid": linkedid,
        "linkedid": linkedid,
    }


def new_linkedid() -> str:
    return f"admin-test-{time.time():.0f}.{uuid.uuid4().int % 100000}"


async def make_room(console: ConsoleService, switchboard: str) -> None:
    """Two credentials at most may be active per switchboard: revoke what earlier tests left."""
    await console.execute(
        "UPDATE switchboard_credentials SET revoked_at = now(), revoked_by = 'test:make-room' "
        "WHERE switchboard_code = :b AND revoked_at IS NULL",
        {"b": switchboard},
    )
    credentials.clear_cache()


def quarantine_id(response: httpx.Response) -> int:
    """The number the webhook's refusal gives the body it kept: "… (kept in quarantine as #12)"."""
    found = re.search(r"kept in quarantine as #(\d+)", response.json()["error"]["message"])
    assert found, response.text
    return int(found[1])


def row_of(page: Page, cell: str) -> Any:
    """The table row with a cell holding exactly this text."""
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=cell, exact=True))


async def open_tab(page: Page, name: str) -> None:
    await page.get_by_role("tab", name=name).click()
    await expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")


async def secret_of_dialog(page: Page) -> str:
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(ONCE)
    return (await dialog.locator(".secret").inner_text()).strip()


async def close_once(page: Page) -> None:
    await page.get_by_role("dialog").get_by_role("button", name="Tôi đã ghi lại — Đóng").click()
    await expect(page.get_by_role("dialog")).to_have_count(0)


async def test_a_switchboard_credential_is_shown_once_and_opens_the_webhooks(
    page: Page, console: ConsoleService
) -> None:
    admin = await console.user("admin", name="Đỗ Minh Quản")
    await make_room(console, "angiang")
    label = f"relay-{unique()}"
    await sign_in(page, console, admin.username)
    await open_tab(page, "Tổng đài và khoá")
    board = page.locator("section[data-board=angiang]")
    await expect(board.get_by_role("heading", name="An Giang")).to_be_visible()
    await expect(board).to_contain_text("Chưa có khoá nào đang dùng")

    await board.get_by_label("Nhãn (khoá dùng cho gì)").fill(label)
    await board.get_by_role("button", name="Cấp khoá mới").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Khoá webhook mới — An Giang")
    secret = await secret_of_dialog(page)
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]{44}", secret), secret
    # how to put it in Asterisk, without repeating the secret in the instructions
    await expect(dialog).to_contain_text("HOTLINE_SECRET=<khoá>")
    await expect(dialog).to_contain_text("username = angiang")
    assert (await dialog.inner_text()).count(secret) == 1

    # the secret really opens An Giang's webhooks (HTTP Basic, as CURL() sends it), and no other's
    linkedid = new_linkedid()
    async with httpx.AsyncClient(base_url=console.url) as client:
        r = await client.post("/webhooks/asterisk/angiang/cdr", json=cdr(linkedid), auth=("angiang", secret))
        assert r.status_code == 200, r.text
        assert r.json() == {"received": 1, "stored": 1, "duplicates": 0}
        r = await client.post(
            "/webhooks/asterisk/hanoi/cdr", json=cdr(new_linkedid()), auth=("hanoi", secret)
        )
        assert r.status_code == 401, r.text
    rows = await console.execute("SELECT switchboard_code FROM calls WHERE linkedid = :l", {"l": linkedid})
    assert rows == [("angiang",)]

    await close_once(page)
    # gone from the page once the dialog is closed; the list shows the credential without it
    assert secret not in await page.content()
    row = board.get_by_role("row").filter(has_text=label)
    await expect(row).to_contain_text("Đang dùng")
    await expect(board).to_contain_text("Đang dùng 1/2 khoá.")
    cred_id = (
        await console.execute("SELECT id FROM switchboard_credentials WHERE label = :l", {"l": label})
    )[0][0]
    await expect(row).to_contain_text(cred_id)
    assert secret not in await page.content()

    # allowed networks: a network the test client is not in shuts the door, an empty list opens it
    try:
        networks = board.get_by_label("Mạng được phép của An Giang")
        await networks.fill("203.0.113.7/24\n2001:db8::/32")
        await board.get_by_role("button", name="Lưu mạng được phép").click()
        await expect(page.get_by_role("status").filter(has_text="Đã lưu mạng được phép")).to_contain_text(
            "203.0.113.0/24, 2001:db8::/32"
        )
        await expect(board).to_contain_text("đổi lúc")
        await expect(networks).to_have_value("203.0.113.0/24\n2001:db8::/32")
        async with httpx.AsyncClient(base_url=console.url) as client:
            r = await client.post(
                "/webhooks/asterisk/angiang/cdr", json=cdr(new_linkedid()), auth=("angiang", secret)
            )
            assert r.status_code in (401, 403), r.text
        # a mistyped network is refused, and said so beside the field
        await networks.fill("203.0.113.300/24")
        await board.get_by_role("button", name="Lưu mạng được phép").click()
        await expect(board.get_by_role("alert")).to_contain_text("Mạng được phép của An Giang")
        await expect(networks).to_have_attribute("aria-invalid", "true")
        await networks.fill("")
        await board.get_by_role("button", name="Lưu mạng được phép").click()
        await expect(networks).to_have_value("")
        await expect(board).to_contain_text(f"bởi user:{admin.username}")
    finally:
        await console.execute("UPDATE switchboards SET allowed_networks = '{}' WHERE code = 'angiang'")
        credentials.clear_cache()

    # revoked after a confirmation: the secret opens nothing any more
    await row.get_by_role("button", name="Thu hồi").click()
    confirm = page.get_by_role("dialog")
    await expect(confirm).to_contain_text("trong vòng 5 giây")
    await confirm.get_by_role("button", name="Thu hồi").click()
    await expect(board).to_contain_text("Chưa có khoá nào đang dùng")
    await board.get_by_text("Khoá đã thu hồi").click()
    await expect(board.get_by_role("row").filter(has_text=label)).to_contain_text("Đã thu hồi")
    async with httpx.AsyncClient(base_url=console.url) as client:
        r = await client.post(
            "/webhooks/asterisk/angiang/cdr", json=cdr(new_linkedid()), auth=("angiang", secret)
        )
        assert r.status_code == 401, r.text
    assert secret not in await page.content()


async def test_an_admin_creates_a_user_whose_one_time_password_signs_in(
    page: Page, console: ConsoleService
) -> None:
    admin = await console.user("admin")
    username = f"lan.tran.{unique()}"
    extension = f"PJSIP/2{uuid.uuid4().int % 100000:05d}"
    await sign_in(page, console, admin.username)
    # the admin's first screen is the users tab
    await expect(page.get_by_role("tab", name="Người dùng và vai trò")).to_have_attribute(
        "aria-selected", "true"
    )
    await page.get_by_role("button", name="Thêm người dùng").click()
    form = page.get_by_role("dialog")
    await form.get_by_label("Tên đăng nhập").fill(username)
    await form.get_by_label("Họ và tên").fill("Trần Thị Lan")
    await form.get_by_label("Tư vấn viên").check()
    await form.get_by_label("Giám sát viên", exact=True).check()
    await form.get_by_label("Tổng đài chính").select_option("danang")
    await form.get_by_label("Số máy lẻ tại Đà Nẵng").fill(extension)
    await form.get_by_label("Ngôn ngữ").fill("vi, km")
    await form.get_by_role("button", name="Thêm người dùng").click()

    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(f"Mật khẩu dùng một lần của {username}")
    await expect(dialog).to_contain_text("Trao mật khẩu này trực tiếp cho Trần Thị Lan")
    password = await secret_of_dialog(page)
    assert len(password) >= 12
    await close_once(page)
    assert password not in await page.content()
    row = page.get_by_role("row").filter(has_text=username)
    await expect(row).to_contain_text("Tư vấn viên, Giám sát viên")
    await expect(row).to_contain_text(f"Đà Nẵng: {extension}")
    await expect(row).to_contain_text("Đang hoạt động")

    async with httpx.AsyncClient(base_url=console.url) as client:
        r = await factories.login(client, username, password)
        assert r.status_code == 200, r.text
        me = r.json()["user"]
        assert me["roles"] == ["counsellor", "supervisor"]
        assert me["home_switchboard"] == "danang"
        assert me["extensions"] == [{"switchboard": "danang", "extension": extension}]
        assert me["languages"] == ["vi", "km"]
        token = r.json()["access_token"]

    # the same user name twice is refused in words, beside the field
    await page.get_by_role("button", name="Thêm người dùng").click()
    form = page.get_by_role("dialog")
    await form.get_by_label("Tên đăng nhập").fill(username)
    await form.get_by_label("Họ và tên").fill("Trần Thị Lan")
    await form.get_by_label("Tư vấn viên").check()
    await form.get_by_role("button", name="Thêm người dùng").click()
    await expect(form.get_by_role("alert")).to_have_text("Tên đăng nhập này đã có người dùng.")
    await expect(form.get_by_label("Tên đăng nhập")).to_have_attribute("aria-invalid", "true")
    await form.get_by_role("button", name="Huỷ").click()

    # a reset gives a new one-time password, once; the old one and the old session end
    await row.get_by_role("button", name="Đặt lại mật khẩu").click()
    await page.get_by_role("dialog").get_by_role("button", name="Đặt lại mật khẩu").click()
    new_password = await secret_of_dialog(page)
    assert new_password != password
    await close_once(page)
    assert new_password not in await page.content()
    async with httpx.AsyncClient(base_url=console.url) as client:
        r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        assert (await factories.login(client, username, password)).status_code == 401
        assert (await factories.login(client, username, new_password)).status_code == 200

    # edit: no longer a supervisor, and disabled
    await row.get_by_role("button", name="Sửa").click()
    form = page.get_by_role("dialog")
    await expect(form.get_by_label("Họ và tên")).to_have_value("Trần Thị Lan")
    await form.get_by_label("Giám sát viên", exact=True).uncheck()
    await form.get_by_label("Tài khoản đang hoạt động").uncheck()
    await form.get_by_role("button", name="Lưu").click()
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await expect(row).to_contain_text("Đã khoá")
    await expect(row.locator("td").nth(2)).to_have_text("Tư vấn viên")
    async with httpx.AsyncClient(base_url=console.url) as client:
        assert (await factories.login(client, username, new_password)).status_code == 401
    changed = await console.execute(
        "SELECT details FROM audit_log WHERE action = 'update' AND object_type = 'user' "
        "AND object_id = (SELECT id::text FROM users WHERE username = :u) ORDER BY id",
        {"u": username},
    )
    assert changed[-1][0]["fields"] == ["roles", "is_active"]

    # filtered by home switchboard
    await page.get_by_label("Tổng đài chính").select_option("hanoi")
    await expect(row_of(page, admin.username)).to_have_count(1)
    await expect(row).to_have_count(0)

    # an admin cannot take away their own admin role nor disable themselves
    await row_of(page, admin.username).get_by_role("button", name="Sửa").click()
    form = page.get_by_role("dialog")
    await expect(form).to_contain_text("Đây là tài khoản của bạn")
    await expect(form.get_by_label("Quản trị viên")).to_be_disabled()
    await expect(form.get_by_label("Tài khoản đang hoạt động")).to_be_disabled()
    await form.get_by_role("button", name="Huỷ").click()


async def test_quarantined_bodies_are_viewed_replayed_and_discarded(
    page: Page, console: ConsoleService
) -> None:
    admin = await console.user("admin")
    await make_room(console, "danang")
    secret = await console.switchboard_secret("danang")
    marker = unique()
    async with httpx.AsyncClient(base_url=console.url, auth=("danang", secret)) as client:
        # not JSON at all
        r = await client.post(
            "/webhooks/asterisk/danang/ari",
            content=f'{{"type": "StasisStart", "marker": "{marker}"'.encode(),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400, r.text
        broken = quarantine_id(r)
        # a CDR without its linkedid
        record = {k: v for k, v in cdr("0").items() if k not in ("linkedid", "uniqueid")}
        r = await client.post("/webhooks/asterisk/danang/cdr", json={**record, "userfield": marker})
        assert r.status_code == 422, r.text
        fixable = quarantine_id(r)

    await sign_in(page, console, admin.username)
    await open_tab(page, "Nội dung bị cách ly")
    await page.get_by_label("Tổng đài", exact=True).select_option("danang")
    first = row_of(page, str(broken))
    second = row_of(page, str(fixable))
    await expect(first).to_contain_text("the body is not valid JSON")
    await expect(first).to_contain_text("Đà Nẵng")
    await expect(first).to_contain_text("ARI")
    await expect(first).to_contain_text("Đang giữ")
    await expect(second).to_contain_text("linkedid is missing")
    await expect(second).to_contain_text("CDR")

    # the body as received, its view audited
    await first.get_by_role("button", name="Xem").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(f"Nội dung bị cách ly #{broken}")
    await expect(dialog.locator("pre")).to_contain_text(f'"marker": "{marker}"')
    await expect(dialog).to_contain_text("đã được ghi vào nhật ký kiểm toán")
    viewed = await console.execute(
        "SELECT actor FROM audit_log WHERE action = 'view_quarantined_body' AND object_id = :q",
        {"q": str(broken)},
    )
    assert viewed == [(f"user:{admin.username}",)]
    # replaying it cannot work: the answer says why, and the body stays held
    await dialog.get_by_role("button", name="Áp dụng lại").click()
    result = page.get_by_role("dialog")
    await expect(result).to_contain_text(f"Kết quả áp dụng lại #{broken}")
    await expect(result.get_by_role("alert")).to_contain_text("Vẫn chưa áp dụng được")
    await result.get_by_role("button", name="Đóng").click()
    await expect(first).to_contain_text("Đang giữ")
    assert marker not in await page.content()  # the body left the page with its dialog

    # discarded, after a confirmation
    await first.get_by_role("button", name="Bỏ").click()
    confirm = page.get_by_role("dialog")
    await expect(confirm).to_contain_text(f"Bỏ nội dung #{broken}?")
    await confirm.get_by_role("button", name="Bỏ").click()
    await expect(first).to_have_count(0)
    await page.get_by_label("Trạng thái").select_option("discarded")
    await expect(first).to_contain_text("Đã bỏ")
    await expect(first).to_contain_text(f"bởi user:{admin.username}")
    await page.get_by_label("Trạng thái").select_option("held")

    # the service learnt to read the second body (here: the stored body is the corrected record,
    # as a fixed parser would have read it); replaying applies it and says what was stored
    linkedid = new_linkedid()
    async with console.engine.begin() as conn:
        await conn.execute(
            text("UPDATE webhook_quarantine SET body_enc = :b WHERE id = :q"),
            {
                "b": factories.KEYRING.encrypt_bytes(
                    json.dumps(cdr(linkedid)).encode(), intake.QUARANTINE_CONTEXT
                ),
                "q": fixable,
            },
        )
    await second.get_by_role("button", name="Áp dụng lại").click()
    result = page.get_by_role("dialog")
    await expect(result.get_by_role("status")).to_have_text(
        "Đã áp dụng: 1 sự kiện nhận được, 1 sự kiện mới được lưu, 0 sự kiện trùng (đã có từ trước)."
    )
    await result.get_by_role("button", name="Đóng").click()
    await expect(second).to_have_count(0)
    rows = await console.execute("SELECT switchboard_code FROM calls WHERE linkedid = :l", {"l": linkedid})
    assert rows == [("danang",)]
    await page.get_by_label("Trạng thái").select_option("replayed")
    await expect(second).to_contain_text("Đã áp dụng lại")
    await make_room(console, "danang")


async def test_a_long_quarantine_is_counted_and_paged(page: Page, console: ConsoleService) -> None:
    """A PBX sending a wrong format fills the quarantine fast: the admin sees how many, page by page."""
    admin = await console.user("admin")
    await make_room(console, "angiang")
    secret = await console.switchboard_secret("angiang")
    marker = unique()
    kept = []
    async with httpx.AsyncClient(base_url=console.url, auth=("angiang", secret)) as client:
        for n in range(103):
            r = await client.post(
                "/webhooks/asterisk/angiang/ari",
                content=f'{{"type": "StasisStart", "marker": "{marker}-{n}"'.encode(),
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 400, r.text
            kept.append(quarantine_id(r))
    [(held,)] = await console.execute(
        "SELECT count(*) FROM webhook_quarantine WHERE switchboard_code = 'angiang' AND status = 'held'"
    )
    assert held >= 103

    await sign_in(page, console, admin.username)
    await open_tab(page, "Nội dung bị cách ly")
    await page.get_by_label("Tổng đài", exact=True).select_option("angiang")
    await expect(page.get_by_text(f"{held} mục khớp bộ lọc, mới nhất trước.")).to_be_visible()
    await expect(page.locator(".admin-list tbody tr")).to_have_count(100)
    await expect(row_of(page, str(kept[-1]))).to_be_visible()
    await expect(row_of(page, str(kept[0]))).to_have_count(0)
    await expect(page.get_by_text("Trang 1", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Mới hơn")).to_be_disabled()
    await page.get_by_role("button", name="Cũ hơn").click()
    await expect(page.get_by_text("Trang 2", exact=True)).to_be_visible()
    await expect(row_of(page, str(kept[0]))).to_be_visible()
    await expect(row_of(page, str(kept[-1]))).to_have_count(0)
    await page.get_by_role("button", name="Mới hơn").click()
    await expect(row_of(page, str(kept[-1]))).to_be_visible()
    # a change of filter starts again from the newest
    await page.get_by_role("button", name="Cũ hơn").click()
    await expect(page.get_by_text("Trang 2", exact=True)).to_be_visible()
    await page.get_by_label("Trạng thái").select_option("discarded")
    await page.get_by_label("Trạng thái").select_option("held")
    await expect(page.get_by_text("Trang 1", exact=True)).to_be_visible()

    await console.execute(
        "UPDATE webhook_quarantine SET status = 'discarded', resolved_at = now(), "
        "resolved_by = 'test:paging' WHERE id = ANY(:ids)",
        {"ids": kept},
    )


async def test_the_audit_log_and_its_chain(page: Page, console: ConsoleService) -> None:
    admin = await console.user("admin", name="Phan Văn Kiểm")
    async with httpx.AsyncClient(base_url=console.url, headers=await console.token(admin)) as api:
        r = await api.post(
            "/api/v1/users",
            json={
                "username": f"audit.{unique()}",
                "display_name": "Lý Thị Hồng",
                "roles": ["analyst"],
                "home_switchboard": "hanoi",
            },
        )
        assert r.status_code == 201, r.text
        created = r.json()["user"]["id"]
    await sign_in(page, console, admin.username)
    await open_tab(page, "Nhật ký kiểm toán")
    # newest first: the admin's own sign-in heads the log
    entries = page.locator("table").filter(has_text="Người thực hiện")
    first_row = entries.locator("tbody tr").first
    await expect(first_row).to_contain_text("Đăng nhập")
    await expect(first_row).to_contain_text("Phan Văn Kiểm")

    await page.get_by_label("Hành động").fill("create")
    await page.get_by_label("Loại đối tượng").select_option("user")
    await page.get_by_role("button", name="Lọc").click()
    row = entries.get_by_role("row").filter(has_text=f"Người dùng {created}")
    await expect(row).to_contain_text("Tạo")
    await expect(row).to_contain_text("Phan Văn Kiểm")
    await expect(row).to_contain_text('"roles":["analyst"]')

    # paging: the log holds more than a page (sign-ins through the API add to it if needed)
    total = (await console.execute("SELECT count(*) FROM audit_log"))[0][0]
    async with httpx.AsyncClient(base_url=console.url) as client:
        for _ in range(max(0, 25 - total)):
            assert (await factories.login(client, admin.username)).status_code == 200
    await page.get_by_label("Hành động").fill("")
    await page.get_by_label("Loại đối tượng").select_option("")
    await page.get_by_label("Số mục mỗi trang").select_option("20")
    await page.get_by_role("button", name="Lọc").click()
    await expect(page.get_by_text("Trang 1", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Cũ hơn").click()
    await expect(page.get_by_text("Trang 2", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Mới hơn").click()
    await expect(page.get_by_text("Trang 1", exact=True)).to_be_visible()

    await page.get_by_role("button", name="Kiểm tra chuỗi").click()
    result = page.locator(".verify-result")
    await expect(result).to_contain_text("Chuỗi nhật ký nguyên vẹn")
    assert re.search(r"đã kiểm tra \d+ mục", await result.inner_text())

    # an altered entry is found and named (the trigger that keeps the log append-only is set
    # aside by the database's owner for the test, and the entry restored after)
    target: Any = (
        await console.execute(
            "SELECT id, client_address FROM audit_log WHERE action = 'create' AND object_id = :o",
            {"o": str(created)},
        )
    )[0]

    async def set_address(value: str | None) -> None:
        async with console.engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(
                text("UPDATE audit_log SET client_address = :a WHERE id = :i"), {"a": value, "i": target[0]}
            )

    await set_address("203.0.113.66")
    try:
        await page.get_by_role("button", name="Kiểm tra chuỗi").click()
        await expect(result).to_contain_text(f"Chuỗi nhật ký bị phá vỡ tại mục #{target[0]}")
        await expect(result).to_contain_text("was altered after it was written")
        await result.get_by_role("button", name=f"Xem quanh mục #{target[0]}").click()
        await expect(entries.get_by_role("row").filter(has_text="203.0.113.66")).to_contain_text(
            str(target[0])
        )
    finally:
        await set_address(target[1])
    await page.get_by_role("button", name="Kiểm tra chuỗi").click()
    await expect(result).to_contain_text("Chuỗi nhật ký nguyên vẹn")


async def test_code_lists_and_the_partner_directory(page: Page, console: ConsoleService) -> None:
    admin = await console.user("admin")
    code = f"thu_{unique()}"
    await sign_in(page, console, admin.username)
    await open_tab(page, "Danh mục mã")
    await page.get_by_role("button", name="Hình thức mua bán người").click()
    detail = page.locator(".code-list")
    await expect(detail.get_by_role("heading")).to_have_text("Hình thức mua bán người")
    await expect(detail.get_by_role("row").filter(has_text="forced_marriage")).to_contain_text(
        "Forced marriage"
    )
    await detail.get_by_role("button", name="Thêm mã").click()
    form = page.get_by_role("dialog")
    await form.get_by_label("Mã", exact=True).fill(code)
    await form.get_by_label("Nhãn tiếng Việt").fill("Lừa đảo trực tuyến (thử)")
    await form.get_by_label("Nhãn tiếng Anh").fill("Online scam (test)")
    await form.get_by_role("button", name="Thêm mã").click()
    row = detail.get_by_role("row").filter(has_text=code)
    await expect(row).to_contain_text("Lừa đảo trực tuyến (thử)")
    await expect(row).to_contain_text("Đang dùng")

    await row.get_by_role("button", name="Sửa").click()
    form = page.get_by_role("dialog")
    await form.get_by_label("Nhãn tiếng Việt").fill("Lừa đảo qua mạng (thử)")
    await form.get_by_role("button", name="Lưu").click()
    await expect(row).to_contain_text("Lừa đảo qua mạng (thử)")
    await row.get_by_role("button", name="Ngừng dùng").click()
    await page.get_by_role("dialog").get_by_role("button", name="Ngừng dùng").click()
    await expect(row).to_contain_text("Đã ngừng dùng")
    await expect(row.get_by_role("button", name="Dùng lại")).to_be_visible()
    listed = await console.execute(
        "SELECT label_vi, retired_in IS NOT NULL FROM codes WHERE list_name = 'trafficking_form' AND code = :c",
        {"c": code},
    )
    assert listed == [("Lừa đảo qua mạng (thử)", True)]

    # a list the service's rules rely on keeps its codes
    await page.get_by_role("button", name="Loại cuộc gọi").click()
    await (
        detail.get_by_role("row")
        .filter(has_text="wrong_number")
        .get_by_role("button", name="Ngừng dùng")
        .click()
    )
    await page.get_by_role("dialog").get_by_role("button", name="Ngừng dùng").click()
    await expect(page.get_by_role("alert").filter(has_text="không thể ngừng dùng")).to_be_visible()
    await expect(detail.get_by_role("row").filter(has_text="wrong_number")).to_contain_text("Đang dùng")

    # the partner directory: add with a contact point, find it without diacritics, edit
    name = f"Hội Liên hiệp Phụ nữ xã Thử {unique()}"
    await open_tab(page, "Danh bạ đối tác")
    await page.get_by_role("button", name="Thêm đối tác").click()
    form = page.get_by_role("dialog")
    await form.get_by_label("Tên tổ chức").fill(name)
    await form.get_by_label("Loại đối tác").select_option("womens_union")
    await form.get_by_label("Tỉnh, thành phố").select_option("01")
    await form.get_by_role("button", name="Thêm đầu mối").click()
    await form.get_by_label("Người hoặc bộ phận").fill("Trực ban")
    await form.get_by_label("Điện thoại").fill("0243 8252 777")
    await form.get_by_role("button", name="Thêm đối tác").click()
    await expect(page.get_by_role("dialog")).to_have_count(0)

    await page.get_by_label("Tìm theo tên").fill(name.replace("Hội Liên hiệp Phụ nữ", "hoi lien hiep phu nu"))
    await page.get_by_role("button", name="Lọc").click()
    row = page.get_by_role("row").filter(has_text=name)
    await expect(row).to_contain_text("Hà Nội")
    await expect(row).to_contain_text("Đang hợp tác")
    await expect(row.locator("td").nth(3)).to_have_text("1")

    await row.get_by_role("button", name="Sửa").click()
    form = page.get_by_role("dialog")
    await expect(form.get_by_label("Điện thoại")).to_have_value("0243 8252 777")
    await form.get_by_label("Đối tác đang hợp tác").uncheck()
    await form.get_by_role("button", name="Xoá đầu mối 1").click()
    await form.get_by_role("button", name="Lưu").click()
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await expect(row).to_contain_text("Ngừng hợp tác")
    await expect(row.locator("td").nth(3)).to_have_text("0")
    # a wrong phone number is refused beside its field
    await row.get_by_role("button", name="Sửa").click()
    form = page.get_by_role("dialog")
    await form.get_by_role("button", name="Thêm đầu mối").click()
    await form.get_by_label("Người hoặc bộ phận").fill("Chủ tịch")
    await form.get_by_label("Điện thoại").fill("không có số")
    await form.get_by_role("button", name="Lưu").click()
    await expect(form.get_by_role("alert")).to_contain_text("Điện thoại")
    await expect(form.get_by_label("Điện thoại")).to_have_attribute("aria-invalid", "true")
    await form.get_by_role("button", name="Huỷ").click()
    audited = await console.execute(
        "SELECT details FROM audit_log WHERE object_type = 'partner' AND action = 'update' "
        "AND object_id = (SELECT id::text FROM partners WHERE name = :n)",
        {"n": name},
    )
    assert [sorted(d[0]["fields"]) for d in audited] == [["active", "contact_points"]]


async def test_the_tabs_work_by_keyboard_and_in_english(page: Page, console: ConsoleService) -> None:
    admin = await console.user("admin")
    await sign_in(page, console, admin.username)
    tab = page.get_by_role("tab", name="Người dùng và vai trò")
    await tab.focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("tab", name="Tổng đài và khoá")).to_be_focused()
    await expect(page).to_have_url(re.compile(r"#/admin/switchboards$"))
    await page.keyboard.press("End")
    await expect(page.get_by_role("tab", name="Nhật ký kiểm toán")).to_be_focused()
    await expect(page.get_by_role("heading", name="Nhật ký kiểm toán", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Chuyển sang tiếng Anh").click()
    await expect(page.get_by_role("tab", name="Audit log")).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_role("button", name="Verify the chain")).to_be_visible()
    for name, heading in [
        ("Users and roles", "Users and roles"),
        ("Switchboards and credentials", "Switchboards, webhook credentials and allowed networks"),
        ("Code lists", "Code lists"),
        ("Partner directory", "Partner directory"),
        ("Quarantine", "Quarantined webhook bodies"),
    ]:
        await page.get_by_role("tab", name=name).click()
        await expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")
        await expect(page.locator("#ad-panel h2")).to_have_text(heading)
    await expect(page.get_by_label("Status")).to_be_visible()
    await page.get_by_role("button", name="Switch to Vietnamese").click()
    await expect(page.get_by_role("tab", name="Nội dung bị cách ly")).to_have_attribute(
        "aria-selected", "true"
    )
