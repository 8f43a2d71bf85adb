"""The database stops while Asterisk's outbound ARI WebSocket is streaming: the service keeps reading,
holds the messages in order and writes every one of them once the database is back."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import time

import psycopg
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from hotline_api.db import migrate
from hotline_api.db.embedded import EmbeddedPostgres
from tests.conftest import short_tempdir
from tests.routing.servers import running, seed
from tests.telephony.conftest import scenario

ARI = Subprotocol("ari")


def _stored(conninfo: str, linkedid: str) -> int:
    try:
        with psycopg.connect(conninfo, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) FROM webhook_events WHERE linkedid = %s", (linkedid,)
            ).fetchone()
            return int(row[0]) if row else 0
    except psycopg.OperationalError:
        return -1


async def _until(conninfo: str, linkedid: str, expected: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    n = -1
    while time.monotonic() < deadline:
        n = await asyncio.to_thread(_stored, conninfo, linkedid)
        if n >= expected:
            break
        await asyncio.sleep(0.1)
    return n


async def test_messages_received_during_a_database_outage_are_written_when_it_returns():
    base = short_tempdir("hl-wsout-")
    pg = EmbeddedPostgres(base / "data")
    pg.acquire()
    try:
        pg.ensure_database("hotline")
        url = pg.url("hotline")
        conninfo = pg.conninfo("hotline")
        migrate.upgrade(url)
        secret = seed(conninfo)
        auth = {"Authorization": "Basic " + base64.b64encode(f"hanoi:{secret}".encode()).decode()}
        s = scenario(switchboard="hanoi", kind="answered")
        events = [e for src, e in s.events if src == "ari"]
        half = len(events) // 2
        with running(url, 1) as (port,):
            uri = f"ws://127.0.0.1:{port}/webhooks/asterisk/hanoi/ari/ws"
            async with connect(uri, subprotocols=[ARI], additional_headers=auth) as ws:
                for event in events[:half]:
                    await ws.send(json.dumps(event))
                assert await _until(conninfo, s.linkedid, half, 10) == half
                await asyncio.to_thread(pg._stop)  # the database goes away under the stream
                for event in events[half:]:
                    await ws.send(json.dumps(event))
                await asyncio.sleep(1.0)
                await ws.ping()  # the connection is still up: the service keeps reading
                await asyncio.to_thread(pg._start)
                assert await _until(conninfo, s.linkedid, len(events), 30) == len(events)
            await asyncio.sleep(0.5)
            assert await asyncio.to_thread(_stored, conninfo, s.linkedid) == len(events)
    finally:
        pg.release()
        shutil.rmtree(base, ignore_errors=True)
