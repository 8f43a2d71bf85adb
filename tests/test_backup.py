"""``hotline-api backup`` and ``hotline-api restore`` against the real PostgreSQL: the round trip,
the refusals (a non-empty target, a damaged dump, a missing folder, an unreachable database), a
restore with the wrong keys, an older dump migrated, and a fresh embedded server from a data folder
holding only the escrowed key file."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner, Result

from hotline_api.audit import service as audit
from hotline_api.calls.models import Call
from hotline_api.cases.models import Case, CaseNote, CasePerson
from hotline_api.cli import cli
from hotline_api.cli_backup import BackupError, find_tool
from hotline_api.config import get_settings
from hotline_api.db import migrate
from hotline_api.db.embedded import EmbeddedPostgres
from hotline_api.privacy.crypto import Keyring
from hotline_api.privacy.keys import check_keys, write_key_file
from tests.conftest import short_tempdir
from tests.factories import KEYRING

SOURCE = "backup_src"
OLD_KEY = Keyring(keys=KEYRING.keys, active_key_id="test-2026a", hash_key=KEYRING.hash_key)
CALLS = 24


def number(i: int) -> str:
    return f"+849123{i:05d}"


def key_env(ring: Keyring) -> dict[str, str]:
    return {
        "HOTLINE_ENCRYPTION_KEYS": ",".join(
            f"{k}:{base64.b64encode(v).decode()}" for k, v in ring.keys.items()
        ),
        "HOTLINE_ACTIVE_KEY_ID": ring.active_key_id,
        "HOTLINE_HASH_KEY": base64.b64encode(ring.hash_key).decode(),
    }


async def populate(url: str) -> None:
    """Calls, a case with a person and a note, sealed under two keys; key checks; audit entries."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as s:
            await check_keys(s, KEYRING)
            now = datetime.now(UTC)
            for i in range(CALLS):
                ring = OLD_KEY if i % 2 else KEYRING
                s.add(
                    Call(
                        switchboard_code="hanoi",
                        linkedid=f"backup-{i}",
                        started_at=now,
                        caller_number_enc=ring.encrypt(number(i), "calls.caller_number"),
                        caller_hash=ring.keyed_hash(number(i), "phone"),
                    )
                )
            case = Case(
                reference="111-2026-990001",
                switchboard_code="hanoi",
                region="north",
                status="open",
                summary_enc=OLD_KEY.encrypt("Cô gái 17 tuổi bị đưa sang Trung Quốc", "cases.summary"),
            )
            s.add(case)
            await s.flush()
            s.add(
                CasePerson(
                    case_id=case.id,
                    role="victim",
                    name_enc=KEYRING.encrypt("Nguyễn Thị Hoa", "case_persons.name"),
                    phone_enc=KEYRING.encrypt("+84987654321", "case_persons.phone"),
                )
            )
            s.add(
                CaseNote(case_id=case.id, note_enc=KEYRING.encrypt("Đã gọi lại, an toàn", "case_notes.note"))
            )
            for i in range(5):
                await audit.record(s, audit.Actor("system:test"), "read", "case", case.id, {"i": i})
            await s.commit()
    finally:
        await engine.dispose()


def fresh_database(pg: EmbeddedPostgres, name: str) -> str:
    pg.drop_database(name)
    pg.ensure_database(name)
    return pg.url(name)


def relations(pg: EmbeddedPostgres, name: str) -> int:
    with psycopg.connect(pg.conninfo(name)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        return int(row[0]) if row else 0


def scalar(pg: EmbeddedPostgres, name: str, query: str) -> Any:
    with psycopg.connect(pg.conninfo(name)) as conn:
        row = conn.execute(query).fetchone()
        return row[0] if row else None


@pytest.fixture(scope="module")
def source(pg_server: EmbeddedPostgres) -> Iterator[str]:
    url = fresh_database(pg_server, SOURCE)
    migrate.upgrade(url)
    asyncio.run(populate(url))
    yield url
    pg_server.drop_database(SOURCE)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Every variable the commands read set through monkeypatch, so that each is put back after the
    test, including what the commands themselves set (HOTLINE_DATABASE_URL, HOTLINE_DATA_DIR)."""
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOTLINE_DATABASE_URL", "unset")
    monkeypatch.setenv("COLUMNS", "250")  # rich: no line breaks inside the messages checked
    for k, v in key_env(KEYRING).items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def run(env: pytest.MonkeyPatch, url: str | None, *args: str) -> Result:
    if url is None:
        env.delenv("HOTLINE_DATABASE_URL", raising=False)
    else:
        env.setenv("HOTLINE_DATABASE_URL", url)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def text_of(result: Result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def backup_file(source: str, pg_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One backup of the source database, made once for the tests below."""
    folder = tmp_path_factory.mktemp("backups")
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("HOTLINE_DATA_DIR", str(folder / "data"))
        mp.setenv("COLUMNS", "250")
        for k, v in key_env(KEYRING).items():
            mp.setenv(k, v)
        result = run(mp, source, "backup", "--out", str(folder / "hotline.dump"))
    finally:
        mp.undo()
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return folder / "hotline.dump"


def test_backup_writes_the_dump_and_its_manifest_without_keys(
    backup_file: Path, pg_server: EmbeddedPostgres
) -> None:
    manifest = json.loads(backup_file.with_name("hotline.dump.json").read_text())
    data = backup_file.read_bytes()
    assert data[:5] == b"PGDMP"  # pg_dump's custom format
    assert oct(backup_file.stat().st_mode & 0o777) == "0o600"
    assert not [p.name for p in backup_file.parent.iterdir() if ".tmp-" in p.name]
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["size_bytes"] == len(data) and manifest["keys_included"] is False
    assert manifest["schema_revision"] == migrate.head_revision()
    assert manifest["tables"]["calls"] == CALLS and manifest["tables"]["audit_log"] == 5
    assert manifest["tables"]["case_persons"] == 1 and manifest["tables"]["alembic_version"] == 1
    assert manifest["encrypted_columns"]["calls.caller_number_enc"] == {
        "test-2026a": CALLS // 2,
        "test-2026b": CALLS // 2,
    }
    assert manifest["encrypted_columns"]["webhook_events.body_enc"] == {}
    assert manifest["key_ids"] == ["test-2026a", "test-2026b"]
    # no key material anywhere: neither raw nor base64
    for blob in (data, backup_file.with_name("hotline.dump.json").read_bytes()):
        for key in [*KEYRING.keys.values(), KEYRING.hash_key]:
            assert key not in blob and base64.b64encode(key) not in blob


def test_restore_round_trip_refuses_a_non_empty_target_and_replaces_it_with_force(
    backup_file: Path, pg_server: EmbeddedPostgres, env: pytest.MonkeyPatch
) -> None:
    target = "backup_dst"
    url = fresh_database(pg_server, target)
    try:
        result = run(env, url, "restore", "--from", str(backup_file))
        assert result.exit_code == 0, result.output
        out = text_of(result)
        assert "restored and verified" in out and "FAILED" not in out
        assert f"rows: calls │ {CALLS} │ {CALLS} │ ok" in out
        assert "audit chain │ 5 entries │ 5 intact │ ok" in out
        assert f"opens calls.caller_number │ test-2026a {CALLS // 2}, test-2026b {CALLS // 2} │" in out
        assert "opens case_persons.name │ test-2026b 1 │ 1/1 opened │ ok" in out
        # the values themselves: sealed on the source, opened on the restored copy
        blob = scalar(pg_server, target, "SELECT caller_number_enc FROM calls WHERE linkedid = 'backup-3'")
        assert KEYRING.decrypt(bytes(blob), "calls.caller_number") == number(3)
        blob = scalar(pg_server, target, "SELECT name_enc FROM case_persons")
        assert KEYRING.decrypt(bytes(blob), "case_persons.name") == "Nguyễn Thị Hoa"
        # identity sequences come back too: the next row does not collide
        assert scalar(pg_server, target, "SELECT max(id) FROM audit_log") == 5

        again = run(env, url, "restore", "--from", str(backup_file))
        assert again.exit_code == 2
        assert "is not empty" in text_of(again) and "--force" in text_of(again)
        with psycopg.connect(pg_server.conninfo(target), autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")  # past the audit log's trigger
            conn.execute("DELETE FROM calls WHERE linkedid = 'backup-0'")
        forced = run(env, url, "restore", "--from", str(backup_file), "--force")
        assert forced.exit_code == 0, forced.output
        assert scalar(pg_server, target, "SELECT count(*) FROM calls") == CALLS
    finally:
        pg_server.drop_database(target)


def test_restore_with_the_wrong_keys_reports_the_decryption_failure(
    backup_file: Path, pg_server: EmbeddedPostgres, env: pytest.MonkeyPatch
) -> None:
    target = "backup_wrong_keys"
    url = fresh_database(pg_server, target)
    # the same key ids, other keys: what a key file of another installation would give
    wrong = Keyring(
        keys={kid: os.urandom(32) for kid in KEYRING.keys},
        active_key_id="test-2026b",
        hash_key=os.urandom(32),
    )
    for k, v in key_env(wrong).items():
        env.setenv(k, v)
    try:
        result = run(env, url, "restore", "--from", str(backup_file))
        out = text_of(result)
        assert result.exit_code == 1, result.output
        assert "check(s) failed" in out
        assert "keys (start-up check)" in out and "is not the one that sealed stored data" in out
        assert "opened — the value does not open with key 'test-2026" in out
        # the rows are there all the same: the keys are what is missing
        assert scalar(pg_server, target, "SELECT count(*) FROM calls") == CALLS
    finally:
        pg_server.drop_database(target)


def test_a_damaged_dump_is_refused_before_anything_is_restored(
    backup_file: Path, pg_server: EmbeddedPostgres, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = "backup_damaged"
    url = fresh_database(pg_server, target)
    damaged = tmp_path / "damaged.dump"
    data = bytearray(backup_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    shutil.copy(backup_file.with_name("hotline.dump.json"), tmp_path / "damaged.dump.json")
    try:
        result = run(env, url, "restore", "--from", str(damaged))
        assert result.exit_code == 2
        assert "does not match its manifest" in text_of(result) and "Nothing was restored" in text_of(result)
        assert relations(pg_server, target) == 0
        (tmp_path / "damaged.dump.json").unlink()
        result = run(env, url, "restore", "--from", str(damaged))
        assert result.exit_code == 2 and "no manifest" in text_of(result)
    finally:
        pg_server.drop_database(target)


def test_backup_refuses_a_missing_folder_and_an_unreachable_database(
    source: str, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = run(env, source, "backup", "--out", str(tmp_path / "nowhere" / "x.dump"))
    assert result.exit_code == 2 and "does not exist" in text_of(result)
    unreachable = f"postgresql+psycopg://postgres@/hotline?host={tmp_path}/no-server&port=5432"
    result = run(env, unreachable, "backup", "--out", str(tmp_path / "x.dump"))
    assert result.exit_code == 2 and "cannot be reached" in text_of(result)
    result = run(env, None, "backup", "--out", str(tmp_path / "x.dump"), "--data-dir", str(tmp_path / "typo"))
    assert result.exit_code == 2 and "no database in" in text_of(result)
    assert not (tmp_path / "typo").exists()  # no new cluster made there
    assert not list(tmp_path.glob("*.dump*")) and not list(tmp_path.glob(".x.dump*"))


def test_an_older_dump_is_migrated_to_this_version(
    pg_server: EmbeddedPostgres, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    head_id = migrate.head_revision()
    assert head_id is not None
    head = script.get_revision(head_id)
    assert head is not None and isinstance(head.down_revision, str)
    old, target = "backup_old", "backup_old_restored"
    old_url = fresh_database(pg_server, old)
    url = fresh_database(pg_server, target)
    try:
        migrate.upgrade(old_url, head.down_revision)
        made = run(env, old_url, "backup", "--out", str(tmp_path / "old.dump"))
        assert made.exit_code == 0, made.output
        manifest = json.loads((tmp_path / "old.dump.json").read_text())
        assert manifest["schema_revision"] == head.down_revision
        result = run(env, url, "restore", "--from", str(tmp_path / "old.dump"))
        assert result.exit_code == 0, result.output
        assert f"migrated to this version's ({head.revision})" in text_of(result)
        assert scalar(pg_server, target, "SELECT version_num FROM alembic_version") == head.revision
    finally:
        pg_server.drop_database(old)
        pg_server.drop_database(target)


def test_restore_onto_a_fresh_embedded_server_with_only_the_escrowed_key_file(
    backup_file: Path, env: pytest.MonkeyPatch
) -> None:
    base = short_tempdir("hl-restore-")
    data = base / "data"
    try:
        # no keys at all: refused before anything starts
        for k in key_env(KEYRING):
            env.delenv(k)
        result = run(env, None, "restore", "--from", str(backup_file), "--data-dir", str(data))
        assert result.exit_code == 2 and "no keys" in text_of(result)
        assert not (data / "postgres").exists()
        write_key_file(
            data / "keys" / "keys.json",
            {
                "encryption_keys": {k: base64.b64encode(v).decode() for k, v in KEYRING.keys.items()},
                "active_key_id": KEYRING.active_key_id,
                "hash_key": base64.b64encode(KEYRING.hash_key).decode(),
            },
        )
        if os.geteuid() == 0:  # the embedded server's own user must be able to enter the folder
            os.chmod(data, 0o711)  # noqa: S103
        result = run(env, None, "restore", "--from", str(backup_file), "--data-dir", str(data))
        assert result.exit_code == 0, result.output
        assert "restored and verified" in text_of(result)
        assert not (data / "postgres" / "postmaster.pid").exists()  # the server was stopped after
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_client_tools_match_the_server_or_are_newer_never_older() -> None:
    path, version = find_tool("pg_dump", 18)
    assert version.startswith("18.") and path.name == "pg_dump"
    # a dump made by pg_dump 18 is read by a pg_restore of 18 or newer, whatever the server
    _, version = find_tool("pg_restore", 14, at_least=18)
    assert int(version.split(".")[0]) >= 18
    with pytest.raises(BackupError, match="no pg_dump of PostgreSQL 99 or newer"):
        find_tool("pg_dump", 99)
