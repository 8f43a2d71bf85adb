from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from hotline_api.audit import service
from hotline_api.audit.models import AuditEntry
from hotline_api.auth.deps import AuditReader
from hotline_api.db.session import SessionDep
from hotline_api.errors import error_responses

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_user_id: int | None
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]
    client_address: str | None
    request_id: str | None


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_before_id: int | None


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    first_bad_id: int | None
    problem: str | None


@router.get(
    "",
    response_model=AuditPage,
    responses=error_responses(401, 403, 422),
    summary="Read the audit log, newest first (admins and national supervisors)",
)
async def list_entries(
    _: AuditReader,
    session: SessionDep,
    object_type: str | None = None,
    object_id: str | None = None,
    actor_user_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = Query(
        default=None, description="page on: the next_before_id of the previous page"
    ),
    limit: int = Query(default=100, ge=1, le=1000),
) -> AuditPage:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if actor_user_id is not None:
        stmt = stmt.where(AuditEntry.actor_user_id == actor_user_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    rows = (await session.scalars(stmt)).all()
    entries = [AuditEntryOut.model_validate(r, from_attributes=True) for r in rows]
    return AuditPage(entries=entries, next_before_id=rows[-1].id if len(rows) == limit else None)


@router.get(
    "/verify",
    response_model=VerifyOut,
    responses=error_responses(401, 403),
    summary="Recompute the hash chain of the whole audit log",
)
async def verify(_: AuditReader, session: SessionDep) -> VerifyOut:
    result = await service.verify_chain(session)
    return VerifyOut(
        ok=result.ok, entries=result.entries, first_bad_id=result.first_bad_id, problem=result.problem
    )
