"""Reports checked against figures computed by hand on small data: outcomes, rates, service levels,
periods in Vietnamese time (month ends, ISO weeks), a late contact record, an overflowed call counted
once, and suppression for analysts."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.audit.models import AuditEntry
from hotline_api.calls.models import Call, CallOffer
from hotline_api.cases.models import ContactRecord
from hotline_api.reports import rollup
from hotline_api.reports.suppression import Cell, suppress_table
from tests.factories import signed_in

VN = ZoneInfo("Asia/Ho_Chi_Minh")
_n = itertools.count(1)


def local(y: int, mo: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=VN)


async def call(
    session: AsyncSession,
    start: datetime,
    outcome: str,
    wait: float = 0,
    talk: float = 0,
    switchboard: str = "hanoi",
    answered_switchboard: str | None = None,
    dialled: str = "111",
    counsellor: int | None = None,
) -> Call:
    c = Call(
        switchboard_code=switchboard,
        linkedid=f"rep.{next(_n)}",
        started_at=start,
        last_event_at=start,
        dialled_number=dialled,
    )
    if outcome in ("answered", "abandoned", "timeout"):
        c.wait_started_at = start
        if outcome == "answered":
            c.answered_at = start + timedelta(seconds=wait)
            c.ended_at = c.answered_at + timedelta(seconds=talk)
            c.counsellor_user_id = counsellor
            c.answered_switchboard = answered_switchboard or switchboard
        else:
            c.ended_at = start + timedelta(seconds=wait)
            if outcome == "timeout":
                c.timed_out_at = c.ended_at
    elif outcome == "not_queued":
        c.ivr_answered_at = start
        c.ended_at = start + timedelta(seconds=20)
    elif outcome == "failed":
        c.ended_at = start
    session.add(c)
    await session.flush()
    await session.refresh(c)
    assert c.outcome == outcome
    return c


async def record(session: AsyncSession, c: Call, **kw: Any) -> None:
    fields = {"caller_category": "unknown", "contact_type": "counselling", "trafficking_related": False, **kw}
    session.add(ContactRecord(call_id=c.id, switchboard_code=c.switchboard_code, **fields))
    await session.flush()


async def november(session: AsyncSession) -> dict[str, Call]:
    calls = {
        "c1": await call(session, local(2026, 11, 3), "answered", wait=10, talk=300),
        "c2": await call(session, local(2026, 11, 4), "answered", wait=30, talk=100),
        "c3": await call(session, local(2026, 11, 5), "abandoned", wait=15),
        "c4": await call(session, local(2026, 11, 6), "abandoned", wait=40),
        "c5": await call(session, local(2026, 11, 7), "timeout", wait=900),
        "c6": await call(session, local(2026, 11, 8), "not_queued"),
        "c7": await call(session, local(2026, 11, 9), "failed"),
        # 23:30 on the last day of November, Vietnamese time (16:30 UTC): November
        "c9": await call(session, local(2026, 11, 30, 23, 30), "answered", wait=5, talk=60),
        # 00:30 on 1 December, Vietnamese time (17:30 UTC on 30 November): December
        "c10": await call(session, local(2026, 12, 1, 0, 30), "answered", wait=5, talk=60),
        # entered at Đà Nẵng, overflowed and answered at Hà Nội: Đà Nẵng's call, once
        "c8": await call(
            session,
            local(2026, 11, 10),
            "answered",
            wait=5,
            talk=50,
            switchboard="danang",
            answered_switchboard="hanoi",
        ),
    }
    await record(
        session,
        calls["c1"],
        caller_category="relative_or_friend",
        contact_type="tip",
        trafficking_related=True,
        trafficking_forms=["forced_marriage"],
    )
    await record(session, calls["c2"], contact_type="silent")
    await record(
        session,
        calls["c9"],
        caller_category="victim",
        contact_type="crisis",
        trafficking_related=True,
        trafficking_forms=["forced_labour", "sexual_exploitation"],
    )
    assert await rollup.refresh(session) is not None  # the figures as the next refresh gives them
    return calls


NOV = {"date_from": "2026-11-01", "date_to": "2026-11-30"}


def outcomes(figures: dict[str, Any]) -> dict[str, Any]:
    return {r["key"]: r["count"] for r in figures["outcomes"]}


async def test_summary_figures_match_the_hand_computed_ones(client, session):
    await november(session)
    sup = await signed_in(session, "national_supervisor")
    r = await client.get(
        "/api/v1/reports/summary", params={**NOV, "switchboard": "hanoi"}, headers=sup.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    f = body["figures"]
    assert f["calls"] == 8 and body["suppressed"] is False
    assert outcomes(f) == {
        "answered": 3,
        "abandoned": 2,
        "timeout": 1,
        "not_queued": 1,
        "failed": 1,
        "in_progress": 0,
    }
    assert f["answered_rate"] == 0.5  # 3 ÷ (3 + 2 + 1)
    assert f["service_level"] == round(2 / 3, 4)  # 10 s and 5 s within 20 s; 30 s not
    assert f["sl2"] == 0.6  # (2 + 1 abandoned within 20 s) ÷ (3 + 2)
    assert f["avg_wait_seconds"] == round((10 + 30 + 5 + 15 + 40 + 900) / 6, 1)
    assert f["avg_talk_seconds"] == round((300 + 100 + 60) / 3, 1)
    assert body["contact_records"] == 3 and body["trafficking_related"] == 2
    assert body["trafficking_related_pct"] == 66.67
    # the whole country: Đà Nẵng's overflowed call once, at Đà Nẵng
    r = await client.get("/api/v1/reports/calls", params=NOV, headers=sup.headers)
    boards = {p["period"]: p["figures"]["calls"] for p in r.json()["switchboards"]}
    assert boards == {"danang": 1, "hanoi": 8}
    regions = {p["period"]: p["figures"]["calls"] for p in r.json()["regions"]}
    assert regions == {"central": 1, "north": 8}


async def test_month_ends_and_iso_weeks_in_vietnamese_time(client, session):
    await november(session)
    await call(session, local(2026, 11, 29, 12), "answered", wait=1, talk=1)  # Sunday: ISO week 48
    await call(session, local(2027, 1, 1, 12), "answered", wait=1, talk=1)  # Friday: 2026-W53
    await rollup.refresh(session)
    sup = await signed_in(session, "national_supervisor")
    params = {"date_from": "2026-11-01", "date_to": "2027-01-31", "switchboard": "hanoi"}
    months = (
        await client.get(
            "/api/v1/reports/calls", params={**params, "granularity": "month"}, headers=sup.headers
        )
    ).json()
    assert {p["period"]: p["figures"]["calls"] for p in months["periods"]} == {
        "2026-11": 9,
        "2026-12": 1,
        "2027-01": 1,
    }
    weeks = (
        await client.get(
            "/api/v1/reports/calls", params={**params, "granularity": "week"}, headers=sup.headers
        )
    ).json()
    by_week = {p["period"]: p["figures"]["calls"] for p in weeks["periods"]}
    assert by_week["2026-W48"] == 1  # Sunday 29 November
    assert by_week["2026-W49"] == 2  # Monday 30 November 23:30 and Tuesday 1 December 00:30
    assert by_week["2026-W53"] == 1  # Friday 1 January 2027
    days = (
        await client.get(
            "/api/v1/reports/calls", params={**params, "granularity": "day"}, headers=sup.headers
        )
    ).json()
    by_day = {p["period"]: p["figures"]["calls"] for p in days["periods"]}
    assert by_day["2026-11-30"] == 1 and by_day["2026-12-01"] == 1


async def test_breakdowns_count_records_and_a_late_record_shows_up(client, session):
    calls = await november(session)
    sup = await signed_in(session, "supervisor")

    async def breakdowns() -> dict[str, Any]:
        r = await client.get("/api/v1/reports/contacts", params=NOV, headers=sup.headers)
        assert r.status_code == 200, r.text
        return {b["name"]: b for b in r.json()["breakdowns"]}

    b = await breakdowns()
    cat = b["caller_category"]
    assert cat["records"] == 3 and cat["trafficking_related"] == 2
    assert {r["key"]: (r["count"], r["pct"]) for r in cat["all"]} == {
        "relative_or_friend": (1, 33.33),
        "unknown": (1, 33.33),
        "victim": (1, 33.33),
    }
    assert {r["key"]: (r["count"], r["pct"]) for r in cat["trafficking"]} == {
        "relative_or_friend": (1, 50.0),
        "victim": (1, 50.0),
    }
    forms = {r["key"]: r["pct"] for r in b["trafficking_form"]["trafficking"]}
    assert forms == {"forced_labour": 50.0, "forced_marriage": 50.0, "sexual_exploitation": 50.0}
    # a contact record written days later counts as soon as it exists
    await record(
        session,
        calls["c3"],
        caller_category="victim",
        contact_type="tip",
        trafficking_related=True,
        trafficking_forms=["forced_labour"],
    )
    await rollup.refresh(session)  # the service's refresher, at most 20 s later
    summary = (await client.get("/api/v1/reports/summary", params=NOV, headers=sup.headers)).json()
    assert summary["contact_records"] == 4 and summary["trafficking_related"] == 3
    b = await breakdowns()
    assert b["caller_category"]["records"] == 4 and b["caller_category"]["trafficking_related"] == 3
    assert {r["key"]: r["count"] for r in b["trafficking_form"]["trafficking"]}["forced_labour"] == 2


async def test_analysts_see_small_cells_suppressed_and_supervisors_their_switchboard(client, session):
    await november(session)
    analyst = await signed_in(session, "analyst")
    supervisor = await signed_in(session, "supervisor")
    counsellor = await signed_in(session, "counsellor")
    r = await client.get(
        "/api/v1/reports/summary", params={**NOV, "switchboard": "hanoi"}, headers=analyst.headers
    )
    body = r.json()
    assert body["suppressed"] is True and body["figures"]["calls"] == 8
    assert set(outcomes(body["figures"]).values()) == {"<5", 0}
    assert body["figures"]["answered_rate"] is None  # rates of fewer than five calls would give them away
    assert body["contact_records"] == "<5" and body["trafficking_related_pct"] is None
    contacts = (await client.get("/api/v1/reports/contacts", params=NOV, headers=analyst.headers)).json()
    assert all(
        r["count"] in ("<5", "x") and r["pct"] is None for b in contacts["breakdowns"] for r in b["all"]
    )
    # the supervisor sees their own switchboard whole, and nobody else's
    r = await client.get("/api/v1/reports/summary", params=NOV, headers=supervisor.headers)
    assert r.json()["filters"]["switchboard"] == "hanoi" and r.json()["figures"]["calls"] == 8
    assert outcomes(r.json()["figures"])["answered"] == 3
    assert (
        await client.get(
            "/api/v1/reports/summary", params={**NOV, "switchboard": "danang"}, headers=supervisor.headers
        )
    ).status_code == 403
    assert (
        await client.get("/api/v1/reports/summary", params=NOV, headers=counsellor.headers)
    ).status_code == 403
    assert (
        await client.get("/api/v1/reports/workload", params=NOV, headers=analyst.headers)
    ).status_code == 403
    runs = await session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.object_type == "report")
    )
    assert runs == 3


def test_secondary_suppression_hides_the_next_smallest_cell():
    cells = [Cell("a", 10, 50.0), Cell("b", 3, 15.0), Cell("c", 7, 35.0), Cell("d", 0, 0.0)]
    assert suppress_table(cells) == [("a", 10, 50.0), ("b", "<5", None), ("c", "x", None), ("d", 0, 0.0)]
    # two small cells already protect each other; without a total shown nothing can be recovered
    two = [Cell("a", 10), Cell("b", 3), Cell("c", 2)]
    assert [n for _, n, _ in suppress_table(two)] == [10, "<5", "<5"]
    assert [n for _, n, _ in suppress_table(cells, total_shown=False)] == [10, "<5", 7, 0]


async def test_bad_filters_are_refused_naming_the_field(client, session):
    sup = await signed_in(session, "national_supervisor")
    for params, field in [
        ({"date_from": "2026-11-30", "date_to": "2026-11-01"}, "date_to"),
        ({"date_from": "2026-13-01", "date_to": "2026-11-01"}, "date_from"),
        ({**NOV, "granularity": "hour"}, "granularity"),
        ({**NOV, "region": "east"}, "region"),
        ({"date_to": "2026-11-01"}, "date_from"),
    ]:
        r = await client.get("/api/v1/reports/summary", params=params, headers=sup.headers)
        assert r.status_code == 422, (params, r.text)
        assert field in r.json()["error"]["field"], (params, r.json())


def offer(c: Call, user_id: int, at: datetime) -> CallOffer:
    return CallOffer(
        call_id=c.id,
        switchboard_code=c.switchboard_code,
        extension="PJSIP/1001",
        user_id=user_id,
        offered_at=at,
        result="noanswer",
    )


async def test_workload_for_supervisors(client, session):
    supervisor = await signed_in(session, "supervisor")
    counsellor = await signed_in(session, "counsellor")
    first = await call(
        session, local(2026, 11, 3), "answered", wait=9, talk=1800, counsellor=counsellor.user.id
    )
    second = await call(
        session, local(2026, 11, 4), "answered", wait=3, talk=1800, counsellor=counsellor.user.id
    )
    assert first.answered_at is not None and second.answered_at is not None
    other = await call(session, local(2026, 11, 5), "abandoned", wait=20)
    session.add_all(
        [
            # rung first without an answer, then answered: one miss
            offer(first, counsellor.user.id, first.answered_at - timedelta(seconds=5)),
            # a miss on a call someone else (nobody) took: one miss
            offer(other, counsellor.user.id, local(2026, 11, 5) + timedelta(seconds=8)),
            # "missed" after having answered: the answer event came late through an outage; no miss
            offer(second, counsellor.user.id, second.answered_at + timedelta(seconds=8)),
        ]
    )
    await session.flush()
    r = await client.get("/api/v1/reports/workload", params=NOV, headers=supervisor.headers)
    assert r.status_code == 200
    row = next(x for x in r.json()["counsellors"] if x["user_id"] == counsellor.user.id)
    assert row["answered"] == 2 and row["talk_hours"] == 1.0
    assert row["missed_offers"] == 2


async def test_exports_open_in_a_spreadsheet_with_vietnamese_intact(client, session):
    import csv
    import io

    from openpyxl import load_workbook

    await november(session)
    sup = await signed_in(session, "national_supervisor")
    r = await client.get("/api/v1/reports/contacts", params={**NOV, "format": "csv"}, headers=sup.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert ["Từ ngày", "2026-11-01"] in rows
    assert any(row[:3] == ["victim", "Nạn nhân", "1"] for row in rows)
    assert any(row and row[0].startswith("Hình thức mua bán người") for row in rows)

    r = await client.get("/api/v1/reports/export", params={**NOV, "format": "xlsx"}, headers=sup.headers)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames[0] == "Bộ lọc"
    assert {
        "Tổng hợp",
        "Cuộc gọi theo kỳ",
        "Theo tổng đài",
        "Người gọi",
        "Hình thức MBN",
        "Chuyển tuyến",
        "Điều phối",
    } <= set(wb.sheetnames)
    summary = wb["Tổng hợp"]
    values = {row[0]: row[1] for row in summary.iter_rows(min_row=5, values_only=True) if row[0]}
    assert values["Tổng số cuộc gọi"] == 9 and values["Được trả lời"] == 4
    assert "Từ ngày: 2026-11-01" in summary["A2"].value
    assert len(wb["Cuộc gọi theo kỳ"]._charts) == 1  # type: ignore[attr-defined]  # a native chart
    assert wb["Khối lượng công việc"]  # supervisors get the workload too
    runs = (
        await session.scalars(select(AuditEntry.object_id).where(AuditEntry.object_type == "report"))
    ).all()
    assert runs == ["contacts", "export"]


async def test_an_analysts_export_is_suppressed_and_has_no_workload(client, session):
    import io

    from openpyxl import load_workbook

    await november(session)
    analyst = await signed_in(session, "analyst")
    r = await client.get(
        "/api/v1/reports/export", params={**NOV, "switchboard": "hanoi"}, headers=analyst.headers
    )
    wb = load_workbook(io.BytesIO(r.content))
    assert "Khối lượng công việc" not in wb.sheetnames
    cells = [c for row in wb["Bộ lọc"].iter_rows(values_only=True) for c in row if c]
    assert any('"<5"' in str(c) for c in cells)
    outcome_rows = {row[0]: row[1] for row in wb["Tổng hợp"].iter_rows(min_row=5, values_only=True) if row[0]}
    assert outcome_rows["Được trả lời"] == "<5"


async def test_the_rollup_gives_the_figures_of_the_raw_records(session):
    import random

    from hotline_api.reports import service

    rng = random.Random(11)
    for _ in range(120):
        start = local(2026, rng.choice([10, 11]), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59))
        c = await call(
            session,
            start,
            rng.choice(["answered", "answered", "abandoned", "timeout", "not_queued", "failed"]),
            wait=rng.randint(1, 120),
            talk=rng.randint(10, 900),
            switchboard=rng.choice(["hanoi", "danang", "angiang"]),
            dialled=rng.choice(["111", "18001567"]),
        )
        if rng.random() < 0.4:
            await record(session, c, trafficking_related=rng.random() < 0.5)
    await rollup.refresh(session)
    for kw in [
        {},
        {"region": "central"},
        {"switchboard": "angiang", "number": "18001567"},
        {"granularity": "week"},
    ]:
        f = service.Filter(
            datetime(2026, 10, 1).date(),
            datetime(2026, 11, 30).date(),
            region=kw.get("region"),
            switchboard=kw.get("switchboard"),
            number=kw.get("number"),
            granularity=kw.get("granularity", "month"),  # type: ignore[arg-type]
        )
        assert await service.call_figures(session, f) == await service.call_figures_raw(session, f), kw
        assert await service.call_series(session, f) == await service.call_series_raw(session, f), kw
