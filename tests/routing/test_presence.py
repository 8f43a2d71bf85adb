"""Presence, settings and the live queues; presence following the calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from hotline_api.audit.models import AuditEntry
from hotline_api.routing.models import Presence, WaitingCall
from tests.factories import signed_in, switchboard_secret
from tests.routing.conftest import board, counsellor, open_all_day
from tests.telephony.conftest import new_linkedid, scenario, send_all


async def test_a_counsellor_sets_their_availability(client, session):
    me = await signed_in(session, "counsellor")
    r = await client.put("/api/v1/me/presence", headers=me.headers, json={"state": "available"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "switchboard"  # no extension yet
    from hotline_api.auth.models import UserExtension

    session.add(UserExtension(user_id=me.user.id, switchboard_code="hanoi", extension="PJSIP/1077"))
    await session.flush()
    r = await client.put("/api/v1/me/presence", headers=me.headers, json={"state": "available"})
    assert r.status_code == 200 and r.json()["state"] == "available" and r.json()["switchboard"] == "hanoi"
    r = await client.put("/api/v1/me/presence", headers=me.headers, json={"state": "break"})
    assert r.json()["state"] == "break"
    assert (await client.get("/api/v1/me/presence", headers=me.headers)).json()["state"] == "break"
    r = await client.put("/api/v1/me/presence", headers=me.headers, json={"state": "on_call"})
    assert r.status_code == 422 and "available, break, offline" in r.json()["error"]["message"]
    analyst = await signed_in(session, "analyst")
    assert (
        await client.put("/api/v1/me/presence", headers=analyst.headers, json={"state": "available"})
    ).status_code == 403


async def test_supervisors_see_and_change_their_switchboard_only(client, session):
    lan = await counsellor(session, switchboard="danang", extension="PJSIP/2012")
    sup = await signed_in(session, "supervisor", switchboard="danang")
    other = await signed_in(session, "supervisor", switchboard="hanoi")
    national = await signed_in(session, "national_supervisor")
    listed = (await client.get("/api/v1/presence", headers=sup.headers)).json()
    assert [p["user_id"] for p in listed] == [lan.id] and listed[0]["state"] == "available"
    r = await client.put(f"/api/v1/presence/{lan.id}", headers=sup.headers, json={"state": "break"})
    assert r.status_code == 200 and r.json()["state"] == "break"
    entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "set_presence"))
    assert entry is not None and entry.object_id == str(lan.id) and entry.actor_user_id == sup.user.id
    assert (
        await client.put(f"/api/v1/presence/{lan.id}", headers=other.headers, json={"state": "offline"})
    ).status_code == 403
    assert (await client.get("/api/v1/presence?switchboard=danang", headers=other.headers)).status_code == 403
    assert len((await client.get("/api/v1/presence", headers=national.headers)).json()) >= 1


async def test_routing_settings_for_supervisors_audited(client, session):
    sup = await signed_in(session, "supervisor", switchboard="angiang")
    counsellor_user = await signed_in(session, "counsellor", switchboard="angiang")
    got = await client.get("/api/v1/switchboards/angiang/routing-settings", headers=sup.headers)
    assert got.status_code == 200 and got.json()["transfer_targets"]["hanoi"] == "IAX2/hanoi-trunk/111"
    r = await client.put(
        "/api/v1/switchboards/angiang/routing-settings",
        headers=sup.headers,
        json={
            "opening_hours": {"1": ["07:00", "22:00"], "7": ["08:00", "12:00"]},
            "ring_timeout_seconds": 25,
            "overflow_after_seconds": 45,
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["ring_timeout_seconds"] == 25 and body["opening_hours"]["7"] == ["08:00", "12:00"]
    assert body["updated_by"] == f"user:{sup.user.username}"
    entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "update_routing_settings"))
    assert entry is not None and entry.details == {
        "fields": ["opening_hours", "overflow_after_seconds", "ring_timeout_seconds"]
    }
    for bad, field in [
        ({"ring_timeout_seconds": 1}, "ring_timeout_seconds"),
        ({"opening_hours": {"8": ["07:00", "22:00"]}}, "opening_hours"),
        ({"opening_hours": {"1": ["22:00", "07:00"]}}, "opening_hours"),
        ({"transfer_targets": {"saigon": "IAX2/x"}}, "transfer_targets"),
    ]:
        r = await client.put("/api/v1/switchboards/angiang/routing-settings", headers=sup.headers, json=bad)
        assert r.status_code == 422 and r.json()["error"]["field"].startswith(field), (bad, r.json())
    assert (
        await client.put(
            "/api/v1/switchboards/hanoi/routing-settings", headers=sup.headers, json={"wait_seconds": 10}
        )
    ).status_code == 403
    assert (
        await client.get("/api/v1/switchboards/angiang/routing-settings", headers=counsellor_user.headers)
    ).status_code == 403


async def test_presence_follows_the_call_and_the_queue_empties(client, session):
    await open_all_day(session, wrap_up_seconds=60)
    hanoi = await board(client, session)
    secret = await switchboard_secret(session, "hanoi", label="events")
    lan = await counsellor(session, extension="PJSIP/1012")
    s = scenario("answered", start=datetime.now(UTC) - timedelta(minutes=10))
    _, answer = await hanoi.ask(s.linkedid)
    assert answer["action"] == "dial"
    sup = await signed_in(session, "supervisor")
    queues = (await client.get("/api/v1/queues", headers=sup.headers)).json()
    assert queues[0]["waiting"][0]["status"] == "offered" and queues[0]["counsellors"] == {"reserved": 1}
    # the counsellor picks up: the call events put them on the call
    answered = [
        (src, e) for src, e in s.events if src == "ami" and e["Event"] in ("Newchannel", "AgentConnect")
    ]
    s_all = s.events
    s.events = answered
    await send_all(client, s, secret)
    p = await session.scalar(
        select(Presence).where(Presence.user_id == lan.id).execution_options(populate_existing=True)
    )
    assert p is not None and p.state == "on_call" and p.call_id is not None
    waiting = await session.scalar(
        select(WaitingCall)
        .where(WaitingCall.linkedid == s.linkedid)
        .execution_options(populate_existing=True)
    )
    assert waiting is not None and waiting.status == "connected"
    # the caller hangs up: wrap-up for the configured time
    s.events = [(src, e) for src, e in s_all if src == "ami" and e["Event"] == "Hangup"]
    await send_all(client, s, secret)
    p = await session.scalar(
        select(Presence).where(Presence.user_id == lan.id).execution_options(populate_existing=True)
    )
    assert p is not None and p.state == "wrap_up" and p.wrap_up_until is not None
    assert p.wrap_up_until - p.since == timedelta(seconds=60)
    queues = (await client.get("/api/v1/queues", headers=sup.headers)).json()
    assert queues[0]["waiting"] == []
    # once wrap-up has passed, the counsellor is available again, and is offered the next call
    await session.execute(text("UPDATE counsellor_presence SET wrap_up_until = now() - interval '1 second'"))
    _, nxt = await hanoi.ask(new_linkedid())
    assert nxt["action"] == "dial" and nxt["target"] == "PJSIP/1012"


async def test_the_national_supervisor_sees_every_queue(client, session):
    national = await signed_in(session, "national_supervisor")
    queues = (await client.get("/api/v1/queues", headers=national.headers)).json()
    assert [q["switchboard"] for q in queues] == ["hanoi", "danang", "angiang"]
    analyst = await signed_in(session, "analyst")
    assert (await client.get("/api/v1/queues", headers=analyst.headers)).status_code == 403


async def test_the_live_stream_shows_each_role_its_own(client, session, server_url):
    import asyncio
    import json

    await open_all_day(session)
    hanoi = await board(client, session)
    lan = await counsellor(session, extension="PJSIP/1012")
    from hotline_api.auth import service as auth_service
    from hotline_api.config import Settings
    from tests.factories import SignedIn

    token, _ = await auth_service.issue_token(session, lan, Settings(_env_file=None), "127.0.0.1")
    lan_in = SignedIn(user=lan, token=token)
    other = await signed_in(session, "counsellor")
    analyst = await signed_in(session, "analyst")
    assert (await client.get("/api/v1/stream", headers=analyst.headers)).status_code == 403

    async def first_event(headers: dict[str, str], seconds: float) -> dict[str, str] | None:
        async with client.stream("GET", "/api/v1/stream", headers=headers) as r:
            assert r.status_code == 200
            event: dict[str, str] = {}
            try:
                async with asyncio.timeout(seconds):
                    async for line in r.aiter_lines():
                        if not line and "data" in event:
                            return event
                        key, _, value = line.partition(": ")
                        if key in ("id", "event", "data"):
                            event[key] = value
            except TimeoutError:
                return None
        return None

    async def offer_soon() -> None:
        await asyncio.sleep(0.3)
        await hanoi.ask(new_linkedid())

    task = asyncio.create_task(offer_soon())
    mine = await first_event(lan_in.headers, 5)
    await task
    assert mine is not None and mine["event"] in ("presence", "queue")
    payload = json.loads(mine["data"])
    assert payload.get("user_id", payload.get("offered_user_id")) == lan.id
    # another counsellor is told nothing of it (replay from before the offer)
    assert await first_event({**other.headers, "Last-Event-ID": "0"}, 1.5) is None


async def test_a_caller_who_hangs_up_while_ringing_leaves_the_counsellor_free(client, session):
    await open_all_day(session)
    hanoi = await board(client, session)
    secret = await switchboard_secret(session, "hanoi", label="events")
    lan = await counsellor(session, extension="PJSIP/1012")
    s = scenario("abandoned")
    _, answer = await hanoi.ask(s.linkedid)
    assert answer["action"] == "dial"
    s.events = [(src, e) for src, e in s.events if src == "ami" and e["Event"] in ("Newchannel", "Hangup")]
    await send_all(client, s, secret)
    p = await session.scalar(
        select(Presence).where(Presence.user_id == lan.id).execution_options(populate_existing=True)
    )
    assert p is not None and p.state == "available" and p.call_id is None
