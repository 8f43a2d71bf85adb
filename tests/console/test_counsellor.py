"""A counsellor's night: sign in, become available, a simulated call is offered and appears by itself,
is answered, ends; the wrap-up is saved, a case is opened and a referral made — all in the browser."""

from __future__ import annotations

import asyncio
import random

import httpx
from playwright.async_api import Page, expect

from hotline_api.telephony.simulator import LiveCallResult, Target, live_call
from tests.console.conftest import SCREENSHOTS, ConsoleService, screenshot_folder, sign_in


async def test_a_call_from_offer_to_referral(page: Page, console: ConsoleService) -> None:
    me = await console.user("counsellor", switchboard="hanoi", extension="PJSIP/1201", name="Trần Thu Hà")
    admin = await console.user("admin")
    secret = await console.switchboard_secret("hanoi")
    # nobody else takes calls at Hà Nội during this test
    await console.execute(
        "UPDATE counsellor_presence SET state = 'offline' WHERE user_id <> :me", {"me": me.id}
    )
    async with httpx.AsyncClient(base_url=console.url, headers=await console.token(admin)) as api:
        r = await api.post(
            "/api/v1/partners",
            json={
                "name": "Trung tâm Công tác xã hội Hà Nội (thử)",
                "kind": "social_protection",
                "province": "01",
            },
        )
        assert r.status_code == 201, r.text
        partner = r.json()["name"]

    await sign_in(page, console, me.username)
    await expect(page.get_by_role("heading", name="Ghi nhận cuộc gọi")).to_be_visible()
    await page.get_by_text("Sẵn sàng", exact=True).click()
    await expect(page.locator(".state-line")).to_contain_text("Sẵn sàng")

    seen: dict[str, asyncio.Event] = {"ringing": asyncio.Event(), "connected": asyncio.Event()}

    async def stage(name: str, result: LiveCallResult) -> None:
        # the call waits at each stage until the test has seen it in the browser
        if name in seen:
            await asyncio.wait_for(seen[name].wait(), 30)

    async with httpx.AsyncClient(timeout=10) as client:
        call = asyncio.create_task(
            live_call(
                client,
                Target(console.url, {"hanoi": secret}),
                "hanoi",
                kind="answered",
                caller="0912345678",
                ivr_seconds=0.3,
                ring_seconds=0.5,
                talk_seconds=0.5,
                leave_seconds=0.2,
                rng=random.Random(7),
                on_stage=stage,
            )
        )
        # offered: it appears by itself, no reload
        await expect(page.get_by_role("heading", name="Cuộc gọi đến — đang đổ chuông")).to_be_visible(
            timeout=15000
        )
        await expect(page.locator(".state-line")).to_contain_text("Đang đổ chuông")
        seen["ringing"].set()
        await expect(page.get_by_role("heading", name="Đang nghe máy")).to_be_visible(timeout=15000)
        # answered by me: I may see the number
        await expect(page.locator(".caller-number")).to_have_text("0912 345 678")
        await expect(page.get_by_text("Lần đầu gọi đến")).to_be_visible()
        await page.screenshot(path=str(screenshot_folder() / "counsellor-on-call.png"))
        seen["connected"].set()
        result = await asyncio.wait_for(call, 30)
    assert result.outcome == "answered" and result.counsellor == "PJSIP/1201"

    # the call ended: wrap-up time
    await expect(page.get_by_role("heading", name="Cuộc gọi vừa kết thúc — ghi nhận")).to_be_visible(
        timeout=15000
    )
    await expect(page.locator(".state-line")).to_contain_text("Ghi nhận sau cuộc gọi")
    form = page.get_by_role("form", name="Ghi nhận cuộc gọi")
    # saving without the required fields says what is missing
    await form.get_by_role("button", name="Lưu ghi nhận").click()
    await expect(form.get_by_role("alert")).to_contain_text("nhóm người gọi")
    await form.get_by_label("Nhóm người gọi").select_option(label="Người thân hoặc bạn bè")
    await form.get_by_label("Loại cuộc gọi").select_option(label="Tin báo")
    await form.get_by_label("Có", exact=True).check()
    await form.get_by_label("Cưỡng bức lao động").check()
    await form.get_by_label("Tỉnh/thành phố").select_option(label="Hà Nội")
    await form.get_by_label("Ghi chú").fill(
        "Người gọi báo em gái bị đưa sang biên giới, hứa hẹn việc làm lương cao."
    )
    await page.screenshot(path=str(SCREENSHOTS / "counsellor-wrap-up.png"))
    await form.get_by_role("button", name="Lưu ghi nhận").click()
    await expect(page.get_by_text("Cuộc gọi này đã được ghi nhận: Tin báo.")).to_be_visible()

    # a case from the wrap-up
    await page.get_by_role("button", name="Mở hồ sơ mới").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Tóm tắt vụ việc").fill("Nghi vấn mua bán người qua biên giới phía Bắc.")
    await dialog.get_by_role("button", name="Mở hồ sơ mới").click()
    await expect(page.get_by_text("Hồ sơ của cuộc gọi: 111-")).to_be_visible()

    # and a referral of it
    referral = page.get_by_role("form", name="Chuyển gửi hỗ trợ")
    await referral.get_by_label("Đơn vị tiếp nhận").select_option(label=f"{partner} (Cơ sở bảo trợ xã hội)")
    await referral.get_by_label("Loại hỗ trợ").select_option(index=1)
    await referral.get_by_role("button", name="Tạo chuyển gửi").click()
    await expect(page.locator(".call-panel").get_by_text(f"Đã tạo chuyển gửi tới {partner}.")).to_be_visible()

    rows = await console.execute(
        "SELECT cr.contact_type, cr.trafficking_related, c.reference, r.status "
        "FROM calls k JOIN contact_records cr ON cr.call_id = k.id JOIN cases c ON c.id = cr.case_id "
        "JOIN referrals r ON r.case_id = c.id WHERE k.linkedid = :l",
        {"l": result.linkedid},
    )
    assert len(rows) == 1
    contact_type, related, reference, status = rows[0]
    assert (contact_type, related) == ("tip", True)
    assert reference.startswith("111-")
    assert status in ("draft", "sent")
    # my case is listed
    await expect(page.get_by_role("link", name=reference)).to_be_visible()
