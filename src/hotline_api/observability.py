"""JSON logs with a request id, the request middleware, and Prometheus metrics.

Logs never carry personal data: the access line has the route template and status, never the query
string (it could hold a phone number) nor bodies.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from contextvars import ContextVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

access_logger = logging.getLogger("hotline_api.access")

REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "hotline_http_requests_total", "HTTP requests answered", ["method", "route", "status"], registry=REGISTRY
)
HTTP_DURATION = Histogram(
    "hotline_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)


_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"strict-transport-security", b"max-age=31536000"),
)
# the console's own files may load one another, and its script may call its own origin; the
# interactive API docs (/docs, hotline_api.apidocs) are served the same way and take the same policy
_CONSOLE_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)


WEBHOOK_EVENTS = Counter(
    "hotline_webhook_events_total",
    "Webhook events received, by switchboard, source and result (stored, duplicate, quarantined)",
    ["switchboard", "source", "result"],
    registry=REGISTRY,
)
WEBHOOK_LAST_EVENT = Gauge(
    "hotline_switchboard_last_event_timestamp_seconds",
    "When this process last stored an event from the switchboard (take the max across processes)",
    ["switchboard"],
    registry=REGISTRY,
)


ROUTING_DECISIONS = Counter(
    "hotline_routing_decisions_total",
    "Answers to /route by action and reason (fallback: the dialplan's own queue)",
    ["action", "reason"],
    registry=REGISTRY,
)


def current_request_id() -> str | None:
    return _request_id.get()


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log prints query strings; ours does not
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestContextMiddleware:
    """Pure ASGI: request id in and out, one access log line, metrics. No body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        path = scope["path"]
        page = path.startswith(("/console", "/docs/")) or path == "/docs"
        rid = incoming if incoming and _REQUEST_ID_OK.match(incoming) else secrets.token_hex(8)
        # not reset afterwards: each request runs in its own task (its own context), and the
        # outermost error handler still needs the id to log an unexpected error
        _request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                present = {k.lower() for k, _ in headers}
                for name, value in _SECURITY_HEADERS:
                    if name == b"content-security-policy" and page:
                        continue
                    if name not in present:
                        headers.append((name, value))
                if page:
                    headers.extend(_CONSOLE_HEADERS)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            HTTP_DURATION.labels(template).observe(elapsed)
            access_logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
