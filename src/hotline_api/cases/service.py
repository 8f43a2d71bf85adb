"""Cases and contact records: the rules, over a session (the request owns the transaction)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.calls.models import Call
from hotline_api.cases.models import Case, CaseCounter, CaseEvent, ContactRecord
from hotline_api.errors import Conflict
from hotline_api.privacy.crypto import Keyring
from hotline_api.privacy.normalise import name_tokens, normalise_phone
from hotline_api.reference.models import Switchboard

# the hotline's number gives the reference its prefix: 111-2026-000123
REFERENCE_PREFIX = "111"
QUICK_TYPES = ("silent", "nuisance", "wrong_number")
# status changes a person may make; "referred" follows from a referral being sent
STATUS_MOVES: dict[str, tuple[str, ...]] = {
    "open": ("follow_up", "closed"),
    "follow_up": ("open", "closed"),
    "referred": ("follow_up", "closed"),
    "closed": ("open",),  # reopening: supervisors
}


def local_year(now: datetime) -> int:
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).year


async def next_reference(session: AsyncSession, now: datetime) -> str:
    """The next reference of the (Vietnamese) year, gap-free: the year's counter row is locked
    until the transaction that opens the case ends."""
    year = local_year(now)
    await session.execute(
        text("INSERT INTO case_counters (year, last) VALUES (:y, 0) ON CONFLICT (year) DO NOTHING"),
        {"y": year},
    )
    last = await session.scalar(
        update(CaseCounter)
        .where(CaseCounter.year == year)
        .values(last=CaseCounter.last + 1)
        .returning(CaseCounter.last)
    )
    return f"{REFERENCE_PREFIX}-{year}-{int(last or 0):06d}"


async def add_event(
    session: AsyncSession, case: Case, actor: int | None, kind: str, details: dict[str, Any] | None = None
) -> None:
    """A timeline entry (codes and ids only), and the case marked as changed."""
    now = datetime.now(UTC)
    session.add(CaseEvent(case_id=case.id, at=now, actor_user_id=actor, kind=kind, details=details or {}))
    case.updated_at = now


async def open_case(
    session: AsyncSession, record: ContactRecord, call: Call, user_id: int, summary_enc: bytes | None
) -> Case:
    if record.case_id is not None:
        raise Conflict(f"contact record {record.id} already belongs to case {record.case_id}")
    now = datetime.now(UTC)
    board = await session.get(Switchboard, record.switchboard_code)
    region = call.caller_region or (board.region if board else "north")
    case = Case(
        reference=await next_reference(session, now),
        switchboard_code=record.switchboard_code,
        region=region,
        status="open",
        status_changed_at=now,
        status_changed_by=user_id,
        opened_at=now,
        opened_by=user_id,
        assigned_user_id=user_id,
        caller_hash=call.caller_hash,
        summary_enc=summary_enc,
        updated_at=now,
    )
    session.add(case)
    await session.flush()
    record.case_id = case.id
    await add_event(session, case, user_id, "opened", {"contact_record_id": record.id, "call_id": call.id})
    return case


async def link_contact(session: AsyncSession, case: Case, record: ContactRecord, user_id: int) -> None:
    if record.case_id == case.id:
        return
    if record.case_id is not None:
        raise Conflict(f"contact record {record.id} already belongs to case {record.case_id}")
    record.case_id = case.id
    await add_event(
        session, case, user_id, "call_linked", {"contact_record_id": record.id, "call_id": record.call_id}
    )


def phone_hash(keyring: Keyring, raw: str) -> bytes | None:
    number = normalise_phone(raw)
    return keyring.keyed_hash(number, "phone") if number else None


def name_hashes(keyring: Keyring, name: str) -> list[bytes]:
    """Keyed hashes of a name's unaccented, lower-cased tokens: searching "Nguyen" finds "Nguyễn"
    without any readable copy of the name in the database."""
    return [keyring.keyed_hash(token, "name_token") for token in name_tokens(name)]


async def open_case_for_caller(session: AsyncSession, caller_hash: bytes) -> Case | None:
    """The caller's most recently changed open case, if any."""
    return await session.scalar(
        select(Case)
        .where(Case.caller_hash == caller_hash, Case.status != "closed")
        .order_by(Case.status_changed_at.desc())
        .limit(1)
    )


async def latest_consent(session: AsyncSession, case_id: int) -> str | None:
    """The victim's consent as the most recent contact record of the case says it."""
    return await session.scalar(
        select(ContactRecord.consent)
        .where(ContactRecord.case_id == case_id, ContactRecord.consent.is_not(None))
        .order_by(ContactRecord.updated_at.desc(), ContactRecord.id.desc())
        .limit(1)
    )


async def count_in(session: AsyncSession, model: Any, **where: Any) -> int:
    q = select(func.count()).select_from(model)
    for k, v in where.items():
        q = q.where(getattr(model, k) == v)
    return int(await session.scalar(q) or 0)
