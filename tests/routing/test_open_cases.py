"""Routing learns of cases (PRODUCT.md §2): a repeat caller with an open case goes to the case's
region, is offered the case's counsellor first, and waits with priority 5."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hotline_api.calls.models import Call
from hotline_api.cases.models import Case
from hotline_api.routing.models import RoutingDecision
from tests.routing.conftest import board, counsellor, open_all_day
from tests.telephony.conftest import new_linkedid


async def _case(
    session, keyring, number: str, region: str, assigned: int | None, status: str = "open"
) -> Case:
    now = datetime.now(UTC)
    case = Case(
        reference=f"111-2026-9{new_linkedid()[-5:]}",
        switchboard_code={"north": "hanoi", "central": "danang", "south": "angiang"}[region],
        region=region,
        status=status,
        status_changed_at=now,
        opened_at=now,
        assigned_user_id=assigned,
        caller_hash=keyring.keyed_hash(number, "phone"),
        updated_at=now,
    )
    session.add(case)
    await session.flush()
    return case


async def test_an_open_case_brings_its_caller_to_its_counsellor_with_priority_5(client, session, keyring):
    await open_all_day(session)
    hanoi = await board(client, session)
    await counsellor(session, extension="PJSIP/1012", idle_since=datetime.now(UTC) - timedelta(hours=2))
    assigned = await counsellor(session, extension="PJSIP/1013", idle_since=datetime.now(UTC))
    previous = await counsellor(
        session, extension="PJSIP/1014", idle_since=datetime.now(UTC) - timedelta(hours=1)
    )
    number = "+84987000333"
    earlier = datetime.now(UTC) - timedelta(days=2)
    # the caller's last answered call was with someone else: the case's counsellor comes first
    session.add(
        Call(
            switchboard_code="hanoi",
            linkedid=new_linkedid(),
            started_at=earlier,
            answered_at=earlier,
            ended_at=earlier,
            counsellor_user_id=previous.id,
            answered_switchboard="hanoi",
            caller_hash=keyring.keyed_hash(number, "phone"),
        )
    )
    case = await _case(session, keyring, number, "north", assigned.id)
    lk = new_linkedid()
    _, answer = await hanoi.ask(lk, caller="0987 000 333")
    assert answer == {
        "action": "dial",
        "target": "PJSIP/1013",
        "timeout": "20",
        "priority": "5",
        "reason": "case_counsellor",
    }
    decision = await session.scalar(select(RoutingDecision).where(RoutingDecision.linkedid == lk))
    assert decision is not None and decision.region_reason == "open_case"
    assert decision.inputs["open_case_id"] == case.id


async def test_an_open_case_takes_its_caller_to_the_cases_region(client, session, keyring):
    await open_all_day(session)
    hanoi = await board(client, session)
    await counsellor(session, switchboard="danang", extension="PJSIP/2012")
    number = "+84987000444"
    await _case(session, keyring, number, "central", None)
    _, answer = await hanoi.ask(new_linkedid(), caller="0987000444")
    assert answer == {"action": "transfer", "target": "IAX2/danang-trunk/111", "reason": "open_case"}
    # the IVR's choice still comes first: the north, where nobody is signed in, so it overflows
    _, answer = await hanoi.ask(new_linkedid(), caller="0987000444", ivr_region="north")
    assert answer["reason"] == "overflow_no_counsellor"


async def test_a_closed_case_counts_for_nothing_and_emergencies_stay_first(client, session, keyring):
    await open_all_day(session)
    hanoi = await board(client, session)
    number = "+84987000555"
    await _case(session, keyring, number, "central", None, status="closed")
    _, answer = await hanoi.ask(new_linkedid(), caller="0987000555")
    assert answer["action"] == "wait" and answer["priority"] == "0"  # nobody signed in here: it waits
    await _case(session, keyring, "+84987000666", "north", None)
    _, with_case = await hanoi.ask(new_linkedid(), caller="0987000666")
    _, emergency = await hanoi.ask(new_linkedid(), caller="0987000666", ivr_emergency="1")
    assert with_case["priority"] == "5" and emergency["priority"] == "10"
    assert int(emergency["position"]) < int(with_case["position"]) or with_case["position"] == "1"
