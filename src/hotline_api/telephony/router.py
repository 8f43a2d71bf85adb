"""Webhooks from the switchboards, and the admin's side of them: credentials and the quarantine."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from hotline_api.audit import service as audit
from hotline_api.auth.deps import AdminUser, actor_of, client_address
from hotline_api.db.session import SessionDep, driver_connection
from hotline_api.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, Unprocessable, error_responses
from hotline_api.observability import WEBHOOK_EVENTS, WEBHOOK_LAST_EVENT
from hotline_api.privacy.crypto import Keyring
from hotline_api.telephony import credentials, intake
from hotline_api.telephony.models import QuarantinedBody, SwitchboardCredential
from hotline_api.telephony.parsing import MalformedEvent

logger = logging.getLogger(__name__)
webhooks = APIRouter(prefix="/webhooks/asterisk", tags=["webhooks"])
admin_router = APIRouter(prefix="/api/v1", tags=["switchboards"])

Source = Literal["ari", "ami", "cdr", "cel"]
SwitchboardCode = Annotated[
    str, Path(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="hanoi, danang or angiang")
]


class IngestOut(BaseModel):
    received: int = Field(description="events in the body")
    stored: int = Field(description="events new to the service, stored and applied")
    duplicates: int = Field(description="events recognised as already received; nothing changed")


async def read_body(request: Request) -> bytes:
    """The body, refusing more than 1 MiB before reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > intake.MAX_BODY_BYTES:
        raise PayloadTooLarge("the body is larger than 1 MiB: send fewer events per request")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > intake.MAX_BODY_BYTES:
            raise PayloadTooLarge("the body is larger than 1 MiB: send fewer events per request")
        chunks.append(chunk)
    return b"".join(chunks)


@webhooks.post(
    "/{switchboard}/{source}",
    response_model=IngestOut,
    responses=error_responses(400, 401, 404, 413, 422, 503),
    summary="Asterisk events: ARI JSON, AMI JSON or text, CDR and CEL records (JSON or form)",
)
async def receive(switchboard: SwitchboardCode, source: Source, request: Request) -> Response:
    keyring: Keyring = request.app.state.keyring
    body = await read_body(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    address = client_address(request)
    content_type = headers.get("content-type", "")
    webhook_id = headers.get("webhook-id")
    received_at = datetime.now(UTC)
    # the hot path speaks psycopg directly; bodies arriving together are written together
    async with request.app.state.raw_connection() as conn:
        await credentials.authenticate(conn, keyring, switchboard, headers, body, address)
        try:
            item = await intake.prepare_body(
                conn, keyring, switchboard, source, body, content_type, webhook_id, received_at
            )
        except MalformedEvent as error:
            code = 400 if error.index is None else 422
            async with conn.transaction():
                qid = await intake.quarantine(
                    conn, keyring, switchboard, source, body, content_type, webhook_id, address, code, error
                )
            WEBHOOK_EVENTS.labels(switchboard, source, "quarantined").inc()
            message = f"{error} (kept in quarantine as #{qid})"
            if code == 400:
                raise BadRequest(message, field=error.field) from None
            raise Unprocessable(message, field=error.field) from None
    # durable when this returns: only then is the sender told
    stored = await request.app.state.intake_batcher.submit(item)
    result = intake.IngestResult(received=len(item.events), stored=stored)
    WEBHOOK_EVENTS.labels(switchboard, source, "stored").inc(result.stored)
    if result.duplicates:
        WEBHOOK_EVENTS.labels(switchboard, source, "duplicate").inc(result.duplicates)
    WEBHOOK_LAST_EVENT.labels(switchboard).set(received_at.timestamp())
    # a plain response: the switchboards are the busiest clients, and this body is three numbers
    return Response(
        f'{{"received":{result.received},"stored":{result.stored},"duplicates":{result.duplicates}}}',
        media_type="application/json",
    )


# ---- credentials (admin) --------------------------------------------------------------------------


class CredentialIn(BaseModel):
    label: str | None = Field(default=None, max_length=200, description="what uses it: 'relay', 'dialplan' …")


class CredentialOut(BaseModel):
    id: str
    switchboard: str
    label: str | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class CredentialIssued(CredentialOut):
    secret: str = Field(description="shown only now: put it in the PBX's configuration")


class NetworksIn(BaseModel):
    networks: list[str] = Field(description="CIDR networks the switchboard posts from; empty: any")


def _cred_out(c: SwitchboardCredential) -> CredentialOut:
    return CredentialOut(
        id=c.id,
        switchboard=c.switchboard_code,
        label=c.label,
        created_at=c.created_at,
        created_by=c.created_by,
        revoked_at=c.revoked_at,
    )


@admin_router.get(
    "/switchboards/{switchboard}/credentials",
    response_model=list[CredentialOut],
    responses=error_responses(401, 403, 404),
)
async def list_credentials(
    switchboard: SwitchboardCode, _: AdminUser, session: SessionDep
) -> list[CredentialOut]:
    return [_cred_out(c) for c in await credentials.list_credentials(session, switchboard)]


@admin_router.post(
    "/switchboards/{switchboard}/credentials",
    response_model=CredentialIssued,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409),
)
async def issue_credential(
    switchboard: SwitchboardCode, body: CredentialIn, admin: AdminUser, request: Request, session: SessionDep
) -> CredentialIssued:
    cred, secret = await credentials.issue(
        session, request.app.state.keyring, switchboard, body.label, admin.actor_label
    )
    await audit.record(
        session,
        actor_of(admin, request),
        "issue_credential",
        "switchboard",
        switchboard,
        {"credential_id": cred.id},
    )
    return CredentialIssued(**_cred_out(cred).model_dump(), secret=secret)


@admin_router.delete(
    "/switchboards/{switchboard}/credentials/{credential_id}",
    response_model=CredentialOut,
    responses=error_responses(401, 403, 404),
)
async def revoke_credential(
    switchboard: SwitchboardCode, credential_id: str, admin: AdminUser, request: Request, session: SessionDep
) -> CredentialOut:
    cred = await credentials.revoke(session, switchboard, credential_id, admin.actor_label)
    await audit.record(
        session,
        actor_of(admin, request),
        "revoke_credential",
        "switchboard",
        switchboard,
        {"credential_id": cred.id},
    )
    return _cred_out(cred)


@admin_router.get(
    "/switchboards/{switchboard}/allowed-networks",
    response_model=NetworksIn,
    responses=error_responses(401, 403, 404),
    summary="The networks a switchboard's webhooks are accepted from (empty: any)",
)
async def get_networks(switchboard: SwitchboardCode, _: AdminUser, session: SessionDep) -> NetworksIn:
    board = await credentials.get_switchboard(session, switchboard)
    return NetworksIn(networks=list(board.allowed_networks or []))


@admin_router.put(
    "/switchboards/{switchboard}/allowed-networks",
    response_model=NetworksIn,
    responses=error_responses(401, 403, 404, 422),
)
async def set_networks(
    switchboard: SwitchboardCode, body: NetworksIn, admin: AdminUser, request: Request, session: SessionDep
) -> NetworksIn:
    cleaned = await credentials.set_allowed_networks(session, switchboard, body.networks)
    await audit.record(
        session,
        actor_of(admin, request),
        "set_allowed_networks",
        "switchboard",
        switchboard,
        {"networks": cleaned},
    )
    return NetworksIn(networks=cleaned)


# ---- quarantine (admin) ---------------------------------------------------------------------------


class QuarantinedOut(BaseModel):
    id: int
    switchboard: str
    source: str
    received_at: datetime
    status_code: int
    reason: str
    event_index: int | None
    content_type: str | None
    webhook_id: str | None
    client_address: str | None
    status: str
    resolved_at: datetime | None
    resolved_by: str | None


class QuarantinedBodyOut(QuarantinedOut):
    body: str = Field(description="the body as received (UTF-8; undecodable bytes shown as \\ufffd)")


class QuarantinePage(BaseModel):
    bodies: list[QuarantinedOut]
    total: int = Field(description="bodies matching the filters, on every page")
    next_before_id: int | None = Field(description="the before_id of the next (older) page; null on the last")


class ReplayOut(BaseModel):
    id: int
    status: str
    result: IngestOut


def _q_out(q: QuarantinedBody) -> QuarantinedOut:
    return QuarantinedOut(
        id=q.id,
        switchboard=q.switchboard_code,
        source=q.source,
        received_at=q.received_at,
        status_code=q.status_code,
        reason=q.reason,
        event_index=q.event_index,
        content_type=q.content_type,
        webhook_id=q.webhook_id,
        client_address=q.client_address,
        status=q.status,
        resolved_at=q.resolved_at,
        resolved_by=q.resolved_by,
    )


async def _quarantined(session: SessionDep, qid: int) -> QuarantinedBody:
    row = await session.get(QuarantinedBody, qid)
    if row is None:
        raise NotFound(f"quarantined body #{qid} does not exist")
    return row


@admin_router.get(
    "/quarantine",
    response_model=QuarantinePage,
    responses=error_responses(401, 403, 422),
    summary="Bodies the webhooks could not apply, newest first",
)
async def list_quarantine(
    _: AdminUser,
    session: SessionDep,
    status_filter: Annotated[
        str | None, Query(alias="status", pattern="^(held|replayed|discarded)$")
    ] = "held",
    switchboard: str | None = None,
    before_id: Annotated[
        int | None, Query(description="page on: the next_before_id of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> QuarantinePage:
    from sqlalchemy import func, select

    filters = []
    if status_filter:
        filters.append(QuarantinedBody.status == status_filter)
    if switchboard:
        filters.append(QuarantinedBody.switchboard_code == switchboard)
    total = await session.scalar(select(func.count()).select_from(QuarantinedBody).where(*filters))
    stmt = select(QuarantinedBody).where(*filters).order_by(QuarantinedBody.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(QuarantinedBody.id < before_id)
    rows = (await session.scalars(stmt)).all()
    return QuarantinePage(
        bodies=[_q_out(q) for q in rows],
        total=total or 0,
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )


@admin_router.get(
    "/quarantine/{qid}",
    response_model=QuarantinedBodyOut,
    responses=error_responses(401, 403, 404),
    summary="One quarantined body, decrypted (the view is audited)",
)
async def show_quarantined(
    qid: int, admin: AdminUser, request: Request, session: SessionDep
) -> QuarantinedBodyOut:
    row = await _quarantined(session, qid)
    body = request.app.state.keyring.decrypt_bytes(row.body_enc, intake.QUARANTINE_CONTEXT)
    await audit.record(session, actor_of(admin, request), "view_quarantined_body", "webhook_quarantine", qid)
    return QuarantinedBodyOut(**_q_out(row).model_dump(), body=body.decode("utf-8", errors="replace"))


@admin_router.post(
    "/quarantine/{qid}/replay", response_model=ReplayOut, responses=error_responses(401, 403, 404, 409, 422)
)
async def replay(qid: int, admin: AdminUser, request: Request, session: SessionDep) -> ReplayOut:
    """Apply a quarantined body again (after the PBX or the service was fixed)."""
    row = await _quarantined(session, qid)
    if row.status != "held":
        raise Conflict(f"quarantined body #{qid} is already {row.status}")
    keyring: Keyring = request.app.state.keyring
    body = keyring.decrypt_bytes(row.body_enc, intake.QUARANTINE_CONTEXT)
    conn = await driver_connection(session)
    try:
        async with conn.transaction():
            result = await intake.ingest(
                conn,
                keyring,
                row.switchboard_code,
                row.source,
                body,
                row.content_type or "",
                row.webhook_id,
                row.received_at,
            )
    except MalformedEvent as error:
        raise Unprocessable(f"still cannot be applied: {error}", field=error.field) from None
    row.status = "replayed"
    row.resolved_at = datetime.now(UTC)
    row.resolved_by = admin.actor_label
    await audit.record(
        session,
        actor_of(admin, request),
        "replay",
        "webhook_quarantine",
        qid,
        {"stored": result.stored, "duplicates": result.duplicates},
    )
    return ReplayOut(
        id=qid,
        status=row.status,
        result=IngestOut(received=result.received, stored=result.stored, duplicates=result.duplicates),
    )


@admin_router.post(
    "/quarantine/{qid}/discard", response_model=QuarantinedOut, responses=error_responses(401, 403, 404, 409)
)
async def discard(qid: int, admin: AdminUser, request: Request, session: SessionDep) -> QuarantinedOut:
    row = await _quarantined(session, qid)
    if row.status != "held":
        raise Conflict(f"quarantined body #{qid} is already {row.status}")
    row.status = "discarded"
    row.resolved_at = datetime.now(UTC)
    row.resolved_by = admin.actor_label
    await audit.record(session, actor_of(admin, request), "discard", "webhook_quarantine", qid)
    return _q_out(row)
