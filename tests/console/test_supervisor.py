"""The supervisor's wallboard: a waiting call appears by itself with its wait and why it waits, and goes
when the caller hangs up; counsellors by state; the routing settings."""

from __future__ import annotations

import asyncio
import random

import httpx
from playwright.async_api import Page, expect

from hotline_api.telephony.simulator import LiveCallResult, Target, live_call
from tests.console.conftest import ConsoleService, screenshot_folder, sign_in


async def test_wallboard_shows_the_waiting_call_and_why(page: Page, console: ConsoleService) -> None:
    sup = await console.user("supervisor", switchboard="danang", name="Lê Văn Giám")
    other = await console.user(
        "counsellor", switchboard="danang", extension="PJSIP/2301", name="Phạm Thị Mai"
    )
    secret = await console.switchboard_secret("danang")
    # nobody takes calls, here or anywhere it could overflow to: the call waits
    await console.execute("UPDATE counsellor_presence SET state = 'offline'")

    await sign_in(page, console, sup.username)
    await expect(page.get_by_role("heading", name="Bảng giám sát — Đà Nẵng")).to_be_visible()
    waiting = page.locator("section[aria-labelledby=waiting-title]")
    await expect(waiting).to_contain_text("Không có cuộc gọi nào đang chờ")

    queued = asyncio.Event()
    seen = asyncio.Event()

    async def stage(name: str, result: LiveCallResult) -> None:
        if name == "queued" and not queued.is_set():
            queued.set()
            await asyncio.wait_for(seen.wait(), 30)  # the caller stays in the queue meanwhile

    async with httpx.AsyncClient(timeout=10) as client:
        call = asyncio.create_task(
            live_call(
                client,
                Target(console.url, {"danang": secret}),
                "danang",
                kind="abandoned",
                caller="02363822111",  # a Đà Nẵng landline: the central region
                ivr_seconds=0.3,
                patience_seconds=1.0,
                leave_seconds=0.2,
                rng=random.Random(11),
                on_stage=stage,
            )
        )
        await asyncio.wait_for(queued.wait(), 20)
        # the call appears on the wallboard without a reload, with its region
        await expect(waiting.get_by_role("cell", name="Miền Trung")).to_be_visible(timeout=10000)
        await expect(waiting.locator("h2 .badge")).to_have_text("1")
        await page.screenshot(path=str(screenshot_folder() / "supervisor-wallboard.png"))
        # why it went where it went
        await waiting.get_by_role("button", name="Vì sao?").first.click()
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_contain_text("Miền Trung — mã vùng")
        await dialog.get_by_role("button", name="Đóng").click()
        seen.set()
        result = await asyncio.wait_for(call, 30)
    assert result.outcome == "abandoned"
    # the caller gave up: the call leaves the board by itself
    await expect(waiting).to_contain_text("Không có cuộc gọi nào đang chờ", timeout=10000)

    # a counsellor who becomes available shows in their state
    async with httpx.AsyncClient(base_url=console.url, headers=await console.token(other)) as api:
        r = await api.put("/api/v1/me/presence", json={"state": "available"})
        assert r.status_code == 200, r.text
    row = page.locator("section[aria-labelledby=counsellors-title] tr", has_text="Phạm Thị Mai")
    await expect(row).to_contain_text("Sẵn sàng", timeout=10000)
    # and the supervisor can send them on a break
    await row.get_by_label("Đổi trạng thái: Phạm Thị Mai").select_option(label="Tạm nghỉ")
    await expect(row).to_contain_text("Tạm nghỉ", timeout=10000)


async def test_routing_settings_are_saved(page: Page, console: ConsoleService) -> None:
    sup = await console.user("supervisor", switchboard="angiang")
    await sign_in(page, console, sup.username)
    settings = page.locator("section[aria-labelledby=settings-title]")
    await expect(settings.get_by_role("heading")).to_have_text("Cài đặt định tuyến — An Giang")
    ring = settings.get_by_label("Thời gian đổ chuông (giây)")
    before = await ring.input_value()
    await ring.fill("25")
    await settings.get_by_role("button", name="Lưu").click()
    await expect(page.get_by_text("Đã lưu cài đặt định tuyến.")).to_be_visible()
    rows = await console.execute(
        "SELECT ring_timeout_seconds, updated_by FROM routing_settings WHERE switchboard_code = 'angiang'"
    )
    assert rows[0][0] == 25 and sup.username in rows[0][1]
    await console.execute(
        "UPDATE routing_settings SET ring_timeout_seconds = :v WHERE switchboard_code = 'angiang'",
        {"v": int(before)},
    )
