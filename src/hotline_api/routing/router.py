"""The /route dialogue with the dialplan, counsellors' presence, routing settings, the live queues."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select, text

from hotline_api.audit import service as audit
from hotline_api.auth.deps import CurrentUser, actor_of, client_address, require_roles
from hotline_api.auth.models import UserExtension
from hotline_api.auth.service import Principal
from hotline_api.db.session import SessionDep
from hotline_api.errors import Forbidden, NotFound, Unprocessable, error_responses, is_database_unavailable
from hotline_api.observability import ROUTING_DECISIONS
from hotline_api.routing import engine, live
from hotline_api.routing.models import SETTABLE_STATES, Presence, RoutingSettings
from hotline_api.telephony import credentials
from hotline_api.telephony.router import read_body

logger = logging.getLogger(__name__)
route_router = APIRouter(prefix="/webhooks/asterisk", tags=["routing"])
router = APIRouter(prefix="/api/v1", tags=["routing"])
SwitchboardCode = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
# the whole decision, database included, must come back within the dialplan's patience
ROUTE_BUDGET_SECONDS = 2.5
_ANSWER_TYPES: dict[str, Any] = {"application/x-www-form-urlencoded": {}, "application/json": {}}


def _answer(
    request: Request, status: int, answer: engine.Answer, extra: dict[str, str] | None = None
) -> Response:
    fields = {**answer.fields(), **(extra or {})}
    if "application/json" in request.headers.get("accept", ""):
        return Response(json.dumps(fields), status_code=status, media_type="application/json")
    # CURL() with hashcompat reads key=value&key=value into a HASH
    return Response(urlencode(fields), status_code=status, media_type="application/x-www-form-urlencoded")


def _fallback(request: Request, status: int, reason: str, queue: str = "q-local") -> Response:
    ROUTING_DECISIONS.labels("fallback", reason).inc()
    return _answer(request, status, engine.Answer("queue", reason, queue=queue))


@route_router.post(
    "/{switchboard}/route",
    summary="Where a call goes: dial, wait, transfer or queue (form-encoded; JSON with Accept: application/json)",
    # every answer, errors included, is an action in the form the dialplan asked for
    responses={
        200: {"content": _ANSWER_TYPES},
        400: {"description": "bad request; still carries action=queue", "content": _ANSWER_TYPES},
        401: {"description": "wrong credential; action=queue", "content": _ANSWER_TYPES},
        404: {"description": "unknown switchboard; action=queue", "content": _ANSWER_TYPES},
        413: {"description": "body over 1 MiB; action=queue", "content": _ANSWER_TYPES},
        422: {
            "description": "a field cannot be read (named in error, field); action=queue",
            "content": _ANSWER_TYPES,
        },
        503: {"description": "database unavailable; action=queue", "content": _ANSWER_TYPES},
    },
)
# no pattern on the path: a code that cannot be a switchboard is answered here, 404 with an action,
# like every other error of the dialogue (the fast path takes the well-formed ones)
async def route(
    switchboard: Annotated[str, Path(description="hanoi, danang or angiang")], request: Request
) -> Response:
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(_route(switchboard, request, started), ROUTE_BUDGET_SECONDS)
    except TimeoutError:
        logger.warning("route decision over its time budget")
        return _fallback(request, 503, "database_unavailable")


async def _route(switchboard: str, request: Request, started: float) -> Response:
    keyring = request.app.state.keyring
    try:
        body = await read_body(request)
    except Exception:
        return _fallback(request, 413, "bad_request")
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        connection = getattr(request.app.state, "route_connection", None) or request.app.state.raw_connection
        async with connection() as conn:
            try:
                await credentials.authenticate(
                    conn, keyring, switchboard, headers, body, client_address(request)
                )
            except Exception as exc:
                if is_database_unavailable(exc):
                    raise  # not the switchboard's fault: 503 below, never 401
                status = getattr(exc, "status_code", 401)
                return _fallback(request, status if status in (401, 404) else 401, "unauthorized")
            try:
                data = _form_or_json(body, headers.get("content-type", ""))
                req = engine.parse_request(data, await engine.provinces_of(conn))
            except engine.BadRouteRequest as exc:
                status = 400 if exc.field is None else 422
                return _fallback_with_message(request, status, str(exc), exc.field)
            elapsed = (time.perf_counter() - started) * 1000
            decision = await engine.decide(conn, keyring, switchboard, req, elapsed_ms=elapsed)
    except Exception as exc:
        if is_database_unavailable(exc):
            logger.warning("route: database unavailable (%s)", type(exc).__name__)
            return _fallback(request, 503, "database_unavailable")
        logger.exception("route: internal error")
        return _fallback(request, 500, "fallback")
    ROUTING_DECISIONS.labels(decision.answer.action, decision.answer.reason).inc()
    return _answer(request, 200, decision.answer)


def _fallback_with_message(request: Request, status: int, message: str, field: str | None) -> Response:
    ROUTING_DECISIONS.labels("fallback", "bad_request").inc()
    extra = {"error": message, **({"field": field} if field else {})}
    return _answer(request, status, engine.Answer("queue", "bad_request", queue="q-local"), extra)


def _form_or_json(body: bytes, content_type: str) -> dict[str, Any]:
    try:
        textual = body.decode("utf-8")
    except UnicodeDecodeError:
        raise engine.BadRouteRequest("the body is not UTF-8") from None
    if "json" in content_type or textual.lstrip().startswith("{"):
        try:
            data = json.loads(textual)
        except json.JSONDecodeError as exc:
            raise engine.BadRouteRequest(f"the body is not valid JSON: {exc.msg}") from None
        except RecursionError:
            raise engine.BadRouteRequest("the body is nested too deeply") from None
        if not isinstance(data, dict):
            raise engine.BadRouteRequest("the body must be a JSON object")
        return data
    try:
        return dict(
            parse_qsl(textual, keep_blank_values=True, strict_parsing=bool(textual), max_num_fields=50)
        )
    except ValueError:
        raise engine.BadRouteRequest("the body is not a form (key=value&key=value)") from None


# ---- presence ----------------------------------------------------------------------------------


class PresenceIn(BaseModel):
    state: str = Field(description="available, break or offline")
    switchboard: str | None = Field(default=None, description="where you take calls now; default: your home")

    @field_validator("state")
    @classmethod
    def _state(cls, v: str) -> str:
        if v not in SETTABLE_STATES:
            raise ValueError(f"state must be one of {', '.join(SETTABLE_STATES)}")
        return v


class PresenceOut(BaseModel):
    user_id: int
    username: str | None = None
    display_name: str | None = None
    switchboard: str
    state: str
    since: datetime
    reserved_until: datetime | None
    wrap_up_until: datetime | None
    call_id: int | None


def _effective_state(p: Presence, now: datetime) -> str:
    if p.state == "wrap_up" and p.wrap_up_until and p.wrap_up_until <= now:
        return "available"
    if p.state == "reserved" and p.reserved_until and p.reserved_until < now:
        return "missed"
    return p.state


def _presence_out(
    p: Presence, now: datetime, username: str | None = None, name: str | None = None
) -> PresenceOut:
    return PresenceOut(
        user_id=p.user_id,
        username=username,
        display_name=name,
        switchboard=p.switchboard_code,
        state=_effective_state(p, now),
        since=p.since,
        reserved_until=p.reserved_until,
        wrap_up_until=p.wrap_up_until,
        call_id=p.call_id,
    )


async def _set_presence(session: SessionDep, user_id: int, state: str, board: str) -> Presence:
    if state == "available":
        has_extension = await session.scalar(
            select(UserExtension.extension).where(
                UserExtension.user_id == user_id, UserExtension.switchboard_code == board
            )
        )
        if has_extension is None:
            raise Unprocessable(
                f"no extension is registered for this user at {board}: an admin adds it first",
                field="switchboard",
            )
    p = await session.scalar(select(Presence).where(Presence.user_id == user_id).with_for_update())
    now = datetime.now(UTC)
    if p is None:
        p = Presence(
            user_id=user_id,
            switchboard_code=board,
            state=state,
            since=now,
            idle_since=now if state == "available" else None,
        )
        session.add(p)
    else:
        if p.state in ("on_call", "reserved") and state != "available":
            # the call goes on: the new state applies after it, through wrap-up
            raise Unprocessable("you are on a call or being offered one; change after it", field="state")
        if p.state in ("on_call", "reserved") and state == "available":
            return p
        p.switchboard_code = board
        p.state = state
        p.since = now
        p.wrap_up_until = None
        p.reserved_until = None
        if state == "available":
            p.idle_since = now
    await session.flush()
    return p


@router.get("/me/presence", response_model=PresenceOut, responses=error_responses(401, 403, 404))
async def my_presence(
    me: Annotated[Principal, Depends(require_roles("counsellor", "supervisor", "national_supervisor"))],
    session: SessionDep,
) -> PresenceOut:
    p = await session.get(Presence, me.user_id)
    if p is None:
        raise NotFound("you have not signed in to take calls yet: PUT /api/v1/me/presence")
    return _presence_out(p, datetime.now(UTC))


@router.put("/me/presence", response_model=PresenceOut, responses=error_responses(401, 403, 422))
async def set_my_presence(
    body: PresenceIn, me: Annotated[Principal, Depends(require_roles("counsellor"))], session: SessionDep
) -> PresenceOut:
    p = await _set_presence(session, me.user_id, body.state, body.switchboard or me.home_switchboard)
    return _presence_out(p, datetime.now(UTC))


Supervisor = Annotated[Principal, Depends(require_roles("supervisor", "national_supervisor"))]


def _may_supervise(p: Principal, board: str) -> None:
    if not p.has("national_supervisor") and board != p.home_switchboard:
        raise Forbidden(f"you supervise {p.home_switchboard}, not {board}")


@router.get("/presence", response_model=list[PresenceOut], responses=error_responses(401, 403))
async def list_presence(
    sup: Supervisor, session: SessionDep, switchboard: str | None = None
) -> list[PresenceOut]:
    board = switchboard or (None if sup.has("national_supervisor") else sup.home_switchboard)
    if board:
        _may_supervise(sup, board)
    from hotline_api.auth.models import User

    stmt = select(Presence, User.username, User.display_name).join(User, User.id == Presence.user_id)
    if board:
        stmt = stmt.where(Presence.switchboard_code == board)
    now = datetime.now(UTC)
    return [
        _presence_out(p, now, u, n) for p, u, n in (await session.execute(stmt.order_by(User.username))).all()
    ]


@router.put("/presence/{user_id}", response_model=PresenceOut, responses=error_responses(401, 403, 404, 422))
async def set_presence(
    user_id: int, body: PresenceIn, sup: Supervisor, request: Request, session: SessionDep
) -> PresenceOut:
    from hotline_api.auth.models import User

    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    current = await session.get(Presence, user_id)
    board = body.switchboard or (current.switchboard_code if current else user.home_switchboard)
    _may_supervise(sup, board)
    p = await _set_presence(session, user_id, body.state, board)
    await audit.record(
        session,
        actor_of(sup, request),
        "set_presence",
        "user",
        user_id,
        {"state": body.state, "switchboard": board},
    )
    return _presence_out(p, datetime.now(UTC))


# ---- settings ----------------------------------------------------------------------------------


class SettingsOut(BaseModel):
    switchboard: str
    opening_hours: dict[str, list[str]]
    overflow_after_seconds: int
    ring_timeout_seconds: int
    wrap_up_seconds: int
    language_wait_seconds: int
    wait_seconds: int
    max_wait_seconds: int
    transfer_targets: dict[str, str]
    local_queue: str
    updated_at: datetime
    updated_by: str | None


class SettingsIn(BaseModel):
    opening_hours: dict[str, list[str]] | None = Field(
        default=None,
        description='per ISO weekday "1".."7": ["07:00", "21:30"], local time; a day left out is closed',
    )
    overflow_after_seconds: int | None = Field(default=None, ge=0, le=3600)
    ring_timeout_seconds: int | None = Field(default=None, ge=5, le=120)
    wrap_up_seconds: int | None = Field(default=None, ge=0, le=3600)
    language_wait_seconds: int | None = Field(default=None, ge=0, le=3600)
    wait_seconds: int | None = Field(default=None, ge=3, le=120)
    max_wait_seconds: int | None = Field(default=None, ge=30, le=7200)
    transfer_targets: dict[str, str] | None = None
    local_queue: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, v: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        import re

        if v is None:
            return v
        for day, span in v.items():
            if day not in {str(d) for d in range(1, 8)}:
                raise ValueError(f"day {day!r} must be an ISO weekday 1 (Monday) to 7 (Sunday)")
            if (
                len(span) != 2
                or not all(re.match(r"^([01]\d|2[0-3]):[0-5]\d$", t) for t in span)
                or span[0] >= span[1]
            ):
                raise ValueError(f"day {day}: give [opening, closing] as HH:MM, opening first")
        return v

    @field_validator("transfer_targets")
    @classmethod
    def _targets(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        import re

        if v is None:
            return v
        for board, dial in v.items():
            if board not in engine.REGION_SWITCHBOARD.values():
                raise ValueError(f"unknown switchboard {board!r}")
            if not re.match(r"^[A-Za-z0-9/_.@:-]{1,128}$", dial):
                raise ValueError(f"{dial!r} is not a dial string such as IAX2/hanoi-trunk/111")
        return v


def _settings_out(s: RoutingSettings) -> SettingsOut:
    return SettingsOut(
        switchboard=s.switchboard_code,
        opening_hours=s.opening_hours,
        overflow_after_seconds=s.overflow_after_seconds,
        ring_timeout_seconds=s.ring_timeout_seconds,
        wrap_up_seconds=s.wrap_up_seconds,
        language_wait_seconds=s.language_wait_seconds,
        wait_seconds=s.wait_seconds,
        max_wait_seconds=s.max_wait_seconds,
        transfer_targets=s.transfer_targets,
        local_queue=s.local_queue,
        updated_at=s.updated_at,
        updated_by=s.updated_by,
    )


@router.get(
    "/switchboards/{switchboard}/routing-settings",
    response_model=SettingsOut,
    responses=error_responses(401, 403, 404),
)
async def get_settings(switchboard: SwitchboardCode, who: CurrentUser, session: SessionDep) -> SettingsOut:
    if not who.has("supervisor", "national_supervisor", "admin"):
        raise Forbidden("routing settings are for supervisors and admins")
    s = await session.get(RoutingSettings, switchboard)
    if s is None:
        raise NotFound(f"there is no switchboard {switchboard!r}")
    return _settings_out(s)


@router.put(
    "/switchboards/{switchboard}/routing-settings",
    response_model=SettingsOut,
    responses=error_responses(401, 403, 404, 422),
)
async def put_settings(
    switchboard: SwitchboardCode, body: SettingsIn, sup: Supervisor, request: Request, session: SessionDep
) -> SettingsOut:
    _may_supervise(sup, switchboard)
    s = await session.get(RoutingSettings, switchboard, with_for_update=True)
    if s is None:
        raise NotFound(f"there is no switchboard {switchboard!r}")
    changes = body.model_dump(exclude_none=True)
    for name, value in changes.items():
        setattr(s, name, value)
    s.updated_at = datetime.now(UTC)
    s.updated_by = sup.actor_label
    await session.flush()
    await audit.record(
        session,
        actor_of(sup, request),
        "update_routing_settings",
        "switchboard",
        switchboard,
        {"fields": sorted(changes)},
    )
    engine.clear_cache()
    return _settings_out(s)


# ---- live stream -------------------------------------------------------------------------------


@router.get(
    "/stream",
    summary="Server-sent events: queue and presence changes (send Last-Event-ID to resume)",
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(401, 403)},
)
async def live_stream(
    who: Annotated[Principal, Depends(require_roles("counsellor", "supervisor", "national_supervisor"))],
    request: Request,
) -> StreamingResponse:
    header = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    last = int(header) if header and header.isdigit() else None
    body = live.stream(
        who, last, getattr(request.app.state, "live_hub", None), request.app.state.raw_connection
    )
    return StreamingResponse(
        body, media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


# ---- live queues -------------------------------------------------------------------------------


class WaitingOut(BaseModel):
    call_id: int
    linkedid: str
    priority: int
    emergency: bool
    region: str
    language: str
    status: str
    waiting_seconds: float
    offered_user_id: int | None


class QueueOut(BaseModel):
    switchboard: str
    waiting: list[WaitingOut]
    counsellors: dict[str, int]


@router.get("/queues", response_model=list[QueueOut], responses=error_responses(401, 403))
async def queues(sup: Supervisor, session: SessionDep) -> list[QueueOut]:
    boards = ["hanoi", "danang", "angiang"] if sup.has("national_supervisor") else [sup.home_switchboard]
    now = datetime.now(UTC)
    out = []
    for board in boards:
        rows = (
            await session.execute(
                text(
                    "SELECT call_id, linkedid, priority, emergency, region, language, status, wait_started_at, "
                    "offered_user_id FROM waiting_calls WHERE switchboard_code = :b AND status IN ('waiting', 'offered') "
                    "ORDER BY priority DESC, wait_started_at, id"
                ),
                {"b": board},
            )
        ).all()
        presence = (await session.scalars(select(Presence).where(Presence.switchboard_code == board))).all()
        counts: dict[str, int] = {}
        for p in presence:
            state = _effective_state(p, now)
            counts[state] = counts.get(state, 0) + 1
        out.append(
            QueueOut(
                switchboard=board,
                counsellors=counts,
                waiting=[
                    WaitingOut(
                        call_id=r.call_id,
                        linkedid=r.linkedid,
                        priority=r.priority,
                        emergency=r.emergency,
                        region=r.region,
                        language=r.language,
                        status=r.status,
                        waiting_seconds=round((now - r.wait_started_at).total_seconds(), 1),
                        offered_user_id=r.offered_user_id,
                    )
                    for r in rows
                ],
            )
        )
    return out
