"""Liveness, readiness and metrics."""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from hotline_api.auth import service as auth_service
from hotline_api.auth.deps import bearer_token
from hotline_api.db.session import SessionDep
from hotline_api.errors import Forbidden, Unauthorized, error_responses
from hotline_api.observability import REGISTRY

logger = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Alive: the process answers (no credential needed)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Ready: the database answers and its schema is at the head revision",
    responses={503: {"description": "not ready; the body says why"}},
)
async def readyz(request: Request) -> JSONResponse:
    head = request.app.state.head_revision
    try:
        async with request.app.state.engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # any failure here means "not ready", and says so
        logger.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "reason": "the database does not answer"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "reason": f"schema at {current}, code expects {head}; run `hotline-api migrate`",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "schema": current})


@router.get(
    "/metrics",
    summary="Prometheus metrics (an admin's token, or HOTLINE_METRICS_TOKEN)",
    response_class=PlainTextResponse,  # Prometheus' text format, not JSON
    responses=error_responses(401, 403),
)
async def metrics(request: Request, session: SessionDep) -> Response:
    settings = request.app.state.settings
    token = bearer_token(request)
    if token is None:
        raise Unauthorized()
    configured = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if not (configured and hmac.compare_digest(token, configured)):
        principal = await auth_service.principal_for_token(session, token, via_cookie=False)
        if not principal.has("admin"):
            raise Forbidden("metrics need the admin role or the metrics token")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
