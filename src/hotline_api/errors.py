"""One hierarchy of errors that carry their HTTP status, rendered by one handler.

Error bodies say what was wrong and where, never how the code failed::

    {"error": {"code": "not_found", "message": "user 42 does not exist", "request_id": "…"}}
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotline_api.observability import current_request_id

logger = logging.getLogger(__name__)


class HotlineError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(
        self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}


class BadRequest(HotlineError):
    status_code = 400
    code = "bad_request"


class Unauthorized(HotlineError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "a valid credential is required", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="hotline-api"')


class Forbidden(HotlineError):
    status_code = 403
    code = "forbidden"


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"


class NotFound(HotlineError):
    status_code = 404
    code = "not_found"


class Conflict(HotlineError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(HotlineError):
    status_code = 413
    code = "payload_too_large"


class Unprocessable(HotlineError):
    status_code = 422
    code = "invalid"


class TooManyRequests(HotlineError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(HotlineError):
    status_code = 503
    code = "service_unavailable"

    def __init__(
        self, message: str = "the database is unavailable; retry shortly", retry_after: int = 5
    ) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For an endpoint's ``responses=``: OpenAPI shows the error body for these statuses."""
    return {s: {"model": ErrorBody} for s in statuses}


def _render(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message, "request_id": current_request_id()}
    if field:
        detail["field"] = field
    if errors:
        detail["errors"] = errors
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def is_database_unavailable(exc: BaseException) -> bool:
    if isinstance(
        exc, PoolTimeoutError | OperationalError | InterfaceError | psycopg.OperationalError | PoolTimeout
    ):
        return True
    # a database that refuses writes (default_transaction_read_only, a standby after a failover) is
    # unavailable for the time being, like one that is down: 503, the sender retries
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction) or (
        isinstance(exc, DBAPIError) and isinstance(exc.orig, psycopg.errors.ReadOnlySqlTransaction)
    ):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def hotline_error_response(exc: HotlineError) -> JSONResponse:
    return _render(exc.status_code, exc.code, exc.message, field=exc.field, headers=exc.headers)


def unexpected_error_response(exc: Exception) -> JSONResponse:
    """503 when the database is away (the sender retries), else 500 with the request id."""
    if is_database_unavailable(exc):
        logger.warning("database unavailable: %s", type(exc).__name__)
        return _render(
            503,
            "service_unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        )
    logger.exception("unhandled error")
    return _render(500, "internal_error", "internal error; quote the request id to the operators")


def _document_unreadable_bodies(app: FastAPI) -> None:
    """A body that is not JSON is answered 400 (FastAPI's "error parsing the body", in our error
    form): say so in the description of every operation that takes a body."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = generate()
        if fresh:
            known = "ErrorBody" in schema.get("components", {}).get("schemas", {})
            answer: dict[str, Any] = {"description": "the body cannot be read (not JSON)"}
            if known:
                answer["content"] = {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                }
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    if isinstance(operation, dict) and "requestBody" in operation:
                        operation.setdefault("responses", {}).setdefault("400", answer)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    _document_unreadable_bodies(app)

    @app.exception_handler(HotlineError)
    async def _hotline(_: Request, exc: HotlineError) -> JSONResponse:
        return hotline_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            # never echo the input back: it may be a phone number or a password
            errors.append({"field": loc, "message": err.get("msg", "invalid")})
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
        return _render(422, "invalid", message, field=first["field"], errors=errors)

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # a value the database cannot hold (an id beyond 64 bits, a NUL character in a text) was
        # sent by the client: a 422, never a 500; the value is not echoed
        logger.info("a value refused by the database: %s", type(exc.orig).__name__)
        return _render(
            422,
            "invalid",
            "a value in the request cannot be stored: a number out of range, or a NUL character in a text",
        )

    # A database outage is answered here, inside the middleware stack, as the errors above are. Left
    # to the catch-all below (Starlette's ServerErrorMiddleware answers, then re-raises), each 503
    # was logged as a 500 by the access log, and by uvicorn as an ERROR with the statement's traceback
    # (benchmarks/faults.py). Other database errors are still a 500, logged once.
    async def _database(_: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(exc)

    for database_error in (DBAPIError, PoolTimeoutError, PoolTimeout, psycopg.Error):
        app.add_exception_handler(database_error, _database)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _render(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(exc)
