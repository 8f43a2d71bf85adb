"""The reports dashboard: an analyst sees the headline figures of a period, charts with Vietnamese
labels, small cells suppressed as sent with their legend, an English switch, and downloads the XLSX
of the same filters; no phone number ever reaches the page. A supervisor sees the workload table,
an analyst does not.

The data is put in a month nobody else uses (February 2021) of the console's committed database,
once for the module, and the report rollup is refreshed as the service's refresher would do it."""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.auth.models import User
from hotline_api.calls.models import Call
from hotline_api.cases.models import Case, CasePerson, ContactRecord, Partner, Referral
from hotline_api.reports import rollup
from tests import factories
from tests.console.conftest import ConsoleService, screenshot_folder, sign_in

VN = ZoneInfo("Asia/Ho_Chi_Minh")
FIRST, LAST = "2021-02-01", "2021-02-28"
PHONE = "0912345678"  # every call of the month came from it: it must never show
_n = itertools.count(1)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2021, 2, day, hour, 0, tzinfo=VN)


async def call(
    s: AsyncSession,
    start: datetime,
    outcome: str,
    *,
    wait: float = 0,
    talk: float = 0,
    board: str = "hanoi",
    counsellor: int | None = None,
) -> Call:
    c = Call(
        switchboard_code=board,
        linkedid=f"analyst.{os.getpid()}.{next(_n)}",
        started_at=start,
        last_event_at=start,
        dialled_number="111" if board == "hanoi" else "18001567",
        caller_number_enc=factories.KEYRING.encrypt(PHONE, "calls.caller_number"),
        caller_hash=factories.KEYRING.keyed_hash(PHONE, "phone"),
        caller_at=start,
        caller_region="north" if board == "hanoi" else "central",
    )
    if outcome in ("answered", "abandoned", "timeout"):
        c.wait_started_at = start
        if outcome == "answered":
            c.answered_at = start + timedelta(seconds=wait)
            c.ended_at = c.answered_at + timedelta(seconds=talk)
            c.counsellor_user_id = counsellor
            c.answered_switchboard = board
        else:
            c.ended_at = start + timedelta(seconds=wait)
            if outcome == "timeout":
                c.timed_out_at = c.ended_at
    elif outcome == "not_queued":
        c.ivr_answered_at = start
        c.ended_at = start + timedelta(seconds=20)
    s.add(c)
    await s.flush()
    await s.refresh(c)
    assert c.outcome == outcome
    return c


@dataclass
class Month:
    counsellor: User


async def refresh_rollup(console: ConsoleService, days: list[date]) -> None:
    """The service's refresher, now: under its lock (the service may hold it for a moment)."""
    for _ in range(100):
        async with await console.session() as s:
            if await rollup.refresh(s) is not None:
                await rollup.recompute(s, days)
                await s.commit()
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the report rollup stayed locked")


@pytest.fixture(scope="module")
async def february(console: ConsoleService) -> Month:
    """43 calls in February 2021: Hà Nội 25 answered (20 within 20 s), 6 abandoned, 3 timed out,
    2 ended before waiting; Đà Nẵng 5 answered, 2 abandoned. 20 contact records (15 trafficking-
    related), 8 cases with a destination country, 13 referrals, routing decisions for 8 calls."""
    counsellor = await console.user("counsellor", switchboard="hanoi", name="Trần Thị Tư Vấn")
    async with await console.session() as s:
        answered: list[Call] = []
        for i in range(25):
            answered.append(
                await call(
                    s, at(1 + i), "answered", wait=10 if i < 20 else 40, talk=300, counsellor=counsellor.id
                )
            )
        abandoned = [await call(s, at(1 + i, 14), "abandoned", wait=15 if i < 3 else 60) for i in range(6)]
        for i in range(3):
            await call(s, at(10 + i, 16), "timeout", wait=600)
        for i in range(2):
            await call(s, at(20 + i, 16), "not_queued")
        for i in range(5):
            await call(s, at(3 + i, 9), "answered", wait=5, talk=120, board="danang")
        danang_abandoned = [
            await call(s, at(5 + i, 11), "abandoned", wait=30, board="danang") for i in range(2)
        ]

        cases = []
        for i in range(8):
            case = Case(
                reference=f"BC21-{os.getpid() % 100000}-{i}",
                switchboard_code="hanoi",
                region="north",
                status="open",
            )
            s.add(case)
            await s.flush()
            s.add(CasePerson(case_id=case.id, role="victim", destination_country="CN" if i < 6 else "KH"))
            cases.append(case)
        # caller categories 9/6/5; contact types 10/6/4 (4 is "<5", so 6 is hidden too: "x")
        categories = ["victim"] * 9 + ["relative_or_friend"] * 6 + ["community_member"] * 5
        types = ["tip"] * 10 + ["crisis"] * 6 + ["counselling"] * 4
        for i, (category, kind) in enumerate(zip(categories, types, strict=True)):
            related = category != "community_member"
            forms = (["forced_labour"] if i < 9 else ["sexual_exploitation"]) if related else []
            if i in (0, 1):
                forms = [*forms, "forced_marriage"]
            s.add(
                ContactRecord(
                    call_id=answered[i].id,
                    switchboard_code="hanoi",
                    author_user_id=counsellor.id,
                    caller_category=category,
                    contact_type=kind,
                    trafficking_related=related,
                    trafficking_forms=forms,
                    case_id=cases[i].id if i < len(cases) else None,
                )
            )
        partner = Partner(name="Công an tỉnh (thử nghiệm báo cáo)", kind="police")
        s.add(partner)
        await s.flush()
        # 13 referrals: types 6/5/2, statuses done 6, accepted 5, sent 2
        kinds = ["rescue_investigation"] * 6 + ["legal_aid"] * 5 + ["medical"] * 2
        statuses = ["done"] * 6 + ["accepted"] * 5 + ["sent"] * 2
        for i, (kind, status) in enumerate(zip(kinds, statuses, strict=True)):
            sent = at(2 + i, 12)
            s.add(
                Referral(
                    case_id=cases[i % len(cases)].id,
                    partner_id=partner.id,
                    referral_type=kind,
                    status=status,
                    consent="given",
                    created_at=sent,
                    status_changed_at=sent,
                    sent_at=sent,
                    accepted_at=sent + timedelta(hours=4) if status != "sent" else None,
                    done_at=sent + timedelta(hours=48) if status == "done" else None,
                    outcome="rescued" if status == "done" else None,
                )
            )
        await s.commit()
        decisions = [(c, "queue", "after_hours") for c in abandoned] + [
            (c, "transfer", "overflow_no_counsellor") for c in danang_abandoned
        ]
    for c, action, reason in decisions:
        await console.execute(
            "INSERT INTO routing_decisions (at, switchboard_code, call_id, action, reason, inputs) "
            "VALUES (:at, :board, :call, :action, :reason, '{}'::jsonb)",
            {
                "at": c.started_at,
                "board": c.switchboard_code,
                "call": c.id,
                "action": action,
                "reason": reason,
            },
        )
    await refresh_rollup(console, [date(2021, 2, d) for d in range(1, 29)])
    return Month(counsellor)


async def show_february(page: Page) -> None:
    await page.get_by_label("Từ ngày").fill(FIRST)
    await page.get_by_label("Đến ngày").fill(LAST)
    await page.get_by_role("button", name="Xem báo cáo").click()


def tile(page: Page, name: str) -> Any:
    return page.locator(".tile", has=page.get_by_text(name, exact=True)).locator(".value")


async def test_an_analyst_sees_the_month_charts_and_downloads_it(
    page: Page, console: ConsoleService, february: Month
) -> None:
    analyst = await console.user("analyst")
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    await sign_in(page, console, analyst.username)
    await expect(page.get_by_role("heading", name="Báo cáo thống kê")).to_be_visible()
    # the current month so far, Vietnamese time, by default
    first = await page.get_by_label("Từ ngày").input_value()
    assert re.fullmatch(r"\d{4}-\d{2}-01", first)
    assert (await page.get_by_label("Đến ngày").input_value()).startswith(first[:8])

    await show_february(page)
    # the headline figures of the month, suppressed for an analyst where small
    await expect(tile(page, "Tổng số cuộc gọi")).to_have_text("43")
    await expect(tile(page, "Đã trả lời")).to_have_text("30")
    await expect(tile(page, "Tỷ lệ trả lời")).to_have_text("73,2 %")  # 30 ÷ (30 + 8 + 3)
    await expect(tile(page, "Mức phục vụ (trả lời ≤ 20 giây)")).to_have_text("83,3 %")  # 25 ÷ 30
    await expect(tile(page, "Bỏ máy khi đang chờ")).to_have_text("8")
    await expect(tile(page, "Chờ trung bình (phút:giây)")).to_have_text("1:01")  # 2,510 s ÷ 41
    await expect(tile(page, "Đàm thoại trung bình (phút:giây)")).to_have_text("4:30")
    await expect(tile(page, "Phiếu ghi nhận cuộc gọi")).to_have_text("20")
    await expect(tile(page, "Liên quan đến mua bán người")).to_have_text("15")
    await expect(tile(page, "Chuyển tuyến")).to_have_text("13")
    await expect(page.get_by_role("heading", name="01/02/2021 – 28/02/2021")).to_be_visible()

    # suppressed cells as sent, with the legend that explains them
    legend = page.get_by_role("note")
    await expect(legend).to_contain_text("Số liệu được bảo vệ")
    await expect(legend).to_contain_text("số từ 1 đến 4")
    outcomes = page.locator("section[aria-labelledby=an-outcomes-title] table")
    await expect(outcomes.get_by_role("row", name=re.compile("^Hết thời gian chờ"))).to_contain_text("<5")
    types = page.locator("[aria-labelledby=an-b-contact_type] table")
    await expect(types.get_by_role("row", name=re.compile("^Tư vấn"))).to_contain_text("<5")
    await expect(types.get_by_role("row", name=re.compile("^Khẩn cấp"))).to_contain_text("x")
    await expect(types.get_by_role("row", name=re.compile("^Tin báo"))).to_contain_text("10")

    # the charts: inline SVG images with their titles and Vietnamese labels
    charts = page.locator("svg.chart[role=img]")
    assert await charts.count() >= 10
    over_time = page.locator("section[aria-labelledby=an-calls-title] svg.chart")
    await expect(over_time.locator("title").first).to_have_text("Cuộc gọi theo thời gian")
    # per day every day had fewer than five calls: 25 hatched stubs marked "<5", no number drawn
    await expect(over_time.locator("g.column")).to_have_count(28)  # every day, 26–28 without calls
    await expect(over_time.locator("rect.cell-hidden")).to_have_count(25)
    await expect(over_time.locator("text.mark")).to_have_text(["<5"] * 25)
    await expect(over_time.locator("rect.bar")).to_have_count(0)
    # per month: one column, answered and abandoned drawn, the two hidden outcomes hatched on top
    await page.get_by_label("Gộp theo", exact=True).select_option(label="Tháng")
    await expect(over_time.locator("rect.bar.s1")).to_have_count(1)
    await expect(over_time.locator("rect.bar.s2")).to_have_count(1)
    await expect(over_time.locator("rect.cell-hidden")).to_have_count(1)
    periods = page.locator("section[aria-labelledby=an-calls-title] table")
    await expect(periods.locator("tr", has_text="Tháng 2/2021")).to_contain_text("43")
    categories = page.locator("[aria-labelledby=an-b-caller_category] svg")
    await expect(categories.locator("text.label")).to_contain_text(
        ["Nạn nhân", "Người thân hoặc bạn bè", "Người dân trong cộng đồng"]
    )
    countries = page.locator("[aria-labelledby=an-b-destination_country] svg")
    await expect(countries.locator("text.label").first).to_have_text("Trung Quốc")
    await expect(countries.locator("rect.cell-hidden").first).to_be_attached()  # Cambodia: "<5"
    await expect(page.locator("[aria-labelledby=an-ref-by_status] svg text.label")).to_contain_text(
        ["Hoàn thành"]
    )
    await page.screenshot(path=str(screenshot_folder() / "analyst-dashboard.png"), full_page=True)

    # an analyst sees neither the workload nor any personal data
    await expect(page.locator("#an-workload")).to_have_count(0)
    await expect(page.get_by_text("Khối lượng công việc")).to_have_count(0)
    assert not any("/reports/workload" in url for url in requested)
    text = await page.locator("body").inner_text()
    assert PHONE not in text and "912345678" not in text
    assert not re.search(r"(?<!\d)(?:\+?84|0)\d{9,10}(?!\d)", text)
    assert "Trần Thị Tư Vấn" not in text

    # the XLSX of the same filters, with its Vietnamese headers
    link = page.get_by_role("link", name="Tải XLSX")
    href = await link.get_attribute("href")
    assert href and f"date_from={FIRST}" in href and f"date_to={LAST}" in href and "format=xlsx" in href
    async with page.expect_download() as info:
        await link.click()
    download = await info.value
    assert download.suggested_filename == f"hotline-report-{FIRST}-{LAST}.xlsx"
    path = await download.path()
    wb = load_workbook(io.BytesIO(path.read_bytes()))
    assert wb.sheetnames[0] == "Bộ lọc"
    assert {"Tổng hợp", "Cuộc gọi theo kỳ", "Người gọi", "Hình thức MBN", "Chuyển tuyến"} <= set(
        wb.sheetnames
    )
    assert "Khối lượng công việc" not in wb.sheetnames
    filters = {row[0]: row[1] for row in wb["Bộ lọc"].iter_rows(values_only=True) if row[0]}
    assert filters["Từ ngày"] == FIRST and filters["Đến ngày"] == LAST
    summary = wb["Tổng hợp"]
    assert [c.value for c in summary[4]] == ["Chỉ số", "Giá trị"]
    values = {row[0]: row[1] for row in summary.iter_rows(min_row=5, values_only=True) if row[0]}
    assert values["Tổng số cuộc gọi"] == 43 and values["Được trả lời"] == 30
    assert values["Hết thời gian chờ"] == "<5"
    callers = wb["Người gọi"]
    assert [c.value for c in callers[4]] == ["Mã", "Nội dung", "Số lượng", "Tỷ lệ (%)"]
    assert ["victim", "Nạn nhân", 9, 45.0] in [
        list(r) for r in callers.iter_rows(min_row=5, values_only=True)
    ]
    cells = " ".join(
        str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row if c
    )
    assert "912345678" not in cells

    # in English, the same month (the filters are kept)
    await page.get_by_role("button", name="Chuyển sang tiếng Anh").click()  # the button "English"
    await expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    await expect(page.get_by_label("From")).to_have_value(FIRST)
    await expect(tile(page, "Calls")).to_have_text("43")
    await expect(tile(page, "Answered rate")).to_have_text("73.2 %")
    await expect(page.get_by_role("note")).to_contain_text("Protected figures")
    over_time = page.locator("section[aria-labelledby=an-calls-title] svg.chart")
    await expect(over_time.locator("title").first).to_have_text("Calls over time")
    await expect(page.locator("[aria-labelledby=an-b-caller_category] svg text.label")).to_contain_text(
        ["Victim", "Relative or friend", "Community member"]
    )
    await expect(
        page.locator("[aria-labelledby=an-b-destination_country] svg text.label").first
    ).to_have_text("China")
    await expect(page.get_by_role("link", name="Download XLSX")).to_have_attribute("href", href)


async def test_a_supervisor_sees_the_workload_of_their_switchboard(
    page: Page, console: ConsoleService, february: Month
) -> None:
    sup = await console.user("supervisor", switchboard="hanoi")
    await sign_in(page, console, sup.username)
    await page.get_by_role("navigation").get_by_role("link", name="Báo cáo").click()
    await expect(page.get_by_role("heading", name="Báo cáo thống kê")).to_be_visible()
    area = page.get_by_label("Khu vực")
    await expect(area).to_be_disabled()
    await expect(area).to_have_value("switchboard:hanoi")
    await show_february(page)
    # their own switchboard, whole: no suppression, no legend
    await expect(tile(page, "Tổng số cuộc gọi")).to_have_text("36")
    await expect(tile(page, "Đã trả lời")).to_have_text("25")
    await expect(page.get_by_role("note")).to_have_count(0)
    outcomes = page.locator("section[aria-labelledby=an-outcomes-title] table")
    await expect(outcomes.get_by_role("row", name=re.compile("^Hết thời gian chờ"))).to_contain_text("3")
    workload = page.locator("#an-workload")
    await expect(workload.get_by_role("heading")).to_have_text("Khối lượng công việc của tư vấn viên")
    row = workload.get_by_role("row", name=re.compile("Trần Thị Tư Vấn"))
    await expect(row).to_contain_text("Hà Nội")
    await expect(row.get_by_role("cell").nth(3)).to_have_text("25")  # calls answered
    await expect(row.get_by_role("cell").nth(4)).to_have_text("2,08")  # 25 × 300 s in hours
    await expect(row.get_by_role("cell").nth(6)).to_have_text("20")  # contact records written
    href = await page.get_by_role("link", name="Tải CSV").get_attribute("href")
    assert href and "switchboard=hanoi" in href and "format=csv" in href
