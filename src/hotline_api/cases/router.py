"""Contact records (the wrap-up of a call) and cases, over HTTP. Scope and audit: cases/access.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import phonenumbers
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import and_, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.auth.deps import require_roles
from hotline_api.auth.models import User, UserRole
from hotline_api.auth.service import Principal
from hotline_api.calls import router as calls_scope
from hotline_api.calls.models import Call
from hotline_api.cases import access, codes, service
from hotline_api.cases.models import Case, CaseEvent, CaseNote, CasePerson, ContactRecord
from hotline_api.db.session import SessionDep
from hotline_api.errors import Conflict, Forbidden, NotFound, Unprocessable, error_responses
from hotline_api.privacy.crypto import Keyring
from hotline_api.reference.models import Province
from hotline_api.routing.models import RoutingSettings

router = APIRouter(prefix="/api/v1", tags=["records"])
CaseWorker = Annotated[Principal, Depends(require_roles(*access.CASE_ROLES))]
Supervisor = Annotated[Principal, Depends(require_roles("supervisor", "national_supervisor"))]
COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS) - {"001"}
_LANG = re.compile(r"^[a-z]{2,3}$")
NOTES_CONTEXT = "contact_records.notes"


def _check_language(v: str | None) -> str | None:
    if v is not None and not _LANG.match(v):
        raise ValueError("must be an ISO 639 code such as vi, en, km")
    return v


def _keyring(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


# ---- contact records -----------------------------------------------------------------------------


class ContactIn(BaseModel):
    caller_category: str = Field(description="code list caller_category")
    contact_type: str = Field(description="code list contact_type")
    trafficking_related: bool | None = Field(
        default=None, description="required unless the call was silent, nuisance or a wrong number"
    )
    trafficking_forms: list[str] = Field(default_factory=list, max_length=10)
    relationship: str | None = Field(default=None, description="code list relationship")
    age_group: str | None = None
    sex: str | None = None
    province: str | None = Field(default=None, description="province code, e.g. 01")
    language: str | None = Field(default=None, description="ISO 639 code: vi, en, km …")
    notes: str | None = Field(default=None, max_length=20_000)
    consent: str | None = Field(default=None, description="given, refused, withdrawn or not_asked")
    case_id: int | None = Field(default=None, description="link to an existing case")

    @field_validator("language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        return _check_language(v)


class ContactPatch(BaseModel):
    caller_category: str | None = None
    contact_type: str | None = None
    trafficking_related: bool | None = None
    trafficking_forms: list[str] | None = Field(default=None, max_length=10)
    relationship: str | None = None
    age_group: str | None = None
    sex: str | None = None
    province: str | None = None
    language: str | None = None
    notes: str | None = Field(default=None, max_length=20_000)
    consent: str | None = None

    @field_validator("language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        return _check_language(v)


class QuickIn(BaseModel):
    kind: Literal["silent", "nuisance", "wrong_number"]


class ContactOut(BaseModel):
    id: int
    call_id: int
    switchboard: str
    author_user_id: int | None
    created_at: datetime
    updated_at: datetime
    caller_category: str
    contact_type: str
    trafficking_related: bool | None
    trafficking_forms: list[str]
    relationship: str | None
    age_group: str | None
    sex: str | None
    province: str | None
    language: str | None
    notes: str | None
    consent: str | None
    case_id: int | None


class OverdueOut(BaseModel):
    call_id: int
    switchboard: str
    counsellor_user_id: int | None
    answered_at: datetime | None
    ended_at: datetime | None
    due_at: datetime


def _contact_out(r: ContactRecord, keyring: Keyring) -> ContactOut:
    return ContactOut(
        id=r.id,
        call_id=r.call_id,
        switchboard=r.switchboard_code,
        author_user_id=r.author_user_id,
        created_at=r.created_at,
        updated_at=r.updated_at,
        caller_category=r.caller_category,
        contact_type=r.contact_type,
        trafficking_related=r.trafficking_related,
        trafficking_forms=list(r.trafficking_forms or []),
        relationship=r.relationship,
        age_group=r.age_group,
        sex=r.sex,
        province=r.province_code,
        language=r.language,
        notes=keyring.decrypt_optional(r.notes_enc, NOTES_CONTEXT),
        consent=r.consent,
        case_id=r.case_id,
    )


async def _call(session: AsyncSession, p: Principal, call_id: int) -> Call:
    call = await session.get(Call, call_id)
    if call is None or not calls_scope.may_read(p, call):
        raise NotFound(f"no call {call_id} that you may see")
    return call


async def _check_contact_codes(
    session: AsyncSession, data: dict[str, Any], current: ContactRecord | None = None
) -> None:
    def cur(name: str) -> list[str]:
        if current is None:
            return []
        v = getattr(current, name)
        return list(v) if isinstance(v, list) else ([v] if v else [])

    for field, list_name in (
        ("caller_category", "caller_category"),
        ("contact_type", "contact_type"),
        ("trafficking_forms", "trafficking_form"),
        ("relationship", "relationship"),
        ("age_group", "age_group"),
        ("sex", "sex"),
        ("consent", "consent"),
    ):
        if field in data:
            await codes.check(session, field, list_name, data[field], current=cur(field))
    if data.get("province") is not None and await session.get(Province, data["province"]) is None:
        raise Unprocessable(
            f"province: {data['province']!r} is not one of the 34 province codes", field="province"
        )


def _check_trafficking(contact_type: str, related: bool | None, forms: list[str]) -> bool | None:
    if contact_type in service.QUICK_TYPES:
        if related:
            raise Unprocessable(
                "a silent, nuisance or wrong-number call is not trafficking-related",
                field="trafficking_related",
            )
        return False
    if related is None:
        raise Unprocessable(
            "trafficking_related is required: was the call about trafficking (true or false)?",
            field="trafficking_related",
        )
    if forms and not related:
        raise Unprocessable(
            "trafficking_forms are given for a call that is not trafficking-related",
            field="trafficking_forms",
        )
    return related


@router.post(
    "/calls/{call_id}/contact",
    response_model=ContactOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Write the contact record (wrap-up) of a call",
)
async def create_contact(
    call_id: int, body: ContactIn, p: CaseWorker, request: Request, session: SessionDep
) -> ContactOut:
    keyring = _keyring(request)
    call = await _call(session, p, call_id)
    if await session.scalar(select(ContactRecord.id).where(ContactRecord.call_id == call_id)) is not None:
        raise Conflict(f"call {call_id} already has its contact record: change it with PATCH")
    data = body.model_dump()
    await _check_contact_codes(session, data)
    related = _check_trafficking(body.contact_type, body.trafficking_related, body.trafficking_forms)
    case = await access.case_for(session, p, body.case_id, change=True) if body.case_id is not None else None
    now = datetime.now(UTC)
    record = ContactRecord(
        call_id=call.id,
        switchboard_code=call.answered_switchboard or call.switchboard_code,
        author_user_id=p.user_id,
        created_at=now,
        updated_at=now,
        updated_by=p.user_id,
        caller_category=body.caller_category,
        contact_type=body.contact_type,
        trafficking_related=related,
        trafficking_forms=body.trafficking_forms,
        relationship=body.relationship,
        age_group=body.age_group,
        sex=body.sex,
        province_code=body.province,
        language=body.language,
        notes_enc=keyring.encrypt_optional(body.notes, NOTES_CONTEXT),
        consent=body.consent,
    )
    session.add(record)
    await session.flush()
    if case is not None:
        await service.link_contact(session, case, record, p.user_id)
    await access.audit_case(
        session,
        p,
        request,
        "create",
        "contact_record",
        record.id,
        {"call_id": call.id, "case_id": body.case_id},
    )
    return _contact_out(record, keyring)


@router.post(
    "/calls/{call_id}/contact/quick",
    response_model=ContactOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="One click for a silent, nuisance or wrong-number call",
)
async def quick_contact(
    call_id: int, body: QuickIn, p: CaseWorker, request: Request, session: SessionDep
) -> ContactOut:
    full = ContactIn(caller_category="unknown", contact_type=body.kind, trafficking_related=False)
    return await create_contact(call_id, full, p, request, session)


async def _record_of(
    session: AsyncSession, p: Principal, call_id: int, *, for_update: bool = False
) -> ContactRecord:
    await _call(session, p, call_id)
    record = await session.scalar(
        select(ContactRecord).where(ContactRecord.call_id == call_id).with_for_update(of=ContactRecord)
        if for_update
        else select(ContactRecord).where(ContactRecord.call_id == call_id)
    )
    if record is None:
        raise NotFound(f"call {call_id} has no contact record yet")
    return record


@router.get(
    "/calls/{call_id}/contact",
    response_model=ContactOut,
    responses=error_responses(401, 403, 404),
    summary="A call's contact record",
)
async def read_contact(call_id: int, p: CaseWorker, request: Request, session: SessionDep) -> ContactOut:
    record = await _record_of(session, p, call_id)
    await access.audit_case(session, p, request, "read", "contact_record", record.id)
    return _contact_out(record, _keyring(request))


@router.patch(
    "/calls/{call_id}/contact",
    response_model=ContactOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Change a contact record (its author, or a supervisor)",
)
async def change_contact(
    call_id: int, body: ContactPatch, p: CaseWorker, request: Request, session: SessionDep
) -> ContactOut:
    keyring = _keyring(request)
    record = await _record_of(session, p, call_id, for_update=True)
    supervising = p.has("national_supervisor") or (
        p.has("supervisor") and record.switchboard_code == p.home_switchboard
    )
    if record.author_user_id != p.user_id and not supervising:
        raise Forbidden("only the record's author or a supervisor of its switchboard may change it")
    data = body.model_dump(exclude_unset=True)
    if not data:
        raise Unprocessable("nothing to change", field="body")
    for field in ("caller_category", "contact_type"):  # a contact record always has them
        if field in data and data[field] is None:
            raise Unprocessable(f"{field} cannot be null", field=field)
    await _check_contact_codes(session, data, record)
    contact_type = data.get("contact_type", record.contact_type)
    related = data.get("trafficking_related", record.trafficking_related)
    forms = data.get("trafficking_forms", record.trafficking_forms) or []
    record.trafficking_related = _check_trafficking(contact_type, related, list(forms))
    for field, value in data.items():
        if field == "notes":
            record.notes_enc = keyring.encrypt_optional(value, NOTES_CONTEXT)
        elif field == "province":
            record.province_code = value
        elif field != "trafficking_related":
            setattr(record, field, value if field != "trafficking_forms" else (value or []))
    record.updated_at = datetime.now(UTC)
    record.updated_by = p.user_id
    if record.case_id is not None and "consent" in data:
        case = await session.get(Case, record.case_id)
        if case is not None:
            await service.add_event(
                session,
                case,
                p.user_id,
                "consent",
                {"contact_record_id": record.id, "consent": data["consent"]},
            )
    await access.audit_case(
        session, p, request, "update", "contact_record", record.id, {"fields": sorted(data)}
    )
    return _contact_out(record, keyring)


async def _overdue(session: AsyncSession, where: Any, pending: bool = False) -> list[OverdueOut]:
    """Calls answered by a counsellor, ended, whose wrap-up time has passed with no contact record
    (pending: also those whose wrap-up time is still running)."""
    now = datetime.now(UTC)
    board = Call.answered_switchboard
    rows = (
        await session.execute(
            select(Call, RoutingSettings.wrap_up_seconds)
            .join(
                RoutingSettings,
                RoutingSettings.switchboard_code == func.coalesce(board, Call.switchboard_code),
            )
            .where(
                Call.answered_at.is_not(None),
                Call.counsellor_user_id.is_not(None),
                Call.ended_at.is_not(None),
                ~exists().where(ContactRecord.call_id == Call.id),
                where,
            )
            .order_by(Call.ended_at)
            .limit(500)
        )
    ).all()
    out = []
    for call, wrap_up in rows:
        if call.ended_at is None:
            continue
        due = call.ended_at + timedelta(seconds=wrap_up)
        if due <= now or pending:
            out.append(
                OverdueOut(
                    call_id=call.id,
                    switchboard=call.answered_switchboard or call.switchboard_code,
                    counsellor_user_id=call.counsellor_user_id,
                    answered_at=call.answered_at,
                    ended_at=call.ended_at,
                    due_at=due,
                )
            )
    return out


@router.get(
    "/me/overdue-contacts",
    response_model=list[OverdueOut],
    responses=error_responses(401, 403),
    summary="My answered calls whose contact record is overdue (pending=true: or still due)",
)
async def my_overdue(p: CaseWorker, session: SessionDep, pending: bool = False) -> list[OverdueOut]:
    return await _overdue(session, Call.counsellor_user_id == p.user_id, pending)


@router.get(
    "/contacts/overdue",
    response_model=list[OverdueOut],
    responses=error_responses(401, 403),
    summary="Overdue contact records of my switchboard (supervisors; national: all)",
)
async def overdue(p: Supervisor, session: SessionDep, switchboard: str | None = None) -> list[OverdueOut]:
    if p.has("national_supervisor"):
        where = (
            func.coalesce(Call.answered_switchboard, Call.switchboard_code) == switchboard
            if switchboard
            else true()
        )
    else:
        where = func.coalesce(Call.answered_switchboard, Call.switchboard_code) == p.home_switchboard
    return await _overdue(session, where)


class RecordingOut(BaseModel):
    call_id: int
    recording: str = Field(description="the recording's name on the switchboard (RecordingFinished)")


@router.get(
    "/calls/{call_id}/recording",
    response_model=RecordingOut,
    responses=error_responses(401, 403, 404),
    summary="A call's recording reference: for those who may see its case (or its number); audited",
)
async def recording(call_id: int, p: CaseWorker, request: Request, session: SessionDep) -> RecordingOut:
    call = await _call(session, p, call_id)
    if call.recording_enc is None:
        raise NotFound(f"call {call_id} has no recording")
    case_id = await session.scalar(select(ContactRecord.case_id).where(ContactRecord.call_id == call_id))
    case = await session.get(Case, case_id) if case_id is not None else None
    # the case decides; a call without a case, whoever may see its number
    allowed = access.may_see_numbers(p, case) if case is not None else calls_scope.may_see_number(p, call)
    if not allowed:
        raise Forbidden("the recording is for the case's counsellor and the supervisors of its switchboard")
    await access.audit_case(session, p, request, "view_recording", "call", call_id, {"case_id": case_id})
    return RecordingOut(
        call_id=call_id, recording=_keyring(request).decrypt(call.recording_enc, "calls.recording")
    )


# ---- cases ---------------------------------------------------------------------------------------


class CaseOpenIn(BaseModel):
    contact_record_id: int = Field(description="the contact record the case starts from")
    summary: str | None = Field(default=None, max_length=5_000)


class LinkIn(BaseModel):
    contact_record_id: int


class StatusIn(BaseModel):
    status: Literal["open", "follow_up", "closed"]
    reason: str | None = Field(default=None, max_length=2_000)


class AssignIn(BaseModel):
    user_id: int


class PersonIn(BaseModel):
    role: str = "victim"
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    age_group: str | None = None
    sex: str | None = None
    nationality: str | None = Field(default=None, description="ISO 3166-1 alpha-2, e.g. VN")
    ethnicity: str | None = Field(default=None, max_length=48)
    trafficking_forms: list[str] = Field(default_factory=list, max_length=10)
    destination_country: str | None = Field(default=None, description="ISO 3166-1 alpha-2, e.g. CN, KH, MM")
    risk_level: str | None = None

    @field_validator("nationality", "destination_country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if v.upper() not in COUNTRIES:
            raise ValueError("must be an ISO 3166-1 alpha-2 country code such as VN, CN, KH")
        return v.upper()


class PersonPatch(PersonIn):
    role: str | None = None  # type: ignore[assignment]
    trafficking_forms: list[str] | None = Field(default=None, max_length=10)  # type: ignore[assignment]


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)


class SearchIn(BaseModel):
    reference: str | None = Field(default=None, max_length=24)
    phone: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, max_length=200)


class PersonOut(BaseModel):
    id: int
    role: str
    name: str | None
    phone: str | None
    phone_shown: bool
    age_group: str | None
    sex: str | None
    nationality: str | None
    ethnicity: str | None
    trafficking_forms: list[str]
    destination_country: str | None
    risk_level: str | None


class TimelineOut(BaseModel):
    at: datetime
    kind: str
    actor_user_id: int | None
    details: dict[str, Any]
    text: str | None = None


class CaseSummary(BaseModel):
    id: int
    reference: str
    switchboard: str
    region: str
    status: str
    opened_at: datetime
    status_changed_at: datetime
    assigned_user_id: int | None
    updated_at: datetime


class CaseOut(CaseSummary):
    opened_by: int | None
    status_changed_by: int | None
    closed_at: datetime | None
    summary: str | None
    persons: list[PersonOut]
    contact_records: list[ContactOut]
    timeline: list[TimelineOut]


def _summary(c: Case) -> CaseSummary:
    return CaseSummary(
        id=c.id,
        reference=c.reference,
        switchboard=c.switchboard_code,
        region=c.region,
        status=c.status,
        opened_at=c.opened_at,
        status_changed_at=c.status_changed_at,
        assigned_user_id=c.assigned_user_id,
        updated_at=c.updated_at,
    )


async def _case_out(session: AsyncSession, p: Principal, case: Case, keyring: Keyring) -> CaseOut:
    numbers = access.may_see_numbers(p, case)
    persons = (
        await session.scalars(select(CasePerson).where(CasePerson.case_id == case.id).order_by(CasePerson.id))
    ).all()
    records = (
        await session.scalars(
            select(ContactRecord).where(ContactRecord.case_id == case.id).order_by(ContactRecord.created_at)
        )
    ).all()
    events = (await session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))).all()
    notes = (await session.scalars(select(CaseNote).where(CaseNote.case_id == case.id))).all()
    timeline = [
        TimelineOut(at=e.at, kind=e.kind, actor_user_id=e.actor_user_id, details=e.details) for e in events
    ]
    timeline += [
        TimelineOut(
            at=n.at,
            kind="note",
            actor_user_id=n.author_user_id,
            details={"note_id": n.id},
            text=keyring.decrypt(n.note_enc, "case_notes.note"),
        )
        for n in notes
    ]
    calls = (await session.scalars(select(Call).where(Call.id.in_([r.call_id for r in records])))).all()
    timeline += [
        TimelineOut(
            at=c.started_at or c.last_event_at or case.opened_at,
            kind="call",
            actor_user_id=c.counsellor_user_id,
            details={"call_id": c.id, "outcome": c.outcome, "switchboard": c.switchboard_code},
        )
        for c in calls
    ]
    timeline.sort(key=lambda t: t.at)
    base = _summary(case).model_dump()
    return CaseOut(
        **base,
        opened_by=case.opened_by,
        status_changed_by=case.status_changed_by,
        closed_at=case.closed_at,
        summary=keyring.decrypt_optional(case.summary_enc, "cases.summary"),
        persons=[
            PersonOut(
                id=x.id,
                role=x.role,
                name=keyring.decrypt_optional(x.name_enc, "case_persons.name"),
                phone=keyring.decrypt_optional(x.phone_enc, "case_persons.phone") if numbers else None,
                phone_shown=numbers and x.phone_enc is not None,
                age_group=x.age_group,
                sex=x.sex,
                nationality=x.nationality,
                ethnicity=x.ethnicity,
                trafficking_forms=list(x.trafficking_forms or []),
                destination_country=x.destination_country,
                risk_level=x.risk_level,
            )
            for x in persons
        ],
        contact_records=[_contact_out(r, keyring) for r in records],
        timeline=timeline,
    )


async def _contact_for_case(
    session: AsyncSession, p: Principal, record_id: int
) -> tuple[ContactRecord, Call]:
    record = await session.get(ContactRecord, record_id, with_for_update=True)
    call = await session.get(Call, record.call_id) if record else None
    if record is None or call is None or not calls_scope.may_read(p, call):
        raise NotFound(f"no contact record {record_id} that you may see")
    return record, call


@router.post(
    "/cases",
    response_model=CaseOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Open a case from a contact record",
)
async def open_case(body: CaseOpenIn, p: CaseWorker, request: Request, session: SessionDep) -> CaseOut:
    keyring = _keyring(request)
    record, call = await _contact_for_case(session, p, body.contact_record_id)
    case = await service.open_case(
        session, record, call, p.user_id, keyring.encrypt_optional(body.summary, "cases.summary")
    )
    await access.audit_case(session, p, request, "create", "case", case.id, {"contact_record_id": record.id})
    await session.flush()
    return await _case_out(session, p, case, keyring)


@router.get(
    "/cases/{case_id}",
    response_model=CaseOut,
    responses=error_responses(401, 403, 404),
    summary="A case, with its timeline",
)
async def read_case(case_id: int, p: CaseWorker, request: Request, session: SessionDep) -> CaseOut:
    case = await access.case_for(session, p, case_id)
    await access.audit_case(
        session, p, request, "read", "case", case.id, {"numbers_shown": access.may_see_numbers(p, case)}
    )
    return await _case_out(session, p, case, _keyring(request))


@router.post(
    "/cases/{case_id}/contacts",
    response_model=CaseOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Link a contact record (a call) to the case",
)
async def link(case_id: int, body: LinkIn, p: CaseWorker, request: Request, session: SessionDep) -> CaseOut:
    case = await access.case_for(session, p, case_id, for_update=True, change=True)
    record, _ = await _contact_for_case(session, p, body.contact_record_id)
    await service.link_contact(session, case, record, p.user_id)
    await access.audit_case(
        session, p, request, "update", "case", case.id, {"linked_contact_record_id": record.id}
    )
    await session.flush()
    return await _case_out(session, p, case, _keyring(request))


@router.post(
    "/cases/{case_id}/status",
    response_model=CaseOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Move the case: open, follow_up, closed (reopening: supervisors)",
)
async def change_status(
    case_id: int, body: StatusIn, p: CaseWorker, request: Request, session: SessionDep
) -> CaseOut:
    keyring = _keyring(request)
    case = await access.case_for(session, p, case_id, for_update=True, change=True)
    allowed = service.STATUS_MOVES.get(case.status, ())
    if body.status not in allowed:
        raise Conflict(
            f"a case cannot go from {case.status} to {body.status}; from {case.status} it may go to {', '.join(allowed) or 'nothing'}"
        )
    if case.status == "closed" and not access.may_assign(p, case):
        raise Forbidden("reopening a closed case is for a supervisor of its switchboard")
    now = datetime.now(UTC)
    previous, case.status = case.status, body.status
    case.status_changed_at, case.status_changed_by = now, p.user_id
    case.closed_at = now if body.status == "closed" else None
    await service.add_event(session, case, p.user_id, "status", {"from": previous, "to": body.status})
    if body.reason:
        session.add(
            CaseNote(
                case_id=case.id,
                at=now,
                author_user_id=p.user_id,
                note_enc=keyring.encrypt(body.reason, "case_notes.note"),
            )
        )
    await access.audit_case(
        session, p, request, "update", "case", case.id, {"status": [previous, body.status]}
    )
    await session.flush()
    return await _case_out(session, p, case, keyring)


@router.put(
    "/cases/{case_id}/assignee",
    response_model=CaseOut,
    responses=error_responses(401, 403, 404, 422),
    summary="Assign the case to a counsellor (supervisors)",
)
async def assign(
    case_id: int, body: AssignIn, p: Supervisor, request: Request, session: SessionDep
) -> CaseOut:
    case = await access.case_for(session, p, case_id, for_update=True)
    if not access.may_assign(p, case):
        raise Forbidden("only a supervisor of the case's switchboard may assign it")
    holds_role = await session.scalar(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.id == body.user_id, User.is_active, UserRole.role.in_(["counsellor", "supervisor"]))
        .limit(1)
    )
    if holds_role is None:
        raise Unprocessable(f"user {body.user_id} is not an active counsellor or supervisor", field="user_id")
    previous, case.assigned_user_id = case.assigned_user_id, body.user_id
    await service.add_event(session, case, p.user_id, "assigned", {"from": previous, "to": body.user_id})
    await access.audit_case(
        session, p, request, "update", "case", case.id, {"assigned": [previous, body.user_id]}
    )
    await session.flush()
    return await _case_out(session, p, case, _keyring(request))


async def _check_person(
    session: AsyncSession, data: dict[str, Any], current: CasePerson | None = None
) -> None:
    def cur(name: str) -> list[str]:
        v = getattr(current, name, None) if current is not None else None
        return list(v) if isinstance(v, list) else ([v] if v else [])

    for field, list_name in (
        ("role", "person_role"),
        ("age_group", "age_group"),
        ("sex", "sex"),
        ("trafficking_forms", "trafficking_form"),
        ("risk_level", "risk_level"),
    ):
        if field in data:
            await codes.check(session, field, list_name, data[field], current=cur(field))


def _apply_person(person: CasePerson, data: dict[str, Any], keyring: Keyring) -> None:
    for field, value in data.items():
        if field == "name":
            person.name_enc = keyring.encrypt_optional(value, "case_persons.name")
            person.name_hashes = service.name_hashes(keyring, value) if value else []
        elif field == "phone":
            person.phone_enc = keyring.encrypt_optional(value, "case_persons.phone")
            person.phone_hash = service.phone_hash(keyring, value) if value else None
        else:
            setattr(person, field, value if field != "trafficking_forms" else (value or []))
    person.updated_at = datetime.now(UTC)


@router.post(
    "/cases/{case_id}/persons",
    response_model=CaseOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
    summary="Add a person concerned (the victim's profile, or another person)",
)
async def add_person(
    case_id: int, body: PersonIn, p: CaseWorker, request: Request, session: SessionDep
) -> CaseOut:
    keyring = _keyring(request)
    case = await access.case_for(session, p, case_id, for_update=True, change=True)
    data = body.model_dump()
    if data.get("phone") and service.phone_hash(keyring, data["phone"]) is None:
        raise Unprocessable("phone is not a phone number", field="phone")
    await _check_person(session, data)
    person = CasePerson(case_id=case.id)
    _apply_person(person, data, keyring)
    session.add(person)
    await session.flush()
    await service.add_event(
        session, case, p.user_id, "person_added", {"person_id": person.id, "role": body.role}
    )
    await access.audit_case(session, p, request, "update", "case", case.id, {"person_added": person.id})
    await session.flush()
    return await _case_out(session, p, case, keyring)


@router.patch(
    "/cases/{case_id}/persons/{person_id}",
    response_model=CaseOut,
    responses=error_responses(401, 403, 404, 422),
    summary="Change a person's profile",
)
async def change_person(
    case_id: int, person_id: int, body: PersonPatch, p: CaseWorker, request: Request, session: SessionDep
) -> CaseOut:
    keyring = _keyring(request)
    case = await access.case_for(session, p, case_id, for_update=True, change=True)
    person = await session.get(CasePerson, person_id, with_for_update=True)
    if person is None or person.case_id != case.id:
        raise NotFound(f"case {case_id} has no person {person_id}")
    data = body.model_dump(exclude_unset=True)
    if not data:
        raise Unprocessable("nothing to change", field="body")
    if "role" in data and data["role"] is None:  # a person always has one
        raise Unprocessable("role cannot be null", field="role")
    if data.get("phone") and service.phone_hash(keyring, data["phone"]) is None:
        raise Unprocessable("phone is not a phone number", field="phone")
    await _check_person(session, data, person)
    _apply_person(person, data, keyring)
    await service.add_event(
        session, case, p.user_id, "person_changed", {"person_id": person.id, "fields": sorted(data)}
    )
    await access.audit_case(
        session, p, request, "update", "case", case.id, {"person_changed": person.id, "fields": sorted(data)}
    )
    await session.flush()
    return await _case_out(session, p, case, keyring)


@router.post(
    "/cases/{case_id}/notes",
    response_model=CaseOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
    summary="Add a note to the case",
)
async def add_note(
    case_id: int, body: NoteIn, p: CaseWorker, request: Request, session: SessionDep
) -> CaseOut:
    keyring = _keyring(request)
    case = await access.case_for(session, p, case_id, for_update=True, change=True)
    now = datetime.now(UTC)
    note = CaseNote(
        case_id=case.id,
        at=now,
        author_user_id=p.user_id,
        note_enc=keyring.encrypt(body.text, "case_notes.note"),
    )
    session.add(note)
    case.updated_at = now
    await session.flush()
    await access.audit_case(session, p, request, "update", "case", case.id, {"note_added": note.id})
    return await _case_out(session, p, case, keyring)


@router.post(
    "/cases/search",
    response_model=list[CaseSummary],
    responses=error_responses(401, 403, 422),
    summary="Find cases by reference, phone number or name (POST: no personal data in the URL)",
)
async def search(body: SearchIn, p: CaseWorker, request: Request, session: SessionDep) -> list[CaseSummary]:
    keyring = _keyring(request)
    conds = []
    if body.reference:
        conds.append(Case.reference == body.reference.strip())
    if body.phone:
        h = service.phone_hash(keyring, body.phone)
        if h is None:
            raise Unprocessable("phone is not a phone number", field="phone")
        conds.append(
            or_(
                Case.caller_hash == h,
                exists().where(CasePerson.case_id == Case.id, CasePerson.phone_hash == h),
                exists().where(
                    ContactRecord.case_id == Case.id, Call.id == ContactRecord.call_id, Call.caller_hash == h
                ),
            )
        )
    if body.name:
        hashes = service.name_hashes(keyring, body.name)
        if not hashes:
            raise Unprocessable("name has no letters to search for", field="name")
        # every token given must be in one person's name
        conds.append(exists().where(CasePerson.case_id == Case.id, CasePerson.name_hashes.contains(hashes)))
    if not conds:
        raise Unprocessable("give a reference, a phone number or a name", field="body")
    rows = (
        await session.scalars(
            select(Case)
            .where(and_(*conds), access.scope_filter(p))
            .order_by(Case.updated_at.desc())
            .limit(100)
        )
    ).all()
    by = [k for k in ("reference", "phone", "name") if getattr(body, k)]
    await access.audit_case(
        session, p, request, "search", "case", "-", {"by": by, "found": [c.id for c in rows]}
    )
    return [_summary(c) for c in rows]


@router.get(
    "/me/cases",
    response_model=list[CaseSummary],
    responses=error_responses(401, 403),
    summary="My open cases (assigned to me)",
)
async def my_cases(p: CaseWorker, session: SessionDep) -> list[CaseSummary]:
    rows = (
        await session.scalars(
            select(Case)
            .where(Case.assigned_user_id == p.user_id, Case.status != "closed")
            .order_by(Case.updated_at.desc())
        )
    ).all()
    return [_summary(c) for c in rows]


class CaseList(BaseModel):
    cases: list[CaseSummary]
    total: int


@router.get(
    "/cases",
    response_model=CaseList,
    responses=error_responses(401, 403, 422),
    summary="Cases for review, newest change first: references and states only (no personal data); audited",
)
async def list_cases(
    p: CaseWorker,
    request: Request,
    session: SessionDep,
    status: Annotated[
        Literal["active", "open", "follow_up", "closed", "all"],
        Query(description="active (the default): open and follow-up"),
    ] = "active",
    switchboard: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = None,
    assigned_user_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    unassigned: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CaseList:
    conds: list[Any] = [access.scope_filter(p)]
    if status == "active":
        conds.append(Case.status != "closed")
    elif status != "all":
        conds.append(Case.status == status)
    if switchboard:
        conds.append(Case.switchboard_code == switchboard)
    if assigned_user_id is not None:
        conds.append(Case.assigned_user_id == assigned_user_id)
    if unassigned:
        conds.append(Case.assigned_user_id.is_(None))
    where = and_(*conds)
    total = await session.scalar(select(func.count()).select_from(Case).where(where)) or 0
    rows = (
        await session.scalars(
            select(Case)
            .where(where)
            .order_by(Case.updated_at.desc(), Case.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    await access.audit_case(
        session, p, request, "list", "case", "-", {"status": status, "found": [c.id for c in rows]}
    )
    return CaseList(cases=[_summary(c) for c in rows], total=total)


# ---- the caller's history (for the counsellor who takes the call) ---------------------------------


class HistoryCall(BaseModel):
    id: int
    switchboard: str
    started_at: datetime | None
    answered_at: datetime | None
    talk_seconds: float | None
    outcome: str
    contact_type: str | None
    trafficking_related: bool | None
    case_id: int | None


class CallerHistory(BaseModel):
    call_id: int
    known_number: bool = Field(description="false: the caller withheld the number; nothing to match")
    calls: list[HistoryCall] = Field(
        description="earlier calls of the same number, newest first (20 at most)"
    )
    open_cases: list[CaseSummary] = Field(description="open cases of the same number")


@router.get(
    "/calls/{call_id}/history",
    response_model=CallerHistory,
    responses=error_responses(401, 403, 404),
    summary="Earlier calls and open cases of the same number, without the number itself; audited",
)
async def caller_history(call_id: int, p: CaseWorker, request: Request, session: SessionDep) -> CallerHistory:
    call = await _call(session, p, call_id)
    h = call.caller_hash
    calls: list[HistoryCall] = []
    cases: list[CaseSummary] = []
    if h is not None:
        stmt = (
            select(Call, ContactRecord.contact_type, ContactRecord.trafficking_related, ContactRecord.case_id)
            .outerjoin(ContactRecord, ContactRecord.call_id == Call.id)
            .where(Call.caller_hash == h, Call.id != call.id)
            .order_by(Call.started_at.desc().nulls_last(), Call.id.desc())
            .limit(20)
        )
        scope = calls_scope.scope_filter(p)
        if scope is not None:
            stmt = stmt.where(scope)
        for c, contact_type, related, case_id in (await session.execute(stmt)).all():
            calls.append(
                HistoryCall(
                    id=c.id,
                    switchboard=c.switchboard_code,
                    started_at=c.started_at,
                    answered_at=c.answered_at,
                    talk_seconds=c.talk_seconds,
                    outcome=c.outcome,
                    contact_type=contact_type,
                    trafficking_related=related,
                    case_id=case_id,
                )
            )
        found = (
            await session.scalars(
                select(Case)
                .where(
                    Case.status != "closed",
                    or_(
                        Case.caller_hash == h,
                        exists().where(CasePerson.case_id == Case.id, CasePerson.phone_hash == h),
                        exists().where(
                            ContactRecord.case_id == Case.id,
                            Call.id == ContactRecord.call_id,
                            Call.caller_hash == h,
                        ),
                    ),
                    access.scope_filter(p),
                )
                .order_by(Case.updated_at.desc())
                .limit(20)
            )
        ).all()
        cases = [_summary(c) for c in found]
    await access.audit_case(
        session,
        p,
        request,
        "read",
        "caller_history",
        call.id,
        {"calls": [c.id for c in calls], "cases": [c.id for c in cases]},
    )
    return CallerHistory(call_id=call.id, known_number=h is not None, calls=calls, open_cases=cases)


__all__ = ["router"]
