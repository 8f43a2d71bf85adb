"""The switchboards' requests straight to their handlers.

A switchboard posts an event or asks /route a thousand times a second; for such small requests
FastAPI's route matching, path-parameter validation and dependency solving took about a third of a
worker's time. This pure ASGI layer sends ``POST /webhooks/asterisk/{switchboard}/{ari|ami|cdr|cel|
route}`` to the very same handler functions, with the same errors; everything else — and the
OpenAPI description of these endpoints — goes through FastAPI as before. It sits inside
RequestContextMiddleware, so request ids, security headers, metrics and the access log are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from hotline_api.errors import HotlineError, hotline_error_response, unexpected_error_response
from hotline_api.routing.router import route
from hotline_api.telephony.router import receive as receive_events

_HOT = re.compile(r"^/webhooks/asterisk/([a-z][a-z0-9_-]{0,31})/(ari|ami|cdr|cel|route)$")


@dataclass(frozen=True)
class _Template:
    """What RequestContextMiddleware reads for its metrics: the route's path template."""

    path: str


_EVENTS = _Template("/webhooks/asterisk/{switchboard}/{source}")
_ROUTE = _Template("/webhooks/asterisk/{switchboard}/route")


class WebhookFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _HOT.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        switchboard, source = match.groups()
        request = Request(scope, receive)
        if source == "route":
            scope["route"] = _ROUTE
            response = await route(switchboard, request)  # answers every failure itself
        else:
            scope["route"] = _EVENTS
            try:
                response = await receive_events(switchboard, source, request)  # type: ignore[arg-type]
            except HotlineError as exc:
                response = hotline_error_response(exc)
            except Exception as exc:
                response = unexpected_error_response(exc)
        await response(scope, receive, send)
