"""The one helper every domain calls to audit a read or a change, and the chain verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.audit.models import AuditEntry
from hotline_api.observability import current_request_id

GENESIS = b"\x00" * 32
# pg_advisory_xact_lock key: appends are serialised so that the chain is linear
_AUDIT_LOCK = 0x4155_4454  # "AUDT"


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user, a switchboard, or the system (CLI, sweeper)."""

    label: str
    user_id: int | None = None
    client_address: str | None = None


SYSTEM = Actor(label="system")


def _canonical(entry: AuditEntry) -> bytes:
    at = entry.at.astimezone(UTC).isoformat(timespec="microseconds")
    body = [
        entry.id,
        at,
        entry.actor_user_id,
        entry.actor,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.details,
        entry.client_address,
        entry.request_id,
    ]
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def entry_hash(prev_hash: bytes, entry: AuditEntry) -> bytes:
    return hashlib.sha256(prev_hash + _canonical(entry)).digest()


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction (it stands or falls with the change it records).

    ``action`` is a verb such as ``read``, ``create``, ``update``, ``view_number``; ``details``
    must hold no personal values (ids, field names and counts only).
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK})
    prev = await session.scalar(select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1))
    next_id = await session.scalar(text("SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))"))
    entry = AuditEntry(
        id=next_id,
        at=datetime.now(UTC),
        actor_user_id=actor.user_id,
        actor=actor.label,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=json.loads(json.dumps(details or {}, ensure_ascii=False)),
        client_address=actor.client_address,
        request_id=current_request_id(),
        prev_hash=prev or GENESIS,
        entry_hash=b"",
    )
    entry.entry_hash = entry_hash(entry.prev_hash, entry)
    session.add(entry)
    await session.flush()
    return entry


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    first_bad_id: int | None = None
    problem: str | None = None


async def _iterate(session: AsyncSession, batch: int = 5000) -> AsyncIterator[AuditEntry]:
    last = 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].id
        session.expunge_all()


async def verify_chain(session: AsyncSession) -> VerifyResult:
    """Recompute every link. A changed row breaks its own hash; a removed one breaks the next link."""
    prev = GENESIS
    count = 0
    async for entry in _iterate(session):
        count += 1
        if entry.prev_hash != prev:
            return VerifyResult(
                False,
                count,
                entry.id,
                f"entry {entry.id} does not follow the entry before it (an entry was removed or inserted)",
            )
        if entry_hash(prev, entry) != entry.entry_hash:
            return VerifyResult(False, count, entry.id, f"entry {entry.id} was altered after it was written")
        prev = entry.entry_hash
    return VerifyResult(True, count)


async def count_entries(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
