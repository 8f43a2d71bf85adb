"""The /route dialogue: each rule of PRODUCT.md §2, the four actions, reservations, bad requests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from hotline_api.calls.models import Call, CallLeg, CallOffer
from hotline_api.routing.models import Presence, RoutingDecision, WaitingCall
from tests.routing.conftest import board, counsellor, open_all_day
from tests.telephony.conftest import new_linkedid


async def _presence(session, user_id: int) -> Presence:
    p = await session.scalar(
        select(Presence).where(Presence.user_id == user_id).execution_options(populate_existing=True)
    )
    assert isinstance(p, Presence)
    return p


async def test_a_call_is_offered_to_an_available_counsellor(client, session):
    await open_all_day(session)
    hanoi = await board(client, session)
    lan = await counsellor(session, extension="PJSIP/1012")
    lk = new_linkedid()
    status, answer = await hanoi.ask(lk, caller="0912345678")
    assert status == 200
    assert answer == {
        "action": "dial",
        "target": "PJSIP/1012",
        "timeout": "20",
        "priority": "0",
        "reason": "longest_idle",
    }
    p = await _presence(session, lan.id)
    assert p.state == "reserved" and p.reserved_until is not None
    call = await session.scalar(select(Call).where(Call.linkedid == lk))
    assert call is not None and call.wait_started_at is not None  # the wait starts at the first /route
    decision = await session.scalar(select(RoutingDecision).where(RoutingDecision.linkedid == lk))
    assert decision is not None and decision.action == "dial" and decision.counsellor_user_id == lan.id
    assert decision.region == "north" and decision.region_reason == "default"
    assert "0912345678" not in str(decision.inputs)
    # the counsellor is not offered a second call while the first rings
    status, second = await hanoi.ask(new_linkedid())
    assert second == {
        "action": "wait",
        "seconds": "15",
        "position": "1",
        "priority": "0",
        "reason": "waiting",
    }


async def test_json_answer_on_request(client, session):
    await open_all_day(session)
    hanoi = await board(client, session)
    status, answer = await hanoi.ask(new_linkedid(), accept_json=True)
    assert status == 200 and answer["action"] == "wait" and answer["seconds"] == "15"


async def test_a_failed_dial_is_a_missed_offer_and_the_counsellor_is_set_unavailable(client, session):
    await open_all_day(session)
    hanoi = await board(client, session)
    lan = await counsellor(session, extension="PJSIP/1012")
    minh = await counsellor(
        session, extension="PJSIP/1013", idle_since=datetime.now(UTC) + timedelta(seconds=5)
    )
    lk = new_linkedid()
    _, first = await hanoi.ask(lk)
    assert first["target"] == "PJSIP/1012"  # idle longest
    _, again = await hanoi.ask(lk, attempt=2, previous_target="PJSIP/1012")
    assert again["action"] == "dial" and again["target"] == "PJSIP/1013"
    assert (await _presence(session, lan.id)).state == "missed"
    call = await session.scalar(select(Call).where(Call.linkedid == lk))
    offers = (await session.scalars(select(CallOffer).where(CallOffer.call_id == call.id))).all()
    assert [(o.extension, o.user_id, o.result) for o in offers] == [("PJSIP/1012", lan.id, "noanswer")]
    assert (await _presence(session, minh.id)).state == "reserved"


async def test_a_reservation_lapses_after_the_ring_timeout(client, session):
    await open_all_day(session)
    hanoi = await board(client, session)
    lan = await counsellor(session)
    lk = new_linkedid()
    await hanoi.ask(lk)
    await session.execute(
        text(
            "UPDATE counsellor_presence SET reserved_until = now() - interval '1 second' WHERE user_id = :u"
        ),
        {"u": lan.id},
    )
    _, answer = await hanoi.ask(new_linkedid())  # any decision at the switchboard notices the lapse
    assert answer["action"] == "wait"
    assert (await _presence(session, lan.id)).state == "missed"
    assert await session.scalar(select(func.count()).select_from(CallOffer)) == 1


async def test_area_code_sends_the_call_to_its_region(client, session):
    await open_all_day(session)
    hanoi = await board(client, session)
    await counsellor(session, switchboard="danang", extension="PJSIP/2012")
    _, answer = await hanoi.ask(new_linkedid(), caller="02363822123")  # a Đà Nẵng landline
    assert answer == {"action": "transfer", "target": "IAX2/danang-trunk/111", "reason": "area_code"}
    # old and new codes alike: 235 was Quảng Nam's, now part of Đà Nẵng
    _, answer = await hanoi.ask(new_linkedid(), caller="0235 3822 123")
    assert answer["target"] == "IAX2/danang-trunk/111"


async def test_the_ivr_choice_comes_first(client, session):
    await open_all_day(session)
    danang = await board(client, session, "danang")
    await counsellor(session, switchboard="angiang", extension="PJSIP/3012")
    _, answer = await danang.ask(new_linkedid(), caller="02363822123", ivr_region="south")
    assert answer == {"action": "transfer", "target": "IAX2/angiang-trunk/111", "reason": "ivr"}
    _, answer = await danang.ask(new_linkedid(), ivr_province="91")  # An Giang
    assert answer["action"] == "transfer" and answer["reason"] == "ivr"


async def test_repeat_caller_goes_to_their_region_and_previous_counsellor(client, session, keyring):
    await open_all_day(session)
    hanoi = await board(client, session)
    previous = await counsellor(session, extension="PJSIP/1012", idle_since=datetime.now(UTC))
    await counsellor(session, extension="PJSIP/1013", idle_since=datetime.now(UTC) - timedelta(hours=1))
    number = "+84987000111"
    earlier = datetime.now(UTC) - timedelta(days=3)
    session.add(
        Call(
            switchboard_code="hanoi",
            linkedid=new_linkedid(),
            started_at=earlier,
            answered_at=earlier,
            ended_at=earlier + timedelta(minutes=5),
            counsellor_user_id=previous.id,
            answered_switchboard="hanoi",
            caller_hash=keyring.keyed_hash(number, "phone"),
            caller_region="north",
        )
    )
    await session.flush()
    _, answer = await hanoi.ask(new_linkedid(), caller="0987 000 111")
    assert answer["target"] == "PJSIP/1012" and answer["reason"] == "previous_counsellor"


async def test_repeat_caller_region_without_other_clues(client, session, keyring):
    await open_all_day(session)
    angiang = await board(client, session, "angiang")
    await counsellor(session, switchboard="danang", extension="PJSIP/2012")
    number = "+84987000222"
    earlier = datetime.now(UTC) - timedelta(days=30)
    session.add(
        Call(
            switchboard_code="danang",
            linkedid=new_linkedid(),
            started_at=earlier,
            answered_at=earlier,
            ended_at=earlier,
            answered_switchboard="danang",
            caller_hash=keyring.keyed_hash(number, "phone"),
        )
    )
    await session.flush()
    _, answer = await angiang.ask(new_linkedid(), caller="0987000222")
    assert answer == {"action": "transfer", "target": "IAX2/danang-trunk/111", "reason": "repeat_caller"}


async def test_closed_switchboard_overflows_to_hanoi(client, session):
    await open_all_day(session)
    await session.execute(
        text("UPDATE routing_settings SET opening_hours = '{}' WHERE switchboard_code = 'danang'")
    )
    danang = await board(client, session, "danang")
    await counsellor(session, switchboard="danang", extension="PJSIP/2012")
    await counsellor(session, switchboard="hanoi", extension="PJSIP/1012")
    _, answer = await danang.ask(new_linkedid(), caller="02363822123")
    assert answer == {"action": "transfer", "target": "IAX2/hanoi-trunk/111", "reason": "after_hours"}


async def test_nobody_signed_in_overflows_to_hanoi_then_anywhere(client, session):
    await open_all_day(session)
    angiang = await board(client, session, "angiang")
    await counsellor(session, switchboard="hanoi", extension="PJSIP/1012")
    _, answer = await angiang.ask(new_linkedid(), ivr_region="south")
    assert answer == {
        "action": "transfer",
        "target": "IAX2/hanoi-trunk/111",
        "reason": "overflow_no_counsellor",
    }
    # Hà Nội empty too: any switchboard with an available counsellor
    await session.execute(text("UPDATE counsellor_presence SET state = 'offline'"))
    await counsellor(session, switchboard="danang", extension="PJSIP/2012")
    _, answer = await angiang.ask(new_linkedid(), ivr_region="south")
    assert answer == {
        "action": "transfer",
        "target": "IAX2/danang-trunk/111",
        "reason": "overflow_no_counsellor",
    }


async def test_waiting_past_the_threshold_overflows(client, session):
    await open_all_day(session, overflow_after_seconds=1)
    danang = await board(client, session, "danang")
    busy = await counsellor(session, switchboard="danang", extension="PJSIP/2012", state="on_call")
    await counsellor(session, switchboard="hanoi", extension="PJSIP/1012")
    lk = new_linkedid()
    _, first = await danang.ask(lk, ivr_region="central")
    assert first["action"] == "wait"  # danang has someone signed in, busy
    await asyncio.sleep(1.2)
    _, later = await danang.ask(lk, ivr_region="central", attempt=2)
    assert later == {"action": "transfer", "target": "IAX2/hanoi-trunk/111", "reason": "overflow_wait"}
    del busy


async def test_an_overflowed_call_is_served_where_it_arrives_and_stays_one_call(client, session):
    await open_all_day(session)
    angiang = await board(client, session, "angiang")
    hanoi = await board(client, session, "hanoi")
    hanoi_counsellor = await counsellor(session, switchboard="hanoi", extension="PJSIP/1012")
    lk = new_linkedid()
    _, answer = await angiang.ask(lk, ivr_region="south")
    assert answer["action"] == "transfer"
    lk2 = new_linkedid()
    _, answer = await hanoi.ask(lk2, origin=f"angiang:{lk}", ivr_region="south")
    assert answer["action"] == "dial" and answer["target"] == "PJSIP/1012"
    calls = (await session.scalars(select(Call).where(Call.linkedid.in_([lk, lk2])))).all()
    assert len(calls) == 1 and calls[0].switchboard_code == "angiang"
    leg = await session.scalar(select(CallLeg).where(CallLeg.linkedid == lk2))
    assert leg is not None and leg.call_id == calls[0].id
    assert (await _presence(session, hanoi_counsellor.id)).call_id == calls[0].id


async def test_priority_then_first_come(client, session):
    await open_all_day(session)
    hanoi = await board(client, session)
    busy = await counsellor(session, state="on_call")
    first, second, urgent = new_linkedid(), new_linkedid(), new_linkedid()
    _, a = await hanoi.ask(first)
    _, b = await hanoi.ask(second)
    _, c = await hanoi.ask(urgent, ivr_emergency="1")
    assert (a["position"], b["position"]) == ("1", "2")
    assert c == {"action": "wait", "seconds": "15", "position": "1", "priority": "10", "reason": "waiting"}
    # the counsellor becomes free: the emergency is served first, then the earlier of the others
    await session.execute(
        text("UPDATE counsellor_presence SET state = 'available' WHERE user_id = :u"), {"u": busy.id}
    )
    _, b2 = await hanoi.ask(second, attempt=2)
    assert b2["action"] == "wait" and b2["position"] == "3"  # behind the emergency and the first
    _, c2 = await hanoi.ask(urgent, attempt=2, ivr_emergency="1")
    assert c2["action"] == "dial" and c2["priority"] == "10"


async def test_language_first_then_any_after_a_wait(client, session):
    await open_all_day(session, language_wait_seconds=1)
    hanoi = await board(client, session)
    await counsellor(session, extension="PJSIP/1012", languages=["vi"])
    khmer = await counsellor(
        session,
        extension="PJSIP/1014",
        languages=["vi", "km"],
        idle_since=datetime.now(UTC) + timedelta(minutes=1),
    )
    _, answer = await hanoi.ask(new_linkedid(), ivr_language="km")
    assert answer["target"] == "PJSIP/1014"  # not the longest idle, but the one who speaks Khmer
    await session.execute(
        text("UPDATE counsellor_presence SET state = 'offline' WHERE user_id = :u"), {"u": khmer.id}
    )
    lk = new_linkedid()
    _, wait = await hanoi.ask(lk, ivr_language="km")
    assert wait["action"] == "wait"
    await asyncio.sleep(1.1)
    _, later = await hanoi.ask(lk, ivr_language="km", attempt=2)
    assert later["action"] == "dial" and later["reason"] == "any_language"


async def test_the_wait_has_a_last_resort_limit(client, session):
    await open_all_day(session, max_wait_seconds=30)
    await session.execute(text("UPDATE routing_settings SET max_wait_seconds = 0"))  # below the API's floor
    hanoi = await board(client, session)
    lk = new_linkedid()
    _, answer = await hanoi.ask(lk)
    assert answer == {"action": "queue", "queue": "q-local", "priority": "0", "reason": "wait_limit"}
    call = await session.scalar(select(Call).where(Call.linkedid == lk))
    assert call is not None and call.timed_out_at is not None


async def test_bad_requests_still_carry_an_action(client, session):
    await open_all_day(session)
    hanoi = await board(client, session)
    r = await client.post(
        "/webhooks/asterisk/hanoi/route",
        data={"exten": "111"},
        headers={"Authorization": "Basic aGFub2k6d3Jvbmc="},
    )
    assert r.status_code == 401 and "action=queue" in r.text and "reason=unauthorized" in r.text
    status, answer = await hanoi.ask("")
    assert status == 422 and answer["action"] == "queue" and answer["field"] == "linkedid"
    status, answer = await hanoi.ask(new_linkedid(), ivr_region="west")
    assert status == 422 and answer["field"] == "ivr_region" and answer["queue"] == "q-local"
    status, answer = await hanoi.ask(new_linkedid(), ivr_province="99")
    assert status == 422 and answer["field"] == "ivr_province"
    status, answer = await hanoi.ask(new_linkedid(), attempt="two")
    assert status == 422 and answer["field"] == "attempt"
    status, answer = await hanoi.ask(new_linkedid(), caller="09'; DROP TABLE calls;--")
    assert status == 422 and answer["field"] == "caller" and answer["action"] == "queue"
    status, answer = await hanoi.ask(new_linkedid(), exten="<script>")
    assert status == 422 and answer["field"] == "exten"
    # a withheld number is not an error: the call is routed by what else is known
    status, answer = await hanoi.ask(new_linkedid(), caller="anonymous")
    assert status == 200
    status, answer = await hanoi.ask(new_linkedid(), origin="saigon:1.2")
    assert status == 422 and answer["field"] == "origin"
    r = await client.post(
        "/webhooks/asterisk/hanoi/route",
        content=b"{not json",
        headers={**{"Content-Type": "application/json"}, **_auth(hanoi)},
    )
    assert r.status_code == 400 and "action=queue" in r.text
    r = await client.post("/webhooks/asterisk/saigon/route", data={"linkedid": "1.1"}, headers=_auth(hanoi))
    assert r.status_code in (401, 404) and "action=queue" in r.text
    # only the withheld-number call was queued: nothing of the refused requests
    assert await session.scalar(select(func.count()).select_from(WaitingCall)) == 1


def _auth(b) -> dict[str, str]:
    from tests.factories import basic_auth

    return basic_auth(b.code, b.secret)


async def test_database_outage_answers_queue_with_503(settings):
    from tests.factories import basic_auth, dead_database_client

    async with dead_database_client(settings) as c:
        r = await c.post(
            "/webhooks/asterisk/hanoi/route", data={"linkedid": "1.1"}, headers=basic_auth("hanoi", "whsec_x")
        )
    assert r.status_code == 503
    assert r.text == "action=queue&queue=q-local&reason=database_unavailable"


async def test_a_supervisor_sees_why_a_call_went_where_it_went(client, session):
    from tests.factories import signed_in

    await open_all_day(session)
    hanoi = await board(client, session)
    await counsellor(session, extension="PJSIP/1012", state="on_call")
    lk = new_linkedid()
    await hanoi.ask(lk, caller="0243 822 1234")
    await session.execute(text("UPDATE counsellor_presence SET state = 'available'"))
    await hanoi.ask(lk, attempt=2, caller="0243 822 1234")
    sup = await signed_in(session, "supervisor")
    call = await session.scalar(select(Call).where(Call.linkedid == lk))
    assert call is not None
    detail = (await client.get(f"/api/v1/calls/{call.id}", headers=sup.headers)).json()
    assert [(d["action"], d["reason"], d["region_reason"]) for d in detail["routing"]] == [
        ("wait", "waiting", "area_code"),
        ("dial", "longest_idle", "area_code"),
    ]
