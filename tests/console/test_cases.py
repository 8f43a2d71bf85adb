"""Case review in the browser: a supervisor finds the case in the list, reads it, reassigns it, adds a
note and moves its referral on; the counsellor's numbers stay hidden from those who may not see them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.console.conftest import ConsoleService, sign_in


async def _case_with_referral(console: ConsoleService) -> tuple[dict[str, Any], dict[str, Any], int]:
    """A case opened from a wrap-up of an answered call at An Giang, with a referral sent."""
    counsellor = await console.user("counsellor", switchboard="angiang", name="Võ Thị Lan")
    admin = await console.user("admin")
    rows = await console.execute(
        "INSERT INTO calls (switchboard_code, linkedid, started_at, last_event_at, wait_started_at, answered_at, "
        "ended_at, counsellor_user_id, answered_switchboard) VALUES ('angiang', 'case-review-' || gen_random_uuid(), "
        "now() - interval '20 minutes', now() - interval '5 minutes', now() - interval '19 minutes', "
        "now() - interval '18 minutes', now() - interval '5 minutes', :u, 'angiang') RETURNING id",
        {"u": counsellor.id},
    )
    call_id = rows[0][0]
    async with httpx.AsyncClient(base_url=console.url, headers=await console.token(counsellor)) as api:
        r = await api.post(
            f"/api/v1/calls/{call_id}/contact",
            json={"caller_category": "victim", "contact_type": "crisis", "trafficking_related": True},
        )
        assert r.status_code == 201, r.text
        r = await api.post(
            "/api/v1/cases", json={"contact_record_id": r.json()["id"], "summary": "Bị giữ tại Campuchia"}
        )
        assert r.status_code == 201, r.text
        case = r.json()
        r = await api.post(
            f"/api/v1/cases/{case['id']}/persons",
            json={
                "role": "victim",
                "name": "Nguyễn Thị Hoa",
                "phone": "0918000333",
                "destination_country": "KH",
            },
        )
        assert r.status_code == 201, r.text
    async with httpx.AsyncClient(base_url=console.url, headers=await console.token(admin)) as api:
        r = await api.post(
            "/api/v1/partners",
            json={"name": f"Bộ đội Biên phòng An Giang (thử {case['id']})", "kind": "border_guard"},
        )
        assert r.status_code == 201, r.text
        partner = r.json()
    async with httpx.AsyncClient(base_url=console.url, headers=await console.token(counsellor)) as api:
        r = await api.post(
            f"/api/v1/cases/{case['id']}/referrals",
            json={"partner_id": partner["id"], "referral_type": "rescue_investigation", "consent": "given"},
        )
        assert r.status_code == 201, r.text
        referral = r.json()
        if referral["status"] == "draft":
            r = await api.post(f"/api/v1/referrals/{referral['id']}/transitions", json={"to": "sent"})
            assert r.status_code == 200, r.text
    return case, partner, counsellor.id


async def test_a_supervisor_reviews_and_reassigns_a_case(page: Page, console: ConsoleService) -> None:
    case, partner, _ = await _case_with_referral(console)
    other = await console.user(
        "counsellor", switchboard="angiang", extension="PJSIP/3402", name="Đặng Minh Khoa"
    )
    await console.execute(
        "INSERT INTO counsellor_presence (user_id, switchboard_code, state, since) VALUES (:u, 'angiang', 'offline', now())",
        {"u": other.id},
    )
    sup = await console.user("supervisor", switchboard="angiang", name="Huỳnh Văn Sơn")
    await sign_in(page, console, sup.username)
    await page.get_by_role("link", name="Hồ sơ vụ việc").click()
    await page.get_by_label("Tìm theo mã hồ sơ").fill(case["reference"])
    await page.get_by_role("button", name="Tìm", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(case["reference"])
    # the supervisor of the switchboard may see the person's number
    await expect(page.get_by_role("cell", name="Nguyễn Thị Hoa")).to_be_visible()
    await page.get_by_label("Phân công cho").select_option(label="Đặng Minh Khoa")
    await page.get_by_role("button", name="Phân công").click()
    await expect(page.get_by_text("Đã phân công hồ sơ.")).to_be_visible()
    await page.get_by_label("Nội dung ghi chú").fill("Đã liên hệ Biên phòng, chờ phản hồi.")
    await page.get_by_role("button", name="Thêm ghi chú").click()
    await expect(page.get_by_text("Đã liên hệ Biên phòng, chờ phản hồi.")).to_be_visible()
    # the referral moves on: accepted by the partner
    await page.get_by_label(f"Chuyển sang: {partner['name']}").select_option(label="Đã tiếp nhận")
    await page.locator("form.move").get_by_role("button", name="Lưu").click()
    await expect(page.get_by_text("Đã cập nhật chuyển gửi.")).to_be_visible()
    rows = await console.execute(
        "SELECT c.assigned_user_id, r.status FROM cases c JOIN referrals r ON r.case_id = c.id WHERE c.id = :c",
        {"c": case["id"]},
    )
    assert rows[0] == (other.id, "accepted")


async def test_a_case_outside_ones_scope_is_not_shown(page: Page, console: ConsoleService) -> None:
    case, _, _ = await _case_with_referral(console)
    far = await console.user("counsellor", switchboard="hanoi", extension="PJSIP/1402")
    await sign_in(page, console, far.username)
    await page.evaluate(f"location.hash = '#/cases/{case['id']}'")
    await expect(page.get_by_role("alert")).to_have_text("Không tìm thấy, hoặc bạn không có quyền xem.")


async def test_a_code_an_admin_adds_reaches_a_signed_in_supervisor(
    page: Page, console: ConsoleService
) -> None:
    """The console keeps the code lists for five minutes, not for the whole shift."""
    case, _, _ = await _case_with_referral(console)
    admin = await console.user("admin")
    sup = await console.user("supervisor", switchboard="angiang")
    code = f"test_{uuid.uuid4().hex[:10]}"
    label_vi = f"Nhóm thử {code[-4:]}"
    await page.clock.install()
    await sign_in(page, console, sup.username)
    await page.evaluate(f"location.hash = '#/cases/{case['id']}'")
    age = page.get_by_label("Nhóm tuổi")
    await expect(age.locator("option").first).to_be_attached()
    async with httpx.AsyncClient(base_url=console.url, headers=await console.token(admin)) as api:
        r = await api.post(
            "/api/v1/codes/age_group", json={"code": code, "label_vi": label_vi, "label_en": "Test"}
        )
        assert r.status_code == 201, r.text
        try:
            # within the five minutes the lists in hand serve
            await page.evaluate("location.hash = '#/cases'")
            await page.evaluate(f"location.hash = '#/cases/{case['id']}'")
            await expect(age.locator("option").first).to_be_attached()
            await expect(age.locator(f"option[value={code}]")).to_have_count(0)
            # after them, the next screen reads them again
            await page.clock.fast_forward("05:30")
            await page.evaluate("location.hash = '#/cases'")
            await page.evaluate(f"location.hash = '#/cases/{case['id']}'")
            await expect(age.locator(f"option[value={code}]")).to_have_text(label_vi)
        finally:
            r = await api.patch(f"/api/v1/codes/age_group/{code}", json={"retired": True})
            assert r.status_code == 200, r.text
