"""Reading call records: scoped by role and switchboard (PRODUCT.md §4), raw numbers audited."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func, or_, select

from hotline_api.audit import service as audit
from hotline_api.auth.deps import actor_of, require_roles
from hotline_api.auth.service import Principal
from hotline_api.calls.models import OUTCOMES, Call, CallLeg, CallOffer
from hotline_api.db.session import SessionDep
from hotline_api.errors import NotFound, Unprocessable, error_responses
from hotline_api.privacy.crypto import Keyring
from hotline_api.privacy.normalise import normalise_phone
from hotline_api.routing.models import RoutingDecision
from hotline_api.telephony.models import WebhookEvent

router = APIRouter(prefix="/api/v1/calls", tags=["calls"])
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CallReader = Annotated[Principal, Depends(require_roles("counsellor", "supervisor", "national_supervisor"))]


class CallOut(BaseModel):
    id: int
    switchboard: str
    linkedid: str
    dialled_number: str | None
    caller_number: str | None
    caller_number_shown: bool
    caller_province: str | None
    caller_region: str | None
    started_at: datetime | None
    wait_started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: float | None
    talk_seconds: float | None
    outcome: str
    hangup_cause: int | None
    counsellor_user_id: int | None
    counsellor_extension: str | None
    answered_switchboard: str | None
    closed_by_sweeper: bool
    has_recording: bool


class CallPage(BaseModel):
    calls: list[CallOut]
    next_before_id: int | None


class TimelineEntry(BaseModel):
    source: str
    event_type: str
    at: datetime | None
    received_at: datetime
    channel: str | None
    switchboard: str


class OfferOut(BaseModel):
    switchboard: str
    extension: str
    user_id: int | None
    offered_at: datetime
    result: str


class LegOut(BaseModel):
    switchboard: str
    linkedid: str


class DecisionOut(BaseModel):
    at: datetime
    switchboard: str
    attempt: int | None
    action: str
    target: str | None
    reason: str
    region: str | None
    region_reason: str | None
    target_switchboard: str | None
    priority: int | None
    position: int | None
    counsellor_user_id: int | None


class CallDetail(CallOut):
    missed_offers: list[OfferOut]
    legs: list[LegOut]
    timeline: list[TimelineEntry]
    routing: list[DecisionOut]


def scope_filter(p: Principal) -> ColumnElement[bool] | None:
    """None: everything (national supervisors). Otherwise the calls of the user's switchboard."""
    if p.has("national_supervisor"):
        return None
    own = or_(Call.switchboard_code == p.home_switchboard, Call.answered_switchboard == p.home_switchboard)
    return or_(own, Call.counsellor_user_id == p.user_id)


def may_read(p: Principal, call: Call) -> bool:
    """scope_filter's rule for one call already loaded."""
    if p.has("national_supervisor"):
        return True
    if p.home_switchboard in (call.switchboard_code, call.answered_switchboard):
        return True
    return call.counsellor_user_id == p.user_id


def may_see_number(p: Principal, call: Call) -> bool:
    if p.has("national_supervisor"):
        return True
    if p.has("supervisor") and p.home_switchboard in (call.switchboard_code, call.answered_switchboard):
        return True
    return call.counsellor_user_id == p.user_id


def _out(call: Call, number: str | None) -> CallOut:
    return CallOut(
        id=call.id,
        switchboard=call.switchboard_code,
        linkedid=call.linkedid,
        dialled_number=call.dialled_number,
        caller_number=number,
        caller_number_shown=number is not None,
        caller_province=call.caller_province,
        caller_region=call.caller_region,
        started_at=call.started_at,
        wait_started_at=call.wait_started_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at or call.sweeper_end_at,
        wait_seconds=call.wait_seconds,
        talk_seconds=call.talk_seconds,
        outcome=call.outcome,
        hangup_cause=call.hangup_cause,
        counsellor_user_id=call.counsellor_user_id,
        counsellor_extension=call.counsellor_extension,
        answered_switchboard=call.answered_switchboard,
        closed_by_sweeper=call.ended_at is None and call.sweeper_end_at is not None,
        has_recording=call.recording_enc is not None,
    )


def _number(keyring: Keyring, p: Principal, call: Call) -> str | None:
    if call.caller_number_enc is None or not may_see_number(p, call):
        return None
    return keyring.decrypt(call.caller_number_enc, "calls.caller_number")


async def _list_calls(
    reader: CallReader,
    request: Request,
    session: SessionDep,
    date_from: Annotated[date | None, Query(description="first local day (Asia/Ho_Chi_Minh)")] = None,
    date_to: Annotated[date | None, Query(description="last local day, inclusive")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    switchboard: str | None = None,
    region: Literal["north", "central", "south"] | None = None,
    outcome: str | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    number: str | None = None,
) -> CallPage:
    """Filters in the query string; a caller's number never travels in a URL: POST …/calls/search."""
    keyring: Keyring = request.app.state.keyring
    conds: list[ColumnElement[bool]] = []
    scope = scope_filter(reader)
    if scope is not None:
        conds.append(scope)
    if date_from:
        conds.append(Call.started_at >= datetime.combine(date_from, time(), LOCAL_TZ))
    if date_to:
        conds.append(Call.started_at < datetime.combine(date_to + timedelta(days=1), time(), LOCAL_TZ))
    if since:
        conds.append(Call.started_at >= since)
    if until:
        conds.append(Call.started_at < until)
    if switchboard:
        conds.append(Call.switchboard_code == switchboard)
    if region:
        conds.append(Call.caller_region == region)
    if outcome:
        if outcome not in OUTCOMES:
            raise Unprocessable(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
        conds.append(Call.outcome == outcome)
    if number:
        normal = normalise_phone(number)
        if normal is None:
            raise Unprocessable("number is not a phone number", field="number")
        conds.append(Call.caller_hash == keyring.keyed_hash(normal, "phone"))
    if before_id is not None:
        conds.append(Call.id < before_id)
    stmt = select(Call).where(*conds).order_by(Call.id.desc()).limit(limit)
    calls = (await session.scalars(stmt)).all()
    out = [_out(c, _number(keyring, reader, c)) for c in calls]
    shown = [c.id for c in out if c.caller_number_shown]
    actor = actor_of(reader, request)
    if number:
        await audit.record(session, actor, "search_by_number", "call", None, {"results": len(out)})
    if shown:
        await audit.record(session, actor, "view_number", "call", None, {"call_ids": shown})
    return CallPage(calls=out, next_before_id=calls[-1].id if len(calls) == limit else None)


@router.get(
    "",
    response_model=CallPage,
    responses=error_responses(401, 403, 422),
    summary="Calls, newest first, within the reader's scope",
)
async def list_calls(
    reader: CallReader,
    request: Request,
    session: SessionDep,
    date_from: Annotated[date | None, Query(description="first local day (Asia/Ho_Chi_Minh)")] = None,
    date_to: Annotated[date | None, Query(description="last local day, inclusive")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    switchboard: str | None = None,
    region: Literal["north", "central", "south"] | None = None,
    outcome: str | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CallPage:
    return await _list_calls(
        reader,
        request,
        session,
        date_from,
        date_to,
        since,
        until,
        switchboard,
        region,
        outcome,
        before_id,
        limit,
    )


class CallSearch(BaseModel):
    number: str = Field(min_length=1, max_length=40, description="a caller's number, any common form")
    date_from: date | None = None
    date_to: date | None = None
    before_id: int | None = None
    limit: int = Field(default=50, ge=1, le=500)


@router.post(
    "/search",
    response_model=CallPage,
    responses=error_responses(401, 403, 422),
    summary="A caller's calls, by their number (matched by keyed hash; POST: no number in any URL)",
)
async def search_calls(
    body: CallSearch, reader: CallReader, request: Request, session: SessionDep
) -> CallPage:
    return await _list_calls(
        reader,
        request,
        session,
        body.date_from,
        body.date_to,
        None,
        None,
        None,
        None,
        None,
        body.before_id,
        body.limit,
        number=body.number,
    )


@router.get("/{call_id}", response_model=CallDetail, responses=error_responses(401, 403, 404))
async def get_call(call_id: int, reader: CallReader, request: Request, session: SessionDep) -> CallDetail:
    conds: list[ColumnElement[bool]] = [Call.id == call_id]
    scope = scope_filter(reader)
    if scope is not None:
        conds.append(scope)
    call = await session.scalar(select(Call).where(*conds))
    if call is None:
        raise NotFound(f"call {call_id} does not exist or is outside your switchboard")
    keyring: Keyring = request.app.state.keyring
    number = _number(keyring, reader, call)
    offers = (
        await session.scalars(
            select(CallOffer).where(CallOffer.call_id == call.id).order_by(CallOffer.offered_at)
        )
    ).all()
    legs = (await session.scalars(select(CallLeg).where(CallLeg.call_id == call.id))).all()
    events = (
        await session.execute(
            select(
                WebhookEvent.source,
                WebhookEvent.event_type,
                WebhookEvent.event_time,
                WebhookEvent.received_at,
                WebhookEvent.channel,
                WebhookEvent.switchboard_code,
            )
            .where(WebhookEvent.call_id == call.id)
            .order_by(func.coalesce(WebhookEvent.event_time, WebhookEvent.received_at), WebhookEvent.id)
        )
    ).all()
    decisions = (
        await session.scalars(
            select(RoutingDecision).where(RoutingDecision.call_id == call.id).order_by(RoutingDecision.id)
        )
    ).all()
    actor = actor_of(reader, request)
    await audit.record(session, actor, "read", "call", call.id, {"number_shown": number is not None})
    return CallDetail(
        **_out(call, number).model_dump(),
        missed_offers=[
            OfferOut(
                switchboard=o.switchboard_code,
                extension=o.extension,
                user_id=o.user_id,
                offered_at=o.offered_at,
                result=o.result,
            )
            for o in offers
        ],
        legs=[LegOut(switchboard=leg.switchboard_code, linkedid=leg.linkedid) for leg in legs],
        timeline=[
            TimelineEntry(
                source=e.source,
                event_type=e.event_type,
                at=e.event_time,
                received_at=e.received_at,
                channel=e.channel,
                switchboard=e.switchboard_code,
            )
            for e in events
        ],
        # why the call went where it went
        routing=[
            DecisionOut(
                at=d.at,
                switchboard=d.switchboard_code,
                attempt=d.attempt,
                action=d.action,
                target=d.target,
                reason=d.reason,
                region=d.region,
                region_reason=d.region_reason,
                target_switchboard=d.target_switchboard,
                priority=d.priority,
                position=d.position,
                counsellor_user_id=d.counsellor_user_id,
            )
            for d in decisions
        ],
    )
