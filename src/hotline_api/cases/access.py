"""Who may see and change a case (PRODUCT.md §4), in one place for cases, contact records and
referrals.

- counsellor: the cases of their switchboard and any case assigned to them; raw phone numbers only
  of cases assigned to them;
- supervisor: everything of their switchboard, numbers included;
- national_supervisor: everything;
- analyst and admin: no case content at all.

A case outside the reader's scope answers 404, as if it did not exist: its existence is itself
information. Every read and change is audited by the caller (``audit_case``).
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import ColumnElement, false, or_, true
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.audit import service as audit
from hotline_api.auth.deps import actor_of
from hotline_api.auth.service import Principal
from hotline_api.cases.models import Case
from hotline_api.errors import NotFound

CASE_ROLES = ("counsellor", "supervisor", "national_supervisor")


def may_read(p: Principal, case: Case) -> bool:
    if p.has("national_supervisor"):
        return True
    if p.has("supervisor", "counsellor") and case.switchboard_code == p.home_switchboard:
        return True
    return p.has("counsellor", "supervisor") and case.assigned_user_id == p.user_id


def may_change(p: Principal, case: Case) -> bool:
    """Notes, persons, status, referrals: whoever may read it (a counsellor of the switchboard
    follows up a colleague's case on a night shift); assignment is for supervisors (may_assign)."""
    return may_read(p, case)


def may_assign(p: Principal, case: Case) -> bool:
    if p.has("national_supervisor"):
        return True
    return p.has("supervisor") and case.switchboard_code == p.home_switchboard


def may_see_numbers(p: Principal, case: Case) -> bool:
    if p.has("national_supervisor"):
        return True
    if p.has("supervisor") and case.switchboard_code == p.home_switchboard:
        return True
    return case.assigned_user_id == p.user_id


def scope_filter(p: Principal) -> ColumnElement[bool]:
    """The cases a principal may read, as a WHERE clause."""
    if p.has("national_supervisor"):
        return true()
    if not p.has("supervisor", "counsellor"):
        return false()
    return or_(Case.switchboard_code == p.home_switchboard, Case.assigned_user_id == p.user_id)


async def case_for(
    session: AsyncSession, p: Principal, case_id: int, *, for_update: bool = False, change: bool = False
) -> Case:
    """The case, or 404 when it does not exist or is outside the principal's scope."""
    case = await session.get(Case, case_id, with_for_update=for_update or None)
    if case is None or not (may_change(p, case) if change else may_read(p, case)):
        raise NotFound(f"no case {case_id} that you may {'change' if change else 'see'}")
    return case


async def audit_case(
    session: AsyncSession,
    p: Principal,
    request: Request,
    action: str,
    object_type: str,
    object_id: int | str,
    details: dict[str, object] | None = None,
) -> None:
    """One audit entry for a read or change of a case, contact record or referral (ids and field
    names only)."""
    await audit.record(session, actor_of(p, request), action, object_type, object_id, details)
