"""The webhook intake: formats, credentials, duplicates, bad input, quarantine, encryption at rest."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from hotline_api.calls.models import Call
from hotline_api.telephony.models import QuarantinedBody, WebhookEvent
from hotline_api.telephony.scenarios import ami_text
from tests.factories import basic_auth, signed, signed_in, switchboard_secret
from tests.telephony.conftest import new_linkedid, post, scenario

ARI_TYPES = [
    "StasisStart",
    "StasisEnd",
    "ChannelCreated",
    "ChannelStateChange",
    "ChannelDialplan",
    "ChannelCallerId",
    "ChannelConnectedLine",
    "ChannelHangupRequest",
    "ChannelDestroyed",
    "ChannelEnteredBridge",
    "ChannelLeftBridge",
    "Dial",
    "ChannelDtmfReceived",
    "ChannelVarset",
    "ChannelHold",
    "ChannelUnhold",
    "BridgeCreated",
    "BridgeDestroyed",
    "BridgeBlindTransfer",
    "BridgeAttendedTransfer",
    "RecordingFinished",
]
AMI_TYPES = [
    "Newchannel",
    "Newstate",
    "Hangup",
    "DialBegin",
    "DialEnd",
    "BridgeEnter",
    "BridgeLeave",
    "VarSet",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentCalled",
    "AgentConnect",
    "AgentComplete",
    "AgentRingNoAnswer",
]


def _ari_channel(
    linkedid: str, uid: str | None = None, name: str = "PJSIP/trunk-00000001", state: str = "Up"
):
    return {
        "id": uid or linkedid,
        "name": name,
        "state": state,
        "caller": {"name": "Nguyễn Thị Hoa", "number": "0912345678"},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {"context": "hotline", "exten": "111", "priority": 1, "app_name": "", "app_data": ""},
        "creationtime": "2025-06-01T09:15:02.345+0700",
        "language": "vi",
        "channelvars": {"CHANNEL(linkedid)": linkedid},
    }


def _ari_event(etype: str, linkedid: str, at: str = "2025-06-01T09:15:02.345+0700"):
    ch = _ari_channel(linkedid)
    bridge = {
        "id": "b-1",
        "technology": "simple_bridge",
        "bridge_type": "mixing",
        "bridge_class": "stasis",
        "creator": "hotline",
        "name": "",
        "channels": [linkedid],
        "creationtime": at,
    }
    base = {"type": etype, "timestamp": at, "application": "hotline", "asterisk_id": "00:16:3e:00:00:01"}
    extra = {
        "StasisStart": {"args": [], "channel": ch},
        "StasisEnd": {"channel": ch},
        "ChannelCreated": {"channel": ch},
        "ChannelStateChange": {"channel": ch},
        "ChannelDialplan": {"channel": ch, "dialplan_app": "Queue", "dialplan_app_data": "q-hotline"},
        "ChannelCallerId": {
            "channel": ch,
            "caller_presentation": 0,
            "caller_presentation_txt": "Presentation Allowed",
        },
        "ChannelConnectedLine": {"channel": ch},
        "ChannelHangupRequest": {"channel": ch, "cause": 16, "soft": False},
        "ChannelDestroyed": {"channel": ch, "cause": 16, "cause_txt": "Normal Clearing"},
        "ChannelEnteredBridge": {"bridge": bridge, "channel": ch},
        "ChannelLeftBridge": {"bridge": bridge, "channel": ch},
        "Dial": {
            "peer": _ari_channel(linkedid, linkedid + "1", "PJSIP/1012-0000002a", "Ringing"),
            "caller": ch,
            "dialstatus": "",
            "dialstring": "1012",
        },
        "ChannelDtmfReceived": {"channel": ch, "digit": "9", "duration_ms": 100},
        "ChannelVarset": {"channel": ch, "variable": "IVR_CHOICE", "value": "1"},
        "ChannelHold": {"channel": ch},
        "ChannelUnhold": {"channel": ch},
        "BridgeCreated": {"bridge": bridge},
        "BridgeDestroyed": {"bridge": bridge},
        "BridgeBlindTransfer": {
            "bridge": bridge,
            "channel": ch,
            "exten": "111",
            "context": "hotline",
            "is_external": False,
            "result": "Success",
        },
        "BridgeAttendedTransfer": {
            "transferer_first_leg": ch,
            "destination_type": "bridge",
            "result": "Success",
            "is_external": False,
        },
        "RecordingFinished": {
            "recording": {
                "name": f"rec-{linkedid}",
                "format": "wav",
                "state": "done",
                "target_uri": f"channel:{linkedid}",
            }
        },
    }[etype]
    return {**base, **extra}


async def test_every_ari_event_type_is_accepted_and_stored(client, session):
    secret = await switchboard_secret(session)
    lk = new_linkedid()
    for etype in ARI_TYPES:
        r = await post(client, "hanoi", "ari", _ari_event(etype, lk), secret)
        assert r.status_code == 200, (etype, r.text)
        assert r.json() == {"received": 1, "stored": 1, "duplicates": 0}, etype
    # an event type newer than this code is kept, not refused
    r = await post(
        client,
        "hanoi",
        "ari",
        {"type": "ChannelTransfer", "timestamp": "2025-06-01T09:15:03.000+0700", "application": "hotline"},
        secret,
    )
    assert r.status_code == 200 and r.json()["stored"] == 1
    stored = (
        await session.scalars(select(WebhookEvent.event_type).where(WebhookEvent.source == "ari"))
    ).all()
    assert set(stored) >= {*ARI_TYPES, "ChannelTransfer"}


async def test_every_ami_event_type_as_json_and_as_text(client, session):
    secret = await switchboard_secret(session)
    s = scenario("missed_then_answered")
    abandoned = scenario("abandoned")
    ami = [e for src, e in s.events if src == "ami"]
    ami += [e for src, e in abandoned.events if src == "ami" and e["Event"] == "QueueCallerAbandon"]
    extra = []
    caller = {k: v for k, v in ami[0].items() if k not in {"Event", "Timestamp", "Privilege"}}
    for name in ("DialBegin", "DialEnd", "BridgeEnter", "BridgeLeave"):
        ev = {"Event": name, "Privilege": "call,all", "Timestamp": ami[1]["Timestamp"], **caller}
        if name.startswith("Dial"):
            ev.update({f"Dest{k}": v for k, v in caller.items()})
            ev["DestChannel"] = "PJSIP/1012-0000002b"
            ev["DestUniqueid"] = s.linkedid + "9"
            if name == "DialEnd":
                ev["DialStatus"] = "ANSWER"
        else:
            ev.update(
                {
                    "BridgeUniqueid": "b-1",
                    "BridgeType": "basic",
                    "BridgeTechnology": "simple_bridge",
                    "BridgeCreator": "<unknown>",
                    "BridgeName": "<unknown>",
                    "BridgeNumChannels": "2",
                }
            )
        extra.append(ev)
    varset = {
        "Event": "VarSet",
        "Timestamp": ami[1]["Timestamp"],
        **caller,
        "Variable": "QUEUESTATUS",
        "Value": "CONTINUE",
    }
    types_seen = {e["Event"] for e in [*ami, *extra, varset]}
    assert set(AMI_TYPES) <= types_seen
    # half as JSON objects in one array, half as raw AMI text
    as_json = [*ami, *extra, varset][::2]
    as_text = [*ami, *extra, varset][1::2]
    r = await post(client, "hanoi", "ami", as_json, secret)
    assert r.status_code == 200, r.text
    r = await post(client, "hanoi", "ami", ami_text(as_text), secret, content_type="text/plain")
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == len(as_text)
    stored = set(
        (await session.scalars(select(WebhookEvent.event_type).where(WebhookEvent.source == "ami"))).all()
    )
    assert set(AMI_TYPES) <= stored


async def test_cdr_as_json_and_form_in_local_time(client, session):
    secret = await switchboard_secret(session)
    lk = new_linkedid()
    record = {
        "src": "02363822123",
        "dst": "111",
        "channel": "PJSIP/trunk-0001",
        "dstchannel": "",
        "start": "2025-06-01 09:15:02",
        "answer": "2025-06-01 09:15:03",
        "end": "2025-06-01 09:16:02",
        "duration": "60",
        "billsec": "59",
        "disposition": "ANSWERED",
        "uniqueid": lk,
        "linkedid": lk,
        "userfield": "",
    }
    r = await post(client, "danang", "cdr", record, await switchboard_secret(session, "danang"))
    assert r.status_code == 200, r.text
    call = await session.scalar(select(Call).where(Call.linkedid == lk))
    assert call is not None
    # 09:15:02 in Vietnam is 02:15:02 UTC
    assert call.started_at == datetime(2025, 6, 1, 2, 15, 2, tzinfo=UTC)
    assert call.ended_at == datetime(2025, 6, 1, 2, 16, 2, tzinfo=UTC)
    assert call.outcome == "not_queued"  # the IVR answered; nobody waited
    assert call.dialled_number == "111"
    # a Đà Nẵng landline tells the region
    assert call.caller_province == "48" and call.caller_region == "central"
    from urllib.parse import urlencode

    lk2 = new_linkedid()
    form = urlencode({**record, "uniqueid": lk2, "linkedid": lk2, "answer": ""}).encode()
    r = await post(client, "hanoi", "cdr", form, secret, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200, r.text
    call2 = await session.scalar(select(Call).where(Call.linkedid == lk2))
    assert call2 is not None and call2.outcome == "failed"


async def test_cel_events_close_the_call(client, session):
    secret = await switchboard_secret(session)
    s = scenario("not_queued")
    cel = [e for src, e in s.events if src == "cel"]
    r = await post(client, "hanoi", "cel", cel, secret)
    assert r.status_code == 200 and r.json()["stored"] == len(cel)
    call = await session.scalar(select(Call).where(Call.linkedid == s.linkedid))
    assert call is not None and call.ended_at is not None and call.outcome == "not_queued"


# ---- credentials ---------------------------------------------------------------------------------


async def test_requests_without_or_with_wrong_credentials_are_refused(client, session):
    secret = await switchboard_secret(session)
    event = _ari_event("StasisStart", new_linkedid())
    body = json.dumps(event).encode()
    r = await client.post(
        "/webhooks/asterisk/hanoi/ari", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401
    r = await post(client, "hanoi", "ari", event, secret + "x")
    assert r.status_code == 401 and "wrong user or secret" in r.json()["error"]["message"]
    r = await client.post(
        "/webhooks/asterisk/hanoi/ari",
        content=body,
        headers={**basic_auth("danang", secret), "Content-Type": "application/json"},
    )
    assert r.status_code == 401  # the user name must be the switchboard of the path
    r = await client.post("/webhooks/asterisk/saigon/ari", content=body, headers=basic_auth("saigon", secret))
    assert r.status_code == 404
    assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == 0


async def test_a_credential_never_posts_as_another_switchboard(client, session):
    hanoi = await switchboard_secret(session, "hanoi")
    event = _ari_event("StasisStart", new_linkedid())
    # right user name for the path, but the secret is Hà Nội's
    r = await post(client, "danang", "ari", event, hanoi)
    assert r.status_code == 401
    body = json.dumps(event).encode()
    r = await client.post(
        "/webhooks/asterisk/danang/ari",
        content=body,
        headers={**signed(hanoi, body), "Content-Type": "application/json"},
    )
    assert r.status_code == 401


async def test_standard_webhooks_signatures(client, session):
    secret = await switchboard_secret(session)
    event = _ari_event("StasisStart", new_linkedid())
    body = json.dumps(event).encode()
    ok = await client.post(
        "/webhooks/asterisk/hanoi/ari",
        content=body,
        headers={**signed(secret, body, "msg_a"), "Content-Type": "application/json"},
    )
    assert ok.status_code == 200, ok.text
    tampered = body.replace(b"0912345678", b"0912345679")
    r = await client.post(
        "/webhooks/asterisk/hanoi/ari",
        content=tampered,
        headers={**signed(secret, body, "msg_b"), "Content-Type": "application/json"},
    )
    assert r.status_code == 401 and "does not match" in r.json()["error"]["message"]
    stale = await client.post(
        "/webhooks/asterisk/hanoi/ari",
        content=body,
        headers={**signed(secret, body, "msg_c", int(time.time()) - 301), "Content-Type": "application/json"},
    )
    assert stale.status_code == 401 and "NTP" in stale.json()["error"]["message"]
    # several signatures may be sent (rotation on the sender's side): one match is enough
    headers = signed(secret, body, "msg_d")
    headers["webhook-signature"] = (
        "v1," + base64.b64encode(b"x" * 32).decode() + " " + headers["webhook-signature"]
    )
    r = await client.post(
        "/webhooks/asterisk/hanoi/ari", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 200


async def test_two_active_secrets_then_revocation(client, session):
    admin = await signed_in(session, "admin")
    first = await client.post(
        "/api/v1/switchboards/angiang/credentials", headers=admin.headers, json={"label": "dialplan"}
    )
    second = await client.post(
        "/api/v1/switchboards/angiang/credentials", headers=admin.headers, json={"label": "relay"}
    )
    assert first.status_code == second.status_code == 201
    third = await client.post("/api/v1/switchboards/angiang/credentials", headers=admin.headers, json={})
    assert third.status_code == 409 and "revoke" in third.json()["error"]["message"]
    event = _ari_event("StasisStart", new_linkedid())
    for cred in (first, second):
        assert (await post(client, "angiang", "ari", event, cred.json()["secret"])).status_code == 200
    listed = await client.get("/api/v1/switchboards/angiang/credentials", headers=admin.headers)
    assert len(listed.json()) == 2 and all("secret" not in c for c in listed.json())
    revoked = await client.delete(
        f"/api/v1/switchboards/angiang/credentials/{first.json()['id']}", headers=admin.headers
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    r = await post(client, "angiang", "ari", _ari_event("StasisEnd", new_linkedid()), first.json()["secret"])
    assert r.status_code == 401
    assert (await post(client, "angiang", "ari", event, second.json()["secret"])).status_code == 200
    counsellor = await signed_in(session, "supervisor")
    assert (
        await client.post("/api/v1/switchboards/angiang/credentials", headers=counsellor.headers, json={})
    ).status_code == 403


async def test_source_network_allow_list(client, session):
    admin = await signed_in(session, "admin")
    secret = await switchboard_secret(session)
    r = await client.put(
        "/api/v1/switchboards/hanoi/allowed-networks",
        headers=admin.headers,
        json={"networks": ["203.0.113.0/24"]},
    )
    assert r.status_code == 200
    refused = await post(client, "hanoi", "ari", _ari_event("StasisStart", new_linkedid()), secret)
    assert refused.status_code == 401 and "address" in refused.json()["error"]["message"]
    await client.put(
        "/api/v1/switchboards/hanoi/allowed-networks",
        headers=admin.headers,
        json={"networks": ["127.0.0.0/8"]},
    )
    assert (
        await post(client, "hanoi", "ari", _ari_event("StasisStart", new_linkedid()), secret)
    ).status_code == 200
    bad = await client.put(
        "/api/v1/switchboards/hanoi/allowed-networks",
        headers=admin.headers,
        json={"networks": ["not-a-network"]},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "networks"


# ---- duplicates ---------------------------------------------------------------------------------


async def test_retransmissions_change_nothing(client, session):
    secret = await switchboard_secret(session)
    s = scenario("answered")
    ari = [e for src, e in s.events if src == "ari"]
    first = await post(client, "hanoi", "ari", ari, secret)
    assert first.json() == {"received": len(ari), "stored": len(ari), "duplicates": 0}
    before = await session.scalar(select(Call).where(Call.linkedid == s.linkedid))
    assert before is not None
    snapshot = {c: getattr(before, c) for c in ("started_at", "ended_at", "answered_at", "outcome")}
    again = await post(client, "hanoi", "ari", ari, secret)
    assert again.json() == {"received": len(ari), "stored": 0, "duplicates": len(ari)}
    # the same events one by one, by content
    for e in ari[:3]:
        assert (await post(client, "hanoi", "ari", e, secret)).json()["duplicates"] == 1
    session.expire_all()
    after = await session.scalar(select(Call).where(Call.linkedid == s.linkedid))
    assert after is not None
    assert {c: getattr(after, c) for c in snapshot} == snapshot
    assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == len(ari)


async def test_webhook_id_identifies_a_retransmitted_batch(client, session):
    secret = await switchboard_secret(session)
    batch = [_ari_event("ChannelDtmfReceived", new_linkedid()) for _ in range(3)]
    body = json.dumps(batch).encode()
    h = {**signed(secret, body, "msg_batch_7"), "Content-Type": "application/json"}
    assert (await client.post("/webhooks/asterisk/hanoi/ari", content=body, headers=h)).json()["stored"] == 3
    again = await client.post("/webhooks/asterisk/hanoi/ari", content=body, headers=h)
    assert again.json() == {"received": 3, "stored": 0, "duplicates": 3}


# ---- bad input ------------------------------------------------------------------------------------


async def test_malformed_bodies_are_refused_clearly_and_quarantined(client, session):
    secret = await switchboard_secret(session)
    good = _ari_event("StasisStart", new_linkedid())
    no_linkedid = _ari_event("StasisStart", new_linkedid())
    del no_linkedid["channel"]["channelvars"]
    cases = [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "empty"),
        (b"\xff\xfe{}", "application/json", 400, "UTF-8"),
        (b"[]", "application/json", 400, "empty array"),
        (b"<xml/>", "application/xml", 400, "send JSON"),
        (json.dumps([good, no_linkedid]).encode(), "application/json", 422, "event 1: channel.channelvars"),
        (
            json.dumps([good, {"timestamp": "x"}]).encode(),
            "application/json",
            422,
            "event 1: type is missing",
        ),
        (
            json.dumps([{**good, "timestamp": "1999-01-01T00:00:00.000+0700"}]).encode(),
            "application/json",
            422,
            "plausible range",
        ),
        (json.dumps([{**good, "timestamp": "yesterday"}]).encode(), "application/json", 422, "ISO 8601"),
        (
            json.dumps([{**good, "channel": "PJSIP/1"}]).encode(),
            "application/json",
            422,
            "channel must be an object",
        ),
        (json.dumps([good, 7]).encode(), "application/json", 422, "event 1: expected a JSON object"),
    ]
    for body, ctype, status, words in cases:
        r = await post(client, "hanoi", "ari", body, secret, content_type=ctype)
        assert r.status_code == status, (body[:40], r.text)
        message = r.json()["error"]["message"]
        assert words in message and "quarantine" in message, (words, message)
    held = (await session.scalars(select(QuarantinedBody).order_by(QuarantinedBody.id))).all()
    assert len(held) == len(cases)
    assert held[5].event_index == 1 and held[5].status_code == 422
    # nothing of a refused batch was applied, not even its good first event
    assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert await session.scalar(select(func.count()).select_from(Call)) == 0


async def test_bad_ami_cdr_and_cel(client, session):
    secret = await switchboard_secret(session)
    cases = [
        (
            "ami",
            b"Event: Newchannel\r\nthis line has no colon\r\n\r\n",
            "text/plain",
            422,
            "not 'Key: value'",
        ),
        ("ami", b"Channel: PJSIP/x\r\n\r\n", "text/plain", 422, "Event is missing"),
        (
            "ami",
            b"Event: Hangup\r\nUniqueid: 1.2\r\nTimestamp: 1748744102.1\r\n\r\n",
            "text/plain",
            422,
            "Linkedid is missing",
        ),
        ("ami", b"Event: Hangup\r\nTimestamp: soon\r\n\r\n", "text/plain", 422, "epoch seconds"),
        (
            "cdr",
            json.dumps({"src": "1", "start": "2025-06-01 09:00:00"}).encode(),
            "application/json",
            422,
            "linkedid is missing",
        ),
        (
            "cdr",
            json.dumps({"linkedid": "1.2", "start": "01/06/2025"}).encode(),
            "application/json",
            422,
            "is not a time",
        ),
        (
            "cdr",
            json.dumps(
                {"linkedid": "1.2", "start": "2025-06-01 09:00:00", "end": "2025-06-01 08:00:00"}
            ).encode(),
            "application/json",
            422,
            "end is before start",
        ),
        (
            "cdr",
            json.dumps({"linkedid": "1 2; DROP TABLE calls", "start": "2025-06-01 09:00:00"}).encode(),
            "application/json",
            422,
            "not an Asterisk id",
        ),
        (
            "cel",
            json.dumps({"EventName": "HANGUP", "LinkedID": "1.2"}).encode(),
            "application/json",
            422,
            "EventTime is missing",
        ),
    ]
    for source, body, ctype, status, words in cases:
        r = await post(client, "hanoi", source, body, secret, content_type=ctype)
        assert r.status_code == status, (source, body[:40], r.text)
        assert words in r.json()["error"]["message"], (words, r.json())
    assert await session.scalar(select(func.count()).select_from(QuarantinedBody)) == len(cases)


async def test_oversized_body_answers_413(client, session):
    secret = await switchboard_secret(session)
    big = b"[" + b",".join([json.dumps(_ari_event("ChannelDtmfReceived", "1.1")).encode()] * 2000) + b"]"
    assert len(big) > 1024 * 1024
    r = await post(client, "hanoi", "ari", big, secret)
    assert r.status_code == 413 and "1 MiB" in r.json()["error"]["message"]


async def test_unknown_source_is_404_not_500(client, session):
    secret = await switchboard_secret(session)
    r = await post(client, "hanoi", "sip", {"a": 1}, secret)
    assert r.status_code in (404, 422)


# ---- quarantine (admin) ---------------------------------------------------------------------------


async def test_admin_inspects_replays_and_discards_quarantined_bodies(client, session, keyring):
    secret = await switchboard_secret(session)
    admin = await signed_in(session, "admin")
    r = await post(client, "hanoi", "ari", b"{broken", secret)
    assert r.status_code == 400
    page = (await client.get("/api/v1/quarantine", headers=admin.headers)).json()
    listed = page["bodies"]
    assert page["total"] == 1 and page["next_before_id"] is None
    assert len(listed) == 1 and listed[0]["reason"].startswith("the body is not valid JSON")
    qid = listed[0]["id"]
    shown = await client.get(f"/api/v1/quarantine/{qid}", headers=admin.headers)
    assert shown.status_code == 200 and shown.json()["body"] == "{broken"
    from hotline_api.audit.models import AuditEntry

    entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "view_quarantined_body"))
    assert entry is not None and entry.object_id == str(qid)
    # still broken: replay refuses and the body stays held
    again = await client.post(f"/api/v1/quarantine/{qid}/replay", headers=admin.headers)
    assert again.status_code == 422
    # a body an older version refused, now readable: replay applies it
    from hotline_api.telephony import intake
    from hotline_api.telephony.parsing import MalformedEvent

    good = json.dumps(_ari_event("StasisStart", new_linkedid())).encode()
    from hotline_api.db.session import driver_connection

    row_id = await intake.quarantine(
        await driver_connection(session),
        keyring,
        "hanoi",
        "ari",
        good,
        "application/json",
        None,
        "127.0.0.1",
        422,
        MalformedEvent("refused by an older version", 0),
    )
    replayed = await client.post(f"/api/v1/quarantine/{row_id}/replay", headers=admin.headers)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["status"] == "replayed" and replayed.json()["result"]["stored"] == 1
    twice = await client.post(f"/api/v1/quarantine/{row_id}/replay", headers=admin.headers)
    assert twice.status_code == 409
    discarded = await client.post(f"/api/v1/quarantine/{qid}/discard", headers=admin.headers)
    assert discarded.json()["status"] == "discarded"
    for role in ("counsellor", "supervisor", "national_supervisor", "analyst"):
        other = await signed_in(session, role)
        assert (await client.get(f"/api/v1/quarantine/{qid}", headers=other.headers)).status_code == 403


async def test_the_quarantine_list_is_paged_and_counted(client, session):
    secrets = {board: await switchboard_secret(session, board) for board in ("hanoi", "danang")}
    admin = await signed_in(session, "admin")
    for n in range(7):
        board = "hanoi" if n % 2 == 0 else "danang"
        assert (await post(client, board, "ari", b"{broken %d" % n, secrets[board])).status_code == 400
    seen: list[int] = []
    before = None
    while True:
        query = {"limit": 3, **({"before_id": before} if before is not None else {})}
        page = (await client.get("/api/v1/quarantine", params=query, headers=admin.headers)).json()
        assert page["total"] == 7
        seen += [q["id"] for q in page["bodies"]]
        before = page["next_before_id"]
        if before is None:
            break
    assert len(seen) == 7 and seen == sorted(seen, reverse=True) and len(set(seen)) == 7
    hanoi = (
        await client.get("/api/v1/quarantine", params={"switchboard": "hanoi"}, headers=admin.headers)
    ).json()
    assert hanoi["total"] == 4 and {q["switchboard"] for q in hanoi["bodies"]} == {"hanoi"}
    none = (
        await client.get("/api/v1/quarantine", params={"status": "replayed"}, headers=admin.headers)
    ).json()
    assert none == {"bodies": [], "total": 0, "next_before_id": None}


# ---- personal data at rest ---------------------------------------------------------------------


async def test_raw_tables_hold_no_readable_number_or_name(client, session):
    secret = await switchboard_secret(session)
    s = scenario("answered", caller="0987654321", caller_name="Lò Thị Mỷ")
    await post(client, "hanoi", "ari", [e for src, e in s.events if src == "ari"], secret)
    await post(
        client,
        "hanoi",
        "ami",
        ami_text([e for src, e in s.events if src == "ami"]),
        secret,
        content_type="text/plain",
    )
    await post(client, "hanoi", "cdr", [e for src, e in s.events if src == "cdr"], secret)
    await post(
        client, "hanoi", "ari", b'{"type": "x", "caller": "0987654321 L\xc3\xb2 Th\xe1\xbb\x8b"', secret
    )
    for table in ("webhook_events", "webhook_quarantine", "calls", "call_offers", "call_legs"):
        dump = await session.scalar(text(f"SELECT coalesce(string_agg(t::text, ' '), '') FROM {table} t"))  # noqa: S608
        assert dump is not None
        for needle in ("0987654321", "987654321", "84987654321", "Lò Thị", "Mỷ"):
            assert needle not in dump, (table, needle)
        # bytea columns render as hex: look for the number's bytes too
        for needle in ("0987654321", "Lò Thị Mỷ"):
            assert needle.encode().hex() not in dump, (table, needle)


async def test_database_outage_on_a_webhook_answers_503(settings):
    """The sender is told to retry: nothing was stored, and nothing is lost."""
    from tests.factories import dead_database_client

    async with dead_database_client(settings) as c:
        r = await c.post(
            "/webhooks/asterisk/hanoi/ari",
            content=json.dumps(_ari_event("StasisStart", "1.1")),
            headers={**basic_auth("hanoi", "whsec_x"), "Content-Type": "application/json"},
        )
    assert r.status_code == 503
    assert r.headers["retry-after"]


async def test_concurrent_requests_are_written_together_and_each_is_answered_truly(
    client, session, app, monkeypatch
):
    """Many switchboard requests at once: the batcher writes them together, each sender learns how
    many of its events were new, and the calls come out as if the events had come one by one."""
    secret = await switchboard_secret(session)
    scenarios = [scenario("abandoned") for _ in range(4)]
    events = [e for s in scenarios for src, e in s.events if src == "ari"]
    sends = events + random.Random(3).sample(events, 15)  # some sent twice
    random.Random(4).shuffle(sends)
    writes = []
    original = app.state.intake_batcher._write

    async def counting_write(batch):
        writes.append(len(batch))
        await original(batch)

    # the app (and its batcher) serves the whole session: monkeypatch puts it back after the test
    monkeypatch.setattr(app.state.intake_batcher, "_write", counting_write)
    responses = await asyncio.gather(*[post(client, "hanoi", "ari", e, secret) for e in sends])
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    assert sum(r.json()["stored"] for r in responses) == len(events)
    assert sum(r.json()["duplicates"] for r in responses) == 15
    assert max(writes) > 1, "concurrent bodies should share a write"
    assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == len(events)
    for s in scenarios:
        call = await session.scalar(select(Call).where(Call.linkedid == s.linkedid))
        assert call is not None and call.ended_at is not None and call.outcome == "not_queued"


async def test_a_joined_write_is_bounded_in_bytes(client, session, app, monkeypatch):
    """A backlog is written in several statements of bounded size, not one of any size: libpq keeps
    a connection's buffers at the largest message it carried (docs/reliability.md, memory)."""
    secret = await switchboard_secret(session)
    scenarios = [scenario("abandoned") for _ in range(6)]
    events = [e for s in scenarios for src, e in s.events if src == "ari"]
    batcher = app.state.intake_batcher
    weights = []
    original = batcher._write

    async def weighing_write(batch):
        weights.append([item.weight for item, _ in batch])
        await original(batch)

    bound = 3 * max(2 * len(json.dumps(e)) + 400 for e in events)  # two or three bodies a statement
    monkeypatch.setattr(batcher, "_write", weighing_write)
    monkeypatch.setattr(batcher, "_max_bytes", bound)
    responses = await asyncio.gather(*[post(client, "hanoi", "ari", e, secret) for e in events])
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    assert sum(r.json()["stored"] for r in responses) == len(events)
    assert sum(len(w) for w in weights) == len(events)
    assert any(len(w) > 1 for w in weights), "bodies waiting together should still share a write"
    assert all(sum(w) <= bound for w in weights if len(w) > 1), weights
    assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == len(events)


async def test_refusals_never_echo_what_was_sent(client, session):
    """A number in the wrong field is neither answered back nor kept readable as the reason."""
    secret = await switchboard_secret(session)
    bad = [
        ("cdr", {"linkedid": "0987654321 Lò Thị Mỷ", "start": "2025-06-01 09:00:00"}),
        ("cdr", {"linkedid": "1.2", "start": "0987654321 x"}),
        ("ami", b"Event: Newchannel\r\nCaller 0987654321\r\n\r\n"),
        ("cel", b"EventName=HANGUP&0987654321"),
    ]
    for source, body in bad:
        ctype = (
            "text/plain"
            if source == "ami"
            else ("application/x-www-form-urlencoded" if isinstance(body, bytes) else "application/json")
        )
        r = await post(client, "hanoi", source, body, secret, content_type=ctype)
        assert r.status_code in (400, 422), r.text
        assert "0987654321" not in r.text and "Lò" not in r.text
    reasons = " ".join((await session.scalars(select(QuarantinedBody.reason))).all())
    assert len(reasons) > 0 and "0987654321" not in reasons and "Lò" not in reasons


async def test_a_cdr_with_answeredtime_names_who_answered_and_bad_values_are_refused(client, session):
    from hotline_api.calls.models import Call
    from tests.factories import make_user

    secret = await switchboard_secret(session, "hanoi")
    user = await make_user(session, "counsellor", extension="PJSIP/1013")
    lk = new_linkedid()
    record = {
        "linkedid": lk,
        "uniqueid": lk,
        "src": "0912345678",
        "dst": "111",
        "start": "2026-11-01 10:00:00",
        "answer": "2026-11-01 10:00:02",
        "end": "2026-11-01 10:05:00",
        "disposition": "ANSWERED",
        "dstchannel": "PJSIP/1013-0000012b",
        "answeredtime": "120",
        "userfield": "HOTLINE_ORIGIN=",  # empty: not overflowed
    }
    r = await post(client, "hanoi", "cdr", record, secret)
    assert r.status_code == 200, r.text
    call = await session.scalar(select(Call).where(Call.linkedid == lk))
    assert call is not None and call.counsellor_user_id == user.id
    assert call.answered_at is not None and call.answered_at.strftime("%H:%M") == "03:03"  # 10:03 local
    bad = await post(client, "hanoi", "cdr", {**record, "answeredtime": "soon"}, secret)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "answeredtime"
