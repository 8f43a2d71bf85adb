"""Referrals over HTTP: who may make, read and move them (scope as for cases: 404 outside it), every
legal transition and each illegal one, consent, the emergency override and a withdrawal, the case
becoming "referred", encryption at rest, the timeline, the audit trail, the follow-up reminders, and
bad input answered with a 4xx naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.cases.models import REFERRAL_STATUSES, Case, CaseEvent, Partner, Referral
from hotline_api.cases.referrals import MOVES
from tests.cases.conftest import audit_entries, make_case, make_partner, record_consent
from tests.factories import KEYRING, SignedIn, signed_in

REFER = {"referral_type": "rescue_investigation", "consent": "given"}
OVERRIDE_REASON = "Nạn nhân đang bị giữ tại biên giới, không thể hỏi ý kiến; cần giải cứu ngay"


async def make_referral(
    session: AsyncSession,
    case: Case,
    partner: Partner,
    status: str = "draft",
    days_ago: float = 0,
    consent: str = "given",
) -> Referral:
    at = datetime.now(UTC) - timedelta(days=days_ago)
    referral = Referral(
        case_id=case.id,
        partner_id=partner.id,
        referral_type="rescue_investigation",
        status=status,
        status_changed_at=at,
        consent=consent,
        created_at=at,
    )
    session.add(referral)
    await session.flush()
    return referral


async def refer(
    client: httpx.AsyncClient, who: SignedIn, case: Case, partner: Partner, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/cases/{case.id}/referrals",
        json={"partner_id": partner.id, **REFER, **body},
        headers=who.headers,
    )


async def move(
    client: httpx.AsyncClient, who: SignedIn, referral_id: int, to: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/referrals/{referral_id}/transitions", json={"to": to, **body}, headers=who.headers
    )


async def events(session: AsyncSession, case: Case, kind: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == kind).order_by(CaseEvent.id)
    )
    return [e.details for e in rows]


# ---- who may do what ---------------------------------------------------------------------------


async def test_the_role_by_action_matrix(client, session):
    """Each role against each action on a Hà Nội case it neither opened nor was assigned."""
    partner = await make_partner(session)
    case = await make_case(session, "hanoi")
    roles = {
        "counsellor": await signed_in(session, "counsellor"),
        "supervisor": await signed_in(session, "supervisor"),
        "national_supervisor": await signed_in(session, "national_supervisor", switchboard="angiang"),
        "other_counsellor": await signed_in(session, "counsellor", switchboard="danang"),
        "other_supervisor": await signed_in(session, "supervisor", switchboard="danang"),
        "analyst": await signed_in(session, "analyst"),
        "admin": await signed_in(session, "admin"),
    }
    allowed = {"counsellor", "supervisor", "national_supervisor"}

    def expect(ok: int) -> dict[str, int]:
        return {role: ok if role in allowed else (404 if role.startswith("other") else 403) for role in roles}

    # one draft per role to move and to change
    drafts = {role: await make_referral(session, case, partner) for role in roles}
    shown = await make_referral(session, case, partner)
    failures = []

    async def check(role: str, r: httpx.Response, expected: int, what: str) -> None:
        if r.status_code != expected:
            failures.append(f"{role} {what}: {r.status_code}, expected {expected}: {r.text[:120]}")
        elif expected in (403, 404):
            assert r.json()["error"]["code"] in ("forbidden", "not_found")

    for role, who in roles.items():
        d = drafts[role]
        await check(role, await refer(client, who, case, partner), expect(201)[role], "create")
        r = await client.get(f"/api/v1/cases/{case.id}/referrals", headers=who.headers)
        await check(role, r, expect(200)[role], "list")
        r = await client.get(f"/api/v1/referrals/{shown.id}", headers=who.headers)
        await check(role, r, expect(200)[role], "read")
        await check(role, await move(client, who, d.id, "sent"), expect(200)[role], "send")
        r = await client.patch(
            f"/api/v1/referrals/{d.id}", json={"external_reference": "123/CSHS"}, headers=who.headers
        )
        await check(role, r, expect(200)[role], "patch")
        r = await client.get("/api/v1/referrals/overdue", headers=who.headers)
        await check(
            role, r, {**expect(200), "other_counsellor": 200, "other_supervisor": 200}[role], "overdue"
        )
    assert not failures, "\n".join(failures)

    # a counsellor of another switchboard sees the case once it is assigned to them
    assigned = roles["other_counsellor"]
    await session.execute(
        text("UPDATE cases SET assigned_user_id = :u WHERE id = :c"), {"u": assigned.user.id, "c": case.id}
    )
    r = await client.get(f"/api/v1/referrals/{shown.id}", headers=assigned.headers)
    assert r.status_code == 200
    # the out-of-scope answer says nothing about the case
    r = await client.get(f"/api/v1/referrals/{shown.id}", headers=roles["other_supervisor"].headers)
    assert r.status_code == 404 and "case" not in r.json()["error"]["message"]


# ---- the state machine -------------------------------------------------------------------------


async def test_every_legal_transition_is_timestamped_attributed_on_the_timeline_and_audited(client, session):
    counsellor = await signed_in(session, "counsellor")
    supervisor = await signed_in(session, "supervisor")
    partner = await make_partner(session, "Công an tỉnh Lào Cai", "police", "15")
    case = await make_case(session, "hanoi", assigned_user_id=counsellor.user.id)

    r = await refer(client, counsellor, case, partner)
    assert r.status_code == 201, r.text
    made = r.json()
    rid = made["id"]
    assert made["status"] == "draft" and made["next"] == ["sent", "revoked"]
    assert made["case_reference"] == case.reference and made["partner_name"] == "Công an tỉnh Lào Cai"
    assert made["consent"] == "given" and made["created_by"] == counsellor.user.id
    assert made["sent_at"] is None and made["override_reason"] is None

    r = await move(client, counsellor, rid, "sent")
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["status"] == "sent" and sent["sent_at"] is not None
    assert sent["status_changed_at"] == sent["sent_at"]
    r = await move(
        client, supervisor, rid, "accepted", external_reference="45/2026/CSHS", reason="Đã gọi trực ban"
    )
    accepted = r.json()
    assert r.status_code == 200 and accepted["accepted_at"] is not None
    assert accepted["external_reference"] == "45/2026/CSHS"
    r = await move(client, counsellor, rid, "in_progress")
    assert r.status_code == 200 and r.json()["next"] == ["done", "revoked"]
    r = await move(client, counsellor, rid, "done", outcome="rescued")
    done = r.json()
    assert r.status_code == 200 and done["status"] == "done" and done["outcome"] == "rescued"
    assert done["done_at"] is not None and done["next"] == []

    steps = [(t["from_status"], t["to_status"], t["by_user_id"]) for t in done["transitions"]]
    c, s = counsellor.user.id, supervisor.user.id
    assert steps == [
        (None, "draft", c),
        ("draft", "sent", c),
        ("sent", "accepted", s),
        ("accepted", "in_progress", c),
        ("in_progress", "done", c),
    ]
    assert done["transitions"][2]["reason"] == "Đã gọi trực ban"
    assert done["transitions"][4]["outcome"] == "rescued"
    ats = [t["at"] for t in done["transitions"]]
    assert ats == sorted(ats)

    # the case's timeline: one "referral" entry per transition, codes and ids only
    assert await events(session, case, "referral") == [
        {"referral_id": rid, "from": None, "to": "draft"},
        {"referral_id": rid, "from": "draft", "to": "sent"},
        {"referral_id": rid, "from": "sent", "to": "accepted"},
        {"referral_id": rid, "from": "accepted", "to": "in_progress"},
        {"referral_id": rid, "from": "in_progress", "to": "done"},
    ]
    # … and the audit log: one entry per change, field names and never the reason itself
    changes = await audit_entries(session, "referral", object_id=rid)
    assert [(e.action, e.details.get("to")) for e in changes] == [
        ("create", None),
        ("transition", "sent"),
        ("transition", "accepted"),
        ("transition", "in_progress"),
        ("transition", "done"),
    ]
    assert changes[2].details["fields"] == ["external_reference", "reason"]
    assert changes[2].actor_user_id == supervisor.user.id
    assert all("Đã gọi" not in str(e.details) and "45/2026" not in str(e.details) for e in changes)
    # the transition reason is encrypted at rest
    raw = await session.scalars(
        text("SELECT reason_enc FROM referral_transitions WHERE reason_enc IS NOT NULL")
    )
    blobs = [bytes(b) for b in raw]
    assert blobs and all("Đã gọi".encode() not in b for b in blobs)


async def test_rejection_and_revocation_from_every_state_that_allows_it(client, session):
    supervisor = await signed_in(session, "supervisor")
    partner = await make_partner(session)
    case = await make_case(session, "hanoi", status="follow_up")

    sent = await make_referral(session, case, partner, "sent")
    r = await move(client, supervisor, sent.id, "rejected")
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = await move(client, supervisor, sent.id, "rejected", reason="   ")
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = await move(client, supervisor, sent.id, "rejected", reason="Ngoài địa bàn phụ trách")
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["next"] == []
    assert r.json()["transitions"][-1]["reason"] == "Ngoài địa bàn phụ trách"

    for state in ("draft", "sent", "accepted", "in_progress"):
        referral = await make_referral(session, case, partner, state)
        r = await move(client, supervisor, referral.id, "revoked", reason="Gia đình đã tìm thấy người")
        assert r.status_code == 200, f"{state}: {r.text}"
        assert r.json()["status"] == "revoked"
        assert r.json()["transitions"][-1]["from_status"] == state


async def test_every_illegal_transition_is_refused_with_409_saying_what_is_allowed(client, session):
    supervisor = await signed_in(session, "supervisor")
    partner = await make_partner(session)
    case = await make_case(session, "hanoi")
    failures = []
    for state in REFERRAL_STATUSES:
        for to in REFERRAL_STATUSES:
            if to in MOVES[state]:
                continue
            referral = await make_referral(session, case, partner, state)
            extra = (
                {"reason": "lý do"} if to == "rejected" else {"outcome": "rescued"} if to == "done" else {}
            )
            r = await move(client, supervisor, referral.id, to, **extra)
            body = r.json()
            message = body.get("error", {}).get("message", "")
            if r.status_code != 409 or f"from {state} to {to}" not in message:
                failures.append(f"{state} → {to}: {r.status_code} {message}")
            elif MOVES[state] and not all(a in message for a in MOVES[state]):
                failures.append(f"{state} → {to}: the message does not say what is allowed: {message}")
            elif not MOVES[state] and "final" not in message:
                failures.append(f"{state} → {to}: the message does not say {state} is final: {message}")
            await session.refresh(referral)
            if referral.status != state:
                failures.append(f"{state} → {to}: the referral moved to {referral.status}")
    assert not failures, "\n".join(failures)
    # and nothing of it reached the timeline or the audit log
    assert await events(session, case, "referral") == []
    assert await audit_entries(session, "referral", "transition") == []


async def test_done_needs_an_outcome_of_the_code_list(client, session):
    counsellor = await signed_in(session, "counsellor")
    partner = await make_partner(session)
    case = await make_case(session, "hanoi")
    referral = await make_referral(session, case, partner, "in_progress")
    r = await move(client, counsellor, referral.id, "done")
    assert r.status_code == 422 and r.json()["error"]["field"] == "outcome"
    r = await move(client, counsellor, referral.id, "done", outcome="teleported")
    assert r.status_code == 422 and r.json()["error"]["field"] == "outcome"
    r = await move(client, counsellor, referral.id, "revoked", outcome="rescued")
    assert r.status_code == 422 and r.json()["error"]["field"] == "outcome"
    r = await move(client, counsellor, referral.id, "done", outcome="person_located")
    assert r.status_code == 200 and r.json()["outcome"] == "person_located"


async def test_sending_refers_the_case(client, session):
    counsellor = await signed_in(session, "counsellor")
    partner = await make_partner(session)
    for status, after in (("open", "referred"), ("follow_up", "referred"), ("referred", "referred")):
        case = await make_case(session, "hanoi", status=status)
        referral = await make_referral(session, case, partner)
        r = await move(client, counsellor, referral.id, "sent")
        assert r.status_code == 200, r.text
        await session.refresh(case)
        assert case.status == after
        moved = await events(session, case, "status")
        if status == "referred":
            assert moved == []
        else:
            assert moved == [{"from": status, "to": "referred", "referral_id": referral.id}]
            assert case.status_changed_by == counsellor.user.id
            [audited] = await audit_entries(session, "case", "update", case.id)
            assert audited.details == {"status": [status, "referred"], "referral_id": referral.id}
    # a closed case takes no new referral and sends none
    closed = await make_case(session, "hanoi", status="closed")
    assert (await refer(client, counsellor, closed, partner)).status_code == 409
    draft = await make_referral(session, closed, partner)
    assert (await move(client, counsellor, draft.id, "sent")).status_code == 409
    # … but an open referral of it can still be revoked
    assert (await move(client, counsellor, draft.id, "revoked")).status_code == 200


async def test_a_draft_to_a_partner_deactivated_since_is_not_sent(client, session):
    counsellor = await signed_in(session, "counsellor")
    partner = await make_partner(session)
    case = await make_case(session, "hanoi")
    draft = await make_referral(session, case, partner)
    partner.active = False
    await session.flush()
    r = await move(client, counsellor, draft.id, "sent")
    assert r.status_code == 409 and "no longer active" in r.json()["error"]["message"]
    r = await refer(client, counsellor, case, partner)
    assert r.status_code == 422 and r.json()["error"]["field"] == "partner_id"


# ---- consent -----------------------------------------------------------------------------------


async def test_an_emergency_override_is_a_supervisors_with_its_reason_encrypted(client, session):
    counsellor = await signed_in(session, "counsellor")
    supervisor = await signed_in(session, "supervisor")
    other_supervisor = await signed_in(session, "supervisor", switchboard="danang")
    partner = await make_partner(session)
    case = await make_case(session, "hanoi", assigned_user_id=other_supervisor.user.id)
    override = {"consent": "emergency_override", "override_reason": OVERRIDE_REASON}

    r = await refer(client, counsellor, case, partner, **override)
    assert r.status_code == 403 and "supervisor" in r.json()["error"]["message"]
    # a supervisor who sees the case only because it is assigned to them is not its supervisor
    r = await refer(client, other_supervisor, case, partner, **override)
    assert r.status_code == 403
    r = await refer(client, supervisor, case, partner, consent="emergency_override")
    assert r.status_code == 422 and r.json()["error"]["field"] == "override_reason"
    r = await refer(client, supervisor, case, partner, consent="emergency_override", override_reason=" ")
    assert r.status_code == 422 and r.json()["error"]["field"] == "override_reason"
    r = await refer(client, supervisor, case, partner, override_reason=OVERRIDE_REASON)
    assert r.status_code == 422 and r.json()["error"]["field"] == "override_reason"

    r = await refer(client, supervisor, case, partner, **override)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["consent"] == "emergency_override" and made["override_by"] == supervisor.user.id
    assert made["override_reason"] == OVERRIDE_REASON
    # encrypted at rest: the raw column does not hold the text, and opens only in its own context
    raw = bytes(
        await session.scalar(
            text("SELECT override_reason_enc FROM referrals WHERE id = :id"), {"id": made["id"]}
        )
    )
    assert OVERRIDE_REASON.encode() not in raw and "biên giới".encode() not in raw
    assert KEYRING.decrypt(raw, "referrals.override_reason") == OVERRIDE_REASON
    # the timeline and the audit log say there was an override, never why
    assert (await events(session, case, "referral"))[0] == {
        "referral_id": made["id"],
        "from": None,
        "to": "draft",
        "emergency_override": True,
    }
    [created] = await audit_entries(session, "referral", "create", made["id"])
    assert "biên giới" not in str(created.details)
    assert created.details["fields"] == ["consent", "override_reason", "partner_id", "referral_type"]
    # the counsellor following the case reads the reason
    r = await client.get(f"/api/v1/referrals/{made['id']}", headers=counsellor.headers)
    assert r.json()["override_reason"] == OVERRIDE_REASON


async def test_a_withdrawn_consent_stops_new_referrals_and_sending_unless_overridden(client, session):
    counsellor = await signed_in(session, "counsellor")
    supervisor = await signed_in(session, "supervisor")
    national = await signed_in(session, "national_supervisor", switchboard="danang")
    partner = await make_partner(session)
    case = await make_case(session, "hanoi")
    now = datetime.now(UTC)
    await record_consent(session, case, "given", now - timedelta(days=3))
    draft = await make_referral(session, case, partner)
    assert (await refer(client, counsellor, case, partner)).status_code == 201

    # the victim withdraws on a later call; a still later call that did not ask changes nothing
    await record_consent(session, case, "withdrawn", now - timedelta(days=2))
    await record_consent(session, case, None, now - timedelta(days=1))
    r = await refer(client, counsellor, case, partner)
    assert r.status_code == 409 and r.json()["error"]["field"] == "consent"
    assert "withdrawn" in r.json()["error"]["message"]
    r = await move(client, counsellor, draft.id, "sent")
    assert r.status_code == 409 and "withdrawn" in r.json()["error"]["message"]
    # a counsellor cannot override; a supervisor can, when sending, with a reason
    r = await move(client, counsellor, draft.id, "sent", override_reason=OVERRIDE_REASON)
    assert r.status_code == 403
    r = await move(client, supervisor, draft.id, "sent", override_reason=OVERRIDE_REASON)
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["status"] == "sent" and sent["consent"] == "emergency_override"
    assert sent["override_by"] == supervisor.user.id and sent["override_reason"] == OVERRIDE_REASON
    [audited] = await audit_entries(session, "referral", "transition", draft.id)
    assert audited.details["emergency_override"] is True and "override_reason" in audited.details["fields"]
    # an override is recorded when sending, not on other moves
    r = await move(client, supervisor, draft.id, "accepted", override_reason=OVERRIDE_REASON)
    assert r.status_code == 422 and r.json()["error"]["field"] == "override_reason"
    # a new referral under an override, by a national supervisor, is made and sent
    r = await refer(
        client, national, case, partner, consent="emergency_override", override_reason=OVERRIDE_REASON
    )
    assert r.status_code == 201
    assert (await move(client, counsellor, r.json()["id"], "sent")).status_code == 200
    # revoking is always possible
    r = await refer(
        client, supervisor, case, partner, consent="emergency_override", override_reason="Khẩn cấp"
    )
    assert (await move(client, counsellor, r.json()["id"], "revoked")).status_code == 200

    # consent given again on a later call: referrals go ahead
    await record_consent(session, case, "given", now)
    assert (await refer(client, counsellor, case, partner)).status_code == 201


async def test_a_refusal_is_as_binding_as_a_withdrawal(client, session):
    counsellor = await signed_in(session, "counsellor")
    partner = await make_partner(session)
    case = await make_case(session, "hanoi")
    await record_consent(session, case, "refused")
    r = await refer(client, counsellor, case, partner)
    assert r.status_code == 409 and "refused" in r.json()["error"]["message"]


# ---- reads, the reference number, the audit trail ----------------------------------------------


async def test_reads_are_audited_and_the_partners_reference_recorded(client, session):
    counsellor = await signed_in(session, "counsellor")
    partner = await make_partner(session)
    case = await make_case(session, "hanoi")
    first = await make_referral(session, case, partner, "accepted")
    second = await make_referral(session, case, partner, "sent")
    other_case = await make_case(session, "hanoi")
    await make_referral(session, other_case, partner)

    r = await client.get(f"/api/v1/cases/{case.id}/referrals", headers=counsellor.headers)
    assert r.status_code == 200
    assert [x["id"] for x in r.json()] == [first.id, second.id]
    assert all("override_reason" not in x and "transitions" not in x for x in r.json())
    [listed] = await audit_entries(session, "referral", "list")
    assert listed.details == {"case_id": case.id, "referral_ids": [first.id, second.id]}
    assert listed.actor_user_id == counsellor.user.id

    r = await client.get(f"/api/v1/referrals/{first.id}", headers=counsellor.headers)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    [read] = await audit_entries(session, "referral", "read", first.id)
    assert read.details == {"case_id": case.id} and read.actor == f"user:{counsellor.user.username}"

    r = await client.patch(
        f"/api/v1/referrals/{first.id}",
        json={"external_reference": " 1234/QĐ-CAT "},
        headers=counsellor.headers,
    )
    assert r.status_code == 200 and r.json()["external_reference"] == "1234/QĐ-CAT"
    r = await client.patch(
        f"/api/v1/referrals/{first.id}", json={"external_reference": None}, headers=counsellor.headers
    )
    assert r.status_code == 200 and r.json()["external_reference"] is None
    updates = await audit_entries(session, "referral", "update", first.id)
    assert [u.details for u in updates] == [{"case_id": case.id, "fields": ["external_reference"]}] * 2
    # an unknown referral or case: 404
    assert (await client.get("/api/v1/referrals/987654321", headers=counsellor.headers)).status_code == 404
    r = await client.get("/api/v1/cases/987654321/referrals", headers=counsellor.headers)
    assert r.status_code == 404


# ---- follow-up reminders -----------------------------------------------------------------------


async def test_overdue_referrals_within_the_readers_scope_newest_stuck_first(client, session):
    counsellor = await signed_in(session, "counsellor")
    supervisor = await signed_in(session, "supervisor")
    danang_supervisor = await signed_in(session, "supervisor", switchboard="danang")
    national = await signed_in(session, "national_supervisor", switchboard="angiang")
    partner = await make_partner(session)
    mine = await make_case(session, "hanoi", assigned_user_id=counsellor.user.id)
    colleague = await make_case(session, "hanoi")
    danang = await make_case(session, "danang")

    sent_5 = await make_referral(session, mine, partner, "sent", days_ago=5)
    sent_10 = await make_referral(session, colleague, partner, "sent", days_ago=10)
    accepted_20 = await make_referral(session, mine, partner, "accepted", days_ago=20)
    in_progress_16 = await make_referral(session, danang, partner, "in_progress", days_ago=16)
    in_progress_10 = await make_referral(session, mine, partner, "in_progress", days_ago=10)
    sent_1 = await make_referral(session, mine, partner, "sent", days_ago=1)
    for state in ("draft", "done", "rejected", "revoked"):
        await make_referral(session, mine, partner, state, days_ago=60)
    ours = {sent_5.id, sent_10.id, accepted_20.id, in_progress_16.id, in_progress_10.id, sent_1.id}

    async def overdue(who: SignedIn, **params: Any) -> list[int]:
        r = await client.get("/api/v1/referrals/overdue", params=params, headers=who.headers)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["referrals"] if x["id"] in ours]

    # overdue since: sent_5 day -2, sent_10 day -7, accepted_20 day -6, in_progress_16 day -2
    assert await overdue(national) == [in_progress_16.id, sent_5.id, accepted_20.id, sent_10.id]
    assert await overdue(supervisor) == [sent_5.id, accepted_20.id, sent_10.id]
    assert await overdue(danang_supervisor) == [in_progress_16.id]
    # a counsellor is reminded of the cases assigned to them
    assert await overdue(counsellor) == [sent_5.id, accepted_20.id]
    # the thresholds are query parameters
    assert await overdue(counsellor, sent_days=7, active_days=7) == [in_progress_10.id, accepted_20.id]
    assert await overdue(national, sent_days=30, active_days=30) == []
    assert await overdue(national, switchboard="danang") == [in_progress_16.id]
    assert await overdue(supervisor, switchboard="danang") == []

    r = await client.get("/api/v1/referrals/overdue", headers=counsellor.headers)
    entry = next(x for x in r.json()["referrals"] if x["id"] == accepted_20.id)
    assert entry["days_in_state"] == 20 and entry["case_reference"] == mine.reference
    assert entry["switchboard"] == "hanoi" and entry["assigned_user_id"] == counsellor.user.id
    assert r.json()["sent_days"] == 3 and r.json()["active_days"] == 14
    listed = await audit_entries(session, "referral", "list")
    assert listed and listed[-1].details["overdue"] is True
    assert set(listed[-1].details["referral_ids"]) >= {sent_5.id, accepted_20.id}

    for params, field in (
        ({"sent_days": 0}, "query.sent_days"),
        ({"active_days": "soon"}, "query.active_days"),
        ({"limit": 501}, "query.limit"),
        ({"switchboard": "Hà Nội"}, "query.switchboard"),
    ):
        r = await client.get("/api/v1/referrals/overdue", params=params, headers=national.headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


# ---- bad input ---------------------------------------------------------------------------------


async def test_bad_input_is_refused_naming_the_field(client, session):
    supervisor = await signed_in(session, "supervisor")
    partner = await make_partner(session)
    case = await make_case(session, "hanoi")
    referral = await make_referral(session, case, partner, "sent")
    c = f"/api/v1/cases/{case.id}/referrals"
    good = {"partner_id": partner.id, **REFER}
    cases: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("POST", c, {**REFER}, "partner_id"),
        ("POST", c, {**good, "partner_id": 987654321}, "partner_id"),
        ("POST", c, {**good, "partner_id": 99999999999999999999}, "partner_id"),
        ("POST", c, {**good, "partner_id": "một"}, "partner_id"),
        ("POST", c, {**good, "referral_type": "teleportation"}, "referral_type"),
        ("POST", c, {**good, "referral_type": "Rescue!"}, "referral_type"),
        ("POST", c, {"partner_id": partner.id, "referral_type": "medical"}, "consent"),
        ("POST", c, {**good, "consent": "maybe"}, "consent"),
        (
            "POST",
            c,
            {**good, "consent": "emergency_override", "override_reason": "x" * 2001},
            "override_reason",
        ),
        (
            "POST",
            c,
            {**good, "consent": "emergency_override", "override_reason": "a\x00b"},
            "override_reason",
        ),
        ("POST", "/api/v1/cases/99999999999999999999/referrals", good, "path.case_id"),
        ("POST", "/api/v1/cases/abc/referrals", good, "path.case_id"),
        ("POST", f"/api/v1/referrals/{referral.id}/transitions", {}, "to"),
        ("POST", f"/api/v1/referrals/{referral.id}/transitions", {"to": "flying"}, "to"),
        ("POST", f"/api/v1/referrals/{referral.id}/transitions", {"to": "done", "outcome": "X"}, "outcome"),
        (
            "POST",
            f"/api/v1/referrals/{referral.id}/transitions",
            {"to": "accepted", "external_reference": "a\nb"},
            "external_reference",
        ),
        (
            "POST",
            f"/api/v1/referrals/{referral.id}/transitions",
            {"to": "accepted", "external_reference": "x" * 101},
            "external_reference",
        ),
        ("POST", "/api/v1/referrals/0/transitions", {"to": "sent"}, "path.referral_id"),
        ("PATCH", f"/api/v1/referrals/{referral.id}", {}, "external_reference"),
        ("PATCH", f"/api/v1/referrals/{referral.id}", {"external_reference": 12}, "external_reference"),
        ("PATCH", f"/api/v1/referrals/{referral.id}", {"external_reference": "\x07"}, "external_reference"),
        ("GET", "/api/v1/referrals/99999999999999999999", None, "path.referral_id"),
        ("GET", "/api/v1/referrals/-1", None, "path.referral_id"),
    ]
    failures = []
    for method, url, body, field in cases:
        r = await client.request(method, url, json=body, headers=supervisor.headers)
        got = r.json().get("error", {}).get("field")
        if r.status_code != 422 or got != field:
            failures.append(f"{method} {url} {body!r:.70}: {r.status_code} field={got}, expected 422 {field}")
    assert not failures, "\n".join(failures)
    r = await client.post(
        c, content=b"[1, 2", headers={**supervisor.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 422
    # nothing of it was stored
    assert (
        await session.scalar(
            select(Referral.id).where(Referral.case_id == case.id, Referral.id != referral.id)
        )
        is None
    )
