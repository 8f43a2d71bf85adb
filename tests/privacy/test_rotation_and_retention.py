"""Key rotation re-seals every stored value under the active key; the retention policy removes
personal data past its time and keeps the anonymous facts; both leave a record."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from hotline_api.audit.models import AuditEntry
from hotline_api.audit.service import Actor
from hotline_api.calls.models import Call
from hotline_api.cases.models import Case, CaseNote, CasePerson, ContactRecord
from hotline_api.config import Settings
from hotline_api.privacy import rotation
from hotline_api.privacy.crypto import Keyring, key_id_of
from hotline_api.privacy.keys import new_key_file, read_key_file, write_key_file
from hotline_api.privacy.models import PurgeRun
from hotline_api.privacy.retention import purge
from hotline_api.telephony.models import QuarantinedBody, WebhookEvent
from tests.factories import KEYRING

OLD = Keyring(keys=KEYRING.keys, active_key_id="test-2026a", hash_key=KEYRING.hash_key)
NEW = KEYRING  # active: test-2026b


def test_every_encrypted_column_is_known_to_rotation():
    assert {(c.table, c.column) for c in rotation.ENCRYPTED} == rotation.model_columns()


async def _call(session: AsyncSession, keyring: Keyring, n: int, ended: datetime, kind: str | None) -> Call:
    number = f"+8491200{n:04d}"
    call = Call(
        switchboard_code="hanoi",
        linkedid=f"rot.{n}.{ended.timestamp()}",
        started_at=ended - timedelta(minutes=3),
        ended_at=ended,
        caller_number_enc=keyring.encrypt(number, "calls.caller_number"),
        caller_hash=keyring.keyed_hash(number, "phone"),
        recording_enc=keyring.encrypt(f"rec-{n}.wav", "calls.recording"),
    )
    session.add(call)
    await session.flush()
    if kind:
        session.add(
            ContactRecord(
                call_id=call.id,
                switchboard_code="hanoi",
                caller_category="unknown",
                contact_type=kind,
                trafficking_related=False,
                notes_enc=keyring.encrypt(f"ghi chú {n}", "contact_records.notes"),
            )
        )
        await session.flush()
    return call


async def _case(session: AsyncSession, keyring: Keyring, ref: str, closed_at: datetime | None) -> Case:
    case = Case(
        reference=ref,
        switchboard_code="hanoi",
        region="north",
        status="closed" if closed_at else "open",
        closed_at=closed_at,
        caller_hash=keyring.keyed_hash("+84912000999", "phone"),
        summary_enc=keyring.encrypt("tóm tắt", "cases.summary"),
    )
    session.add(case)
    await session.flush()
    session.add(
        CasePerson(
            case_id=case.id,
            name_enc=keyring.encrypt("Trần Thị Lan", "case_persons.name"),
            name_hashes=[keyring.keyed_hash("lan", "name_token")],
            phone_enc=keyring.encrypt("0912000999", "case_persons.phone"),
            phone_hash=keyring.keyed_hash("+84912000999", "phone"),
            sex="female",
        )
    )
    session.add(CaseNote(case_id=case.id, note_enc=keyring.encrypt("đã gặp nạn nhân", "case_notes.note")))
    await session.flush()
    return case


async def test_rotation_reseals_every_value_under_the_active_key(session):
    now = datetime.now(UTC)
    calls = [await _call(session, OLD, n, now, "tip") for n in range(7)]
    await _case(session, OLD, "111-2026-800001", None)
    before = {c.id: OLD.decrypt(c.caller_number_enc, "calls.caller_number") for c in calls}  # type: ignore[arg-type]
    pending = await rotation.pending(session, NEW)
    assert pending[rotation.EncryptedColumn("calls", "caller_number_enc", "calls.caller_number")] >= 7

    seen: list[int] = []
    for column, n in pending.items():
        if n:
            assert await rotation.rotate_column(session, NEW, column, batch=3, progress=seen.append) == n
    assert sum(seen) == sum(pending.values())
    assert sum((await rotation.pending(session, NEW)).values()) == 0
    for c in calls:
        await session.refresh(c)
        assert key_id_of(c.caller_number_enc) == "test-2026b"  # type: ignore[arg-type]
        assert NEW.decrypt(c.caller_number_enc, "calls.caller_number") == before[c.id]  # type: ignore[arg-type]
    person = await session.scalar(
        select(CasePerson).where(CasePerson.name_enc.is_not(None)).order_by(CasePerson.id.desc())
    )
    assert person is not None and NEW.decrypt(person.name_enc, "case_persons.name") == "Trần Thị Lan"
    keys = {k for _, _, k, _ in await rotation.status(session)}
    assert "test-2026a" not in keys


async def test_purge_removes_personal_data_past_its_time_and_keeps_the_facts(session):
    settings = Settings(_env_file=None)
    now = datetime.now(UTC)
    old_silent = await _call(session, KEYRING, 1, now - timedelta(days=200), "silent")
    new_silent = await _call(session, KEYRING, 2, now - timedelta(days=10), "nuisance")
    old_tip = await _call(session, KEYRING, 3, now - timedelta(days=200), "tip")
    old_case = await _case(session, KEYRING, "111-2020-000001", now - timedelta(days=6 * 365))
    recent_case = await _case(session, KEYRING, "111-2026-800002", now - timedelta(days=30))
    open_case = await _case(session, KEYRING, "111-2026-800003", None)
    for days in (500, 10):
        session.add(
            WebhookEvent(
                switchboard_code="hanoi",
                source="ari",
                dedup_key=os.urandom(32),
                event_type="StasisStart",
                received_at=now - timedelta(days=days),
                body_enc=KEYRING.encrypt_bytes(b"{}", "webhook_events.body"),
            )
        )
        session.add(
            QuarantinedBody(
                switchboard_code="hanoi",
                source="ari",
                status_code=422,
                reason="type is missing",
                received_at=now - timedelta(days=days),
                body_enc=KEYRING.encrypt_bytes(b"{}", "webhook_quarantine.body"),
            )
        )
    await session.flush()
    actor = Actor(label="system:test")

    dry = {r.data_class: r.rows for r in await purge(session, settings, actor, dry_run=True, now=now)}
    assert (
        dry["silent_calls"] >= 1
        and dry["closed_cases"] >= 1
        and dry["raw_events"] >= 1
        and dry["quarantine"] >= 1
    )
    await session.refresh(old_silent)
    assert old_silent.caller_number_enc is not None  # a dry run changes nothing

    done = {r.data_class: r.rows for r in await purge(session, settings, actor, dry_run=False, now=now)}
    assert done == dry
    for call in (old_silent, new_silent, old_tip):
        await session.refresh(call)
    assert (
        old_silent.caller_number_enc is None
        and old_silent.caller_hash is None
        and old_silent.recording_enc is None
    )
    assert old_silent.outcome  # the call itself stays for the reports
    assert new_silent.caller_number_enc is not None and old_tip.caller_number_enc is not None
    record = await session.scalar(select(ContactRecord).where(ContactRecord.call_id == old_silent.id))
    assert record is not None and record.notes_enc is None and record.contact_type == "silent"

    async def personal(case: Case) -> tuple[object, ...]:
        await session.refresh(case)
        person = await session.scalar(select(CasePerson).where(CasePerson.case_id == case.id))
        notes = (await session.scalars(select(CaseNote).where(CaseNote.case_id == case.id))).all()
        assert person is not None
        return (
            case.summary_enc,
            case.caller_hash,
            person.name_enc,
            person.phone_enc,
            person.phone_hash,
            len(notes),
        )

    assert await personal(old_case) == (None, None, None, None, None, 0)
    person = await session.scalar(select(CasePerson).where(CasePerson.case_id == old_case.id))
    assert person is not None and person.sex == "female" and person.name_hashes == []
    for kept in (recent_case, open_case):
        assert all(v is not None and v != 0 for v in await personal(kept))
    ages = (
        await session.execute(
            text("SELECT count(*) FROM webhook_events WHERE received_at < :c"),
            {"c": now - timedelta(days=400)},
        )
    ).scalar_one()
    assert ages == 0
    runs = (await session.scalars(select(PurgeRun).order_by(PurgeRun.id))).all()
    assert [r.dry_run for r in runs[-8:]] == [True] * 4 + [False] * 4
    actions = (
        await session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "retention"))
    ).all()
    assert actions[-2:] == ["purge_dry_run", "purge"]


def test_keys_add_and_activate_change_the_key_file(tmp_path: Path, monkeypatch):
    from hotline_api.cli_privacy import keys_cli

    for var in ("HOTLINE_ENCRYPTION_KEYS", "HOTLINE_HASH_KEY", "HOTLINE_ACTIVE_KEY_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    path = tmp_path / "keys" / "keys.json"
    write_key_file(path, new_key_file())
    first = read_key_file(path)
    runner = CliRunner()
    result = runner.invoke(keys_cli, ["add", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    added = read_key_file(path)
    assert added.active_key_id == first.active_key_id and len(added.keys) == 2
    new_id = next(k for k in added.keys if k not in first.keys)
    assert runner.invoke(keys_cli, ["activate", "nope", "--data-dir", str(tmp_path)]).exit_code == 1
    result = runner.invoke(keys_cli, ["activate", new_id, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    activated = read_key_file(path)
    assert activated.active_key_id == new_id and activated.hash_key == first.hash_key
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert json.loads(path.read_text())["encryption_keys"][first.active_key_id]  # the old key stays
