"""Until app.py includes the partner and referral routers, include them here (once: the app is the
session's), so that these tests reach the endpoints before and after the routers are registered."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute

from hotline_api.audit.models import AuditEntry
from hotline_api.calls.models import Call
from hotline_api.cases.models import Case, ContactRecord, Partner
from hotline_api.cases.partners import router as partners_router
from hotline_api.cases.referrals_router import router as referrals_router


def _paths(routes: Iterable[BaseRoute]) -> set[str]:
    """Every route path, descending into included routers (FastAPI keeps one as a node)."""
    found: set[str] = set()
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found |= _paths(inner.routes)
        else:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                found.add(path)
    return found


@pytest.fixture(autouse=True)
def _partner_and_referral_routes(app: FastAPI) -> None:
    paths = _paths(app.routes)
    if "/api/v1/partners" not in paths:
        app.include_router(partners_router)
    if "/api/v1/cases/{case_id}/referrals" not in paths:
        app.include_router(referrals_router)


# ---- data for the partner and referral tests ---------------------------------------------------

_seq = itertools.count(1)


async def make_partner(
    session: AsyncSession,
    name: str = "Công an tỉnh Lào Cai",
    kind: str = "police",
    province: str | None = "01",
    active: bool = True,
) -> Partner:
    partner = Partner(name=name, kind=kind, province_code=province, active=active)
    session.add(partner)
    await session.flush()
    return partner


async def make_case(
    session: AsyncSession,
    switchboard: str = "hanoi",
    assigned_user_id: int | None = None,
    status: str = "open",
) -> Case:
    n = next(_seq)
    case = Case(
        reference=f"111-2026-{900000 + n:06d}",
        switchboard_code=switchboard,
        region={"hanoi": "north", "danang": "central", "angiang": "south"}[switchboard],
        status=status,
        assigned_user_id=assigned_user_id,
    )
    session.add(case)
    await session.flush()
    return case


async def record_consent(
    session: AsyncSession, case: Case, consent: str | None, at: datetime | None = None
) -> ContactRecord:
    """A call of the case whose contact record says ``consent`` (updated at ``at``)."""
    n = next(_seq)
    when = at or datetime.now(UTC)
    call = Call(switchboard_code=case.switchboard_code, linkedid=f"1764300000.{n}", started_at=when)
    session.add(call)
    await session.flush()
    record = ContactRecord(
        call_id=call.id,
        switchboard_code=case.switchboard_code,
        created_at=when,
        updated_at=when,
        caller_category="victim",
        contact_type="crisis",
        trafficking_related=True,
        consent=consent,
        case_id=case.id,
    )
    session.add(record)
    await session.flush()
    return record


async def audit_entries(
    session: AsyncSession, object_type: str, action: str | None = None, object_id: int | str | None = None
) -> list[AuditEntry]:
    q = select(AuditEntry).where(AuditEntry.object_type == object_type)
    if action is not None:
        q = q.where(AuditEntry.action == action)
    if object_id is not None:
        q = q.where(AuditEntry.object_id == str(object_id))
    return list((await session.scalars(q.order_by(AuditEntry.id))).all())
