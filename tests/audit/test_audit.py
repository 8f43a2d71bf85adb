from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from hotline_api.audit import service as audit
from hotline_api.audit.models import AuditEntry
from tests.factories import signed_in

ACTOR = audit.Actor("user:tester", 1, "127.0.0.1")


async def _write_some(session, n=5):
    return [
        await audit.record(session, ACTOR, "read", "case", i, {"fields": ["notes"], "n": i}) for i in range(n)
    ]


async def test_entries_are_chained_and_verify(session):
    entries = await _write_some(session)
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.entry_hash
    result = await audit.verify_chain(session)
    assert result.ok, result.problem


async def test_update_and_delete_are_refused_by_the_database(session):
    entries = await _write_some(session, 2)
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(
                text("UPDATE audit_log SET action = 'x' WHERE id = :id"), {"id": entries[0].id}
            )
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": entries[0].id})


async def _bypass_trigger(session):
    # what someone with the superuser's password could do: switch triggers off for the session
    await session.execute(text("SET LOCAL session_replication_role = replica"))


async def test_verify_detects_an_altered_entry(session):
    entries = await _write_some(session)
    await _bypass_trigger(session)
    await session.execute(
        text("UPDATE audit_log SET details = '{\"fields\": []}' WHERE id = :id"), {"id": entries[2].id}
    )
    session.expire_all()
    result = await audit.verify_chain(session)
    assert not result.ok
    assert result.first_bad_id == entries[2].id
    assert "altered" in (result.problem or "")


async def test_verify_detects_a_removed_entry(session):
    entries = await _write_some(session)
    await _bypass_trigger(session)
    await session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": entries[1].id})
    session.expire_all()
    result = await audit.verify_chain(session)
    assert not result.ok
    assert result.first_bad_id == entries[2].id
    assert "removed" in (result.problem or "")


async def test_audit_api_is_for_admins_and_national_supervisors(client, session):
    await _write_some(session, 3)
    admin = await signed_in(session, "admin")
    national = await signed_in(session, "national_supervisor")
    for reader in (admin, national):
        r = await client.get("/api/v1/audit?object_type=case&limit=2", headers=reader.headers)
        assert r.status_code == 200
        page = r.json()
        assert len(page["entries"]) == 2 and page["next_before_id"] is not None
        assert page["entries"][0]["id"] > page["entries"][1]["id"]  # newest first
        r2 = await client.get(
            f"/api/v1/audit?object_type=case&before_id={page['next_before_id']}", headers=reader.headers
        )
        assert [e["object_id"] for e in r2.json()["entries"]][:1] == ["0"]
    v = await client.get("/api/v1/audit/verify", headers=admin.headers)
    assert v.status_code == 200 and v.json()["ok"] is True
    for role in ("counsellor", "supervisor", "analyst"):
        other = await signed_in(session, role)
        assert (await client.get("/api/v1/audit", headers=other.headers)).status_code == 403
        assert (await client.get("/api/v1/audit/verify", headers=other.headers)).status_code == 403


async def test_user_changes_are_audited_with_who_what_and_where(client, session):
    admin = await signed_in(session, "admin")
    r = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={
            "username": "lan.tran",
            "display_name": "Trần Thị Lan",
            "roles": ["counsellor"],
            "home_switchboard": "danang",
        },
    )
    assert r.status_code == 201
    uid = r.json()["user"]["id"]
    entry = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.object_type == "user", AuditEntry.object_id == str(uid), AuditEntry.action == "create"
        )
    )
    assert entry is not None
    assert entry.actor == f"user:{admin.user.username}" and entry.actor_user_id == admin.user.id
    assert entry.client_address == "127.0.0.1" and entry.request_id
    assert entry.details == {"roles": ["counsellor"], "home_switchboard": "danang"}


def test_cli_audit_verify(pg_server, monkeypatch):
    """`hotline-api audit verify` exits 0 on an intact chain and 1 on a tampered one."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from hotline_api.cli import cli
    from hotline_api.config import get_settings
    from hotline_api.db import migrate

    name = "hotline_audit_cli"
    pg_server.drop_database(name)
    pg_server.ensure_database(name)
    url = pg_server.url(name)
    migrate.upgrade(url)

    async def write(tamper: bool) -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            from sqlalchemy.ext.asyncio import AsyncSession

            s = AsyncSession(bind=conn)
            if tamper:
                await s.execute(text("SET LOCAL session_replication_role = replica"))
                await s.execute(
                    text(
                        "UPDATE audit_log SET actor = 'user:someone-else' WHERE id = "
                        "(SELECT min(id) FROM audit_log)"
                    )
                )
            else:
                for i in range(3):
                    await audit.record(s, ACTOR, "read", "case", i)
            await s.flush()
        await engine.dispose()

    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        asyncio.run(write(tamper=False))
        ok = CliRunner().invoke(cli, ["audit", "verify"])
        assert ok.exit_code == 0, ok.output
        assert "intact: 3 entries" in ok.output
        asyncio.run(write(tamper=True))
        bad = CliRunner().invoke(cli, ["audit", "verify"])
        assert bad.exit_code == 1
        assert "altered" in bad.output
    finally:
        get_settings.cache_clear()
        pg_server.drop_database(name)
