"""Never two calls on one counsellor, however many service processes: two real server processes on
one database, many concurrent /route requests, few counsellors."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import parse_qsl

import httpx
import psycopg
import pytest

from hotline_api.db import migrate
from hotline_api.db.embedded import EmbeddedPostgres
from tests.routing.servers import COUNSELLORS, running, seed

DB = "hotline_two_processes"
CALLS = 20


@pytest.fixture
def two_servers(pg_server: EmbeddedPostgres):
    pg_server.drop_database(DB)
    pg_server.ensure_database(DB)
    url = pg_server.url(DB)
    migrate.upgrade(url)
    secret = seed(pg_server.conninfo(DB))
    try:
        with running(url, 2) as ports:
            yield ports, secret, pg_server.conninfo(DB)
    finally:
        pg_server.drop_database(DB)


async def _ask_all(ports: list[int], secret: str, linkedids: list[str], attempt: int) -> list[dict[str, str]]:
    auth = {"Authorization": "Basic " + base64.b64encode(f"hanoi:{secret}".encode()).decode()}

    async def ask(client: httpx.AsyncClient, i: int, lk: str) -> dict[str, str]:
        port = ports[i % len(ports)]
        data = {
            "linkedid": lk,
            "uniqueid": lk,
            "exten": "111",
            "attempt": str(attempt),
            "ivr_emergency": "1" if i % 7 == 3 else "0",
        }
        r = await client.post(
            f"http://127.0.0.1:{port}/webhooks/asterisk/hanoi/route", data=data, headers=auth
        )
        assert r.status_code == 200, r.text
        return {"linkedid": lk, **dict(parse_qsl(r.text))}

    async with httpx.AsyncClient(timeout=10) as client:
        return list(await asyncio.gather(*[ask(client, i, lk) for i, lk in enumerate(linkedids)]))


def test_two_processes_never_double_book_and_keep_the_order(two_servers):
    ports, secret, conninfo = two_servers
    linkedids = [f"race-1748744102.{n}" for n in range(CALLS)]
    # round 1: nobody available; every call waits, in the order the lock lets them in
    first = asyncio.run(_ask_all(ports, secret, linkedids, 1))
    assert {a["action"] for a in first} == {"wait"}
    # three counsellors come back; every call asks again, at once, on both processes
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE counsellor_presence SET state = 'available', idle_since = now()")
        expected = [
            lk
            for (lk,) in conn.execute(
                "SELECT linkedid FROM waiting_calls WHERE switchboard_code = 'hanoi' "
                "ORDER BY priority DESC, wait_started_at, id LIMIT %s",
                (COUNSELLORS,),
            ).fetchall()
        ]
    second = asyncio.run(_ask_all(ports, secret, linkedids, 2))
    dials = [a for a in second if a["action"] == "dial"]
    assert len(dials) == COUNSELLORS, second
    assert len({a["target"] for a in dials}) == COUNSELLORS, "a counsellor was offered two calls"
    assert sorted(a["linkedid"] for a in dials) == sorted(expected), "priority, then first come, first served"
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT user_id, call_id FROM counsellor_presence WHERE state = 'reserved'"
        ).fetchall()
        assert len(rows) == COUNSELLORS and len({call for _, call in rows}) == COUNSELLORS
        # every decision of both processes is stored
        assert conn.execute("SELECT count(*) FROM routing_decisions").fetchone()[0] == 2 * CALLS  # type: ignore[index]


def _supervisor_token(conninfo: str) -> str:
    import hashlib
    import secrets

    token = secrets.token_urlsafe(32)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        uid = conn.execute(
            "INSERT INTO users (username, display_name, password_hash, home_switchboard, languages, is_active) "
            "VALUES ('sup.hanoi', 'Giám sát', 'x', 'hanoi', '{vi}', true) RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO user_roles (user_id, role) VALUES (%s, 'supervisor')", (uid,))
        conn.execute(
            "INSERT INTO auth_tokens (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 hour')",
            (uid, hashlib.sha256(token.encode()).digest()),
        )
    return token


async def _read_events(
    port: int, token: str, want: int, last_event_id: str | None = None, seconds: float = 10
) -> list[dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}

    async def run() -> None:
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("GET", f"http://127.0.0.1:{port}/api/v1/stream", headers=headers) as r,
        ):
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            async for line in r.aiter_lines():
                if not line:
                    if "data" in current:
                        events.append(dict(current))
                        if len(events) >= want:
                            return
                    current.clear()
                    continue
                key, _, value = line.partition(": ")
                if key in ("id", "event", "data"):
                    current[key] = value

    await asyncio.wait_for(run(), seconds)
    return events


def test_the_live_stream_crosses_processes_and_resumes(two_servers):
    ports, secret, conninfo = two_servers
    token = _supervisor_token(conninfo)

    async def scenario() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        # a supervisor listens on process A; a call asks for a counsellor on process B
        reader = asyncio.create_task(_read_events(ports[0], token, want=2))
        await asyncio.sleep(0.8)
        await _ask_all([ports[1]], secret, ["live-1748744102.1", "live-1748744102.2"], 1)
        got = await reader
        # reconnecting with the id of the first event replays the second
        again = await _read_events(ports[0], token, want=1, last_event_id=got[0]["id"])
        return got, again

    got, again = asyncio.run(scenario())
    assert [e["event"] for e in got] == ["queue", "queue"]
    payloads = [json.loads(e["data"]) for e in got]
    assert {p["status"] for p in payloads} == {"waiting"} and {p["switchboard"] for p in payloads} == {
        "hanoi"
    }
    assert int(got[1]["id"]) > int(got[0]["id"])
    assert again[0]["id"] == got[1]["id"]
    assert "0912" not in json.dumps(payloads)
