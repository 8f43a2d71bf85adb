"""Code lists, contact records and cases over HTTP: the rules, the scope, encryption at rest, search
without diacritics, the timeline and the audit trail."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.audit.models import AuditEntry
from hotline_api.calls.models import Call
from tests.factories import KEYRING, signed_in

_lk = itertools.count(1)


async def answered_call(
    session: AsyncSession,
    counsellor_id: int | None,
    switchboard: str = "hanoi",
    number: str = "+84912345678",
    ended_minutes_ago: float = 10,
) -> Call:
    now = datetime.now(UTC)
    call = Call(
        switchboard_code=switchboard,
        linkedid=f"1748744102.{next(_lk)}",
        started_at=now - timedelta(minutes=ended_minutes_ago + 5),
        last_event_at=now - timedelta(minutes=ended_minutes_ago),
        caller_number_enc=KEYRING.encrypt(number, "calls.caller_number"),
        caller_hash=KEYRING.keyed_hash(number, "phone"),
        caller_region="north",
        wait_started_at=now - timedelta(minutes=ended_minutes_ago + 4),
        answered_at=now - timedelta(minutes=ended_minutes_ago + 3) if counsellor_id else None,
        counsellor_user_id=counsellor_id,
        answered_switchboard=switchboard if counsellor_id else None,
        ended_at=now - timedelta(minutes=ended_minutes_ago),
    )
    session.add(call)
    await session.flush()
    return call


WRAP_UP = {
    "caller_category": "relative_or_friend",
    "contact_type": "tip",
    "trafficking_related": True,
    "trafficking_forms": ["forced_marriage"],
    "relationship": "parent",
    "age_group": "age_16_17",
    "sex": "female",
    "province": "01",
    "language": "vi",
    "notes": "Mẹ gọi: con gái 17 tuổi bị đưa sang Trung Quốc, số điện thoại người môi giới 0987654321",
    "consent": "given",
}


async def audit_count(session: AsyncSession, action: str, object_type: str, object_id: int | str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == action,
                AuditEntry.object_type == object_type,
                AuditEntry.object_id == str(object_id),
            )
        )
        or 0
    )


# ---- code lists -------------------------------------------------------------------------------


async def test_code_lists_are_served_with_both_labels_and_extended_by_an_admin(client, session):
    counsellor = await signed_in(session, "counsellor")
    admin = await signed_in(session, "admin")
    r = await client.get("/api/v1/codes", headers=counsellor.headers)
    assert r.status_code == 200
    lists = {cl["name"]: cl for cl in r.json()["lists"]}
    assert {
        "caller_category",
        "contact_type",
        "trafficking_form",
        "referral_type",
        "partner_kind",
        "case_status",
    } <= set(lists)
    forms = {c["code"]: c for c in lists["trafficking_form"]["codes"]}
    assert forms["forced_marriage"]["label_vi"] == "Cưỡng ép kết hôn"
    assert forms["forced_marriage"]["label_en"] == "Forced marriage"
    version = lists["trafficking_form"]["version"]

    assert (
        await client.post(
            "/api/v1/codes/trafficking_form",
            json={"code": "x", "label_vi": "x", "label_en": "x"},
            headers=counsellor.headers,
        )
    ).status_code == 403
    added = await client.post(
        "/api/v1/codes/trafficking_form",
        json={
            "code": "online_scam_compound",
            "label_vi": "Cưỡng bức lừa đảo trực tuyến",
            "label_en": "Forced online scamming",
        },
        headers=admin.headers,
    )
    assert added.status_code == 201, added.text
    assert added.json()["version"] == version + 1
    again = await client.post(
        "/api/v1/codes/trafficking_form",
        json={"code": "online_scam_compound", "label_vi": "a", "label_en": "b"},
        headers=admin.headers,
    )
    assert again.status_code == 409
    bad = await client.post(
        "/api/v1/codes/trafficking_form",
        json={"code": "Bad Code", "label_vi": "a", "label_en": "b"},
        headers=admin.headers,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "code"
    # the rules rely on the contact types: they cannot be retired
    assert (
        await client.patch("/api/v1/codes/contact_type/silent", json={"retired": True}, headers=admin.headers)
    ).status_code == 409
    assert await audit_count(session, "create", "code", "trafficking_form:online_scam_compound") == 1


async def test_a_retired_code_stays_readable_but_is_refused_in_new_records(client, session):
    counsellor = await signed_in(session, "counsellor")
    admin = await signed_in(session, "admin")
    old_call = await answered_call(session, counsellor.user.id)
    new_call = await answered_call(session, counsellor.user.id)
    r = await client.post(f"/api/v1/calls/{old_call.id}/contact", json=WRAP_UP, headers=counsellor.headers)
    assert r.status_code == 201, r.text
    retired = await client.patch(
        "/api/v1/codes/trafficking_form/forced_marriage", json={"retired": True}, headers=admin.headers
    )
    assert retired.status_code == 200
    assert "forced_marriage" not in {c["code"] for c in retired.json()["codes"] if not c["retired"]}
    # the old record still reads, and can be edited without losing it
    r = await client.get(f"/api/v1/calls/{old_call.id}/contact", headers=counsellor.headers)
    assert r.status_code == 200 and r.json()["trafficking_forms"] == ["forced_marriage"]
    r = await client.patch(
        f"/api/v1/calls/{old_call.id}/contact", json={"age_group": "age_18_24"}, headers=counsellor.headers
    )
    assert r.status_code == 200 and r.json()["trafficking_forms"] == ["forced_marriage"]
    refused = await client.post(
        f"/api/v1/calls/{new_call.id}/contact", json=WRAP_UP, headers=counsellor.headers
    )
    assert refused.status_code == 422
    assert (
        refused.json()["error"]["field"] == "trafficking_forms"
        and "retired" in refused.json()["error"]["message"]
    )


# ---- contact records -------------------------------------------------------------------------


async def test_a_counsellor_writes_the_wrap_up_of_their_call(client, session):
    counsellor = await signed_in(session, "counsellor")
    call = await answered_call(session, counsellor.user.id)
    r = await client.post(f"/api/v1/calls/{call.id}/contact", json=WRAP_UP, headers=counsellor.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["notes"] == WRAP_UP["notes"] and body["author_user_id"] == counsellor.user.id
    assert body["trafficking_forms"] == ["forced_marriage"] and body["province"] == "01"
    # notes are encrypted at rest: neither the text nor the number in it is readable in the table
    raw = (
        await session.execute(
            text("SELECT notes_enc::text FROM contact_records WHERE id = :i"), {"i": body["id"]}
        )
    ).scalar_one()
    assert "0987654321" not in raw and "Trung" not in raw
    dump = (
        await session.execute(
            text("SELECT row_to_json(c)::text FROM contact_records c WHERE id = :i"), {"i": body["id"]}
        )
    ).scalar_one()
    assert "0987654321" not in dump and "Trung Quốc" not in dump
    assert (
        await client.post(f"/api/v1/calls/{call.id}/contact", json=WRAP_UP, headers=counsellor.headers)
    ).status_code == 409
    assert await audit_count(session, "create", "contact_record", body["id"]) == 1
    await client.get(f"/api/v1/calls/{call.id}/contact", headers=counsellor.headers)
    assert await audit_count(session, "read", "contact_record", body["id"]) == 1


async def test_silent_and_nuisance_calls_take_one_click(client, session):
    counsellor = await signed_in(session, "counsellor")
    call = await answered_call(session, counsellor.user.id)
    r = await client.post(
        f"/api/v1/calls/{call.id}/contact/quick", json={"kind": "silent"}, headers=counsellor.headers
    )
    assert r.status_code == 201
    assert r.json()["contact_type"] == "silent" and r.json()["trafficking_related"] is False
    bad = await client.post(
        f"/api/v1/calls/{call.id}/contact/quick", json={"kind": "prank"}, headers=counsellor.headers
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "kind"


async def test_bad_wrap_ups_are_refused_naming_the_field(client, session):
    counsellor = await signed_in(session, "counsellor")
    call = await answered_call(session, counsellor.user.id)
    url = f"/api/v1/calls/{call.id}/contact"
    cases = [
        ({**WRAP_UP, "caller_category": "alien"}, "caller_category"),
        ({**WRAP_UP, "trafficking_related": None}, "trafficking_related"),
        ({**WRAP_UP, "trafficking_related": False}, "trafficking_forms"),
        ({**WRAP_UP, "province": "99"}, "province"),
        ({**WRAP_UP, "language": "Vietnamese"}, "language"),
        ({**WRAP_UP, "consent": "maybe"}, "consent"),
        ({**WRAP_UP, "contact_type": "silent"}, "trafficking_related"),
        ({k: v for k, v in WRAP_UP.items() if k != "contact_type"}, "contact_type"),
    ]
    for body, field in cases:
        r = await client.post(url, json=body, headers=counsellor.headers)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["error"]["field"] == field, (field, r.json())
    assert (
        await client.post(
            url, content=b"{not json", headers={**counsellor.headers, "Content-Type": "application/json"}
        )
    ).status_code == 422


async def test_who_may_write_read_and_change_a_contact_record(client, session):
    author = await signed_in(session, "counsellor")
    colleague = await signed_in(session, "counsellor")
    elsewhere = await signed_in(session, "counsellor", switchboard="danang")
    supervisor = await signed_in(session, "supervisor")
    analyst = await signed_in(session, "analyst")
    admin = await signed_in(session, "admin")
    call = await answered_call(session, author.user.id)
    url = f"/api/v1/calls/{call.id}/contact"
    assert (await client.post(url, json=WRAP_UP, headers=analyst.headers)).status_code == 403
    assert (await client.post(url, json=WRAP_UP, headers=admin.headers)).status_code == 403
    assert (await client.post(url, json=WRAP_UP, headers=elsewhere.headers)).status_code == 404
    assert (await client.post(url, json=WRAP_UP, headers=author.headers)).status_code == 201
    assert (await client.get(url, headers=colleague.headers)).status_code == 200
    assert (await client.get(url, headers=elsewhere.headers)).status_code == 404
    assert (await client.get(url, headers=analyst.headers)).status_code == 403
    assert (await client.patch(url, json={"sex": "male"}, headers=colleague.headers)).status_code == 403
    r = await client.patch(url, json={"sex": "male", "notes": "đã gọi lại"}, headers=supervisor.headers)
    assert r.status_code == 200 and r.json()["sex"] == "male" and r.json()["notes"] == "đã gọi lại"
    assert (await client.patch(url, json={}, headers=author.headers)).status_code == 422


async def test_overdue_wrap_ups_are_listed_for_the_counsellor_and_their_supervisor(client, session):
    counsellor = await signed_in(session, "counsellor")
    supervisor = await signed_in(session, "supervisor")
    other_supervisor = await signed_in(session, "supervisor", switchboard="angiang")
    late = await answered_call(session, counsellor.user.id, ended_minutes_ago=10)
    fresh = await answered_call(
        session, counsellor.user.id, ended_minutes_ago=0.5
    )  # within the 120 s wrap-up
    unanswered = await answered_call(session, None, ended_minutes_ago=10)
    mine = {
        o["call_id"]
        for o in (await client.get("/api/v1/me/overdue-contacts", headers=counsellor.headers)).json()
    }
    assert late.id in mine and fresh.id not in mine and unanswered.id not in mine
    theirs = {
        o["call_id"]
        for o in (await client.get("/api/v1/contacts/overdue", headers=supervisor.headers)).json()
    }
    assert late.id in theirs
    assert late.id not in {
        o["call_id"]
        for o in (await client.get("/api/v1/contacts/overdue", headers=other_supervisor.headers)).json()
    }
    assert (await client.get("/api/v1/contacts/overdue", headers=counsellor.headers)).status_code == 403
    await client.post(
        f"/api/v1/calls/{late.id}/contact/quick", json={"kind": "nuisance"}, headers=counsellor.headers
    )
    mine = {
        o["call_id"]
        for o in (await client.get("/api/v1/me/overdue-contacts", headers=counsellor.headers)).json()
    }
    assert late.id not in mine


# ---- cases -------------------------------------------------------------------------------------


async def _open_case(client, session, counsellor, number: str = "+84912345678") -> dict[str, Any]:
    call = await answered_call(session, counsellor.user.id, number=number)
    record = (
        await client.post(f"/api/v1/calls/{call.id}/contact", json=WRAP_UP, headers=counsellor.headers)
    ).json()
    r = await client.post(
        "/api/v1/cases",
        json={"contact_record_id": record["id"], "summary": "Con gái bị lừa sang biên giới"},
        headers=counsellor.headers,
    )
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    return case


async def test_a_case_opens_from_a_contact_record_with_a_readable_reference(client, session):
    counsellor = await signed_in(session, "counsellor")
    first = await _open_case(client, session, counsellor)
    second = await _open_case(client, session, counsellor, "+84911111111")
    year = datetime.now(UTC).astimezone().year
    assert re.fullmatch(rf"111-({year}|{year + 1})-\d{{6}}", first["reference"])
    assert int(second["reference"][-6:]) == int(first["reference"][-6:]) + 1
    assert first["status"] == "open" and first["assigned_user_id"] == counsellor.user.id
    assert first["summary"] == "Con gái bị lừa sang biên giới"
    assert sorted(t["kind"] for t in first["timeline"]) == ["call", "opened"]
    assert first["contact_records"][0]["case_id"] == first["id"]
    # the contact record cannot open a second case
    again = await client.post(
        "/api/v1/cases",
        json={"contact_record_id": first["contact_records"][0]["id"]},
        headers=counsellor.headers,
    )
    assert again.status_code == 409


async def test_persons_names_and_numbers_are_encrypted_and_found_without_diacritics(client, session):
    counsellor = await signed_in(session, "counsellor")
    case = await _open_case(client, session, counsellor, "+84900000001")
    r = await client.post(
        f"/api/v1/cases/{case['id']}/persons",
        json={
            "role": "victim",
            "name": "Nguyễn Thị Hoa",
            "phone": "0912 888 777",
            "age_group": "age_16_17",
            "sex": "female",
            "nationality": "vn",
            "trafficking_forms": ["forced_marriage"],
            "destination_country": "CN",
            "risk_level": "high",
        },
        headers=counsellor.headers,
    )
    assert r.status_code == 201, r.text
    person = r.json()["persons"][0]
    assert (
        person["name"] == "Nguyễn Thị Hoa"
        and person["nationality"] == "VN"
        and person["phone"] == "0912 888 777"
    )
    dump = (
        await session.execute(
            text("SELECT row_to_json(p)::text FROM case_persons p WHERE case_id = :i"), {"i": case["id"]}
        )
    ).scalar_one()
    # the ciphertext is shown in hex: look for the whole number (a bare "888" turns up in random hex)
    assert "Nguy" not in dump and "Hoa" not in dump
    assert "912888777" not in dump and "912 888 777" not in dump

    async def found(**query: str) -> list[int]:
        r = await client.post("/api/v1/cases/search", json=query, headers=counsellor.headers)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()]

    assert case["id"] in await found(name="Nguyen")
    assert case["id"] in await found(name="nguyễn hoa")
    assert case["id"] in await found(name="NGUYEN THI HOA")
    assert case["id"] not in await found(name="Nguyen Lan")
    assert case["id"] in await found(phone="+84 912 888 777")
    assert case["id"] in await found(phone="0900000001")  # the caller who opened it
    assert case["id"] in await found(reference=case["reference"])
    bad = await client.post("/api/v1/cases/search", json={}, headers=counsellor.headers)
    assert bad.status_code == 422
    bad = await client.post(
        "/api/v1/cases/search", json={"phone": "not a number"}, headers=counsellor.headers
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "phone"
    bad = await client.post(
        f"/api/v1/cases/{case['id']}/persons", json={"destination_country": "XX"}, headers=counsellor.headers
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "destination_country"
    assert await audit_count(session, "search", "case", "-") >= 4


async def test_case_status_moves_and_the_refused_ones(client, session):
    counsellor = await signed_in(session, "counsellor")
    supervisor = await signed_in(session, "supervisor")
    case = await _open_case(client, session, counsellor)
    url = f"/api/v1/cases/{case['id']}/status"
    r = await client.post(
        url, json={"status": "follow_up", "reason": "gọi lại sau 3 ngày"}, headers=counsellor.headers
    )
    assert r.status_code == 200 and r.json()["status"] == "follow_up"
    assert any(t["kind"] == "note" and t["text"] == "gọi lại sau 3 ngày" for t in r.json()["timeline"])
    assert (await client.post(url, json={"status": "closed"}, headers=counsellor.headers)).json()[
        "status"
    ] == "closed"
    refused = await client.post(url, json={"status": "follow_up"}, headers=counsellor.headers)
    assert refused.status_code == 409 and "from closed" in refused.json()["error"]["message"]
    assert (await client.post(url, json={"status": "open"}, headers=counsellor.headers)).status_code == 403
    r = await client.post(url, json={"status": "open"}, headers=supervisor.headers)
    assert r.status_code == 200 and r.json()["closed_at"] is None
    moves = [
        (t["details"]["from"], t["details"]["to"]) for t in r.json()["timeline"] if t["kind"] == "status"
    ]
    assert moves == [("open", "follow_up"), ("follow_up", "closed"), ("closed", "open")]
    assert (
        await client.post(url, json={"status": "referred"}, headers=supervisor.headers)
    ).status_code == 422


async def test_case_scope_assignment_and_who_sees_numbers(client, session):
    opener = await signed_in(session, "counsellor")
    colleague = await signed_in(session, "counsellor")
    danang = await signed_in(session, "counsellor", switchboard="danang")
    supervisor = await signed_in(session, "supervisor")
    danang_supervisor = await signed_in(session, "supervisor", switchboard="danang")
    national = await signed_in(session, "national_supervisor", switchboard="danang")
    analyst = await signed_in(session, "analyst")
    admin = await signed_in(session, "admin")
    case = await _open_case(client, session, opener)
    await client.post(
        f"/api/v1/cases/{case['id']}/persons",
        json={"name": "Lò Thị Mai", "phone": "0912000111"},
        headers=opener.headers,
    )
    url = f"/api/v1/cases/{case['id']}"

    def phone(r: Any) -> str | None:
        value: str | None = r.json()["persons"][0]["phone"]
        return value

    assert phone(await client.get(url, headers=opener.headers)) == "0912000111"  # assigned to them
    r = await client.get(url, headers=colleague.headers)
    assert r.status_code == 200 and phone(r) is None and r.json()["persons"][0]["name"] == "Lò Thị Mai"
    assert phone(await client.get(url, headers=supervisor.headers)) == "0912000111"
    assert phone(await client.get(url, headers=national.headers)) == "0912000111"
    for outsider in (danang, danang_supervisor):
        assert (await client.get(url, headers=outsider.headers)).status_code == 404
    for nobody in (analyst, admin):
        assert (await client.get(url, headers=nobody.headers)).status_code == 403
    # assignment: supervisors of the case's switchboard; the assignee then sees the case and its numbers
    assign = f"{url}/assignee"
    assert (
        await client.put(assign, json={"user_id": danang.user.id}, headers=opener.headers)
    ).status_code == 403
    assert (
        await client.put(assign, json={"user_id": danang.user.id}, headers=danang_supervisor.headers)
    ).status_code == 404
    assert (
        await client.put(assign, json={"user_id": analyst.user.id}, headers=supervisor.headers)
    ).status_code == 422
    r = await client.put(assign, json={"user_id": danang.user.id}, headers=supervisor.headers)
    assert r.status_code == 200 and r.json()["assigned_user_id"] == danang.user.id
    r = await client.get(url, headers=danang.headers)
    assert r.status_code == 200 and phone(r) == "0912000111"
    assert phone(await client.get(url, headers=opener.headers)) is None
    mine = await client.get("/api/v1/me/cases", headers=danang.headers)
    assert [c["id"] for c in mine.json()] == [case["id"]]
    # every read is in the audit log, with whether numbers were shown
    assert await audit_count(session, "read", "case", case["id"]) >= 6


async def test_linking_another_call_and_notes_build_the_timeline(client, session):
    counsellor = await signed_in(session, "counsellor")
    case = await _open_case(client, session, counsellor)
    later = await answered_call(session, counsellor.user.id)
    record = (
        await client.post(
            f"/api/v1/calls/{later.id}/contact",
            json={**WRAP_UP, "contact_type": "referral_followup"},
            headers=counsellor.headers,
        )
    ).json()
    r = await client.post(
        f"/api/v1/cases/{case['id']}/contacts",
        json={"contact_record_id": record["id"]},
        headers=counsellor.headers,
    )
    assert r.status_code == 200
    r = await client.post(
        f"/api/v1/cases/{case['id']}/notes",
        json={"text": "Đã liên hệ Công an tỉnh"},
        headers=counsellor.headers,
    )
    assert r.status_code == 201
    kinds = [t["kind"] for t in r.json()["timeline"]]
    assert kinds.count("call") == 2 and "call_linked" in kinds and "note" in kinds and "opened" in kinds
    raw = (
        await session.execute(
            text("SELECT note_enc::text FROM case_notes WHERE case_id = :i"), {"i": case["id"]}
        )
    ).scalar_one()
    assert "Công" not in raw
    assert (
        await client.post(f"/api/v1/cases/{case['id']}/notes", json={"text": ""}, headers=counsellor.headers)
    ).status_code == 422


async def test_a_recording_is_shown_to_those_who_may_see_the_case_and_each_view_is_audited(client, session):
    handler = await signed_in(session, "counsellor")
    colleague = await signed_in(session, "counsellor")
    supervisor = await signed_in(session, "supervisor")
    call = await answered_call(session, handler.user.id)
    call.recording_enc = KEYRING.encrypt("hotline-hanoi-20261128-1042.wav", "calls.recording")
    await session.flush()
    url = f"/api/v1/calls/{call.id}/recording"
    r = await client.get(url, headers=handler.headers)
    assert r.status_code == 200 and r.json()["recording"] == "hotline-hanoi-20261128-1042.wav"
    assert (await client.get(url, headers=colleague.headers)).status_code == 403
    assert (await client.get(url, headers=supervisor.headers)).status_code == 200
    # once the call belongs to a case, the case decides: its assignee and the supervisors
    record = (
        await client.post(f"/api/v1/calls/{call.id}/contact", json=WRAP_UP, headers=handler.headers)
    ).json()
    case = (
        await client.post("/api/v1/cases", json={"contact_record_id": record["id"]}, headers=handler.headers)
    ).json()
    await client.put(
        f"/api/v1/cases/{case['id']}/assignee",
        json={"user_id": colleague.user.id},
        headers=supervisor.headers,
    )
    assert (await client.get(url, headers=colleague.headers)).status_code == 200
    assert (await client.get(url, headers=handler.headers)).status_code == 403
    assert await audit_count(session, "view_recording", "call", call.id) == 3


async def test_the_role_by_action_matrix(client, session):
    """Each role against each kind of action on a Hà Nội case it did not open (allowed and refused)."""
    opener = await signed_in(session, "counsellor")
    case = await _open_case(client, session, opener)
    call_id = case["contact_records"][0]["call_id"]
    roles = {
        "counsellor": await signed_in(session, "counsellor"),
        "supervisor": await signed_in(session, "supervisor"),
        "national_supervisor": await signed_in(session, "national_supervisor", switchboard="angiang"),
        "analyst": await signed_in(session, "analyst"),
        "admin": await signed_in(session, "admin"),
    }
    c = f"/api/v1/cases/{case['id']}"
    actions: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
        ("GET", "/api/v1/codes", None, dict.fromkeys(roles, 200)),
        (
            "POST",
            "/api/v1/codes/sex",
            {"code": "x_{role}", "label_vi": "x", "label_en": "x"},
            {"counsellor": 403, "supervisor": 403, "national_supervisor": 403, "analyst": 403, "admin": 201},
        ),
        (
            "GET",
            f"/api/v1/calls/{call_id}/contact",
            None,
            {"counsellor": 200, "supervisor": 200, "national_supervisor": 200, "analyst": 403, "admin": 403},
        ),
        (
            "PATCH",
            f"/api/v1/calls/{call_id}/contact",
            {"sex": "unknown"},
            {"counsellor": 403, "supervisor": 200, "national_supervisor": 200, "analyst": 403, "admin": 403},
        ),
        (
            "GET",
            c,
            None,
            {"counsellor": 200, "supervisor": 200, "national_supervisor": 200, "analyst": 403, "admin": 403},
        ),
        (
            "POST",
            f"{c}/notes",
            {"text": "ghi chú"},
            {"counsellor": 201, "supervisor": 201, "national_supervisor": 201, "analyst": 403, "admin": 403},
        ),
        (
            "PUT",
            f"{c}/assignee",
            {"user_id": opener.user.id},
            {"counsellor": 403, "supervisor": 200, "national_supervisor": 200, "analyst": 403, "admin": 403},
        ),
        (
            "POST",
            "/api/v1/cases/search",
            {"reference": case["reference"]},
            {"counsellor": 200, "supervisor": 200, "national_supervisor": 200, "analyst": 403, "admin": 403},
        ),
        (
            "GET",
            "/api/v1/contacts/overdue",
            None,
            {"counsellor": 403, "supervisor": 200, "national_supervisor": 200, "analyst": 403, "admin": 403},
        ),
        (
            "GET",
            "/api/v1/me/cases",
            None,
            {"counsellor": 200, "supervisor": 200, "national_supervisor": 200, "analyst": 403, "admin": 403},
        ),
    ]
    failures = []
    for method, url, body, expected in actions:
        for role, who in roles.items():
            payload = (
                None
                if body is None
                else {k: (v.format(role=role) if isinstance(v, str) else v) for k, v in body.items()}
            )
            r = await client.request(method, url, json=payload, headers=who.headers)
            if r.status_code != expected[role]:
                failures.append(f"{role} {method} {url}: {r.status_code}, expected {expected[role]}")
    assert not failures, "\n".join(failures)
