"""The endpoints the console relies on: a caller's history without the number, the case list for
review, pending wrap-ups, and the current session."""

from __future__ import annotations

from tests.cases.test_records import WRAP_UP, _open_case, answered_call, audit_count
from tests.factories import signed_in


async def test_caller_history_lists_earlier_calls_and_open_cases_without_the_number(client, session):
    me = await signed_in(session, "counsellor")
    other_board = await signed_in(session, "counsellor", switchboard="angiang")
    case = await _open_case(client, session, me, number="+84987000111")
    earlier = await answered_call(session, me.user.id, number="+84987000111", ended_minutes_ago=60)
    await answered_call(session, None, number="+84900000999")  # another caller: not in the history
    now = await answered_call(session, me.user.id, number="+84987000111", ended_minutes_ago=1)

    r = await client.get(f"/api/v1/calls/{now.id}/history", headers=me.headers)
    assert r.status_code == 200, r.text
    h = r.json()
    assert h["known_number"] is True
    ids = [c["id"] for c in h["calls"]]
    assert earlier.id in ids and now.id not in ids and len(ids) == 2  # the case's call and the earlier one
    with_case = [c for c in h["calls"] if c["case_id"] == case["id"]]
    assert with_case and with_case[0]["contact_type"] == WRAP_UP["contact_type"]
    assert [c["reference"] for c in h["open_cases"]] == [case["reference"]]
    assert "987000111" not in r.text  # the number itself is never in it
    assert await audit_count(session, "read", "caller_history", now.id) == 1

    # outside my scope: a call of another switchboard is not found
    r = await client.get(f"/api/v1/calls/{now.id}/history", headers=other_board.headers)
    assert r.status_code == 404
    # a withheld number has no history to look up
    withheld = await answered_call(session, me.user.id)
    withheld.caller_hash = None
    withheld.caller_number_enc = None
    await session.flush()
    h = (await client.get(f"/api/v1/calls/{withheld.id}/history", headers=me.headers)).json()
    assert h == {"call_id": withheld.id, "known_number": False, "calls": [], "open_cases": []}


async def test_case_list_for_review_is_scoped_filtered_and_audited(client, session):
    counsellor = await signed_in(session, "counsellor")
    supervisor = await signed_in(session, "supervisor")
    far = await signed_in(session, "supervisor", switchboard="angiang")
    analyst = await signed_in(session, "analyst")
    case = await _open_case(client, session, counsellor, number="+84987000222")

    r = await client.get("/api/v1/cases", headers=supervisor.headers)
    assert r.status_code == 200, r.text
    assert case["id"] in [c["id"] for c in r.json()["cases"]]
    assert r.json()["total"] >= 1
    assert "name" not in r.text and "phone" not in r.text

    r = await client.get("/api/v1/cases", params={"status": "closed"}, headers=supervisor.headers)
    assert case["id"] not in [c["id"] for c in r.json()["cases"]]
    r = await client.get("/api/v1/cases", params={"unassigned": "true"}, headers=supervisor.headers)
    assert all(c["assigned_user_id"] is None for c in r.json()["cases"])

    r = await client.get("/api/v1/cases", headers=far.headers)
    assert case["id"] not in [c["id"] for c in r.json()["cases"]]
    assert (await client.get("/api/v1/cases", headers=analyst.headers)).status_code == 403
    r = await client.get("/api/v1/cases", params={"status": "bogus"}, headers=supervisor.headers)
    assert r.status_code == 422
    assert await audit_count(session, "list", "case", "-") >= 1


async def test_pending_wrap_ups_include_those_still_within_their_time(client, session):
    me = await signed_in(session, "counsellor")
    just_ended = await answered_call(session, me.user.id, ended_minutes_ago=0.2)
    overdue = await answered_call(session, me.user.id, ended_minutes_ago=30)
    r = await client.get("/api/v1/me/overdue-contacts", headers=me.headers)
    assert [o["call_id"] for o in r.json()] == [overdue.id]
    r = await client.get("/api/v1/me/overdue-contacts", params={"pending": "true"}, headers=me.headers)
    assert [o["call_id"] for o in r.json()] == [overdue.id, just_ended.id]


async def test_the_session_says_who_until_when_and_the_inactivity_limit(client, session):
    me = await signed_in(session, "analyst")
    r = await client.get("/api/v1/auth/session", headers=me.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["id"] == me.user.id and body["idle_minutes"] == 30
    assert body["csrf_token"] is None  # a bearer token needs none
    assert (await client.get("/api/v1/auth/session")).status_code == 401
