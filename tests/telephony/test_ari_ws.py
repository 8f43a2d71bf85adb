"""ARI over the WebSocket Asterisk opens to us (outbound WebSockets): the same intake as POST …/ari,
over a real WebSocket to the service on loopback.

The client here plays Asterisk as its documentation describes the outbound connection
(https://docs.asterisk.org/Configuration/Interfaces/Asterisk-REST-Interface-ARI/ARI-Outbound-Websockets/):
HTTP Basic with websocket_client.conf's username and password, the ``ari`` subprotocol, an
``ApplicationRegistered`` event after each (re)connection, then one JSON text message per event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from hotline_api.calls.models import Call
from hotline_api.telephony.models import QuarantinedBody, WebhookEvent
from tests.factories import basic_auth, switchboard_secret
from tests.telephony.conftest import scenario

ARI = Subprotocol("ari")


def _ws_url(server_url: str, switchboard: str = "danang") -> str:
    return server_url.replace("http://", "ws://") + f"/webhooks/asterisk/{switchboard}/ari/ws"


def _registered(app: str = "hotline") -> dict[str, Any]:
    return {
        "type": "ApplicationRegistered",
        "timestamp": "2026-11-28T09:00:00.000+0700",
        "application": app,
        "asterisk_id": "52:54:00:12:34:56",
    }


def _ari_events(switchboard: str = "danang", **kw: Any) -> tuple[str, list[dict[str, Any]]]:
    s = scenario(switchboard=switchboard, **kw)
    return s.linkedid, [e for src, e in s.events if src == "ari"]


async def _send(ws: ClientConnection, events: Iterable[dict[str, Any]]) -> None:
    for event in events:
        await ws.send(json.dumps(event, ensure_ascii=False))


async def _count(session: AsyncSession, switchboard: str, linkedid: str | None = None) -> int:
    q = select(func.count()).select_from(WebhookEvent).where(WebhookEvent.switchboard_code == switchboard)
    if linkedid is not None:
        q = q.where(WebhookEvent.linkedid == linkedid)
    return int(await session.scalar(q) or 0)


async def _until(session: AsyncSession, switchboard: str, linkedid: str | None, expected: int) -> int:
    """Wait until the service has stored ``expected`` events (the protocol has no acknowledgement)."""
    n = -1
    for _ in range(250):
        n = await _count(session, switchboard, linkedid)
        if n >= expected:
            break
        await asyncio.sleep(0.02)
    return n


async def test_events_over_the_websocket_are_stored_and_applied_as_posted_ones(client, server_url, session):
    secret = await switchboard_secret(session, "danang")
    linkedid, events = _ari_events(kind="answered")
    async with connect(
        _ws_url(server_url), subprotocols=[ARI], additional_headers=basic_auth("danang", secret)
    ) as ws:
        assert ws.subprotocol == "ari"
        await ws.send(json.dumps(_registered()))
        await _send(ws, events)
        assert await _until(session, "danang", linkedid, len(events)) == len(events)
    # the registration is kept too, like any event: the switchboard's ARI connection came up
    assert await _count(session, "danang") == len(events) + 1

    # the same call posted to POST …/ari gives the same record
    posted_linkedid = linkedid + "9"
    posted = json.loads(json.dumps(events).replace(linkedid, posted_linkedid))
    r = await client.post("/webhooks/asterisk/danang/ari", json=posted, headers=basic_auth("danang", secret))
    assert r.status_code == 200 and r.json()["stored"] == len(events)
    calls = {
        c.linkedid: c
        for c in await session.scalars(
            select(Call).where(
                Call.switchboard_code == "danang", Call.linkedid.in_([linkedid, posted_linkedid])
            )
        )
    }
    over_ws, over_post = calls[linkedid], calls[posted_linkedid]
    for column in ("outcome", "started_at", "answered_at", "ended_at", "caller_hash", "hangup_cause"):
        assert getattr(over_ws, column) == getattr(over_post, column), column
    assert over_ws.started_at is not None and over_ws.ended_at is not None and over_ws.caller_hash


async def test_a_reconnect_replaying_events_doubles_nothing(client, server_url, session):
    secret = await switchboard_secret(session, "danang")
    linkedid, events = _ari_events(kind="answered")
    headers = basic_auth("danang", secret)
    half = len(events) // 2
    async with connect(_ws_url(server_url), subprotocols=[ARI], additional_headers=headers) as ws:
        await ws.send(json.dumps(_registered()))
        await _send(ws, events[:half])
        assert await _until(session, "danang", linkedid, half) == half
    # Asterisk reconnects, registers again and sends some events again before the new ones
    async with connect(_ws_url(server_url), subprotocols=[ARI], additional_headers=headers) as ws:
        await ws.send(json.dumps(_registered()))
        await _send(ws, events)
        assert await _until(session, "danang", linkedid, len(events)) == len(events)
        await asyncio.sleep(0.2)  # anything written late would show now
    assert await _count(session, "danang", linkedid) == len(events)
    calls = (await session.scalars(select(Call).where(Call.linkedid == linkedid))).all()
    assert len(calls) == 1 and calls[0].ended_at is not None


async def test_a_malformed_message_is_quarantined_and_the_stream_goes_on(client, server_url, session):
    secret = await switchboard_secret(session, "danang")
    linkedid, events = _ari_events(kind="abandoned")
    async with connect(
        _ws_url(server_url), subprotocols=[ARI], additional_headers=basic_auth("danang", secret)
    ) as ws:
        await ws.send('{"type": "StasisStart", "timestamp": "2026-11-28T09:00:00.000+0700", "channel": ')
        await ws.send(json.dumps({"timestamp": "2026-11-28T09:00:00.000+0700"}))  # no type
        await _send(ws, events)
        assert await _until(session, "danang", linkedid, len(events)) == len(events)
    quarantined = (
        await session.scalars(
            select(QuarantinedBody)
            .where(QuarantinedBody.switchboard_code == "danang")
            .order_by(QuarantinedBody.id)
        )
    ).all()
    assert [q.source for q in quarantined] == ["ari", "ari"]
    assert [q.status_code for q in quarantined] == [400, 422]
    assert "type" in quarantined[1].reason


@pytest.mark.parametrize(
    ("switchboard", "credential"),
    [("danang", "wrong"), ("danang", None), ("hanoi", "danang's"), ("nowhere", "wrong")],
)
async def test_the_handshake_is_refused_without_the_switchboards_secret(
    client, server_url, session, switchboard, credential
):
    secret = await switchboard_secret(session, "danang")
    headers = {}
    if credential is not None:
        headers = basic_auth(switchboard, secret if credential == "danang's" else "whsec_" + "A" * 43)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(_ws_url(server_url, switchboard), subprotocols=[ARI], additional_headers=headers):
            pass
    assert refused.value.response.status_code in (401, 404)
    assert await _count(session, switchboard) == 0
