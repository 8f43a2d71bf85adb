"""Referrals over HTTP: make one from a case, read them, move them through their states, record the
partner's reference, and the follow-up reminders. The rules: referrals.py; the scope: access.py (a
case outside the reader's scope, and its referrals, answer 404). Every read and change is audited
(object_type ``referral``, ids and field names only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.auth.deps import require_roles
from hotline_api.auth.service import Principal
from hotline_api.cases import access, codes, referrals
from hotline_api.cases.models import REFERRAL_STATUSES, Case, Partner, Referral
from hotline_api.cases.partners import MAX_ID, plain_text
from hotline_api.db.session import SessionDep
from hotline_api.errors import NotFound, error_responses
from hotline_api.privacy.crypto import Keyring

router = APIRouter(prefix="/api/v1", tags=["referrals"])
CaseWorker = Annotated[Principal, Depends(require_roles(*access.CASE_ROLES))]
CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="the case's id")]
ReferralId = Annotated[int, Path(ge=1, le=MAX_ID, description="the referral's id")]
Status = Literal["draft", "sent", "accepted", "rejected", "in_progress", "done", "revoked"]
assert set(get_args(Status)) == set(REFERRAL_STATUSES)
_CODE = r"^[a-z][a-z0-9_]{0,47}$"


def _text(v: str | None) -> str | None:
    """Free text: NFC, trimmed, no control characters; empty means not given."""
    return (plain_text(v) or None) if v is not None else None


def _one_line(v: str | None) -> str | None:
    text = _text(v)
    if text is not None and ("\n" in text or "\t" in text):
        raise ValueError("must be one line")
    return text


# ---- schemas -------------------------------------------------------------------------------------


class ReferralIn(BaseModel):
    partner_id: int = Field(ge=1, le=MAX_ID, description="the partner (GET /api/v1/partners)")
    referral_type: str = Field(pattern=_CODE, description="code list referral_type")
    consent: Literal["given", "emergency_override"] = Field(
        description="the victim's consent, or a supervisor's emergency override (with override_reason)"
    )
    override_reason: str | None = Field(
        default=None, max_length=2_000, description="why the referral cannot wait for consent (encrypted)"
    )

    @field_validator("override_reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        return _text(v)


class TransitionIn(BaseModel):
    to: Status = Field(description="the state to move to")
    reason: str | None = Field(
        default=None, max_length=2_000, description="required for rejected (encrypted)"
    )
    outcome: str | None = Field(
        default=None, pattern=_CODE, description="required for done: referral_outcome"
    )
    external_reference: str | None = Field(
        default=None, max_length=100, description="the partner's reference number, e.g. a police file"
    )
    override_reason: str | None = Field(
        default=None,
        max_length=2_000,
        description="when sending: a supervisor's emergency override of a withdrawn consent (encrypted)",
    )

    @field_validator("reason", "override_reason")
    @classmethod
    def _free_text(cls, v: str | None) -> str | None:
        return _text(v)

    @field_validator("external_reference")
    @classmethod
    def _reference(cls, v: str | None) -> str | None:
        return _one_line(v)


class ReferralPatch(BaseModel):
    external_reference: str | None = Field(
        max_length=100, description="the partner's reference number; null clears it"
    )

    @field_validator("external_reference")
    @classmethod
    def _reference(cls, v: str | None) -> str | None:
        return _one_line(v)


class TransitionOut(BaseModel):
    at: datetime
    by_user_id: int | None
    from_status: str | None
    to_status: str
    reason: str | None
    outcome: str | None


class ReferralSummary(BaseModel):
    id: int
    case_id: int
    case_reference: str
    partner_id: int
    partner_name: str
    partner_kind: str
    referral_type: str
    status: str
    status_changed_at: datetime
    consent: str
    external_reference: str | None
    outcome: str | None
    created_at: datetime
    created_by: int | None
    sent_at: datetime | None
    accepted_at: datetime | None
    done_at: datetime | None
    next: list[str] = Field(description="the states it may move to from here")


class ReferralOut(ReferralSummary):
    override_by: int | None
    override_reason: str | None
    transitions: list[TransitionOut]


class OverdueReferral(ReferralSummary):
    switchboard: str
    assigned_user_id: int | None
    overdue_since: datetime
    days_in_state: int


class OverduePage(BaseModel):
    referrals: list[OverdueReferral]
    sent_days: int
    active_days: int


# ---- helpers -------------------------------------------------------------------------------------


def _keyring(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


def _summary(r: Referral, reference: str, partner_name: str, partner_kind: str) -> ReferralSummary:
    return ReferralSummary(
        id=r.id,
        case_id=r.case_id,
        case_reference=reference,
        partner_id=r.partner_id,
        partner_name=partner_name,
        partner_kind=partner_kind,
        referral_type=r.referral_type,
        status=r.status,
        status_changed_at=r.status_changed_at,
        consent=r.consent,
        external_reference=r.external_reference,
        outcome=r.outcome,
        created_at=r.created_at,
        created_by=r.created_by,
        sent_at=r.sent_at,
        accepted_at=r.accepted_at,
        done_at=r.done_at,
        next=list(referrals.MOVES.get(r.status, ())),
    )


async def _detail(session: AsyncSession, keyring: Keyring, case_: Case, r: Referral) -> ReferralOut:
    partner = await session.get(Partner, r.partner_id)
    assert partner is not None  # a foreign key
    transitions = await referrals.transitions_of(session, r.id)
    return ReferralOut(
        **_summary(r, case_.reference, partner.name, partner.kind).model_dump(),
        override_by=r.override_by,
        override_reason=keyring.decrypt_optional(r.override_reason_enc, referrals.OVERRIDE_CONTEXT),
        transitions=[
            TransitionOut(
                at=t.at,
                by_user_id=t.by_user_id,
                from_status=t.from_status,
                to_status=t.to_status,
                reason=keyring.decrypt_optional(t.reason_enc, referrals.REASON_CONTEXT),
                outcome=t.outcome,
            )
            for t in transitions
        ],
    )


async def _referral(
    session: AsyncSession, p: Principal, referral_id: int, *, change: bool = False
) -> tuple[Referral, Case]:
    """The referral and its case (both locked for a change), or 404 outside the reader's scope."""
    verb = "change" if change else "see"
    referral = await session.get(Referral, referral_id)
    if referral is None:
        raise NotFound(f"no referral {referral_id} that you may {verb}")
    try:
        case_ = await access.case_for(session, p, referral.case_id, for_update=change, change=change)
    except NotFound:
        raise NotFound(f"no referral {referral_id} that you may {verb}") from None
    if change:
        # the case first, then the referral: the order every change takes, so none waits on another
        locked = await session.get(Referral, referral_id, with_for_update=True, populate_existing=True)
        assert locked is not None
        referral = locked
    return referral, case_


# ---- HTTP ----------------------------------------------------------------------------------------
# /referrals/overdue first: it must not be taken for /referrals/{referral_id}


@router.get(
    "/referrals/overdue",
    response_model=OverduePage,
    responses=error_responses(401, 403, 422),
    summary="Follow-up reminders: referrals sitting too long in one state, newest-stuck first",
)
async def overdue(
    p: CaseWorker,
    request: Request,
    session: SessionDep,
    sent_days: Annotated[
        int, Query(ge=1, le=365, description="sent without an answer for more than this many days")
    ] = referrals.SENT_OVERDUE_DAYS,
    active_days: Annotated[
        int,
        Query(
            ge=1, le=365, description="accepted or in progress without change for more than this many days"
        ),
    ] = referrals.ACTIVE_OVERDUE_DAYS,
    switchboard: Annotated[
        str | None, Query(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="narrow to one switchboard")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> OverduePage:
    now = datetime.now(UTC)
    since = referrals.overdue_since(sent_days, active_days).label("overdue_since")
    conds: list[ColumnElement[bool]] = [
        referrals.overdue_scope(p),
        referrals.overdue_filter(now, sent_days, active_days),
    ]
    if switchboard is not None:
        conds.append(Case.switchboard_code == switchboard)
    rows = (
        await session.execute(
            select(Referral, Case, Partner.name, Partner.kind, since)
            .join(Case, Case.id == Referral.case_id)
            .join(Partner, Partner.id == Referral.partner_id)
            .where(*conds)
            .order_by(since.desc(), Referral.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    out = [
        OverdueReferral(
            **_summary(r, c.reference, name, kind).model_dump(),
            switchboard=c.switchboard_code,
            assigned_user_id=c.assigned_user_id,
            overdue_since=due,
            days_in_state=(now - r.status_changed_at).days,
        )
        for r, c, name, kind, due in rows
    ]
    await access.audit_case(
        session,
        p,
        request,
        "list",
        "referral",
        "-",
        {"overdue": True, "referral_ids": [r.id for r in out]},
    )
    return OverduePage(referrals=out, sent_days=sent_days, active_days=active_days)


@router.post(
    "/cases/{case_id}/referrals",
    response_model=ReferralOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Refer a case to a partner (a draft; send it with a transition)",
)
async def create_referral(
    case_id: CaseId, body: ReferralIn, p: CaseWorker, request: Request, session: SessionDep
) -> ReferralOut:
    keyring = _keyring(request)
    case_ = await access.case_for(session, p, case_id, for_update=True, change=True)
    await codes.check(session, "referral_type", "referral_type", body.referral_type)
    referral = await referrals.create(
        session,
        keyring,
        p,
        case_,
        referrals.NewReferral(
            partner_id=body.partner_id,
            referral_type=body.referral_type,
            consent=body.consent,
            override_reason=body.override_reason,
        ),
    )
    await access.audit_case(
        session,
        p,
        request,
        "create",
        "referral",
        referral.id,
        {
            "case_id": case_.id,
            "partner_id": referral.partner_id,
            "fields": sorted(k for k, v in body.model_dump().items() if v is not None),
        },
    )
    return await _detail(session, keyring, case_, referral)


@router.get(
    "/cases/{case_id}/referrals",
    response_model=list[ReferralSummary],
    responses=error_responses(401, 403, 404, 422),
    summary="A case's referrals, oldest first",
)
async def case_referrals(
    case_id: CaseId, p: CaseWorker, request: Request, session: SessionDep
) -> list[ReferralSummary]:
    case_ = await access.case_for(session, p, case_id)
    rows = (
        await session.execute(
            select(Referral, Partner.name, Partner.kind)
            .join(Partner, Partner.id == Referral.partner_id)
            .where(Referral.case_id == case_.id)
            .order_by(Referral.created_at, Referral.id)
        )
    ).all()
    out = [_summary(r, case_.reference, name, kind) for r, name, kind in rows]
    await access.audit_case(
        session,
        p,
        request,
        "list",
        "referral",
        "-",
        {"case_id": case_.id, "referral_ids": [r.id for r in out]},
    )
    return out


@router.get(
    "/referrals/{referral_id}",
    response_model=ReferralOut,
    responses=error_responses(401, 403, 404, 422),
    summary="A referral with its transitions",
)
async def get_referral(
    referral_id: ReferralId, p: CaseWorker, request: Request, session: SessionDep
) -> ReferralOut:
    referral, case_ = await _referral(session, p, referral_id)
    await access.audit_case(session, p, request, "read", "referral", referral.id, {"case_id": case_.id})
    return await _detail(session, _keyring(request), case_, referral)


@router.post(
    "/referrals/{referral_id}/transitions",
    response_model=ReferralOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Move a referral: draft → sent → accepted | rejected → in_progress → done; revoked",
)
async def move_referral(
    referral_id: ReferralId, body: TransitionIn, p: CaseWorker, request: Request, session: SessionDep
) -> ReferralOut:
    keyring = _keyring(request)
    referral, case_ = await _referral(session, p, referral_id, change=True)
    moved = await referrals.transition(
        session,
        keyring,
        p,
        case_,
        referral,
        referrals.Move(
            to=body.to,
            reason=body.reason,
            outcome=body.outcome,
            external_reference=body.external_reference,
            override_reason=body.override_reason,
        ),
    )
    given = sorted(k for k, v in body.model_dump().items() if v is not None and k != "to")
    details: dict[str, object] = {"case_id": case_.id, "from": moved.previous, "to": body.to, "fields": given}
    if moved.override:
        details["emergency_override"] = True
    await access.audit_case(session, p, request, "transition", "referral", referral.id, details)
    if moved.case_status_from is not None:
        await access.audit_case(
            session,
            p,
            request,
            "update",
            "case",
            case_.id,
            {"status": [moved.case_status_from, "referred"], "referral_id": referral.id},
        )
    return await _detail(session, keyring, case_, referral)


@router.patch(
    "/referrals/{referral_id}",
    response_model=ReferralOut,
    responses=error_responses(401, 403, 404, 422),
    summary="Record the partner's reference number (a police file number, say)",
)
async def change_referral(
    referral_id: ReferralId, body: ReferralPatch, p: CaseWorker, request: Request, session: SessionDep
) -> ReferralOut:
    referral, case_ = await _referral(session, p, referral_id, change=True)
    referral.external_reference = body.external_reference
    await session.flush()
    await access.audit_case(
        session,
        p,
        request,
        "update",
        "referral",
        referral.id,
        {"case_id": case_.id, "fields": ["external_reference"]},
    )
    return await _detail(session, _keyring(request), case_, referral)


__all__ = ["router"]
